"""The memorization study of the neural score models, ``benchmarks/bench_neural.py``: a quick
run as a user runs it, and its bits per dimension against a direct kernel density."""

import csv
import math
import subprocess
import sys

import numpy as np
from matplotlib.image import imread
from scipy.special import logsumexp
from test_benchmarks import REPOSITORY, import_benchmark

from wpokernel.datasets import load_digits_continuous

SIZES = ("40", "80")
RESULTS = ("memorized", "memorized_subspace", "median_ratio", "bits_per_dim")


def test_quick_run_writes_every_row_figure_and_section(tmp_path):
    command = [sys.executable, "benchmarks/bench_neural.py", "--quick", "--no-progress",
               "--output-dir", str(tmp_path)]
    subprocess.run(command, cwd=REPOSITORY, check=True, capture_output=True, text=True)

    with open(tmp_path / "neural.csv", newline="") as file:
        rows = list(csv.DictReader(file))
    bench = import_benchmark("bench_neural")
    assert [(row["n_train"], row["model"]) for row in rows] == [
        (n, model) for n in SIZES for model in (*bench.MODELS, bench.REFERENCE)]
    for row in rows:
        for name in RESULTS[:3] if row["model"] == bench.REFERENCE else RESULTS:
            assert np.isfinite(float(row[name])), (row["n_train"], row["model"], name)
        if row["figure"]:
            assert imread(tmp_path / "figures" / row["figure"]).ndim == 3
    by_key = {(row["n_train"], row["model"]): row for row in rows}
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

