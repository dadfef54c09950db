r"""Template base for score models whose terminal density is a Gaussian mixture.

The base owns validation, the heat flow, the samplers and the scikit-learn contract.
A subclass overrides one hook, ``_fit_field(X, sample_weight)``, that returns the fitted
:class:`~wpokernel.mixture.GaussianMixtureField` of the terminal density :math:`\pi`; every
other method reads the heat-flowed mixture :math:`\eta(\cdot, s) = \pi * N(0, \beta^2 s I)`.

The model's density is :math:`\eta(\cdot, \varepsilon)` at the noise floor
:math:`\varepsilon` (``eps``): it is what every sampler draws from, and what
``score_samples`` evaluates.
"""

import numpy as np
from sklearn.base import BaseEstimator
from sklearn.utils import check_random_state
from sklearn.utils.validation import check_is_fitted, validate_data

from .._validation import (
    boolean,
    nonnegative_real,
    one_of,
    positive_int,
    positive_real,
    validate_params,
)
from ..integrators import probability_flow_ode, reverse_sde
from ..mixture import check_noise
from ..persistence import SaveMixin
from ..reductions import resolve_backend
from ..schedules import HeatSchedule

_VALID_METHODS = ("exact", "sde", "ode")


def _check_sample_weight(sample_weight, n_samples):
    """Non-negative finite weights of shape ``(n_samples,)`` with a positive sum."""
    if sample_weight is None:
        return np.ones(n_samples)
    weight = np.asarray(sample_weight, dtype=float)
    if weight.ndim == 0:
        weight = np.full(n_samples, float(weight))
    if weight.shape != (n_samples,):
        raise ValueError(f"Expected sample_weight of shape ({n_samples},), got {weight.shape}.")
    if not np.all(np.isfinite(weight)) or np.any(weight < 0):
        raise ValueError("Expected finite, non-negative sample_weight, got a NaN, inf or negative weight.")
    if weight.sum() <= 0:
        raise ValueError("Expected sample_weight with a positive sum, got all zeros.")
    return weight


class BaseMixtureScore(SaveMixin, BaseEstimator):
    """Shared fit / sample / score logic of the mixture score models (see module docstring)."""

    _parameter_constraints = {
        "beta": positive_real,
        "T": positive_real,
        "eps": nonnegative_real,
        "n_steps": positive_int,
        "backend": one_of("auto", "numpy", "torch", "keops", "cupy"),
        "working_memory": positive_real,
        "progress": boolean,
    }

    # ---------------------------------------------------------------- hooks
    def _fit_field(self, X, sample_weight):
        """Return the :class:`~wpokernel.mixture.GaussianMixtureField` of :math:`\\pi`."""
        raise NotImplementedError

    def _min_samples(self):
        return 1

    # ---------------------------------------------------------------- fit
    def fit(self, X, y=None, sample_weight=None):
        """Fit the terminal density to ``X``.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Training data.
        y : None
            Ignored.
        sample_weight : array-like of shape (n_samples,), default=None
            Non-negative frequency weights (a weight of 2 is the same as repeating the row).

        Returns
        -------
        self : object
            The fitted estimator.
        """
        del y
        validate_params(self)
        if self.eps >= self.T:
            raise ValueError(f"Expected eps < T, got eps={self.eps} and T={self.T}.")
        X = validate_data(self, X, dtype=np.float64, ensure_min_samples=self._min_samples())
        weight = _check_sample_weight(sample_weight, X.shape[0])
        self.field_ = self._fit_field(X, weight)
        n_centers = self.field_.centers.shape[0]
        self.backend_ = resolve_backend(self.backend, "numpy", n_centers, n_centers, X.shape[1])
        return self

    # ---------------------------------------------------------------- evaluation
    def _check_X(self, X):
        check_is_fitted(self)
        return validate_data(self, X, dtype=np.float64, reset=False)

    def _noise(self, noise):
        return self.eps if noise is None else check_noise(noise)

    def score_samples(self, X):
        r"""Normalized log-density :math:`\log \eta(x, \varepsilon)` of the model, in nats.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)

        Returns
        -------
        ndarray of shape (n_samples,)
        """
        return self.field_.log_density(self._check_X(X), noise=self.eps)

    def score(self, X, y=None):
        """Mean log-likelihood per sample of ``X`` (as ``GaussianMixture.score``, not a sum).

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
        y : None
            Ignored.

        Returns
        -------
        float
        """
        del y
        return float(np.mean(self.score_samples(X)))

    def score_function(self, X, noise=None):
        r"""Score :math:`\nabla_x \log \eta(x, s)` of the heat-flowed density.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
        noise : float, default=None
            Noise time :math:`s \ge 0`; ``None`` means the noise floor ``eps``.

        Returns
        -------
        ndarray of shape (n_samples, n_features)
        """
        return self.field_.score(self._check_X(X), noise=self._noise(noise))

    # ---------------------------------------------------------------- sampling
    def sample(self, n_samples=1, random_state=None, *, method="exact", n_steps=None, eps=None,
               progress=None):
        r"""Generate samples from :math:`\eta(\cdot, \varepsilon)`.

        ``"exact"`` draws from the mixture :math:`\eta(\cdot, \varepsilon)` directly;
        ``"sde"`` runs the reverse heat-flow SDE (the mean-field-game optimal dynamics) and
        ``"ode"`` the probability-flow ODE, both from an exact draw of :math:`\eta(\cdot, T)`
        down to :math:`s = \varepsilon` on a geometric noise grid.

        Parameters
        ----------
        n_samples : int, default=1
            Number of samples.
        random_state : int, RandomState instance or None, default=None
            Seed; an int gives reproducible samples.
        method : {"exact", "sde", "ode"}, default="exact"
        n_steps : int, default=None
            Integration steps (``None``: the estimator's ``n_steps``).
        eps : float, default=None
            Noise floor :math:`\varepsilon` where the samplers stop (``None``: ``self.eps``).
        progress : bool, default=None
            Progress bar for the integrators (``None``: the estimator's ``progress``).

        Returns
        -------
        X : ndarray of shape (n_samples, n_features)
        """
        check_is_fitted(self)
        positive_int("n_samples", n_samples)
        one_of(*_VALID_METHODS)("method", method)
        n_steps = self.n_steps if n_steps is None else n_steps
        positive_int("n_steps", n_steps)
        eps = self._noise(eps)
        rng = check_random_state(random_state)
        if method == "exact":
            return self.field_.sample(n_samples, noise=eps, random_state=rng)
        schedule = HeatSchedule(self.beta, self.T)
        grid = schedule.noise_grid(n_steps, eps)
        x_T = self.field_.sample(n_samples, noise=self.T, random_state=rng)
        progress = self.progress if progress is None else bool(progress)
        if method == "sde":
            return reverse_sde(self.field_.score, x_T, grid, self.beta, rng, progress)
        return probability_flow_ode(self.field_.score, x_T, grid, self.beta, progress)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.allow_nan = False
        return tags
