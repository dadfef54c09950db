r"""Dynamics: time grids, the heat-flow schedule, integrators and divergence estimates.

Everything here takes a *callable field* — ``drift(x, t)``, ``velocity(x, t)`` or
``velocity_divergence(x, t)`` — and runs in the array library of the state it is given
(NumPy, torch on CPU or CUDA, CuPy), with seeded Brownian increments drawn there: a Gaussian
mixture on a GPU or a torch network is integrated where it lives. The estimators'
samplers and ODE log-likelihoods are these functions applied to their fields.
"""

from .divergence import autograd_divergence, exact_divergence, hutchinson_divergence
from .grids import check_grid, cosine_grid, counter_grid, gap_grid, heat_grid, squared_grid
from .heat import HeatSchedule
from .integrators import (
    euler,
    euler_maruyama,
    heun,
    ode_log_likelihood,
    probability_flow_ode,
    reverse_sde,
)

__all__ = [
    "HeatSchedule",
    "autograd_divergence",
    "check_grid",
    "cosine_grid",
    "counter_grid",
    "euler",
    "euler_maruyama",
    "exact_divergence",
    "gap_grid",
    "heat_grid",
    "heun",
    "hutchinson_divergence",
    "ode_log_likelihood",
    "probability_flow_ode",
    "reverse_sde",
    "squared_grid",
]
