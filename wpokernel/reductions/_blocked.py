r"""Blocked Gaussian-mixture reductions for NumPy, CuPy and torch (one implementation).

Centers are prepared (:mod:`._prepared`) one block at a time, so that the per-center arrays
of a single block take at most part of a working-memory budget: for low-rank and full
structures they are several times the size of the parameters, too large to hold for every
center of a big mixture. Against each prepared block, queries are cut into blocks of rows
and the block's centers into columns so that the live ``(M_b, N_b)`` arrays stay under the
rest of the budget. Across center blocks the log-sum-exp and the softmax-weighted sums of
each query are accumulated with the streaming ("online softmax") update

.. math::

    m' = \max(m, \max_j f_{ij}), \qquad
    s' = e^{m - m'} s + \sum_j e^{f_{ij} - m'}, \qquad
    a' = e^{m - m'} a + \sum_j e^{f_{ij} - m'} g_{ij},

which is exact, so the result does not depend on the block sizes. Squared distances come
from matrix products, never from an ``(M, N, d)`` broadcast.
"""

import math

from ._prepared import centered

# Live (M_b, N_b) arrays per pair of the isotropic and diagonal paths (distances, logits,
# weights and one product), used to turn the memory budget into block sizes.
_BASE_FLOATS_PER_PAIR = 6
# Below this many query rows per block the Python loop overhead dominates the work.
_MIN_QUERY_BLOCK = 256
# Preparing a center and its weight columns allocates at most about this many arrays the
# size of its covariance parameters and its center (peaks traced with tracemalloc at d = 64:
# 7.0 for Full, which holds the Cholesky factor, the identity it is solved against, the
# inverse factor, P and P^2 and then copies P and P^2 into the columns and the weights; 5.6
# for Diagonal, 5.1 for Isotropic, 3.8 for DiagonalLowRank, 1.5 for LowRank).
_PREPARED_COPIES = 7
# Share of the budget that the prepared arrays of one center block may take; the pair
# blocks get the rest.
_PREPARED_SHARE = 0.5


def center_block_size(n_centers, floats_per_center, itemsize, working_memory):
    """Centers to prepare at once so that their arrays fit in ``_PREPARED_SHARE`` of the budget.

    All of them whenever they fit, the common case of small mixtures; at least one.
    """
    budget = _PREPARED_SHARE * working_memory * 2**20
    return max(1, min(n_centers, int(budget // (floats_per_center * itemsize))))


def block_sizes(n_queries, n_centers, floats_per_pair, itemsize, working_memory):
    """Rows and columns of a block so that ``rows * cols * floats * itemsize <= budget``.

    Whole center sets (here the ``n_centers`` of one prepared block) are preferred, one pass
    per query block; when the budget cannot hold ``_MIN_QUERY_BLOCK`` rows against all of
    them, the centers are split instead.
    """
    max_pairs = max(1, int(working_memory * 2**20) // (floats_per_pair * itemsize))
    rows = min(n_queries, max(1, max_pairs // n_centers))
    if rows < min(n_queries, _MIN_QUERY_BLOCK):
        rows = min(n_queries, _MIN_QUERY_BLOCK, max_pairs)
    cols = max(1, min(n_centers, max_pairs // rows))
    return rows, cols


def _prepare_block(ns, z_j, covariance, log_weights_j, values_j, score, laplacian):
    """Prepared structure of some centers, with the matrix of their weighted-sum columns.

    Returns ``(prepared, weights_j, n_columns)``: ``weights_j`` of shape
    ``(N_b, 1 + n_columns + n_values)`` holds ones (for the normalizer), the prepared
    columns and the values.
    """
    prepared = covariance.prepare(ns, z_j).set_log_weights(log_weights_j)
    columns_j = prepared.columns(score, laplacian)
    n_columns = 0 if columns_j is None else columns_j.shape[1]
    weights_j = ns.concat([ns.ones((z_j.shape[0], 1), like=z_j)]
                          + [a for a in (columns_j, values_j) if a is not None], 1)
    return prepared, weights_j, n_columns


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


def _merge(ns, state, terms):
    """Streaming update of a query block's ``(max, sums)`` by those of one more center block."""
    (m_i, sums), (bm_i, bsums) = state, terms
    new_m = ns.maximum(m_i, bm_i)
    old_scale, new_scale = ns.exp(m_i - new_m), ns.exp(bm_i - new_m)
    return new_m, [_rescaled_sum(a, b, old_scale, new_scale) for a, b in zip(sums, bsums)]


def _rescaled_sum(a, b, old_scale, new_scale):
    if a is None:
        return None
    if a.ndim == 2:
        return a * old_scale[:, None] + b * new_scale[:, None]
    return a * old_scale + b * new_scale


def _normalized(ns, state):
    """``[log_density, displacement, laplacian_term, values]`` of a query block's final state."""
    m_i, sums = state
    total = sums[0]
    normalized = [None if a is None else a / (total if a.ndim == 1 else total[:, None]) for a in sums[1:]]
    return [m_i + ns.log(total)] + normalized


def reduce_blocked(ns, x_i, z_j, covariance, log_weights_j, values_j, *, score, laplacian,
                   working_memory):
    """Mixture moments with the blocked engine; arrays are already in ``ns``'s library.

    Returns ``[log_density (M,), displacement (M, d) | None, laplacian_term (M,) | None,
    values (M, k) | None]``; see :func:`wpokernel.reductions.mixture_moments`.
    """
    n_queries, n_features = x_i.shape
    n_centers, itemsize = z_j.shape[0], x_i.dtype.itemsize
    # Shifted once by the mean of all the centers, so that every block is prepared in the
    # same frame as the queries.
    x_i, z_j = centered(ns, x_i, z_j)
    n_values = 0 if values_j is None else values_j.shape[1]
    # The parameters of one component (plus any shared ones, a slight over-count).
    parameter_floats = sum(math.prod(a.shape) for a in covariance.sliced(0, 1).parameters.values())
    floats_per_center = _PREPARED_COPIES * (parameter_floats + n_features) + n_values
    span = center_block_size(n_centers, floats_per_center, itemsize, working_memory)
    pair_memory = max(0.0, working_memory - span * floats_per_center * itemsize / 2**20)
    states, rows = {}, None  # {first query row: (max, sums)} of each query block
    for j0 in range(0, n_centers, span):
        j1 = min(n_centers, j0 + span)
        prepared, weights_j, n_columns = _prepare_block(
            ns, z_j[j0:j1], covariance.sliced(j0, j1), log_weights_j[j0:j1],
            None if values_j is None else values_j[j0:j1], score, laplacian)
        if rows is None:  # the floats per pair depend on the structure (its rank), not the block
            floats_per_pair = _BASE_FLOATS_PER_PAIR + prepared.extra_floats_per_pair()
            rows, cols = block_sizes(n_queries, span, floats_per_pair, itemsize, pair_memory)
        for i0 in range(0, n_queries, rows):
            for k0 in range(0, j1 - j0, cols):
                terms = _block_terms(ns, x_i[i0:i0 + rows], prepared.block(k0, k0 + cols),
                                     weights_j[k0:k0 + cols], n_columns, score, laplacian,
                                     values_j is not None)
                states[i0] = _merge(ns, states[i0], terms) if i0 in states else terms
    parts = [_normalized(ns, state) for state in states.values()]
    return [None if part[0] is None else ns.concat(part, 0) for part in zip(*parts)]
