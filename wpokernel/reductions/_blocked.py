r"""Blocked Gaussian-mixture reductions for NumPy, CuPy and torch (one implementation).

Queries are cut into blocks of rows and centers into blocks of columns so that the live
``(M_b, N_b)`` arrays stay under a working-memory budget. Across center blocks the
log-sum-exp and the softmax-weighted sums are accumulated with the streaming ("online
softmax") update

.. math::

    m' = \max(m, \max_j f_{ij}), \qquad
    s' = e^{m - m'} s + \sum_j e^{f_{ij} - m'}, \qquad
    a' = e^{m - m'} a + \sum_j e^{f_{ij} - m'} g_{ij},

which is exact, so the result does not depend on the block sizes. Squared distances come
from matrix products, never from an ``(M, N, d)`` broadcast.
"""

from ._prepared import center_and_prepare

# Live (M_b, N_b) arrays per pair of the isotropic and diagonal paths (distances, logits,
# weights and one product), used to turn the memory budget into block sizes.
_BASE_FLOATS_PER_PAIR = 6
# Below this many query rows per block the Python loop overhead dominates the work.
_MIN_QUERY_BLOCK = 256


def block_sizes(n_queries, n_centers, floats_per_pair, itemsize, working_memory):
    """Rows and columns of a block so that ``rows * cols * floats * itemsize <= budget``.

    Whole center sets are preferred (one pass per query block); when the budget cannot
    hold ``_MIN_QUERY_BLOCK`` rows against all centers, the centers are split instead.
    """
    max_pairs = max(1, int(working_memory * 2**20) // (floats_per_pair * itemsize))
    rows = min(n_queries, max(1, max_pairs // n_centers))
    if rows < min(n_queries, _MIN_QUERY_BLOCK):
        rows = min(n_queries, _MIN_QUERY_BLOCK, max_pairs)
    cols = max(1, min(n_centers, max_pairs // rows))
    return rows, cols


def _block_terms(ns, x_i, prepared, weights_j, n_columns, score, laplacian, has_values):
    """Block maximum and un-normalized sums for one (query block, center block) pair."""
    f_ij, cache = prepared.logits(x_i)  # (M_b, N_b)
    m_i = ns.amax(f_ij, 1)  # (M_b,)
    e_ij = ns.exp_shifted(f_ij, m_i)  # (M_b, N_b), overwrites f_ij where the library allows
    sums_i = e_ij @ weights_j  # (M_b, 1 + n_columns + n_values): normalizer, columns, values
    disp = lap = None
    if score or laplacian:
        disp, lap = prepared.moments(e_ij, x_i, sums_i[:, 1:1 + n_columns], cache, score, laplacian)
    vals = sums_i[:, 1 + n_columns:] if has_values else None
    return m_i, [sums_i[:, 0], disp, lap, vals]


def _reduce_query_block(ns, x_i, prepared, weights_j, n_columns, score, laplacian, has_values,
                        cols):
    n_centers = weights_j.shape[0]
    m_i, sums = None, None
    for j0 in range(0, n_centers, cols):
        j1 = min(n_centers, j0 + cols)
        bm_i, bsums = _block_terms(ns, x_i, prepared.block(j0, j1), weights_j[j0:j1], n_columns,
                                   score, laplacian, has_values)
        if m_i is None:
            m_i, sums = bm_i, bsums
            continue
        new_m = ns.maximum(m_i, bm_i)
        old_scale, new_scale = ns.exp(m_i - new_m), ns.exp(bm_i - new_m)
        sums = [_rescaled_sum(a, b, old_scale, new_scale) for a, b in zip(sums, bsums)]
        m_i = new_m
    total = sums[0]
    normalized = [None if a is None else a / (total if a.ndim == 1 else total[:, None]) for a in sums[1:]]
    return [m_i + ns.log(total)] + normalized


def _rescaled_sum(a, b, old_scale, new_scale):
    if a is None:
        return None
    if a.ndim == 2:
        return a * old_scale[:, None] + b * new_scale[:, None]
    return a * old_scale + b * new_scale


def reduce_blocked(ns, x_i, z_j, covariance, log_weights_j, values_j, *, score, laplacian,
                   working_memory):
    """Mixture moments with the blocked engine; arrays are already in ``ns``'s library.

    Returns ``[log_density (M,), displacement (M, d) | None, laplacian_term (M,) | None,
    values (M, k) | None]``; see :func:`wpokernel.reductions.mixture_moments`.
    """
    n_queries, n_features = x_i.shape
    x_i, z_j, prepared = center_and_prepare(ns, x_i, z_j, covariance, log_weights_j)
    columns_j = prepared.columns(score, laplacian)
    n_columns = 0 if columns_j is None else columns_j.shape[1]
    weights_j = ns.concat([ns.ones((z_j.shape[0], 1), like=z_j)]
                          + [a for a in (columns_j, values_j) if a is not None], 1)  # (N, 1 + k)
    rows, cols = block_sizes(n_queries, z_j.shape[0], _BASE_FLOATS_PER_PAIR + prepared.extra_floats_per_pair(),
                             x_i.dtype.itemsize, working_memory)
    parts = [_reduce_query_block(ns, x_i[i0:i0 + rows], prepared, weights_j, n_columns, score,
                                 laplacian, values_j is not None, cols)
             for i0 in range(0, n_queries, rows)]
    return [None if part[0] is None else ns.concat(part, 0) for part in zip(*parts)]
