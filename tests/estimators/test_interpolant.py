"""StochasticInterpolant: closed-form velocity and score against per-component conditional
expectations and autograd, the transport equation, the ODE likelihood against exact densities,
agreement of the samplers, memorization and bad input. The contract it shares with the other
estimators is tested in test_contract.py."""

import numpy as np
import pytest
import torch
from scipy.special import logsumexp
from scipy.stats import ks_2samp, multivariate_normal
from sklearn.neighbors import KernelDensity

from _reference import dense_covariances
from _stats import energy_permutation_pvalue
from wpokernel import EmpiricalScore, WPOKernelScore
from wpokernel.datasets import make_toy
from wpokernel.diagnostics import memorization_ratio, nearest_neighbor_distances
from wpokernel.estimators.interpolant import StochasticInterpolant
from wpokernel.interpolant_coefficients import FAMILIES, GAMMAS

QUIET = {"progress": False}


# ------------------------------------------------------------------ dense references
# The references work in the model's standardized coordinates u = (x - mean_) / scale_, where
# its target lives; velocities are scale_ times theirs in the caller's units, scores 1/scale_
# times, divergences the same, log-densities d log(scale_) less.

def _u(model, x):
    return (x - model.mean_) / model.scale_


def _parts(model, t):
    """Centers, weights, dense covariances of the target and the coefficients at ``t``."""
    field = model.target_field_
    centers = np.asarray(field.centers)
    covariances = dense_covariances(field.covariance, *centers.shape)
    return centers, np.exp(field.log_weights), covariances, model.coefficients_(t)


def _reference_log_density(model, x, t):
    """log p_t(x) of the mixture sum_j w_j N(beta mu_j, beta^2 C_j + sigma^2 I), by a loop."""
    centers, weights, covariances, c = _parts(model, t)
    eye = np.eye(centers.shape[1])
    log_k = [np.log(w) + multivariate_normal(c.beta * mu, c.beta**2 * cov + c.noise_variance * eye)
             .logpdf(x).reshape(-1) for mu, w, cov in zip(centers, weights, covariances)]
    return logsumexp(np.stack(log_k, axis=1), axis=1)


def _reference_velocity_and_score(model, x, t):
    """b and s by a loop over components with explicit per-component Gaussian conditioning.

    Given the component j, (x0, x1, z, x_t) are jointly Gaussian with
    Cov(x0, x_t) = alpha I, Cov(x1, x_t) = beta C_j, Cov(z, x_t) = gamma I and
    Var(x_t) = S_j = beta^2 C_j + (alpha^2 + gamma^2) I, so with r_j = S_j^{-1}(x - beta mu_j):
    E[x0 | x, j] = alpha r_j, E[x1 | x, j] = mu_j + beta C_j r_j, E[z | x, j] = gamma r_j.
    """
    centers, weights, covariances, c = _parts(model, t)
    eye = np.eye(centers.shape[1])
    log_k, conditional, precision_terms = [], [], []
    for mu, w, cov in zip(centers, weights, covariances):
        S = c.beta**2 * cov + c.noise_variance * eye
        log_k.append(np.log(w) + multivariate_normal(c.beta * mu, S).logpdf(x).reshape(-1))
        r = np.linalg.solve(S, (x - c.beta * mu).T).T  # (M, d)
        # alpha' E[x0] + gamma' E[z] = (alpha alpha' + gamma gamma') r: finite where a derivative is not.
        conditional.append(c.alpha_alpha_dot * r + c.beta_dot * (mu + c.beta * r @ cov.T)
                           + c.gamma_gamma_dot * r)
        precision_terms.append(r)
    log_k = np.stack(log_k, axis=1)
    responsibilities = np.exp(log_k - logsumexp(log_k, axis=1, keepdims=True))  # (M, N)
    velocity = np.einsum("mn,nmd->md", responsibilities, np.stack(conditional))
    score = -np.einsum("mn,nmd->md", responsibilities, np.stack(precision_terms))
    return velocity, score


def _autograd_velocity(model, x, t):
    """Score by autograd of log p_t (torch.distributions, float64), the velocity formula
    b = (beta'/beta) x + (beta' sigma^2 / beta - alpha alpha' - gamma gamma') s with that score,
    and the divergence of b by autograd again (t > 0)."""
    centers, weights, covariances, c = _parts(model, t)
    d = centers.shape[1]
    components = torch.distributions.MultivariateNormal(
        torch.as_tensor(c.beta * centers),
        covariance_matrix=torch.as_tensor(c.beta**2 * covariances + c.noise_variance * np.eye(d)))
    log_w = torch.as_tensor(np.log(weights))
    ratio = c.beta_dot / c.beta
    factor = ratio * c.noise_variance - c.alpha_alpha_dot - c.gamma_gamma_dot
    velocities, scores, divergences = [], [], []
    for row in torch.as_tensor(x):
        y = row.clone().requires_grad_(True)
        log_p = torch.logsumexp(log_w + components.log_prob(y.expand(len(log_w), d)), 0)
        (score,) = torch.autograd.grad(log_p, y, create_graph=True)
        velocity = ratio * y + factor * score
        divergence = sum(torch.autograd.grad(velocity[k], y, retain_graph=True)[0][k] for k in range(d))
        velocities.append(velocity.detach().numpy())
        scores.append(score.detach().numpy())
        divergences.append(float(divergence))
    return np.array(velocities), np.array(scores), np.array(divergences)


# ------------------------------------------------------------------ fixtures

@pytest.fixture(scope="module")
def data3d():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(30, 3)) * [1.0, 0.5, 2.0]
    return X, rng.normal(size=(6, 3)) * 1.5


def _wpo(structure):
    return WPOKernelScore(structure=structure, rank=1, max_steps=3, random_state=0, progress=False)


# Every schedule on a KDE target (isotropic components), and one schedule on each structure of a
# fitted WPOKernelScore target (one fit each keeps the module fast).
CASES = [(0.4, family, gamma) for family in FAMILIES for gamma in GAMMAS] + [
    ("diagonal", "trigonometric", "sqrt"), ("lowrank", "sbdm", "quadratic"), ("full", "linear", "sqrt")]


@pytest.fixture(scope="module", params=CASES, ids=lambda case: "-".join(map(str, case)))
def fitted(request, data3d):
    target, family, gamma = request.param
    target = _wpo(target) if isinstance(target, str) else target
    return StochasticInterpolant(target=target, interpolant=family, gamma=gamma, gamma_scale=1.7,
                                 **QUIET).fit(data3d[0])


# ------------------------------------------------------------------ closed forms

def test_velocity_and_score_are_per_component_conditional_expectations(fitted, data3d):
    x = data3d[1]
    scale = fitted.scale_
    for t in (0.0, 0.23, 0.61, 0.97, 1.0):
        velocity, score = _reference_velocity_and_score(fitted, _u(fitted, x), t)
        np.testing.assert_allclose(fitted.velocity(x, t), scale * velocity, rtol=1e-8, atol=1e-10)
        np.testing.assert_allclose(fitted.score_function(x, t), score / scale, rtol=1e-8, atol=1e-10)


def test_velocity_score_and_divergence_match_autograd(fitted, data3d):
    x = data3d[1]
    scale = fitted.scale_
    for t in (0.05, 0.4, 0.9, 1.0):
        velocity, score, divergence = _autograd_velocity(fitted, _u(fitted, x), t)
        model_velocity, model_divergence = fitted.velocity(x, t, return_divergence=True)
        np.testing.assert_allclose(fitted.score_function(x, t), score / scale, rtol=1e-8, atol=1e-10)
        np.testing.assert_allclose(model_velocity, scale * velocity, rtol=1e-8, atol=1e-10)
        np.testing.assert_allclose(model_divergence, divergence, rtol=1e-8, atol=1e-10)


def test_transport_equation_by_finite_differences_in_time(fitted, data3d):
    # d/dt log p_t + div(b p_t) / p_t = d/dt log p_t + div b + b . grad log p_t = 0.
    # The residual is the same in every unit of x: the log-Jacobian does not depend on t.
    x, h = data3d[1], 1e-5
    u = _u(fitted, x)
    for t in (0.2, 0.55, 0.9):
        dt_log_p = (_reference_log_density(fitted, u, t + h)
                    - _reference_log_density(fitted, u, t - h)) / (2 * h)
        velocity, divergence = fitted.velocity(x, t, return_divergence=True)
        residual = dt_log_p + divergence + np.sum(velocity * fitted.score_function(x, t), axis=1)
        np.testing.assert_allclose(residual, 0.0, atol=1e-6 * (1 + np.abs(dt_log_p).max()))


def test_every_backend_gives_the_same_velocity(backend, data3d):
    X, x = data3d
    reference = StochasticInterpolant(target=0.4, gamma="sqrt", backend="numpy", **QUIET).fit(X)
    model = StochasticInterpolant(target=0.4, gamma="sqrt", backend=backend, **QUIET).fit(X)
    for got, expected in zip(model.velocity(x, 0.4, return_divergence=True),
                             reference.velocity(x, 0.4, return_divergence=True)):
        np.testing.assert_allclose(got, expected, rtol=1e-9, atol=1e-12)


def test_time_zero_is_the_limit_of_the_velocity(data3d):
    # At t = 0 the formula divides by beta = 0; the velocity there is the limit.
    X, x = data3d
    model = StochasticInterpolant(target=0.3, interpolant="trigonometric", **QUIET).fit(X)
    np.testing.assert_allclose(model.mean_ + model.scale_ * model.target_field_.mean(),
                               X.mean(axis=0), rtol=1e-12, atol=1e-15)
    v0, div0 = model.velocity(x, 0.0, return_divergence=True)
    v, div = model.velocity(x, 1e-7, return_divergence=True)
    np.testing.assert_allclose(v0, v, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(div0, div, atol=1e-5)


# ------------------------------------------------------------------ likelihood

@pytest.fixture(scope="module")
def spirals():
    return make_toy("2spirals", 300, random_state=0), make_toy("2spirals", 300, random_state=1)


def _second_order_errors(model, x, exact):
    """Largest errors of the ODE log-likelihood at 100 and 200 steps."""
    return [np.abs(model.set_params(n_steps=n).score_samples(x) - exact).max() for n in (100, 200)]


@pytest.mark.parametrize("gamma", ["zero", "sqrt"])
def test_ode_likelihood_is_the_kde_log_density_to_second_order(spirals, gamma):
    # With a KDE target p_1 is the KDE itself. Heun's method with the trapezoidal divergence
    # integral has an O(dt^2) global error, so halving the step divides the error by about 4
    # (measured 4.7e-4 -> 1.3e-4 without latent noise, 2.2e-3 -> 5.7e-4 with it).
    X, X_test = spirals[0][:150], spirals[1][:30]
    model = StochasticInterpolant(target=0.2, gamma=gamma, **QUIET).fit(X)
    spread = np.sqrt(X.var(axis=0).mean())  # the bandwidth is 0.2 of the data's spread
    exact = KernelDensity(bandwidth=0.2 * spread).fit(X).score_samples(X_test)
    coarse, fine = _second_order_errors(model, X_test, exact)
    assert 3.5 < coarse / fine < 4.5
    assert fine < {"zero": 2.5e-4, "sqrt": 1.2e-3}[gamma]


@pytest.mark.parametrize("target", [None, "wpo"])
def test_ode_likelihood_matches_the_exact_mixture_density(data3d, target):
    # The empirical target stopped where sigma_t^2 = (1 - t)^2 + t (1 - t) = 1 - t is 0.1,
    # at t_end = 0.9, where p_t_end is a known mixture (near t = 1 it is a sum of narrow bumps
    # that no fixed grid resolves); a WPO target with the sqrt latent noise runs to t = 1,
    # where p_1 is the fitted model density. Second order as above (measured 2.7e-3 -> 6.9e-4
    # and 2.6e-3 -> 6.5e-4 at 100 -> 200 steps).
    X, x = data3d
    target, sigma_min = (_wpo("full"), "auto") if target == "wpo" else (None, np.sqrt(0.1))
    model = StochasticInterpolant(target=target, gamma="sqrt", sigma_min=sigma_min, **QUIET).fit(X)
    assert model.t_end_ == pytest.approx(1.0 if target is not None else 0.9, rel=1e-12)
    exact = (_reference_log_density(model, _u(model, x), model.t_end_)
             - x.shape[1] * np.log(model.scale_))
    if target is not None:
        np.testing.assert_allclose(exact, model.target_estimator_.score_samples(x), rtol=1e-10)
    coarse, fine = _second_order_errors(model, x, exact)
    assert 3.5 < coarse / fine < 4.5
    assert fine < 1.6e-3
    assert model.score(x) == pytest.approx(np.mean(model.score_samples(x)))


# ------------------------------------------------------------------ sampling

def test_ode_sde_and_exact_samples_have_the_same_law(spirals):
    # A narrow KDE on few points, so that its bumps are visible: the global shape by the energy
    # test, the local scale by the law of the distance to the nearest training point (KS test).
    X = spirals[0][:60]
    model = StochasticInterpolant(target=0.08, gamma="sqrt", **QUIET).fit(X)
    exact = model.sample(300, random_state=0, method="exact")
    ode = model.sample(300, random_state=1)
    sde = model.set_params(diffusion=2.0).sample(300, random_state=2, method="sde")
    assert energy_permutation_pvalue(ode, sde) > 0.01

    def gap(a):
        return nearest_neighbor_distances(a, X, n_neighbors=1)[:, 0]

    assert ks_2samp(gap(exact), gap(ode)).pvalue > 0.01
    assert ks_2samp(gap(exact), gap(sde)).pvalue > 0.01
    # The local test has power: a KDE 1.5 times as wide is told apart.
    wide = StochasticInterpolant(target=0.12, **QUIET).fit(X).sample(300, random_state=3, method="exact")
    assert ks_2samp(gap(exact), gap(wide)).pvalue < 0.01


@pytest.mark.parametrize("interpolant, gamma", [("linear", "zero"), ("sbdm", "sqrt")])
def test_empirical_target_memorizes(spirals, interpolant, gamma):
    # The dynamics stop where the noise level is 1e-3, far below the spacing of the data.
    X, X_test = spirals
    model = StochasticInterpolant(interpolant=interpolant, gamma=gamma, **QUIET).fit(X)
    assert np.sqrt(model.coefficients_(model.t_end_).noise_variance) == pytest.approx(1e-3, rel=1e-9)
    if interpolant == "linear":
        assert model.t_end_ == pytest.approx(1 - 1e-3, rel=1e-12)
    for method in ("ode", "sde"):
        assert memorization_ratio(model.sample(300, random_state=0, method=method), X)[0] > 0.9
    assert memorization_ratio(X_test, X)[0] < 0.5


@pytest.mark.parametrize("target", ["scott", EmpiricalScore(bandwidth="silverman", sigma_min=1e-2)])
def test_smoothed_target_does_not_memorize(spirals, target):
    X, X_test = spirals
    samples = StochasticInterpolant(target=target, **QUIET).fit(X).sample(300, random_state=0)
    fraction, test_fraction = memorization_ratio(samples, X)[0], memorization_ratio(X_test, X)[0]
    # Binomial standard error of the difference of two fractions of 300 points.
    standard_error = np.sqrt(2 * test_fraction * (1 - test_fraction) / 300)
    assert abs(fraction - test_fraction) < 4 * standard_error


def test_every_sampler_is_reproducible(spirals):
    X = spirals[0][:50]
    model = StochasticInterpolant(target=0.3, n_steps=10, **QUIET).fit(X)
    for method in ("ode", "sde", "exact"):
        a = model.sample(4, random_state=7, method=method)
        b = model.sample(4, random_state=7, method=method)
        assert a.shape == (4, 2) and a.dtype == np.float64
        np.testing.assert_array_equal(a, b)


def test_sample_weight_is_row_repetition(spirals):
    X, X_test = spirals[0][:40], spirals[1][:5]
    weights = np.r_[np.zeros(5), np.full(5, 2.0), np.ones(30)]
    repeated = np.concatenate([X[5:10]] * 2 + [X[10:]])
    a = StochasticInterpolant(target="scott", n_steps=10, **QUIET).fit(X, sample_weight=weights)
    b = StochasticInterpolant(target="scott", n_steps=10, **QUIET).fit(repeated)
    np.testing.assert_allclose(a.score_samples(X_test), b.score_samples(X_test), rtol=1e-10)
    np.testing.assert_allclose(a.velocity(X_test, 0.5), b.velocity(X_test, 0.5), rtol=1e-10)


# ------------------------------------------------------------------ bad input

@pytest.mark.parametrize("params, error, match", [
    ({"interpolant": "cosine"}, ValueError, "Expected interpolant in"),
    ({"gamma": "cubic"}, ValueError, "Expected gamma in"),
    ({"gamma_scale": 0.0}, ValueError, "Expected gamma_scale > 0"),
    ({"diffusion": -1.0}, ValueError, "Expected diffusion >= 0"),
    ({"sigma_min": 1.5}, ValueError, "Expected sigma_min < 1, the noise of the Gaussian base"),
    ({"sigma_min": -0.1}, ValueError, "Expected sigma_min >= 0"),
    ({"sigma_min": "late"}, ValueError, "Expected sigma_min in"),
    ({"sigma_min": 0.0}, ValueError, "Expected sigma_min > 0 for the empirical target"),
])
def test_invalid_hyper_parameters(spirals, params, error, match):
    with pytest.raises(error, match=match):
        StochasticInterpolant(**params).fit(spirals[0][:20])


def test_invalid_calls(spirals):
    X = spirals[0][:20]
    model = StochasticInterpolant(target=0.3, n_steps=5, **QUIET).fit(X)
    with pytest.raises(ValueError, match="3 features, but StochasticInterpolant is expecting 2"):
        model.velocity(np.zeros((2, 3)), 0.5)
    with pytest.raises(ValueError, match=r"Expected times t in \[0, 1\]"):
        model.velocity(X, 1.5)
    with pytest.raises(TypeError, match=r"Expected a real time t in \[0, 1\]"):
        model.score_function(X, "0.5")
    with pytest.raises(TypeError, match="Expected a bool for return_divergence"):
        model.velocity(X, 0.5, return_divergence=1)
    with pytest.raises(ValueError, match="Expected method in"):
        model.sample(method="langevin")


def test_empirical_target_has_no_density_at_time_one(spirals):
    model = StochasticInterpolant(**QUIET).fit(spirals[0][:20])
    with pytest.raises(ValueError, match="positive variances"):
        model.velocity(spirals[1][:3], 1.0)
