"""EmpiricalScore: memorization, the KDE equivalence, its samplers and bad input. The contract it
shares with the other estimators is tested in test_contract.py."""

import numpy as np
import pytest
from scipy.stats import gaussian_kde, ks_2samp
from sklearn.neighbors import KernelDensity

from _stats import energy_permutation_pvalue
from wpokernel import EmpiricalScore
from wpokernel.datasets import make_toy
from wpokernel.diagnostics import copy_gap, memorization_ratio, nearest_neighbor_distances


@pytest.fixture(scope="module")
def spirals():
    return make_toy("2spirals", 300, random_state=0), make_toy("2spirals", 300, random_state=1)


def test_unsmoothed_reverse_sde_memorizes(spirals):
    X, X_test = spirals
    model = EmpiricalScore(progress=False).fit(X)
    samples = model.sample(300, random_state=0, method="sde")
    fraction, _ = memorization_ratio(samples, X)
    test_fraction, _ = memorization_ratio(X_test, X)
    assert fraction > 0.9
    assert test_fraction < 0.5  # fresh data is not near-copies, so the criterion discriminates
    # The samples sit far closer to the training points than fresh data do.
    gap = copy_gap(samples, X, X_test)
    assert gap.z_score < -10
    assert gap.median_ratio < 0.1


def test_smoothed_samples_are_not_copies(spirals):
    # The KDE bandwidth (Scott's rule) is several times the training spacing, so the samples
    # are new points: their nearest-neighbour ratios look like those of fresh data.
    X, X_test = spirals
    samples = EmpiricalScore(bandwidth="scott", progress=False).fit(X).sample(300, random_state=0)
    assert memorization_ratio(samples, X)[0] < 2 * memorization_ratio(X_test, X)[0] + 0.05
    assert copy_gap(samples, X, X_test).z_score > -2


def test_stopping_at_sigma_min_samples_the_gaussian_kde(spirals):
    # Few training points, so that the KDE's bumps (and so its bandwidth) are visible. The
    # noise left where the SDE stops is sigma_min times the data's spread.
    X = spirals[0][:60]
    model = EmpiricalScore(beta=2.0, sigma_min=0.12, progress=False).fit(X)
    bandwidth = 0.12 * model.scale_
    samples = model.sample(600, random_state=0, method="sde")
    kde = KernelDensity(bandwidth=bandwidth).fit(X).sample(600, random_state=1)
    wide = KernelDensity(bandwidth=1.5 * bandwidth).fit(X).sample(600, random_state=1)
    # Global shape: energy two-sample test. Local scale: distances to the nearest training
    # point, whose law is set by the bandwidth (KS two-sample test).
    assert energy_permutation_pvalue(samples, kde) > 0.01

    def gap(a):
        return nearest_neighbor_distances(a, X, n_neighbors=1)[:, 0]

    assert ks_2samp(gap(samples), gap(kde)).pvalue > 0.01
    # The local test has power: a KDE 1.5 times as wide is told apart.
    assert ks_2samp(gap(samples), gap(wide)).pvalue < 0.01


@pytest.mark.parametrize("method", ["sde", "ode"])
def test_samplers_agree_with_exact_sampling(spirals, method):
    X, _ = spirals
    model = EmpiricalScore(bandwidth=0.1, progress=False).fit(X)
    exact = model.sample(500, random_state=0)
    other = model.sample(500, random_state=1, method=method, n_steps=200)
    assert energy_permutation_pvalue(exact, other) > 0.01


def test_score_samples_is_sklearn_kde(spirals):
    X, X_test = spirals
    model = EmpiricalScore(bandwidth=0.2, beta=2.0, sigma_min=0.15).fit(X)
    # Lengths are multiples of the data's root-mean-square spread.
    assert model.scale_ == pytest.approx(np.sqrt(X.var(axis=0).mean()), rel=1e-14)
    kde = KernelDensity(bandwidth=np.sqrt(0.2**2 + 0.15**2) * model.scale_).fit(X)
    np.testing.assert_allclose(model.score_samples(X_test), kde.score_samples(X_test), rtol=1e-10)
    assert model.score(X_test) == pytest.approx(np.mean(kde.score_samples(X_test)))


def test_score_function_is_gradient_of_log_density(spirals):
    X, X_test = spirals
    model = EmpiricalScore(bandwidth=0.3).fit(X)
    x, h = X_test[:5], 1e-5
    fd = np.stack([(model.score_samples(x + h * e) - model.score_samples(x - h * e)) / (2 * h)
                   for e in np.eye(2)], axis=1)
    np.testing.assert_allclose(model.score_function(x), fd, rtol=1e-6, atol=1e-8)
    # At time t the bandwidth grows to sqrt(h^2 + beta^2 t) (both in units of the spread).
    wide = EmpiricalScore(bandwidth=np.sqrt(0.3**2 + 0.5)).fit(X)
    np.testing.assert_allclose(model.score_function(x, t=0.5), wide.score_function(x, t=0.0), rtol=1e-10)


@pytest.mark.parametrize("rule, factor", [("scott", "scotts_factor"), ("silverman", "silverman_factor")])
def test_bandwidth_rules_match_scipy_factors(spirals, rule, factor):
    X, _ = spirals
    model = EmpiricalScore(bandwidth=rule).fit(X)
    sigma = np.sqrt(np.var(X, axis=0, ddof=1).mean())
    # bandwidth_ is in units of scale_.
    assert model.bandwidth_ * model.scale_ == pytest.approx(sigma * getattr(gaussian_kde(X.T), factor)())


def test_sample_weight_is_row_repetition(spirals):
    X, X_test = spirals
    weights = np.r_[np.zeros(10), np.full(10, 3.0), np.ones(280)]
    repeated = np.concatenate([X[10:20]] * 3 + [X[20:]])
    a = EmpiricalScore(bandwidth="scott").fit(X, sample_weight=weights)
    b = EmpiricalScore(bandwidth="scott").fit(repeated)
    assert a.bandwidth_ == pytest.approx(b.bandwidth_)
    np.testing.assert_allclose(a.score_samples(X_test), b.score_samples(X_test), rtol=1e-10)


# ------------------------------------------------------------------ samplers

def test_every_sampler_is_reproducible(spirals):
    X, _ = spirals
    model = EmpiricalScore(bandwidth=0.1, progress=False).fit(X)
    for method in ("exact", "sde", "ode"):
        a = model.sample(4, random_state=7, method=method, n_steps=20)
        b = model.sample(4, random_state=7, method=method, n_steps=20)
        assert a.shape == (4, 2) and a.dtype == np.float64
        np.testing.assert_array_equal(a, b)
    with pytest.raises(ValueError, match="method in"):
        model.sample(2, method="langevin")
    with pytest.raises(TypeError, match="Expected an integer for random_state"):
        model.sample(2, random_state=1.5)
    with pytest.raises(ValueError, match="Expected random_state >= 0, got -1"):
        model.sample(2, random_state=-1)


# ------------------------------------------------------------------ bad input

@pytest.mark.parametrize("params, error, match", [
    ({"bandwidth": -0.1}, ValueError, "bandwidth >= 0"),
    ({"bandwidth": "wide"}, ValueError, "bandwidth in"),
    ({"bandwidth": [0.1]}, TypeError, "real number for bandwidth"),
    ({"beta": 0.0}, ValueError, "beta > 0"),
    ({"T": -1.0}, ValueError, "T > 0"),
    ({"sigma_min": np.nan}, ValueError, "finite sigma_min"),
    ({"sigma_min": 2.0}, ValueError, r"Expected sigma_min < beta \* sqrt\(T\) = 1, the noise"),
    ({"sigma_min": -1e-3}, ValueError, "sigma_min >= 0"),
])
def test_invalid_hyper_parameters(spirals, params, error, match):
    X, _ = spirals
    with pytest.raises(error, match=match):
        EmpiricalScore(**params).fit(X)


def test_invalid_calls(spirals):
    X, _ = spirals
    model = EmpiricalScore().fit(X)
    with pytest.raises(ValueError, match="3 features, but EmpiricalScore is expecting 2"):
        model.score_samples(np.zeros((2, 3)))
    with pytest.raises(ValueError, match="t >= 0"):
        model.score_function(X, t=-1.0)


def test_pure_empirical_measure_has_no_density_to_stop_at(spirals):
    # Refused at fit time, before any work, instead of at score_samples or method="sde".
    X, _ = spirals
    with pytest.raises(ValueError, match="Expected sigma_min > 0 with bandwidth=0"):
        EmpiricalScore(sigma_min=0.0).fit(X)
    smoothed = EmpiricalScore(bandwidth=0.1, sigma_min=0.0, progress=False).fit(X)
    assert np.all(np.isfinite(smoothed.score_samples(X)))
    assert np.all(np.isfinite(smoothed.sample(3, method="sde", n_steps=5, random_state=0)))
