"""Smoke run of the WPOKernelScore evidence benchmark, ``benchmarks/bench_wpo.py --quick``."""

import csv
import subprocess
import sys
from pathlib import Path

import numpy as np

REPOSITORY = Path(__file__).resolve().parents[1]
BENCHMARKS = REPOSITORY / "benchmarks"
# digits is left out of the subprocess run: the distillation of WPOKernelScore's
# initialization costs about 30 s per fit in 64 dimensions whatever the number of points, and
# there are three such fits. Its figure is drawn by test_digits_figure below.
DATASETS = ("moons", "swissroll6d")
METRICS = (
    "log_likelihood", "memorized_fraction", "memorized_fraction_test", "copy_gap_z",
    "mmd2_median", "mmd2_multiscale", "energy_distance", "sliced_wasserstein",
    "c2st_accuracy", "fit_seconds", "sample_seconds",
)


def _import_bench_wpo():
    # benchmarks/ is a folder of scripts, not a package.
    sys.path.insert(0, str(BENCHMARKS))
    try:
        import bench_wpo
    finally:
        sys.path.remove(str(BENCHMARKS))
    return bench_wpo


def test_quick_run_writes_every_row_and_the_targets(tmp_path):
    command = [
        sys.executable, "benchmarks/bench_wpo.py", "--quick", "--no-progress",
        # One thread: spinning OpenMP threads slow down many-fold beside other test jobs.
        "--threads", "1", "--output-dir", str(tmp_path), "--datasets", *DATASETS,
    ]
    result = subprocess.run(command, cwd=REPOSITORY, check=True, capture_output=True,
                            text=True)

    with open(tmp_path / "wpo.csv", newline="") as file:
        rows = list(csv.DictReader(file))
    row_names = list(_import_bench_wpo().estimators())
    assert [(row["dataset"], row["estimator"]) for row in rows] == [
        (dataset, name) for dataset in DATASETS for name in row_names
    ]
    for row in rows:
        assert row["n_samples"] == "500"
        for name in METRICS:
            assert np.isfinite(float(row[name])), (row["dataset"], row["estimator"], name)

    page = (tmp_path / "wpo.md").read_text()
    assert page.startswith("# WPOKernelScore evidence")
    figures = sorted((tmp_path / "figures").glob("*.png"))
    assert [figure.name for figure in figures] == ["wpo_samples_moons.png"]
    for figure in figures:
        assert figure.stat().st_size > 0
        assert f"figures/{figure.name}" in page
    # Seven targets each (initialization, peers or the ceiling, two memorization measures
    # with the memorizing reference), in the page and printed.
    for dataset in DATASETS:
        assert page.count(f"| {dataset} | ") == 7
        assert result.stdout.count(f"{dataset}: ") == 7
    assert "The exact density gives the test points a mean log-likelihood of" in page


def _rows(dataset, n_features, log_likelihoods, memorized=0.0):
    bench_wpo = _import_bench_wpo()
    rows = []
    for name in bench_wpo.estimators():
        rows.append({"dataset": dataset, "estimator": name, "n_features": n_features,
                     "log_likelihood": log_likelihoods.get(name, -100.0),
                     "memorized_fraction": memorized, "memorized_fraction_test": 0.0,
                     "memorized_fraction_subspace": memorized,
                     "memorized_fraction_subspace_test": 0.0})
    for row in rows:
        if row["estimator"] == bench_wpo.MEMORIZING:
            row["memorized_fraction"] = row["memorized_fraction_subspace"] = 0.95
    return rows


def _holds(checks):
    return {check["target"]: check["holds"] for check in checks}


def test_digits_target_needs_one_nat_above_the_better_peer():
    bench_wpo = _import_bench_wpo()
    for value, expected in [(61.1, True), (60.9, False)]:
        rows = _rows("digits", 64, {bench_wpo.DEFAULT: value, bench_wpo.MIXTURE: 60.0,
                                    bench_wpo.EMPIRICAL_CV: 50.0,
                                    bench_wpo.INITIALIZATION: 55.0})
        holds = _holds(bench_wpo.check_targets(rows))
        peer_target = next(t for t in holds if "+ 1 nat" in t)
        assert holds[peer_target] is expected
        assert all(v for t, v in holds.items() if t != peer_target)


def test_swissroll6d_ceiling_and_toy_tolerance_and_memorization():
    bench_wpo = _import_bench_wpo()
    rows = _rows("swissroll6d", 6, {bench_wpo.DEFAULT: -1.50, bench_wpo.MIXTURE: -1.55,
                                    bench_wpo.EMPIRICAL_CV: -5.0,
                                    bench_wpo.INITIALIZATION: -1.6})
    holds = _holds(bench_wpo.check_targets(rows, {"swissroll6d": -1.25}))
    assert [v for t, v in holds.items() if "exact density" in t] == [False]  # 0.25 below
    holds = _holds(bench_wpo.check_targets(rows, {"swissroll6d": -1.35}))
    assert all(holds.values())

    toy = _rows("moons", 2, {bench_wpo.DEFAULT: -1.015, bench_wpo.MIXTURE: -1.0,
                             bench_wpo.EMPIRICAL_CV: -1.2, bench_wpo.INITIALIZATION: -1.1})
    assert all(_holds(bench_wpo.check_targets(toy)).values())  # within 0.02 of the mixture
    toy[0]["log_likelihood"] = -1.03
    assert not all(_holds(bench_wpo.check_targets(toy)).values())

    copied = _rows("moons", 2, {bench_wpo.DEFAULT: 0.0}, memorized=0.03)
    failed = [t for t, v in _holds(bench_wpo.check_targets(copied)).items() if not v]
    assert len(failed) == 2 and all("within 0.02 of the test set" in t for t in failed)


def test_exact_log_likelihood_only_for_swissroll6d():
    from wpokernel.datasets import make_swissroll6d, swissroll6d_log_density

    bench_wpo = _import_bench_wpo()
    X = make_swissroll6d(50, random_state=0)
    assert bench_wpo.exact_log_likelihood("swissroll6d", X) == swissroll6d_log_density(X).mean()
    assert bench_wpo.exact_log_likelihood("moons", X[:, :2]) is None


def test_digits_figure(tmp_path):
    bench_wpo = _import_bench_wpo()
    rng = np.random.default_rng(0)
    X_train, X_test = rng.random((20, 64)), rng.random((10, 64))
    samples = {("digits", bench_wpo.DEFAULT): rng.random((12, 64))}

    figures = bench_wpo.write_figures(samples, {"digits": (X_train, X_test)},
                                      [bench_wpo.DEFAULT], tmp_path)

    assert figures == {"digits": [tmp_path / "wpo_nearest_digits.png"]}
    assert figures["digits"][0].stat().st_size > 0
