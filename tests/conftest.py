import os
import tempfile

import pytest

# KeOps compiles formulas into a cache; keep it writable and shared by the test session.
os.environ.setdefault("KEOPS_CACHE_FOLDER", os.path.join(tempfile.gettempdir(), "wpokernel-keops-cache"))

from wpokernel.reductions import available_backends  # noqa: E402

BACKENDS = available_backends()


def _backend_param(name):
    marks = []
    if name == "keops":
        marks.append(pytest.mark.keops)
    if name == "cupy":
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
