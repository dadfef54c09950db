"""Schedules and integrators against the exact Gaussian heat flow.

For a single Gaussian terminal density N(m, c I), eta(., s) = N(m, (c + beta^2 s) I) in closed
form, so the reverse SDE and the probability-flow ODE started from eta(., T) must end at
eta(., eps).
"""

import numpy as np
import pytest

from wpokernel import GaussianMixtureField, HeatSchedule
from wpokernel.integrators import (
    euler,
    euler_maruyama,
    heun,
    ode_log_likelihood,
    probability_flow_ode,
    reverse_sde,
)
from wpokernel.reductions import Isotropic

BETA, T, EPS, C = 1.5, 2.0, 0.01, 0.2
MEAN = np.array([1.0, -2.0])


def _gaussian_field():
    return GaussianMixtureField(MEAN[None, :], Isotropic(C), beta=BETA)


def test_noise_grid():
    grid = HeatSchedule(BETA, T).noise_grid(10, EPS)
    assert grid[0] == T and grid[-1] == pytest.approx(EPS) and grid.shape == (11,)
    np.testing.assert_allclose(grid[1:] / grid[:-1], (EPS / T) ** 0.1)
    np.testing.assert_allclose(HeatSchedule(BETA, T).noise_grid(4, 0.0, "linear"), np.linspace(T, 0, 5))


@pytest.mark.parametrize("kwargs, match", [
    ({"n_steps": 0, "eps": EPS}, "positive integer n_steps"),
    ({"n_steps": 5, "eps": T}, "eps < T"),
    ({"n_steps": 5, "eps": 0.0}, "eps > 0 for a geometric grid"),
    ({"n_steps": 5, "eps": EPS, "spacing": "cosine"}, "spacing in"),
])
def test_noise_grid_errors(kwargs, match):
    with pytest.raises(ValueError, match=match):
        HeatSchedule(BETA, T).noise_grid(**kwargs)


def test_schedule_errors():
    with pytest.raises(ValueError, match="beta > 0"):
        HeatSchedule(beta=0.0)
    with pytest.raises(TypeError, match="T"):
        HeatSchedule(T="1")


@pytest.mark.parametrize("method", ["sde", "ode"])
def test_integrators_reach_the_exact_marginal(method):
    field = _gaussian_field()
    n = 20_000
    x_T = field.sample(n, noise=T, random_state=0)
    grid = HeatSchedule(BETA, T).noise_grid(400, EPS)
    if method == "sde":
        x = reverse_sde(field.score, x_T, grid, BETA, random_state=1)
    else:
        x = probability_flow_ode(field.score, x_T, grid, BETA)
    var = C + BETA**2 * EPS
    # Sampling error of the mean is sqrt(var / n); of the variance, var * sqrt(2 / n).
    np.testing.assert_allclose(x.mean(0), MEAN, atol=5 * np.sqrt(var / n))
    np.testing.assert_allclose(x.var(0), var, atol=5 * var * np.sqrt(2 / n))


def test_ode_is_deterministic_map_of_the_exact_flow():
    # For a Gaussian the probability-flow map is x -> m + sqrt(v(eps) / v(T)) (x - m).
    field = _gaussian_field()
    x_T = field.sample(5, noise=T, random_state=0)
    x = probability_flow_ode(field.score, x_T, HeatSchedule(BETA, T).noise_grid(2000, EPS), BETA)
    ratio = np.sqrt((C + BETA**2 * EPS) / (C + BETA**2 * T))
    np.testing.assert_allclose(x, MEAN + ratio * (x_T - MEAN), rtol=1e-5)


def test_grid_must_decrease():
    with pytest.raises(ValueError, match="strictly decreasing"):
        reverse_sde(lambda x, s: x, np.zeros((1, 1)), [0.1, 0.2], 1.0)


@pytest.mark.parametrize("times", [np.linspace(0.0, 1.5, 301), np.linspace(1.5, 0.0, 301)])
def test_heun_and_ode_log_likelihood_on_a_linear_flow(times):
    # v(x) = A x has the flow exp(A t) x and the constant divergence tr A.
    A = np.array([[-0.3, 1.0], [-1.0, 0.2]])
    x0 = np.random.default_rng(0).normal(size=(4, 2))
    expected = x0 @ _expm(A * (times[-1] - times[0])).T
    # Heun's global error is O(dt^2) with dt = 0.005.
    np.testing.assert_allclose(heun(lambda x, t: x @ A.T, x0, times), expected, atol=2e-5)
    x_end, integral = ode_log_likelihood(lambda x, t: (x @ A.T, np.full(len(x), np.trace(A))), x0, times)
    np.testing.assert_allclose(x_end, expected, atol=2e-5)
    np.testing.assert_allclose(integral, np.trace(A) * (times[-1] - times[0]), rtol=1e-12)


@pytest.mark.parametrize("times", [np.linspace(0.0, 1.5, 301), np.linspace(1.5, 0.0, 301)])
def test_euler_converges_to_the_linear_flow_at_first_order(times):
    # v(x) = A x has the flow exp(A t) x; Euler's global error is O(dt), so halving the step
    # halves it (the second-order Heun above is far more accurate on the same grid).
    A = np.array([[-0.3, 1.0], [-1.0, 0.2]])
    x0 = np.random.default_rng(0).normal(size=(4, 2))
    expected = x0 @ _expm(A * (times[-1] - times[0])).T

    def error(grid):
        return np.abs(euler(lambda x, t: x @ A.T, x0, grid) - expected).max()

    coarse, fine = error(times), error(np.linspace(times[0], times[-1], 601))
    assert 1.9 < coarse / fine < 2.1
    assert fine < 5e-3


def test_euler_takes_exactly_the_explicit_steps():
    # One step of a time-dependent field from t = 1 to t = 3: x + 2 v(x, 1), nothing else.
    x = euler(lambda x, t: t * x + 1.0, np.array([[2.0]]), [1.0, 3.0])
    np.testing.assert_array_equal(x, [[2.0 + 2 * (1.0 * 2.0 + 1.0)]])
    with pytest.raises(ValueError, match="strictly increasing"):
        euler(lambda x, t: x, np.zeros((1, 1)), [1.0, 0.0], direction=1)


def _expm(M):
    values, vectors = np.linalg.eig(M)
    return np.real(vectors @ np.diag(np.exp(values)) @ np.linalg.inv(vectors))


def test_euler_maruyama_reaches_the_ornstein_uhlenbeck_marginal():
    # dx = -x dt + sqrt(2) dW from x0 = 2 has mean 2 e^{-t} and variance 1 - e^{-2t}.
    n, t = 20_000, 0.8
    x = euler_maruyama(lambda x, s: -x, np.full((n, 1), 2.0), np.linspace(0, t, 801),
                       lambda s: np.sqrt(2.0), random_state=0)
    var = 1 - np.exp(-2 * t)
    np.testing.assert_allclose(x.mean(), 2 * np.exp(-t), atol=5 * np.sqrt(var / n) + 2e-3)
    np.testing.assert_allclose(x.var(), var, atol=5 * var * np.sqrt(2 / n) + 2e-3)


@pytest.mark.parametrize("times, match", [
    ([0.0, 0.5, 0.5], "strictly monotone"),
    ([0.0, 0.5, 0.2], "strictly monotone"),
    ([0.0], "at least two times"),
    ([0.0, np.nan], "finite time grid"),
])
def test_generic_grids_must_be_monotone(times, match):
    with pytest.raises(ValueError, match=match):
        heun(lambda x, t: x, np.zeros((1, 1)), times)
