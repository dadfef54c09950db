"""Smoke run of the benchmark harness, ``benchmarks/run.py --quick``, as a user runs it."""

import csv
import importlib.util
import subprocess
import sys
from pathlib import Path

import numpy as np
from matplotlib.image import imread

REPOSITORY = Path(__file__).resolve().parents[1]
BENCHMARKS = REPOSITORY / "benchmarks"
DATASETS = ("2spirals", "digits")
REFERENCE = "fresh data (reference)"
# Transport rows toward the empirical measure with no stop above the data's spacing: their
# samples land on training points. ScoreDifferenceFlow() stops at Scott's bandwidth.
COPYING = (
    "StochasticInterpolant()", "StochasticInterpolant(), SDE", "SchrodingerBridge()",
    "FollmerBridge()", "ScoreDifferenceFlow(sigma_min=0.001)",
)


def import_benchmark(name):
    """The script ``benchmarks/<name>.py`` as a module: benchmarks/ is not a package."""
    spec = importlib.util.spec_from_file_location(name, BENCHMARKS / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def quick_study_rows(script, table, tmp_path, sizes, models, reference, results):
    """Run the memorization study ``benchmarks/<script>.py --quick`` as a user runs it and check
    what every MNIST study writes: one CSV row per size and model (``models`` then
    ``reference``, in order), finite ``results`` (the first three for the reference rows) and
    readable grids. Returns the rows by (size, model)."""
    command = [sys.executable, f"benchmarks/{script}.py", "--quick", "--no-progress",
               "--output-dir", str(tmp_path)]
    subprocess.run(command, cwd=REPOSITORY, check=True, capture_output=True, text=True)
    with open(tmp_path / table, newline="") as file:
        rows = list(csv.DictReader(file))
    assert [(row["n_train"], row["model"]) for row in rows] == [
        (n, model) for n in sizes for model in (*models, reference)]
    for row in rows:
        for name in results[:3] if row["model"] == reference else results:
            assert np.isfinite(float(row[name])), (row["n_train"], row["model"], name)
        if row["figure"]:
            assert imread(tmp_path / "figures" / row["figure"]).ndim == 3
    return {(row["n_train"], row["model"]): row for row in rows}


def test_quick_run_writes_a_complete_table_and_figures(tmp_path):
    command = [
        sys.executable, "benchmarks/run.py", "--quick", "--no-progress",
        "--output-dir", str(tmp_path), "--datasets", *DATASETS,
    ]
    subprocess.run(command, cwd=REPOSITORY, check=True, capture_output=True, text=True)

    with open(tmp_path / "results.csv", newline="") as file:
        rows = list(csv.DictReader(file))
    # Every row on the data sets it is meant for, plus a fresh draw of the generated data set;
    # the transport rows run on the 2-D toys only, WPOKernelScore targets on swissroll6d only.
    by_dataset = {d: [row["estimator"] for row in rows if row["dataset"] == d] for d in DATASETS}
    transport = [
        name for name in by_dataset["2spirals"] if name not in [*by_dataset["digits"], REFERENCE]
    ]
    assert by_dataset["2spirals"] == [*by_dataset["digits"], *transport, REFERENCE]
    assert len(by_dataset["digits"]) == 5
    assert len(transport) == 11
    assert not any("WPOKernelScore" in name for name in transport)
    for row in rows:
        for name in ("memorized_fraction", "mmd2_median", "energy_distance", "c2st_accuracy"):
            assert np.isfinite(float(row[name])), (row["dataset"], row["estimator"], name)

    by_key = {(row["dataset"], row["estimator"]): row for row in rows}
    for dataset in DATASETS:
        # The unsmoothed empirical score copies training points; fresh data do not.
        assert float(by_key[dataset, "EmpiricalScore()"]["copy_gap_z"]) < -5
    assert abs(float(by_key["2spirals", REFERENCE]["copy_gap_z"])) < 4
    # Toward the empirical measure the transport rows copy training points, toward the
    # cross-validated KDE they do not.
    for name in COPYING:
        assert float(by_key["2spirals", name]["memorized_fraction"]) > 0.9, name
    for name in (name for name in transport if "target=CV" in name):
        assert float(by_key["2spirals", name]["memorized_fraction"]) < 0.3, name

    page = (tmp_path / "results.md").read_text()
    figures = sorted((tmp_path / "figures").glob("*.png"))
    assert any(f.name == "samples_2spirals.png" for f in figures)
    assert any(f.name.startswith("nearest_digits") for f in figures)
    for figure in figures:
        assert figure.stat().st_size > 0
        assert f"figures/{figure.name}" in page


def test_rows_of_a_figure_keep_each_estimator_class_together():
    run = import_benchmark("run")
    names = [
        "A()", "A(x=1)", "B()", "C()", "C(x=1)", "C(y=1)", "C(), SDE", "C(x=1), SDE",
        "D()", "D(x=1)", "fresh data (reference)",
    ]
    # At most five sample panels per row beside the data panel; a class that does not fit
    # beside the previous row starts a new one.
    assert run._panel_rows(names) == [
        ["A()", "A(x=1)", "B()"],
        ["C()", "C(x=1)", "C(y=1)", "C(), SDE", "C(x=1), SDE"],
        ["D()", "D(x=1)", "fresh data (reference)"],
    ]


def test_transport_rows_run_on_the_toys_and_wpo_targets_on_swissroll6d():
    run = import_benchmark("run")
    for name, row in run.ESTIMATORS.items():
        if "WPOKernelScore" in name:
            assert row.datasets == ("swissroll6d",), name
        elif name.split("(")[0] in ("EmpiricalScore", "KernelDensity", "GaussianMixture"):
            assert row.datasets is None, name
        else:
            assert set(row.datasets) == set(run.TOY_NAMES) | {"swissroll6d"}, name
