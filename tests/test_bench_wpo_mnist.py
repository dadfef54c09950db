"""Smoke run of benchmarks/bench_wpo_mnist.py on a few MNIST images (skipped without them)."""

import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from _mnist import mnist_folder

REPOSITORY = Path(__file__).resolve().parents[1]


def test_quick_run_writes_every_row_and_the_grids(tmp_path):
    folder = mnist_folder()
    if folder is None:
        pytest.skip("the MNIST files are not at ../shared/data/mnist or WPOKERNEL_DATA")
    subprocess.run([sys.executable, "benchmarks/bench_wpo_mnist.py", "--sizes", "100",
                    "--n-test", "50", "--wpo-max-steps", "0", "--data", str(folder),
                    "--output-dir", str(tmp_path)], cwd=REPOSITORY, check=True,
                   capture_output=True, text=True)
    page = (tmp_path / "wpo_mnist.md").read_text()
    rows = [line for line in page.splitlines() if line.startswith("| 100 |")]
    assert len(rows) == 3
    for line in rows:
        bits = float(line.split("|")[3])
        assert np.isfinite(bits) and bits > 0
    grids = sorted(path.name for path in (tmp_path / "figures").glob("wpo_mnist_*_100.png"))
    assert len(grids) == 3
    assert sorted(re.findall(r"\]\(figures/(wpo_mnist_\w+_100\.png)\)", page)) == grids
    assert "Produced by `python benchmarks/bench_wpo_mnist.py --sizes 100" in page


def test_bits_per_dimension_of_the_uniform_density_is_eight():
    sys.path.insert(0, str(REPOSITORY / "benchmarks"))
    from bench_wpo_mnist import bits_per_dimension

    # The uniform density on [0, 1)^d has log-likelihood 0: 8 bits per 8-bit pixel.
    assert bits_per_dimension(0.0, 784) == pytest.approx(8.0, rel=1e-15)
