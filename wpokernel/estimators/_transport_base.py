r"""Template base of the estimators that carry a source to the target measure of the data.

The stochastic interpolant, the Schrödinger and Föllmer bridges and the score-difference flow
share one skeleton: fit the target measure :math:`\pi` of the data
(:func:`~wpokernel.estimators._target.fit_target`: the empirical measure, a KDE or a fitted
mixture score model), then move points by dynamics whose drift is a softmax reduction over the
components of :math:`\pi = \sum_j w_j N(\mu_j, C_j)`: at time :math:`t` the state is, given
the component :math:`j`, Gaussian, and the drift averages closed-form per-component terms
:math:`v_j(x, t)` with the posterior weights

.. math::

    \omega_j(x, t) = \operatorname{softmax}_j\Big(\log w_j + b_j
        + \log N\big(x;\, a_t \mu_j,\, a_t^2 C_j + \sigma_t^2 I\big)\Big),

with :math:`(a_t, \sigma_t^2)` = :math:`(\beta(t), \alpha^2 + \gamma^2)` for the
interpolant, :math:`(t, t(1 - t))` for the Föllmer bridge, :math:`(1, \varepsilon(1 - t))` for
the Schrödinger bridge, whose logit biases :math:`b_j = g_j / \varepsilon` are the Sinkhorn
potentials (:math:`b_j = 0` elsewhere), and :math:`(1, \sigma^2)` for the score-difference
flow. :class:`BaseTargetSampler` owns the loop,

* ``fit``: parameter and data checks, frequency weights, the hook ``_check_fit(X, weight)``
  (what needs only the data, so that its errors come before any fitting), the target
  (``target_field_``, ``target_estimator_``), the hook ``_fit_hook(X, weight)`` (what needs
  the target);
* ``sample``: the checks of :class:`~wpokernel.estimators._base.BaseSampler`, then the hook
  ``_sample(n_samples, rng, n_steps, progress)`` that runs the dynamics;

and a subclass overrides those hooks it needs.
"""

import numpy as np
from sklearn.utils.validation import validate_data

from .._validation import check_sample_weight, validate_params
from ._base import BaseSampler
from ._target import check_target, fit_target

__all__ = ["BaseTargetSampler"]


class BaseTargetSampler(BaseSampler):
    """Fit and sample skeleton of the estimators driven by a target measure (module docstring)."""

    _parameter_constraints = {**BaseSampler._parameter_constraints, "target": check_target}

    # ---------------------------------------------------------------- hooks
    def _min_samples(self):
        """Rows ``fit`` needs: a bandwidth rule needs two."""
        return 2 if isinstance(self.target, str) else 1

    def _check_fit(self, X, weight):
        """Check and fit what needs only the data, before the target is fitted."""

    def _fit_hook(self, X, weight):
        """Fit what needs the target mixture ``target_field_``."""

    def _sample(self, n_samples, rng, n_steps, progress):
        """Run the dynamics for ``n_samples`` points; the arguments are checked."""
        raise NotImplementedError

    # ---------------------------------------------------------------- fit
    def fit(self, X, y=None, sample_weight=None):
        """Fit the target measure of ``X`` and what the dynamics need.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Training data.
        y : None
            Ignored.
        sample_weight : array-like of shape (n_samples,), default=None
            Non-negative frequency weights (a weight of 2 is the same as repeating the row);
            only unit weights with a target model whose ``fit`` takes none (``WPOKernelScore``).

        Returns
        -------
        self : object
            The fitted estimator.
        """
        del y
        return self._fit(X, sample_weight)

    def _fit(self, X, sample_weight, **inputs):
        """Fit skeleton; ``inputs`` are a subclass's own ``fit`` arguments, for ``_check_fit``."""
        validate_params(self)
        X = validate_data(self, X, dtype=np.float64, ensure_min_samples=self._min_samples())
        weight = check_sample_weight(sample_weight, X.shape[0])
        self._check_fit(X, weight, **inputs)
        self.target_field_, self.target_estimator_ = fit_target(
            self.target, X, weight, backend=self.backend, working_memory=self.working_memory)
        self._fit_hook(X, weight)
        return self

    # ---------------------------------------------------------------- sampling
    def sample(self, n_samples=1, random_state=None, *, n_steps=None, progress=None):
        """Generate samples by the estimator's dynamics (see the class docstring).

        Parameters
        ----------
        n_samples : int, default=1
            Number of samples.
        random_state : int, RandomState instance or None, default=None
            Seed; an int gives reproducible samples.
        n_steps : int, default=None
            Integration steps (``None``: the estimator's ``n_steps``).
        progress : bool, default=None
            Progress bar (``None``: the estimator's ``progress``).

        Returns
        -------
        X : ndarray of shape (n_samples, n_features)
        """
        rng, n_steps, progress = self._sampling_settings(n_samples, random_state, n_steps, progress)
        return self._sample(n_samples, rng, n_steps, progress)
