"""make_conditional against the simulation models it is defined by."""

import numpy as np
import pytest
from scipy import stats

from wpokernel.datasets import CONDITIONAL_NAMES, make_conditional


def _model_mean_std(name, X):
    """The two models written out again, column by column."""
    x1, x2, x3, x4, x5 = X.T
    if name == "additive":
        return x1**2 + np.exp(x2 + 0.25 * x3) + np.cos(x4 + x5), np.ones_like(x1)
    return x1**2 + np.exp(x2 + 0.25 * x3) + x4 - x5, 0.5 + 0.5 * x2**2


def test_names():
    assert set(CONDITIONAL_NAMES) == {"additive", "heteroscedastic"}


@pytest.mark.parametrize("name", CONDITIONAL_NAMES)
def test_shapes_and_reproducibility(name):
    data = make_conditional(name, 7, random_state=3)
    assert data.X.shape == (7, 5) and data.y.shape == data.mean.shape == data.std.shape == (7,)
    assert all(a.dtype == np.float64 for a in data)
    again = make_conditional(name, 7, random_state=3)
    for a, b in zip(data, again):
        np.testing.assert_array_equal(a, b)
    assert make_conditional(name, 1).X.shape == (1, 5)


@pytest.mark.parametrize("name", CONDITIONAL_NAMES)
def test_true_moments_match_the_model(name):
    X, y, mean, std = make_conditional(name, 4000, random_state=0)
    expected_mean, expected_std = _model_mean_std(name, X)
    np.testing.assert_allclose(mean, expected_mean, rtol=1e-14)
    np.testing.assert_allclose(std, expected_std, rtol=1e-14)
    # Standardized residuals are N(0, 1) and the covariates N(0, I_5).
    assert stats.kstest((y - mean) / std, "norm").pvalue > 0.01
    for column in X.T:
        assert stats.kstest(column, "norm").pvalue > 0.01
    # Sample correlations of independent columns have standard error 1/sqrt(n).
    np.testing.assert_allclose(np.corrcoef(X.T), np.eye(5), atol=5 / np.sqrt(len(X)))


def test_heteroscedastic_residual_spread_grows_with_x2():
    X, y, mean, _ = make_conditional("heteroscedastic", 4000, random_state=1)
    small, large = np.abs(X[:, 1]) < 0.5, np.abs(X[:, 1]) > 1.5
    assert np.std((y - mean)[large]) > 2 * np.std((y - mean)[small])


@pytest.mark.parametrize("kwargs, error, match", [
    ({"name": "linear"}, ValueError, "Expected name to be one of 'additive', 'heteroscedastic'"),
    ({"n_samples": 0}, ValueError, "Expected n_samples to be a positive int"),
    ({"n_samples": 2.0}, TypeError, "Expected n_samples to be a positive int"),
])
def test_invalid_input(kwargs, error, match):
    with pytest.raises(error, match=match):
        make_conditional(**{"name": "additive", "n_samples": 5, **kwargs})
