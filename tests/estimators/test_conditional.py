"""ConditionalSchrodingerBridge and NadarayaWatson: drifts, closed forms, conditional laws. The
contract they share with the other estimators is tested in test_contract.py."""

import pickle

import numpy as np
import pytest
import torch
from scipy.stats import kstest, multivariate_normal, norm
from sklearn.exceptions import NotFittedError

from _reference import data_spread
from wpokernel.estimators.conditional import (
    CV_FACTORS,
    ConditionalSchrodingerBridge,
    NadarayaWatson,
    cv_bandwidth,
    nadaraya_watson,
    out_of_fold_means,
)
from wpokernel.estimators.empirical import bandwidth_rule

FAST = {"n_steps": 5, "progress": False}


def _standardized(A):
    """``A`` shifted and scaled to mean 0 and root-mean-square spread 1, the coordinates the
    estimators work in: in them the estimators' parameters and formulas are the plain ones
    below (the change of units is tested in tests/estimators/test_scale.py)."""
    mean, spread = data_spread(A)
    return (A - mean) / spread


@pytest.fixture(scope="module")
def pairs():
    """Small data with two covariates and two responses."""
    rng = np.random.default_rng(0)
    X = rng.normal(size=(30, 2))
    Y = np.column_stack([X[:, 0] ** 2, X[:, 1]]) + 0.3 * rng.normal(size=(30, 2))
    return _standardized(X), _standardized(Y)


@pytest.fixture(scope="module")
def linear():
    """Y | X = x ~ N(2x, 0.5^2) with X uniform on (-1, 1), in the data's own units."""
    rng = np.random.default_rng(1)
    X = rng.uniform(-1, 1, size=(2000, 1))
    return X, 2 * X[:, 0] + 0.5 * rng.normal(size=2000)


# ------------------------------------------------------------------ drift closed forms

def _kernel_weights(x, X, bandwidth):
    """K_H(x - x_i), written densely."""
    d2 = ((x - X) ** 2).sum(1)
    return np.exp(-d2 / (2 * bandwidth**2)) / (2 * np.pi * bandwidth**2) ** (X.shape[1] / 2)


def _nw_loop(X, Y, bandwidth, x_m):
    w = _kernel_weights(x_m, X, bandwidth)
    return w @ Y / w.sum()


def _out_of_fold_loop(X, Y, bandwidth):
    """m_{-k(i)}(x_i) one row at a time, with the interleaved folds i % 5."""
    folds = np.arange(len(X)) % 5
    return np.array([_nw_loop(X[folds != folds[i]], Y[folds != folds[i]], bandwidth, X[i])
                     for i in range(len(X))])


def _component_means(X, Y, bandwidth, residuals, x_m):
    """mu_i(x) of (C1): y_i, or m(x) + r_i with the out-of-fold residuals r_i."""
    if not residuals:
        return Y
    return _nw_loop(X, Y, bandwidth, x_m) + Y - _out_of_fold_loop(X, Y, bandwidth)


def _drift_loop(X, Y, bandwidth, h, residuals, x, z, t):
    r"""(E[Y | Z_t = z, X = x] - z)/(1 - t) from the weights (C3) and, per component, the
    Gaussian posterior mean mu_i + t h^2 / sigma_t^2 (z - t mu_i)."""
    s2 = t**2 * h**2 + t * (1 - t)
    out = []
    for x_m, z_m in zip(x, z):
        mu = _component_means(X, Y, bandwidth, residuals, x_m)
        weights = _kernel_weights(x_m, X, bandwidth) * np.array(
            [multivariate_normal(t * mu_i, s2 * np.eye(len(z_m))).pdf(z_m) for mu_i in mu])
        means = mu + t * h**2 / s2 * (z_m - t * mu)
        out.append((weights @ means / weights.sum() - z_m) / (1 - t))
    return np.array(out)


def _drift_autograd(X, Y, bandwidth, h, residuals, x, z, t):
    """z / t + grad_z log sum_i K_H(x - x_i) N(z; t mu_i(x), sigma_t^2 I), in torch."""
    s2 = t**2 * h**2 + t * (1 - t)
    mu = torch.tensor(np.stack([_component_means(X, Y, bandwidth, residuals, x_m) for x_m in x]))
    z_t = torch.tensor(z, requires_grad=True)
    log_k = -((torch.tensor(x)[:, None] - torch.tensor(X)[None]) ** 2).sum(2) / (2 * bandwidth**2)
    log_n = -((z_t[:, None] - t * mu) ** 2).sum(2) / (2 * s2)  # (M, N)
    (grad,) = torch.autograd.grad(torch.logsumexp(log_k + log_n, 1).sum(), z_t)
    return (z_t / t + grad).detach().numpy()


@pytest.mark.parametrize("h, residuals", [(0.0, False), (0.3, False), (0.0, True), (0.3, True)])
@pytest.mark.parametrize("t", [0.05, 0.5, 0.95])
def test_drift_matches_loop_and_autograd(pairs, h, residuals, t):
    X, Y = pairs
    model = ConditionalSchrodingerBridge(bandwidth=0.7, y_bandwidth=h, residuals=residuals).fit(X, Y)
    rng = np.random.default_rng(2)
    x, z = rng.normal(size=(4, 2)), rng.normal(size=(4, 2))
    drift = model.drift(x, z, t)
    expected = _drift_loop(X, Y, 0.7, h, residuals, x, z, t)
    np.testing.assert_allclose(drift, expected, rtol=1e-8, atol=1e-8)
    expected = _drift_autograd(X, Y, 0.7, h, residuals, x, z, t)
    np.testing.assert_allclose(drift, expected, rtol=1e-8, atol=1e-8)


def test_residual_law_moments(pairs):
    # Mean and variance of sum_i w_i N(m(x) + r_i, h^2 I), from the loops.
    X, Y = pairs
    model = ConditionalSchrodingerBridge(bandwidth=0.7, y_bandwidth=0.2, residuals=True).fit(X, Y)
    residuals = Y - _out_of_fold_loop(X, Y, 0.7)
    np.testing.assert_allclose(model.responses_, residuals, rtol=1e-10, atol=1e-12)
    x = np.random.default_rng(4).normal(size=(3, 2))
    mean, variance = model._moments(x)
    for m, v, x_m in zip(mean, variance, x):
        w = _kernel_weights(x_m, X, 0.7)
        w /= w.sum()
        np.testing.assert_allclose(m, _nw_loop(X, Y, 0.7, x_m) + w @ residuals, rtol=1e-10)
        np.testing.assert_allclose(v, w @ (residuals - w @ residuals) ** 2 + 0.04, rtol=1e-8)
    np.testing.assert_allclose(model.predict(x), mean, rtol=1e-12)


def test_nadaraya_watson_matches_loop(pairs):
    X, Y = pairs
    x = np.random.default_rng(3).normal(size=(5, 2))
    Y = Y + 1e4  # far from 0, where a raw E[y^2] - m^2 would lose the variance
    mean, variance = nadaraya_watson(X, Y, x, 0.6)
    for m, v, x_m in zip(mean, variance, x):
        w = _kernel_weights(x_m, X, 0.6)
        w /= w.sum()
        np.testing.assert_allclose(m, w @ Y, rtol=1e-12)
        np.testing.assert_allclose(v, w @ (Y - w @ Y) ** 2, rtol=1e-6)
    model = NadarayaWatson(bandwidth=0.6).fit(X, Y)
    np.testing.assert_allclose(model.predict(x), mean, rtol=1e-12)
    np.testing.assert_allclose(model.predict_std(x), np.sqrt(variance), rtol=1e-12)


def test_cv_bandwidth_minimizes_the_fold_error(pairs):
    X, Y = pairs
    candidates = bandwidth_rule(X, "scott") * CV_FACTORS
    errors = [np.sum((Y - _out_of_fold_loop(X, Y, h)) ** 2) for h in candidates]
    best = candidates[np.argmin(errors)]
    assert cv_bandwidth(X, Y) == pytest.approx(best, rel=1e-12)
    assert NadarayaWatson().fit(X, Y).bandwidth_ == pytest.approx(best, rel=1e-12)
    np.testing.assert_allclose(out_of_fold_means(X, Y, 0.5), _out_of_fold_loop(X, Y, 0.5), rtol=1e-10)


# ------------------------------------------------------------------ conditional laws

@pytest.mark.parametrize("residuals", [False, True])
def test_samples_follow_the_kernel_conditional_law(linear, residuals):
    # With h > 0 the terminal law (C1) is continuous: KS test of the samples against its CDF.
    X, y = linear
    X, y = X[:300], y[:300]
    # Bandwidths 0.2 on X and 0.3 on y in the data's units, given in units of their spreads.
    model = ConditionalSchrodingerBridge(bandwidth=0.2 / data_spread(X)[1],
                                         y_bandwidth=0.3 / data_spread(y[:, None])[1],
                                         residuals=residuals, progress=False).fit(X, y)
    x = np.array([[-0.5], [0.4]])
    samples = model.sample(x, 400, random_state=0)[..., 0]
    for x_m, s in zip(x, samples):
        w = _kernel_weights(x_m, X, 0.2)
        w /= w.sum()
        mu = _component_means(X, y[:, None], 0.2, residuals, x_m)[:, 0]
        assert kstest(s, lambda v: norm.cdf((v[:, None] - mu[None]) / 0.3) @ w).pvalue > 0.01


def test_sample_moments_estimate_the_closed_forms(linear):
    # With h = 0 the terminal law is sum_i w_i delta_{y_i}: the sample mean and standard
    # deviation agree with its moments (dense weights here) within four Monte Carlo standard
    # errors, sigma / sqrt(n) and sqrt((mu_4 - sigma^4) / n) / (2 sigma).
    X, y = linear
    X, y = X[:500], y[:500]
    model = ConditionalSchrodingerBridge(n_steps=50, progress=False).fit(X, y)
    x, n = np.array([[-0.5], [0.0], [0.7]]), 1000
    samples = model.sample(x, n, random_state=0)[..., 0]
    for x_m, s in zip(x, samples):
        w = _kernel_weights(x_m, X, model.bandwidth_ * model.scale_)
        w /= w.sum()
        mean = w @ y
        variance, mu_4 = w @ (y - mean) ** 2, w @ (y - mean) ** 4
        sigma = np.sqrt(variance)
        assert model.predict([x_m])[0] == pytest.approx(mean, rel=1e-10)
        assert abs(s.mean() - mean) < 4 * sigma / np.sqrt(n)
        assert abs(s.std(ddof=1) - sigma) < 4 * np.sqrt((mu_4 - variance**2) / n) / (2 * sigma)


def test_linear_gaussian_model_recovers_the_true_conditional_law(linear):
    # Y | X = x ~ N(2x, 0.5^2). Errors come from the kernel estimate (about n H f(x) sqrt(pi)
    # effective neighbours, smoothing bias 2H in quadrature on the std) and Monte Carlo.
    X, y = linear
    model = ConditionalSchrodingerBridge(n_steps=50, progress=False).fit(X, y)
    H, n = model.bandwidth_ * model.scale_, 300  # in the data's units
    x = np.array([[-0.5], [0.0], [0.5]])
    samples = model.sample(x, n, random_state=0)[..., 0]
    n_eff = len(X) * H * 0.5 * 2 * np.sqrt(np.pi)
    se_mean = 0.5 * np.sqrt(1 / n_eff + 1 / n)
    se_std = 0.5 * np.sqrt(1 / (2 * n_eff) + 1 / (2 * n))
    np.testing.assert_array_less(np.abs(samples.mean(1) - 2 * x[:, 0]), 4 * se_mean)
    np.testing.assert_array_less(np.abs(samples.std(1, ddof=1) - np.sqrt(0.25 + 4 * H**2)), 4 * se_std)


# ------------------------------------------------------------------ contract

def test_shapes_and_reproducibility(pairs):
    X, Y = pairs
    x = X[:3]
    one = ConditionalSchrodingerBridge(bandwidth=0.5, **FAST).fit(X, Y[:, 0])
    two = ConditionalSchrodingerBridge(bandwidth=0.5, **FAST).fit(X, Y)
    assert one.sample(x, 4, random_state=0).shape == (3, 4, 1)
    assert two.sample(x, 4, random_state=0).shape == (3, 4, 2)
    assert one.predict(x).shape == one.predict_mean(x, 4).shape == one.predict_std(x, 4).shape == (3,)
    assert two.predict(x).shape == two.predict_mean(x, 4).shape == two.predict_std(x, 4).shape == (3, 2)
    samples = two.sample(x, 4, random_state=5)
    np.testing.assert_array_equal(samples, two.sample(x, 4, random_state=5))
    np.testing.assert_array_equal(two.predict_mean(x, 4, random_state=5), samples.mean(1))
    np.testing.assert_array_equal(two.predict_std(x, 4, random_state=5), samples.std(1, ddof=1))
    assert two.sample(x).shape == (3, 1, 2)
    assert two.sample(x, 2, n_steps=3, progress=True).shape == (3, 2, 2)


def test_pickle_round_trip(pairs):
    X, Y = pairs
    model = ConditionalSchrodingerBridge(**FAST).fit(X, Y)
    loaded = pickle.loads(pickle.dumps(model))
    np.testing.assert_array_equal(loaded.predict(X), model.predict(X))
    np.testing.assert_array_equal(loaded.sample(X[:2], 3, random_state=1), model.sample(X[:2], 3, random_state=1))


@pytest.mark.parametrize("params, error, match", [
    ({"bandwidth": -0.1}, ValueError, "bandwidth > 0"),
    ({"bandwidth": "wide"}, ValueError, "bandwidth in"),
    ({"bandwidth": [0.1]}, TypeError, "real number for bandwidth"),
    ({"y_bandwidth": -1.0}, ValueError, "y_bandwidth >= 0"),
    ({"residuals": 1}, TypeError, "bool for residuals"),
])
def test_invalid_hyper_parameters(pairs, params, error, match):
    X, Y = pairs
    with pytest.raises(error, match=match):
        ConditionalSchrodingerBridge(**params).fit(X, Y)


def test_invalid_data(pairs):
    X, Y = pairs
    with pytest.raises(ValueError, match="requires y to be passed"):
        ConditionalSchrodingerBridge().fit(X, None)
    with pytest.raises(ValueError, match="minimum of 2 is required"):
        NadarayaWatson().fit(X[:1], Y[:1])
    with pytest.raises(ValueError, match="minimum of 2 is required"):
        ConditionalSchrodingerBridge(bandwidth=1.0, residuals=True).fit(X[:1], Y[:1])
    with pytest.raises(ValueError, match="Expected X with a positive spread, got 5 rows that are"):
        NadarayaWatson(bandwidth="scott").fit(np.ones((5, 2)), Y[:5])
    # Constant responses are a point mass: their spread counts as 1, the law stays exact.
    constant = ConditionalSchrodingerBridge(bandwidth=0.5, **FAST).fit(X, np.full(len(X), 3.0))
    np.testing.assert_allclose(constant.sample(X[:2], 3, random_state=0), 3.0, rtol=1e-12)
    np.testing.assert_allclose(constant.predict(X[:2]), 3.0, rtol=1e-12)
    model = ConditionalSchrodingerBridge(bandwidth=0.5, **FAST)
    with pytest.raises(NotFittedError):
        model.sample(X)
    model.fit(X, Y)
    with pytest.raises(ValueError, match="3 features, but ConditionalSchrodingerBridge is expecting 2"):
        model.predict(np.zeros((2, 3)))
    with pytest.raises(ValueError, match=r"Expected Z of shape \(2, 2\), got \(2, 1\)"):
        model.drift(X[:2], np.zeros((2, 1)), 0.5)
    with pytest.raises(ValueError, match=r"Expected t in \(0, 1\)"):
        model.drift(X[:2], Y[:2], 1.0)
    with pytest.raises(ValueError, match="n_samples >= 1"):
        model.sample(X, 0)
    with pytest.raises(ValueError, match="n_steps >= 1"):
        model.sample(X, 2, n_steps=0)
    with pytest.raises(TypeError, match="bool for progress"):
        model.sample(X, 2, progress=1)
    with pytest.raises(ValueError, match="Expected n_samples >= 2 for a standard deviation"):
        model.predict_std(X, 1)
