"""Log-domain Sinkhorn against dense formulas, an assignment solver and the Gaussian closed form."""

import numpy as np
import pytest
from scipy.optimize import linear_sum_assignment
from scipy.special import logsumexp
from scipy.stats import norm
from sklearn.exceptions import ConvergenceWarning

from wpokernel.sinkhorn import sinkhorn, soft_min


def _cost(x, y):
    return 0.5 * ((x[:, None, :] - y[None, :, :]) ** 2).sum(-1)  # (m, n)


def _plan(x, y, result, epsilon, a, b):
    """Dense plan a_i b_j exp((f_i + g_j - C_ij) / eps)."""
    return a[:, None] * b[None, :] * np.exp((result.f[:, None] + result.g[None, :] - _cost(x, y)) / epsilon)


@pytest.fixture(scope="module")
def clouds():
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(60, 2)), rng.normal(size=(45, 2)) * 0.7 + [1.0, -0.5]
    a, b = rng.uniform(0.5, 2.0, 60), rng.uniform(0.5, 2.0, 45)
    return x, y, a / a.sum(), b / b.sum()


def _quantile_grid(mean, variance, n):
    """Deterministic n-point discretization of N(mean, variance): its (i - 1/2)/n quantiles."""
    return (mean + np.sqrt(variance) * norm.ppf((np.arange(n) + 0.5) / n))[:, None]


@pytest.mark.parametrize("epsilon", [0.05, 0.5, 5.0])
def test_marginals_of_the_plan(clouds, epsilon):
    x, y, a, b = clouds
    result = sinkhorn(x, y, epsilon, a, b, max_iter=5000)
    plan = _plan(x, y, result, epsilon, a, b)
    np.testing.assert_allclose(plan.sum(1), a, atol=1e-9)
    np.testing.assert_allclose(plan.sum(0), b, atol=1e-12)
    # The reported error is the l1 error of the source marginal of the returned plan.
    assert result.marginal_error == pytest.approx(np.abs(plan.sum(1) - a).sum(), rel=1e-4, abs=1e-14)
    assert result.marginal_error < 1e-9


def test_potentials_solve_the_dual_equations_by_dense_logsumexp(clouds):
    x, y, a, b = clouds
    eps = 0.3
    result = sinkhorn(x, y, eps, a, b)
    cost = _cost(x, y)
    g_dense = -eps * logsumexp(np.log(a)[:, None] + (result.f[:, None] - cost) / eps, axis=0)
    f_dense = -eps * logsumexp(np.log(b)[None, :] + (result.g[None, :] - cost) / eps, axis=1)
    np.testing.assert_allclose(result.g, g_dense, atol=1e-11)
    np.testing.assert_allclose(result.f, f_dense, atol=1e-8)


def test_soft_min_is_a_dense_logsumexp(clouds):
    x, y, _, b = clouds
    eps = 0.2
    biases = np.random.default_rng(1).normal(size=len(y))
    expected = -eps * logsumexp(biases[None, :] - _cost(x, y) / eps, axis=1)
    np.testing.assert_allclose(soft_min(x, y, biases, eps), expected, rtol=1e-12)


def test_large_epsilon_gives_the_independent_coupling(clouds):
    x, y, a, b = clouds
    result = sinkhorn(x, y, 1e5, a, b)
    plan = _plan(x, y, result, 1e5, a, b)
    # Deviations are of order cost / epsilon (costs here are below 10).
    np.testing.assert_allclose(plan / np.outer(a, b), 1.0, atol=1e-4)


# At small epsilon Sinkhorn converges slowly (the marginal error decays like 1/iterations once
# the plan is nearly a permutation), so these tests stop at a loose tol: the mass is already on
# the optimal assignment up to a share of the order of the marginal error.


def test_small_epsilon_gives_the_optimal_assignment():
    rng = np.random.default_rng(2)
    x, y = rng.normal(size=(20, 2)), rng.normal(size=(20, 2)) + [2.0, 0.0]
    cost = _cost(x, y)
    rows, cols = linear_sum_assignment(cost)
    eps, tol = 3e-3, 1e-2
    uniform = np.full(20, 1 / 20)
    result = sinkhorn(x, y, eps, tol=tol, max_iter=5000)
    plan = _plan(x, y, result, eps, uniform, uniform)
    np.testing.assert_array_equal(plan.argmax(1), cols[np.argsort(rows)])
    optimal = cost[rows, cols].mean()
    # The exact entropic plan costs at most eps * log(n) more than the optimum; the marginal
    # error moves at most tol of mass, worth at most tol * max cost.
    slack = tol * cost.max()
    assert optimal - slack <= (plan * cost).sum() <= optimal + eps * np.log(20) + slack


def test_small_epsilon_in_one_dimension_is_the_monotone_map():
    n, eps = 8, 0.1
    x = np.arange(n, dtype=float)[:, None]
    y = 2.0 * x[::-1] + 0.5  # listed in reverse order; the optimal map is y = 2x + 0.5
    # Off the monotone matching a swap costs at least 2 (gaps 1 and 2): the exact plan puts
    # mass of order exp(-2 / eps) ~ 2e-9 there, and the iterate a share of its marginal error
    # (2.6 times it at tol = 3e-3, 1e-2 and 1e-3).
    result = sinkhorn(x, y, eps, tol=3e-3, max_iter=5000)
    plan = _plan(x, y, result, eps, np.full(n, 1 / n), np.full(n, 1 / n))
    monotone = np.eye(n)[:, ::-1].astype(bool)
    assert plan[~monotone].sum() < 5 * result.marginal_error
    np.testing.assert_allclose(n * plan[monotone], 1.0, atol=0.05)


@pytest.mark.parametrize("epsilon", [0.1, 1.0, 10.0])
def test_plan_between_gaussians_has_the_closed_form_cross_covariance(epsilon):
    # The entropic plan between N(m0, a) and N(m1, b) (cost |x - y|^2 / 2) is Gaussian with
    # cross-covariance c solving c / (ab - c^2) = 1 / eps (Janati et al. 2020; Mallasto et al.
    # 2021): c = (sqrt(4ab + eps^2) - eps) / 2, from sqrt(ab) (the OT map) as eps -> 0 to
    # ab / eps -> 0 (independence) as eps grows.
    m0, a_var, m1, b_var, n = -1.0, 1.5, 2.0, 0.5, 500
    x, y = _quantile_grid(m0, a_var, n), _quantile_grid(m1, b_var, n)
    result = sinkhorn(x, y, epsilon)
    plan = _plan(x, y, result, epsilon, np.full(n, 1 / n), np.full(n, 1 / n))
    cross = ((x - x.mean()).T @ plan @ (y - y.mean())).item()
    exact = 0.5 * (np.sqrt(4 * a_var * b_var + epsilon**2) - epsilon)
    # The 500-point quantile grids carry a discretization error of a few 1e-3 (0.3-0.5 %).
    assert cross == pytest.approx(exact, rel=1e-2)


def test_epsilon_scaling_reaches_the_same_potentials(clouds):
    x, y, a, b = clouds
    plain = sinkhorn(x, y, 0.05, a, b, max_iter=5000)
    scaled = sinkhorn(x, y, 0.05, a, b, max_iter=5000, scaling=0.5)
    # Potentials are defined up to (f + k, g - k).
    shift = (plain.f - scaled.f).mean()
    np.testing.assert_allclose(scaled.f + shift, plain.f, atol=1e-8)
    np.testing.assert_allclose(scaled.g - shift, plain.g, atol=1e-8)


def test_backends_agree(clouds, backend):
    x, y, a, b = clouds
    reference = sinkhorn(x, y, 0.3, a, b, backend="numpy")
    other = sinkhorn(x, y, 0.3, a, b, backend=backend)
    np.testing.assert_allclose(other.f, reference.f, atol=1e-9)
    np.testing.assert_allclose(other.g, reference.g, atol=1e-9)


def test_torch_input_gives_torch_potentials(clouds):
    torch = pytest.importorskip("torch")
    x, y, a, b = clouds
    reference = sinkhorn(x, y, 0.3, a, b)
    result = sinkhorn(torch.from_numpy(x), torch.from_numpy(y), 0.3, torch.from_numpy(a),
                      torch.from_numpy(b))
    assert isinstance(result.f, torch.Tensor) and result.f.dtype == torch.float64
    np.testing.assert_allclose(result.f.numpy(), reference.f, atol=1e-9)


def test_max_iter_warns(clouds):
    x, y, _, _ = clouds
    with pytest.warns(ConvergenceWarning, match="Sinkhorn did not reach tol=1e-09 in max_iter=2"):
        result = sinkhorn(x, y, 0.01, max_iter=2)
    assert result.n_iter == 2 and result.marginal_error > 1e-9


@pytest.mark.parametrize("kwargs, error, match", [
    ({"epsilon": 0.0}, ValueError, "epsilon > 0"),
    ({"epsilon": "1"}, TypeError, "real number for epsilon"),
    ({"tol": -1.0}, ValueError, "tol > 0"),
    ({"max_iter": 0}, ValueError, "max_iter >= 1"),
    ({"scaling": 1.5}, ValueError, r"scaling in \(0, 1\)"),
    ({"backend": "jax"}, ValueError, "backend in"),
    ({"x": np.zeros(3)}, ValueError, "2-D array with at least one row for x"),
    ({"y": np.zeros((0, 2))}, ValueError, "2-D array with at least one row for y"),
    ({"x": np.full((3, 2), np.nan)}, ValueError, "finite values in x"),
    ({"y": np.zeros((3, 3))}, ValueError, "same number of features, got 2 and 3"),
    ({"a": np.ones(4)}, ValueError, r"a of shape \(3,\)"),
    ({"b": np.array([1.0, 0.0])}, ValueError, "finite positive weights in b"),
])
def test_invalid_input(kwargs, error, match):
    args = {"x": np.zeros((3, 2)), "y": np.ones((2, 2)), "epsilon": 1.0, **kwargs}
    x, y, epsilon = args.pop("x"), args.pop("y"), args.pop("epsilon")
    with pytest.raises(error, match=match):
        sinkhorn(x, y, epsilon, **args)
