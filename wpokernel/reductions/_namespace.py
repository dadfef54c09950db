"""Array-library adapters: one small namespace per library (NumPy, CuPy, torch).

The blocked reduction engine is written once against this namespace, so NumPy, CuPy and
torch share one implementation and torch keeps autograd through it. The library is
inferred from the inputs, as POT's ``get_backend`` and GeomLoss's ``get_library`` do; mixing
libraries is an error that names the types.
"""

from contextlib import contextmanager

import numpy as np
from sklearn.utils import check_random_state

__all__ = ["RandomSource", "get_namespace", "NumpyNamespace", "TorchNamespace"]

# Seeds handed from a NumPy random state to torch and CuPy generators (int64 range).
_SEED_BOUND = 2**62


def _torch():
    import torch

    return torch


def _cupy_module():
    # CuPy is optional: it is only imported when an array claims to come from it.
    import cupy

    return cupy


def _library_of(a):
    """Name of the array library an input belongs to (``None`` for scalars and lists)."""
    module = type(a).__module__.split(".")[0]
    if module in ("numpy", "torch", "cupy"):
        return module
    return None


class NumpyNamespace:
    """Operations used by the engine, for NumPy and for CuPy (same API)."""

    def __init__(self, module=np):
        self.xp = module
        self.name = "numpy" if module is np else "cupy"

    def asarray(self, a, dtype=None, like=None):
        if dtype is None and like is not None:
            dtype = like.dtype
        return self.xp.asarray(a, dtype=dtype)

    def zeros(self, shape, like):
        return self.xp.zeros(shape, dtype=like.dtype)

    def ones(self, shape, like):
        return self.xp.ones(shape, dtype=like.dtype)

    def amax(self, a, axis):
        return self.xp.max(a, axis=axis)

    def sum(self, a, axis):
        return self.xp.sum(a, axis=axis)

    def concat(self, arrays, axis=0):
        return self.xp.concatenate(arrays, axis=axis)

    def cholesky(self, a):
        return self.xp.linalg.cholesky(a)

    def inv(self, a):
        return self.xp.linalg.inv(a)

    def solve_lower(self, lower, b):
        """``X`` with ``lower @ X = b`` for batches of lower-triangular matrices."""
        return self.xp.linalg.solve(lower, b)

    def to_numpy(self, a):
        return a if self.xp is np else self.xp.asnumpy(a)

    def from_numpy(self, a, like):
        return self.xp.asarray(a, dtype=like.dtype)

    def swap_last(self, a):
        return self.xp.swapaxes(a, -1, -2)

    def diagonal(self, a):
        return self.xp.diagonal(a, axis1=-2, axis2=-1)

    def exp_shifted(self, f, m):
        """``exp(f - m[:, None])``, in place: ``f`` is a scratch block the caller drops."""
        f -= m[:, None]
        return self.xp.exp(f, out=f)

    def einsum(self, subscripts, *operands):
        # NumPy's einsum only dispatches to BLAS when asked to optimize.
        if self.xp is np:
            return np.einsum(subscripts, *operands, optimize=True)
        return self.xp.einsum(subscripts, *operands)

    def __getattr__(self, name):
        # exp, log, sqrt, maximum, einsum, where, ... have the same name and signature.
        return getattr(self.xp, name)


class TorchNamespace:
    """Operations used by the engine, for torch tensors (CPU or CUDA, differentiable)."""

    name = "torch"

    def __init__(self):
        self.xp = _torch()

    def asarray(self, a, dtype=None, like=None):
        torch = self.xp
        if like is not None:
            return torch.as_tensor(a, dtype=dtype or like.dtype, device=like.device)
        if isinstance(a, np.ndarray) and dtype is None:
            return torch.from_numpy(a)
        return torch.as_tensor(a, dtype=dtype)

    def zeros(self, shape, like):
        return self.xp.zeros(shape, dtype=like.dtype, device=like.device)

    def ones(self, shape, like):
        return self.xp.ones(shape, dtype=like.dtype, device=like.device)

    def amax(self, a, axis):
        return self.xp.amax(a, dim=axis)

    def sum(self, a, axis):
        return self.xp.sum(a, dim=axis)

    def concat(self, arrays, axis=0):
        return self.xp.cat(arrays, dim=axis)

    def _one_thread(self):
        """Batched small LAPACK calls on one thread: with two OpenMP threads on a busy 2-core
        machine, a batched triangular solve of 1080 (20, 20) systems took 3.6 s instead of
        9 ms (a spin-wait pathology), and batching gains nothing from threads at these sizes."""
        return _torch_threads(self.xp, 1)

    def cholesky(self, a):
        with self._one_thread():
            return self.xp.linalg.cholesky(a)

    def inv(self, a):
        with self._one_thread():
            return self.xp.linalg.inv(a)

    def solve_lower(self, lower, b):
        # The inverse of the small triangle, then one matrix product: faster than a batched
        # triangular solve of the wide right-hand side.
        eye = self.xp.eye(lower.shape[-1], dtype=lower.dtype, device=lower.device)
        with self._one_thread():
            inverse = self.xp.linalg.solve_triangular(lower, eye.expand(lower.shape), upper=False)
        return inverse @ b

    def exp_shifted(self, f, m):
        if f.requires_grad:  # out of place: autograd needs the logits
            return self.xp.exp(f - m[:, None])
        return f.sub_(m[:, None]).exp_()

    def to_numpy(self, a):
        return a.detach().cpu().numpy()

    def copy(self, a):
        return a.clone()

    def from_numpy(self, a, like):
        return self.xp.as_tensor(a, dtype=like.dtype, device=like.device)

    def swap_last(self, a):
        return a.transpose(-1, -2)

    def diagonal(self, a):
        return self.xp.diagonal(a, dim1=-2, dim2=-1)

    def __getattr__(self, name):
        return getattr(self.xp, name)


@contextmanager
def _torch_threads(torch, n_threads):
    previous = torch.get_num_threads()
    torch.set_num_threads(n_threads)
    try:
        yield
    finally:
        torch.set_num_threads(previous)


def namespace_for(library):
    """Namespace object for a library name ``"numpy"``, ``"cupy"`` or ``"torch"``."""
    if library == "numpy":
        return NumpyNamespace(np)
    if library == "cupy":
        return NumpyNamespace(_cupy_module())
    if library == "torch":
        return TorchNamespace()
    raise ValueError(f"Expected 'numpy', 'cupy' or 'torch', got {library!r}.")


def get_namespace(*arrays):
    """Infer the array library shared by ``arrays``.

    Scalars, lists and ``None`` are neutral. Arrays from two libraries raise a ``TypeError``
    that names both types. Inputs with no array default to NumPy.
    """
    libraries = {}
    for a in arrays:
        library = _library_of(a)
        if library is not None:
            libraries.setdefault(library, type(a).__name__)
    if len(libraries) > 1:
        found = ", ".join(f"{lib}.{name}" for lib, name in libraries.items())
        raise TypeError(
            f"Expected all arrays from one library, got a mix of {found}. "
            "Convert them to one library first."
        )
    library = next(iter(libraries), "numpy")
    return namespace_for(library)


class RandomSource:
    """Seeded random draws in the array library, device and dtype of a reference array.

    NumPy draws come from the :class:`numpy.random.RandomState` of ``random_state`` itself
    (``sklearn.utils.check_random_state``), so a NumPy run gives the same numbers as code
    that uses that state directly. torch and CuPy draws come from a generator of their own
    on the reference array's device, seeded once from that state: a given seed gives the same
    stream on every run, and no draw leaves the device.

    Parameters
    ----------
    random_state : int, RandomState instance or None
        Seed.
    like : array
        Reference array (NumPy, torch or CuPy) whose library, device and dtype the draws take.
    """

    def __init__(self, random_state, like):
        self.rng = check_random_state(random_state)
        self.ns = get_namespace(like)
        self.like = like
        if self.ns.name == "torch":
            self.generator = self.ns.xp.Generator(device=like.device)
            self.generator.manual_seed(int(self.rng.randint(_SEED_BOUND, dtype=np.int64)))
        elif self.ns.name == "cupy":
            self.generator = self.ns.xp.random.RandomState(int(self.rng.randint(_SEED_BOUND,
                                                                              dtype=np.int64)))

    def normal(self, shape):
        """Standard normal draws of ``shape``."""
        shape = tuple(int(n) for n in shape)
        if self.ns.name == "numpy":
            return self.rng.standard_normal(shape).astype(self.like.dtype, copy=False)
        if self.ns.name == "torch":
            return self.ns.xp.randn(shape, generator=self.generator, dtype=self.like.dtype,
                                    device=self.like.device)
        return self.generator.standard_normal(shape, dtype=self.like.dtype)

    def rademacher(self, shape):
        """Draws of :math:`\\pm 1` with equal probability, of ``shape``."""
        shape = tuple(int(n) for n in shape)
        if self.ns.name == "numpy":
            signs = self.rng.randint(2, size=shape)
        elif self.ns.name == "torch":
            signs = self.ns.xp.randint(0, 2, shape, generator=self.generator,
                                       device=self.like.device)
        else:
            signs = self.generator.randint(0, 2, size=shape)
        return self.ns.asarray(2 * signs - 1, like=self.like)

    def choice(self, weights, size):
        """``size`` indices drawn with replacement with probabilities proportional to ``weights``.

        ``weights`` is a non-negative array of the reference library.
        """
        size = int(size)
        if self.ns.name == "numpy":
            return self.rng.choice(len(weights), size=size, p=weights / weights.sum())
        if self.ns.name == "torch":
            return self.ns.xp.multinomial(weights, size, replacement=True,
                                          generator=self.generator)
        return self.generator.choice(len(weights), size=size, p=weights / weights.sum())

    def integers(self, high, size):
        """``size`` integers drawn uniformly from ``0, ..., high - 1``."""
        if self.ns.name == "numpy":
            return self.rng.randint(high, size=int(size))
        if self.ns.name == "torch":
            return self.ns.xp.randint(0, int(high), (int(size),), generator=self.generator,
                                      device=self.like.device)
        return self.generator.randint(0, int(high), size=int(size))
