"""benchmarks/bench_wpo_training.py: its held-out loss, its step clock and a smoke run."""

import sys
from pathlib import Path

import numpy as np
import pytest
import torch

REPOSITORY = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPOSITORY / "benchmarks"))

import bench_wpo_training as bench  # noqa: E402
import wpo_authors  # noqa: E402
from wpokernel.mixture import GaussianMixtureField  # noqa: E402
from wpokernel.reductions import Full  # noqa: E402


def test_mixture_ism_loss_matches_the_peer_on_the_same_mixture():
    # The same dense mixture through the package's closed form and the peer's autograd-free
    # formula: two independent computations of J.
    rng = np.random.default_rng(0)
    centers, X = rng.normal(size=(30, 3)), rng.normal(size=(50, 3))
    model = wpo_authors.build_model(centers, depth=1, width=8, dtype=torch.float64)
    with torch.no_grad():
        precisions = model.precisions().numpy()
    field = GaussianMixtureField(centers, Full(np.linalg.inv(precisions)), backend="numpy")
    assert bench.mixture_ism_loss(field, X) == pytest.approx(
        wpo_authors.heldout_ism_loss(model, X), rel=1e-10)


def test_standard_normal_ism_loss_is_minus_half_the_dimension():
    # For N(0, I): score -x and Laplacian -d, so J = E|x|^2 / 2 - d = -d / 2.
    X = np.random.default_rng(1).normal(size=(20000, 4))
    field = GaussianMixtureField(np.zeros((1, 4)), Full(np.eye(4)[None]), backend="numpy")
    assert bench.mixture_ism_loss(field, X) == pytest.approx(-2.0, abs=0.05)


def test_step_clock_runs_exactly_max_steps_and_keeps_the_last_state():
    calls = []

    def fake_train(model, step_loss, **options):
        assert options["validation_interval"] == options["max_steps"]
        scores = [options["validate"]() for _ in range(2)]
        assert scores[1] > scores[0]  # every measurement improves: the last state is kept
        for step in range(1, options["max_steps"] + 1):
            calls.append(step_loss(step))
        return "result"

    clock = bench._StepClock(fake_train)
    assert clock(None, lambda step: step, max_steps=4, validate=None,
                 validation_interval=25) == "result"
    assert calls == [1, 2, 3, 4]
    assert len(np.diff(clock.starts)) == 4 and np.all(np.diff(clock.starts) >= 0)


def test_quick_run_writes_both_rows(tmp_path):
    threads = torch.get_num_threads()  # main() sets the benchmark's thread count
    try:
        rows = bench.main(["--quick", "--output", str(tmp_path / "page.md")])
    finally:
        torch.set_num_threads(threads)
    assert [row["n_features"] for row in rows] == [2, 8]
    for row in rows:
        assert len(row["ours"]["step_seconds"]) == 5
        assert len(row["theirs"]["step_seconds"]) == 5
        assert np.isfinite(row["ours"]["final_loss"]) and np.isfinite(row["theirs"]["final_loss"])
    page = (tmp_path / "page.md").read_text()
    assert page.count("| 2spirals (d = 2) |") == 1 and page.count("| random (d = 8) |") == 1
