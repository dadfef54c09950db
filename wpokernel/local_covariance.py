r"""Local covariances from nearest neighbours: the manifold Parzen initialization.

For a center :math:`z_k = x_{c(k)}`, a training point, with nearest other training points
:math:`x_{k1}, \dots, x_{km}`, the local covariance of [VB2003]_ is the second moment of the
differences,

.. math::

    \hat C_k = \frac1m \sum_{l=1}^{m} (x_{kl} - z_k)(x_{kl} - z_k)^\top ,

which is flat along the directions the data do not vary in near :math:`z_k`: a mixture of
Gaussians with these covariances (plus a small floor) lays its mass along the data manifold,
where an isotropic kernel density spreads it in every direction.

References
----------
.. [VB2003] P. Vincent, Y. Bengio, "Manifold Parzen Windows", NeurIPS 2003.
"""

import numpy as np

from .diagnostics._pairwise import centered_pair, row_blocks

__all__ = ["local_covariances"]

_WORKING_MEMORY_BYTES = 256 * 2**20


def _neighbor_indices(X, center_index, n_neighbors):
    """Indices (K, m) of the nearest rows of ``X`` to each center, the center's row excluded."""
    z_k, x_j = centered_pair(X[center_index], X)
    sq_norm_x_j = np.einsum("jd,jd->j", x_j, x_j)
    indices = np.empty((len(z_k), n_neighbors), dtype=np.intp)
    for rows in row_blocks(len(z_k), len(x_j), _WORKING_MEMORY_BYTES):
        # |z - x|^2 up to the per-row constant |z|^2, which does not change the order.
        proxy_kj = sq_norm_x_j[None, :] - 2.0 * z_k[rows] @ x_j.T  # (k, N)
        proxy_kj[np.arange(proxy_kj.shape[0]), center_index[rows]] = np.inf
        indices[rows] = np.argpartition(proxy_kj, n_neighbors - 1, axis=1)[:, :n_neighbors]
    return indices


def local_covariances(X, center_index, n_neighbors):
    r"""Local covariance :math:`\hat C_k` of each center from its nearest training points.

    Parameters
    ----------
    X : ndarray of shape (n_samples, n_features)
        Training points.
    center_index : ndarray of shape (n_centers,)
        Rows of ``X`` that are the centers :math:`z_k`.
    n_neighbors : int
        Number :math:`m` of neighbours, ``1 <= m < n_samples``.

    Returns
    -------
    covariances : ndarray of shape (n_centers, n_features, n_features)
        :math:`\hat C_k`, symmetric positive semi-definite, of rank at most :math:`m`.
    """
    neighbors_km = _neighbor_indices(X, center_index, n_neighbors)
    diff_kmd = X[neighbors_km] - X[center_index][:, None, :]  # (K, m, d)
    return np.einsum("kmd,kme->kde", diff_kmd, diff_kmd) / n_neighbors
