r"""Kernel and distance two-sample statistics between point clouds.

The energy distance [SR2013]_ between laws :math:`P` and :math:`Q` is

.. math::

    \mathcal E(P, Q) = 2\,\mathbb E|X - Y| - \mathbb E|X - X'| - \mathbb E|Y - Y'|,
    \qquad X, X' \sim P, \quad Y, Y' \sim Q,

all independent. It is non-negative and vanishes only when :math:`P = Q` (for laws with
finite first moments). The squared maximum mean discrepancy [GBRSS2012]_ with a kernel
:math:`k` replaces the distance by the kernel and flips the sign,

.. math::

    \mathrm{MMD}^2_k(P, Q) = \mathbb E\,k(X, X') + \mathbb E\,k(Y, Y') - 2\,\mathbb E\,k(X, Y),

which for a characteristic kernel such as the Gaussian
:math:`k_\sigma(x, y) = \exp(-|x - y|^2 / 2\sigma^2)` also vanishes only when :math:`P = Q`.
Both are estimated by U-statistics (unbiased) and computed block by block from matrix
products, so :math:`10^5 \times 10^5` pairs fit in a few hundred MiB.

References
----------
.. [SR2013] G. J. Székely, M. L. Rizzo, "Energy statistics: A class of statistics based on
   distances", Journal of Statistical Planning and Inference 143(8), 1249-1272, 2013.
.. [GBRSS2012] A. Gretton, K. M. Borgwardt, M. J. Rasch, B. Schölkopf, A. Smola, "A Kernel
   Two-Sample Test", Journal of Machine Learning Research 13, 723-773, 2012.
"""

from numbers import Real

import numpy as np
from sklearn.utils import check_random_state

from wpokernel.diagnostics._pairwise import (
    DEFAULT_WORKING_MEMORY_MB,
    centered_pair,
    check_points,
    check_same_features,
    check_working_memory,
    pair_sum,
)

__all__ = ["energy_distance", "median_heuristic", "mmd_squared"]

#: Bandwidths of the multiscale kernel, relative to the median heuristic: two octaves either
#: side, so the kernel sees both the local and the global structure of the data.
MULTISCALE_FACTORS = (0.25, 0.5, 1.0, 2.0, 4.0)
# The median of all pairwise distances of this many pooled points estimates the median of
# the pooled law to well under 1 %, at a cost of 5e5 distances.
_MEDIAN_HEURISTIC_POINTS = 1000


def _check_pair(X, Y):
    X = check_points(X, "X", min_rows=2)
    Y = check_points(Y, "Y", min_rows=2)
    check_same_features(X, "X", Y, "Y")
    return X, Y


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
    X, Y = _check_pair(X, Y)
    budget_bytes = check_working_memory(working_memory)

    def distance(D2_ij):
        return np.sqrt(D2_ij, out=D2_ij)

    x_i, y_j = centered_pair(X, Y)
    n, m = x_i.shape[0], y_j.shape[0]
    mean_xy = pair_sum(x_i, y_j, distance, budget_bytes) / (n * m)
    mean_xx = pair_sum(x_i, x_i, distance, budget_bytes, exclude_diagonal=True) / (n * (n - 1))
    mean_yy = pair_sum(y_j, y_j, distance, budget_bytes, exclude_diagonal=True) / (m * (m - 1))
    return 2.0 * mean_xy - mean_xx - mean_yy


def median_heuristic(X, Y, *, random_state=0):
    r"""Median of the pairwise distances of the pooled sample, the usual Gaussian bandwidth.

    .. math::

        \sigma = \operatorname{median} \{\, |u_a - u_b| : a < b \,\},
        \qquad \{u_a\} = \{x_i\} \cup \{y_j\},

    over a random subset of at most 1000 pooled points when the pooled sample is larger
    [GBRSS2012]_.

    Parameters
    ----------
    X : array-like of shape (n, n_features)
        First sample.
    Y : array-like of shape (m, n_features)
        Second sample.
    random_state : int, RandomState instance or None, default=0
        Seeds the subset of pooled points.

    Returns
    -------
    bandwidth : float
        The median distance; positive unless all pooled points coincide.

    Examples
    --------
    >>> from wpokernel.diagnostics import median_heuristic
    >>> median_heuristic([[0.0], [1.0]], [[3.0], [4.0]])
    2.5
    """
    X, Y = _check_pair(X, Y)
    pooled = np.concatenate([X, Y])
    if pooled.shape[0] > _MEDIAN_HEURISTIC_POINTS:
        rng = check_random_state(random_state)
        pooled = pooled[rng.choice(pooled.shape[0], _MEDIAN_HEURISTIC_POINTS, replace=False)]
    diff_abd = pooled[:, None, :] - pooled[None, :, :]  # (P, P, d), P <= 1000
    distances_ab = np.sqrt(np.einsum("abd,abd->ab", diff_abd, diff_abd))
    return float(np.median(distances_ab[np.triu_indices(pooled.shape[0], k=1)]))


def _check_bandwidths(bandwidth, X, Y, random_state):
    """Return the Gaussian bandwidths as a tuple of positive floats."""
    if isinstance(bandwidth, str):
        if bandwidth not in ("median", "multiscale"):
            raise ValueError(
                "Expected bandwidth to be 'median', 'multiscale', a positive float or a "
                f"sequence of positive floats, got {bandwidth!r}."
            )
        median = median_heuristic(X, Y, random_state=random_state)
        if not median > 0:
            raise ValueError(
                "Expected distinct points for the median heuristic, but all pooled points "
                "coincide; pass a positive bandwidth instead."
            )
        factors = (1.0,) if bandwidth == "median" else MULTISCALE_FACTORS
        return tuple(median * factor for factor in factors)
    bandwidths = (bandwidth,) if isinstance(bandwidth, Real) else tuple(bandwidth)
    if not bandwidths or not all(
        isinstance(b, Real) and not isinstance(b, bool) and np.isfinite(b) and b > 0
        for b in bandwidths
    ):
        raise ValueError(
            f"Expected positive finite bandwidths, got {bandwidth!r}; use 'median' or "
            "'multiscale' to derive them from the data."
        )
    return tuple(float(b) for b in bandwidths)


def mmd_squared(
    X, Y, *, bandwidth="median", random_state=0, working_memory=DEFAULT_WORKING_MEMORY_MB
):
    r"""Unbiased estimate of the squared MMD between two samples, with Gaussian kernels.

    The kernel is the mean of Gaussian kernels over the bandwidths
    :math:`\sigma_1, \dots, \sigma_L`,

    .. math::

        k(x, y) = \frac1L \sum_{l=1}^{L} \exp\Bigl(-\frac{|x - y|^2}{2 \sigma_l^2}\Bigr),

    and the estimate is the U-statistic of [GBRSS2012]_ (eq. 3)

    .. math::

        \widehat{\mathrm{MMD}}{}^2_u = \frac{1}{n(n-1)} \sum_{i \ne i'} k(x_i, x_{i'})
        + \frac{1}{m(m-1)} \sum_{j \ne j'} k(y_j, y_{j'})
        - \frac{2}{nm} \sum_{i, j} k(x_i, y_j),

    whose expectation is exactly :math:`\mathrm{MMD}^2_k(P, Q)`; it can be slightly negative
    when the laws are equal.

    Parameters
    ----------
    X : array-like of shape (n, n_features)
        First sample, at least two points.
    Y : array-like of shape (m, n_features)
        Second sample, at least two points.
    bandwidth : {"median", "multiscale"}, float or sequence of float, default="median"
        ``"median"``: one kernel with :math:`\sigma` from :func:`median_heuristic`;
        ``"multiscale"``: :math:`\sigma` times ``MULTISCALE_FACTORS`` (0.25 to 4); or
        explicit positive bandwidths.
    random_state : int, RandomState instance or None, default=0
        Seeds the subset of points of the median heuristic.
    working_memory : float, default=256
        Budget in MiB for the temporaries of one block.

    Returns
    -------
    mmd2 : float
        The estimate :math:`\widehat{\mathrm{MMD}}{}^2_u`.

    Raises
    ------
    ValueError
        If an input is not a finite 2-D array with at least two rows, the feature counts
        differ, or ``bandwidth`` is invalid.

    Examples
    --------
    >>> from wpokernel.diagnostics import mmd_squared
    >>> round(mmd_squared([[0.0], [1.0]], [[0.0], [1.0]], bandwidth=1.0), 6)
    -0.393469
    """
    X, Y = _check_pair(X, Y)
    bandwidths = _check_bandwidths(bandwidth, X, Y, random_state)
    budget_bytes = check_working_memory(working_memory)
    scales = [-0.5 / sigma**2 for sigma in bandwidths]

    def gaussian_kernel(D2_ij):
        if len(scales) == 1:
            return np.exp(np.multiply(D2_ij, scales[0], out=D2_ij), out=D2_ij)
        K_ij = np.zeros_like(D2_ij)
        for scale in scales:
            K_ij += np.exp(scale * D2_ij)
        K_ij /= len(scales)
        return K_ij

    x_i, y_j = centered_pair(X, Y)
    n, m = x_i.shape[0], y_j.shape[0]
    mean_xy = pair_sum(x_i, y_j, gaussian_kernel, budget_bytes) / (n * m)
    mean_xx = pair_sum(x_i, x_i, gaussian_kernel, budget_bytes, exclude_diagonal=True)
    mean_yy = pair_sum(y_j, y_j, gaussian_kernel, budget_bytes, exclude_diagonal=True)
    return mean_xx / (n * (n - 1)) + mean_yy / (m * (m - 1)) - 2.0 * mean_xy
