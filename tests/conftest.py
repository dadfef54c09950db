"""Shared fixtures, and the one list of the test cases that need a GPU.

A case that needs a CUDA device carries the ``gpu`` marker: the ``cupy`` backend, the
``keops`` backend where torch sees a GPU (KeOps then compiles for it), the ``cuda`` torch
device and the tests marked by hand. Without a CUDA device they are skipped here, so
``python -m pytest -m gpu`` runs exactly the GPU matrix (``benchmarks/gpu_check.sh`` does).
"""

import os
import tempfile

import pytest
import torch

# KeOps compiles formulas into a cache; keep it writable and shared by the test session.
os.environ.setdefault("KEOPS_CACHE_FOLDER", os.path.join(tempfile.gettempdir(), "wpokernel-keops-cache"))

from wpokernel.reductions import available_backends  # noqa: E402

BACKENDS = available_backends()
CUDA = torch.cuda.is_available()


def _backend_param(name):
    marks = []
    if name == "keops":
        marks.append(pytest.mark.keops)
    if name == "cupy" or (name == "keops" and CUDA):
        marks.append(pytest.mark.gpu)
    return pytest.param(name, marks=marks, id=name)


ALL_BACKENDS = ["numpy", "torch", "keops", "cupy"]


@pytest.fixture(params=[_backend_param(b) for b in ALL_BACKENDS])
def backend(request):
    """Every reduction backend; skipped with a reason where it cannot run here."""
    name = request.param
    if name not in BACKENDS:
        reason = "pykeops is not installed" if name == "keops" else "CuPy with a GPU is not available"
        pytest.skip(reason)
    return name


@pytest.fixture(params=["cpu", pytest.param("cuda", marks=pytest.mark.gpu)])
def device(request):
    """Every torch device: the CPU, and CUDA (a ``gpu`` case)."""
    return request.param


def pytest_collection_modifyitems(config, items):
    """Skip the ``gpu`` cases where torch sees no CUDA device."""
    if CUDA:
        return
    skip = pytest.mark.skip(reason="needs a CUDA device (a gpu case)")
    for item in items:
        if item.get_closest_marker("gpu") is not None:
            item.add_marker(skip)
