"""Tests of the ``wpokernel`` command line, run in a subprocess as a user would."""

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]
# Generous: the demo must take well under a minute, but a first KeOps compile may not.
SUBPROCESS_TIMEOUT_S = 600


def _run_cli(*args, cwd):
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO_ROOT), env.get("PYTHONPATH")]))
    return subprocess.run(
        [sys.executable, "-m", "wpokernel.cli", *args],
        cwd=cwd, env=env, capture_output=True, text=True, timeout=SUBPROCESS_TIMEOUT_S,
    )


@pytest.mark.slow
def test_demo_writes_samples_figure_and_table(tmp_path):
    output = tmp_path / "demo"
    result = _run_cli(
        "demo", "--n-train", "300", "--n-samples", "200", "--output", str(output),
        "--no-progress", cwd=tmp_path,
    )
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr
    for label in ("unsmoothed", "smoothed"):
        samples = np.load(output / f"samples_{label}.npy")
        assert samples.shape == (200, 2)
        assert np.all(np.isfinite(samples))
    assert (output / "data_vs_samples.png").stat().st_size > 0
    for text in ("memorized", "energy to test", "test log-lik", "real test data",
                 "EmpiricalScore()", "EmpiricalScore(bandwidth=<3-fold CV>)"):
        assert text in result.stdout


def test_help_exits_zero(tmp_path):
    result = _run_cli("demo", "--help", cwd=tmp_path)
    assert result.returncode == 0
    assert "--n-train" in result.stdout


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ((), "the following arguments are required: COMMAND"),
        (("train",), "invalid choice: 'train'"),
        (("demo", "--dataset", "spiral"), "invalid choice: 'spiral'"),
        (("demo", "--n-train", "1"), "Expected an int >= 2, got 1"),
        (("demo", "--n-samples", "many"), "Expected an int, got 'many'"),
        (("demo", "--seed", "-3"), "Expected an int >= 0, got -3"),
        (("demo", "--bogus"), "unrecognized arguments: --bogus"),
    ],
)
def test_bad_arguments_fail_without_traceback(tmp_path, args, message):
    result = _run_cli(*args, cwd=tmp_path)
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    assert message in result.stderr


def test_runtime_error_is_one_line_with_exit_code_2(tmp_path):
    # The output folder cannot be created where a file already sits.
    blocker = tmp_path / "not_a_folder"
    blocker.write_text("")
    result = _run_cli("demo", "--output", str(blocker / "out"), "--no-progress", cwd=tmp_path)
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("wpokernel: error:")
