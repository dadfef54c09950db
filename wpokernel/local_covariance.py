r"""Local covariances from nearest neighbours: the manifold Parzen initialization.

For a center :math:`z_k = x_{c(k)}`, a training point, with nearest other training points
:math:`x_{k1}, \dots, x_{km}`, the local covariance of [VB2003]_ is the second moment of the
differences,

.. math::

    \hat C_k = \frac1m \sum_{l=1}^{m} (x_{kl} - z_k)(x_{kl} - z_k)^\top
    = \frac1m D_k^\top D_k, \qquad
    D_k = \begin{pmatrix} x_{k1} - z_k \\ \vdots \\ x_{km} - z_k \end{pmatrix}
    \in \mathbb R^{m \times d},

which is flat along the directions the data do not vary in near :math:`z_k`: a mixture of
Gaussians with these covariances (plus a small floor) lays its mass along the data manifold,
where an isotropic kernel density spreads it in every direction.

:math:`\hat C_k` has rank at most :math:`\min(m, d)`, and its leading eigenpairs come from
the :math:`m \times m` Gram matrix of the differences without any :math:`d \times d` matrix:
with :math:`\frac1m D_k D_k^\top = \sum_l \lambda_{kl} u_{kl} u_{kl}^\top`,

.. math::

    \hat C_k v_{kl} = \lambda_{kl} v_{kl}, \qquad
    \sqrt{\lambda_{kl}}\, v_{kl} = \frac{1}{\sqrt m} D_k^\top u_{kl},

the thin singular value decomposition of :math:`D_k / \sqrt m` read from its left side.
:func:`local_factors` returns these rank-:math:`r` factors in :math:`O(K d r)` memory;
:func:`local_covariances` the dense :math:`(K, d, d)` matrices, for small :math:`d`.

References
----------
.. [VB2003] P. Vincent, Y. Bengio, "Manifold Parzen Windows", NeurIPS 2003.
"""

from numbers import Integral
from typing import NamedTuple

import numpy as np

from .diagnostics._pairwise import (
    DEFAULT_WORKING_MEMORY_MB,
    check_working_memory,
    nearest_indices,
)

__all__ = ["LocalFactors", "local_covariances", "local_factors", "local_neighbors",
           "local_variances"]

# A block of b centers holds about this many (b, m, d) arrays at once: the differences, the
# factor product and its temporaries.
_DIFFERENCE_COPIES_PER_BLOCK = 3


class LocalFactors(NamedTuple):
    r"""The rank-:math:`r` part of each local covariance, as returned by :func:`local_factors`.

    Attributes
    ----------
    factors : ndarray of shape (n_centers, n_features, rank)
        :math:`F_k = (\sqrt{\lambda_{k1}} v_{k1}, \dots, \sqrt{\lambda_{kr}} v_{kr})`, so
        that :math:`F_k F_k^\top = \sum_{l \le r} \lambda_{kl} v_{kl} v_{kl}^\top`.
    eigenvalues : ndarray of shape (n_centers, rank)
        :math:`\lambda_{k1} \ge \dots \ge \lambda_{kr} \ge 0`, the squared column norms of
        :math:`F_k`.
    residual : ndarray of shape (n_centers,)
        :math:`\operatorname{tr} \hat C_k - \sum_{l \le r} \lambda_{kl}`, the variance the
        factors leave out.
    """

    factors: np.ndarray
    eigenvalues: np.ndarray
    residual: np.ndarray


def _check_positive_int(value, name, upper, reason):
    if isinstance(value, bool) or not isinstance(value, Integral):
        raise ValueError(f"Expected {name} to be an int, got {value!r}.")
    if not 1 <= value <= upper:
        raise ValueError(f"Expected 1 <= {name} <= {upper}{reason}, got {name}={value}.")
    return int(value)


def local_neighbors(X, center_index, n_neighbors):
    """Rows of the ``n_neighbors`` nearest other training points of each center, shape
    (n_centers, n_neighbors), in no particular order within a row (blocked search, memory
    bounded by the default working memory)."""
    return nearest_indices(
        X[center_index],
        X,
        n_neighbors,
        check_working_memory(DEFAULT_WORKING_MEMORY_MB),
        excluded=center_index,
    )


def _neighborhoods(X, center_index, n_neighbors, neighbors, budget_bytes):
    """Each center's ``n_neighbors`` nearest other rows, (K, m): searched, or taken from the
    wider search ``neighbors``."""
    if neighbors is None:
        return local_neighbors(X, center_index, n_neighbors)
    return _nearest_of(X, center_index, neighbors, n_neighbors, budget_bytes)


def local_covariances(X, center_index, n_neighbors, *, neighbors=None):
    r"""Local covariance :math:`\hat C_k` of each center from its nearest training points.

    Dense :math:`d \times d` matrices: for many features use :func:`local_factors`.

    Parameters
    ----------
    X : ndarray of shape (n_samples, n_features)
        Training points.
    center_index : ndarray of shape (n_centers,)
        Rows of ``X`` that are the centers :math:`z_k`.
    n_neighbors : int
        Number :math:`m` of neighbours, ``1 <= m < n_samples``.
    neighbors : ndarray of shape (n_centers, n) with n >= n_neighbors, or None
        A wider search to take the ``n_neighbors`` nearest of, as in :func:`local_factors`.

    Returns
    -------
    covariances : ndarray of shape (n_centers, n_features, n_features)
        :math:`\hat C_k`, symmetric positive semi-definite, of rank at most :math:`m`.
    """
    neighbors_km = _neighborhoods(X, center_index, n_neighbors, neighbors,
                                  check_working_memory(DEFAULT_WORKING_MEMORY_MB))
    diff_kmd = X[neighbors_km] - X[center_index][:, None, :]  # (K, m, d)
    return np.einsum("kmd,kme->kde", diff_kmd, diff_kmd) / n_neighbors


def local_variances(X, center_index, n_neighbors, *, neighbors=None):
    r"""The diagonal of each local covariance, :math:`(\hat C_k)_{ii} = \frac1m \sum_l
    (x_{kl} - z_k)_i^2`, in :math:`O(K d)` memory.

    Parameters are those of :func:`local_covariances`, and ``neighbors`` that of
    :func:`local_factors` (a wider search to take the ``n_neighbors`` nearest of).

    Returns
    -------
    variances : ndarray of shape (n_centers, n_features)
    """
    neighbors_km = _neighborhoods(X, center_index, n_neighbors, neighbors,
                                  check_working_memory(DEFAULT_WORKING_MEMORY_MB))
    centers = X[center_index]
    variances = np.zeros(centers.shape, dtype=X.dtype)
    for l in range(n_neighbors):  # one (K, d) difference at a time, never (K, m, d)
        variances += (X[neighbors_km[:, l]] - centers) ** 2
    return variances / n_neighbors


def _block_factors(diff_bmd, rank):
    """Top-``rank`` factors, eigenvalues and residual of one block of difference matrices."""
    n_neighbors = diff_bmd.shape[1]
    gram_bmm = diff_bmd @ diff_bmd.transpose(0, 2, 1) / n_neighbors  # (b, m, m)
    eigenvalues_bm, vectors_bmm = np.linalg.eigh(gram_bmm)  # ascending
    top_bmr = vectors_bmm[:, :, ::-1][:, :, :rank]  # (b, m, r)
    # sqrt(lambda) v = D^T u / sqrt(m): no division by a vanishing singular value.
    factors_bdr = diff_bmd.transpose(0, 2, 1) @ top_bmr / np.sqrt(n_neighbors)  # (b, d, r)
    # Rounding can leave eigenvalues of a rank-deficient Gram matrix slightly negative.
    eigenvalues_br = np.maximum(eigenvalues_bm[:, ::-1][:, :rank], 0.0)
    trace_b = np.einsum("bmd,bmd->b", diff_bmd, diff_bmd) / n_neighbors
    return factors_bdr, eigenvalues_br, np.maximum(trace_b - eigenvalues_br.sum(axis=1), 0.0)


def _nearest_of(X, center_index, neighbors, n_neighbors, budget_bytes):
    """The ``n_neighbors`` nearest of each center's candidate rows ``neighbors``, (K, m)."""
    neighbors = np.asarray(neighbors)
    if neighbors.ndim != 2 or len(neighbors) != len(center_index) \
            or neighbors.shape[1] < n_neighbors:
        raise ValueError(f"Expected neighbors of shape ({len(center_index)}, >= {n_neighbors}), "
                         f"got {neighbors.shape}.")
    if neighbors.shape[1] == n_neighbors:
        return neighbors
    out = np.empty((len(center_index), n_neighbors), dtype=neighbors.dtype)
    block = max(1, int(budget_bytes // (neighbors.shape[1] * X.shape[1] * X.itemsize)))
    for start in range(0, len(center_index), block):
        rows = slice(start, start + block)
        squared = ((X[neighbors[rows]] - X[center_index[rows]][:, None, :]) ** 2).sum(-1)
        nearest = np.argpartition(squared, n_neighbors - 1, axis=1)[:, :n_neighbors]
        out[rows] = np.take_along_axis(neighbors[rows], nearest, axis=1)
    return out


def local_factors(X, center_index, n_neighbors, rank, *,
                  working_memory=DEFAULT_WORKING_MEMORY_MB, dtype=None, neighbors=None):
    r"""Rank-:math:`r` factors of the local covariances, without any :math:`d \times d` matrix.

    For each center, the leading :math:`r` eigenpairs of :math:`\hat C_k = D_k^\top D_k / m`
    (see the module docstring) from the eigendecomposition of the :math:`m \times m` Gram
    matrix :math:`D_k D_k^\top / m`, the thin SVD of :math:`D_k / \sqrt m`:

    .. math::

        F_k = \frac{1}{\sqrt m} D_k^\top (u_{k1}, \dots, u_{kr}), \qquad
        F_k F_k^\top = \sum_{l=1}^{r} \lambda_{kl} v_{kl} v_{kl}^\top, \qquad
        \rho_k = \operatorname{tr} \hat C_k - \sum_{l=1}^{r} \lambda_{kl}.

    Centers are processed in blocks whose :math:`(b, m, d)` differences fit in
    ``working_memory``; the cost is :math:`O(K m^2 d)` time and the result
    :math:`O(K d r)` memory. A rank above :math:`\min(m, d)`, the most a covariance of
    :math:`m` differences in :math:`d` dimensions can have, is refused: the factor would
    hold zero columns with arbitrary directions.

    Parameters
    ----------
    X : ndarray of shape (n_samples, n_features)
        Training points.
    center_index : ndarray of shape (n_centers,)
        Rows of ``X`` that are the centers :math:`z_k`.
    n_neighbors : int
        Number :math:`m` of neighbours, ``1 <= m < n_samples``.
    rank : int
        Number :math:`r` of leading eigenpairs, ``1 <= r <= min(n_neighbors, n_features)``.
    working_memory : float, default=256
        Budget in MiB for one block of centers (and for the neighbour search); a block
        holds at least one center.
    dtype : numpy floating dtype or None, default=None
        Dtype in which the factors are stored (``None``: that of ``X``). Each block is
        computed in the dtype of ``X`` and only then rounded: ``float32`` halves the
        :math:`K d r` memory of image-scale factors at a relative rounding of
        :math:`6 \cdot 10^{-8}`, far below their sampling error.
    neighbors : ndarray of shape (n_centers, n) with n >= n_neighbors, or None
        Each center's nearest other training points from a wider search
        (:func:`local_neighbors` with at least ``n_neighbors``), of which the
        ``n_neighbors`` nearest are taken: one search serves several neighbourhood sizes.
        ``None``: searched here.

    Returns
    -------
    local : LocalFactors
        ``factors`` of shape (n_centers, n_features, rank), in ``dtype``; ``eigenvalues`` of
        shape (n_centers, rank), decreasing, and ``residual`` of shape (n_centers,), in the
        floating dtype of ``X``.

    Raises
    ------
    ValueError
        If ``n_neighbors`` is not an int from 1 to ``n_samples - 1`` or ``rank`` is not an
        int from 1 to ``min(n_neighbors, n_features)``.

    Examples
    --------
    >>> import numpy as np
    >>> from wpokernel.local_covariance import local_factors
    >>> X = np.random.default_rng(0).normal(size=(200, 784))
    >>> local = local_factors(X, np.arange(50), n_neighbors=20, rank=5)
    >>> local.factors.shape, local.eigenvalues.shape, local.residual.shape
    ((50, 784, 5), (50, 5), (50,))
    """
    X = np.asarray(X)
    if not np.issubdtype(X.dtype, np.floating):
        X = X.astype(np.float64)
    center_index = np.asarray(center_index)
    n_samples, n_features = X.shape
    n_neighbors = _check_positive_int(n_neighbors, "n_neighbors", n_samples - 1,
                                      " = n_samples - 1")
    rank = _check_positive_int(
        rank, "rank", min(n_neighbors, n_features),
        f" = min(n_neighbors, n_features), the rank of a covariance of {n_neighbors} "
        f"differences in {n_features} dimensions",
    )
    budget_bytes = check_working_memory(working_memory)
    neighbors_km = _neighborhoods(X, center_index, n_neighbors, neighbors, budget_bytes)
    n_centers = len(center_index)
    dtype = X.dtype if dtype is None else np.dtype(dtype)
    if not np.issubdtype(dtype, np.floating):
        raise ValueError(f"Expected a floating dtype for the factors, got {dtype}.")
    local = LocalFactors(np.empty((n_centers, n_features, rank), dtype),
                         np.empty((n_centers, rank), X.dtype), np.empty(n_centers, X.dtype))
    bytes_per_center = _DIFFERENCE_COPIES_PER_BLOCK * n_neighbors * n_features * X.itemsize
    block = max(1, int(budget_bytes // bytes_per_center))
    for start in range(0, n_centers, block):
        rows = slice(start, start + block)
        diff_bmd = X[neighbors_km[rows]] - X[center_index[rows]][:, None, :]  # (b, m, d)
        for out, part in zip(local, _block_factors(diff_bmd, rank)):
            out[rows] = part
    return local
