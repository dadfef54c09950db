r"""Gaussian mixtures under the heat flow: density, score, Laplacian and exact sampling.

A mixture :math:`\pi = \sum_j w_j N(z_j, C_j)` stays a mixture under the heat flow
:math:`dY_s = \beta\, dW_s`:

.. math::

    \eta(x, s) = (\pi * N(0, \beta^2 s I))(x) = \sum_j w_j\, N(x; z_j, C_j + \beta^2 s I),

so at every noise time :math:`s` the log-density, the score and the Laplacian of the
log-density are closed form (with :math:`w_{ij}` the responsibilities and
:math:`P_j(s) = (C_j + \beta^2 s I)^{-1}`):

.. math::

    \nabla \log \eta(x_i, s) = -\sum_j w_{ij} P_j(s) (x_i - z_j), \qquad
    \Delta \log \eta(x_i, s) = \sum_j w_{ij} \big(\lVert P_j(s)(x_i - z_j)\rVert^2
        - \operatorname{tr} P_j(s)\big) - \lVert \nabla \log \eta(x_i, s) \rVert^2 .

The empirical measure is the case :math:`C_j = 0`, where :math:`s > 0` is required.
"""

import math
import numbers

import numpy as np
from scipy.special import logsumexp
from sklearn.utils import check_random_state

from ._validation import nonnegative_real, positive_real
from .reductions import DEFAULT_WORKING_MEMORY, CovarianceStructure, get_namespace, mixture_moments

__all__ = ["GaussianMixtureField", "check_noise"]


def check_noise(noise, name="noise"):
    """Validate a heat-flow noise time :math:`s \\ge 0` and return it as a float."""
    nonnegative_real(name, noise)
    return float(noise)


class GaussianMixtureField:
    r"""A Gaussian mixture and its heat flow :math:`\eta(\cdot, s)`.

    Parameters
    ----------
    centers : array-like of shape (n_centers, n_features)
        Component means :math:`z_j`.
    covariance : CovarianceStructure
        Component covariances :math:`C_j` at :math:`s = 0`.
    log_weights : array-like of shape (n_centers,), default=None
        Log mixture weights, normalized here so that :math:`\sum_j w_j = 1`; ``None`` means
        uniform weights.
    beta : float, default=1.0
        Diffusion coefficient of the heat flow; component covariances at noise time ``s``
        are :math:`C_j + \beta^2 s I`.
    backend : {"auto", "numpy", "torch", "keops", "cupy"}, default="auto"
        Reduction backend, see :func:`wpokernel.reductions.mixture_moments`.
    working_memory : float, default=256
        Budget in MiB for the blocked engine.

    Examples
    --------
    >>> import numpy as np
    >>> from wpokernel import GaussianMixtureField
    >>> from wpokernel.reductions import Isotropic
    >>> field = GaussianMixtureField(np.zeros((1, 2)), Isotropic(1.0))
    >>> field.score(np.array([[1.0, 2.0]]), noise=1.0)
    array([[-0.5, -1. ]])
    """

    def __init__(self, centers, covariance, log_weights=None, *, beta=1.0, backend="auto",
                 working_memory=DEFAULT_WORKING_MEMORY):
        if not isinstance(covariance, CovarianceStructure):
            raise TypeError(f"Expected a CovarianceStructure, got {type(covariance).__name__}.")
        self.centers = centers
        self.covariance = covariance
        n_centers = centers.shape[0]
        if log_weights is None:
            # In the centers' array library, so that torch or cupy centers need no weights.
            log_weights = get_namespace(centers).asarray(np.full(n_centers, -math.log(n_centers)),
                                                         like=centers)
        else:
            ns = get_namespace(log_weights)
            log_weights = log_weights - (ns.logsumexp(log_weights, 0) if ns.name == "torch"
                                         else logsumexp(log_weights))
        self.log_weights = log_weights
        positive_real("beta", beta)
        self.beta = float(beta)
        self.backend = backend
        self.working_memory = working_memory

    @property
    def n_features(self):
        return int(self.centers.shape[1])

    def covariance_at(self, noise):
        r"""Covariance structure of :math:`\eta(\cdot, s)`: :math:`C_j + \beta^2 s I`."""
        return self.covariance.with_added_variance(self.beta**2 * check_noise(noise))

    def moments(self, x, noise=0.0, *, score=False, laplacian=False, values=None):
        """Raw :class:`~wpokernel.reductions.MixtureMoments` of :math:`\\eta(\\cdot, s)` at ``x``."""
        return mixture_moments(x, self.centers, self.covariance_at(noise), self.log_weights,
                               values, score=score, laplacian=laplacian, backend=self.backend,
                               working_memory=self.working_memory)

    def log_density(self, x, noise=0.0):
        r"""Normalized :math:`\log \eta(x_i, s)`, shape ``(n_queries,)``."""
        return self.moments(x, noise).log_density

    def score(self, x, noise=0.0):
        r""":math:`\nabla_x \log \eta(x_i, s) = -\sum_j w_{ij} P_j(s)(x_i - z_j)`, shape ``(n_queries, n_features)``."""
        return -self.moments(x, noise, score=True).displacement

    def laplacian_log_density(self, x, noise=0.0):
        r""":math:`\Delta_x \log \eta(x_i, s)`, shape ``(n_queries,)`` (formula in the module docstring)."""
        out = self.moments(x, noise, score=True, laplacian=True)
        disp = out.displacement
        return out.laplacian_term - (disp * disp).sum(1)

    def sample(self, n_samples=1, noise=0.0, random_state=None):
        r"""Exact draws from :math:`\eta(\cdot, s)`: pick :math:`j \sim w`, return
        :math:`z_j + (C_j + \beta^2 s I)^{1/2} \xi`, :math:`\xi \sim N(0, I)`.

        Returns a float64 NumPy array of shape ``(n_samples, n_features)``.
        """
        if isinstance(n_samples, bool) or not isinstance(n_samples, numbers.Integral) or n_samples < 1:
            raise ValueError(f"Expected a positive integer n_samples, got {n_samples!r}.")
        rng = check_random_state(random_state)
        weights = np.exp(get_namespace(self.log_weights).to_numpy(self.log_weights))
        indices = rng.choice(len(weights), size=int(n_samples), p=weights / weights.sum())
        centers = get_namespace(self.centers).to_numpy(self.centers)
        offsets = self.covariance_at(noise).sample_offsets(indices, self.n_features, rng)
        return centers[indices] + offsets
