r"""Public entry point of the reduction engine: validation, backend choice, conversions.

:func:`mixture_moments` computes, for queries :math:`x_i` and a Gaussian mixture
:math:`p(x) = \sum_j e^{a_j} N(x; z_j, C_j)`, in one pass over the centers,

.. math::

    \log p(x_i) = \log \sum_j e^{a_j} N(x_i; z_j, C_j), \qquad
    w_{ij} = \frac{e^{a_j} N(x_i; z_j, C_j)}{p(x_i)},

    D_i = \sum_j w_{ij} P_j (x_i - z_j), \qquad
    L_i = \sum_j w_{ij} \big(\lVert P_j (x_i - z_j)\rVert^2 - \operatorname{tr} P_j\big), \qquad
    V_i = \sum_j w_{ij} v_j,

from which :math:`\nabla \log p(x_i) = -D_i` and
:math:`\Delta \log p(x_i) = L_i - \lVert D_i\rVert^2`.
"""

import importlib.util
import math
import warnings
from typing import NamedTuple

import numpy as np

from ._blocked import reduce_blocked
from ._namespace import get_namespace, namespace_for
from .covariance import CovarianceStructure

__all__ = ["MixtureMoments", "mixture_moments", "resolve_backend", "BACKENDS", "available_backends"]

_VALID_BACKENDS = ("auto", "numpy", "torch", "keops", "cupy")
# On the GPU, KeOps keeps a (query, center) pair's whole formula in registers: its strength
# for small dimensions, while for large d the matrix products of the blocked engine win.
KEOPS_MAX_DIM = 32
# Below about 500 x 500 pairs a KeOps launch costs more than the blocked engine's work.
KEOPS_MIN_PAIRS = 500 * 500
# On the CPU the blocked NumPy engine (two BLAS products and one in-place exp per block) beat
# KeOps' CPU code in every case of benchmarks/bench_reductions.py on 2 cores (1.1 s vs 1.5 s
# at 20,000 x 20,000, d = 2; 0.1 s vs 0.3 s at 5,000 x 5,000, d = 16), and the torch CPU
# engine by 2-3x, so "auto" sends all CPU work that needs no gradient to NumPy.
DEFAULT_WORKING_MEMORY = 256  # MiB


class MixtureMoments(NamedTuple):
    """Results of :func:`mixture_moments` (``None`` where not requested).

    Attributes
    ----------
    log_density : array of shape (n_queries,)
        :math:`\\log p(x_i)`.
    displacement : array of shape (n_queries, n_features) or None
        :math:`D_i = \\sum_j w_{ij} P_j (x_i - z_j)`; the score is :math:`-D_i`.
    laplacian_term : array of shape (n_queries,) or None
        :math:`L_i`; the Laplacian of :math:`\\log p` is :math:`L_i - \\lVert D_i\\rVert^2`.
    values : array of shape (n_queries, n_values) or None
        :math:`\\sum_j w_{ij} v_j`.
    """

    log_density: object
    displacement: object
    laplacian_term: object
    values: object


def _reduce_keops(ns, x_i, z_j, covariance, log_weights_j, values_j, *, score, laplacian,
                  working_memory):
    # Imported on first use so that ``import wpokernel`` never loads pykeops.
    from ._keops import reduce_keops

    return reduce_keops(ns, x_i, z_j, covariance, log_weights_j, values_j, score=score,
                        laplacian=laplacian, working_memory=working_memory)


# Every backend takes (ns, x_i, z_j, covariance, log_weights_j, values_j, *, score,
# laplacian, working_memory); torch and cupy run the same blocked engine as numpy in
# their own library.
BACKENDS = {
    "numpy": reduce_blocked,
    "torch": reduce_blocked,
    "cupy": reduce_blocked,
    "keops": _reduce_keops,
}
_BACKEND_LIBRARY = {"numpy": "numpy", "torch": "torch", "cupy": "cupy"}
_KEOPS_BROKEN = []  # set once KeOps failed under backend="auto", so the warning is given once


def keops_installed():
    """Whether pykeops can be found (without importing it)."""
    return importlib.util.find_spec("pykeops") is not None


def cupy_installed():
    return importlib.util.find_spec("cupy") is not None


def available_backends():
    """Backend names usable on this machine (``"cupy"`` only with a GPU)."""
    names = ["numpy", "torch"]
    if keops_installed():
        names.append("keops")
    if cupy_installed():
        try:
            import cupy

            if cupy.cuda.runtime.getDeviceCount() > 0:
                names.append("cupy")
        except Exception:  # no driver or no device: CuPy imports but cannot run
            pass
    return names


def resolve_backend(backend, library, n_queries, n_centers, n_features, requires_grad=False,
                    on_gpu=False):
    """Concrete backend name for a problem size and the caller's array library.

    ``"auto"`` picks, in order: torch for torch input that requires grad (the only
    differentiable engine); for GPU input (torch CUDA or CuPy), KeOps when it is installed,
    ``n_features <= KEOPS_MAX_DIM`` and there are at least ``KEOPS_MIN_PAIRS`` pairs, else the
    caller's GPU library; for CPU input, the blocked NumPy engine (fastest on CPU, see
    ``benchmarks/bench_reductions.py``). An explicit name is returned as is.
    """
    if backend not in _VALID_BACKENDS:
        raise ValueError(f"Expected backend in {_VALID_BACKENDS}, got {backend!r}.")
    if library not in _BACKEND_LIBRARY:
        raise ValueError(f"Expected a numpy, torch or cupy array library, got {library!r}.")
    if backend != "auto":
        return backend
    if library == "torch" and requires_grad:
        return "torch"
    if not (on_gpu or library == "cupy"):
        return "numpy"
    large = n_queries * n_centers >= KEOPS_MIN_PAIRS and n_features <= KEOPS_MAX_DIM
    if large and keops_installed() and not _KEOPS_BROKEN:
        return "keops"
    return library


# ----------------------------------------------------------------------------------------
# Validation
# ----------------------------------------------------------------------------------------


def _check_matrix(ns, a, name, n_cols=None):
    if a.ndim != 2:
        raise ValueError(f"Expected a 2-D array for {name}, got shape {tuple(a.shape)}.")
    if a.shape[0] == 0:
        raise ValueError(f"Expected at least one row in {name}, got shape {tuple(a.shape)}.")
    if n_cols is not None and a.shape[1] != n_cols:
        raise ValueError(f"Expected {name} with {n_cols} columns, got {a.shape[1]}.")
    if not bool(ns.isfinite(a).all()):
        raise ValueError(f"Expected finite values in {name}, got NaN or inf.")
    return a


def _as_float(ns, a, name, dtype=None):
    """``a`` as a floating array: integers become float64, anything else non-real is an error."""
    if a is None:
        return None
    try:
        a = ns.asarray(a) if dtype is None else ns.asarray(a, dtype=dtype)
    except (TypeError, ValueError, RuntimeError) as exc:
        raise TypeError(f"Expected a numeric array for {name}, got {type(a).__name__}.") from exc
    kind = str(a.dtype).replace("torch.", "")
    if kind.startswith(("float", "bfloat")):
        return a
    if kind.startswith(("int", "uint")):
        return ns.asarray(a, dtype=ns.float64)
    raise TypeError(f"Expected a real numeric array for {name}, got dtype {kind}.")


def _check_inputs(ns, x, centers, covariance, log_weights, values):
    if not isinstance(covariance, CovarianceStructure):
        raise TypeError(
            f"Expected a CovarianceStructure (Isotropic, Diagonal, LowRank, Full), got {type(covariance).__name__}."
        )
    x = _check_matrix(ns, _as_float(ns, x, "x"), "x")
    dtype = x.dtype
    centers = _check_matrix(ns, _as_float(ns, centers, "centers", dtype), "centers", x.shape[1])
    n_centers = centers.shape[0]
    covariance.check_dimensions(n_centers, x.shape[1])
    if log_weights is None:
        log_weights = ns.zeros((n_centers,), like=centers) - math.log(n_centers)
    log_weights = _as_float(ns, log_weights, "log_weights", dtype)
    if tuple(log_weights.shape) != (n_centers,):
        raise ValueError(f"Expected log_weights of shape ({n_centers},), got {tuple(log_weights.shape)}.")
    if not bool(ns.isfinite(log_weights).all()):
        raise ValueError("Expected finite log_weights, got NaN or inf; drop zero-weight centers instead.")
    if values is not None:
        values = _as_float(ns, values, "values", dtype)
        values = values[:, None] if values.ndim == 1 else values
        if values.shape[0] != n_centers:
            raise ValueError(f"Expected values with {n_centers} rows, got {values.shape[0]}.")
        values = _check_matrix(ns, values, "values")
    return x, centers, log_weights, values


# ----------------------------------------------------------------------------------------
# Conversions between array libraries
# ----------------------------------------------------------------------------------------


def _convert(a, src, dst):
    """Move an array from library ``src`` to library ``dst`` (zero-copy where possible)."""
    if a is None or src == dst:
        return a
    if dst == "numpy":
        return namespace_for(src).to_numpy(a)
    if dst == "torch":
        import torch

        return torch.from_numpy(np.ascontiguousarray(a)) if src == "numpy" else torch.from_dlpack(a)
    import cupy

    return cupy.asarray(a) if src == "numpy" else cupy.from_dlpack(a.detach())


def _compute_library(backend, library):
    if backend == "keops":
        return "torch" if library == "cupy" else library
    return _BACKEND_LIBRARY[backend]


def _run(name, library, arrays, covariance, score, laplacian, working_memory, requires_grad):
    dst = _compute_library(name, library)
    if requires_grad and dst != "torch":
        raise ValueError(
            f"Expected backend='torch' (or 'auto') for tensors that require grad, got backend={name!r}, "
            "which cannot propagate gradients."
        )
    if name == "keops" and not keops_installed():
        from ._keops import INSTALL_HINT

        raise ImportError(INSTALL_HINT)
    x_i, z_j, log_weights_j, values_j = (_convert(a, library, dst) for a in arrays)
    out = BACKENDS[name](namespace_for(dst), x_i, z_j, covariance, log_weights_j, values_j,
                         score=score, laplacian=laplacian, working_memory=working_memory)
    if dst == library:
        return out
    back = [_convert(a, dst, library) for a in out]
    return [a if a is None or library != "torch" else a.to(arrays[0].device) for a in back]


def mixture_moments(x, centers, covariance, log_weights=None, values=None, *, score=False,
                    laplacian=False, backend="auto", working_memory=DEFAULT_WORKING_MEMORY):
    r"""Log-density and softmax-weighted moments of a Gaussian mixture at query points.

    Computes :math:`\log p(x_i)`, :math:`D_i`, :math:`L_i` and :math:`V_i` of the module
    docstring in one pass over the centers, without forming an ``(M, N, d)`` array.

    Parameters
    ----------
    x : array-like of shape (n_queries, n_features)
        Query points :math:`x_i` (NumPy, torch or CuPy array).
    centers : array-like of shape (n_centers, n_features)
        Component means :math:`z_j`, same library as ``x``.
    covariance : CovarianceStructure
        Component covariances :math:`C_j` (:class:`Isotropic`, :class:`Diagonal`,
        :class:`LowRank` or :class:`Full`).
    log_weights : array-like of shape (n_centers,), default=None
        Logit biases :math:`a_j`; ``None`` means uniform weights :math:`a_j = -\log N`.
        With :math:`\sum_j e^{a_j} = 1` the density is normalized.
    values : array-like of shape (n_centers, n_values), default=None
        Per-center values :math:`v_j` whose softmax-weighted mean is returned.
    score, laplacian : bool, default=False
        Whether to compute :math:`D_i` and :math:`L_i`.
    backend : {"auto", "numpy", "torch", "keops", "cupy"}, default="auto"
        See :func:`resolve_backend`. An explicit backend that is not installed raises
        ``ImportError``; ``"auto"`` never fails because an optional package is missing.
    working_memory : float, default=256
        Budget in MiB for the live blocks of the blocked engine.

    Returns
    -------
    MixtureMoments
        Arrays in the caller's library, dtype and device.

    Examples
    --------
    >>> import numpy as np
    >>> from wpokernel.reductions import Isotropic, mixture_moments
    >>> x, z = np.zeros((1, 2)), np.array([[0.0, 0.0], [1.0, 0.0]])
    >>> out = mixture_moments(x, z, Isotropic(1.0), score=True)
    >>> out.displacement.round(3)
    array([[-0.378,  0.   ]])
    """
    ns = get_namespace(x, centers, log_weights, values)
    if not isinstance(working_memory, (int, float)) or not working_memory > 0:
        raise ValueError(f"Expected a positive working_memory in MiB, got {working_memory!r}.")
    arrays = _check_inputs(ns, x, centers, covariance, log_weights, values)
    n_queries, n_features = arrays[0].shape
    requires_grad = covariance.requires_grad or (
        ns.name == "torch" and any(a is not None and a.requires_grad for a in arrays))
    on_gpu = ns.name == "cupy" or (ns.name == "torch" and arrays[0].is_cuda)
    name = resolve_backend(backend, ns.name, n_queries, arrays[1].shape[0], n_features,
                           requires_grad, on_gpu)
    try:
        out = _run(name, ns.name, arrays, covariance, score, laplacian, working_memory, requires_grad)
    except (ValueError, TypeError):
        raise
    except Exception as exc:
        if backend != "auto" or name != "keops":
            raise
        _KEOPS_BROKEN.append(repr(exc))
        fallback = resolve_backend("auto", ns.name, n_queries, arrays[1].shape[0], n_features,
                                   requires_grad, on_gpu)
        warnings.warn(
            f"KeOps failed ({exc!r}); backend='auto' runs {fallback!r} instead from now on.",
            RuntimeWarning, stacklevel=2,
        )
        out = _run(fallback, ns.name, arrays, covariance, score, laplacian, working_memory,
                   requires_grad)
    return MixtureMoments(*out)
