"""SchrodingerBridge: drift, marginals and likelihood against loops, autograd, quadrature and the
Gaussian closed form; end laws, memorization and bad input. The contract it shares with the
other estimators is tested in test_contract.py, model files in test_persistence.py."""

import numpy as np
import pytest
from scipy.integrate import quad
from scipy.special import logsumexp, softmax
from scipy.stats import chisquare, kstest, multivariate_normal, norm

from _reference import data_spread, in_data_units
from wpokernel import WPOKernelScore
from wpokernel.datasets import make_toy
from wpokernel.diagnostics import memorization_ratio
from wpokernel.estimators.schrodinger import SchrodingerBridge


@pytest.fixture(scope="module")
def small():
    rng = np.random.default_rng(0)
    return rng.normal(size=(15, 2)) + [1.5, 0.0], rng.normal(size=(12, 2)), rng.normal(size=(6, 2))


def _bridge(X, source, target, epsilon=0.7, **params):
    """The bridge of reference variance ``epsilon`` and KDE bandwidth ``target`` in the data's
    units (the estimator takes them in units of the data's spread)."""
    spread = data_spread(X)[1]
    target = target / spread if isinstance(target, float) else target
    return SchrodingerBridge(epsilon=epsilon / spread**2, target=target, progress=False,
                             **params).fit(X, X_source=source)


@pytest.fixture(scope="module", params=[None, 0.4], ids=["empirical", "kde"])
def fitted(request, small):
    X, source, _ = small
    return _bridge(X, source, request.param)


def _u(model, x):
    """The model's standardized coordinates, where its fields, potentials and epsilon live;
    drifts are scale_ times theirs in the caller's units, log-densities d log(scale_) less."""
    return (x - model.mean_) / model.scale_


def _gap_noise(epsilon, gap):
    """sigma_min that stops the bridge at 1 - gap: eps gap (1 - gap) = sigma_min^2."""
    return np.sqrt(epsilon * gap * (1 - gap))


def _component_variance(model):
    """c of the target components N(y_j, c I) (0 for the empirical target)."""
    return model.sinkhorn_epsilon_ - model.epsilon


# ------------------------------------------------------------------ drift


def _drift_loop(model, x, t):
    """b = -eps sum_j w_j (x - y_j) / (c + eps (1 - t)), one query and one center at a time."""
    eps, c, y = model.epsilon, _component_variance(model), model.target_field_.centers
    s = c + eps * (1 - t)
    out = np.zeros_like(x)
    for i, x_i in enumerate(x):
        logits = [np.log(1 / len(y)) + model.g_[j] / model.sinkhorn_epsilon_
                  - np.sum((x_i - y[j]) ** 2) / (2 * s) for j in range(len(y))]
        w = softmax(logits)
        out[i] = sum(-eps * w[j] * (x_i - y[j]) / s for j in range(len(y)))
    return out


@pytest.mark.parametrize("t", [0.0, 0.5, 0.97])
def test_drift_is_the_softmax_formula(fitted, small, t):
    x = small[2]
    np.testing.assert_allclose(fitted.drift(x, t), fitted.scale_ * _drift_loop(fitted, _u(fitted, x), t),
                               rtol=1e-10, atol=1e-12)


def test_empirical_drift_points_to_the_weighted_mean(small):
    X, source, x = small
    model = _bridge(X, source, None)
    t = 0.6
    # In the caller's units the reference variance is epsilon * scale_^2 per unit time.
    eps = model.epsilon * model.scale_**2
    w = softmax(model.g_ / model.epsilon - ((x[:, None] - X[None]) ** 2).sum(-1) / (2 * eps * (1 - t)), 1)
    np.testing.assert_allclose(model.drift(x, t), (w @ X - x) / (1 - t), rtol=1e-10)


@pytest.mark.parametrize("t", [0.0, 0.5, 0.97])
def test_drift_is_epsilon_grad_log_h_by_autograd(fitted, small, t):
    # h(x, t) = sum_j exp(g_j / eps') N(y_j; x, (c + eps (1 - t)) I), eps' = eps + c.
    torch = pytest.importorskip("torch")
    x = torch.tensor(_u(fitted, small[2]), dtype=torch.float64, requires_grad=True)
    y = torch.tensor(fitted.target_field_.centers)
    s = _component_variance(fitted) + fitted.epsilon * (1 - t)
    log_h = torch.logsumexp(torch.tensor(fitted.g_ / fitted.sinkhorn_epsilon_)
                            - ((x[:, None] - y[None]) ** 2).sum(-1) / (2 * s), 1) - np.log(2 * np.pi * s)
    (grad,) = torch.autograd.grad(log_h.sum(), x)
    np.testing.assert_allclose(fitted.drift(small[2], t), fitted.scale_ * fitted.epsilon * grad.numpy(),
                               rtol=1e-10, atol=1e-12)


# ------------------------------------------------------------------ marginals


def _bridge_mixture_log_density(model, x, t):
    """p_t as the mixture over (x_i, j) of the bridge from x_i to component j, by loops.

    From x_i the bridge takes component j with probability
    nu_j e^{g_j/eps'} N(x_i; y_j, (c + eps) I) / phi(x_i, 0); given both, X_t is the product
    N(x; x_i, eps t) N(x; y_j, c + eps (1 - t)) normalized: mean (x_i (c + eps (1 - t)) +
    y_j eps t) / (c + eps), variance eps t (c + eps (1 - t)) / (c + eps).
    """
    eps, c = model.epsilon, _component_variance(model)
    y, source = model.target_field_.centers, model.source_
    d = y.shape[1]
    terms = []
    for x_i in source:
        logits = np.array([model.g_[j] / model.sinkhorn_epsilon_
                           + multivariate_normal(y[j], (c + eps) * np.eye(d)).logpdf(x_i)
                           for j in range(len(y))])
        log_pi = logits - logsumexp(logits) - np.log(len(source))
        variance = eps * t * (c + eps * (1 - t)) / (c + eps)
        for j in range(len(y)):
            mean = (x_i * (c + eps * (1 - t)) + y[j] * eps * t) / (c + eps)
            terms.append(log_pi[j] + multivariate_normal(mean, variance * np.eye(d)).logpdf(x))
    return logsumexp(np.stack(terms, 1), 1)


@pytest.mark.parametrize("t", [0.3, 0.9])
def test_marginal_is_the_mixture_of_bridges(fitted, small, t):
    x = small[2]
    expected = _bridge_mixture_log_density(fitted, _u(fitted, x), t) - x.shape[1] * np.log(fitted.scale_)
    np.testing.assert_allclose(fitted.marginal_log_density(x, t), expected, rtol=1e-10)


@pytest.mark.parametrize("target, t", [(None, 0.5), (0.3, 0.5), (0.3, 1.0 - 1e-5)])
def test_marginal_is_a_normalized_density(target, t):
    rng = np.random.default_rng(1)
    model = _bridge(rng.normal(size=(10, 1)) + 2.0, rng.normal(size=(8, 1)), target)

    def density(z):
        return np.exp(model.marginal_log_density(np.array([[z]]), t))[0]

    total = sum(quad(density, a, b, limit=200)[0] for a, b in [(-8, 0), (0, 2), (2, 4), (4, 12)])
    assert total == pytest.approx(1.0, abs=1e-8)


def test_marginal_with_local_covariances_is_a_normalized_density():
    # A WPOKernelScore target has full per-component covariances: the potentials are then those
    # of the centers (an approximation of the component masses), yet eq. 3 stays exact.
    rng = np.random.default_rng(1)
    X = np.concatenate([rng.normal(size=(20, 1)) * 0.3 - 1.0, rng.normal(size=(20, 1)) * 0.5 + 2.0])
    target = WPOKernelScore(max_steps=0, random_state=0, progress=False)
    model = SchrodingerBridge(target=target, n_prior_samples=30, random_state=0, progress=False).fit(X)
    assert type(model.target_field_.covariance).__name__ == "Full"
    assert model.sinkhorn_epsilon_ == model.epsilon
    for t in (0.5, 1.0 - model.end_gap_):
        def density(z):
            return np.exp(model.marginal_log_density(np.array([[z]]), t))[0]

        pieces = [(-10, -1), (-1, 0), (0, 2), (2, 3), (3, 12)]
        assert sum(quad(density, a, b, limit=200)[0] for a, b in pieces) == pytest.approx(1.0, abs=1e-8)


# ------------------------------------------------------------------ probability flow


def test_velocity_is_drift_minus_half_epsilon_score_and_divergence_by_differences(fitted, small):
    # In the standardized coordinates of the factors.
    x, t, h = _u(fitted, small[2]), 0.6, 1e-5
    factors = fitted.factors_
    v, div = factors.velocity_divergence(x, t)
    steps = np.eye(2) * h
    grad_log_p = np.stack([(factors.log_marginal(x + e, t) - factors.log_marginal(x - e, t)) / (2 * h)
                           for e in steps], 1)
    np.testing.assert_allclose(v, factors.drift(x, t) - 0.5 * fitted.epsilon * grad_log_p, rtol=1e-6, atol=1e-8)
    fd_div = sum((fitted.factors_.velocity_divergence(x + e, t)[0][:, k]
                  - fitted.factors_.velocity_divergence(x - e, t)[0][:, k]) / (2 * h)
                 for k, e in enumerate(steps))
    np.testing.assert_allclose(div, fd_div, rtol=1e-6, atol=1e-8)


@pytest.mark.parametrize("target, end_gap", [(0.3, 1e-5), (None, 1e-2)])
def test_ode_likelihood_converges_to_the_closed_form_density(small, target, end_gap):
    X, source, x = small
    model = _bridge(X, source, target, sigma_min=_gap_noise(0.7 / data_spread(X)[1] ** 2, end_gap))
    assert model.end_gap_ == pytest.approx(end_gap, rel=1e-9)
    exact = model.score_samples(x)
    coarse = np.abs(model.log_likelihood(x, n_steps=100) - exact).max()
    fine = np.abs(model.log_likelihood(x, n_steps=200) - exact).max()
    # Measured: 6e-4 (KDE target) and 1.2e-2 (empirical target, log-densities down to -47).
    assert fine < 1.5e-2
    assert 3.0 < coarse / fine < 5.0  # Heun: second order


def test_ode_likelihood_does_not_depend_on_the_base_time(small):
    X, source, x = small
    # The grid is geometric in 1 - t from end_gap: 200 steps resolve it to 5e-3 from 1e-5.
    model = _bridge(X, source, 0.3, sigma_min=_gap_noise(0.7 / data_spread(X)[1] ** 2, 1e-5))
    np.testing.assert_allclose(model.log_likelihood(x, base_time=0.2, n_steps=200),
                               model.log_likelihood(x, base_time=0.7, n_steps=200), atol=5e-3)


# ------------------------------------------------------------------ end laws


def test_bridge_from_the_source_sample_ends_on_the_data_with_its_weights():
    # Started from every source point, the bridge ends at y_j with probability
    # sum_i w_j(x_i, 0) / m = nu_j, the column marginal of the Sinkhorn plan.
    rng = np.random.default_rng(3)
    X, source = rng.normal(size=(6, 2)) * 2.0, rng.normal(size=(200, 2))
    weights = np.array([1.0, 2.0, 3.0, 1.0, 2.0, 1.0])
    model = SchrodingerBridge(epsilon=1.0, progress=False).fit(X, X_source=source, sample_weight=weights)
    ends = model.transport(np.repeat(source, 10, axis=0), random_state=0, n_steps=100)
    distances = np.linalg.norm(ends[:, None] - X[None], axis=-1)
    assert distances.min(1).max() < 0.05  # every end point sits on a data point
    counts = np.bincount(distances.argmin(1), minlength=6)
    assert chisquare(counts, weights / weights.sum() * counts.sum()).pvalue > 0.01


@pytest.fixture(scope="module")
def gaussian_bridge():
    # Quantile grids of N(m0, a) and N(m1, b): the bridge between them is the Gaussian
    # Schrödinger bridge, whose plan has cross-covariance c = (sqrt(4ab + eps^2) - eps) / 2.
    # epsilon is in units of the data's variance, which is the grid's (population) variance.
    m0, a, m1, b, eps, n = -1.0, 1.5, 2.0, 0.5, 0.5, 400

    def grid(mean, variance):
        return (mean + np.sqrt(variance) * norm.ppf((np.arange(n) + 0.5) / n))[:, None]

    X = grid(m1, b)
    model = SchrodingerBridge(epsilon=eps / X.var(), progress=False).fit(X, X_source=grid(m0, a))
    return model, (m0, a, m1, b, eps, 0.5 * (np.sqrt(4 * a * b + eps**2) - eps))


def test_entropic_map_between_gaussians_is_linear(gaussian_bridge):
    model, (m0, a, m1, b, eps, c) = gaussian_bridge
    x = np.linspace(-2.5, 0.5, 7)[:, None]
    np.testing.assert_allclose(model.transport(x, method="mean"), m1 + c / a * (x - m0), atol=1e-2)


def test_gaussian_bridge_marginal_has_the_closed_form_moments(gaussian_bridge):
    # X_t = (1 - t) X_0 + t X_1 + sqrt(eps t (1 - t)) Z under the Gaussian plan.
    model, (m0, a, m1, b, eps, c) = gaussian_bridge
    t = 0.5
    mean = (1 - t) * m0 + t * m1
    variance = (1 - t) ** 2 * a + t**2 * b + 2 * t * (1 - t) * c + eps * t * (1 - t)
    z = np.linspace(mean - 10, mean + 10, 4001)
    p = np.exp(model.marginal_log_density(z[:, None], t))
    dz = z[1] - z[0]
    assert p.sum() * dz == pytest.approx(1.0, abs=1e-8)
    assert (z * p).sum() * dz == pytest.approx(mean, abs=5e-3)
    assert ((z - mean) ** 2 * p).sum() * dz == pytest.approx(variance, rel=1e-2)


def test_gaussian_bridge_from_a_point_ends_on_the_conditional_law(gaussian_bridge):
    # Given X_0 = x0 the Gaussian plan's conditional is N(m1 + c/a (x0 - m0), b - c^2 / a).
    model, (m0, a, m1, b, eps, c) = gaussian_bridge
    x0 = -0.5
    ends = model.transport(np.full((1000, 1), x0), random_state=0, n_steps=100)[:, 0]
    law = norm(m1 + c / a * (x0 - m0), np.sqrt(b - c**2 / a))
    assert kstest(ends, law.cdf).pvalue > 0.01


# ------------------------------------------------------------------ memorization


@pytest.fixture(scope="module")
def spirals():
    return make_toy("2spirals", 600, random_state=0), make_toy("2spirals", 2000, random_state=1)


def test_empirical_target_memorizes_and_a_smoothed_one_does_not(spirals):
    X, X_test = spirals
    held_out = memorization_ratio(X_test, X)[0]
    copies = SchrodingerBridge(n_prior_samples=600, random_state=0, progress=False).fit(X)
    assert memorization_ratio(copies.sample(1000, random_state=0, n_steps=50), X)[0] > 0.9
    # A KDE target of bandwidth 0.1 in the data's units.
    smooth = SchrodingerBridge(target=0.1 / data_spread(X)[1], n_prior_samples=600, random_state=0,
                               progress=False).fit(X)
    fraction = memorization_ratio(smooth.sample(2000, random_state=0, n_steps=50), X)[0]
    assert abs(fraction - held_out) < 0.02


# ------------------------------------------------------------------ contract


def test_the_random_state_fixes_the_prior_sample_and_the_potentials(small):
    X, _, _ = small
    model = SchrodingerBridge(n_prior_samples=30, random_state=0, progress=False).fit(X)
    again = SchrodingerBridge(n_prior_samples=30, random_state=0, progress=False).fit(X)
    np.testing.assert_array_equal(model.source_, again.source_)
    np.testing.assert_array_equal(model.g_, again.g_)


def test_data_to_data_samples_start_from_the_source(small):
    X, source, x = small
    model = _bridge(X, source, None)
    assert not model.gaussian_source_ and model.source_ is not source
    np.testing.assert_allclose(in_data_units(model, model.source_), source, rtol=1e-14, atol=1e-15)
    a = model.sample(4, random_state=1, n_steps=10)
    np.testing.assert_array_equal(a, model.sample(4, random_state=1, n_steps=10))
    np.testing.assert_allclose(model.transport(x, method="mean"), x + model.drift(x, 0.0), rtol=1e-13)


def test_torch_backend_agrees_with_numpy(small):
    pytest.importorskip("torch")
    X, source, x = small
    a, b = _bridge(X, source, 0.4, backend="numpy"), _bridge(X, source, 0.4, backend="torch")
    np.testing.assert_allclose(b.g_, a.g_, atol=1e-9)
    np.testing.assert_allclose(b.drift(x, 0.5), a.drift(x, 0.5), rtol=1e-9)
    np.testing.assert_allclose(b.score_samples(x), a.score_samples(x), rtol=1e-9)
    np.testing.assert_allclose(b.log_likelihood(x, n_steps=5), a.log_likelihood(x, n_steps=5), rtol=1e-9)


# ------------------------------------------------------------------ bad input


@pytest.mark.parametrize("params, error, match", [
    ({"epsilon": 0.0}, ValueError, "epsilon > 0"),
    ({"prior_scale": -1.0}, ValueError, "prior_scale > 0"),
    ({"n_prior_samples": 0}, ValueError, "n_prior_samples >= 1"),
    ({"tol": 0.0}, ValueError, "tol > 0"),
    ({"max_iter": 2.5}, TypeError, "integer for max_iter"),
    ({"sigma_min": 0.0}, ValueError, "sigma_min > 0"),
    ({"sigma_min": 0.5}, ValueError, r"Expected sigma_min < sqrt\(epsilon\) / 2 = 0.5"),
    ({"random_state": -1}, ValueError, "random_state >= 0"),
])
def test_invalid_hyper_parameters(small, params, error, match):
    with pytest.raises(error, match=match):
        SchrodingerBridge(**params).fit(small[0])


def test_invalid_data_and_arguments(small):
    X, source, x = small
    with pytest.raises(ValueError, match="X_source with 2 features like X, got 3"):
        SchrodingerBridge(progress=False).fit(X, X_source=np.zeros((4, 3)))
    with pytest.raises(ValueError, match="NaN"):
        SchrodingerBridge(progress=False).fit(X, X_source=np.full((4, 2), np.nan))
    model = _bridge(X, source, None)
    with pytest.raises(ValueError, match="3 features, but SchrodingerBridge is expecting 2"):
        model.drift(np.zeros((2, 3)), 0.5)
    with pytest.raises(ValueError, match=r"t in \[0, 1\]"):
        model.drift(x, 1.5)
    with pytest.raises(ValueError, match="positive variances"):
        model.drift(x, 1.0)  # the empirical target has no density at t = 1
    with pytest.raises(ValueError, match="method in"):
        model.transport(x, method="ode")
    with pytest.raises(ValueError, match="0 < base_time < 1 - end_gap"):
        model.log_likelihood(x, base_time=0.0)
    with pytest.raises(ValueError, match="n_steps >= 1"):
        model.log_likelihood(x, n_steps=0)
    with pytest.raises(TypeError, match="bool for progress"):
        model.transport(x, progress="no")
