"""The conditional-generation benchmark, ``benchmarks/bench_conditional.py``: a quick run as a
user runs it, and its Monte Carlo reference row against the closed-form moments of normal
samples."""

import csv
import subprocess
import sys

import numpy as np
import pytest
from scipy.special import gammaln
from test_benchmarks import REPOSITORY, import_benchmark

from wpokernel.datasets import make_conditional

MODELS = ("additive", "heteroscedastic")
BRIDGE = "ConditionalSchrodingerBridge()"
NADARAYA_WATSON = "NadarayaWatson()"
RESULTS = ("mean_mse", "std_mse")


def test_quick_run_writes_every_row_of_both_models(tmp_path):
    command = [
        sys.executable, "benchmarks/bench_conditional.py", "--quick", "--no-progress",
        "--output-dir", str(tmp_path),
    ]
    subprocess.run(command, cwd=REPOSITORY, check=True, capture_output=True, text=True)

    with open(tmp_path / "conditional.csv", newline="") as file:
        rows = list(csv.DictReader(file))
    names = [*import_benchmark("bench_conditional").ROWS, "true law, 10 draws (reference)"]
    assert [(row["model"], row["estimator"]) for row in rows] == [
        (model, name) for model in MODELS for name in names
    ]
    for row in rows:
        assert (row["n_train"], row["n_test"]) == ("300", "100")
        for name in RESULTS:
            assert np.isfinite(float(row[name])), (row["model"], row["estimator"], name)

    by_key = {(row["model"], row["estimator"]): row for row in rows}
    for model in MODELS:
        closed_form = float(by_key[model, NADARAYA_WATSON]["closed_form_mean_mse"])
        assert float(by_key[model, NADARAYA_WATSON]["mean_mse"]) == closed_form
        # Without response smoothing the mean of the bridge's law is the Nadaraya-Watson
        # estimate at the same cross-validated bandwidth.
        assert by_key[model, BRIDGE]["params"] == by_key[model, NADARAYA_WATSON]["params"]
        assert float(by_key[model, BRIDGE]["closed_form_mean_mse"]) == pytest.approx(
            closed_form, rel=1e-9
        )

    page = (tmp_path / "conditional.md").read_text()
    assert page.startswith("# Conditional generation")
    for model in MODELS:
        assert f"## {model}" in page


def _root_chi_moment(k, dof):
    r""":math:`\mathbb E[V^{k/2}]` for :math:`V = \chi^2_{\nu} / \nu`."""
    return np.exp(k / 2 * np.log(2 / dof) + gammaln((dof + k) / 2) - gammaln(dof / 2))


@pytest.mark.parametrize("model", MODELS)
def test_true_law_row_matches_the_moments_of_normal_samples(model):
    bench_conditional = import_benchmark("bench_conditional")
    n_samples, n_test = 10, 4000
    settings = bench_conditional.Settings(n_train=1, n_test=n_test, n_samples=n_samples,
                                          n_steps=1, seed=3)
    test = make_conditional(model, n_test, random_state=0)

    row = bench_conditional.true_law_row(test, settings)

    # Sample mean: (mean_hat - m)^2 = s^2 Z^2 / n with Z ~ N(0, 1).
    variance = test.std**2
    expected = np.mean(variance) / n_samples
    spread = np.sqrt(2 * np.sum(variance**2)) / (n_test * n_samples)
    assert abs(row["mean_mse"] - expected) < 5 * spread
    # Sample std (ddof=1): s_hat = s sqrt(V), V = chi2_{n-1} / (n-1), so (s_hat - s)^2 =
    # s^2 (sqrt(V) - 1)^2, whose first two moments follow from E[V^(k/2)].
    moment = [_root_chi_moment(k, n_samples - 1) for k in range(5)]
    second = moment[2] - 2 * moment[1] + moment[0]
    fourth = moment[4] - 4 * moment[3] + 6 * moment[2] - 4 * moment[1] + moment[0]
    expected = np.mean(variance) * second
    spread = np.sqrt(np.sum(variance**2) * (fourth - second**2)) / n_test
    assert abs(row["std_mse"] - expected) < 5 * spread

