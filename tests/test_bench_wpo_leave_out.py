"""benchmarks/bench_wpo_leave_out.py: its dense mixtures against the engine and brute force,
and a smoke run."""

import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from scipy.special import logsumexp
from scipy.stats import multivariate_normal

REPOSITORY = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPOSITORY / "benchmarks"))

import bench_wpo_leave_out as bench  # noqa: E402
from wpokernel import WPOKernelScore  # noqa: E402
from wpokernel.datasets import load_digits_continuous  # noqa: E402
from wpokernel.local_covariance import local_covariances  # noqa: E402
from wpokernel.reductions import mixture_moments  # noqa: E402


@pytest.fixture(scope="module")
def digits_model():
    X = load_digits_continuous(random_state=0)[:240]
    return WPOKernelScore(max_steps=0, random_state=0, progress=False).fit(X[:200]), X[200:]


def test_scaled_covariances_give_the_engine_density(digits_model):
    model, X_test = digits_model
    U = (X_test - model.mean_) / model.scale_
    field = model.field_
    C = bench.scaled_covariances(field.covariance, len(field.centers))
    engine = mixture_moments(U, field.centers, field.covariance, backend="numpy").log_density
    assert bench.mixture_mean(bench.log_kernels(U, field.centers, C)) == pytest.approx(
        float(np.mean(engine)), rel=1e-9)


def test_scaled_covariances_scale_the_local_part_and_the_floor_apart(digits_model):
    # C(c_L, c_f) = c_L L + c_f F + a I is linear in each scaling: the differences of two
    # scalings of one part are proportional.
    model, _ = digits_model
    structure, K = model.field_.covariance, len(model.field_.centers)

    def C(c_local, c_floor):
        return bench.scaled_covariances(structure, K, c_local, c_floor)

    np.testing.assert_allclose(C(4, 1) - C(1, 1), 3 * (C(2, 1) - C(1, 1)), rtol=1e-9,
                               atol=1e-12)
    np.testing.assert_allclose(C(1, 4) - C(1, 1), 3 * (C(1, 2) - C(1, 1)), rtol=1e-9,
                               atol=1e-12)
    assert not np.allclose(C(2, 1), C(1, 2))  # the two parts differ


def test_log_kernels_and_leave_self_out_match_scipy():
    rng = np.random.default_rng(0)
    centers = rng.normal(size=(6, 3))
    A = rng.normal(size=(6, 3, 3))
    C = A @ A.transpose(0, 2, 1) + np.eye(3)
    log_k = bench.log_kernels(centers, centers, C)
    expected = np.array([[multivariate_normal(z, Ck).logpdf(x) for z, Ck in zip(centers, C)]
                         for x in centers])
    np.testing.assert_allclose(log_k, expected, rtol=1e-12)
    loop = np.mean([logsumexp(np.delete(expected[i], i)) - np.log(5) for i in range(6)])
    assert bench.leave_self_out(log_k, np.arange(6)) == pytest.approx(loop, rel=1e-12)


def test_pooled_factors_are_the_leading_part_of_the_neighbourhood_covariance():
    rng = np.random.default_rng(1)
    X = rng.normal(size=(50, 5))
    factors = bench.pooled_factors(X, np.arange(50), 8, 3)
    # With every point in the pool: the package's neighbourhoods (nearest other points).
    covariances = local_covariances(X, np.arange(50), 8)
    for F, C in zip(factors, covariances):
        eigenvalues, vectors = np.linalg.eigh(C)
        leading = (vectors[:, -3:] * eigenvalues[-3:]) @ vectors[:, -3:].T
        np.testing.assert_allclose(F @ F.T, leading, atol=1e-12)


def test_quick_run_writes_every_row(tmp_path):
    threads = torch.get_num_threads()  # main() sets one thread
    try:
        rows = bench.main(["--quick", "--output-dir", str(tmp_path)])
    finally:
        torch.set_num_threads(threads)
    page = (tmp_path / "wpo_leave_out.md").read_text()
    assert len(rows) == 18
    assert {name for name, *_ in rows} == {"leave-self-out", "honest split"}
    for name, c_local, c_floor, value, test in rows:
        assert np.isfinite(value) and np.isfinite(test)
        assert f"| {name} | {c_local:g} | {c_floor:g} | {value:.2f} | {test:.2f} |" in page
