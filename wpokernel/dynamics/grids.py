r"""Every time grid of the package's dynamics, in one place.

A grid is a strictly monotone float64 array :math:`t_0, \dots, t_n` of ``n_steps + 1`` times
(:func:`check_grid`); the integrators of :mod:`wpokernel.dynamics.integrators` step between
consecutive times. Each grid puts its steps where the field changes fastest:

* :func:`heat_grid` — noise times of the reverse heat flow, from :math:`T` down to
  :math:`t_{\text{stop}}`, geometric (equal relative steps: the score varies on the scale of
  :math:`\beta^2 t`) or linear;
* :func:`squared_grid` — :math:`t_k = 1 - (1 - k/n)^2` from 0 to 1, steps shrinking linearly
  toward 1 (interpolants to a smooth target);
* :func:`gap_grid` — :math:`1 - t_k` geometric from :math:`1 - t_{\text{start}}` down to a gap
  :math:`\delta`, so that every step is the same fraction of the time left (dynamics that pin
  toward a target of near-zero variance at :math:`t = 1`);
* :func:`cosine_grid` — :math:`t_k = 1 - \cos^4(\pi k / 2n)` from 0 to 1, dense at both ends
  (the Föllmer bridge);
* :func:`counter_grid` — :math:`t_k = k`, unit steps (particle updates counted one by one).
"""

import numbers

import numpy as np

__all__ = ["check_grid", "counter_grid", "cosine_grid", "gap_grid", "heat_grid", "squared_grid"]

_VALID_SPACINGS = ("geometric", "linear")
_DIRECTIONS = {None: "strictly monotone", -1: "strictly decreasing", 1: "strictly increasing"}


def _check_n_steps(n_steps):
    if isinstance(n_steps, bool) or not isinstance(n_steps, numbers.Integral) or n_steps < 1:
        raise ValueError(f"Expected a positive integer n_steps, got {n_steps!r}.")
    return int(n_steps)


def check_grid(times, direction=None):
    """A finite, strictly monotone float64 grid of at least two times.

    Parameters
    ----------
    times : array-like of shape (n_steps + 1,)
    direction : {-1, 1, None}, default=None
        Required direction: decreasing, increasing or either.

    Returns
    -------
    ndarray of shape (n_steps + 1,)
    """
    grid = np.asarray(times, dtype=float)
    if grid.ndim != 1 or grid.size < 2 or not np.all(np.isfinite(grid)):
        raise ValueError("Expected a finite time grid with at least two times.")
    sign = np.sign(np.diff(grid))
    if not (np.all(sign == sign[0]) and sign[0] != 0) or (direction is not None
                                                           and sign[0] != direction):
        raise ValueError(f"Expected a {_DIRECTIONS[direction]} time grid, got {grid[:4]}...")
    return grid


def heat_grid(T, t_stop, n_steps, spacing="geometric"):
    r"""Decreasing noise times :math:`T = t_0 > t_1 > \dots > t_n = t_{\text{stop}}`.

    ``"geometric"`` spaces :math:`\log t` evenly, ``"linear"`` spaces :math:`t` evenly (the
    only one that allows :math:`t_{\text{stop}} = 0`).

    Examples
    --------
    >>> heat_grid(1.0, 0.01, 2)
    array([1.  , 0.1 , 0.01])
    """
    n_steps = _check_n_steps(n_steps)
    if isinstance(t_stop, bool) or not isinstance(t_stop, numbers.Real) or not 0 <= t_stop < T:
        raise ValueError(f"Expected 0 <= t_stop < T = {T}, got {t_stop!r}.")
    if spacing not in _VALID_SPACINGS:
        raise ValueError(f"Expected spacing in {_VALID_SPACINGS}, got {spacing!r}.")
    if spacing == "linear":
        return np.linspace(T, t_stop, n_steps + 1)
    if t_stop == 0:
        raise ValueError("Expected t_stop > 0 for a geometric grid (log 0 is undefined).")
    return np.geomspace(T, t_stop, n_steps + 1)


def squared_grid(n_steps):
    r"""Increasing times :math:`t_k = 1 - (1 - k/n)^2` from 0 to 1.

    Toward a target of positive variance the velocity stays bounded; the steps shrink linearly
    toward 1, where the paths of a square-root latent noise move like :math:`\sqrt{1 - t}`.
    """
    n_steps = _check_n_steps(n_steps)
    return 1.0 - (1.0 - np.linspace(0.0, 1.0, n_steps + 1)) ** 2


def gap_grid(t_start, gap, n_steps):
    r"""Increasing times from :math:`t_{\text{start}}` to :math:`1 - \delta`, :math:`1 - t_k` geometric.

    Toward a target of (near) zero variance the field varies on the scale of the time left
    :math:`1 - t`, so every step is the same fraction of it and explicit schemes stay stable
    however small the gap :math:`\delta` is.

    Examples
    --------
    >>> gap_grid(0.0, 0.01, 2)
    array([0.  , 0.9 , 0.99])
    """
    n_steps = _check_n_steps(n_steps)
    if not 0 <= t_start < 1 - gap or not 0 < gap < 1:
        raise ValueError(f"Expected 0 <= t_start < 1 - gap < 1, got t_start={t_start!r} and "
                         f"gap={gap!r}.")
    times = 1.0 - np.geomspace(1.0 - t_start, gap, n_steps + 1)
    times[0], times[-1] = t_start, 1.0 - gap
    return times


def cosine_grid(n_steps):
    r"""Times :math:`t_k = 1 - \cos^4(\pi k / 2n)` from 0 to 1, dense at both ends.

    Near 0 (:math:`t_1 \approx \pi^2 / 2n^2`) where a bridge from a point leaves it, and near 1
    (:math:`1 - t_{n-1} = \sin^4(\pi / 2n)`) where it pins.
    """
    n_steps = _check_n_steps(n_steps)
    return 1.0 - np.cos(0.5 * np.pi * np.arange(n_steps + 1) / n_steps) ** 4


def counter_grid(n_steps):
    """Unit steps :math:`0, 1, \\dots, n`: an explicit Euler step is one update of a map."""
    return np.arange(_check_n_steps(n_steps) + 1.0)
