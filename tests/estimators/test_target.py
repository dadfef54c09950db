"""Target measures of the closed-form estimators against direct densities."""

import numpy as np
import pytest
from scipy.special import logsumexp
from scipy.stats import multivariate_normal

from wpokernel import EmpiricalScore, WPOKernelScore
from _reference import data_spread
from wpokernel.estimators._target import check_target, fit_target
from wpokernel.estimators.empirical import bandwidth_rule


@pytest.fixture
def data():
    rng = np.random.default_rng(0)
    return rng.normal(size=(40, 2)), rng.normal(size=(7, 2))


def _kde_log_density(x, X, h, weight):
    log_k = np.stack([multivariate_normal(xi, h**2 * np.eye(2)).logpdf(x) for xi in X], 1)
    return logsumexp(log_k + np.log(weight / weight.sum()), 1)


@pytest.mark.parametrize("target", [0.3, "scott", "silverman"])
def test_bandwidth_targets_are_weighted_kdes(data, target):
    X, x = data
    weight = np.random.default_rng(1).integers(0, 3, len(X)).astype(float)
    field, estimator = fit_target(target, X, weight)
    assert estimator is None
    h = target if isinstance(target, float) else bandwidth_rule(X, target, weight)
    keep = weight > 0
    np.testing.assert_allclose(field.log_density(x), _kde_log_density(x, X[keep], h, weight[keep]),
                               rtol=1e-10)


def test_none_is_the_empirical_measure(data):
    X, _ = data
    field, _ = fit_target(None, X)
    samples = field.sample(50, random_state=0)
    distances = np.abs(samples[:, None, :] - X[None]).max(2).min(1)
    np.testing.assert_array_equal(distances, 0.0)


@pytest.mark.parametrize("target", [EmpiricalScore(bandwidth=0.2, sigma_min=0.1),
                                    WPOKernelScore(max_steps=3, random_state=0, progress=False)])
def test_estimator_targets_are_clones_with_the_model_density(data, target):
    X, x = data
    field, estimator = fit_target(target, X)
    assert estimator is not target and not hasattr(target, "field_")
    np.testing.assert_allclose(field.log_density(x), estimator.score_samples(x), rtol=1e-10)


def test_a_target_model_with_weights_is_fitted_with_them(data):
    # EmpiricalScore takes frequency weights: its model density is the weighted KDE of
    # bandwidth sqrt(h^2 + sigma_min^2) times the weighted spread, and the target's mean is
    # the weighted mean.
    X, x = data
    weight = np.random.default_rng(2).integers(0, 3, len(X)).astype(float)
    field, _ = fit_target(EmpiricalScore(bandwidth=0.3, sigma_min=0.1), X, weight)
    keep = weight > 0
    mean, spread = data_spread(X, weight)
    np.testing.assert_allclose(field.log_density(x), _kde_log_density(
        x, X[keep], np.sqrt(0.1) * spread, weight[keep]), rtol=1e-10)
    np.testing.assert_allclose(field.mean(), mean, rtol=1e-12)


def test_a_target_model_without_weights_takes_only_unit_weights(data):
    X, x = data
    wpo = WPOKernelScore(max_steps=0, random_state=0, progress=False)
    with pytest.raises(ValueError, match=r"Expected sample_weight=None with "
                                         r"target=WPOKernelScore\(\.\.\.\), which takes no sample "
                                         r"weights, got weights\."):
        fit_target(wpo, X, np.r_[2.0, np.ones(len(X) - 1)])
    unit, _ = fit_target(wpo, X, np.ones(len(X)))
    unweighted, _ = fit_target(wpo, X)
    np.testing.assert_array_equal(unit.log_density(x), unweighted.log_density(x))


@pytest.mark.parametrize("bad", [-0.1, float("nan"), "median", [1.0], object()])
def test_invalid_targets_are_rejected(bad):
    with pytest.raises((TypeError, ValueError), match="Expected target to be None, a bandwidth"):
        check_target("target", bad)
