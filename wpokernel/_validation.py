"""Hyper-parameter constraints, checked in ``fit`` against one table per estimator.

A constraint is a callable ``check(name, value)`` that returns nothing and raises a
``TypeError`` or ``ValueError`` whose message says "Expected ..., got ...". Estimators
declare ``_parameter_constraints = {name: constraint}``; subclasses merge their parent's
table. (scikit-learn's own table machinery is private API, so it is not used here.)
"""

import math
import numbers

import numpy as np

__all__ = [
    "boolean",
    "check_sample_weight",
    "nonnegative_real",
    "one_of",
    "positive_int",
    "positive_real",
    "real_or_option",
    "validate_params",
]


def _is_real(value):
    return isinstance(value, numbers.Real) and not isinstance(value, bool)


def _real(name, value):
    if not _is_real(value):
        raise TypeError(f"Expected a real number for {name}, got {type(value).__name__} {value!r}.")
    if not math.isfinite(value):
        raise ValueError(f"Expected a finite {name}, got {value}.")


def positive_real(name, value):
    """``value`` is a finite real number > 0."""
    _real(name, value)
    if value <= 0:
        raise ValueError(f"Expected {name} > 0, got {value}.")


def nonnegative_real(name, value):
    """``value`` is a finite real number >= 0."""
    _real(name, value)
    if value < 0:
        raise ValueError(f"Expected {name} >= 0, got {value}.")


def positive_int(name, value):
    """``value`` is an integer >= 1."""
    if not isinstance(value, numbers.Integral) or isinstance(value, bool):
        raise TypeError(f"Expected an integer for {name}, got {type(value).__name__} {value!r}.")
    if value < 1:
        raise ValueError(f"Expected {name} >= 1, got {value}.")


def nonnegative_int(name, value):
    """``value`` is an integer >= 0."""
    if not isinstance(value, numbers.Integral) or isinstance(value, bool):
        raise TypeError(f"Expected an integer for {name}, got {type(value).__name__} {value!r}.")
    if value < 0:
        raise ValueError(f"Expected {name} >= 0, got {value}.")


def open_fraction(name, value):
    """``value`` is a real number in the open interval (0, 1)."""
    _real(name, value)
    if not 0 < value < 1:
        raise ValueError(f"Expected {name} in (0, 1), got {value}.")


def optional(check):
    """Constraint: ``None`` or a value passing ``check``."""

    def check_or_none(name, value):
        if value is not None:
            check(name, value)

    return check_or_none


# NumPy's RandomState takes seeds below 2**32.
_SEED_BOUND = 2**32


def seed(name, value):
    """``value`` is None, an int in [0, 2**32) or a ``numpy.random.RandomState``, as
    scikit-learn accepts."""
    if value is not None and not isinstance(value, np.random.RandomState):
        nonnegative_int(name, value)
        if value >= _SEED_BOUND:
            raise ValueError(f"Expected {name} < 2**32, got {value}.")


def boolean(name, value):
    """``value`` is ``True`` or ``False``."""
    if not isinstance(value, bool):
        raise TypeError(f"Expected a bool for {name}, got {type(value).__name__} {value!r}.")


def one_of(*options):
    """Constraint: ``value`` is one of ``options``."""

    def check(name, value):
        if not isinstance(value, str) or value not in options:
            raise ValueError(f"Expected {name} in {options}, got {value!r}.")

    return check


def real_or_option(real_check, *options):
    """Constraint: a real number passing ``real_check``, or one of the string ``options``."""

    def check(name, value):
        if isinstance(value, str):
            one_of(*options)(name, value)
        else:
            real_check(name, value)

    return check


def check_sample_weight(sample_weight, n_samples):
    """Frequency weights of ``n_samples`` rows: finite, non-negative, with a positive sum.

    Parameters
    ----------
    sample_weight : None, float or array-like of shape (n_samples,)
        ``None`` gives unit weights and a number the same weight for every row.
    n_samples : int
        Number of rows.

    Returns
    -------
    ndarray of shape (n_samples,)

    Examples
    --------
    >>> check_sample_weight(None, 2), check_sample_weight(3, 2)
    (array([1., 1.]), array([3., 3.]))
    """
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


def validate_params(estimator):
    """Check every parameter of ``estimator`` against its ``_parameter_constraints``."""
    constraints = estimator._parameter_constraints
    for name, value in estimator.get_params(deep=False).items():
        constraints[name](name, value)
