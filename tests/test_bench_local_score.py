"""The memorization study of the local score machines, ``benchmarks/bench_local_score.py``: a
quick run as a user runs it, and its denoising error against a direct posterior mean."""


import numpy as np
from scipy.special import softmax
from test_benchmarks import import_benchmark, quick_study_rows

from wpokernel import EmpiricalScore
from wpokernel.datasets import load_digits_continuous

SIZES = ("40", "80")
RESULTS = ("memorized", "memorized_subspace", "median_ratio", "error_0.1", "error_3")


def test_quick_run_writes_every_row_figure_and_section(tmp_path):
    bench = import_benchmark("bench_local_score")
    by_key = quick_study_rows("bench_local_score", "local_score.csv", tmp_path, SIZES,
                              bench.MODELS[:-1], bench.REFERENCE, RESULTS)
    for n in SIZES:
        # Sampled exactly down to sigma_min = 0.01, the empirical score copies its images.
        assert float(by_key[n, "EmpiricalScore"]["memorized"]) > 0.9
        assert len(by_key[n, "LS"]["schedule"].split()) == 8
    page = (tmp_path / "local_score.md").read_text()
    assert page.startswith("# Local score machines")
    for section in ("## Targets", "## Memorization", "## Held-out denoising error", "## Cost"):
        assert section in page


def test_the_denoising_error_is_that_of_the_posterior_mean():
    # The empirical score's denoiser is the posterior mean over the training images,
    # sum_n softmax_n(-|x - z_n|^2 / (2 s^2)) z_n with s = sigma * rho, written out here.
    X = load_digits_continuous(random_state=0)
    X_train, X_test = X[:100], X[100:110]
    model = EmpiricalScore().fit(X_train)
    bench = import_benchmark("bench_local_score")
    errors = bench.denoising_errors(model, X_test, seed=3)
    rng, rho = np.random.default_rng(3), np.sqrt(X_train.var(axis=0).mean())
    for sigma, error in zip(bench.DENOISE_LEVELS, errors):
        s = sigma * rho
        noisy = X_test + s * rng.standard_normal(X_test.shape)
        distances = ((noisy[:, None, :] - X_train[None]) ** 2).sum(-1)  # (m, N)
        denoised = softmax(-distances / (2 * s**2), axis=1) @ X_train
        np.testing.assert_allclose(error, np.mean((denoised - X_test) ** 2) / rho**2, rtol=1e-9)
