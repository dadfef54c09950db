"""The memorization study of the neural score models, ``benchmarks/bench_neural.py``: a quick
run as a user runs it, and its bits per dimension against a direct kernel density."""

import math

import numpy as np
from matplotlib.image import imread
from scipy.special import logsumexp
from test_benchmarks import import_benchmark, quick_study_rows

from wpokernel.datasets import load_digits_continuous

SIZES = ("40", "80")
RESULTS = ("memorized", "memorized_subspace", "median_ratio", "bits_per_dim")


def test_quick_run_writes_every_row_figure_and_section(tmp_path):
    bench = import_benchmark("bench_neural")
    by_key = quick_study_rows("bench_neural", "neural.csv", tmp_path, SIZES, bench.MODELS,
                              bench.REFERENCE, RESULTS)
    for n in SIZES:
        # Sampled exactly down to sigma_min = 0.01, the empirical score copies its images.
        assert float(by_key[n, "EmpiricalScore"]["memorized"]) > 0.9
        assert int(by_key[n, "NeuralScore (U-Net)"]["train_steps"]) <= 10
    assert imread(tmp_path / "figures" / "neural_memorization_curve.png").ndim == 3
    page = (tmp_path / "neural.md").read_text()
    assert page.startswith("# Neural score models")
    for section in ("## Memorization against N", "### N = 40", "### N = 80"):
        assert section in page


def test_bits_per_dimension_of_the_empirical_row_are_those_of_its_kernel_density(tmp_path):
    # EmpiricalScore stopped at sigma_min is the Gaussian KDE of bandwidth sigma_min * rho:
    # log q(x) = logsumexp_n(-|x - z_n|^2 / 2 s^2) - log N - d/2 log(2 pi s^2), written out.
    X = load_digits_continuous(random_state=0)
    X_train, X_test = X[:100], X[100:104]
    bench = import_benchmark("bench_neural")
    settings = bench._QUICK
    assert settings.n_bits == len(X_test)
    row = bench.measure("EmpiricalScore", X_train, X_test, (8, 8), settings, tmp_path)
    s, d = bench.SIGMA_MIN * np.sqrt(X_train.var(axis=0).mean()), X.shape[1]
    distances = ((X_test[:, None, :] - X_train[None]) ** 2).sum(-1)
    log_q = (logsumexp(-distances / (2 * s**2), axis=1) - math.log(len(X_train))
             - 0.5 * d * math.log(2 * math.pi * s**2))
    expected = -(log_q.mean() + d * math.log(1 / 256)) / (d * math.log(2))
    np.testing.assert_allclose(row["bits_per_dim"], expected, rtol=1e-9)

