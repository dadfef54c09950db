r"""The heat flow (variance-exploding) schedule and its two generative dynamics.

The forward (noising) process is the heat flow :math:`dY_t = \beta\, dW_t`: started from
:math:`\pi`, its law at time :math:`t` is :math:`\eta(\cdot, t) = \pi * N(0, \beta^2 t I)`. The
generative process runs it backwards, from :math:`t = T` down to :math:`t_{\text{stop}}`
(in the mean-field-game view the optimal drift is :math:`\beta^2 \nabla \log \eta(x, T - \tau)`
at game time :math:`\tau`). With :math:`g = \nabla \log \eta`, on a decreasing grid:

* the reverse SDE has drift :math:`-\beta^2 g` per unit :math:`dt` (so it moves along
  :math:`+\beta^2 g` as :math:`t` decreases) and diffusion :math:`\beta`;
* the probability-flow ODE has velocity :math:`dx/dt = -\tfrac12 \beta^2 g`, whose divergence
  is :math:`-\tfrac12 \beta^2 \Delta \log \eta`.

Both keep the marginals :math:`\eta(\cdot, t)`, so started from a draw of :math:`\eta(\cdot, T)`
they end near :math:`\eta(\cdot, t_{\text{stop}})`. The noise left where they stop has
standard deviation :math:`\sigma = \beta \sqrt{t}`: :meth:`HeatSchedule.time_of` and
:meth:`HeatSchedule.noise_of` convert.
"""

import math

from .._validation import nonnegative_real, positive_real
from .grids import heat_grid

__all__ = ["HeatSchedule"]


class HeatSchedule:
    r"""Heat-flow schedule: variance :math:`\beta^2 t` at time ``t``, from ``T`` to a stop.

    Parameters
    ----------
    beta : float, default=1.0
        Diffusion coefficient :math:`\beta` of :math:`dY_t = \beta\, dW_t`.
    T : float, default=1.0
        Time where sampling starts from :math:`\eta(\cdot, T)`.

    Examples
    --------
    >>> schedule = HeatSchedule(beta=2.0, T=1.0)
    >>> round(schedule.time_of(0.2), 12), schedule.noise_of(0.01)
    (0.01, 0.2)
    """

    def __init__(self, beta=1.0, T=1.0):
        positive_real("beta", beta)
        positive_real("T", T)
        self.beta, self.T = float(beta), float(T)

    def variance(self, t):
        r"""Added variance :math:`\beta^2 t` of :math:`\eta(\cdot, t)`."""
        return self.beta**2 * t

    def time_of(self, sigma):
        r"""Time :math:`t = \sigma^2 / \beta^2` where the added noise has standard deviation :math:`\sigma`."""
        nonnegative_real("sigma", sigma)
        return float(sigma) ** 2 / self.beta**2

    def noise_of(self, t):
        r"""Standard deviation :math:`\beta \sqrt{t}` of the noise added by time ``t``."""
        nonnegative_real("t", t)
        return self.beta * math.sqrt(t)

    def grid(self, n_steps, t_stop, spacing="geometric"):
        """Decreasing times from ``T`` to ``t_stop`` (:func:`~wpokernel.dynamics.grids.heat_grid`)."""
        return heat_grid(self.T, t_stop, n_steps, spacing)

    def reverse_drift(self, score):
        r"""Drift :math:`-\beta^2 g(x, t)` of the reverse SDE, a callable ``(x, t)``."""
        return lambda x, t: -self.beta**2 * score(x, t)

    def diffusion(self, t):
        r"""Diffusion :math:`\beta` of the reverse SDE (constant)."""
        del t
        return self.beta

    def velocity(self, score):
        r"""Probability-flow velocity :math:`-\tfrac12 \beta^2 g(x, t)`, a callable ``(x, t)``."""
        return lambda x, t: -0.5 * self.beta**2 * score(x, t)

    def velocity_divergence(self, score_laplacian):
        r"""Velocity and its exact divergence :math:`-\tfrac12 \beta^2 \Delta \log \eta` from a
        callable ``score_laplacian(x, t)`` returning :math:`(g, \Delta \log \eta)`."""
        def field(x, t):
            score, laplacian = score_laplacian(x, t)
            return -0.5 * self.beta**2 * score, -0.5 * self.beta**2 * laplacian

        return field
