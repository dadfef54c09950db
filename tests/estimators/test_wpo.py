"""WPOKernelScore: generalization where the empirical score memorizes, agreement of its three
samplers, the closed-form score, and bad input. Its scikit-learn checks are in test_contract.py."""

import pickle

import numpy as np
import pytest
import torch

from _stats import energy_permutation_pvalue
from wpokernel import EmpiricalScore, WPOKernelScore
from wpokernel.datasets import make_swissroll6d, make_toy
from wpokernel.diagnostics import copy_gap, memorization_ratio
from wpokernel.reductions import mixture_moments

# Short training keeps the bad-input tests fast; the defaults are exercised below.
FAST = {"max_steps": 20, "progress": False, "random_state": 0}


@pytest.fixture(scope="module")
def spirals():
    X = make_toy("2spirals", 900, random_state=0)
    return X[:600], X[600:]


@pytest.fixture(scope="module")
def fitted(spirals):
    return WPOKernelScore(max_steps=200, progress=False, random_state=0).fit(spirals[0])


def test_generalizes_where_the_empirical_score_memorizes(spirals, fitted):
    X, X_test = spirals
    samples = fitted.sample(600, random_state=1)
    fraction = memorization_ratio(samples, X)[0]
    test_fraction = memorization_ratio(X_test, X)[0]
    # Binomial standard error of the difference of two fractions of 300 and 600 points.
    standard_error = np.sqrt(test_fraction * (1 - test_fraction) * (1 / 600 + 1 / 300))
    assert abs(fraction - test_fraction) < 4 * standard_error
    assert abs(copy_gap(samples, X, X_test).z_score) < 4

    memorizing = EmpiricalScore(progress=False).fit(X).sample(300, random_state=1, method="sde")
    assert memorization_ratio(memorizing, X)[0] > 0.9


def test_is_at_least_as_good_as_its_initialization_on_validation_data(spirals, fitted):
    assert fitted.best_validation_log_likelihood_ >= fitted.init_validation_log_likelihood_
    init = WPOKernelScore(max_steps=0, progress=False, random_state=0).fit(spirals[0])
    assert init.n_train_steps_ == 0 and init.best_step_ == 0
    np.testing.assert_allclose(
        init.best_validation_log_likelihood_, fitted.init_validation_log_likelihood_, rtol=1e-12
    )


@pytest.mark.parametrize("floor", ["isotropic", "diagonal", "local"])
def test_the_untrained_model_is_the_calibrated_local_pca_mixture(floor):
    # The low-rank model starts at its initialization itself, nothing lost to a distillation:
    # its validation score before training is the calibration's (the same 120 points).
    X = make_swissroll6d(1200, random_state=0)
    model = WPOKernelScore(structure="lowrank", max_steps=0, floor=floor, progress=False,
                           random_state=0).fit(X)
    assert model.floor_ == floor
    assert (model.floor_profile_ is None) == (floor != "diagonal")
    if floor == "local":  # one profile per center, float32, held once by network and field
        profile = model.field_.covariance.profile
        assert profile.shape == model.field_.centers.shape and profile.dtype == np.float32
        assert np.shares_memory(profile, model.factor_network_.profile.numpy())
    assert model.training_neighbors_ is None and np.isnan(model.training_truncation_gap_)
    # The local factors are stored once per holder in float32 (half the memory at image scale).
    assert model.factor_network_.factors.dtype == torch.float32
    assert model.field_.covariance.factors.dtype == np.float32
    np.testing.assert_allclose(model.init_validation_log_likelihood_,
                               model.calibration_log_likelihood_, rtol=1e-10)


def test_beats_a_kernel_density_estimate_on_a_thin_manifold():
    # swissroll6d lies near a 2-D sheet in 6-D: local covariances fit it, a KDE cannot.
    X = make_swissroll6d(1200, random_state=0)
    X_train, X_test = X[:900], X[900:]
    wpo = WPOKernelScore(max_steps=200, progress=False, random_state=0).fit(X_train)
    kde = EmpiricalScore(bandwidth="scott", progress=False).fit(X_train)
    assert wpo.score(X_test) > kde.score(X_test) + 1.0


@pytest.mark.parametrize("method", ["sde", "ode"])
def test_samplers_draw_the_exact_mixture_law(fitted, method):
    # At 3000 points each, the energy distance of SDE (200 steps) or ODE samples to exact
    # samples was within the +-0.001 spread of two exact draws.
    exact = fitted.sample(1000, random_state=2)
    dynamic = fitted.sample(1000, random_state=3, method=method, n_steps=200, progress=False)
    assert energy_permutation_pvalue(exact, dynamic) > 0.01


def test_score_function_is_the_gradient_of_the_heat_flowed_log_density(fitted):
    # In the caller's units the heat flow of the standardized mixture runs at speed
    # beta * scale_: eta_x(x, t) is the mixture of mean_ + scale_ * z_j at time t.
    x = np.random.default_rng(4).normal(size=(5, 2))
    t, h = 0.05, 1e-5
    field = fitted.field_.affine(fitted.mean_, fitted.scale_)
    steps = np.eye(2) * h
    finite_difference = np.stack(
        [(field.log_density(x + e, t) - field.log_density(x - e, t)) / (2 * h)
         for e in steps], axis=1,
    )
    np.testing.assert_allclose(fitted.score_function(x, t=t), finite_difference,
                               rtol=1e-6, atol=1e-8)
    # At the stop time the heat-flowed density is the model density itself.
    np.testing.assert_allclose(field.log_density(x, fitted.sigma_min**2 / fitted.beta**2),
                               fitted.score_samples(x), rtol=1e-12)


@pytest.mark.parametrize("structure", ["full", "diagonal", "lowrank"])
def test_every_structure_fits_and_is_reproducible(spirals, structure):
    params = {"structure": structure, "rank": 1, "max_steps": 30, "progress": False}
    first = WPOKernelScore(random_state=5, **params).fit(spirals[0][:200])
    second = WPOKernelScore(random_state=5, **params).fit(spirals[0][:200])
    assert first.structure_ == structure
    np.testing.assert_array_equal(first.score_samples(spirals[1]), second.score_samples(spirals[1]))


def test_subsets_of_centers_and_free_factors(spirals):
    X = spirals[0][:300]
    subset = WPOKernelScore(n_centers=50, center_selection="kmeans++", max_steps=10,
                            progress=False, random_state=0).fit(X)
    centers = subset.density_field().centers
    assert centers.shape == (50, 2)
    # The centers are training points (up to the rounding of the standardization).
    assert all(np.isclose(X, center, rtol=0, atol=1e-12).all(axis=1).any() for center in centers)
    for structure in ("full", "lowrank"):
        free = WPOKernelScore(structure=structure, amortized=False, max_steps=10,
                              progress=False, random_state=0).fit(X)
        assert np.isfinite(free.score(spirals[1]))
        assert free.n_train_steps_ == 10


@pytest.mark.parametrize("structure", ["full", "diagonal", "lowrank"])
def test_isolated_points_cannot_spread_a_component_beyond_the_data(structure):
    # A few far outliers: the likelihood barely sees their components, which used to grow
    # without bound and throw samples hundreds of data widths away.
    rng = np.random.default_rng(0)
    X = np.vstack([make_toy("moons", 300, random_state=0), rng.normal(8.0, 0.1, size=(3, 2))])
    model = WPOKernelScore(structure=structure, rank=1, learning_rate=0.05, max_steps=100,
                           patience=100, progress=False, random_state=0).fit(X)
    # The ceiling is the largest variance of the standardized data.
    X_centered = (X - X.mean(0)) / model.scale_
    top = np.linalg.eigvalsh(X_centered.T @ X_centered / len(X))[-1]
    assert model.covariance_ceiling_ == pytest.approx(top, rel=1e-12)
    covariance = model.field_.covariance
    if structure == "full":
        largest = np.linalg.eigvalsh(covariance.covariances)[:, -1]
    elif structure == "diagonal":
        largest = covariance.variances.max(1)
    else:
        largest = covariance.variance + (covariance.factors**2).sum((1, 2))
    bound = (2 if structure == "lowrank" else 1) * top + model.covariance_floor_
    assert largest.max() <= bound * (1 + 1e-9)


def test_pickle_round_trip_keeps_the_density(fitted, spirals):
    restored = pickle.loads(pickle.dumps(fitted))
    np.testing.assert_array_equal(restored.score_samples(spirals[1]),
                                  fitted.score_samples(spirals[1]))
    np.testing.assert_array_equal(restored.sample(5, random_state=0), fitted.sample(5, random_state=0))


def test_history_records_the_training(fitted):
    assert len(fitted.history_["loss"]) == fitted.n_train_steps_
    assert fitted.history_["validation_step"][0] == 0
    assert max(fitted.history_["validation_score"]) == pytest.approx(
        fitted.best_validation_log_likelihood_
    )


@pytest.mark.parametrize(
    ("params", "error", "match"),
    [
        ({"structure": "dense"}, ValueError, "Expected structure in"),
        ({"objective": "mle"}, ValueError, "Expected objective in"),
        ({"rank": 0}, ValueError, "Expected rank >= 1"),
        ({"n_centers": 2.5}, TypeError, "Expected an integer for n_centers"),
        ({"max_steps": -1}, ValueError, "Expected max_steps >= 0"),
        ({"validation_fraction": 1.0}, ValueError, r"Expected validation_fraction in \(0, 1\)"),
        ({"covariance_floor": 0.0}, ValueError, "Expected covariance_floor > 0"),
        ({"sigma_min": 2.0}, ValueError, r"Expected sigma_min < beta \* sqrt\(T\) = 1"),
        ({"patience": 0}, ValueError, "Expected patience >= 1"),
        ({"device": "tpu"}, ValueError, "Expected device in"),
        ({"random_state": "seed"}, TypeError, "Expected an integer for random_state"),
    ],
)
def test_invalid_hyper_parameters(spirals, params, error, match):
    with pytest.raises(error, match=match):
        WPOKernelScore(**params).fit(spirals[0])


def test_invalid_data():
    with pytest.raises(ValueError, match="NaN"):
        WPOKernelScore(**FAST).fit(np.array([[0.0, np.nan], [1.0, 2.0], [3.0, 4.0]]))
    with pytest.raises(ValueError, match="minimum of 2 is required"):
        WPOKernelScore(**FAST).fit(np.zeros((1, 2)))
    with pytest.raises(ValueError, match="Expected X with a positive spread, got 5 rows that "
                                         "are all the same point"):
        WPOKernelScore(**FAST).fit(np.ones((5, 2)))


@pytest.mark.parametrize("floor, one_point_blocks", [("isotropic", False), ("diagonal", False),
                                                     ("diagonal", True), ("local", False),
                                                     ("local", True)])
def test_the_pair_form_training_loss_is_the_held_out_likelihood_of_the_engine(
        floor, one_point_blocks, monkeypatch):
    # The lowrank model trains through the scale-free pair statistics; the loss and its
    # gradient must be those of the general engine on the mixture of the kept centers,
    # whether the batch is taken at once or one point at a time.
    from wpokernel.estimators import _wpo_training
    from wpokernel.estimators._wpo_training import dense_loo_loss

    if one_point_blocks:  # and the component terms differentiated 7 centers at a time
        monkeypatch.setattr(_wpo_training, "_BATCH_BLOCK_BYTES", 1)
        monkeypatch.setattr(_wpo_training, "_COMPONENT_BLOCK", 7)
    from wpokernel.estimators.wpo import _training_batch
    from wpokernel.objectives import negative_log_likelihood

    X = make_swissroll6d(300, random_state=1)
    model = WPOKernelScore(structure="lowrank", rank=3, floor=floor, max_steps=0,
                           progress=False, random_state=0).fit(X)
    network = model.factor_network_
    with torch.no_grad():
        network.mlp[-1].weight.normal_(0.0, 0.3)  # away from the initialization
    centers = torch.as_tensor(model.field_.centers)
    n = len(centers)
    batch, kept = _training_batch(n, np.arange(n), 40, np.random.RandomState(0))
    excluded = torch.as_tensor(np.setdiff1d(np.arange(n), kept))
    x_b = centers[torch.as_tensor(batch)]

    def gradient(loss):
        network.zero_grad()
        loss.backward()
        return loss.item(), [p.grad.clone() for p in network.parameters()]

    got, got_grad = gradient(dense_loo_loss(network, x_b, centers, excluded))
    kept_t = torch.as_tensor(kept)
    expected, expected_grad = gradient(
        negative_log_likelihood(x_b, centers[kept_t], network(centers[kept_t], kept_t)))
    np.testing.assert_allclose(got, expected, rtol=1e-10)
    # Entries near zero are differences of large per-pair terms (the small variances of a
    # local floor make them large); their rounding differs with the order of the sums
    # (blocks, threads), so the absolute tolerance is relative to the largest entry.
    largest = max(float(b.abs().max()) for b in expected_grad)
    for a, b in zip(got_grad, expected_grad):
        torch.testing.assert_close(a, b, rtol=1e-8, atol=1e-10 * largest)


@pytest.mark.parametrize("n_centers", [None, 150])
def test_nearest_centers_are_the_brute_force_ones(n_centers):
    from wpokernel.estimators._wpo_training import _nearest_centers
    X = np.random.default_rng(0).normal(size=(200, 5))
    center_rows = np.arange(200) if n_centers is None else np.sort(
        np.random.default_rng(1).choice(200, n_centers, replace=False))
    got = _nearest_centers(X, center_rows, 7)
    distance = ((X[:, None, :] - X[center_rows][None]) ** 2).sum(-1)
    distance[center_rows, np.arange(len(center_rows))] = np.inf  # never itself
    expected = np.argsort(distance, axis=1)[:, :7]
    np.testing.assert_array_equal(np.sort(got, 1), np.sort(expected, 1))


@pytest.mark.parametrize("floor", ["diagonal", "local"])
def test_the_nearest_center_loss_with_every_center_is_the_full_loss(floor):
    from wpokernel.estimators._wpo_training import (
        _truncation_gap,
        dense_loo_loss,
        neighbor_loss,
    )
    from wpokernel.estimators.wpo import _training_batch
    from wpokernel.neural.local_pairs import center_terms

    X = make_swissroll6d(200, random_state=2)
    model = WPOKernelScore(structure="lowrank", rank=3, floor=floor, max_steps=0,
                           validation_fraction=0.1, progress=False, random_state=0).fit(X)
    network = model.factor_network_
    with torch.no_grad():
        network.mlp[-1].weight.normal_(0.0, 0.3)
    centers = torch.as_tensor(model.field_.centers)
    n = len(centers)
    everyone = np.array([[j for j in range(n) if j != i] for i in range(n)])
    rng = np.random.RandomState(0)
    terms = center_terms(centers, network.factors, network.profile)
    scales = network.scales_of_all(centers)
    assert abs(_truncation_gap(network, centers, np.arange(n), centers, everyone, rng,
                               terms, scales)) < 1e-12
    nearest = everyone[:, :5]
    assert _truncation_gap(network, centers, np.arange(n), centers, nearest, rng, terms,
                           scales) > 0.0
    batch, kept = _training_batch(n, np.arange(n), 30, rng)
    excluded = torch.as_tensor(np.setdiff1d(np.arange(n), kept))
    got = neighbor_loss(network, centers, centers, everyone)(batch, kept)
    expected = dense_loo_loss(network, centers[torch.as_tensor(batch)], centers, excluded)
    np.testing.assert_allclose(got.item(), expected.item(), rtol=1e-10)
    got.backward()
    got_grad = [p.grad.clone() for p in network.parameters()]
    network.zero_grad()
    expected.backward()
    # Compared on the scale of each gradient, not element by element: with the local floor
    # the dense reference itself moves by about 3e-11 of its largest entry when only the
    # order of the batch changes, so entries that cancel to ~1e-5 differ by ~1e-12 between
    # any two summation orders. A wrong term would move them by many orders more.
    for a, b in zip(got_grad, [p.grad for p in network.parameters()]):
        assert (a - b).abs().max() <= 1e-9 * b.abs().max()


def test_local_floor_profiles_are_the_left_out_variances_of_each_neighbourhood():
    # Brute force: each center's m nearest other points, the diagonal of their covariance
    # about the center, minus that of its rank-r local PCA, plus the share of the data's.
    from wpokernel.estimators._wpo_init import local_floor_profiles
    from wpokernel.local_covariance import local_factors, local_neighbors

    X = make_swissroll6d(120, random_state=4)
    rows, m, r, mu = np.arange(0, 120, 3), 9, 2, 0.05
    wide = local_neighbors(X, rows, 15)
    factors = local_factors(X, rows, m, r, neighbors=wide).factors
    got = local_floor_profiles(X, rows, m, factors, wide, mu)
    v = X.var(axis=0)
    for k, row in enumerate(rows):
        distance = ((X - X[row]) ** 2).sum(1)
        distance[row] = np.inf
        diff = X[np.argsort(distance)[:m]] - X[row]
        eigenvalues, vectors = np.linalg.eigh(diff.T @ diff / m)
        top = vectors[:, -r:] * np.sqrt(eigenvalues[-r:])
        expected = np.maximum((diff**2).mean(0) - (top**2).sum(1), 0.0) \
            + mu * ((1 - 1e-3) * v + 1e-3 * v.mean())
        np.testing.assert_allclose(got[k], expected, rtol=1e-9, atol=1e-12)


def test_a_local_floor_needs_the_lowrank_structure():
    with pytest.raises(ValueError, match="got floor='local': only the 'lowrank' structure"):
        WPOKernelScore(structure="full", floor="local", progress=False).fit(
            make_swissroll6d(60, random_state=0))


@pytest.mark.parametrize("structure, n_samples, expected", [
    ("full", 400, [20, 40, 80, 160]),  # a d x d covariance: up to 160 neighbours
    ("diagonal", 400, [20, 40, 80, 160]),
    ("lowrank", 400, [20, 40]),        # O(K d r) factors: two sizes
    ("full", 60, [20, 40, 53]),        # capped at the other fitting points (54 fit, 6 held out)
])
def test_the_neighbourhood_sizes_searched_depend_on_the_structure(structure, n_samples, expected,
                                                                  monkeypatch):
    from wpokernel.estimators import wpo

    searched = []

    def recording(*args, neighbors, **kwargs):
        searched.append(list(neighbors))
        return initialize(*args, neighbors=neighbors, **kwargs)

    initialize = wpo.initialize
    monkeypatch.setattr(wpo, "initialize", recording)
    model = WPOKernelScore(structure=structure, max_steps=0, progress=False, random_state=0)
    model.fit(make_swissroll6d(n_samples, random_state=0))
    assert searched == [expected]
    assert model.n_neighbors_ in expected


@pytest.mark.parametrize("floor", [("isotropic", None), ("diagonal", 0.01), ("local", 0.01)])
def test_grouped_search_scores_are_the_engine_scores_of_each_candidate(floor, monkeypatch):
    # The search scores a group of candidates from one set of pair statistics; each score
    # must be the mixture engine's log-likelihood of that candidate's own structure. Factors
    # stored in float64 here: a built structure rounds its scaled factors to the storage
    # dtype, which float32 would do at 1e-8 relative.
    from wpokernel.estimators import _wpo_init
    from wpokernel.estimators._wpo_init import _Search

    monkeypatch.setattr(_wpo_init, "_FACTOR_DTYPE", np.float64)

    X = make_swissroll6d(400, random_state=3)
    X_fit, X_cal, rows = X[:300], X[300:], np.arange(0, 300, 2)
    search = _Search("lowrank", X_fit, X_cal, rows, X_fit[rows], 1e-6, 5.0, 4, 12)
    candidates = [(rank, 12, floor, alpha, variance) for rank in (2, 4)
                  for alpha in (0.5, 2.0) for variance in (1e-4, 0.05)]
    got = search._scores(candidates)
    expected = [mixture_moments(X_cal, X_fit[rows], search.build(*c)[2],
                                backend="numpy").log_density.mean() for c in candidates]
    np.testing.assert_allclose(got, expected, rtol=1e-10)


@pytest.mark.parametrize("structure", ["full", "diagonal"])
def test_dense_search_scores_are_the_engine_scores_of_each_candidate(structure):
    # One eigendecomposition of the local statistic serves every (alpha, sigma) of a group;
    # each score must be the engine's log-likelihood of the candidate's own built structure,
    # the ceiling clipping some eigenvalues (c_max = 0.05 is below the largest ones).
    from wpokernel.estimators._wpo_init import _Search

    X = make_swissroll6d(400, random_state=4)
    X = (X - X.mean(0)) / X.std(0)
    X_fit, X_cal, rows = X[:300], X[300:], np.arange(0, 300, 3)
    search = _Search(structure, X_fit, X_cal, rows, X_fit[rows], 1e-6, 0.05, 6, 15)
    candidates = [(6, 15, ("isotropic", None), alpha, variance) for alpha in (0.25, 2.0)
                  for variance in (1e-4, 0.05)]
    got = search._scores(candidates)
    expected = [mixture_moments(X_cal, X_fit[rows], search.build(*c)[2],
                                backend="numpy").log_density.mean() for c in candidates]
    np.testing.assert_allclose(got, expected, rtol=1e-10)


def test_eigenbasis_log_likelihoods_match_scipy_in_any_blocks(monkeypatch):
    from scipy.stats import multivariate_normal

    from wpokernel.estimators import _wpo_init

    rng = np.random.default_rng(5)
    X, centers = rng.normal(size=(7, 3)), rng.normal(size=(11, 3))
    vectors = np.linalg.qr(rng.normal(size=(11, 3, 3)))[0]
    variances = [rng.uniform(0.1, 2.0, size=(11, 3)) for _ in range(2)]
    expected = [np.mean(np.log(np.mean([
        multivariate_normal(z, (V * v) @ V.T).pdf(X) for z, V, v in zip(centers, vectors, var)],
        axis=0))) for var in variances]
    axes = [np.mean(np.log(np.mean([multivariate_normal(z, np.diag(v)).pdf(X)
                                    for z, v in zip(centers, var)], axis=0))) for var in variances]
    for block_bytes in (2**26, 8 * 7 * 3 * 4):  # one block; blocks of 4 centers (the last 3)
        monkeypatch.setattr(_wpo_init, "_DENSE_BLOCK_BYTES", block_bytes)
        np.testing.assert_allclose(
            _wpo_init.eigenbasis_log_likelihoods(X, centers, vectors, variances), expected,
            rtol=1e-12)
        np.testing.assert_allclose(
            _wpo_init.eigenbasis_log_likelihoods(X, centers, None, variances), axes, rtol=1e-12)


def test_dense_search_takes_the_best_of_its_grids_then_of_a_finer_step(monkeypatch):
    # The calibration likelihood of the chosen initialization is the best over every
    # (m, alpha, sigma) of the grids and over the finer steps around that best.
    from wpokernel.estimators import _wpo_init

    scored = []
    scores = _wpo_init._Search._scores

    def recording(self, candidates):
        values = scores(self, candidates)
        scored.extend(zip(values, candidates))
        return values

    monkeypatch.setattr(_wpo_init._Search, "_scores", recording)
    model = WPOKernelScore(max_steps=0, progress=False, random_state=0).fit(
        make_toy("moons", 500, random_state=0))
    n_grid = 4 * len(_wpo_init._ALPHA_GRID) * len(_wpo_init._SIGMA_GRID)
    grid, steps = scored[:n_grid], scored[n_grid:]
    assert len(steps) == len(_wpo_init._ALPHA_STEPS) * len(_wpo_init._SIGMA_STEPS)
    best_grid = max(grid, key=lambda item: item[0])
    assert best_grid[1] in [c for _, c in steps]  # the finer steps include it
    best = max(steps, key=lambda item: item[0])
    assert model.calibration_log_likelihood_ == best[0] >= best_grid[0]
    assert (model.n_neighbors_, model.local_scale_, model.local_variance_) == (
        best[1][1], best[1][3], best[1][4])


def test_nearest_center_training_is_used_only_where_the_far_centers_hold_little(monkeypatch):
    # Lower the cost threshold so that small fits take the decision: tight clusters far
    # apart in 20-d leave the far centers nothing, a 2-D toy leaves them a lot.
    from wpokernel.estimators import _wpo_training

    monkeypatch.setattr(_wpo_training, "_MIN_WORK_FOR_TRUNCATION", 0)
    monkeypatch.setattr(_wpo_training, "TRAINING_NEIGHBORS", 20)
    rng = np.random.default_rng(0)
    clusters = np.repeat(rng.normal(size=(20, 20)) * 50.0, 15, axis=0)  # 15 < 20 neighbours
    X = clusters + rng.normal(size=clusters.shape) * np.linspace(0.2, 1.0, 20)
    # Neighbourhoods within a cluster, so that no component spans two.
    options = dict(structure="lowrank", rank=3, n_neighbors=8, max_steps=30,
                   validation_interval=10, progress=False, random_state=0)
    tight = WPOKernelScore(**options).fit(X)
    assert tight.training_neighbors_ == 20
    # Non-negative up to rounding: the far centers of a tight cluster hold nothing.
    assert -1e-12 <= tight.training_truncation_gap_ < _wpo_training.TRUNCATION_TOLERANCE
    assert tight.best_validation_log_likelihood_ >= tight.init_validation_log_likelihood_
    spread = WPOKernelScore(**{**options, "rank": 1, "n_neighbors": "auto"}).fit(
        make_toy("moons", 400, random_state=0))
    assert spread.training_neighbors_ is None
    assert spread.training_truncation_gap_ > _wpo_training.TRUNCATION_TOLERANCE


def test_early_stopping_measures_a_fixed_subset_of_many_validation_points(monkeypatch):
    from wpokernel.estimators import wpo
    monkeypatch.setattr(wpo, "_MAX_EARLY_STOPPING_POINTS", 10)
    measured = []
    original = wpo._validation_log_likelihood

    def recording(model, centers_t, X_val_t):
        measured.append(X_val_t.clone())
        return original(model, centers_t, X_val_t)

    monkeypatch.setattr(wpo, "_validation_log_likelihood", recording)
    X = make_toy("moons", 300, random_state=0)
    WPOKernelScore(max_steps=20, validation_interval=5, patience=100, progress=False,
                   random_state=0).fit(X)
    assert len(measured) == 5 and all(len(x) == 10 for x in measured)
    assert all(torch.equal(x, measured[0]) for x in measured)
