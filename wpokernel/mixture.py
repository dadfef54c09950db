r"""Gaussian mixtures under the heat flow: density, score, Laplacian and exact sampling.

A mixture :math:`\pi = \sum_j w_j N(z_j, C_j)` stays a mixture under the heat flow
:math:`dY_t = \beta\, dW_t`:

.. math::

    \eta(x, t) = (\pi * N(0, \beta^2 t I))(x) = \sum_j w_j\, N(x; z_j, C_j + \beta^2 t I),

so at every time :math:`t` the log-density, the score and the Laplacian of the log-density
are closed form (with :math:`w_{ij}` the responsibilities and
:math:`P_j(t) = (C_j + \beta^2 t I)^{-1}`):

.. math::

    \nabla \log \eta(x_i, t) = -\sum_j w_{ij} P_j(t) (x_i - z_j), \qquad
    \Delta \log \eta(x_i, t) = \sum_j w_{ij} \big(\lVert P_j(t)(x_i - z_j)\rVert^2
        - \operatorname{tr} P_j(t)\big) - \lVert \nabla \log \eta(x_i, t) \rVert^2 .

The empirical measure is the case :math:`C_j = 0`, where :math:`t > 0` is required.
"""

import math

import numpy as np
from scipy.special import logsumexp

from ._validation import nonnegative_real, positive_int, positive_real
from .reductions import (
    DEFAULT_WORKING_MEMORY,
    CovarianceStructure,
    RandomSource,
    get_namespace,
    mixture_moments,
)

__all__ = ["GaussianMixtureField", "check_time"]


def check_time(t, name="t"):
    """Validate a heat-flow time :math:`t \\ge 0` and return it as a float."""
    nonnegative_real(name, t)
    return float(t)


class GaussianMixtureField:
    r"""A Gaussian mixture and its heat flow :math:`\eta(\cdot, t)`.

    The arrays (centers, log-weights, covariance parameters) may be NumPy, torch (CPU or
    CUDA) or CuPy arrays of one library: every evaluation and every draw runs there.

    Parameters
    ----------
    centers : array of shape (n_centers, n_features)
        Component means :math:`z_j`.
    covariance : CovarianceStructure
        Component covariances :math:`C_j` at :math:`t = 0`.
    log_weights : array of shape (n_centers,), default=None
        Log mixture weights, normalized here so that :math:`\sum_j w_j = 1`; ``None`` means
        uniform weights.
    beta : float, default=1.0
        Diffusion coefficient of the heat flow; component covariances at time ``t``
        are :math:`C_j + \beta^2 t I`.
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
    >>> field.score(np.array([[1.0, 2.0]]), t=1.0)
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

    def _settings(self):
        return {"beta": self.beta, "backend": self.backend, "working_memory": self.working_memory}

    def _rebuilt(self, centers, covariance, log_weights, beta):
        """A field of the same settings; the log-weights are kept bit for bit."""
        field = GaussianMixtureField(centers, covariance, **{**self._settings(), "beta": beta})
        field.log_weights = log_weights
        return field

    def map_arrays(self, function):
        """The same mixture with ``function`` applied to every array (centers, log-weights,
        covariance parameters), e.g. to move it to another array library or device."""
        return self._rebuilt(function(self.centers), self.covariance.map_arrays(function),
                             function(self.log_weights), self.beta)

    def affine(self, shift, scale):
        r"""The mixture of :math:`a + c X` for :math:`X` drawn from this one, at every time.

        Components :math:`N(a + c z_j, c^2 C_j)`, and the heat flow at speed :math:`c \beta`, so
        that :math:`\eta_{a + cX}(a + c x, t) = c^{-d} \eta_X(x, t)` for every :math:`t`.

        Parameters
        ----------
        shift : array of shape (n_features,) or float
            :math:`a`.
        scale : float
            :math:`c > 0`.
        """
        positive_real("scale", scale)
        scale = float(scale)
        shift = get_namespace(self.centers).asarray(shift, like=self.centers)
        return self._rebuilt(shift + scale * self.centers, self.covariance.scaled(scale**2),
                             self.log_weights, scale * self.beta)

    def mean(self):
        r"""Mean :math:`\sum_j w_j z_j` of the mixture, shape ``(n_features,)``."""
        ns = get_namespace(self.centers)
        return ns.exp(self.log_weights) @ self.centers

    def covariance_at(self, t):
        r"""Covariance structure of :math:`\eta(\cdot, t)`: :math:`C_j + \beta^2 t I`."""
        return self.covariance.with_added_variance(self.beta**2 * check_time(t))

    def moments(self, x, t=0.0, *, score=False, laplacian=False, values=None):
        """Raw :class:`~wpokernel.reductions.MixtureMoments` of :math:`\\eta(\\cdot, t)` at ``x``."""
        return mixture_moments(x, self.centers, self.covariance_at(t), self.log_weights,
                               values, score=score, laplacian=laplacian, backend=self.backend,
                               working_memory=self.working_memory)

    def log_density(self, x, t=0.0):
        r"""Normalized :math:`\log \eta(x_i, t)`, shape ``(n_queries,)``."""
        return self.moments(x, t).log_density

    def score(self, x, t=0.0):
        r""":math:`\nabla_x \log \eta(x_i, t) = -\sum_j w_{ij} P_j(t)(x_i - z_j)`, shape ``(n_queries, n_features)``."""
        return -self.moments(x, t, score=True).displacement

    def score_laplacian(self, x, t=0.0):
        r"""Score and :math:`\Delta_x \log \eta(x_i, t)` in one reduction (module docstring).

        Returns arrays of shape ``(n_queries, n_features)`` and ``(n_queries,)``.
        """
        out = self.moments(x, t, score=True, laplacian=True)
        disp = out.displacement
        return -disp, out.laplacian_term - (disp * disp).sum(1)

    def laplacian_log_density(self, x, t=0.0):
        r""":math:`\Delta_x \log \eta(x_i, t)`, shape ``(n_queries,)`` (formula in the module docstring)."""
        return self.score_laplacian(x, t)[1]

    def sample(self, n_samples=1, t=0.0, random_state=None):
        r"""Exact draws from :math:`\eta(\cdot, t)`: pick :math:`j \sim w`, return
        :math:`z_j + (C_j + \beta^2 t I)^{1/2} \xi`, :math:`\xi \sim N(0, I)`.

        The draws are made in the library and on the device of the centers.

        Parameters
        ----------
        n_samples : int, default=1
        t : float, default=0.0
            Heat-flow time.
        random_state : int, RandomState, RandomSource or None, default=None
            Seed, or a :class:`~wpokernel.reductions.RandomSource` to draw from.

        Returns
        -------
        array of shape (n_samples, n_features)
        """
        positive_int("n_samples", n_samples)
        random = (random_state if isinstance(random_state, RandomSource)
                  else RandomSource(random_state, self.centers))
        ns = get_namespace(self.centers)
        indices = random.choice(ns.exp(self.log_weights), n_samples)
        offsets = self.covariance_at(t).sample_offsets(indices, self.n_features, random)
        return self.centers[indices] + offsets
