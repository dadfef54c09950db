r"""Input checks and blocked Euclidean distances shared by the diagnostics.

Squared distances come from one matrix product per block,

.. math::

    D_{ij}^2 = \max\bigl(0,\; |a_i|^2 - 2 \langle a_i, b_j \rangle + |b_j|^2\bigr),

so an :math:`(M, N, d)` array of differences is never formed. Rows of ``a`` are processed in
blocks small enough that the :math:`(m, N)` temporaries fit in the working-memory budget.
"""

from numbers import Real

import numpy as np

#: Default working-memory budget for one block of pairwise distances, in MiB.
DEFAULT_WORKING_MEMORY_MB = 256

_BYTES_PER_MB = 2**20
# A block holds at most about three (m, N) 8-byte temporaries: the matrix product, plus the
# index array and work copy of np.argpartition (nearest neighbours) or the kernel values
# (pair sums).
_BYTES_PER_PAIR = 3 * np.dtype(np.float64).itemsize


def check_points(X, name, *, min_rows=1):
    """Return ``X`` as a finite 2-D float64 array with at least ``min_rows`` rows."""
    try:
        X = np.asarray(X, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"Expected {name} to be a numeric array-like, got {exc}.") from None
    if X.ndim != 2:
        raise ValueError(
            f"Expected {name} to be a 2-D array of shape (n_points, n_features), "
            f"got an array of shape {X.shape}."
        )
    if X.shape[0] < min_rows:
        raise ValueError(f"Expected {name} to have at least {min_rows} rows, got {X.shape[0]}.")
    if X.shape[1] < 1:
        raise ValueError(f"Expected {name} to have at least 1 feature, got {X.shape[1]}.")
    n_bad = np.count_nonzero(~np.isfinite(X))
    if n_bad:
        raise ValueError(f"Expected finite values in {name}, got {n_bad} NaN or inf entries.")
    return X


def check_same_features(A, name_a, B, name_b):
    """Raise a ValueError unless ``A`` and ``B`` have the same number of columns."""
    if A.shape[1] != B.shape[1]:
        raise ValueError(
            f"Expected {name_b} to have the same number of features as {name_a} "
            f"({A.shape[1]}), got {B.shape[1]}."
        )


def check_working_memory(working_memory):
    """Return the working-memory budget in bytes, checking that it is a positive number."""
    if (
        isinstance(working_memory, bool)
        or not isinstance(working_memory, Real)
        or not working_memory > 0
    ):
        raise ValueError(
            f"Expected working_memory to be a positive number of MiB, got {working_memory!r}."
        )
    return float(working_memory) * _BYTES_PER_MB


def row_blocks(n_rows, n_cols, budget_bytes):
    """Yield slices of ``range(n_rows)`` whose (rows, n_cols) blocks fit in the budget.

    A block holds at least one row, so a single row wider than the budget still runs.
    """
    rows_per_block = max(1, int(budget_bytes // (_BYTES_PER_PAIR * n_cols)))
    for start in range(0, n_rows, rows_per_block):
        yield slice(start, min(start + rows_per_block, n_rows))


def squared_distances(a_i, b_j, sq_norm_a_i, sq_norm_b_j):
    r"""Return :math:`\max(0, |a_i|^2 - 2 a_i \cdot b_j + |b_j|^2)`, of shape (m, n)."""
    # Scaling the (m, d) factor instead of the (m, n) product saves a pass over the block.
    D2_ij = (-2.0 * a_i) @ b_j.T  # (m, n)
    D2_ij += sq_norm_a_i[:, None]
    D2_ij += sq_norm_b_j[None, :]
    # Cancellation can push the squared distance of (near-)identical points below zero.
    np.maximum(D2_ij, 0.0, out=D2_ij)
    return D2_ij


# Up to this many neighbours, repeated argmin passes are faster than one argpartition.
_MAX_NEIGHBORS_BY_ARGMIN = 8


def _block_nearest_indices(a_i, b_j, sq_norm_b_j, k, excluded_i):
    """Indices of the ``k`` nearest ``b_j`` of each ``a_i`` in one block, shape (m, k)."""
    # Within a row, |a_i - b_j|^2 and |b_j|^2 - 2 a_i . b_j differ by a constant, so the
    # cheaper second form orders the neighbours just as well.
    proxy_ij = (-2.0 * a_i) @ b_j.T  # (m, N)
    proxy_ij += sq_norm_b_j[None, :]
    rows = np.arange(a_i.shape[0])
    if excluded_i is not None:
        proxy_ij[rows, excluded_i] = np.inf
    if k > _MAX_NEIGHBORS_BY_ARGMIN:
        return np.argpartition(proxy_ij, k - 1, axis=1)[:, :k]
    # k passes of argmin beat one argpartition (about ten times slower per entry) for small k.
    neighbors_ik = np.empty((a_i.shape[0], k), dtype=np.intp)
    for col in range(k):
        neighbors_ik[:, col] = np.argmin(proxy_ij, axis=1)
        proxy_ij[rows, neighbors_ik[:, col]] = np.inf
    return neighbors_ik


def nearest_indices(A, B, n_neighbors, budget_bytes, *, excluded=None):
    """Indices of the ``n_neighbors`` nearest rows of ``B`` to each row of ``A``, (M, K).

    One matrix product per block of rows of ``A``, within ``budget_bytes``; the K indices of
    a row come in no particular order. ``excluded`` (shape (M,)) names one row of ``B`` per
    row of ``A`` that may not be its neighbour, e.g. the point itself.
    """
    a_i, b_j = centered_pair(A, B)
    sq_norm_b_j = np.einsum("jd,jd->j", b_j, b_j)  # (N,)
    neighbors = np.empty((a_i.shape[0], n_neighbors), dtype=np.intp)  # (M, K)
    for rows in row_blocks(a_i.shape[0], b_j.shape[0], budget_bytes):
        excluded_i = None if excluded is None else excluded[rows]
        neighbors[rows] = _block_nearest_indices(a_i[rows], b_j, sq_norm_b_j, n_neighbors,
                                                 excluded_i)
    return neighbors


def centered_pair(A, B):
    """Shift both point sets by the mean of ``B``.

    Distances are unchanged; smaller norms reduce the cancellation error of the
    matrix-product formula.
    """
    center = B.mean(axis=0)
    return A - center, B - center


def pair_sum(a_i, b_j, kernel, budget_bytes, *, exclude_diagonal=False):
    r"""Return :math:`\sum_{i, j} k(|a_i - b_j|^2)`, block by block over the rows of ``a_i``.

    Parameters
    ----------
    a_i, b_j : ndarray of shape (M, d) and (N, d)
        Point sets, ideally centred by :func:`centered_pair`.
    kernel : callable
        Maps an (m, N) block of squared distances to kernel values of the same shape; it may
        overwrite its argument.
    budget_bytes : float
        Working-memory budget of one block.
    exclude_diagonal : bool, default=False
        Leave out the pairs :math:`i = j`, for U-statistics where ``a_i`` is ``b_j``.
    """
    sq_norm_a_i = np.einsum("id,id->i", a_i, a_i)  # (M,)
    sq_norm_b_j = np.einsum("jd,jd->j", b_j, b_j)  # (N,)
    total = 0.0
    for rows in row_blocks(a_i.shape[0], b_j.shape[0], budget_bytes):
        K_ij = kernel(squared_distances(a_i[rows], b_j, sq_norm_a_i[rows], sq_norm_b_j))
        if exclude_diagonal:
            local_i = np.arange(K_ij.shape[0])
            K_ij[local_i, rows.start + local_i] = 0.0
        total += float(K_ij.sum())
    return total
