"""The template: a new estimator that supplies only its fit and its score gets the reverse SDE,
the probability-flow ODE, the ODE log-likelihood, the scikit-learn contract and the units
of every other estimator from the base, and its samples have the exact law."""

import numpy as np
import pytest
from scipy.stats import multivariate_normal

from _stats import energy_permutation_pvalue
from wpokernel.estimators._base import BaseScoreModel


class GaussianScore(BaseScoreModel):
    """N(mu, Sigma) fitted to the data, by its closed-form heat-flowed score."""

    def __init__(self, *, beta=1.0, T=100.0, sigma_min=1e-3, n_steps=200, backend="auto",
                 working_memory=256, device="cpu", progress=False):
        self.beta, self.T, self.sigma_min, self.n_steps = beta, T, sigma_min, n_steps
        self.backend, self.working_memory, self.device, self.progress = (
            backend, working_memory, device, progress)

    def _fit(self, X, sample_weight):
        self.location_ = np.average(X, axis=0, weights=sample_weight)
        self.spread_ = np.cov(X.T, aweights=sample_weight, bias=True)

    def _score(self, x, t):
        # grad log N(x; mu, Sigma + beta^2 t I) = -(Sigma + beta^2 t I)^{-1} (x - mu)
        precision = np.linalg.inv(self.spread_ + self.beta**2 * t * np.eye(len(self.location_)))
        return -(x - self.location_) @ precision


@pytest.fixture(scope="module")
def gaussian():
    rng = np.random.default_rng(0)
    mean, A = np.array([3.0, -1.0]), np.array([[2.0, 0.0], [1.2, 0.5]])
    X = mean + rng.normal(size=(4000, 2)) @ A.T
    model = GaussianScore().fit(X)
    # The model's law: the fitted Gaussian, plus the noise left where sampling stops
    # (sigma_min times the data's spread, in every direction).
    mu, sigma = np.average(X, axis=0), np.cov(X.T, bias=True)
    law = multivariate_normal(mu, sigma + (model.sigma_min * model.scale_) ** 2 * np.eye(2))
    return model, law


@pytest.mark.parametrize("method", ["sde", "ode"])
def test_samples_of_the_base_samplers_have_the_exact_law(gaussian, method):
    model, law = gaussian
    samples = model.sample(600, random_state=1, method=method)
    exact = law.rvs(600, random_state=2)
    assert energy_permutation_pvalue(samples, exact) > 0.01
    wide = law.mean + 1.5 * (samples - law.mean)
    assert energy_permutation_pvalue(wide, exact) < 0.01  # the test has power


def test_the_ode_log_likelihood_is_the_exact_density(gaussian):
    # No divergence is supplied: the base estimates it (Hutchinson, central differences).
    model, law = gaussian
    x = law.rvs(50, random_state=3)
    np.testing.assert_allclose(model.score_samples(x), law.logpdf(x), atol=0.05)
    assert model.score(x) == pytest.approx(np.mean(model.score_samples(x)))


def test_the_score_function_is_in_the_callers_units(gaussian):
    model, law = gaussian
    x = law.rvs(5, random_state=4)
    t = 0.3
    # At time t the noise added has variance beta^2 t times the data's variance scale_^2.
    covariance = law.cov + (model.beta**2 * t - model.sigma_min**2) * model.scale_**2 * np.eye(2)
    np.testing.assert_allclose(model.score_function(x, t), -np.linalg.solve(
        covariance, (x - law.mean).T).T, rtol=1e-10)


def test_the_base_checks_and_conventions(gaussian):
    model, _ = gaussian
    with pytest.raises(ValueError, match="Expected method in"):
        model.sample(2, method="exact")  # no closed-form sampler was supplied
    with pytest.raises(ValueError, match=r"Expected sigma_min < beta \* sqrt\(T\)"):
        GaussianScore(sigma_min=20.0).fit(np.eye(3))
    assert model.sample(3, random_state=0).shape == (3, 2)
