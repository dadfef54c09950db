"""Tests of the nearest-neighbour memorization diagnostics against brute-force references."""

import numpy as np
import pytest
from scipy.spatial.distance import cdist
from scipy.stats import norm

from wpokernel.diagnostics import copy_gap, memorization_ratio, nearest_neighbor_distances


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
