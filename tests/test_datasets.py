"""Tests of the toy data generators against the laws they are defined by."""

import numpy as np
import pytest

from wpokernel.datasets import TOY_NAMES, make_swissroll6d, make_toy, train_test_split_data

EXPECTED_NAMES = {
    "swissroll", "circles", "rings", "moons", "8gaussians", "pinwheel", "2spirals", "checkerboard"
}


def test_all_reference_toys_are_available():
    assert set(TOY_NAMES) == EXPECTED_NAMES


@pytest.mark.parametrize("name", sorted(EXPECTED_NAMES))
@pytest.mark.parametrize("n_samples", [1, 2, 3, 7, 1001])
def test_shape_dtype_and_finiteness(name, n_samples):
    X = make_toy(name, n_samples, random_state=0)
    assert X.shape == (n_samples, 2)
    assert X.dtype == np.float64
    assert np.all(np.isfinite(X))


@pytest.mark.parametrize("name", sorted(EXPECTED_NAMES))
def test_random_state_makes_draws_reproducible(name):
    X = make_toy(name, 50, random_state=3)
    np.testing.assert_array_equal(X, make_toy(name, 50, random_state=np.random.RandomState(3)))
    assert not np.array_equal(X, make_toy(name, 50, random_state=4))


@pytest.mark.parametrize("name", sorted(EXPECTED_NAMES))
def test_noise_adds_isotropic_gaussian(name):
    # The toy is drawn first from the generator, so the same seed gives the same toy points
    # and the difference is exactly the added noise sigma * eps. The std estimate over
    # 2 * 20000 values has relative standard error 1 / sqrt(2 * 40000) ~ 0.004; allow 5.
    n, sigma = 20000, 0.3
    difference = make_toy(name, n, noise=sigma, random_state=0) - make_toy(name, n, random_state=0)
    np.testing.assert_allclose(difference.std(), sigma, rtol=5 / np.sqrt(2 * 2 * n))
    np.testing.assert_allclose(difference.mean(axis=0), 0.0, atol=5 * sigma / np.sqrt(n))


def test_checkerboard_fills_only_even_squares():
    X = make_toy("checkerboard", 5000, random_state=0)
    squares = np.floor(X / 2.0).astype(int)  # board squares of side 2
    assert np.all(np.abs(X) <= 4.0)
    assert np.all(squares.sum(axis=1) % 2 == 0)
    # 8 of the 16 squares of the 4 x 4 board are used, each with probability 1/8.
    _, counts = np.unique(squares, axis=0, return_counts=True)
    assert len(counts) == 8
    np.testing.assert_allclose(counts / 5000, 1 / 8, atol=5 * np.sqrt((1 / 8) * (7 / 8) / 5000))


def test_rings_have_radii_three_quarters_apart():
    # Radii 3 * (1, 0.75, 0.5, 0.25) with noise 0.08 per coordinate: each point is within
    # 0.08 * 6 of its ring radius, and the rings hold n // 4 points each.
    n = 4001
    radius = np.linalg.norm(make_toy("rings", n, random_state=0), axis=1)
    ring = np.argmin(np.abs(radius[:, None] - 3.0 * np.array([1.0, 0.75, 0.5, 0.25])), axis=1)
    np.testing.assert_array_equal(np.bincount(ring), [1000, 1000, 1000, 1001])
    assert np.max(np.abs(radius - 3.0 * np.array([1.0, 0.75, 0.5, 0.25])[ring])) < 6 * 0.08


def test_eight_gaussians_centers_and_spread():
    n = 8000
    X = make_toy("8gaussians", n, random_state=0)
    angles = np.arange(8) * np.pi / 4
    centers = 4.0 / 1.414 * np.column_stack([np.cos(angles), np.sin(angles)])
    nearest = np.argmin(np.linalg.norm(X[:, None, :] - centers[None], axis=2), axis=1)
    residual = X - centers[nearest]
    # Per-coordinate std 0.5 / 1.414; relative standard error of the std ~ 1 / sqrt(2 * 2n).
    np.testing.assert_allclose(residual.std(), 0.5 / 1.414, rtol=5 / np.sqrt(4 * n))
    np.testing.assert_allclose(np.bincount(nearest) / n, 1 / 8, atol=5 * np.sqrt(7 / 64 / n))


@pytest.mark.parametrize("name", ["pinwheel", "2spirals"])
def test_arms_are_balanced_for_any_n(name):
    # Both toys are symmetric under a rotation about the origin, so their mean is zero.
    X = make_toy(name, 10001, random_state=0)
    np.testing.assert_allclose(X.mean(axis=0), 0.0, atol=5 * X.std() / np.sqrt(10001))


def test_swissroll6d_follows_its_definition():
    n = 20000
    X = make_swissroll6d(n, random_state=0)
    assert X.shape == (n, 6)
    x, y = X[:, 0], X[:, 1]
    np.testing.assert_array_equal(X[:, :2], make_toy("swissroll", n, random_state=0))
    residuals = np.column_stack([X[:, 2] - 2 * x, X[:, 3] - x - y, X[:, 4] - x + 2 * y, X[:, 5]])
    # Relative standard error of a std estimate over n values is 1 / sqrt(2n) ~ 0.005.
    noise_std = np.array([0.1, 0.1, 0.1, 1.0])
    np.testing.assert_allclose(residuals.std(axis=0), noise_std, rtol=5 / np.sqrt(2 * n))
    np.testing.assert_allclose(residuals.mean(axis=0) / noise_std, 0.0, atol=5 / np.sqrt(n))


def test_train_test_split_partitions_rows():
    X = np.arange(20.0).reshape(10, 2)
    X_train, X_test = train_test_split_data(X, test_size=0.3, random_state=0)
    assert X_train.shape == (7, 2) and X_test.shape == (3, 2)
    np.testing.assert_array_equal(np.sort(np.vstack([X_train, X_test]), axis=0), X)


def test_unknown_name_lists_valid_names():
    with pytest.raises(ValueError, match=r"Expected name to be one of 'swissroll'.*got 'spiral'"):
        make_toy("spiral")


@pytest.mark.parametrize(
    ("n_samples", "error", "match"),
    [
        (0, ValueError, "Expected n_samples to be a positive int, got 0"),
        (-5, ValueError, "Expected n_samples to be a positive int, got -5"),
        (10.0, TypeError, "Expected n_samples to be a positive int, got float"),
        (True, TypeError, "Expected n_samples to be a positive int, got bool"),
    ],
)
def test_bad_n_samples_raise(n_samples, error, match):
    with pytest.raises(error, match=match):
        make_toy("moons", n_samples)
    with pytest.raises(error, match=match):
        make_swissroll6d(n_samples)


@pytest.mark.parametrize(
    ("noise", "error", "match"),
    [
        (-0.1, ValueError, "Expected a finite noise >= 0, got -0.1"),
        (np.nan, ValueError, "Expected a finite noise >= 0, got nan"),
        ("0.1", TypeError, "Expected noise to be a real number, got '0.1'"),
    ],
)
def test_bad_noise_raises(noise, error, match):
    with pytest.raises(error, match=match):
        make_toy("moons", 10, noise=noise)
