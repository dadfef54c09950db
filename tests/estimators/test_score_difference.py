"""ScoreDifferenceFlow: the score difference against loops and autograd, fixed points and
Gaussian transport, memorization against generalization, bad input. The contract it shares with
the other estimators is tested in test_contract.py."""

import pickle

import numpy as np
import pytest
import torch
from scipy.linalg import sqrtm
from scipy.special import softmax
from scipy.stats import gaussian_kde
from sklearn.exceptions import NotFittedError

from _reference import dense_covariances, mixture_moments_loop
from _reference import in_data_units
from _stats import energy_permutation_pvalue
from wpokernel import EmpiricalScore, WPOKernelScore
from wpokernel.datasets import make_toy
from wpokernel.diagnostics import energy_distance, memorization_ratio
from wpokernel.estimators._target import fit_target
from wpokernel.estimators.score_difference import ScoreDifferenceFlow, score_difference
from wpokernel.mixture import GaussianMixtureField
from wpokernel.reductions import Isotropic

FAST = {"n_steps": 5, "progress": False}


@pytest.fixture(scope="module")
def moons():
    X = make_toy("moons", 900, random_state=0)
    return X[:300], X[300:]


@pytest.fixture(scope="module")
def targets(moons):
    """Isotropic (empirical, KDE) and full-covariance (WPOKernelScore) target mixtures."""
    X = moons[0][:60]
    wpo = WPOKernelScore(max_steps=5, progress=False, random_state=0)
    return {name: fit_target(target, X)[0]
            for name, target in [("empirical", None), ("kde", 0.2), ("wpo", wpo)]}


# ------------------------------------------------------------------ the score difference

def _score_difference_loop(target, x, sigma):
    """Both scores from explicit softmax weights, one query at a time."""
    centers = target.centers
    covariances = dense_covariances(target.covariance, len(centers), x.shape[1])
    precisions = np.linalg.inv(covariances + sigma**2 * np.eye(x.shape[1]))
    out = np.empty_like(x)
    for i, xi in enumerate(x):
        diff_j = xi - centers  # (N, d)
        pd_j = np.einsum("jab,jb->ja", precisions, diff_j)
        logits = (target.log_weights - 0.5 * np.einsum("ja,ja->j", diff_j, pd_j)
                  - 0.5 * np.linalg.slogdet(covariances + sigma**2 * np.eye(x.shape[1]))[1])
        score_p = -softmax(logits) @ pd_j
        nu = softmax(-0.5 * np.sum((xi - x) ** 2, 1) / sigma**2)
        score_q = (nu @ x - xi) / sigma**2
        out[i] = score_p - score_q
    return out


def _score_difference_autograd(target, x, sigma):
    """Gradient in ``y`` of log p_sigma(y) - log q_sigma(y) at ``y = x``, particles held fixed."""
    d = x.shape[1]
    covariances = dense_covariances(target.covariance, len(target.centers), d) + sigma**2 * np.eye(d)
    p = torch.distributions.MultivariateNormal(torch.as_tensor(target.centers),
                                               torch.as_tensor(covariances))
    particles = torch.as_tensor(x)
    y = torch.tensor(x, requires_grad=True)
    log_p = torch.logsumexp(p.log_prob(y[:, None, :]) + torch.as_tensor(target.log_weights), 1)
    log_q = torch.logsumexp(-0.5 * ((y[:, None, :] - particles) ** 2).sum(2) / sigma**2, 1)
    (grad,) = torch.autograd.grad((log_p - log_q).sum(), y)
    return grad.numpy()


@pytest.mark.parametrize("name", ["empirical", "kde", "wpo"])
@pytest.mark.parametrize("sigma", [0.05, 0.3])
def test_score_difference_matches_loops_and_autograd(targets, name, sigma):
    target = targets[name]
    x = np.random.default_rng(1).normal(size=(25, 2))
    delta = score_difference(target, x, sigma)
    scale = np.abs(delta).max()
    np.testing.assert_allclose(delta, _score_difference_loop(target, x, sigma), rtol=1e-8,
                               atol=1e-10 * scale)
    np.testing.assert_allclose(delta, _score_difference_autograd(target, x, sigma), rtol=1e-8,
                               atol=1e-10 * scale)


def test_score_difference_is_the_same_on_every_backend(targets, backend):
    x = np.random.default_rng(1).normal(size=(25, 2))
    field = targets["kde"]
    target = GaussianMixtureField(field.centers, field.covariance, field.log_weights, backend=backend)
    np.testing.assert_allclose(score_difference(target, x, 0.3, backend=backend),
                               _score_difference_loop(field, x, 0.3), rtol=1e-8)


def test_a_lone_particle_follows_the_smoothed_target_score(targets):
    # With one particle q_sigma is a Gaussian centred on it, of zero score there, and p_sigma
    # is the mixture with covariances C_j + sigma^2 I (dense reference by scipy.stats).
    target, sigma = targets["wpo"], 0.3
    x = np.random.default_rng(2).normal(size=(1, 2))
    covariances = dense_covariances(target.covariance, len(target.centers), 2) + sigma**2 * np.eye(2)
    _, displacement, _, _ = mixture_moments_loop(x, target.centers, covariances, target.log_weights)
    np.testing.assert_allclose(score_difference(target, x, sigma), -displacement, rtol=1e-10)


def test_gaussian_target_gives_the_analytic_constant_direction():
    # p = N(mu, s^2 I), q = N(m, s^2 I): both smoothed laws have covariance (s^2 + sigma^2) I,
    # so grad log p_sigma - grad log q_sigma = (mu - m) / (s^2 + sigma^2) everywhere; m is the
    # particles' own mean (a draw of N(0, s^2 I)), as q is their law.
    mu, s, sigma = np.array([1.0, -0.5]), 0.8, 1.0
    target = GaussianMixtureField(mu[None], Isotropic(s**2))
    x = np.random.default_rng(3).normal(size=(2000, 2)) * s
    delta = score_difference(target, x, sigma)
    expected = (mu - x.mean(0)) / (s**2 + sigma**2)
    np.testing.assert_allclose(delta.mean(0), expected, rtol=0.03)
    cosine = delta @ expected / (np.linalg.norm(delta, axis=1) * np.linalg.norm(expected))
    assert cosine.min() > 0.99


def test_particles_of_the_target_law_barely_move():
    # A fixed point: q = p gives a zero score difference, up to the sampling noise of the two
    # samples; a law shifted by 1.5 moves by about sigma^2 / (1 + sigma^2) * 1.5 = 0.3.
    rng = np.random.default_rng(4)
    target, _ = fit_target(None, rng.normal(size=(2000, 2)))
    same = rng.normal(size=(2000, 2))
    sigma = 0.5
    still = sigma**2 * score_difference(target, same, sigma)
    moved = sigma**2 * score_difference(target, same + [1.5, 0.0], sigma)
    assert np.linalg.norm(still, axis=1).mean() < 0.2 * np.linalg.norm(moved, axis=1).mean()
    np.testing.assert_allclose(moved.mean(0), [-sigma**2 / (1 + sigma**2) * 1.5, 0.0], atol=0.05)


def test_flow_carries_a_shifted_gaussian_to_the_target():
    rng = np.random.default_rng(5)
    mu = np.array([2.0, -1.0])
    X = mu + rng.normal(size=(1000, 2))
    flow = ScoreDifferenceFlow(target="scott", progress=False).fit(X)
    source = rng.normal(size=(800, 2))
    # First update, at sigma_max: the mean moves along mu by sigma^2 / (1 + h^2 + sigma^2),
    # the analytic factor for N(mu, (1 + h^2) I) and N(0, I) smoothed by sigma.
    h, sigma = flow.target_field_.covariance.variance**0.5, flow.sigma_max_
    step = flow.transport(source, n_steps=1).mean(0) - source.mean(0)
    expected = sigma**2 / (1 + h**2 + sigma**2) * (mu - source.mean(0))
    np.testing.assert_allclose(step, expected, atol=0.05)
    end = flow.transport(source)
    np.testing.assert_allclose(end.mean(0), X.mean(0), atol=0.1)
    np.testing.assert_allclose(np.cov(end.T), np.cov(X.T), atol=0.2)


# ------------------------------------------------------------------ memorization and quality

def _binomial_bound(fraction, n_a, n_b):
    """Four standard errors of the difference of two fractions of n_a and n_b points."""
    return 4 * np.sqrt(fraction * (1 - fraction) * (1 / n_a + 1 / n_b))


def test_empirical_target_copies_while_smoothing_or_stopping_generalizes(moons):
    X, X_test = moons
    X_small = X[:150]
    test_fraction = memorization_ratio(X_test, X_small)[0]
    copies = ScoreDifferenceFlow(sigma_min=1e-3, progress=False).fit(X_small).sample(300, random_state=0)
    assert memorization_ratio(copies, X_small)[0] > 0.9
    assert test_fraction < 0.3  # fresh data are not near-copies: the criterion discriminates
    # A smoothed target run to the same small sigma, or the empirical one stopped at the
    # default sigma_min (Scott's bandwidth), gives fresh-looking points.
    wpo = WPOKernelScore(max_steps=30, progress=False, random_state=0)
    for target, sigma_min in [("scott", 1e-3), (wpo, 1e-3), (None, None)]:
        flow = ScoreDifferenceFlow(target=target, sigma_min=sigma_min, progress=False).fit(X_small)
        fraction = memorization_ratio(flow.sample(300, random_state=0), X_small)[0]
        assert abs(fraction - test_fraction) < _binomial_bound(test_fraction, 300, len(X_test))


def test_samples_are_close_to_the_target_law(moons):
    X, X_test = moons
    flow = ScoreDifferenceFlow(target="scott", progress=False).fit(X)
    samples = flow.sample(400, random_state=1)
    exact = in_data_units(flow, flow.target_field_.sample(400, random_state=2))
    source = flow.mean_ + np.random.default_rng(1).normal(size=(400, 2)) @ np.linalg.cholesky(
        flow.covariance_).T
    # Not told apart from exact draws of the target mixture, while the source is.
    assert energy_permutation_pvalue(samples, exact) > 0.01
    assert energy_permutation_pvalue(source, exact) < 0.01
    assert energy_distance(samples, X_test) < 0.25 * energy_distance(source, X_test)


# ------------------------------------------------------------------ fitted state and contract

def test_source_moments_and_default_schedule(moons):
    X, _ = moons
    weight = np.random.default_rng(6).integers(0, 4, len(X)).astype(float)
    flow = ScoreDifferenceFlow().fit(X, sample_weight=weight)
    np.testing.assert_allclose(flow.mean_, np.average(X, axis=0, weights=weight), rtol=1e-12)
    covariance = np.cov(X.T, aweights=weight, bias=True)
    np.testing.assert_allclose(flow.covariance_, covariance, rtol=1e-12)
    assert flow.scale_ == pytest.approx(np.sqrt(np.trace(covariance) / 2))
    assert flow.sigma_max_ == 1.0  # the data's scale, in units of scale_
    assert flow.target_estimator_ is None
    # sigma_min defaults to Scott's bandwidth: sigma-bar n^(-1/(d+4)), as scipy's factor.
    unweighted = ScoreDifferenceFlow().fit(X)
    sigma_bar = np.sqrt(np.var(X, axis=0, ddof=1).mean())
    assert unweighted.sigma_min_ * unweighted.scale_ == pytest.approx(
        sigma_bar * gaussian_kde(X.T).scotts_factor())
    assert isinstance(ScoreDifferenceFlow(target=EmpiricalScore()).fit(X).target_estimator_, EmpiricalScore)


def test_sample_weight_is_row_repetition(moons):
    X = moons[0][:40]
    weight = np.r_[np.zeros(10), np.full(10, 2.0), np.ones(20)]
    repeated = np.concatenate([X[10:20], X[10:]])
    a = ScoreDifferenceFlow(target="scott", **FAST).fit(X, sample_weight=weight)
    b = ScoreDifferenceFlow(target="scott", **FAST).fit(repeated)
    np.testing.assert_allclose(a.sample(20, random_state=0), b.sample(20, random_state=0), rtol=1e-9)


def test_sample_is_the_transport_of_a_source_draw(moons, capsys):
    X, _ = moons
    flow = ScoreDifferenceFlow(**FAST)
    with pytest.raises(NotFittedError):
        flow.transport(X)
    flow.fit(X)
    a = flow.sample(6, random_state=7)
    # sample is transport of the draw mean + C^(1/2) xi; transport is deterministic.
    source = flow.mean_ + np.random.RandomState(7).standard_normal((6, 2)) @ sqrtm(flow.covariance_)
    np.testing.assert_allclose(flow.transport(source), a, rtol=1e-10, atol=1e-12)
    flow.sample(4, random_state=0, n_steps=3, progress=True)
    assert "SD flow" in capsys.readouterr().err


def test_pickle_round_trip_with_a_target_model(moons):
    X, _ = moons
    flow = ScoreDifferenceFlow(target=WPOKernelScore(max_steps=3, progress=False, random_state=0),
                               **FAST).fit(X[:100])
    restored = pickle.loads(pickle.dumps(flow))
    np.testing.assert_array_equal(restored.sample(5, random_state=3), flow.sample(5, random_state=3))


# ------------------------------------------------------------------ bad input

@pytest.mark.parametrize("params, error, match", [
    ({"sigma_max": 0.0}, ValueError, "Expected sigma_max > 0"),
    ({"sigma_min": "small"}, TypeError, "Expected a real number for sigma_min"),
    ({"sigma_min": 2.0, "sigma_max": 1.0}, ValueError, "Expected sigma_min <= sigma_max"),
    ({"sigma_max": 1e-4}, ValueError, "None resolves to the data scale"),
    ({"step_size": -1.0}, ValueError, "Expected step_size > 0"),
])
def test_invalid_hyper_parameters(moons, params, error, match):
    with pytest.raises(error, match=match):
        ScoreDifferenceFlow(**params).fit(moons[0])


def test_invalid_data_and_call_arguments(moons):
    X, _ = moons
    with pytest.raises(ValueError, match="minimum of 2 is required"):
        ScoreDifferenceFlow().fit(X[:1])
    with pytest.raises(ValueError, match="Expected X with a positive spread"):
        ScoreDifferenceFlow().fit(np.ones((5, 2)))
    flow = ScoreDifferenceFlow(**FAST).fit(X)
    with pytest.raises(ValueError, match="3 features, but ScoreDifferenceFlow is expecting 2"):
        flow.transport(np.zeros((4, 3)))
    with pytest.raises(ValueError, match="Expected n_steps >= 1"):
        flow.transport(X[:3], n_steps=0)
    with pytest.raises(TypeError, match="Expected a bool for progress"):
        flow.transport(X[:3], progress="no")
    target = GaussianMixtureField(X[:3], Isotropic(0.1))
    with pytest.raises(ValueError, match="Expected sigma > 0"):
        score_difference(target, X[:3], 0.0)
