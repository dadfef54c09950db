"""FollmerBridge: drifts against posterior-mean loops and autograd, target laws, memorization.
The contract it shares with the other estimators is tested in test_contract.py."""

import numpy as np
import pytest
import torch
from scipy.special import softmax
from scipy.stats import ks_2samp, multivariate_normal

from _reference import data_spread, dense_covariances, in_data_units
from _stats import energy_permutation_pvalue
from wpokernel import WPOKernelScore
from wpokernel.datasets import make_toy
from wpokernel.diagnostics import copy_gap, memorization_ratio, nearest_neighbor_distances
from wpokernel.dynamics import cosine_grid
from wpokernel.estimators.follmer import FollmerBridge, follmer_drift
from wpokernel.mixture import GaussianMixtureField
from wpokernel.reductions import Diagonal, Full, Isotropic, LowRank

@pytest.fixture(scope="module")
def spirals():
    return make_toy("2spirals", 300, random_state=0), make_toy("2spirals", 1000, random_state=1)


# ------------------------------------------------------------------ drift closed forms

def _structures(n, d, rng):
    a = rng.normal(size=(n, d, d))
    return {
        "empirical": Isotropic(0.0),
        "isotropic": Isotropic(rng.uniform(0.1, 0.5, n)),
        "diagonal": Diagonal(rng.uniform(0.1, 0.5, (n, d))),
        "lowrank": LowRank(0.2, 0.5 * rng.normal(size=(n, d, 2))),
        "full": Full(0.3 * a @ a.transpose(0, 2, 1) + 0.1 * np.eye(d)),
    }


@pytest.fixture(scope="module")
def mixtures():
    rng = np.random.default_rng(0)
    n, d = 6, 3
    centers, log_w = rng.normal(size=(n, d)), rng.normal(size=n)
    z = rng.normal(size=(5, d))
    return {name: (GaussianMixtureField(centers, cov, log_w), dense_covariances(cov, n, d))
            for name, cov in _structures(n, d, rng).items()}, z


def _drift_loop(field, covs, z, t):
    r"""(E[Y | Z_t = z] - z)/(1 - t) by Gaussian conditioning, one component at a time:
    E[Y | Z_t, j] = y_j + t C_j S_j^{-1}(z - t y_j) with S_j = t^2 C_j + t(1 - t) I."""
    d = z.shape[1]
    out = []
    for z_i in z:
        logits, means = [], []
        for y_j, C_j, a_j in zip(field.centers, covs, field.log_weights):
            S_j = t**2 * C_j + t * (1 - t) * np.eye(d)
            logits.append(a_j + multivariate_normal(t * y_j, S_j).logpdf(z_i))
            means.append(y_j + t * C_j @ np.linalg.solve(S_j, z_i - t * y_j))
        out.append((softmax(logits) @ np.array(means) - z_i) / (1 - t))
    return np.array(out)


def _drift_autograd(field, covs, z, t):
    """z / t + grad log p_t(z), with p_t the mixture (F2) written out in torch."""
    d = z.shape[1]
    z_t = torch.tensor(z, requires_grad=True)
    S = torch.tensor(t**2 * covs + t * (1 - t) * np.eye(d))
    law = torch.distributions.MultivariateNormal(torch.tensor(t * field.centers), covariance_matrix=S)
    log_p = torch.logsumexp(torch.tensor(field.log_weights) + law.log_prob(z_t[:, None, :]), dim=1)
    (grad,) = torch.autograd.grad(log_p.sum(), z_t)
    return (z_t / t + grad).detach().numpy()


@pytest.mark.parametrize("name", ["empirical", "isotropic", "diagonal", "lowrank", "full"])
@pytest.mark.parametrize("t", [0.05, 0.5, 0.95])
def test_drift_is_the_posterior_mean_drift(mixtures, name, t):
    fields, z = mixtures
    field, covs = fields[name]
    drift = follmer_drift(field, z, t)
    np.testing.assert_allclose(drift, _drift_loop(field, covs, z, t), rtol=1e-8, atol=1e-8)
    np.testing.assert_allclose(drift, _drift_autograd(field, covs, z, t), rtol=1e-8, atol=1e-8)


def test_estimator_drift_is_the_empirical_softmax_mean(spirals):
    # In the data's units the bridge runs from the data's mean mu with Brownian motion of
    # scale rho (the data's spread): Z_t - mu = t (Y - mu) + rho sqrt(t (1 - t)) xi.
    X, _ = spirals
    z, t = np.array([[0.3, -1.0], [2.0, 0.5]]), 0.7
    model = FollmerBridge().fit(X)
    mu, rho = data_spread(X)
    logits = -(((z - mu)[:, None, :] - t * (X - mu)[None]) ** 2).sum(2) / (2 * rho**2 * t * (1 - t))
    expected = (softmax(logits, axis=1) @ X - z) / (1 - t)
    np.testing.assert_allclose(model.drift(z, t), expected, rtol=1e-8, atol=1e-8)
    np.testing.assert_allclose(model.mean_, X.mean(0), rtol=1e-12)


def test_grid():
    grid = cosine_grid(100)
    assert grid[0] == 0.0 and grid[-1] == 1.0 and np.all(np.diff(grid) > 0)
    # 1 - t_{n-1} = cos^4(pi (n - 1) / 2n) = sin^4(pi / 2n): the last step's noise variance.
    assert 1 - grid[-2] == pytest.approx(np.sin(np.pi / 200) ** 4, rel=1e-6)


def test_sample_weight_is_row_repetition(spirals):
    X, _ = spirals
    weights = np.r_[np.zeros(10), np.full(10, 3.0), np.ones(280)]
    repeated = np.concatenate([X[10:20]] * 3 + [X[20:]])
    z = np.random.default_rng(0).normal(size=(4, 2))
    for target in (None, "scott"):
        a = FollmerBridge(target=target).fit(X, sample_weight=weights)
        b = FollmerBridge(target=target).fit(repeated)
        np.testing.assert_allclose(a.drift(z, 0.4), b.drift(z, 0.4), rtol=1e-10)
        np.testing.assert_allclose(a.mean_, b.mean_, rtol=1e-12)


# ------------------------------------------------------------------ laws of the samples

def test_smoothed_target_samples_reach_the_target_law(spirals):
    X, _ = spirals
    model = FollmerBridge(target=0.1, progress=False).fit(X)
    samples = model.sample(500, random_state=0)
    exact = in_data_units(model, model.target_field_.sample(500, random_state=1))
    wide_model = FollmerBridge(target=0.15).fit(X)
    wide = in_data_units(wide_model, wide_model.target_field_.sample(500, random_state=1))
    # Global shape: energy two-sample test; local scale: KS test of the distances to the
    # nearest training point, which has the power to tell a 1.5 times wider KDE apart.
    assert energy_permutation_pvalue(samples, exact) > 0.01

    def gap(a):
        return nearest_neighbor_distances(a, X, n_neighbors=1)[:, 0]

    assert ks_2samp(gap(samples), gap(exact)).pvalue > 0.01
    assert ks_2samp(gap(samples), gap(wide)).pvalue < 0.01


def test_empirical_target_memorizes(spirals):
    X, X_test = spirals
    samples = FollmerBridge(progress=False).fit(X).sample(300, random_state=0)
    assert memorization_ratio(samples, X)[0] > 0.9
    assert memorization_ratio(X_test, X)[0] < 0.5
    gap = copy_gap(samples, X, X_test)
    assert gap.z_score < -10 and gap.median_ratio < 0.1


def _binomial_tolerance(p, n_a, n_b):
    """Three standard errors of a difference of two proportions near ``p``."""
    return 3 * np.sqrt(p * (1 - p) * (1 / n_a + 1 / n_b))


@pytest.mark.parametrize("target", [0.1, WPOKernelScore(max_steps=5, random_state=0, progress=False)])
def test_smoothed_target_copies_no_more_than_held_out_data(spirals, target):
    X, X_test = spirals
    model = FollmerBridge(target=target, n_steps=50, progress=False).fit(X)
    fraction = memorization_ratio(model.sample(500, random_state=0), X)[0]
    held_out = memorization_ratio(X_test, X)[0]
    exact = memorization_ratio(in_data_units(model, model.target_field_.sample(1000, random_state=1)),
                               X)[0]
    assert abs(fraction - exact) < _binomial_tolerance(exact, 500, 1000)
    assert abs(fraction - held_out) < _binomial_tolerance(held_out, 500, len(X_test))


# ------------------------------------------------------------------ bad input

def test_invalid_calls(spirals):
    X, _ = spirals
    model = FollmerBridge().fit(X)
    with pytest.raises(ValueError, match="3 features, but FollmerBridge is expecting 2"):
        model.drift(np.zeros((2, 3)), 0.5)
    for t in (0.0, 1.0, -0.5):
        with pytest.raises(ValueError, match=r"Expected t in \(0, 1\)"):
            model.drift(X[:2], t)
