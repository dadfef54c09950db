"""Tests of the nearest-neighbour memorization diagnostics against brute-force references."""

import numpy as np
import pytest
from scipy.spatial.distance import cdist
from scipy.stats import norm

from wpokernel.diagnostics import (
    copy_gap,
    memorization_ratio,
    nearest_neighbor_distances,
    subspace_memorization_ratio,
)


def _brute_force_nearest(samples, X_train, n_neighbors):
    return np.sort(cdist(samples, X_train), axis=1)[:, :n_neighbors]


@pytest.mark.parametrize("n_neighbors", [1, 2, 5, 12])
def test_nearest_distances_match_cdist(n_neighbors):
    # 1, 2 and 5 neighbours are found by repeated argmin, 12 by argpartition.
    rng = np.random.default_rng(0)
    samples, X_train = rng.normal(size=(70, 3)), rng.normal(size=(50, 3))
    distances = nearest_neighbor_distances(samples, X_train, n_neighbors=n_neighbors)
    expected = _brute_force_nearest(samples, X_train, n_neighbors)
    np.testing.assert_allclose(distances, expected, rtol=1e-10, atol=1e-12)


def test_tiny_memory_budget_gives_same_distances():
    # 1e-5 MiB is less than one row of 400 distances, so every sample is its own block.
    rng = np.random.default_rng(1)
    samples, X_train = rng.normal(size=(37, 4)) + 10.0, rng.normal(size=(400, 4)) + 10.0
    distances = nearest_neighbor_distances(samples, X_train, n_neighbors=3, working_memory=1e-5)
    expected = _brute_force_nearest(samples, X_train, 3)
    np.testing.assert_allclose(distances, expected, rtol=1e-10, atol=1e-12)


def test_n_neighbors_equal_to_n_train_returns_all_sorted():
    rng = np.random.default_rng(2)
    samples, X_train = rng.normal(size=(6, 2)), rng.normal(size=(4, 2))
    distances = nearest_neighbor_distances(samples, X_train, n_neighbors=4)
    np.testing.assert_allclose(distances, np.sort(cdist(samples, X_train), axis=1), rtol=1e-10)


def test_copies_of_training_set_are_all_memorized():
    X_train = np.random.default_rng(3).normal(loc=5.0, size=(300, 2))
    fraction, ratios = memorization_ratio(X_train, X_train)
    assert fraction == 1.0
    np.testing.assert_array_equal(ratios, 0.0)


def test_ratio_is_nearest_over_second_nearest():
    rng = np.random.default_rng(4)
    samples, X_train = rng.normal(size=(40, 3)), rng.normal(size=(60, 3))
    fraction, ratios = memorization_ratio(samples, X_train, threshold=0.5)
    nearest = _brute_force_nearest(samples, X_train, 2)
    expected_ratios = nearest[:, 0] / nearest[:, 1]
    np.testing.assert_allclose(ratios, expected_ratios, rtol=1e-10)
    assert fraction == np.mean(expected_ratios < 0.5)


def test_sample_on_duplicated_training_point_has_ratio_zero():
    X_train = np.array([[0.0, 0.0], [0.0, 0.0], [1.0, 1.0]])
    fraction, ratios = memorization_ratio([[0.0, 0.0]], X_train)
    assert fraction == 1.0
    np.testing.assert_allclose(ratios, [0.0])


def test_fresh_samples_match_test_set_and_poisson_law():
    # For points drawn independently of the training set, locally uniform training points
    # give P(d1 / d2 < t) = t^d; in d = 2, t = 1/3 gives 1/9. Each fraction over n points is
    # binomial with standard error sqrt(p (1 - p) / n) ~ 0.005 for n = 4000; allow 5 of them.
    rng = np.random.default_rng(5)
    n = 4000
    X_train, X_test, samples = (rng.normal(size=(n, 2)) for _ in range(3))
    sample_fraction, _ = memorization_ratio(samples, X_train)
    test_fraction, _ = memorization_ratio(X_test, X_train)
    standard_error = np.sqrt((1 / 9) * (8 / 9) / n)
    np.testing.assert_allclose(sample_fraction, test_fraction, atol=5 * np.sqrt(2) * standard_error)
    np.testing.assert_allclose(sample_fraction, 1 / 9, atol=5 * standard_error)


@pytest.mark.parametrize(
    ("samples", "n_features_train", "match"),
    [
        (np.zeros(3), 3, r"Expected samples to be a 2-D array.*got an array of shape \(3,\)"),
        (np.zeros((2, 3)), 2, r"Expected X_train to have the same number of features as samples "
         r"\(3\), got 2"),
        (np.array([[np.nan, 0.0]]), 2, r"Expected finite values in samples, got 1 NaN or inf"),
        (np.zeros((0, 2)), 2, r"Expected samples to have at least 1 rows, got 0"),
        ([["a", "b"]], 2, r"Expected samples to be a numeric array-like"),
    ],
)
def test_bad_points_raise(samples, n_features_train, match):
    with pytest.raises(ValueError, match=match):
        nearest_neighbor_distances(samples, np.zeros((4, n_features_train)))


@pytest.mark.parametrize("n_neighbors", [0, 5, 1.5])
def test_bad_n_neighbors_raises(n_neighbors):
    with pytest.raises(ValueError, match=r"Expected (1 <= n_neighbors|n_neighbors to be an int)"):
        nearest_neighbor_distances(np.zeros((2, 2)), np.zeros((4, 2)), n_neighbors=n_neighbors)


@pytest.mark.parametrize("working_memory", [0, -1.0, "big"])
def test_bad_working_memory_raises(working_memory):
    with pytest.raises(ValueError, match="Expected working_memory to be a positive number"):
        nearest_neighbor_distances(
            np.zeros((2, 2)), np.zeros((4, 2)), working_memory=working_memory
        )


def test_memorization_needs_two_training_points():
    with pytest.raises(ValueError, match="Expected X_train to have at least 2 rows, got 1"):
        memorization_ratio(np.zeros((3, 2)), np.zeros((1, 2)))


@pytest.mark.parametrize("threshold", [0.0, 1.5, -0.1])
def test_bad_threshold_raises(threshold):
    with pytest.raises(ValueError, match=r"Expected threshold in \(0, 1\]"):
        memorization_ratio(np.zeros((3, 2)), np.eye(2), threshold=threshold)


def _mann_whitney_z_brute_force(a, b):
    """Normal score of U by a double loop, with the tie-corrected null variance."""
    u = sum(float(x > y) + 0.5 * float(x == y) for x in a for y in b)
    n, m = len(a), len(b)
    _, tie_sizes = np.unique(np.concatenate([a, b]), return_counts=True)
    variance = n * m / 12 * (n + m + 1 - np.sum(tie_sizes**3 - tie_sizes) / ((n + m) * (n + m - 1)))
    return (u - n * m / 2) / np.sqrt(variance)


def test_mann_whitney_z_matches_double_loop_and_scipy_with_ties():
    from scipy.stats import mannwhitneyu

    from wpokernel.diagnostics.memorization import _mann_whitney_z

    rng = np.random.default_rng(10)
    a, b = np.round(rng.normal(size=40), 1), np.round(rng.normal(0.3, size=30), 1)
    z = _mann_whitney_z(a, b)
    np.testing.assert_allclose(z, _mann_whitney_z_brute_force(a, b), rtol=1e-12)
    p_value = mannwhitneyu(a, b, method="asymptotic", use_continuity=False).pvalue
    np.testing.assert_allclose(2 * norm.sf(abs(z)), p_value, rtol=1e-9)


def test_copy_gap_of_copies_has_zero_ratio_and_the_separation_z():
    rng = np.random.default_rng(11)
    X_train, X_test = rng.normal(size=(300, 2)), rng.normal(size=(100, 2))
    gap = copy_gap(X_train[:80], X_train, X_test)
    assert gap.median_ratio == 0.0
    np.testing.assert_array_equal(gap.sample_distances, 0.0)
    # Every sample distance (0) is below every test distance: U = 0.
    expected_z = _mann_whitney_z_brute_force(gap.sample_distances, gap.test_distances)
    np.testing.assert_allclose(gap.z_score, expected_z, rtol=1e-12)
    assert gap.z_score < -10


def test_copy_gap_of_fresh_samples_is_near_null():
    # Fresh samples and test points are exchangeable given the training set, so z is
    # approximately standard normal over replicates.
    rng = np.random.default_rng(12)
    X_train = rng.normal(size=(500, 2))
    z_scores = [
        copy_gap(rng.normal(size=(200, 2)), X_train, rng.normal(size=(200, 2))).z_score
        for _ in range(40)
    ]
    assert abs(np.mean(z_scores)) < 4 / np.sqrt(40)
    assert 0.6 < np.std(z_scores) < 1.4


def test_copy_gap_distances_are_the_nearest_neighbour_distances():
    rng = np.random.default_rng(13)
    samples, X_train, X_test = (rng.normal(size=(k, 3)) for k in (20, 50, 30))
    gap = copy_gap(samples, X_train, X_test)
    np.testing.assert_allclose(
        gap.sample_distances, _brute_force_nearest(samples, X_train, 1)[:, 0], rtol=1e-10
    )
    np.testing.assert_allclose(
        gap.test_distances, _brute_force_nearest(X_test, X_train, 1)[:, 0], rtol=1e-10
    )
    np.testing.assert_allclose(
        gap.median_ratio, np.median(gap.sample_distances) / np.median(gap.test_distances)
    )


def test_copy_gap_names_the_bad_input():
    with pytest.raises(ValueError, match="Expected X_test to have the same number of features"):
        copy_gap(np.zeros((3, 2)), np.zeros((4, 2)), np.zeros((3, 1)))
    with pytest.raises(ValueError, match="Expected finite values in X_test"):
        copy_gap(np.zeros((3, 2)), np.zeros((4, 2)), np.full((3, 2), np.nan))


# ---------------------------------------------------------------------------------------------
# subspace_memorization_ratio
# ---------------------------------------------------------------------------------------------


def _subspace_ratios_reference(samples, X_train, n_components):
    """The ratio of its definition, with explicit projector matrices and a loop over samples."""
    n_features = X_train.shape[1]
    _, vectors = np.linalg.eigh(np.cov(X_train.T, bias=True))
    top = vectors[:, ::-1][:, :n_components]
    P = top @ top.T
    Q = np.eye(n_features) - P
    weight = n_components / (n_features - n_components)
    distances = cdist(samples, X_train)
    ratios, fallbacks = [], 0
    for x, row in zip(samples, distances):
        nearest = np.argsort(row)[:2]
        deltas = sorted((x - y) @ P @ (x - y) - weight * (x - y) @ Q @ (x - y)
                        for y in X_train[nearest])
        if deltas[1] > 0:
            ratios.append(np.sqrt(max(deltas[0], 0.0) / deltas[1]))
        else:
            fallbacks += 1
            ratios.append(row[nearest[0]] / row[nearest[1]])
    return np.array(ratios), fallbacks


def test_subspace_ratios_match_explicit_projectors():
    # Fresh points, exact copies and copies under noise heavy enough that some second
    # debiased distances are negative, so that both branches of the definition are used.
    rng = np.random.default_rng(20)
    X_train = rng.normal(size=(80, 5)) @ rng.normal(size=(5, 40)) + 0.1 * rng.normal(size=(80, 40))
    samples = np.vstack([
        rng.normal(size=(10, 5)) @ rng.normal(size=(5, 40)),
        X_train[:10],
        X_train[10:40] + 3.0 * rng.normal(size=(30, 40)),
    ])
    expected, fallbacks = _subspace_ratios_reference(samples, X_train, 5)
    assert 0 < fallbacks < len(samples)
    fraction, ratios = subspace_memorization_ratio(samples, X_train, n_components=5)
    np.testing.assert_allclose(ratios, expected, rtol=1e-9, atol=1e-12)
    assert fraction == np.mean(expected < 1 / 3)
    np.testing.assert_array_equal(ratios[10:20], 0.0)


def test_subspace_ratio_with_every_component_is_the_pixel_ratio():
    # With p = d there is no complement to subtract; below 32 features that is the default.
    rng = np.random.default_rng(21)
    X_train, samples = rng.normal(size=(200, 6)), rng.normal(size=(50, 6))
    samples[:10] = X_train[:10] + 0.01 * rng.normal(size=(10, 6))
    pixel_fraction, pixel_ratios = memorization_ratio(samples, X_train)
    for n_components in (6, None):
        fraction, ratios = subspace_memorization_ratio(samples, X_train,
                                                       n_components=n_components)
        np.testing.assert_allclose(ratios, pixel_ratios, rtol=1e-12)
        assert fraction == pixel_fraction


def test_debiased_distance_removes_isotropic_noise_in_expectation():
    # x = y_0 + sigma eps: E|P eps|^2 = p sigma^2 and E|Q eps|^2 = (d - p) sigma^2, so delta
    # to y_0 has mean 0 and delta to y_1 has mean |P (y_0 - y_1)|^2 - p/(d-p) |Q (y_0 - y_1)|^2
    # (the cross terms have mean 0), for any sigma. Means over m draws, within 5 standard errors.
    from wpokernel.diagnostics.memorization import (
        _debiased_squared_distances,
        _principal_basis,
    )

    rng = np.random.default_rng(22)
    n_features, n_components, m, sigma = 60, 8, 20000, 1.5
    X_train = rng.normal(size=(300, 8)) @ rng.normal(size=(8, n_features))
    basis = _principal_basis(X_train, n_components)
    samples = X_train[0] + sigma * rng.normal(size=(m, n_features))
    neighbors = np.tile([0, 1], (m, 1))
    debiased, _ = _debiased_squared_distances(samples, X_train, neighbors, basis)
    difference = X_train[0] - X_train[1]
    in_subspace = np.sum((difference @ basis) ** 2)
    outside = difference @ difference - in_subspace
    expected = [0.0, in_subspace - n_components / (n_features - n_components) * outside]
    standard_errors = debiased.std(axis=0) / np.sqrt(m)
    np.testing.assert_allclose(debiased.mean(axis=0), expected, atol=5 * standard_errors.max())


def _low_rank_data(rng, n_points, n_features=400, latent_dim=6, scale=5.0):
    """Points 0.5 + scale * A z, z ~ N(0, I_6), A orthonormal (400, 6): rank-6 data."""
    basis = np.linalg.qr(rng.normal(size=(n_features, latent_dim)))[0]
    return 0.5 + scale * rng.normal(size=(n_points, latent_dim)) @ basis.T


@pytest.mark.parametrize("sigma", [0.1, 0.2, 0.3])
def test_subspace_ratio_flags_noisy_copies_of_low_rank_data(sigma):
    # d = 400, p = 50: delta of the copied point has standard deviation
    # sigma^2 sqrt(2 p d / (d - p)) ~ 10.7 sigma^2 (<= 1 at sigma = 0.3), against a median
    # squared distance of 15 to the nearest other training point; a copy is missed only when
    # delta exceeds 1/8 of that gap. The pixel ratio sees sqrt(400) sigma = 2 to 6 of noise
    # on a neighbour distance of about 4: no copy has r < 1/3 once sigma >= 0.2.
    rng = np.random.default_rng(23)
    X = _low_rank_data(rng, 3000)
    X_train, X_fresh = X[:2000], X[2000:]
    noisy_copies = X_train[:500] + sigma * rng.normal(size=(500, X.shape[1]))
    fraction, _ = subspace_memorization_ratio(noisy_copies, X_train)
    assert fraction >= (0.95 if sigma < 0.3 else 0.85)
    if sigma >= 0.2:
        assert memorization_ratio(noisy_copies, X_train)[0] <= 0.01
    assert subspace_memorization_ratio(X_fresh, X_train)[0] <= 0.02


def test_subspace_ratio_flags_noisy_copies_of_digits():
    # 64 pixels in [0, 1) with neighbours about 1.0 apart: a noise of 0.1 per pixel (0.8 in
    # norm) hides every copy from the pixel ratio; the subspace ratio (p = 32) still flags
    # most copies and no more of the held-out digits than the 0.02 a fresh sample may have.
    from wpokernel.datasets import load_digits_continuous

    rng = np.random.default_rng(24)
    X = load_digits_continuous(random_state=0)
    X_train, X_test = X[:1200], X[1200:]
    for sigma, at_least in ((0.05, 0.9), (0.1, 0.6)):
        noisy_copies = X_train[:500] + sigma * rng.normal(size=(500, 64))
        assert subspace_memorization_ratio(noisy_copies, X_train)[0] >= at_least, sigma
    assert memorization_ratio(noisy_copies, X_train)[0] <= 0.01
    assert subspace_memorization_ratio(X_test, X_train)[0] <= 0.02


def test_subspace_ratio_flags_noisy_copies_of_mnist_but_not_fresh_images():
    # 784 pixels; the nearest other training image is about 5 away, the noise sqrt(784) sigma
    # = 2.8 to 8.4: the pixel ratio flags almost none of the copies.
    from _mnist import mnist_folder

    from wpokernel.datasets import load_mnist

    folder = mnist_folder()
    X_train = load_mnist(folder, n_samples=5000, random_state=0)
    X_fresh = load_mnist(folder, split="test", n_samples=2000, random_state=1)
    rng = np.random.default_rng(25)
    for sigma, at_least in ((0.1, 0.95), (0.2, 0.9), (0.3, 0.8)):
        noisy_copies = X_train[:500] + sigma * rng.normal(size=(500, 784))
        assert subspace_memorization_ratio(noisy_copies, X_train)[0] >= at_least, sigma
        assert memorization_ratio(noisy_copies, X_train)[0] <= 0.01, sigma
    first, second = (subspace_memorization_ratio(part, X_train)[0]
                     for part in (X_fresh[:1000], X_fresh[1000:]))
    assert first <= 0.02 and second <= 0.02
    assert abs(first - second) <= 0.02


@pytest.mark.parametrize(
    ("n_components", "match"),
    [
        (0, r"Expected 1 <= n_components <= n_features = 3, got n_components=0"),
        (4, r"Expected 1 <= n_components <= n_features = 3, got n_components=4"),
        (2.0, r"Expected n_components to be an int or None, got 2.0"),
        (True, r"Expected n_components to be an int or None, got True"),
    ],
)
def test_bad_n_components_raises(n_components, match):
    with pytest.raises(ValueError, match=match):
        subspace_memorization_ratio(np.zeros((2, 3)), np.eye(3), n_components=n_components)


def test_subspace_ratio_names_the_bad_input():
    with pytest.raises(ValueError, match="Expected X_train to have the same number of features"):
        subspace_memorization_ratio(np.zeros((3, 2)), np.zeros((4, 3)))
    with pytest.raises(ValueError, match="Expected X_train to have at least 2 rows, got 1"):
        subspace_memorization_ratio(np.zeros((3, 2)), np.zeros((1, 2)))
    with pytest.raises(ValueError, match=r"Expected threshold in \(0, 1\]"):
        subspace_memorization_ratio(np.zeros((3, 2)), np.eye(2), threshold=0.0)
