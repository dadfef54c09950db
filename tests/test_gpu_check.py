"""``benchmarks/gpu_check.sh --dry-run``: what CI runs of the prepared GPU script."""

import subprocess
import xml.etree.ElementTree as ElementTree
from pathlib import Path

REPOSITORY = Path(__file__).resolve().parents[1]


def test_dry_run_skips_each_gpu_step_and_runs_the_rest(tmp_path):
    run = subprocess.run(["bash", "benchmarks/gpu_check.sh", "--dry-run", str(tmp_path)],
                         cwd=REPOSITORY, capture_output=True, text=True, timeout=600)
    assert run.returncode == 0, run.stdout[-4000:] + run.stderr[-2000:]
    skipped = (tmp_path / "skipped.txt").read_text()
    for step in ("installing .gpu_wheels/", "KeOps self-test", "pytest -m gpu", "GPU profile",
                 "WPOKernelScore on CUDA", "NeuralScore training throughput on CUDA"):
        assert step in skipped, step
    summary = (tmp_path / "summary.txt").read_text().splitlines()[1:]
    assert [line.split(" | ")[:2] for line in summary] == [
        [name, "passed"] for name in ("environment", "tests-gpu", "tests-wpo-device",
                                      "bench_reductions_gpu", "bench_wpo_device",
                                      "bench_neural_device")]
    # Without a GPU every case of the GPU matrix is collected and skipped, none fails.
    suite = ElementTree.parse(tmp_path / "junit-gpu.xml").getroot().find("testsuite")
    assert int(suite.get("tests")) > 0 and int(suite.get("skipped")) == int(suite.get("tests"))
    # The GPU profile's rows, run on the CPU, agree with the dense torch reference.
    rows = [line.split(" | ") for line in (tmp_path / "bench_reductions_gpu.md").read_text().splitlines()
            if line.startswith("| 2000x2000")]
    assert len(rows) == 8
    assert all(float(row[8]) < 1e-4 for row in rows), rows
