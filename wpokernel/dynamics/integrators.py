r"""Time integrators for drift fields: Euler–Maruyama, Euler, Heun, and the ODE log-likelihood.

Generic integrators over any strictly monotone time grid :math:`t_0, t_1, \dots, t_n`
(:mod:`wpokernel.dynamics.grids`; increasing for forward flows, decreasing for reverse-time
ones), with :math:`\Delta t_k = t_{k+1} - t_k` of either sign:

* SDE :math:`dx = b(x, t)\,dt + g(t)\,dW`, Euler–Maruyama:
  :math:`x_{k+1} = x_k + b(x_k, t_k)\,\Delta t_k + g(t_k) \sqrt{|\Delta t_k|}\, \xi_k`;
* ODE :math:`dx/dt = v(x, t)`, explicit Euler (first order):
  :math:`x_{k+1} = x_k + \Delta t_k\, v(x_k, t_k)`;
* ODE :math:`dx/dt = v(x, t)`, Heun (trapezoidal predictor–corrector):
  :math:`\tilde x = x_k + \Delta t_k v(x_k, t_k)`,
  :math:`x_{k+1} = x_k + \tfrac12 \Delta t_k \big(v(x_k, t_k) + v(\tilde x, t_{k+1})\big)`;
* the instantaneous change of variables along the same ODE,
  :math:`\frac{d}{dt} \log p_t(x_t) = -\nabla\cdot v(x_t, t)`, integrated by Heun jointly with
  :math:`x_t`, with the exact divergence or a Hutchinson estimate
  (:mod:`wpokernel.dynamics.divergence`).

Every integrator runs in the array library of its starting state — NumPy, torch (CPU or
CUDA) or CuPy — with the Brownian increments drawn there by a seeded
:class:`~wpokernel.reductions.RandomSource`: a field that lives on a GPU is integrated on the
GPU, and nothing crosses to the host between steps. The heat-flow samplers
:func:`reverse_sde` and :func:`probability_flow_ode` are the special cases of
:class:`~wpokernel.dynamics.heat.HeatSchedule`.
"""

import math

import numpy as np
from tqdm.auto import tqdm

from ..reductions import RandomSource, get_namespace
from .grids import check_grid
from .heat import HeatSchedule

__all__ = ["euler", "euler_maruyama", "heun", "ode_log_likelihood", "probability_flow_ode",
           "reverse_sde"]


def _state(x):
    """A private copy of the state: floating NumPy (integers become float64), or the torch /
    CuPy array itself copied on its device, in its dtype."""
    ns = get_namespace(x)
    if ns.name != "numpy":
        return ns, ns.copy(x)
    x = np.asarray(x)
    return ns, np.array(x, dtype=x.dtype if x.dtype.kind == "f" else np.float64)


def _steps(times, progress, desc, direction=None):
    """Pairs of consecutive times of a strictly monotone grid, behind a progress bar."""
    grid = check_grid(times, direction)
    return tqdm(zip(grid[:-1].tolist(), grid[1:].tolist()), total=grid.size - 1,
                disable=not progress, desc=desc, leave=False)


def euler_maruyama(drift, x, times, diffusion, random_state=None, progress=False,
                   desc="SDE", direction=None):
    r"""Integrate :math:`dx = b(x, t)\,dt + g(t)\,dW` with Euler–Maruyama.

    Parameters
    ----------
    drift : callable
        ``drift(x, t)`` returning :math:`b(x, t)` of the shape of ``x``, in its library.
    x : array of shape (n_samples, n_features)
        State at ``times[0]`` (NumPy, torch or CuPy).
    times : array-like of shape (n_steps + 1,)
        Strictly monotone times.
    diffusion : float or callable
        :math:`g(t)`, a constant or ``diffusion(t)``.
    random_state : int, RandomState, RandomSource or None
        Seed of the Brownian increments, drawn in the library and on the device of ``x``.
    progress : bool, default=False
        Show a progress bar labelled ``desc``.
    direction : {-1, 1, None}, default=None
        Required direction of the grid (``None``: either).

    Returns
    -------
    array of shape (n_samples, n_features)
        State at ``times[-1]``, in the library of ``x``.
    """
    ns, x = _state(x)
    random = random_state if isinstance(random_state, RandomSource) else RandomSource(random_state, x)
    g = diffusion if callable(diffusion) else (lambda t: diffusion)
    for t, t_next in _steps(times, progress, desc, direction):
        dt = t_next - t
        x = x + dt * drift(x, t) + (g(t) * math.sqrt(abs(dt))) * random.normal(x.shape)
    return x


def euler(velocity, x, times, progress=False, desc="ODE", direction=None):
    r"""Integrate :math:`dx/dt = v(x, t)` with the explicit Euler method.

    :math:`x_{k+1} = x_k + \Delta t_k\, v(x_k, t_k)`: one velocity evaluation a step and a
    global error :math:`O(\max_k |\Delta t_k|)`. Parameters as in :func:`euler_maruyama`,
    without noise.

    Returns
    -------
    array of shape (n_samples, n_features)
        State at ``times[-1]``.

    Examples
    --------
    >>> import numpy as np
    >>> euler(lambda x, t: -x, np.ones((1, 1)), [0.0, 0.5, 1.0])  # (1 - 1/2)^2, not exp(-1)
    array([[0.25]])
    """
    _, x = _state(x)
    for t, t_next in _steps(times, progress, desc, direction):
        x = x + (t_next - t) * velocity(x, t)
    return x


def heun(velocity, x, times, progress=False, desc="ODE", direction=None):
    r"""Integrate :math:`dx/dt = v(x, t)` with Heun's method (parameters as in :func:`euler_maruyama`).

    Returns the state at ``times[-1]``, shape ``(n_samples, n_features)``.
    """
    _, x = _state(x)
    for t, t_next in _steps(times, progress, desc, direction):
        dt = t_next - t
        v = velocity(x, t)
        x = x + 0.5 * dt * (v + velocity(x + dt * v, t_next))
    return x


def ode_log_likelihood(velocity_divergence, x, times, progress=False, desc="ODE likelihood"):
    r"""Carry points along :math:`dx/dt = v(x, t)` and accumulate :math:`\int \nabla\cdot v\, dt`.

    Along a trajectory of the ODE, :math:`\log p_{t_n}(x_{t_n}) = \log p_{t_0}(x_{t_0}) -
    \int_{t_0}^{t_n} \nabla\cdot v(x_t, t)\, dt`. To evaluate a model density at data points,
    start at the data time and integrate to the base time: then
    :math:`\log p_{\text{data}}(x) = \log p_{\text{base}}(x_{\text{end}}) + \text{integral}`
    with the integral returned here taken from the data time to the base time.

    Parameters
    ----------
    velocity_divergence : callable
        ``velocity_divergence(x, t)`` returning ``(v, div)``: :math:`v(x, t)` of the shape of
        ``x`` and :math:`\nabla\cdot v(x, t)` of shape ``(n_samples,)``, exact or a Hutchinson
        estimate (:func:`~wpokernel.dynamics.divergence.hutchinson_divergence`).
    x : array of shape (n_samples, n_features)
        State at ``times[0]``.
    times : array-like of shape (n_steps + 1,)
        Strictly monotone times.
    progress : bool, default=False

    Returns
    -------
    x_end : array of shape (n_samples, n_features)
        State at ``times[-1]``.
    integral : array of shape (n_samples,)
        :math:`\int_{t_0}^{t_n} \nabla\cdot v(x_t, t)\, dt` by the trapezoidal (Heun) rule.
    """
    ns, x = _state(x)
    integral = ns.zeros((x.shape[0],), like=x)
    for t, t_next in _steps(times, progress, desc):
        dt = t_next - t
        v, div = velocity_divergence(x, t)
        v_pred, div_pred = velocity_divergence(x + dt * v, t_next)
        x = x + 0.5 * dt * (v + v_pred)
        integral = integral + 0.5 * dt * (div + div_pred)
    return x, integral


def reverse_sde(score, x, grid, beta, random_state=None, progress=False):
    r"""Integrate the reverse-time heat-flow SDE with Euler–Maruyama.

    :math:`x_{k+1} = x_k + \beta^2 \Delta_k\, g(x_k, t_k) + \beta \sqrt{\Delta_k}\, \xi_k` with
    :math:`\Delta_k = t_k - t_{k+1} > 0`.

    Parameters
    ----------
    score : callable
        ``score(x, t)`` returning :math:`\nabla \log \eta(x, t)` of the shape of ``x``.
    x : array of shape (n_samples, n_features)
        Initial state at time ``grid[0]``.
    grid : array-like of shape (n_steps + 1,)
        Strictly decreasing times.
    beta : float
        Diffusion coefficient.
    random_state : int, RandomState, RandomSource or None
        Seed of the Brownian increments.
    progress : bool, default=False
        Show a progress bar.

    Returns
    -------
    array of shape (n_samples, n_features)
        State at time ``grid[-1]``.
    """
    schedule = HeatSchedule(beta, float(np.max(grid)))
    return euler_maruyama(schedule.reverse_drift(score), x, grid, schedule.beta, random_state,
                          progress, "reverse SDE", direction=-1)


def probability_flow_ode(score, x, grid, beta, progress=False):
    r"""Integrate the probability-flow ODE :math:`dx/dt = -\tfrac12 \beta^2 g(x, t)` backwards in time.

    Heun's method: :math:`\tilde x = x_k + \tfrac12\beta^2 \Delta_k g(x_k, t_k)`,
    :math:`x_{k+1} = x_k + \tfrac14\beta^2 \Delta_k \big(g(x_k, t_k) + g(\tilde x, t_{k+1})\big)`.
    Parameters are as in :func:`reverse_sde` (no randomness). Returns the state at
    ``grid[-1]``, shape ``(n_samples, n_features)``.
    """
    schedule = HeatSchedule(beta, float(np.max(grid)))
    return heun(schedule.velocity(score), x, grid, progress, "probability-flow ODE",
                direction=-1)
