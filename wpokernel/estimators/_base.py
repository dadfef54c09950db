r"""Template bases of the estimators.

* :class:`BaseKernelEstimator` holds what every estimator shares: the reduction settings
  (``backend``, ``working_memory``) in its constraint table, the check of query data
  against the fitted estimator and ``save`` (:mod:`wpokernel.persistence`).
* :class:`BaseSampler` adds the dynamics settings (``n_steps``, ``progress``) and the checks
  that open every sampler: fitted, a valid ``n_samples``, the call's ``n_steps`` and
  ``progress`` or the estimator's, a random state.
* :class:`MeanLogLikelihoodMixin` gives the estimators with a normalized ``score_samples``
  the mean log-likelihood as ``score``, as ``GaussianMixture.score`` (not KDE's sum).
* :class:`BaseMixtureScore` is the base of the score models whose terminal density is a
  Gaussian mixture. It owns validation, the heat flow, the samplers and the scikit-learn
  contract; a subclass overrides one hook, ``_fit_field(X, sample_weight)``, that returns the
  fitted :class:`~wpokernel.mixture.GaussianMixtureField` of the terminal density :math:`\pi`.
  Every other method reads the heat-flowed mixture

  .. math::

      \eta(\cdot, s) = \pi * N(0, \beta^2 s I).

  The model's density is :math:`\eta(\cdot, \varepsilon)` at the noise floor
  :math:`\varepsilon` (``eps``): it is what every sampler draws from, and what
  ``score_samples`` evaluates.

The estimators that transport a source to the target measure of the data share the base
:class:`~wpokernel.estimators._transport_base.BaseTargetSampler`.
"""

import numpy as np
from sklearn.base import BaseEstimator
from sklearn.utils import check_random_state
from sklearn.utils.validation import check_is_fitted, validate_data

from .._validation import (
    boolean,
    check_sample_weight,
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

__all__ = ["BaseKernelEstimator", "BaseMixtureScore", "BaseSampler", "MeanLogLikelihoodMixin"]

_VALID_METHODS = ("exact", "sde", "ode")


class BaseKernelEstimator(SaveMixin, BaseEstimator):
    """Reduction settings, query checks and model files shared by every estimator."""

    _parameter_constraints = {
        "backend": one_of("auto", "numpy", "torch", "keops", "cupy"),
        "working_memory": positive_real,
    }

    def _check_X(self, X):
        """Query data of the fitted estimator: float64, as many features as in ``fit``."""
        check_is_fitted(self)
        return validate_data(self, X, dtype=np.float64, reset=False)


class BaseSampler(BaseKernelEstimator):
    """Estimators that integrate dynamics in ``n_steps`` steps behind a progress bar."""

    _parameter_constraints = {
        **BaseKernelEstimator._parameter_constraints,
        "n_steps": positive_int,
        "progress": boolean,
    }

    def _run_settings(self, n_steps, progress):
        """The call's ``n_steps`` and ``progress``, or the estimator's where ``None``, checked."""
        n_steps = self.n_steps if n_steps is None else n_steps
        positive_int("n_steps", n_steps)
        progress = self.progress if progress is None else progress
        boolean("progress", progress)
        return n_steps, progress

    def _sampling_settings(self, n_samples, random_state, n_steps, progress):
        """The checks that open every sampler; return the random state, n_steps and progress."""
        check_is_fitted(self)
        positive_int("n_samples", n_samples)
        n_steps, progress = self._run_settings(n_steps, progress)
        return check_random_state(random_state), n_steps, progress


class MeanLogLikelihoodMixin:
    """``score`` as the mean of ``score_samples``, the normalized log-density."""

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


class BaseMixtureScore(MeanLogLikelihoodMixin, BaseSampler):
    """Shared fit / sample / score logic of the mixture score models (see module docstring)."""

    _parameter_constraints = {
        **BaseSampler._parameter_constraints,
        "beta": positive_real,
        "T": positive_real,
        "eps": nonnegative_real,
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
        weight = check_sample_weight(sample_weight, X.shape[0])
        self.field_ = self._fit_field(X, weight)
        n_centers = self.field_.centers.shape[0]
        self.backend_ = resolve_backend(self.backend, "numpy", n_centers, n_centers, X.shape[1])
        return self

    # ---------------------------------------------------------------- evaluation
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
        rng, n_steps, progress = self._sampling_settings(n_samples, random_state, n_steps, progress)
        one_of(*_VALID_METHODS)("method", method)
        eps = self._noise(eps)
        if method == "exact":
            return self.field_.sample(n_samples, noise=eps, random_state=rng)
        grid = HeatSchedule(self.beta, self.T).noise_grid(n_steps, eps)
        x_T = self.field_.sample(n_samples, noise=self.T, random_state=rng)
        if method == "sde":
            return reverse_sde(self.field_.score, x_T, grid, self.beta, rng, progress)
        return probability_flow_ode(self.field_.score, x_T, grid, self.beta, progress)
