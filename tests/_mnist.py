"""The folder of the MNIST files for the tests that read them, or a skip that says why.

The files are not part of the repository: the tests look in the folder named by
``WPOKERNEL_DATA`` (as :func:`wpokernel.datasets.load_mnist` does), else in
``../shared/data/mnist`` beside the repository, and skip when neither exists.
"""

import os
from pathlib import Path

import pytest

from wpokernel.datasets import DATA_ENV_VAR

SHARED_MNIST = Path(__file__).resolve().parents[1] / ".." / "shared" / "data" / "mnist"


def mnist_folder():
    """Return the folder to pass to ``load_mnist``; skip the calling test without one."""
    named = os.environ.get(DATA_ENV_VAR)
    if named:
        return Path(named)
    if SHARED_MNIST.is_dir():
        return SHARED_MNIST
    pytest.skip(f"No MNIST files: {DATA_ENV_VAR} is not set and {SHARED_MNIST} does not exist.")
