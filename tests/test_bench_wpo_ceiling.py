"""benchmarks/bench_wpo_ceiling.py: its mixtures against scipy, its model of swissroll6d, and a
smoke run."""

import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from scipy.stats import multivariate_normal

REPOSITORY = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPOSITORY / "benchmarks"))

import bench_wpo_ceiling as bench  # noqa: E402
from wpokernel.datasets import make_swissroll6d  # noqa: E402
from wpokernel.local_covariance import local_covariances  # noqa: E402


def _scipy_mixture(X, centers, covariances):
    densities = np.mean([multivariate_normal(z, C).pdf(X) for z, C in zip(centers, covariances)],
                        axis=0)
    return float(np.mean(np.log(densities)))


def test_local_pca_mixture_is_the_dense_mixture_of_its_covariances():
    rng = np.random.default_rng(0)
    centers, U = rng.normal(size=(40, 3)), rng.normal(size=(25, 3))
    got, settings = bench.local_pca_ceiling(U, centers, 1e-6, neighbors=(8,), alphas=(0.7,),
                                            sigmas=(0.3,))
    covariances = 0.7 * local_covariances(centers, np.arange(40), 8) + (0.09 + 1e-6) * np.eye(3)
    assert settings == (8, 0.7, 0.3)
    assert got == pytest.approx(_scipy_mixture(U, centers, covariances), rel=1e-10)


def test_local_pca_ceiling_is_the_best_of_its_grid():
    rng = np.random.default_rng(1)
    centers, U = rng.normal(size=(30, 2)), rng.normal(size=(20, 2))
    grid = dict(neighbors=(5, 10), alphas=(0.5, 1.0), sigmas=(0.1, 0.5))
    best, _ = bench.local_pca_ceiling(U, centers, 0.0, **grid)
    each = [bench.local_pca_ceiling(U, centers, 0.0, neighbors=(m,), alphas=(a,),
                                    sigmas=(s,))[0]
            for m in grid["neighbors"] for a in grid["alphas"] for s in grid["sigmas"]]
    assert best == max(each)


def test_isotropic_mixture_matches_scipy():
    rng = np.random.default_rng(2)
    centers, U = rng.normal(size=(30, 2)), rng.normal(size=(20, 2))
    got, (sigma,) = bench.isotropic_ceiling(U, centers, sigmas=(0.4,))
    assert sigma == 0.4
    assert got == pytest.approx(
        _scipy_mixture(U, centers, [0.16 * np.eye(2)] * 30), rel=1e-10)


def test_true_noise_structure_mixture_matches_scipy():
    X = make_swissroll6d(120, random_state=0)
    centers, X_test = X[:80], X[80:]
    got, settings = bench.true_structure_ceiling(X_test, centers, neighbors=(10,),
                                                 alphas=(0.5,), noise_scales=(0.4,))
    roll = local_covariances(centers[:, :2], np.arange(80), 10)
    A = bench.SWISSROLL6D_MAP
    covariances = [0.5 * A @ L @ A.T + 0.4 * bench.SWISSROLL6D_NOISE + 1e-9 * np.eye(6)
                   for L in roll]
    assert settings == (10, 0.5, 0.4)
    assert got == pytest.approx(_scipy_mixture(X_test, centers, covariances), rel=1e-8)


def test_swissroll6d_is_its_roll_mapped_by_the_matrix_plus_the_noise():
    # The benchmark's map and noise, read from make_swissroll6d's docstring, against data.
    X = make_swissroll6d(50000, random_state=1)
    residual = X - X[:, :2] @ bench.SWISSROLL6D_MAP.T
    np.testing.assert_allclose(np.cov(residual.T), bench.SWISSROLL6D_NOISE, atol=0.02)


def test_quick_run_writes_every_row(tmp_path):
    threads = torch.get_num_threads()  # main() sets the benchmark's thread count
    try:
        results = bench.main(["--quick", "--no-progress", "--datasets", "moons", "swissroll6d",
                              "--output-dir", str(tmp_path)])
    finally:
        torch.set_num_threads(threads)
    page = (tmp_path / "wpo_ceiling.md").read_text()
    assert [name for name, _, _ in results["swissroll6d"]] == [
        "WPOKernelScore()", "WPOKernelScore(max_steps=0)", "local-PCA mixture, chosen on test",
        "isotropic mixture, chosen on test", "true noise structure, chosen on test",
        "GaussianMixture(k, type=val)", "GaussianMixture, chosen on test", "exact density"]
    assert len(results["moons"]) == 6  # no true structure and no exact density
    for dataset, rows in results.items():
        assert f"## {dataset}" in page
        for name, value, _ in rows:
            assert np.isfinite(value) and f"| {name} | {value:.3f} |" in page
