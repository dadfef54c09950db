"""Results do not depend on the units of the data: for every exported estimator, fitting
``c X`` gives ``c`` times the samples of ``X`` and log-densities ``d log c`` lower, for ``c``
from 1e-6 to 1e6 and for features of very different scales; data with no spread is refused."""

import numpy as np
import pytest
from scipy.stats import ks_2samp
from sklearn.base import clone

from wpokernel import (
    ConditionalSchrodingerBridge,
    EmpiricalScore,
    FollmerBridge,
    LocalScoreMachine,
    NeuralInterpolant,
    NeuralScore,
    NadarayaWatson,
    SchrodingerBridge,
    ScoreDifferenceFlow,
    StochasticInterpolant,
    WPOKernelScore,
)
from wpokernel.datasets import make_toy
from wpokernel.estimators import __all__ as EXPORTED

QUIET = {"progress": False, "n_steps": 20}
# Defaults, with few integration and training steps (the defaults' units are what is tested).
GENERATIVE = [
    EmpiricalScore(**QUIET),
    EmpiricalScore(bandwidth="scott", **QUIET),
    WPOKernelScore(max_steps=10, random_state=0, **QUIET),
    StochasticInterpolant(**QUIET),
    StochasticInterpolant(target="scott", **QUIET),
    SchrodingerBridge(n_prior_samples=100, random_state=0, **QUIET),
    FollmerBridge(**QUIET),
    ScoreDifferenceFlow(**QUIET),
    LocalScoreMachine(random_state=0, **QUIET),
    NeuralScore(network="mlp", width=16, depth=1, max_steps=30, random_state=0, **QUIET),
    NeuralInterpolant(width=16, depth=1, max_steps=30, random_state=0, **QUIET),
]
CONDITIONAL = [NadarayaWatson(), ConditionalSchrodingerBridge(**QUIET)]
SCALES = [1e-6, 1e-3, 1.0, 1e3, 1e6]
# Relative agreement of samples and log-densities across units: rounding, amplified at most
# by the stiffest dynamics (the unsmoothed empirical score near its stop).
RTOL = 1e-8


def _name(estimator):
    return type(estimator).__name__


def test_every_exported_estimator_is_covered():
    assert {_name(e) for e in GENERATIVE + CONDITIONAL} == set(EXPORTED)


@pytest.fixture(scope="module", params=["isotropic", "anisotropic"])
def data(request):
    X = make_toy("moons", 240, random_state=0)
    if request.param == "anisotropic":
        X = X * [1e-3, 1e3] + [5.0, -2e3]  # features six orders of magnitude apart
    return X[:160], X[160:]


def _fit(estimator, X, c):
    return clone(estimator).fit(c * X)


@pytest.mark.parametrize("estimator", GENERATIVE, ids=_name)
def test_samples_and_densities_scale_with_the_data(estimator, data):
    X, X_test = data
    reference = _fit(estimator, X, 1.0)
    spread = np.abs(X).max()
    for c in SCALES:
        model = _fit(estimator, X, c)
        for method in model._sample_methods:
            samples = model.sample(50, random_state=3, method=method) / c
            np.testing.assert_allclose(samples, reference.sample(50, random_state=3, method=method),
                                       rtol=0, atol=RTOL * spread)
        if hasattr(model, "score_samples"):
            expected = reference.score_samples(X_test) - X.shape[1] * np.log(c)
            np.testing.assert_allclose(model.score_samples(c * X_test), expected, rtol=RTOL,
                                       atol=RTOL * np.abs(expected).max())


# KS tests per feature, two scales, two data sets, every estimator: Bonferroni keeps the
# family-wise false alarm rate of the module at 1%.
_ALPHA = 0.01 / (len(GENERATIVE) * 2 * 2 * 2)


@pytest.mark.parametrize("estimator", GENERATIVE, ids=_name)
def test_scaled_samples_have_the_law_of_the_samples(estimator, data):
    # Independent draws of the models of c X and of X, brought to one unit, are not told
    # apart, while a law 1.5 times as wide about the data's mean is (the test has power).
    X, _ = data
    mean = X.mean(0)
    reference = _fit(estimator, X, 1.0).sample(600, random_state=1)
    for c in (1e-6, 1e6):
        scaled = _fit(estimator, X, c).sample(600, random_state=2) / c
        wide = mean + 1.5 * (scaled - mean)
        for k in range(X.shape[1]):
            assert ks_2samp(scaled[:, k], reference[:, k]).pvalue > _ALPHA
        assert min(ks_2samp(wide[:, k], reference[:, k]).pvalue for k in range(2)) < _ALPHA


@pytest.mark.parametrize("estimator", CONDITIONAL, ids=_name)
def test_conditional_laws_scale_with_covariates_and_responses(estimator, data):
    X, X_test = data
    x, y = X[:, :1], X[:, 1]
    reference = clone(estimator).fit(x, y)
    for c_x, c_y in [(1e-6, 1e6), (1e3, 1e-3), (1e6, 1.0)]:
        model = clone(estimator).fit(c_x * x, c_y * y)
        np.testing.assert_allclose(model.predict(c_x * X_test[:, :1]) / c_y,
                                   reference.predict(X_test[:, :1]), rtol=RTOL, atol=RTOL)
        if hasattr(model, "sample"):
            np.testing.assert_allclose(model.sample(c_x * X_test[:5, :1], 4, random_state=0) / c_y,
                                       reference.sample(X_test[:5, :1], 4, random_state=0),
                                       rtol=RTOL, atol=RTOL * np.abs(y).max())
        else:
            np.testing.assert_allclose(model.predict_std(c_x * X_test[:, :1]) / c_y,
                                       reference.predict_std(X_test[:, :1]), rtol=RTOL, atol=RTOL)


@pytest.mark.parametrize("estimator", GENERATIVE + CONDITIONAL, ids=_name)
def test_data_without_spread_is_refused(estimator):
    X = np.full((6, 2), 3.0)
    args = (X[:, :1], np.arange(6.0)) if estimator in CONDITIONAL else (X,)
    with pytest.raises(ValueError, match="Expected X with a positive spread, got 6 rows that are "
                                         "all the same point"):
        clone(estimator).fit(*args)
