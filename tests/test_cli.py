"""Tests of the ``wpokernel`` command line.

The demo, help, argument errors and the end-to-end round trip run in a subprocess as a user
would; the checks of bad files and outputs call :func:`wpokernel.cli.main` in this process,
which is what the entry point runs, so that each case does not pay for importing torch.
"""

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


@pytest.fixture
def run_main(capsys, monkeypatch):
    """``main(args)`` run in ``cwd``, with what ``_run_cli`` returns: exit code and output."""
    from wpokernel.cli import main

    def run(*args, cwd):
        monkeypatch.chdir(cwd)
        capsys.readouterr()
        code = main(list(args))
        out, err = capsys.readouterr()
        return subprocess.CompletedProcess(args, code, out, err)

    return run


@pytest.mark.slow
def test_demo_writes_samples_figure_and_table(tmp_path):
    output = tmp_path / "demo"
    result = _run_cli(
        "demo", "--n-train", "300", "--n-samples", "200", "--output", str(output),
        "--no-progress", cwd=tmp_path,
    )
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr
    for label in ("unsmoothed", "smoothed", "wpo"):
        samples = np.load(output / f"samples_{label}.npy")
        assert samples.shape == (200, 2)
        assert np.all(np.isfinite(samples))
    assert (output / "data_vs_samples.png").stat().st_size > 0
    for text in ("memorized", "energy to test", "test log-lik", "real test data",
                 "EmpiricalScore()", "EmpiricalScore(bandwidth=<3-fold CV>)", "WPOKernelScore()"):
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


# ---------------------------------------------------------------------------- model commands
@pytest.fixture(scope="module")
def files(tmp_path_factory):
    folder = tmp_path_factory.mktemp("cli")
    X = np.random.default_rng(0).normal(size=(160, 2))
    np.save(folder / "train.npy", X[:120])
    np.savetxt(folder / "test.csv", X[120:], delimiter=",", header="x,y", comments="")
    np.savez(folder / "test.npz", points=X[120:])
    return folder, X[:120], X[120:]


def _assert_one_line_error(result, message):
    assert result.returncode == 2, result.stdout
    assert "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("wpokernel: error:"), result.stderr
    assert message in lines[0]


@pytest.mark.parametrize("command", ["fit", "sample", "evaluate", "score"])
def test_every_command_has_help(command, tmp_path):
    result = _run_cli(command, "--help", cwd=tmp_path)
    assert result.returncode == 0 and "usage: wpokernel " + command in result.stdout


def test_fit_sample_score_evaluate_end_to_end(files):
    from wpokernel import EmpiricalScore, load

    folder, X_train, X_test = files
    model = folder / "model.npz"
    result = _run_cli("fit", "train.npy", "--model", "empirical", "-p", "bandwidth=0.3",
                      "-o", str(model), "--no-progress", cwd=folder)
    assert result.returncode == 0, result.stderr
    assert "fitted EmpiricalScore on 120 points of dimension 2" in result.stdout
    # The file holds the model a Python user would fit.
    expected = EmpiricalScore(bandwidth=0.3, progress=False).fit(X_train)
    np.testing.assert_array_equal(load(model).score_samples(X_test), expected.score_samples(X_test))

    result = _run_cli("sample", str(model), "-n", "25", "-o", "samples.csv", "--seed", "3",
                      cwd=folder)
    assert result.returncode == 0, result.stderr
    np.testing.assert_allclose(np.loadtxt(folder / "samples.csv", delimiter=","),
                               expected.sample(25, random_state=3), rtol=1e-15)

    result = _run_cli("score", str(model), "test.csv", "-o", "logp.npy", cwd=folder)
    assert result.returncode == 0, result.stderr
    np.testing.assert_array_equal(np.load(folder / "logp.npy"), expected.score_samples(X_test))
    assert f"{expected.score(X_test):.6g}" in result.stdout

    result = _run_cli("evaluate", str(model), "--train", "train.npy", "--test", "test.npz",
                      "--seed", "0", cwd=folder)
    assert result.returncode == 0, result.stderr
    assert "held-out mean log-likelihood" in result.stdout and "energy distance" in result.stdout


def test_fit_wpo_with_parameters(files):
    folder = files[0]
    result = _run_cli("fit", "train.npy", "--model", "wpo", "-p", "max_steps=3", "-p",
                      "structure=diagonal", "-o", "wpo.npz", "--seed", "0", "--no-progress",
                      cwd=folder)
    assert result.returncode == 0, result.stderr
    from wpokernel import load

    model = load(folder / "wpo.npz")
    assert model.structure_ == "diagonal" and model.random_state == 0 and model.n_train_steps_ <= 3


@pytest.mark.parametrize("setup, args, message", [
    (None, ("fit", "missing.npy", "-o", "m.npz"), "Expected an existing data file"),
    (None, ("fit", "train.txt", "-o", "m.npz"), "Expected a data file ending in"),
    ("nan.csv", ("fit", "nan.csv", "-o", "m.npz"), "Expected finite numbers"),
    ("words.csv", ("fit", "words.csv", "-o", "m.npz"),
     "Could not read numbers from words.csv: row 2, column 2 holds 'x', not a number"),
    ("ragged.csv", ("fit", "ragged.csv", "-o", "m.npz"), "row 3 has 1 values where row 1 has 2"),
    ("empty.csv", ("fit", "empty.csv", "-o", "m.npz"), "Could not read numbers from empty.csv: "
                                                      "the file is empty"),
    ("words.csv", ("fit", "words.csv", "-o", "no/such/dir/m.npz"),
     "Expected an existing folder for the output 'no/such/dir/m.npz'"),
    ("cube.npy", ("fit", "cube.npy", "-o", "m.npz"), "Expected a 2-D array"),
    ("two.npz", ("fit", "two.npz", "-o", "m.npz"), "Expected one array"),
    (None, ("fit", "train.npy", "-p", "max_steps=-1", "-o", "m.npz"), "Expected max_steps >= 0"),
    (None, ("fit", "train.npy", "-p", "colour=1", "-o", "m.npz"), "Invalid parameter 'colour'"),
    (None, ("sample", "train.npy", "-n", "3", "-o", "s.npy"),
     "train.npy is not a wpokernel model file: it is not an .npz archive"),
    ("model", ("sample", "model.npz", "-n", "3", "-o", "s.txt"), "ending in .npy or .csv"),
    ("model", ("sample", "model.npz", "-n", "3", "-o", "s.npy", "--method", "magic"),
     "Expected method in"),
    ("model", ("score", "model.npz", "wide.npy"), "features"),
])
def test_bad_input_is_one_line_and_exit_code_2(files, run_main, setup, args, message):
    folder = files[0]
    if setup == "nan.csv":
        (folder / "nan.csv").write_text("1,2\n3,nan\n")
    elif setup == "words.csv":
        (folder / "words.csv").write_text("a,b\n1,x\n")
    elif setup == "ragged.csv":
        (folder / "ragged.csv").write_text("1,2\n3,4\n5\n")
    elif setup == "empty.csv":
        (folder / "empty.csv").write_text("")
    elif setup == "cube.npy":
        np.save(folder / "cube.npy", np.zeros((2, 2, 2)))
    elif setup == "two.npz":
        np.savez(folder / "two.npz", a=np.zeros((3, 2)), b=np.zeros((3, 2)))
    elif setup == "model":
        from wpokernel import EmpiricalScore

        EmpiricalScore(bandwidth=0.3).fit(files[1]).save(folder / "model.npz")
        np.save(folder / "wide.npy", np.zeros((4, 5)))
    _assert_one_line_error(run_main(*args, cwd=folder), message)


def test_bad_parameter_syntax_is_an_argparse_error(files):
    result = _run_cli("fit", "train.npy", "-p", "nonsense", "-o", "m.npz", cwd=files[0])
    assert result.returncode == 2 and "Expected K=V" in result.stderr
    assert "Traceback" not in result.stderr


def test_outputs_are_checked_before_any_work_and_never_overwritten(files, run_main):
    folder = files[0]
    # The output folder is checked before the data is even read: a missing data file would
    # otherwise be the error.
    result = run_main("fit", "missing.npy", "-o", "no/such/dir/m.npz", cwd=folder)
    _assert_one_line_error(result, "Expected an existing folder for the output")
    result = run_main("fit", "train.npy", "--model", "empirical", "-o", "m_emp", cwd=folder)
    assert result.returncode == 0 and "saved to m_emp.npz" in result.stdout
    # The name fit was given finds the model file it wrote.
    assert run_main("sample", "m_emp", "-n", "3", "-o", "s.npy", cwd=folder).returncode == 0
    precious = folder / "precious.csv"
    precious.write_text("keep me")
    result = run_main("sample", "m_emp.npz", "-n", "3", "-o", "precious.csv", cwd=folder)
    _assert_one_line_error(result, "exists already; pass --force to overwrite it")
    assert precious.read_text() == "keep me"
    result = run_main("fit", "train.npy", "--model", "empirical", "-o", "m_emp", cwd=folder)
    _assert_one_line_error(result, "'m_emp.npz' exists already")
    assert run_main("sample", "m_emp.npz", "-n", "3", "-o", "precious.csv", "--force",
                    cwd=folder).returncode == 0
    assert np.loadtxt(precious, delimiter=",").shape == (3, 2)
    (folder / "adir.csv").mkdir()
    result = run_main("sample", "m_emp.npz", "-n", "3", "-o", "adir.csv", cwd=folder)
    _assert_one_line_error(result, "Expected an output file, got the existing folder 'adir.csv'")
    assert not (folder / "adir.csv.npz").exists()
