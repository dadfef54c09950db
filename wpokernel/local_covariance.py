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

from .diagnostics._pairwise import (
    DEFAULT_WORKING_MEMORY_MB,
    check_working_memory,
    nearest_indices,
)

__all__ = ["local_covariances"]


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
    neighbors_km = nearest_indices(
        X[center_index],
        X,
        n_neighbors,
        check_working_memory(DEFAULT_WORKING_MEMORY_MB),
        excluded=center_index,
    )
    diff_kmd = X[neighbors_km] - X[center_index][:, None, :]  # (K, m, d)
    return np.einsum("kmd,kme->kde", diff_kmd, diff_kmd) / n_neighbors
