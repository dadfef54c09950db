r"""KeOps backend: the whole mixture reduction as one symbolic ``Max_SumShiftExpWeight``.

For each query the formula streams over centers with

.. math::

    f_{ij} = b_j - \tfrac12 (x_i - z_j)^\top P_j (x_i - z_j), \qquad
    g_{ij} = \big[1,\; P_j (x_i - z_j),\; \lVert P_j (x_i - z_j)\rVert^2 - \operatorname{tr} P_j,\;
    v_j\big],

and KeOps returns :math:`m_i = \max_j f_{ij}` and :math:`\sum_j e^{f_{ij} - m_i} g_{ij}`; the
first weight column gives the normalizer, so one compiled formula yields the log-density and
every softmax-weighted moment. The formula depends only on the structure, the dimension, the
dtype and the requested moments, which keeps the number of compiled formulas small.

pykeops is imported here and nowhere else.
"""

try:
    from pykeops.numpy import LazyTensor as NumpyLazyTensor
    from pykeops.torch import LazyTensor as TorchLazyTensor
except ImportError:  # optional dependency
    NumpyLazyTensor = TorchLazyTensor = None


from ._prepared import center_and_prepare

KEOPS_AVAILABLE = NumpyLazyTensor is not None
INSTALL_HINT = "KeOps is not installed: pip install 'wpokernel[keops]' (or pip install pykeops)."


def _lazy(ns, a, axis):
    """LazyTensor of a ``(n, k)`` array as an i-variable (axis 0) or j-variable (axis 1)."""
    cls = TorchLazyTensor if ns.name == "torch" else NumpyLazyTensor
    a = a.contiguous() if ns.name == "torch" else ns.ascontiguousarray(a)
    return cls(a[:, None, :] if axis == 0 else a[None, :, :])


def _column(a):
    return a.reshape(-1, 1)


def reduce_keops(ns, x_i, z_j, covariance, log_weights_j, values_j, *, score, laplacian,
                 working_memory):
    """Mixture moments with one KeOps reduction; same contract as the blocked engine.

    ``working_memory`` is unused: KeOps streams over centers in registers.
    """
    del working_memory
    if not KEOPS_AVAILABLE:
        raise ImportError(INSTALL_HINT)
    n_features = x_i.shape[1]
    x_i, z_j, prepared = center_and_prepare(ns, x_i, z_j, covariance, log_weights_j)
    delta = _lazy(ns, x_i, 0) - _lazy(ns, z_j, 1)  # (M, N, d) symbolic
    pdelta = prepared.lazy_precision_displacement(lambda a: _lazy(ns, a, 1), delta)
    f = _lazy(ns, _column(prepared.bias), 1) - 0.5 * (delta * pdelta).sum(-1)
    weights = [_lazy(ns, ns.ones((z_j.shape[0], 1), like=z_j), 1)]
    if score:
        weights.append(pdelta)
    if laplacian:
        weights.append(pdelta.sqnorm2() - _lazy(ns, _column(prepared.trace_precision), 1))
    if values_j is not None:
        weights.append(_lazy(ns, values_j, 1))
    weight = weights[0]
    for w in weights[1:]:
        weight = weight.concat(w)
    out = f.reduction("Max_SumShiftExpWeight", other=weight, axis=1)  # (M, 2 + ...)
    return _split(ns, out, n_features, score, laplacian, values_j)


def _split(ns, out, n_features, score, laplacian, values_j):
    """Turn KeOps' ``[m, s, s g...]`` columns into ``[log p, disp, lap, values]``."""
    total = out[:, 1]
    start = 2

    def take(width):
        nonlocal start
        block = out[:, start:start + width] / total[:, None]
        start += width
        return block

    disp = take(n_features) if score else None
    lap = take(1)[:, 0] if laplacian else None
    vals = take(values_j.shape[1]) if values_j is not None else None
    return [out[:, 0] + ns.log(total), disp, lap, vals]
