r"""Noise schedules and time grids.

The forward (noising) process is the heat flow :math:`dY_s = \beta\, dW_s` (variance
exploding): started from :math:`\pi`, its law at noise time :math:`s` is
:math:`\eta(\cdot, s) = \pi * N(0, \beta^2 s I)`. The generative process runs it backwards,
from :math:`s = T` down to a noise floor :math:`s = \varepsilon` (the stopping time
:math:`t_{\text{stop}} = T - \varepsilon` of the mean-field-game view, where the optimal drift is
:math:`\beta^2 \nabla \log \eta(x, T - t)`).
"""

import numbers

import numpy as np

from ._validation import positive_real

__all__ = ["HeatSchedule"]

_VALID_SPACINGS = ("geometric", "linear")


class HeatSchedule:
    r"""Heat-flow (variance-exploding) schedule: variance :math:`\beta^2 s` at noise time ``s``.

    Parameters
    ----------
    beta : float, default=1.0
        Diffusion coefficient :math:`\beta` of :math:`dY_s = \beta\, dW_s`.
    T : float, default=1.0
        Terminal noise time; sampling starts from :math:`\eta(\cdot, T)`.
    """

    def __init__(self, beta=1.0, T=1.0):
        positive_real("beta", beta)
        positive_real("T", T)
        self.beta, self.T = float(beta), float(T)

    def variance(self, s):
        r"""Added variance :math:`\beta^2 s` of :math:`\eta(\cdot, s)`."""
        return self.beta**2 * s

    def noise_grid(self, n_steps, eps, spacing="geometric"):
        r"""Decreasing noise times :math:`T = s_0 > s_1 > \dots > s_{n} = \varepsilon`.

        ``"geometric"`` spaces :math:`\log s` evenly (equal relative steps, the natural grid
        for a variance-exploding process, since the score changes on the scale of
        :math:`\beta^2 s`); ``"linear"`` spaces :math:`s` evenly. ``eps = 0`` is allowed with
        ``"linear"`` only.

        Returns a float64 array of shape ``(n_steps + 1,)``.
        """
        if isinstance(n_steps, bool) or not isinstance(n_steps, numbers.Integral) or n_steps < 1:
            raise ValueError(f"Expected a positive integer n_steps, got {n_steps!r}.")
        if isinstance(eps, bool) or not isinstance(eps, numbers.Real) or not 0 <= eps < self.T:
            raise ValueError(f"Expected 0 <= eps < T = {self.T}, got {eps!r}.")
        if spacing not in _VALID_SPACINGS:
            raise ValueError(f"Expected spacing in {_VALID_SPACINGS}, got {spacing!r}.")
        if spacing == "linear":
            return np.linspace(self.T, eps, n_steps + 1)
        if eps == 0:
            raise ValueError("Expected eps > 0 for a geometric grid (log 0 is undefined); use eps > 0.")
        return np.geomspace(self.T, eps, n_steps + 1)
