r"""Nearest-neighbour diagnostics of memorization.

A generated point that copies a training point lies much closer to its nearest training point
than to the second nearest. The memorization ratio [YCKR2023]_ measures this:

.. math::

    r(x) = \frac{d_1(x)}{d_2(x)}, \qquad
    d_k(x) = k\text{-th smallest of } \{\, |x - x_j| : j = 1, \dots, N \,\},

and the memorized fraction of a sample set is the share of points with :math:`r(x) < 1/3`.
For points drawn from a continuous density :math:`p` independently of the training set, the
training points near :math:`x` look like a Poisson process, which gives
:math:`P(r < t) \approx t^d` in dimension :math:`d`; copies of training points give
:math:`r = 0`.

In high dimension a training point plus isotropic noise of a small size per coordinate is
as far from every training point as fresh data are, and the ratio calls it new.
:func:`subspace_memorization_ratio` removes the noise's expected share from each squared
distance: with :math:`P` the projector onto the leading :math:`p` principal directions of
the training data and :math:`Q = I - P`,

.. math::

    \delta(x, y) = |P (x - y)|^2 - \frac{p}{d - p} |Q (x - y)|^2

has mean :math:`|P (x_0 - y)|^2 - \frac{p}{d - p} |Q (x_0 - y)|^2` for
:math:`x = x_0 + \varepsilon`, :math:`\varepsilon \sim \mathcal N(0, \sigma^2 I_d)`,
whatever :math:`\sigma`: zero for the training point :math:`x_0` was copied from, and the
ratio of the :math:`\delta` of the two nearest training points flags the copy.

A model that copies also puts its samples closer to the training set than fresh data are.
The data-copying test [MCD2020]_ compares the distances :math:`d_1` of generated samples
with those of a held-out real sample by a Mann-Whitney rank statistic (:func:`copy_gap`).

References
----------
.. [MCD2020] C. Meehan, K. Chaudhuri, S. Dasgupta, "A Non-Parametric Test to Detect
   Data-Copying in Generative Models", AISTATS 2020.
.. [YCKR2023] T. Yoon, J. Y. Choi, S. Kwon, E. K. Ryu, "Diffusion Probabilistic Models
   Generalize when They Fail to Memorize", ICML 2023 Workshop on Structured Probabilistic
   Inference & Generative Modeling.
"""

from numbers import Integral, Real
from typing import NamedTuple

import numpy as np
from scipy.linalg import eigh
from scipy.stats import rankdata

from wpokernel.diagnostics._pairwise import (
    DEFAULT_WORKING_MEMORY_MB,
    check_points,
    check_same_features,
    check_working_memory,
    nearest_indices,
)

__all__ = [
    "CopyGap",
    "copy_gap",
    "nearest_neighbor_distances",
    "memorization_ratio",
    "subspace_memorization_ratio",
]

#: Ratio below which a point counts as a copy of its nearest training point [YCKR2023].
DEFAULT_MEMORIZATION_THRESHOLD = 1.0 / 3.0


def _check_n_neighbors(n_neighbors, n_train):
    if isinstance(n_neighbors, bool) or not isinstance(n_neighbors, Integral):
        raise ValueError(f"Expected n_neighbors to be an int, got {n_neighbors!r}.")
    if not 1 <= n_neighbors <= n_train:
        raise ValueError(
            f"Expected 1 <= n_neighbors <= n_train = {n_train}, got n_neighbors={n_neighbors}."
        )
    return int(n_neighbors)


def _check_threshold(threshold):
    if isinstance(threshold, bool) or not isinstance(threshold, Real) or not 0 < threshold <= 1:
        raise ValueError(f"Expected threshold in (0, 1], got {threshold!r}.")


def _exact_distances(x_i, y_j, neighbors_ik):
    """Return :math:`|x_i - y_{j(i, k)}|` from differences, sorted along k, shape (m, K)."""
    # The matrix-product formula loses about half the digits of small distances (a copy of a
    # training point would sit at ~1e-8 instead of 0); it only selects the neighbours.
    distances_ik = np.empty(neighbors_ik.shape)  # (m, K)
    for k in range(neighbors_ik.shape[1]):
        diff_id = x_i - y_j[neighbors_ik[:, k]]  # (m, d)
        distances_ik[:, k] = np.sqrt(np.einsum("id,id->i", diff_id, diff_id))
    return np.sort(distances_ik, axis=1)


def nearest_neighbor_distances(
    samples, X_train, n_neighbors=2, *, working_memory=DEFAULT_WORKING_MEMORY_MB
):
    r"""Euclidean distances from each sample to its nearest training points.

    .. math::

        D_{ik} = d_k(x_i) = k\text{-th smallest of } \{\, |x_i - y_j| \,\}_{j=1}^{N},
        \qquad k = 1, \dots, K,

    with :math:`x_i` the samples, :math:`y_j` the training points and :math:`K` =
    ``n_neighbors``. The neighbours are found by matrix products, from
    :math:`|x_i - y_j|^2 = |x_i|^2 - 2 x_i \cdot y_j + |y_j|^2`, in blocks of samples, so
    memory stays within ``working_memory`` and no (n, N, d) array is formed; the returned
    distances are then recomputed from differences, so a copy of a training point is at
    distance exactly 0.

    Parameters
    ----------
    samples : array-like of shape (n_samples, n_features)
        Query points, e.g. generated samples.
    X_train : array-like of shape (n_train, n_features)
        Training points.
    n_neighbors : int, default=2
        Number :math:`K` of nearest training points, ``1 <= n_neighbors <= n_train``.
    working_memory : float, default=256
        Budget in MiB for the temporaries of one block. At least one sample is processed per
        block, so the budget is exceeded only when one row of ``n_train`` distances is larger.

    Returns
    -------
    distances : ndarray of shape (n_samples, n_neighbors)
        Distances to the nearest training points, sorted increasingly along each row.

    Raises
    ------
    ValueError
        If an input is not a finite 2-D array, the feature counts differ, or
        ``n_neighbors`` is out of range.

    Examples
    --------
    >>> import numpy as np
    >>> from wpokernel.diagnostics import nearest_neighbor_distances
    >>> X_train = np.array([[0.0, 0.0], [3.0, 4.0]])
    >>> nearest_neighbor_distances([[0.0, 0.0]], X_train)
    array([[0., 5.]])
    """
    samples = check_points(samples, "samples")
    X_train = check_points(X_train, "X_train")
    check_same_features(samples, "samples", X_train, "X_train")
    n_neighbors = _check_n_neighbors(n_neighbors, X_train.shape[0])
    budget_bytes = check_working_memory(working_memory)

    neighbors_ik = nearest_indices(samples, X_train, n_neighbors, budget_bytes)
    return _exact_distances(samples, X_train, neighbors_ik)


def memorization_ratio(
    samples,
    X_train,
    threshold=DEFAULT_MEMORIZATION_THRESHOLD,
    *,
    working_memory=DEFAULT_WORKING_MEMORY_MB,
):
    r"""Share of samples that copy a training point, by the nearest-neighbour ratio test.

    .. math::

        r_i = \frac{d_1(x_i)}{d_2(x_i)}, \qquad
        \mathrm{fraction} = \frac{1}{n} \sum_{i=1}^{n} \mathbf 1[r_i < \tau],

    with :math:`d_k` the distance to the :math:`k`-th nearest training point and
    :math:`\tau` = ``threshold`` [YCKR2023]_. When :math:`d_2 = 0` (the sample sits on a
    duplicated training point) :math:`d_1 = 0` as well, and :math:`r_i = 0`: it is a copy.

    Parameters
    ----------
    samples : array-like of shape (n_samples, n_features)
        Points to test, e.g. generated samples.
    X_train : array-like of shape (n_train, n_features)
        Training points; at least two.
    threshold : float, default=1/3
        Ratio :math:`\tau` in (0, 1] below which a sample counts as memorized.
    working_memory : float, default=256
        Budget in MiB passed to :func:`nearest_neighbor_distances`.

    Returns
    -------
    fraction : float
        Share of samples with :math:`r_i < \tau`, in [0, 1].
    ratios : ndarray of shape (n_samples,)
        The ratios :math:`r_i`, in [0, 1].

    Raises
    ------
    ValueError
        If an input is not a finite 2-D array, the feature counts differ, ``X_train`` has
        fewer than two rows, or ``threshold`` is not in (0, 1].

    Examples
    --------
    >>> import numpy as np
    >>> from wpokernel.diagnostics import memorization_ratio
    >>> X_train = np.random.default_rng(0).normal(size=(100, 2))
    >>> fraction, ratios = memorization_ratio(X_train[:10], X_train)
    >>> float(fraction)
    1.0
    """
    X_train = check_points(X_train, "X_train", min_rows=2)
    _check_threshold(threshold)
    distances = nearest_neighbor_distances(
        samples, X_train, n_neighbors=2, working_memory=working_memory
    )
    d1, d2 = distances[:, 0], distances[:, 1]
    ratios = np.divide(d1, d2, out=np.zeros_like(d1), where=d2 > 0)
    return float(np.mean(ratios < threshold)), ratios


# ---------------------------------------------------------------------------------------------
# The nearest-neighbour ratio with the isotropic noise taken out, for high dimension
# ---------------------------------------------------------------------------------------------

#: Leading principal components of the training data kept by default by
#: :func:`subspace_memorization_ratio` (at most half the features).
DEFAULT_SUBSPACE_COMPONENTS = 50
# With fewer features the default keeps them all and the measure is the pixel-space ratio:
# half of a few features leaves too few directions to measure the noise in, and there a
# noise that hides a copy from the pixel ratio is a sizeable share of the data's spread.
_MIN_FEATURES_FOR_SUBSPACE = 32


def _resolve_n_components(n_components, n_features):
    if n_components is None:
        if n_features < _MIN_FEATURES_FOR_SUBSPACE:
            return n_features
        return min(DEFAULT_SUBSPACE_COMPONENTS, n_features // 2)
    if isinstance(n_components, bool) or not isinstance(n_components, Integral):
        raise ValueError(f"Expected n_components to be an int or None, got {n_components!r}.")
    if not 1 <= n_components <= n_features:
        raise ValueError(
            f"Expected 1 <= n_components <= n_features = {n_features}, got "
            f"n_components={n_components}."
        )
    return int(n_components)


def _principal_basis(X_train, n_components):
    """Orthonormal columns spanning the leading principal directions of ``X_train``, (d, p).

    The top eigenvectors of the sample covariance; with ``n_components == n_features`` the
    identity, so that no rounding enters the pixel-space case.
    """
    n_features = X_train.shape[1]
    if n_components == n_features:
        return np.eye(n_features)
    centered = X_train - X_train.mean(axis=0)
    covariance = centered.T @ centered / X_train.shape[0]  # (d, d)
    _, basis_dp = eigh(covariance, subset_by_index=[n_features - n_components, n_features - 1])
    return basis_dp[:, ::-1]


def _debiased_squared_distances(samples, X_train, neighbors_ik, basis_dp):
    r"""Return :math:`\delta_{ik}` and :math:`|x_i - y_{j(i, k)}|^2`, each of shape (m, K)."""
    n_features, n_components = basis_dp.shape
    # E|P eps|^2 = p sigma^2 and E|Q eps|^2 = (d - p) sigma^2 for isotropic noise eps.
    weight = n_components / (n_features - n_components) if n_components < n_features else 0.0
    debiased_ik = np.empty(neighbors_ik.shape)  # (m, K)
    squared_ik = np.empty(neighbors_ik.shape)  # (m, K)
    for k in range(neighbors_ik.shape[1]):
        diff_id = samples - X_train[neighbors_ik[:, k]]  # (m, d)
        squared_ik[:, k] = np.einsum("id,id->i", diff_id, diff_id)
        in_subspace = np.einsum("ip,ip->i", diff_id @ basis_dp, diff_id @ basis_dp)
        debiased_ik[:, k] = in_subspace - weight * (squared_ik[:, k] - in_subspace)
    return debiased_ik, squared_ik


def _subspace_ratios(samples, X_train, basis_dp, budget_bytes):
    """The ratios of :func:`subspace_memorization_ratio` for checked arrays and a basis."""
    neighbors_ik = nearest_indices(samples, X_train, 2, budget_bytes)
    debiased_ik, squared_ik = _debiased_squared_distances(samples, X_train, neighbors_ik,
                                                          basis_dp)
    low, high = np.sort(debiased_ik, axis=1).T
    squared_1, squared_2 = np.sort(squared_ik, axis=1).T
    # Where even the second debiased distance is not positive the noise hides the data's
    # structure; the pixel-space ratio (small only for near-exact copies) decides.
    pixel = np.sqrt(np.divide(squared_1, squared_2, out=np.zeros_like(low),
                              where=squared_2 > 0))
    subspace = np.sqrt(np.maximum(low, 0.0) / np.where(high > 0, high, 1.0))
    return np.where(high > 0, subspace, pixel)


def subspace_memorization_ratio(
    samples,
    X_train,
    threshold=DEFAULT_MEMORIZATION_THRESHOLD,
    *,
    n_components=None,
    working_memory=DEFAULT_WORKING_MEMORY_MB,
):
    r"""Share of samples that are a training point plus isotropic noise: the subspace ratio.

    In high dimension a copy :math:`x = y + \varepsilon` of a training point :math:`y` with
    noise :math:`\varepsilon \sim \mathcal N(0, \sigma^2 I_d)` sits at distance about
    :math:`\sigma \sqrt d` from every training point, so the pixel-space ratio of
    :func:`memorization_ratio` is near 1 (with :math:`\sigma = 0.1` on MNIST it flags
    almost no such copy). Its nearest training point in pixel space is still :math:`y`,
    and the noise spreads evenly over all :math:`d` directions while the differences
    between data points lie mostly in the data's leading principal subspace. With
    :math:`P` the orthogonal projector onto the leading :math:`p` principal directions of
    the training data, :math:`Q = I - P`, and :math:`y_{(1)}, y_{(2)}` the two nearest
    training points of :math:`x_i` in pixel space,

    .. math::

        \delta_{ik} = |P (x_i - y_{(k)})|^2 - \frac{p}{d - p} |Q (x_i - y_{(k)})|^2,
        \qquad
        r_i = \sqrt{\frac{\max(\delta_{i,\mathrm{lo}}, 0)}{\delta_{i,\mathrm{hi}}}},
        \qquad
        \mathrm{fraction} = \frac1n \sum_{i=1}^n \mathbf 1[r_i < \tau],

    with :math:`\delta_{i,\mathrm{lo}} \le \delta_{i,\mathrm{hi}}` the two values sorted.
    For isotropic noise :math:`\mathbb E |P \varepsilon|^2 = p \sigma^2` and
    :math:`\mathbb E |Q \varepsilon|^2 = (d - p) \sigma^2`, so :math:`\delta` of the copied
    point has mean 0 whatever :math:`\sigma`, while :math:`\delta` of another training
    point keeps the squared distance between the two training points in the subspace,
    less :math:`p/(d - p)` times the part outside it. Where
    :math:`\delta_{i,\mathrm{hi}} \le 0` (the noise hides the structure) :math:`r_i` is the
    pixel-space ratio :math:`d_1 / d_2`. With :math:`p = d` there is no :math:`Q` and
    :math:`r_i` is exactly the ratio of :func:`memorization_ratio`.

    The test loses power once the noise in the subspace, :math:`p \sigma^2` with a spread of
    :math:`\sigma^2 \sqrt{2 p d / (d - p)}`, approaches the squared subspace distance to the
    second nearest training point: on 5,000 MNIST training images it flags about 99%, 96%
    and 89% of copies with :math:`\sigma` = 0.1, 0.2, 0.3 per pixel (grey levels in [0, 1])
    and no fresh test image; on the 64-pixel digits, whose neighbours are closer than
    :math:`\sigma \sqrt d`, about 76% at :math:`\sigma = 0.1`.

    Parameters
    ----------
    samples : array-like of shape (n_samples, n_features)
        Points to test, e.g. generated samples.
    X_train : array-like of shape (n_train, n_features)
        Training points; at least two.
    threshold : float, default=1/3
        Ratio :math:`\tau` in (0, 1] below which a sample counts as memorized.
    n_components : int or None, default=None
        Number :math:`p` of leading principal components of ``X_train``, from 1 to
        ``n_features``. None keeps ``min(50, n_features // 2)``, or all features when there
        are fewer than 32 (then the measure equals :func:`memorization_ratio`).
    working_memory : float, default=256
        Budget in MiB for one block of pairwise distances.

    Returns
    -------
    fraction : float
        Share of samples with :math:`r_i < \tau`, in [0, 1].
    ratios : ndarray of shape (n_samples,)
        The ratios :math:`r_i`, in [0, 1].

    Raises
    ------
    ValueError
        If an input is not a finite 2-D array, the feature counts differ, ``X_train`` has
        fewer than two rows, ``threshold`` is not in (0, 1], or ``n_components`` is not an
        int from 1 to ``n_features``.

    See Also
    --------
    memorization_ratio : The same test in pixel space.

    Examples
    --------
    >>> import numpy as np
    >>> from wpokernel.diagnostics import memorization_ratio, subspace_memorization_ratio
    >>> rng = np.random.default_rng(0)
    >>> X_train = rng.normal(size=(500, 4)) @ rng.normal(size=(4, 200))  # rank 4 in 200-D
    >>> noisy_copies = X_train[:100] + 0.5 * rng.normal(size=(100, 200))
    >>> float(memorization_ratio(noisy_copies, X_train)[0])
    0.01
    >>> float(subspace_memorization_ratio(noisy_copies, X_train)[0])
    0.93
    """
    samples = check_points(samples, "samples")
    X_train = check_points(X_train, "X_train", min_rows=2)
    check_same_features(samples, "samples", X_train, "X_train")
    _check_threshold(threshold)
    budget_bytes = check_working_memory(working_memory)
    n_components = _resolve_n_components(n_components, X_train.shape[1])
    ratios = _subspace_ratios(samples, X_train, _principal_basis(X_train, n_components),
                             budget_bytes)
    return float(np.mean(ratios < threshold)), ratios


class CopyGap(NamedTuple):
    """Outcome of :func:`copy_gap`."""

    #: Mann-Whitney z-statistic; near 0 for fresh samples, strongly negative for copies.
    z_score: float
    #: Median nearest-training distance of the samples over that of the test points.
    median_ratio: float
    #: Nearest-training distance of each sample, shape (n_samples,).
    sample_distances: np.ndarray
    #: Nearest-training distance of each test point, shape (n_test,).
    test_distances: np.ndarray


def _mann_whitney_z(a, b):
    r"""Return the normal score of the Mann-Whitney statistic of ``a`` against ``b``.

    .. math::

        U = \sum_{i, j} \bigl(\mathbf 1[a_i > b_j] + \tfrac12 \mathbf 1[a_i = b_j]\bigr),
        \qquad
        z = \frac{U - nm/2}{\sqrt{\frac{nm}{12}\bigl(n + m + 1
        - \sum_t \frac{t^3 - t}{(n + m)(n + m - 1)}\bigr)}},

    with :math:`t` the sizes of groups of tied values; :math:`U` comes from rank sums.
    """
    n, m = len(a), len(b)
    ranks = rankdata(np.concatenate([a, b]))
    u_statistic = ranks[:n].sum() - n * (n + 1) / 2
    _, tie_sizes = np.unique(np.concatenate([a, b]), return_counts=True)
    tie_term = np.sum(tie_sizes**3 - tie_sizes) / ((n + m) * (n + m - 1))
    variance = n * m / 12 * (n + m + 1 - tie_term)
    if variance <= 0:
        # Every distance is the same: the samples are neither closer nor farther.
        return 0.0
    return float((u_statistic - n * m / 2) / np.sqrt(variance))


def copy_gap(samples, X_train, X_test, *, working_memory=DEFAULT_WORKING_MEMORY_MB):
    r"""Compare how close generated samples and fresh data come to the training set.

    With :math:`d_1(x)` the distance from :math:`x` to its nearest training point, the
    data-copying statistic of [MCD2020]_ (without their cells) is the Mann-Whitney
    :math:`z`-score of :math:`\{d_1(x_i)\}` (samples) against :math:`\{d_1(y_j)\}` (held-out
    points),

    .. math::

        z = \frac{U - nm/2}{\sigma_U}, \qquad
        U = \#\{(i, j) : d_1(x_i) > d_1(y_j)\} + \tfrac12 \#\{\text{ties}\},

    with the tie-corrected null standard deviation :math:`\sigma_U`. When the samples are
    drawn from the data law independently of the training set, the two sets of distances are
    exchangeable and :math:`z` is approximately standard normal; :math:`z \ll 0` means the
    samples sit closer to the training points than new data do (copying), :math:`z \gg 0`
    that they sit farther away (underfitting). The ratio of median distances gives the size
    of the gap: 0 for exact copies, about 1 for fresh samples.

    Parameters
    ----------
    samples : array-like of shape (n_samples, n_features)
        Generated points.
    X_train : array-like of shape (n_train, n_features)
        Training points of the model.
    X_test : array-like of shape (n_test, n_features)
        Held-out real points, not used in training.
    working_memory : float, default=256
        Budget in MiB passed to :func:`nearest_neighbor_distances`.

    Returns
    -------
    gap : CopyGap
        ``z_score``, ``median_ratio`` and both arrays of distances.

    Raises
    ------
    ValueError
        If an input is not a finite 2-D array or the feature counts differ.

    See Also
    --------
    memorization_ratio : Per-sample test of being a copy.

    Examples
    --------
    >>> import numpy as np
    >>> from wpokernel.diagnostics import copy_gap
    >>> rng = np.random.default_rng(0)
    >>> X_train, X_test = rng.normal(size=(500, 2)), rng.normal(size=(200, 2))
    >>> gap = copy_gap(X_train[:200], X_train, X_test)
    >>> float(gap.median_ratio), bool(gap.z_score < -10)
    (0.0, True)
    """
    X_train = check_points(X_train, "X_train")
    for points, name in ((samples, "samples"), (X_test, "X_test")):
        check_same_features(X_train, "X_train", check_points(points, name), name)
    sample_distances = nearest_neighbor_distances(
        samples, X_train, n_neighbors=1, working_memory=working_memory
    )[:, 0]
    test_distances = nearest_neighbor_distances(
        X_test, X_train, n_neighbors=1, working_memory=working_memory
    )[:, 0]
    median_test = np.median(test_distances)
    median_ratio = np.median(sample_distances) / median_test if median_test > 0 else np.nan
    return CopyGap(
        _mann_whitney_z(sample_distances, test_distances),
        float(median_ratio),
        sample_distances,
        test_distances,
    )
