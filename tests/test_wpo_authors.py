"""Tests of the authors' formulation of the WPO kernel model in ``benchmarks/wpo_authors.py``."""

import importlib.util
from pathlib import Path

import numpy as np
import pytest
import torch
from scipy.special import logsumexp
from scipy.stats import multivariate_normal

BENCHMARKS = Path(__file__).resolve().parents[1] / "benchmarks"


@pytest.fixture(scope="module")
def wpo_authors():
    # benchmarks/ is a folder of scripts, not a package: load the file as a module.
    spec = importlib.util.spec_from_file_location("wpo_authors", BENCHMARKS / "wpo_authors.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture
def tiny(wpo_authors):
    rng = np.random.default_rng(0)
    X = rng.normal(size=(30, 3))
    centers, points = wpo_authors.split_centers(X, 6, random_state=1)
    model = wpo_authors.build_model(centers, depth=2, width=8, seed=2, dtype=torch.float64)
    return model, centers, points


def test_precisions_are_a_lower_triangular_factor_plus_the_floor(tiny):
    # P - 0.01 I = L L^T with L lower triangular: its Cholesky factor is L up to the signs of
    # the columns, and the upper triangle of the network's factor is empty.
    model, _, _ = tiny
    with torch.no_grad():
        P = model.precisions().numpy()
        L = np.zeros_like(P)
        rows, cols = model.tril_rows_cols.numpy()
        L[:, rows, cols] = model.network(model.centers).numpy()
    np.testing.assert_allclose(P, np.swapaxes(P, 1, 2), rtol=0, atol=1e-15)
    np.testing.assert_allclose(P - 0.01 * np.eye(3), L @ np.swapaxes(L, 1, 2), rtol=1e-12)
    cholesky = np.linalg.cholesky(P - 0.01 * np.eye(3))
    np.testing.assert_allclose(np.abs(cholesky), np.abs(L), rtol=1e-8, atol=1e-12)


def test_log_density_is_the_equally_weighted_gaussian_mixture(tiny):
    model, centers, points = tiny
    with torch.no_grad():
        P = model.precisions().numpy()
        log_density = model.log_density(torch.as_tensor(points)).numpy()
    log_kernels = np.column_stack([
        multivariate_normal(mean=z, cov=np.linalg.inv(P_k)).logpdf(points)
        for z, P_k in zip(centers, P)
    ])
    np.testing.assert_allclose(log_density, logsumexp(log_kernels, axis=1) - np.log(6),
                               rtol=1e-12)


def test_ism_loss_matches_autograd_of_the_log_density(tiny):
    # J = mean(1/2 |grad log pi|^2 + Laplacian log pi), both by autograd of log pi: the
    # gradient, then each second derivative d^2 / dx_j^2 from the gradient's j-th entry.
    model, _, points = tiny
    x = torch.as_tensor(points[:8]).requires_grad_(True)
    grad = torch.autograd.grad(model.log_density(x).sum(), x, create_graph=True)[0]
    laplacian = sum(
        torch.autograd.grad(grad[:, j].sum(), x, retain_graph=True)[0][:, j] for j in range(3)
    )
    expected = (0.5 * (grad * grad).sum(1) + laplacian).mean()
    np.testing.assert_allclose(model.ism_loss(x).item(), expected.item(), rtol=1e-10)


def test_heldout_loss_is_the_mean_over_every_point(wpo_authors, tiny):
    model, _, points = tiny
    with torch.no_grad():
        per_point = [model.ism_loss(torch.as_tensor(p[None])).item() for p in points]
    np.testing.assert_allclose(wpo_authors.heldout_ism_loss(model, points, batch_size=5),
                               np.mean(per_point), rtol=1e-12)


def test_train_records_every_step_and_lowers_the_held_out_loss(wpo_authors):
    # 2-D moons, K = 50 centers, B = 32: Adam 1e-3 from the default initialization lowers
    # the held-out loss within 60 steps (the initial precisions, about 0.03 per axis, give
    # components of standard deviation about 5 on data of spread 1 to 2).
    from wpokernel.datasets import make_toy

    X = make_toy("moons", 600, random_state=0)
    centers, points = wpo_authors.split_centers(X[:400], 50, random_state=0)
    model = wpo_authors.build_model(centers, depth=2, width=16, seed=0)
    before = wpo_authors.heldout_ism_loss(model, X[400:])
    run = wpo_authors.train(model, points, 60, batch_size=32)
    assert run.step_seconds.shape == run.losses.shape == (60,)
    assert np.all(run.step_seconds > 0) and np.all(np.isfinite(run.losses))
    assert wpo_authors.heldout_ism_loss(model, X[400:]) < before


def test_split_centers_partitions_the_rows(wpo_authors):
    X = np.arange(20.0).reshape(10, 2)
    centers, points = wpo_authors.split_centers(X, 3)
    assert centers.shape == (3, 2) and points.shape == (7, 2)
    np.testing.assert_array_equal(np.sort(np.vstack([centers, points]), axis=0), X)
    with pytest.raises(ValueError, match=r"Expected 1 <= n_centers < n_samples = 10, got 10"):
        wpo_authors.split_centers(X, 10)
