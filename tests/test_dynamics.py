"""Grids, schedules and integrators against the exact Gaussian heat flow, on every array library.

For a single Gaussian terminal density N(m, c I), eta(., t) = N(m, (c + beta^2 t) I) in closed
form, so the reverse SDE and the probability-flow ODE started from eta(., T) must end at
eta(., t_stop); the same holds when the field and the state are torch tensors, which must stay
torch tensors on their device with no NumPy conversion inside the loop.
"""

import numpy as np
import pytest
import torch

from wpokernel import GaussianMixtureField, HeatSchedule
from wpokernel.dynamics import (
    autograd_divergence,
    cosine_grid,
    counter_grid,
    euler,
    euler_maruyama,
    gap_grid,
    heat_grid,
    heun,
    hutchinson_divergence,
    ode_log_likelihood,
    probability_flow_ode,
    reverse_sde,
    squared_grid,
)
from wpokernel.reductions import Isotropic

BETA, T, EPS, C = 1.5, 2.0, 0.01, 0.2
MEAN = np.array([1.0, -2.0])
DEVICES = ["cpu", pytest.param("cuda", marks=[pytest.mark.gpu, pytest.mark.skipif(
    not torch.cuda.is_available(), reason="no CUDA GPU visible to torch")])]


def _gaussian_field():
    return GaussianMixtureField(MEAN[None, :], Isotropic(C), beta=BETA)


def test_heat_grid():
    grid = HeatSchedule(BETA, T).grid(10, EPS)
    assert grid[0] == T and grid[-1] == pytest.approx(EPS) and grid.shape == (11,)
    np.testing.assert_allclose(grid[1:] / grid[:-1], (EPS / T) ** 0.1)
    np.testing.assert_allclose(heat_grid(T, 0.0, 4, "linear"), np.linspace(T, 0, 5))


@pytest.mark.parametrize("kwargs, match", [
    ({"n_steps": 0, "t_stop": EPS}, "positive integer n_steps"),
    ({"n_steps": 5, "t_stop": T}, "t_stop < T"),
    ({"n_steps": 5, "t_stop": 0.0}, "t_stop > 0 for a geometric grid"),
    ({"n_steps": 5, "t_stop": EPS, "spacing": "cosine"}, "spacing in"),
])
def test_heat_grid_errors(kwargs, match):
    with pytest.raises(ValueError, match=match):
        HeatSchedule(BETA, T).grid(**kwargs)


def test_schedule_errors_and_noise_conversions():
    with pytest.raises(ValueError, match="beta > 0"):
        HeatSchedule(beta=0.0)
    with pytest.raises(TypeError, match="T"):
        HeatSchedule(T="1")
    schedule = HeatSchedule(BETA, T)
    # The noise added by time t has variance beta^2 t.
    assert schedule.noise_of(schedule.time_of(0.3)) == pytest.approx(0.3, rel=1e-15)
    assert schedule.variance(schedule.time_of(0.3)) == pytest.approx(0.09, rel=1e-15)


def test_grids_of_the_transport_dynamics():
    n = 8
    k = np.arange(n + 1)
    np.testing.assert_allclose(squared_grid(n), 1 - (1 - k / n) ** 2, rtol=0, atol=1e-15)
    np.testing.assert_allclose(cosine_grid(n), 1 - np.cos(np.pi * k / (2 * n)) ** 4, atol=1e-15)
    np.testing.assert_array_equal(counter_grid(n), k.astype(float))
    grid = gap_grid(0.25, 1e-6, n)
    # 1 - t geometric from 0.75 down to the gap, with exact ends.
    assert grid[0] == 0.25 and grid[-1] == 1 - 1e-6
    np.testing.assert_allclose((1 - grid[1:]) / (1 - grid[:-1]), (1e-6 / 0.75) ** (1 / n), rtol=1e-9)
    with pytest.raises(ValueError, match="Expected 0 <= t_start < 1 - gap < 1"):
        gap_grid(0.5, 0.6, n)
    for grid in (squared_grid, cosine_grid, counter_grid):
        with pytest.raises(ValueError, match="positive integer n_steps"):
            grid(0)


@pytest.mark.parametrize("method", ["sde", "ode"])
def test_integrators_reach_the_exact_marginal(method):
    field = _gaussian_field()
    n = 20_000
    x_T = field.sample(n, t=T, random_state=0)
    grid = HeatSchedule(BETA, T).grid(400, EPS)
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
    x_T = field.sample(5, t=T, random_state=0)
    x = probability_flow_ode(field.score, x_T, HeatSchedule(BETA, T).grid(2000, EPS), BETA)
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


# ------------------------------------------------------------------ other array libraries

def _forbid_numpy_conversion(monkeypatch):
    """Make any conversion of a torch tensor to NumPy inside the loop an error."""
    def refuse(*args, **kwargs):
        raise AssertionError("a torch tensor was converted to NumPy inside the integrator")

    monkeypatch.setattr(torch.Tensor, "numpy", refuse)
    monkeypatch.setattr(torch.Tensor, "__array__", refuse)
    monkeypatch.setattr(torch.Tensor, "tolist", refuse)


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("method", ["sde", "ode"])
def test_torch_fields_integrate_on_their_device_and_reach_the_exact_marginal(device, method,
                                                                           monkeypatch):
    centers = torch.as_tensor(MEAN[None, :], device=device)
    # On CPU, backend="auto" hands torch tensors to the NumPy engine (zero-copy, and faster
    # there); the torch engine keeps every step in torch, as on a GPU.
    field = GaussianMixtureField(centers, Isotropic(C), beta=BETA,
                                 backend="torch" if device == "cpu" else "auto")
    n = 20_000
    x_T = field.sample(n, t=T, random_state=0)
    assert isinstance(x_T, torch.Tensor) and x_T.device.type == device
    grid = HeatSchedule(BETA, T).grid(400, EPS)
    _forbid_numpy_conversion(monkeypatch)
    if method == "sde":
        x = reverse_sde(field.score, x_T, grid, BETA, random_state=1)
    else:
        x = probability_flow_ode(field.score, x_T, grid, BETA)
    monkeypatch.undo()
    assert isinstance(x, torch.Tensor) and x.device.type == device and x.dtype == torch.float64
    x = x.cpu().numpy()
    var = C + BETA**2 * EPS
    np.testing.assert_allclose(x.mean(0), MEAN, atol=5 * np.sqrt(var / n))
    np.testing.assert_allclose(x.var(0), var, atol=5 * var * np.sqrt(2 / n))


@pytest.mark.parametrize("device", DEVICES)
def test_torch_noise_is_seeded_and_matches_the_numpy_run_in_law(device):
    x0 = torch.zeros((4, 3), device=device)
    a = euler_maruyama(lambda x, t: -x, x0, np.linspace(0, 1, 11), 1.0, random_state=3)
    b = euler_maruyama(lambda x, t: -x, x0, np.linspace(0, 1, 11), 1.0, random_state=3)
    c = euler_maruyama(lambda x, t: -x, x0, np.linspace(0, 1, 11), 1.0, random_state=4)
    assert a.dtype == torch.float32  # the state's dtype is kept
    torch.testing.assert_close(a, b, rtol=0, atol=0)
    assert not torch.equal(a, c)
    torch.testing.assert_close(x0, torch.zeros((4, 3), device=device))  # the input is not modified


def test_torch_ode_log_likelihood_equals_the_numpy_one():
    A = np.array([[-0.3, 1.0], [-1.0, 0.2]])
    x0 = np.random.default_rng(0).normal(size=(4, 2))
    times = np.linspace(0.0, 1.5, 51)
    x_np, i_np = ode_log_likelihood(lambda x, t: (x @ A.T, np.full(len(x), np.trace(A))), x0, times)
    A_t = torch.as_tensor(A)
    x_t, i_t = ode_log_likelihood(lambda x, t: (x @ A_t.T, torch.full((len(x),), float(np.trace(A)),
                                                                      dtype=x.dtype)),
                                  torch.as_tensor(x0), times)
    np.testing.assert_allclose(x_t.numpy(), x_np, rtol=1e-13)
    np.testing.assert_allclose(i_t.numpy(), i_np, rtol=1e-13)


# ------------------------------------------------------------------ divergences

def _small_network(d, seed=0):
    torch.manual_seed(seed)
    net = torch.nn.Sequential(torch.nn.Linear(d + 1, 16, dtype=torch.float64), torch.nn.Tanh(),
                              torch.nn.Linear(16, d, dtype=torch.float64))
    return lambda x, t: net(torch.cat([x, torch.full((len(x), 1), t, dtype=x.dtype)], 1))


def test_autograd_divergence_is_the_trace_of_the_jacobian():
    velocity = _small_network(3)
    x = torch.randn(5, 3, dtype=torch.float64, generator=torch.Generator().manual_seed(1))
    jacobians = torch.stack([torch.autograd.functional.jacobian(lambda y: velocity(y[None], 0.3)[0], row)
                             for row in x])
    torch.testing.assert_close(autograd_divergence(velocity, x, 0.3),
                               torch.diagonal(jacobians, dim1=1, dim2=2).sum(1))


def test_hutchinson_divergence_is_unbiased_for_a_network():
    # The mean over many independent probe sets tends to the exact divergence: its error must
    # shrink like 1 / sqrt(number of probes).
    velocity = _small_network(6)
    x = torch.randn(8, 6, dtype=torch.float64, generator=torch.Generator().manual_seed(2))
    exact = autograd_divergence(velocity, x, 0.5)
    estimates = torch.stack([hutchinson_divergence(velocity, 1, seed)(x, 0.5)[1] for seed in range(2000)])
    mean, sd = estimates.mean(0), estimates.std(0)
    assert torch.all((mean - exact).abs() < 5 * sd / np.sqrt(2000))
    assert sd.min() > 0  # a real estimate, not the exact trace in disguise
    v, _ = hutchinson_divergence(velocity, 1, 0)(x, 0.5)
    torch.testing.assert_close(v, velocity(x, 0.5).detach())


def test_hutchinson_by_differences_matches_the_exact_divergence_of_a_numpy_field():
    # v(x) = tanh(x) W has the divergence sum_k (1 - tanh(x_k)^2) W_kk, and the difference
    # estimate is unbiased: its mean over probes converges to it.
    rng = np.random.default_rng(0)
    W = rng.normal(size=(4, 4))
    x = rng.normal(size=(6, 4))
    exact = (1 - np.tanh(x) ** 2) @ np.diag(W)
    estimates = np.array([hutchinson_divergence(lambda y, t: np.tanh(y) @ W, 1, s)(x, 0.0)[1]
                          for s in range(4000)])
    sd = estimates.std(0)
    np.testing.assert_array_less(np.abs(estimates.mean(0) - exact), 5 * sd / np.sqrt(4000) + 1e-8)
