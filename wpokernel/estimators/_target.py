r"""Target measures of the closed-form generative estimators, and their template base.

The interpolant, bridge and flow estimators transport a source to a *target* measure of the
data :math:`x_1, \dots, x_n` (frequency weights :math:`w_i`), in the standardized coordinates
of :mod:`~wpokernel.estimators._standardize`. Their closed-form drifts are softmax
reductions over the components of that target, so any Gaussian mixture serves:

* ``target=None`` — the empirical measure :math:`\frac{1}{\sum_i w_i}\sum_i w_i \delta_{x_i}`
  (zero covariances): the memorizing case, whose samples land on training points;
* ``target=h`` (a float :math:`h \ge 0`, in units of the data's spread) or ``"scott"`` /
  ``"silverman"`` — the Gaussian KDE :math:`\frac{1}{\sum_i w_i}\sum_i w_i N(x_i, h^2 I)`;
* ``target=estimator`` — any mixture score model of this package (``EmpiricalScore``,
  ``WPOKernelScore``): a clone is fitted on the data and its model density
  (:meth:`~wpokernel.estimators._base.BaseMixtureScore.density_field`) is the target.
  This is how the estimators inherit the learned covariances and stop copying the data.

:class:`BaseTargetSampler` is the base of those estimators: its ``_fit`` runs the hook
``_prepare(X, weight, **inputs)`` (what needs only the data, so that its errors come before
any fitting), fits the target (``target_field_``, ``target_estimator_``), then runs the hook
``_fit_hook(X, weight)`` (what needs the target). At time :math:`t` the state of each of
these dynamics is, given the component :math:`j`, Gaussian, and the drift averages
closed-form per-component terms with the posterior weights

.. math::

    \omega_j(x, t) = \operatorname{softmax}_j\Big(\log w_j + b_j
        + \log N\big(x;\, a_t \mu_j,\, a_t^2 C_j + \sigma_t^2 I\big)\Big),

with :math:`(a_t, \sigma_t^2)` = :math:`(\beta(t), \alpha^2 + \gamma^2)` for the
interpolant, :math:`(t, t(1 - t))` for the Föllmer bridge, :math:`(1, \varepsilon(1 - t))` for
the Schrödinger bridge, whose logit biases :math:`b_j = g_j / \varepsilon` are the Sinkhorn
potentials (:math:`b_j = 0` elsewhere), and :math:`(1, \sigma^2)` for the score-difference
flow.
"""

import inspect

import numpy as np
from sklearn.base import clone

from .._validation import nonnegative_real
from ..mixture import GaussianMixtureField
from ._base import BaseGenerativeModel, BaseMixtureScore
from .empirical import _BANDWIDTH_RULES, bandwidth_rule, kernel_density_field

__all__ = ["BaseTargetSampler", "check_target", "fit_target"]


def check_target(name, value):
    """Constraint: ``None``, a bandwidth ``h >= 0``, a bandwidth rule or a mixture score model."""
    if value is None or isinstance(value, BaseMixtureScore):
        return
    if isinstance(value, str):
        if value not in _BANDWIDTH_RULES:
            raise ValueError(f"Expected {name} to be None, a bandwidth >= 0, one of "
                             f"{_BANDWIDTH_RULES} or a mixture score model, got {value!r}.")
        return
    try:
        nonnegative_real(name, value)
    except (TypeError, ValueError) as exc:
        raise type(exc)(f"Expected {name} to be None, a bandwidth >= 0, one of {_BANDWIDTH_RULES} "
                        f"or a mixture score model such as WPOKernelScore(), got {value!r}.") from exc


def _takes_sample_weight(estimator):
    return "sample_weight" in inspect.signature(estimator.fit).parameters


def fit_target(target, X, sample_weight=None, *, standardization=(0.0, 1.0), backend="auto",
               working_memory=256):
    """Fit the target measure of ``X`` described by ``target`` (see the module docstring).

    Parameters
    ----------
    target : None, float, {"scott", "silverman"} or BaseMixtureScore
        Checked by :func:`check_target`.
    X : ndarray of shape (n_samples, n_features)
        Validated training data, in the caller's standardized coordinates.
    sample_weight : ndarray of shape (n_samples,), default=None
        Non-negative frequency weights (:func:`~wpokernel._validation.check_sample_weight`).
        A target model whose ``fit`` takes none (``WPOKernelScore``) accepts only ``None``
        or unit weights.
    standardization : (array-like of shape (n_features,), float), default=(0, 1)
        The mean and scale of the coordinates of ``X``: a target model is fitted to the data
        in their own units, ``mean + scale * X``, and its model density is brought back to
        the coordinates of ``X``.
    backend, working_memory
        Reduction settings of the returned field.

    Returns
    -------
    field : GaussianMixtureField
        The target mixture in the coordinates of ``X``, with ``beta = 1``.
    estimator : BaseMixtureScore or None
        The fitted clone when ``target`` is an estimator, else ``None``.

    Examples
    --------
    >>> import numpy as np
    >>> field, estimator = fit_target(0.5, np.array([[0.0], [2.0]]))
    >>> field.log_density(np.array([[1.0]])).round(4), estimator
    (array([-2.2258]), None)
    """
    if isinstance(target, BaseMixtureScore):
        return _fit_target_estimator(target, X, sample_weight, standardization, backend,
                                     working_memory)
    weight = np.ones(len(X)) if sample_weight is None else np.asarray(sample_weight, dtype=float)
    if target is None:
        bandwidth = 0.0
    elif isinstance(target, str):
        bandwidth = bandwidth_rule(X, target, weight)
    else:
        bandwidth = float(target)
    return kernel_density_field(X, bandwidth, weight, backend=backend,
                                working_memory=working_memory), None


def _fit_target_estimator(target, X, sample_weight, standardization, backend, working_memory):
    """The model density of a clone of ``target`` fitted to the data, and the clone."""
    weighted = sample_weight is not None and np.any(np.asarray(sample_weight) != 1)
    if weighted and not _takes_sample_weight(target):
        raise ValueError(f"Expected sample_weight=None with target={type(target).__name__}(...), "
                         "which takes no sample weights, got weights. Repeat rows of X to "
                         "weight them by integers, or use a KDE target.")
    mean, scale = standardization
    estimator = clone(target)
    if weighted:
        estimator.fit(mean + scale * X, sample_weight=sample_weight)
    else:
        estimator.fit(mean + scale * X)
    field = estimator.density_field().affine(-np.asarray(mean) / scale, 1.0 / scale)
    return GaussianMixtureField(field.centers, field.covariance, field.log_weights,
                                backend=backend, working_memory=working_memory), estimator


class BaseTargetSampler(BaseGenerativeModel):
    """Fit skeleton of the estimators driven by a target measure (module docstring)."""

    _parameter_constraints = {**BaseGenerativeModel._parameter_constraints, "target": check_target}

    # ---------------------------------------------------------------- hooks
    def _prepare(self, X, weight):
        """Check and fit what needs only the data, before the target is fitted."""

    def _fit_hook(self, X, weight):
        """Fit what needs the target mixture ``target_field_``."""

    def _device_state(self):
        return ("target_field_",)

    def _fit(self, X, sample_weight, **inputs):
        self._prepare(X, sample_weight, **inputs)
        self.target_field_, self.target_estimator_ = fit_target(
            self.target, X, sample_weight, standardization=(self.mean_, self.scale_),
            backend=self.backend, working_memory=self.working_memory)
        self._fit_hook(X, sample_weight)
