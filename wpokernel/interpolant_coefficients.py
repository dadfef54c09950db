r"""Coefficients of spatially linear stochastic interpolants [ABV2023]_.

A stochastic interpolant between a source :math:`x_0 \sim \rho_0` and a target
:math:`x_1 \sim \rho_1` is

.. math::

    x_t = \alpha(t)\, x_0 + \beta(t)\, x_1 + \gamma(t)\, z, \qquad z \sim N(0, I),
    \qquad t \in [0, 1],

with :math:`\alpha(0) = \beta(1) = 1`, :math:`\alpha(1) = \beta(0) = 0` and
:math:`\gamma(0) = \gamma(1) = 0`. Families of :math:`(\alpha, \beta)`:

* ``"linear"``: :math:`\alpha = 1 - t`, :math:`\beta = t`;
* ``"trigonometric"``: :math:`\alpha = \cos(\pi t / 2)`, :math:`\beta = \sin(\pi t / 2)`;
* ``"sbdm"``: :math:`\alpha = \sqrt{1 - t^2}`, :math:`\beta = t`, the one-sided interpolant of a
  Gaussian base that a variance-preserving score-based diffusion model follows (in another
  clock).

With a Gaussian base :math:`x_0 \sim N(0, I)` every family is one-sided: :math:`\alpha x_0 +
\gamma z` is one Gaussian of variance :math:`\alpha^2 + \gamma^2`. Shapes of the latent noise,
with scale :math:`a > 0`:

* ``"zero"``: :math:`\gamma = 0`;
* ``"sqrt"``: :math:`\gamma = \sqrt{a\, t (1 - t)}`;
* ``"quadratic"``: :math:`\gamma = \sqrt{a}\; t (1 - t)`.

Two derivatives are singular at an end point: :math:`\dot\gamma` of ``"sqrt"`` at
:math:`t = 0` and :math:`t = 1`, and :math:`\dot\alpha` of ``"sbdm"`` at :math:`t = 1` (both
returned as :math:`\pm\infty`). The dynamics need only the products

.. math::

    \alpha\dot\alpha = \tfrac12 \tfrac{d}{dt}\alpha^2, \qquad
    \gamma\dot\gamma = \tfrac12 \tfrac{d}{dt}\gamma^2,

which are finite on all of :math:`[0, 1]` (e.g. :math:`\gamma\dot\gamma = a (1 - 2t) / 2` for
``"sqrt"``), so they are provided in closed form.

References
----------
.. [ABV2023] M. S. Albergo, N. M. Boffi, E. Vanden-Eijnden, "Stochastic interpolants: a
   unifying framework for flows and diffusions", arXiv:2303.08797, 2023.
"""

import math
import numbers
from typing import NamedTuple

import numpy as np

from ._validation import one_of, positive_real

__all__ = ["InterpolantCoefficients", "CoefficientValues", "FAMILIES", "GAMMAS", "check_times"]


# ----------------------------------------------------------------------------------------
# Families: (alpha, alpha_dot, alpha * alpha_dot, beta, beta_dot) at times t
# ----------------------------------------------------------------------------------------


def _linear(t):
    one = np.ones_like(t)
    return 1 - t, -one, t - 1, t, one


def _trigonometric(t):
    half_pi = 0.5 * math.pi
    cos, sin = np.cos(half_pi * t), np.sin(half_pi * t)
    return cos, -half_pi * sin, -half_pi * cos * sin, sin, half_pi * cos


def _sbdm(t):
    alpha = np.sqrt(1 - t**2)
    with np.errstate(divide="ignore"):
        alpha_dot = -t / alpha
    return alpha, alpha_dot, -t, t, np.ones_like(t)


# ----------------------------------------------------------------------------------------
# Latent-noise shapes at scale a = 1: (gamma, gamma_dot, gamma * gamma_dot)
# ----------------------------------------------------------------------------------------


def _zero(t):
    zero = np.zeros_like(t)
    return zero, zero, zero


def _sqrt(t):
    gamma = np.sqrt(t * (1 - t))
    with np.errstate(divide="ignore"):
        gamma_dot = (1 - 2 * t) / (2 * gamma)
    return gamma, gamma_dot, 0.5 * (1 - 2 * t)


def _quadratic(t):
    gamma = t * (1 - t)
    return gamma, 1 - 2 * t, gamma * (1 - 2 * t)


FAMILIES = {"linear": _linear, "trigonometric": _trigonometric, "sbdm": _sbdm}
GAMMAS = {"zero": _zero, "sqrt": _sqrt, "quadratic": _quadratic}


class CoefficientValues(NamedTuple):
    """Interpolant coefficients at one time or an array of times (fields as named)."""

    alpha: object
    alpha_dot: object
    alpha_alpha_dot: object
    beta: object
    beta_dot: object
    gamma: object
    gamma_dot: object
    gamma_gamma_dot: object

    @property
    def noise_variance(self):
        r""":math:`\sigma^2 = \alpha^2 + \gamma^2`, the variance of :math:`\alpha x_0 + \gamma z`
        for a standard Gaussian base."""
        return self.alpha**2 + self.gamma**2

    @property
    def noise_variance_rate(self):
        r""":math:`\tfrac12 \tfrac{d}{dt}\sigma^2 = \alpha\dot\alpha + \gamma\dot\gamma` (finite on [0, 1])."""
        return self.alpha_alpha_dot + self.gamma_gamma_dot


def check_times(t):
    """Validate a time or an array of times in :math:`[0, 1]`; return them as a float array."""
    if isinstance(t, bool) or not isinstance(t, (numbers.Real, np.ndarray)):
        raise TypeError(f"Expected a real time t or an array of times, got {type(t).__name__} {t!r}.")
    times = np.asarray(t, dtype=float)
    if not np.all(np.isfinite(times)) or np.any(times < 0) or np.any(times > 1):
        raise ValueError(f"Expected times t in [0, 1], got {t!r}.")
    return times


class InterpolantCoefficients:
    r"""The coefficients :math:`\alpha, \beta, \gamma` of an interpolant and their derivatives.

    .. math::

        x_t = \alpha(t)\, x_0 + \beta(t)\, x_1 + \gamma(t)\, z

    (families and shapes in the module docstring, [ABV2023]_).

    Parameters
    ----------
    family : {"linear", "trigonometric", "sbdm"}, default="linear"
        The pair :math:`(\alpha, \beta)`.
    gamma : {"zero", "sqrt", "quadratic"}, default="zero"
        Shape of the latent noise :math:`\gamma`.
    gamma_scale : float, default=1.0
        Scale :math:`a > 0`: :math:`\gamma^2` is proportional to :math:`a`.

    Examples
    --------
    >>> from wpokernel.interpolant_coefficients import InterpolantCoefficients
    >>> c = InterpolantCoefficients("linear", gamma="sqrt", gamma_scale=2.0)(0.5)
    >>> float(c.alpha), float(c.beta), float(c.gamma), float(c.gamma_gamma_dot)
    (0.5, 0.5, 0.7071067811865476, 0.0)
    """

    def __init__(self, family="linear", gamma="zero", gamma_scale=1.0):
        one_of(*FAMILIES)("family", family)
        one_of(*GAMMAS)("gamma", gamma)
        positive_real("gamma_scale", gamma_scale)
        self.family = family
        self.gamma = gamma
        self.gamma_scale = float(gamma_scale)

    def __call__(self, t):
        r"""All coefficients at ``t``.

        Parameters
        ----------
        t : float or ndarray
            Times in :math:`[0, 1]`.

        Returns
        -------
        CoefficientValues
            Arrays of the shape of ``t`` (0-d for a float).
        """
        times = check_times(t)
        alpha, alpha_dot, alpha_alpha_dot, beta, beta_dot = FAMILIES[self.family](times)
        shape, shape_dot, shape_shape_dot = GAMMAS[self.gamma](times)
        root = math.sqrt(self.gamma_scale)
        return CoefficientValues(alpha, alpha_dot, alpha_alpha_dot, beta, beta_dot, root * shape,
                                 root * shape_dot, self.gamma_scale * shape_shape_dot)

    def __repr__(self):
        return (f"InterpolantCoefficients(family={self.family!r}, gamma={self.gamma!r}, "
                f"gamma_scale={self.gamma_scale:g})")
