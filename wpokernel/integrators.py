r"""Time integrators for drift fields: Euler–Maruyama, Euler, Heun, and the ODE log-likelihood.

Generic integrators over any strictly monotone time grid :math:`t_0, t_1, \dots, t_n`
(increasing for forward flows, decreasing for reverse-time ones), with
:math:`\Delta t_k = t_{k+1} - t_k` of either sign:

* SDE :math:`dx = b(x, t)\,dt + g(t)\,dW`, Euler–Maruyama:
  :math:`x_{k+1} = x_k + b(x_k, t_k)\,\Delta t_k + g(t_k) \sqrt{|\Delta t_k|}\, \xi_k`;
* ODE :math:`dx/dt = v(x, t)`, explicit Euler (first order):
  :math:`x_{k+1} = x_k + \Delta t_k\, v(x_k, t_k)`;
* ODE :math:`dx/dt = v(x, t)`, Heun (trapezoidal predictor–corrector):
  :math:`\tilde x = x_k + \Delta t_k v(x_k, t_k)`,
  :math:`x_{k+1} = x_k + \tfrac12 \Delta t_k \big(v(x_k, t_k) + v(\tilde x, t_{k+1})\big)`;
* the instantaneous change of variables along the same ODE,
  :math:`\frac{d}{dt} \log p_t(x_t) = -\nabla\cdot v(x_t, t)`, integrated by Heun jointly with
  :math:`x_t`.

The heat-flow samplers are the special cases in noise time :math:`s` (decreasing), with
:math:`g(x, s) = \nabla \log \eta(x, s)`: the reverse SDE has drift :math:`-\beta^2 g` per unit
:math:`ds` and diffusion :math:`\beta`, and the probability-flow ODE has velocity
:math:`dx/ds = -\tfrac12 \beta^2 g`. Both preserve the marginals :math:`\eta(\cdot, s)` in the
limit of small steps, so started from an exact draw of :math:`\eta(\cdot, T)` they end near
:math:`\eta(\cdot, \varepsilon)`.
"""

import numpy as np
from sklearn.utils import check_random_state
from tqdm.auto import tqdm

__all__ = ["euler", "euler_maruyama", "heun", "ode_log_likelihood", "reverse_sde", "probability_flow_ode"]


def _steps(grid, progress, desc, direction=None):
    """Pairs of consecutive times of a strictly monotone grid, behind a progress bar.

    ``direction`` -1 or +1 requires a decreasing or increasing grid; ``None`` accepts either.
    """
    grid = np.asarray(grid, dtype=float)
    if grid.ndim != 1 or grid.size < 2 or not np.all(np.isfinite(grid)):
        raise ValueError("Expected a finite time grid with at least two times.")
    sign = np.sign(np.diff(grid))
    if not (np.all(sign == sign[0]) and sign[0] != 0) or (direction is not None and sign[0] != direction):
        order = {None: "strictly monotone", -1: "strictly decreasing", 1: "strictly increasing"}
        raise ValueError(f"Expected a {order[direction]} time grid, got {grid[:4]}...")
    return tqdm(zip(grid[:-1], grid[1:]), total=grid.size - 1, disable=not progress, desc=desc,
                leave=False)


def euler_maruyama(drift, x, times, diffusion, random_state=None, progress=False,
                   desc="SDE", direction=None):
    r"""Integrate :math:`dx = b(x, t)\,dt + g(t)\,dW` with Euler–Maruyama.

    Parameters
    ----------
    drift : callable
        ``drift(x, t)`` returning :math:`b(x, t)` of the shape of ``x``.
    x : array-like of shape (n_samples, n_features)
        State at ``times[0]``.
    times : array-like of shape (n_steps + 1,)
        Strictly monotone times.
    diffusion : float or callable
        :math:`g(t)`, a constant or ``diffusion(t)``.
    random_state : int, RandomState instance or None
        Seed of the Brownian increments.
    progress : bool, default=False
        Show a progress bar labelled ``desc``.
    direction : {-1, 1, None}, default=None
        Required direction of the grid (``None``: either).

    Returns
    -------
    ndarray of shape (n_samples, n_features)
        State at ``times[-1]``.
    """
    rng = check_random_state(random_state)
    g = diffusion if callable(diffusion) else (lambda t: diffusion)
    x = np.array(x, dtype=float)
    for t, t_next in _steps(times, progress, desc, direction):
        dt = t_next - t
        x = x + dt * drift(x, t) + g(t) * np.sqrt(abs(dt)) * rng.standard_normal(x.shape)
    return x


def euler(velocity, x, times, progress=False, desc="ODE", direction=None):
    r"""Integrate :math:`dx/dt = v(x, t)` with the explicit Euler method.

    :math:`x_{k+1} = x_k + \Delta t_k\, v(x_k, t_k)`: one velocity evaluation a step and a
    global error :math:`O(\max_k |\Delta t_k|)`. Parameters as in :func:`euler_maruyama`,
    without noise.

    Returns
    -------
    ndarray of shape (n_samples, n_features)
        State at ``times[-1]``.

    Examples
    --------
    >>> import numpy as np
    >>> euler(lambda x, t: -x, np.ones((1, 1)), [0.0, 0.5, 1.0])  # (1 - 1/2)^2, not exp(-1)
    array([[0.25]])
    """
    x = np.array(x, dtype=float)
    for t, t_next in _steps(times, progress, desc, direction):
        x = x + (t_next - t) * velocity(x, t)
    return x


def heun(velocity, x, times, progress=False, desc="ODE", direction=None):
    r"""Integrate :math:`dx/dt = v(x, t)` with Heun's method (parameters as in :func:`euler_maruyama`).

    Returns the state at ``times[-1]``, shape ``(n_samples, n_features)``.
    """
    x = np.array(x, dtype=float)
    for t, t_next in _steps(times, progress, desc, direction):
        dt = t_next - t
        v = velocity(x, t)
        x_pred = x + dt * v
        x = x + 0.5 * dt * (v + velocity(x_pred, t_next))
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
        ``x`` and the exact divergence :math:`\nabla\cdot v(x, t)` of shape ``(n_samples,)``.
    x : array-like of shape (n_samples, n_features)
        State at ``times[0]``.
    times : array-like of shape (n_steps + 1,)
        Strictly monotone times.
    progress : bool, default=False

    Returns
    -------
    x_end : ndarray of shape (n_samples, n_features)
        State at ``times[-1]``.
    integral : ndarray of shape (n_samples,)
        :math:`\int_{t_0}^{t_n} \nabla\cdot v(x_t, t)\, dt` by the trapezoidal (Heun) rule.
    """
    x = np.array(x, dtype=float)
    integral = np.zeros(x.shape[0])
    for t, t_next in _steps(times, progress, desc):
        dt = t_next - t
        v, div = velocity_divergence(x, t)
        x_pred = x + dt * v
        v_pred, div_pred = velocity_divergence(x_pred, t_next)
        x = x + 0.5 * dt * (v + v_pred)
        integral += 0.5 * dt * (div + div_pred)
    return x, integral


def reverse_sde(score, x, grid, beta, random_state=None, progress=False):
    r"""Integrate the reverse-time heat-flow SDE with Euler–Maruyama.

    :math:`x_{k+1} = x_k + \beta^2 \Delta_k\, g(x_k, s_k) + \beta \sqrt{\Delta_k}\, \xi_k` with
    :math:`\Delta_k = s_k - s_{k+1} > 0`.

    Parameters
    ----------
    score : callable
        ``score(x, s)`` returning :math:`\nabla \log \eta(x, s)` of the shape of ``x``.
    x : ndarray of shape (n_samples, n_features)
        Initial state at noise time ``grid[0]``.
    grid : array-like of shape (n_steps + 1,)
        Strictly decreasing noise times.
    beta : float
        Diffusion coefficient.
    random_state : int, RandomState instance or None
        Seed of the Brownian increments.
    progress : bool, default=False
        Show a progress bar.

    Returns
    -------
    ndarray of shape (n_samples, n_features)
        State at noise time ``grid[-1]``.
    """
    return euler_maruyama(lambda y, s: -beta**2 * score(y, s), x, grid, beta, random_state,
                          progress, "reverse SDE", direction=-1)


def probability_flow_ode(score, x, grid, beta, progress=False):
    r"""Integrate the probability-flow ODE :math:`dx/ds = -\tfrac12 \beta^2 g(x, s)` backwards in noise time.

    Heun's method: :math:`\tilde x = x_k + \tfrac12\beta^2 \Delta_k g(x_k, s_k)`,
    :math:`x_{k+1} = x_k + \tfrac14\beta^2 \Delta_k \big(g(x_k, s_k) + g(\tilde x, s_{k+1})\big)`.
    Parameters are as in :func:`reverse_sde` (no randomness). Returns the state at
    ``grid[-1]``, shape ``(n_samples, n_features)``.
    """
    return heun(lambda y, s: -0.5 * beta**2 * score(y, s), x, grid, progress,
                "probability-flow ODE", direction=-1)
