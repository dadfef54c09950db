r"""Target measures of the closed-form generative estimators.

The interpolant, bridge and flow estimators transport a source to a *target* measure of the
data :math:`x_1, \dots, x_n` (frequency weights :math:`w_i`). Their closed-form drifts are
softmax reductions over the components of that target, so any Gaussian mixture serves:

* ``target=None`` — the empirical measure :math:`\frac{1}{\sum_i w_i}\sum_i w_i \delta_{x_i}`
  (zero covariances): the memorizing case, whose samples land on training points;
* ``target=h`` (a float :math:`h \ge 0`) or ``"scott"`` / ``"silverman"`` — the Gaussian
  KDE :math:`\frac{1}{\sum_i w_i}\sum_i w_i N(x_i, h^2 I)`;
* ``target=estimator`` — any mixture score model of this package (``EmpiricalScore``,
  ``WPOKernelScore``): a clone is fitted on the data and its model density
  :math:`\eta(\cdot, \varepsilon) = \pi_\theta * N(0, \beta^2 \varepsilon I)` is the target.
  This is how the estimators inherit the learned covariances and stop copying the data.
"""

import inspect

import numpy as np
from sklearn.base import clone

from .._validation import nonnegative_real
from ..mixture import GaussianMixtureField
from ..reductions import Isotropic
from ._base import BaseMixtureScore
from .empirical import _BANDWIDTH_RULES, bandwidth_rule

__all__ = ["check_target", "fit_target", "mixture_mean"]


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


def fit_target(target, X, sample_weight=None, *, backend="auto", working_memory=256):
    """Fit the target measure of ``X`` described by ``target`` (see the module docstring).

    Parameters
    ----------
    target : None, float, {"scott", "silverman"} or BaseMixtureScore
        Checked by :func:`check_target`.
    X : ndarray of shape (n_samples, n_features)
        Validated training data.
    sample_weight : ndarray of shape (n_samples,), default=None
        Non-negative frequency weights (:func:`~wpokernel._validation.check_sample_weight`).
        A target model whose ``fit`` takes none (``WPOKernelScore``) accepts only ``None``
        or unit weights.
    backend, working_memory
        Reduction settings of the returned field.

    Returns
    -------
    field : GaussianMixtureField
        The target mixture, with ``beta = 1``.
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
        return _fit_target_estimator(target, X, sample_weight, backend, working_memory)
    weight = np.ones(len(X)) if sample_weight is None else np.asarray(sample_weight, dtype=float)
    if target is None:
        bandwidth = 0.0
    elif isinstance(target, str):
        bandwidth = bandwidth_rule(X, target, weight)
    else:
        bandwidth = float(target)
    keep = weight > 0
    return GaussianMixtureField(X[keep], Isotropic(bandwidth**2), np.log(weight[keep]),
                                backend=backend, working_memory=working_memory), None


def _fit_target_estimator(target, X, sample_weight, backend, working_memory):
    """The model density of a fitted clone of ``target`` as a mixture field, and the clone."""
    weighted = sample_weight is not None and np.any(np.asarray(sample_weight) != 1)
    if weighted and not _takes_sample_weight(target):
        raise ValueError(f"Expected sample_weight=None with target={type(target).__name__}(...), "
                         "which takes no sample weights, got weights. Repeat rows of X to "
                         "weight them by integers, or use a KDE target.")
    estimator = clone(target)
    if weighted:
        estimator.fit(X, sample_weight=sample_weight)
    else:
        estimator.fit(X)
    field = estimator.field_
    return GaussianMixtureField(field.centers, field.covariance_at(estimator.eps), field.log_weights,
                                backend=backend, working_memory=working_memory), estimator


def mixture_mean(field):
    r"""Mean :math:`\sum_j w_j \mu_j` of a mixture field, an ndarray of shape (n_features,)."""
    return np.exp(field.log_weights) @ field.centers
