r"""The template every estimator is built on.

* :class:`BaseKernelEstimator` holds what every estimator shares: the reduction settings
  (``backend``, ``working_memory``) in its constraint table, the checks of query data and
  ``save`` (:mod:`wpokernel.persistence`, where every subclass registers itself).
* :class:`BaseGenerativeModel` is the one template of the generative estimators. It owns

  - ``fit(X, y=None, *, sample_weight=None)``: parameter checks, data checks, frequency
    weights, the standardized coordinates :math:`u = (x - \mu)/\rho` of
    :mod:`~wpokernel.estimators._standardize` (``mean_``, ``scale_``), then the hook
    ``_fit(U, sample_weight)``, then the fitted state moved to ``device``;
  - ``sample(n_samples=1, random_state=None, *, method=None, n_steps=None, progress=None)``:
    starting points from the hook ``_initial_state(n_samples, random)``, carried along the
    time grid ``_time_grid(n_steps)`` by the integrators of :mod:`wpokernel.dynamics` — the
    SDE with ``_drift(x, t)`` and ``_diffusion(t)``, the ODE with ``_velocity(x, t)`` — or
    ``_sample_exact(n_samples, random)`` where the law is known in closed form; the methods a
    subclass offers are its ``_sample_methods`` (the first is the default);
  - ``transport``-style integration from given points, :meth:`_integrate`, which
    :class:`TransportMixin` exposes.

  The hooks see standardized coordinates and arrays of the state's library (NumPy, or torch
  on CUDA with ``device="cuda"``), and a :class:`~wpokernel.reductions.RandomSource` that
  draws there; nothing crosses to the host between steps.
* :class:`LogDensityMixin` adds ``score_samples`` (the normalized log-density in the caller's
  units, :math:`\log p(x) = \log p_u(u) - d \log \rho`) and ``score`` (its mean, as
  ``GaussianMixture.score``). A subclass with a closed-form density overrides
  ``_log_density(u)``; otherwise the density comes from the ODE: the points follow
  ``_velocity`` back along the grid while the divergence — exact from
  ``_divergence_field()``, else a Hutchinson estimate — is integrated, and
  ``_base_log_density`` is added at the grid's start.
* :class:`BaseScoreModel` is the score-based model on the heat flow
  (:class:`~wpokernel.dynamics.HeatSchedule`): a subclass supplies the score
  ``_score(x, t)`` of :math:`\eta(\cdot, t)` (and, for an exact divergence,
  ``_score_laplacian(x, t)``) and gets the reverse SDE, the probability-flow ODE and the ODE
  likelihood; :class:`BaseMixtureScore` adds the capabilities of a Gaussian-mixture terminal
  density: exact sampling and a closed-form density.
"""

import math

import numpy as np
import torch
from sklearn.base import BaseEstimator
from sklearn.utils.validation import check_is_fitted, validate_data

from .._validation import (
    boolean,
    check_sample_weight,
    nonnegative_real,
    one_of,
    positive_int,
    positive_real,
    seed,
    validate_params,
)
from ..dynamics import (
    HeatSchedule,
    euler_maruyama,
    exact_divergence,
    heun,
    hutchinson_divergence,
    ode_log_likelihood,
)
from ..mixture import GaussianMixtureField, check_time
from ..persistence import SaveMixin
from ..reductions import RandomSource, get_namespace, resolve_backend
from ._standardize import standardization

__all__ = [
    "BaseGenerativeModel",
    "BaseKernelEstimator",
    "BaseMixtureScore",
    "BaseScoreModel",
    "LogDensityMixin",
    "TransportMixin",
]

_DEVICES = ("cpu", "cuda")
#: Largest output of one ``sample`` call (1 GiB of float64): larger requests are refused
#: before anything is allocated; draw them in batches.
MAX_SAMPLE_BYTES = 2**30
# Probes of the Hutchinson divergence in an ODE likelihood without a closed-form divergence.
# Up to as many dimensions the trace over the basis vectors costs no more and is exact.
_DIVERGENCE_PROBES = 16
_LOG_2PI = math.log(2.0 * math.pi)


def _library(a):
    """``"numpy"``, ``"torch"`` or ``"cupy"``: the array library of ``a`` (lists: NumPy)."""
    return get_namespace(a).name


def check_device(device):
    """Refuse ``device="cuda"`` before any work when torch sees no CUDA GPU."""
    if device == "cuda" and not torch.cuda.is_available():
        raise ValueError("Expected device='cpu' on a machine without a CUDA GPU visible to "
                         "torch, got device='cuda'.")


class BaseKernelEstimator(SaveMixin, BaseEstimator):
    """Reduction settings, query checks and model files shared by every estimator."""

    _parameter_constraints = {
        "backend": one_of("auto", "numpy", "torch", "keops", "cupy"),
        "working_memory": positive_real,
    }

    def _check_X(self, X, name="X"):
        """Query data of the fitted estimator: float, as many features as in ``fit``.

        NumPy and array-likes are validated by scikit-learn; torch tensors and CuPy arrays
        are checked in their own library and stay there.
        """
        check_is_fitted(self)
        if _library(X) == "numpy":
            return validate_data(self, X, dtype=np.float64, reset=False)
        ns = get_namespace(X)
        if X.ndim != 2 or X.shape[1] != self.n_features_in_:
            raise ValueError(f"Expected {name} of shape (n_samples, {self.n_features_in_}), "
                             f"got {tuple(X.shape)}.")
        if not bool(ns.isfinite(X).all()):
            raise ValueError(f"Expected finite values in {name}, got NaN or infinity.")
        return ns.asarray(X, dtype=ns.float64)

    def _run_settings(self, n_steps, progress):
        """The call's ``n_steps`` and ``progress``, or the estimator's where ``None``, checked."""
        n_steps = self.n_steps if n_steps is None else n_steps
        positive_int("n_steps", n_steps)
        progress = self.progress if progress is None else progress
        boolean("progress", progress)
        return n_steps, progress

    def _check_output_size(self, n_rows, n_columns):
        """Refuse an output of more than :data:`MAX_SAMPLE_BYTES` before any work."""
        max_rows = max(1, MAX_SAMPLE_BYTES // (8 * n_columns))
        if n_rows > max_rows:
            raise ValueError(f"Expected at most {max_rows} samples of {n_columns} features "
                             f"({MAX_SAMPLE_BYTES // 2**20} MiB) from one call, got {n_rows}; "
                             f"draw them in batches of at most {max_rows}.")

    def _check_method(self, method, methods):
        method = methods[0] if method is None else method
        one_of(*methods)("method", method)
        return method


class BaseGenerativeModel(BaseKernelEstimator):
    """Fit, sample and transport skeleton of every generative estimator (module docstring)."""

    _parameter_constraints = {
        **BaseKernelEstimator._parameter_constraints,
        "n_steps": positive_int,
        "progress": boolean,
        "device": one_of(*_DEVICES),
    }
    #: Sampling methods of the subclass; the first is the default.
    _sample_methods = ("sde", "ode")
    #: Rows ``fit`` needs at least (two: a spread).
    _min_samples = 2
    #: Whether the state is torch on the CPU too (a network's), instead of NumPy.
    _torch_state = False

    # ---------------------------------------------------------------- hooks
    def _check_params(self):
        """Checks across parameters, before any data is read; sets nothing."""

    def _fit(self, X, sample_weight):
        """Fit to the standardized data ``X`` (NumPy float64) with frequency weights."""
        raise NotImplementedError

    def _device_state(self):
        """Names of fitted attributes (mixture fields, arrays) that live on ``device``."""
        return ()

    def _initial_state(self, n_samples, random):
        """Starting points of the dynamics, at ``_time_grid(n)[0]``."""
        raise NotImplementedError

    def _time_grid(self, n_steps):
        """The grid of the dynamics (:mod:`wpokernel.dynamics.grids`)."""
        raise NotImplementedError

    def _drift(self, x, t):
        """SDE drift :math:`b(x, t)`."""
        raise NotImplementedError

    def _diffusion(self, t):
        """SDE diffusion :math:`g(t)`."""
        raise NotImplementedError

    def _velocity(self, x, t):
        """ODE velocity :math:`v(x, t)`."""
        raise NotImplementedError

    def _sample_exact(self, n_samples, random):
        """Exact draws of the model's law, where it is closed form."""
        raise NotImplementedError

    # ---------------------------------------------------------------- fit
    def fit(self, X, y=None, *, sample_weight=None):
        """Fit the model to ``X``.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Training data, at least two distinct points.
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
        return self._fit_skeleton(X, sample_weight)

    def _fit_skeleton(self, X, sample_weight, **inputs):
        """validate -> data -> weights -> standardized coordinates -> ``_fit`` -> device."""
        validate_params(self)
        self._check_params()
        check_device(self.device)
        if _library(X) != "numpy":
            X = get_namespace(X).to_numpy(X)
        X = validate_data(self, X, dtype=np.float64, ensure_min_samples=self._min_samples)
        weight = check_sample_weight(sample_weight, X.shape[0])
        mean, scale = standardization(X, weight)
        self.mean_, self.scale_ = mean, scale
        self.device_ = "cpu"
        self._fit((X - mean) / scale, weight, **inputs)
        self._move_state(self.device)
        n_points = X.shape[0]
        self.backend_ = resolve_backend(self.backend, "torch" if self.device == "cuda" else "numpy",
                                        n_points, n_points, X.shape[1],
                                        on_gpu=self.device == "cuda")
        return self

    def _move_state(self, device):
        """Put the fitted state of :meth:`_device_state` on ``device`` (``device_``)."""
        if device == self.device_:
            return
        self.device_ = device
        for name in self._device_state():
            value = getattr(self, name)
            if isinstance(value, GaussianMixtureField):
                setattr(self, name, value.map_arrays(self._to_state))
            else:
                setattr(self, name, self._to_state(value))

    # ---------------------------------------------------------------- coordinates
    def _to_state(self, a):
        """``a`` in the library and on the device of the fitted state: NumPy on the CPU, or
        torch on ``device_`` (always for a subclass whose state is torch, ``_torch_state``)."""
        if self.device_ == "cuda" or self._torch_state:
            return torch.as_tensor(a, device=self.device_)
        return get_namespace(a).to_numpy(a) if _library(a) != "numpy" else np.asarray(a)

    def _state_like(self):
        return self._to_state(np.zeros(1))

    def _standardize(self, X):
        """:math:`u = (x - \\mu)/\\rho` in the state's library."""
        X = self._to_state(X)
        ns = get_namespace(X)
        return (X - ns.asarray(self.mean_, like=X)) / self.scale_

    def _unstandardize(self, U):
        ns = get_namespace(U)
        return ns.asarray(self.mean_, like=U) + self.scale_ * U

    @staticmethod
    def _output(a, like):
        """``a`` (state library) in the library and on the device of the caller's ``like``."""
        ns, library = get_namespace(a), _library(like)
        if library == ns.name:
            return a.to(like.device) if library == "torch" else a
        host = a if ns.name == "numpy" else ns.to_numpy(a)
        return host if library == "numpy" else get_namespace(like).asarray(host, like=like)

    def _field_in_data_units(self, field, X, t, power):
        """``scale_ ** power * field(u, t)`` at the standardized ``X``, in the caller's library.

        Velocities and drifts (``dx/dt = rho du/dt``) have ``power = 1``; scores
        (:math:`\\nabla_x = \\rho^{-1} \\nabla_u`) have ``power = -1``.
        """
        X_checked = self._check_X(X)
        return self._output(self.scale_**power * field(self._standardize(X_checked), t), X_checked)

    # ---------------------------------------------------------------- sampling
    def sample(self, n_samples=1, random_state=None, *, method=None, n_steps=None, progress=None):
        """Generate samples of the fitted model.

        Parameters
        ----------
        n_samples : int, default=1
            Number of samples.
        random_state : int, RandomState instance or None, default=None
            Seed; an int gives reproducible samples.
        method : str, default=None
            One of the estimator's sampling methods (``None``: its default; see the class
            docstring).
        n_steps : int, default=None
            Integration steps (``None``: the estimator's ``n_steps``).
        progress : bool, default=None
            Progress bar (``None``: the estimator's ``progress``).

        Returns
        -------
        X : ndarray of shape (n_samples, n_features)

        Raises
        ------
        ValueError
            ``n_samples`` samples would take more than :data:`MAX_SAMPLE_BYTES` (1 GiB):
            refused before any work.
        """
        check_is_fitted(self)
        positive_int("n_samples", n_samples)
        self._check_output_size(n_samples, self.n_features_in_)
        seed("random_state", random_state)
        method = self._check_method(method, self._sample_methods)
        n_steps, progress = self._run_settings(n_steps, progress)
        random = RandomSource(random_state, self._state_like())
        if method == "exact":
            U = self._sample_exact(n_samples, random)
        else:
            U = self._integrate(method, self._initial_state(n_samples, random), random, n_steps,
                                progress)
        return self._output(self._unstandardize(U), np.zeros(0))

    def _integrate(self, method, x, random, n_steps, progress):
        """Carry the standardized states ``x`` along the dynamics by ``method``."""
        times = self._time_grid(n_steps)
        desc = f"{type(self).__name__} {method}"
        if method == "sde":
            return euler_maruyama(self._drift, x, times, self._diffusion, random, progress, desc)
        return heun(self._velocity, x, times, progress, desc)


class UnweightedFitMixin:
    """``fit(X, y=None)`` without ``sample_weight``, for the estimators trained on minibatches:
    frequency weights would make the minibatch objective a different one, so none are offered."""

    def fit(self, X, y=None):
        """Fit the model to ``X`` (the estimator's module docstring).

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Training data, at least two distinct points.
        y : None
            Ignored.

        Returns
        -------
        self : object
            The fitted estimator.
        """
        del y
        return self._fit_skeleton(X, None)


class TransportMixin:
    """``transport(X_source, random_state=None, *, method=None, n_steps=None, progress=None)``.

    Moves given source points along the estimator's dynamics (the first of its
    ``_transport_methods`` by default) and returns where they end, in the caller's units.
    """

    _transport_methods = ("sde",)

    def transport(self, X_source, random_state=None, *, method=None, n_steps=None, progress=None):
        """Move source points along the estimator's dynamics.

        Parameters
        ----------
        X_source : array-like of shape (n_points, n_features)
            Starting points.
        random_state : int, RandomState instance or None, default=None
            Seed of the Brownian increments (unused by deterministic methods).
        method : str, default=None
            One of the estimator's transport methods (``None``: the first).
        n_steps : int, default=None
            Integration steps (``None``: the estimator's ``n_steps``).
        progress : bool, default=None
            Progress bar (``None``: the estimator's ``progress``).

        Returns
        -------
        ndarray of shape (n_points, n_features)
        """
        X_source = self._check_X(X_source, "X_source")
        seed("random_state", random_state)
        method = self._check_method(method, self._transport_methods)
        n_steps, progress = self._run_settings(n_steps, progress)
        U = self._standardize(X_source)
        random = RandomSource(random_state, U)
        U = self._integrate(method, U, random, n_steps, progress)
        return self._output(self._unstandardize(U), X_source)


class LogDensityMixin:
    """``score_samples`` (normalized log-density, nats) and ``score`` (its mean)."""

    def _divergence_field(self):
        """``(x, t) -> (velocity, divergence)`` of the ODE likelihood.

        The default takes the divergence of ``_velocity`` as the trace of its Jacobian over the
        basis vectors up to 16 features, and estimates it above (Hutchinson, one set of 16
        probes along the whole trajectory); a field with a closed-form divergence returns it
        instead.
        """
        if self.n_features_in_ <= _DIVERGENCE_PROBES:
            return exact_divergence(self._velocity)
        return hutchinson_divergence(self._velocity, _DIVERGENCE_PROBES, 0)

    def _base_log_density(self, x):
        """Log-density of the law at the start of the grid."""
        raise NotImplementedError

    def _log_density(self, U):
        """Log-density at standardized points; the default runs the ODE back to the base."""
        times = self._time_grid(self.n_steps)[::-1]
        base, integral = ode_log_likelihood(self._divergence_field(), U, times, self.progress,
                                            f"{type(self).__name__} likelihood")
        return self._base_log_density(base) + integral

    def score_samples(self, X):
        r"""Normalized log-density :math:`\log p(x)` of the model, in nats.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)

        Returns
        -------
        ndarray of shape (n_samples,)
        """
        X = self._check_X(X)
        log_density = self._log_density(self._standardize(X)) - X.shape[1] * math.log(self.scale_)
        return self._output(log_density, X)

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
        log_density = self.score_samples(X)
        return float(get_namespace(log_density).mean(log_density))


class BaseScoreModel(LogDensityMixin, BaseGenerativeModel):
    r"""Score-based model on the heat flow :math:`\eta(\cdot, t) = \pi * N(0, \beta^2 t I)`.

    A subclass supplies the score ``_score(x, t)`` (and optionally ``_score_laplacian(x, t)``
    for an exact divergence) in standardized coordinates. Sampling starts from
    :math:`N(0, (1 + \beta^2 T) I)`, the Gaussian with the mean and the average variance of
    :math:`\eta(\cdot, T)` (exact as :math:`\beta^2 T` grows), and stops at
    :math:`t_{\text{stop}} = \sigma_{\min}^2 / \beta^2`, where the noise left has standard
    deviation ``sigma_min`` (in units of the data's spread ``scale_``).
    """

    _parameter_constraints = {
        **BaseGenerativeModel._parameter_constraints,
        "beta": positive_real,
        "T": positive_real,
        "sigma_min": nonnegative_real,
    }
    _score_laplacian = None

    def _check_params(self):
        if self.sigma_min >= self.beta * math.sqrt(self.T):
            raise ValueError(f"Expected sigma_min < beta * sqrt(T) = "
                             f"{self.beta * math.sqrt(self.T):g}, the noise where sampling "
                             f"starts, got sigma_min={self.sigma_min}.")

    @property
    def _schedule(self):
        return HeatSchedule(self.beta, self.T)

    @property
    def _t_stop(self):
        return self._schedule.time_of(self.sigma_min)

    def _score(self, x, t):
        raise NotImplementedError

    def _time_grid(self, n_steps):
        spacing = "geometric" if self._t_stop > 0 else "linear"
        return self._schedule.grid(n_steps, self._t_stop, spacing)

    def _drift(self, x, t):
        return -self.beta**2 * self._score(x, t)

    def _diffusion(self, t):
        return self.beta

    def _velocity(self, x, t):
        return -0.5 * self.beta**2 * self._score(x, t)

    def _divergence_field(self):
        if self._score_laplacian is None:
            return super()._divergence_field()
        return self._schedule.velocity_divergence(self._score_laplacian)

    def _initial_state(self, n_samples, random):
        std = math.sqrt(1.0 + self.beta**2 * self.T)
        return std * random.normal((n_samples, self.n_features_in_))

    def _base_log_density(self, x):
        variance = 1.0 + self.beta**2 * self.T
        ns = get_namespace(x)
        return -0.5 * (ns.sum(x * x, 1) / variance + x.shape[1] * (_LOG_2PI + math.log(variance)))

    def score_function(self, X, t=None):
        r"""Score :math:`\nabla_x \log \eta(x, t)` of the heat-flowed density, in the caller's units.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
        t : float, default=None
            Time :math:`t \ge 0` of the heat flow (the noise added has standard deviation
            :math:`\beta\sqrt t` times ``scale_``); ``None`` means where sampling stops.

        Returns
        -------
        ndarray of shape (n_samples, n_features)
        """
        t = self._t_stop if t is None else check_time(t)
        return self._field_in_data_units(self._score, X, t, -1)


class BaseMixtureScore(BaseScoreModel):
    r"""Score models whose terminal density :math:`\pi` is a Gaussian mixture.

    A subclass overrides one hook, ``_fit_field(X, sample_weight)``, that returns the fitted
    :class:`~wpokernel.mixture.GaussianMixtureField` of :math:`\pi` in standardized
    coordinates (``field_``). The heat flow keeps it a mixture,
    :math:`\eta(\cdot, t) = \sum_j w_j N(z_j, C_j + \beta^2 t I)`, so besides the reverse SDE
    and the probability-flow ODE it is sampled exactly (``method="exact"``, the default), its
    score and Laplacian are closed form, and the model density
    :math:`\eta(\cdot, t_{\text{stop}})` is evaluated directly.
    """

    _sample_methods = ("exact", "sde", "ode")

    def _fit_field(self, X, sample_weight):
        """Return the :class:`~wpokernel.mixture.GaussianMixtureField` of :math:`\\pi`."""
        raise NotImplementedError

    def _fit(self, X, sample_weight):
        self.field_ = self._fit_field(X, sample_weight)

    def _device_state(self):
        return ("field_",)

    def _score(self, x, t):
        return self.field_.score(x, t)

    def _score_laplacian(self, x, t):
        return self.field_.score_laplacian(x, t)

    def _initial_state(self, n_samples, random):
        return self.field_.sample(n_samples, self.T, random)

    def _sample_exact(self, n_samples, random):
        return self.field_.sample(n_samples, self._t_stop, random)

    def _base_log_density(self, x):
        return self.field_.log_density(x, self.T)

    def _log_density(self, U):
        return self.field_.log_density(U, self._t_stop)

    def density_field(self):
        r"""The model density :math:`\eta(\cdot, t_{\text{stop}})` as a mixture in the caller's units.

        Components :math:`N(\mu + \rho z_j, \rho^2 (C_j + \beta^2 t_{\text{stop}} I))`, at
        time 0 of a heat flow with :math:`\beta = 1`: what an estimator with
        ``target=`` this model transports to (:mod:`~wpokernel.estimators._target`).

        Returns
        -------
        GaussianMixtureField
        """
        check_is_fitted(self)
        field = self.field_
        model = GaussianMixtureField(field.centers, field.covariance_at(self._t_stop),
                                     backend=field.backend, working_memory=field.working_memory)
        model.log_weights = field.log_weights
        moved = model.affine(self.mean_, self.scale_)
        return GaussianMixtureField(moved.centers, moved.covariance, moved.log_weights,
                                    backend=field.backend, working_memory=field.working_memory)
