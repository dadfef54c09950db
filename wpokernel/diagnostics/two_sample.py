r"""Two-sample distances between point clouds.

The energy distance [SR2013]_ between laws :math:`P` and :math:`Q` is

.. math::

    \mathcal E(P, Q) = 2\,\mathbb E|X - Y| - \mathbb E|X - X'| - \mathbb E|Y - Y'|,
    \qquad X, X' \sim P, \quad Y, Y' \sim Q,

all independent. It is non-negative and vanishes only when :math:`P = Q` (for laws with
finite first moments).

References
----------
.. [SR2013] G. J. Székely, M. L. Rizzo, "Energy statistics: A class of statistics based on
   distances", Journal of Statistical Planning and Inference 143(8), 1249-1272, 2013.
"""

import numpy as np

from wpokernel.diagnostics._pairwise import (
    DEFAULT_WORKING_MEMORY_MB,
    centered_pair,
    check_points,
    check_same_features,
    check_working_memory,
    row_blocks,
    squared_distances,
)

__all__ = ["energy_distance"]


def _sum_of_distances(a_i, b_j, budget_bytes, *, same_set):
    r"""Return :math:`\sum_{i, j} |a_i - b_j|`, block by block over the rows of ``a_i``.

    With ``same_set=True`` (``a_i`` is ``b_j``) the diagonal is set to exactly zero, which the
    matrix-product formula only gives up to rounding.
    """
    sq_norm_a_i = np.einsum("id,id->i", a_i, a_i)  # (M,)
    sq_norm_b_j = np.einsum("jd,jd->j", b_j, b_j)  # (N,)
    total = 0.0
    for rows in row_blocks(a_i.shape[0], b_j.shape[0], budget_bytes):
        D2_ij = squared_distances(a_i[rows], b_j, sq_norm_a_i[rows], sq_norm_b_j)  # (m, N)
        if same_set:
            local_i = np.arange(D2_ij.shape[0])
            D2_ij[local_i, rows.start + local_i] = 0.0
        total += float(np.sqrt(D2_ij, out=D2_ij).sum())
    return total


def energy_distance(X, Y, *, working_memory=DEFAULT_WORKING_MEMORY_MB):
    r"""Unbiased estimate of the energy distance between two samples.

    With :math:`x_1, \dots, x_n` and :math:`y_1, \dots, y_m`, the cross term is a mean over
    all pairs and the within terms are U-statistics (pairs :math:`i \ne j` only) [SR2013]_:

    .. math::

        \hat{\mathcal E} = \frac{2}{nm} \sum_{i=1}^{n} \sum_{j=1}^{m} |x_i - y_j|
        - \frac{1}{n(n-1)} \sum_{i \ne i'} |x_i - x_{i'}|
        - \frac{1}{m(m-1)} \sum_{j \ne j'} |y_j - y_{j'}|.

    Its expectation is exactly :math:`\mathcal E(P, Q)`, so it can be slightly negative when
    the two laws are equal. Distances are computed block by block with matrix products,
    within ``working_memory``.

    Parameters
    ----------
    X : array-like of shape (n, n_features)
        First sample, at least two points.
    Y : array-like of shape (m, n_features)
        Second sample, at least two points.
    working_memory : float, default=256
        Budget in MiB for the temporaries of one block.

    Returns
    -------
    energy : float
        The estimate :math:`\hat{\mathcal E}`.

    Raises
    ------
    ValueError
        If an input is not a finite 2-D array with at least two rows, or the feature
        counts differ.

    Examples
    --------
    >>> from wpokernel.diagnostics import energy_distance
    >>> energy_distance([[0.0], [1.0]], [[3.0], [4.0]])
    4.0
    """
    X = check_points(X, "X", min_rows=2)
    Y = check_points(Y, "Y", min_rows=2)
    check_same_features(X, "X", Y, "Y")
    budget_bytes = check_working_memory(working_memory)

    x_i, y_j = centered_pair(X, Y)
    n, m = x_i.shape[0], y_j.shape[0]
    mean_xy = _sum_of_distances(x_i, y_j, budget_bytes, same_set=False) / (n * m)
    mean_xx = _sum_of_distances(x_i, x_i, budget_bytes, same_set=True) / (n * (n - 1))
    mean_yy = _sum_of_distances(y_j, y_j, budget_bytes, same_set=True) / (m * (m - 1))
    return 2.0 * mean_xy - mean_xx - mean_yy
