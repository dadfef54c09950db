"""Tests of the sliced Wasserstein distance against scipy and closed forms."""

import numpy as np
import pytest
from scipy.stats import wasserstein_distance

from wpokernel.diagnostics import sliced_wasserstein


def test_one_dimension_matches_scipy_for_unequal_sizes():
    # In 1-D every direction is +1 or -1, so SW_1 is the 1-D Wasserstein distance.
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=37), rng.gamma(2.0, size=23)
    np.testing.assert_allclose(
        sliced_wasserstein(x[:, None], y[:, None], p=1), wasserstein_distance(x, y), rtol=1e-12
    )


@pytest.mark.parametrize("p", [1.5, 2, 3])
def test_unequal_sizes_match_replicated_equal_sizes(p):
    # Repeating each of n points m times and each of m points n times leaves both empirical
    # laws unchanged and makes the sizes equal, where W_p^p is the mean of sorted differences.
    rng = np.random.default_rng(1)
    x, y = rng.normal(size=9), rng.normal(loc=0.5, size=6)
    sorted_x, sorted_y = np.sort(np.repeat(x, 6)), np.sort(np.repeat(y, 9))
    expected = np.mean(np.abs(sorted_x - sorted_y) ** p) ** (1 / p)
    np.testing.assert_allclose(
        sliced_wasserstein(x[:, None], y[:, None], p=p), expected, rtol=1e-12
    )


def test_translation_gives_mean_squared_projection_of_shift():
    # Y = X + mu shifts each projection by <theta, mu>, so W_2^2 = <theta, mu>^2 exactly and
    # SW_2^2 is its mean over uniform directions, |mu|^2 / d. With u = mu / |mu|,
    # Var <theta, u>^2 = 3 / (d (d + 2)) - 1 / d^2; the tolerance is 5 standard errors.
    rng = np.random.default_rng(2)
    d, n_projections = 3, 4000
    X = rng.normal(size=(200, d))
    mu = np.array([1.0, -2.0, 0.5])
    sw = sliced_wasserstein(X, X + mu, n_projections=n_projections, random_state=3)
    standard_error = np.sum(mu**2) * np.sqrt((3 / (d * (d + 2)) - 1 / d**2) / n_projections)
    np.testing.assert_allclose(sw**2, np.sum(mu**2) / d, atol=5 * standard_error)


def test_identical_samples_give_zero_and_blocks_do_not_matter():
    rng = np.random.default_rng(4)
    X, Y = rng.normal(size=(50, 4)), rng.normal(size=(70, 4))
    assert sliced_wasserstein(X, X[::-1]) == 0.0
    np.testing.assert_allclose(
        sliced_wasserstein(X, Y, random_state=7),
        sliced_wasserstein(X, Y, random_state=7, working_memory=1e-6),
        rtol=1e-12,
    )
    assert sliced_wasserstein(X, Y, random_state=7) != sliced_wasserstein(X, Y, random_state=8)


@pytest.mark.parametrize(
    ("options", "match"),
    [
        ({"n_projections": 0}, "Expected n_projections to be a positive int, got 0"),
        ({"n_projections": 2.0}, "Expected n_projections to be a positive int, got 2.0"),
        ({"p": 0.5}, "Expected p to be a finite number >= 1, got 0.5"),
        ({"p": np.inf}, "Expected p to be a finite number >= 1, got inf"),
    ],
)
def test_bad_options_raise(options, match):
    with pytest.raises(ValueError, match=match):
        sliced_wasserstein(np.zeros((3, 2)), np.ones((3, 2)), **options)


def test_bad_points_raise():
    with pytest.raises(ValueError, match="Expected Y to have the same number of features"):
        sliced_wasserstein(np.zeros((3, 2)), np.zeros((3, 1)))
    with pytest.raises(ValueError, match="Expected finite values in X, got 1 NaN"):
        sliced_wasserstein([[np.nan, 0.0]], np.zeros((3, 2)))
