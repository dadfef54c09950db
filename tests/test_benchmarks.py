"""Smoke run of the benchmark harness, ``benchmarks/run.py --quick``, as a user runs it."""

import csv
import subprocess
import sys
from pathlib import Path

import numpy as np

REPOSITORY = Path(__file__).resolve().parents[1]
DATASETS = ("2spirals", "digits")


def test_quick_run_writes_a_complete_table_and_figures(tmp_path):
    command = [
        sys.executable, "benchmarks/run.py", "--quick", "--no-progress",
        "--output-dir", str(tmp_path), "--datasets", *DATASETS,
    ]
    subprocess.run(command, cwd=REPOSITORY, check=True, capture_output=True, text=True)

    with open(tmp_path / "results.csv", newline="") as file:
        rows = list(csv.DictReader(file))
    estimators = {row["estimator"] for row in rows}
    # Every estimator on every data set, plus a fresh draw of the generated data set.
    assert len(rows) == len(DATASETS) * (len(estimators) - 1) + 1
    assert {row["dataset"] for row in rows} == set(DATASETS)
    for row in rows:
        for name in ("memorized_fraction", "mmd2_median", "energy_distance", "c2st_accuracy"):
            assert np.isfinite(float(row[name])), (row["dataset"], row["estimator"], name)

    by_key = {(row["dataset"], row["estimator"]): row for row in rows}
    for dataset in DATASETS:
        # The unsmoothed empirical score copies training points; fresh data do not.
        assert float(by_key[dataset, "EmpiricalScore()"]["copy_gap_z"]) < -5
    assert abs(float(by_key["2spirals", "fresh data (reference)"]["copy_gap_z"])) < 4

    page = (tmp_path / "results.md").read_text()
    figures = sorted((tmp_path / "figures").glob("*.png"))
    assert any(f.name == "samples_2spirals.png" for f in figures)
    assert any(f.name.startswith("nearest_digits") for f in figures)
    for figure in figures:
        assert figure.stat().st_size > 0
        assert f"figures/{figure.name}" in page
