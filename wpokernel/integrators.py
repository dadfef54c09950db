r"""Reverse-time integrators for a score field on a decreasing noise grid.

With :math:`\Delta_k = s_k - s_{k+1} > 0` and the score :math:`g(x, s) = \nabla \log \eta(x, s)`:

* reverse-time SDE, Euler–Maruyama:
  :math:`x_{k+1} = x_k + \beta^2 \Delta_k\, g(x_k, s_k) + \beta \sqrt{\Delta_k}\, \xi_k`;
* probability-flow ODE :math:`dx/ds = -\tfrac12 \beta^2 g(x, s)`, Heun (trapezoidal predictor–corrector):
  :math:`\tilde x = x_k + \tfrac12\beta^2 \Delta_k g(x_k, s_k)`,
  :math:`x_{k+1} = x_k + \tfrac14\beta^2 \Delta_k \big(g(x_k, s_k) + g(\tilde x, s_{k+1})\big)`.

Both preserve the marginals :math:`\eta(\cdot, s)` in the limit of small steps, so started
from an exact draw of :math:`\eta(\cdot, T)` they end near :math:`\eta(\cdot, \varepsilon)`.
"""

import numpy as np
from sklearn.utils import check_random_state
from tqdm.auto import tqdm

__all__ = ["reverse_sde", "probability_flow_ode"]


def _steps(grid, progress, desc):
    grid = np.asarray(grid, dtype=float)
    if grid.ndim != 1 or grid.size < 2 or np.any(np.diff(grid) >= 0):
        raise ValueError("Expected a strictly decreasing noise grid with at least two times.")
    return tqdm(zip(grid[:-1], grid[1:]), total=grid.size - 1, disable=not progress, desc=desc,
                leave=False)


def reverse_sde(score, x, grid, beta, random_state=None, progress=False):
    r"""Integrate the reverse-time heat-flow SDE with Euler–Maruyama.

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
    rng = check_random_state(random_state)
    x = np.array(x, dtype=float)
    for s, s_next in _steps(grid, progress, "reverse SDE"):
        step = s - s_next
        x = x + beta**2 * step * score(x, s) + beta * np.sqrt(step) * rng.standard_normal(x.shape)
    return x


def probability_flow_ode(score, x, grid, beta, progress=False):
    r"""Integrate the probability-flow ODE backwards in noise time with Heun's method.

    Parameters are as in :func:`reverse_sde` (no randomness). Returns the state at
    ``grid[-1]``, shape ``(n_samples, n_features)``.
    """
    x = np.array(x, dtype=float)
    for s, s_next in _steps(grid, progress, "probability-flow ODE"):
        half = 0.5 * beta**2 * (s - s_next)
        g = score(x, s)
        x_pred = x + half * g
        x = x + 0.5 * half * (g + score(x_pred, s_next))
    return x
