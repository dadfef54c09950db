r"""Sliced Wasserstein distance between point clouds.

The sliced :math:`p`-Wasserstein distance [BRPP2015]_ averages one-dimensional optimal
transport costs over directions :math:`\theta` uniform on the unit sphere:

.. math::

    \mathrm{SW}_p(P, Q) = \Bigl( \int_{S^{d-1}} W_p^p(\theta_\# P, \theta_\# Q)\,
    d\sigma(\theta) \Bigr)^{1/p},
    \qquad
    W_p^p(\mu, \nu) = \int_0^1 |F_\mu^{-1}(u) - F_\nu^{-1}(u)|^p \, du,

where :math:`\theta_\# P` is the law of :math:`\langle \theta, X \rangle` and
:math:`F^{-1}` a quantile function. The integral over directions is a Monte Carlo mean over
seeded directions; the one-dimensional costs are exact, by sorting.

References
----------
.. [BRPP2015] N. Bonneel, J. Rabin, G. Peyré, H. Pfister, "Sliced and Radon Wasserstein
   Barycenters of Measures", Journal of Mathematical Imaging and Vision 51, 22-45, 2015.
"""

from numbers import Integral, Real

import numpy as np
from sklearn.utils import check_random_state

from wpokernel.diagnostics._pairwise import (
    DEFAULT_WORKING_MEMORY_MB,
    check_points,
    check_same_features,
    check_working_memory,
)

__all__ = ["sliced_wasserstein"]

# One block of directions holds the sorted projections of both samples.
_BYTES_PER_PROJECTED_POINT = 2 * np.dtype(np.float64).itemsize


def _check_options(n_projections, p):
    if (
        isinstance(n_projections, bool)
        or not isinstance(n_projections, Integral)
        or n_projections < 1
    ):
        raise ValueError(f"Expected n_projections to be a positive int, got {n_projections!r}.")
    if isinstance(p, bool) or not isinstance(p, Real) or not (np.isfinite(p) and p >= 1):
        raise ValueError(f"Expected p to be a finite number >= 1, got {p!r}.")


def _quantile_cost(sorted_x_il, sorted_y_jl, p):
    r"""Return :math:`W_p^p` of each column pair of sorted projections, shape (L,).

    Both quantile functions are constant between consecutive levels of
    :math:`\{i/n\} \cup \{j/m\}`, so the integral over :math:`u` is an exact finite sum.
    """
    n, m = sorted_x_il.shape[0], sorted_y_jl.shape[0]
    if n == m:
        return np.mean(np.abs(sorted_x_il - sorted_y_jl) ** p, axis=0)
    levels = np.union1d(np.arange(1, n + 1) / n, np.arange(1, m + 1) / m)  # (K,)
    widths = np.diff(levels, prepend=0.0)  # (K,)
    # Midpoints of the intervals avoid rounding at the shared levels.
    midpoints = levels - widths / 2
    rows_x = np.minimum((midpoints * n).astype(np.intp), n - 1)  # (K,)
    rows_y = np.minimum((midpoints * m).astype(np.intp), m - 1)  # (K,)
    cost_kl = np.abs(sorted_x_il[rows_x] - sorted_y_jl[rows_y]) ** p  # (K, L)
    return widths @ cost_kl


def sliced_wasserstein(
    X,
    Y,
    *,
    n_projections=128,
    p=2,
    random_state=0,
    working_memory=DEFAULT_WORKING_MEMORY_MB,
):
    r"""Monte Carlo estimate of the sliced Wasserstein distance between two samples.

    .. math::

        \widehat{\mathrm{SW}}_p = \Bigl( \frac1L \sum_{l=1}^{L}
        W_p^p\bigl(\{\langle\theta_l, x_i\rangle\}_i, \{\langle\theta_l, y_j\rangle\}_j\bigr)
        \Bigr)^{1/p},
        \qquad \theta_l = g_l / |g_l|, \quad g_l \sim \mathcal N(0, I_d),

    with exact one-dimensional costs between the empirical measures (sizes may differ)
    [BRPP2015]_. The directions depend only on ``random_state`` and the dimension, so two
    calls with the same seed compare different sample pairs along the same directions.

    Parameters
    ----------
    X : array-like of shape (n, n_features)
        First sample.
    Y : array-like of shape (m, n_features)
        Second sample.
    n_projections : int, default=128
        Number :math:`L` of random directions.
    p : float, default=2
        Order of the Wasserstein distance, at least 1.
    random_state : int, RandomState instance or None, default=0
        Seeds the directions.
    working_memory : float, default=256
        Budget in MiB for the projections of one block of directions.

    Returns
    -------
    distance : float
        The estimate :math:`\widehat{\mathrm{SW}}_p`.

    Raises
    ------
    ValueError
        If an input is not a finite 2-D array, the feature counts differ, or an option is
        invalid.

    Examples
    --------
    >>> from wpokernel.diagnostics import sliced_wasserstein
    >>> sliced_wasserstein([[0.0], [1.0]], [[2.0], [3.0]])
    2.0
    """
    X = check_points(X, "X")
    Y = check_points(Y, "Y")
    check_same_features(X, "X", Y, "Y")
    _check_options(n_projections, p)
    budget_bytes = check_working_memory(working_memory)

    rng = check_random_state(random_state)
    theta_ld = rng.standard_normal((n_projections, X.shape[1]))  # (L, d)
    theta_ld /= np.linalg.norm(theta_ld, axis=1, keepdims=True)
    per_block = max(1, int(budget_bytes // (_BYTES_PER_PROJECTED_POINT * (len(X) + len(Y)))))
    costs = np.empty(n_projections)  # (L,)
    for start in range(0, n_projections, per_block):
        block = slice(start, start + per_block)
        sorted_x_il = np.sort(X @ theta_ld[block].T, axis=0)  # (n, l)
        sorted_y_jl = np.sort(Y @ theta_ld[block].T, axis=0)  # (m, l)
        costs[block] = _quantile_cost(sorted_x_il, sorted_y_jl, p)
    return float(np.mean(costs) ** (1.0 / p))
