"""NeuralInterpolant against the exact interpolant of Gaussian data: velocity, score, law and
log-density; the kernel form's conventions; clear errors."""

import inspect

import numpy as np
import pytest
from scipy.stats import multivariate_normal

from _stats import energy_permutation_pvalue
from wpokernel import NeuralInterpolant, StochasticInterpolant
from wpokernel.interpolant_coefficients import InterpolantCoefficients

QUIET = {"progress": False, "random_state": 0}
TINY = {"network": "mlp", "width": 16, "depth": 1, "max_steps": 20, "n_steps": 4, **QUIET}
D = 4


@pytest.fixture(scope="module")
def gaussian():
    """A model of N(mu, Sigma) in d = 4 (standardized data, so that the exact fields of the
    standardized coordinates are those of the data) and the exact law."""
    rng = np.random.default_rng(0)
    Q, _ = np.linalg.qr(rng.normal(size=(D, D)))
    X = rng.multivariate_normal(np.zeros(D), (Q * np.linspace(0.4, 1.6, D)) @ Q.T, size=4000)
    X = (X - X.mean(0)) / np.sqrt(X.var(0).mean())
    mu, Sigma = X.mean(0), np.cov(X.T, bias=True)
    model = NeuralInterpolant(network="mlp", width=64, depth=2, max_steps=2000,
                              batch_size=256, validation_fraction=0, **QUIET).fit(X)
    return model, mu, Sigma


def _exact_fields(coefficients, mu, Sigma, x, t):
    """Velocity and score of x_t = beta x_1 + sigma_t eps with x_1 ~ N(mu, Sigma)."""
    c = coefficients(t)
    beta, variance = float(c.beta), float(c.noise_variance)
    covariance = beta**2 * Sigma + variance * np.eye(D)
    score = -np.linalg.solve(covariance, (x - beta * mu).T).T
    posterior_mean = mu + beta * (Sigma @ np.linalg.solve(covariance, (x - beta * mu).T)).T
    return float(c.beta_dot) * posterior_mean - float(c.noise_variance_rate) * score, score, covariance


def test_the_learned_velocity_and_score_are_the_exact_ones(gaussian):
    model, mu, Sigma = gaussian
    rng = np.random.default_rng(1)
    errors = {"velocity": [], "score": []}
    for t in (0.1, 0.3, 0.5, 0.7, 0.9):
        _, _, covariance = _exact_fields(model.coefficients_, mu, Sigma, np.zeros((1, D)), t)
        x = rng.multivariate_normal(float(model.coefficients_(t).beta) * mu, covariance, 2000)
        exact_b, exact_s, _ = _exact_fields(model.coefficients_, mu, Sigma, x, t)
        for name, learned, exact in (("velocity", model.velocity(x, t), exact_b),
                                     ("score", model.score_function(x, t), exact_s)):
            errors[name].append(np.sqrt(((learned - exact) ** 2).sum() / (exact**2).sum()))
    assert np.mean(errors["velocity"]) < 0.1 and np.mean(errors["score"]) < 0.1, errors


def test_samples_and_log_density_are_those_of_the_exact_law(gaussian):
    model, mu, Sigma = gaussian
    law = multivariate_normal(mu, Sigma)
    for method, n_steps in (("ode", None), ("sde", 200)):
        samples = model.sample(600, random_state=2, method=method, n_steps=n_steps)
        exact = law.rvs(600, random_state=3)
        assert energy_permutation_pvalue(samples, exact) > 0.01, method
        assert energy_permutation_pvalue(mu + 1.5 * (samples - mu), exact) < 0.01
    x = law.rvs(200, random_state=4)
    assert np.abs(model.score_samples(x) - law.logpdf(x)).mean() / D < 0.05


def test_the_divergence_is_the_trace_of_the_velocity_jacobian(gaussian):
    model, _, _ = gaussian
    x, t, h = np.random.default_rng(5).normal(size=(3, D)), 0.4, 1e-4
    _, divergence = model.velocity(x, t, return_divergence=True)
    differences = sum((model.velocity(x + h * e, t) - model.velocity(x - h * e, t))[:, k] / (2 * h)
                      for k, e in enumerate(np.eye(D)))
    np.testing.assert_allclose(divergence, differences, rtol=1e-3, atol=1e-3)


def test_the_kernel_form_s_parameters_mean_the_same_here():
    # Switching between the kernel and the neural form is one class name.
    kernel = inspect.signature(StochasticInterpolant).parameters
    neural = inspect.signature(NeuralInterpolant).parameters
    shared = set(kernel) - {"target"}
    assert shared <= set(neural)
    assert {name: neural[name].default for name in shared} == \
        {name: kernel[name].default for name in shared}
    X = np.random.default_rng(0).normal(size=(50, 2))
    model = NeuralInterpolant(interpolant="trigonometric", gamma="quadratic", sigma_min=0.1,
                              **TINY).fit(X)
    assert model.sample(3, random_state=0).shape == (3, 2)
    kernel_model = StochasticInterpolant(interpolant="trigonometric", gamma="quadratic",
                                         sigma_min=0.1, progress=False).fit(X)
    assert model.t_end_ == kernel_model.t_end_
    np.testing.assert_array_equal(model._time_grid(7), kernel_model._time_grid(7))
    assert isinstance(model.coefficients_, InterpolantCoefficients)


@pytest.mark.parametrize("params, match", [
    ({"sigma_min": 1.0}, "Expected sigma_min < 1"),
    ({"network": "kernel-attention"}, r"Expected network in \('auto', 'mlp', 'unet'\)"),
])
def test_invalid_hyper_parameters(params, match):
    with pytest.raises(ValueError, match=match):
        NeuralInterpolant(**{**TINY, **params}).fit(np.random.default_rng(0).normal(size=(20, 2)))


def test_the_score_needs_noise():
    model = NeuralInterpolant(**TINY).fit(np.random.default_rng(0).normal(size=(20, 2)))
    with pytest.raises(ValueError, match="Expected a time t with noise sigma_t > 0"):
        model.score_function(np.zeros((1, 2)))  # t_end_ = 1, where sigma_t = 0
    with pytest.raises(ValueError, match=r"Expected a time t in \[0, 1\], got 1.5"):
        model.velocity(np.zeros((1, 2)), 1.5)
