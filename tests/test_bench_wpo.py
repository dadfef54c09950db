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
    # The five targets of swissroll6d, in the page and printed.
    assert page.count("| swissroll6d | ") == 5
    assert result.stdout.count("swissroll6d: ") == 5


def test_digits_figure(tmp_path):
    bench_wpo = _import_bench_wpo()
    rng = np.random.default_rng(0)
    X_train, X_test = rng.random((20, 64)), rng.random((10, 64))
    samples = {("digits", bench_wpo.DEFAULT): rng.random((12, 64))}

    figures = bench_wpo.write_figures(samples, {"digits": (X_train, X_test)},
                                      [bench_wpo.DEFAULT], tmp_path)

    assert figures == {"digits": [tmp_path / "wpo_nearest_digits.png"]}
    assert figures["digits"][0].stat().st_size > 0
