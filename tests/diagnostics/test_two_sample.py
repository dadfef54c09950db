"""Tests of the energy distance against a double loop and a Gaussian closed form."""

import numpy as np
import pytest
from scipy.stats import norm

from wpokernel.diagnostics import energy_distance


def _energy_distance_double_loop(X, Y):
    def mean_distance(A, B, skip_diagonal):
        total, count = 0.0, 0
        for i, a in enumerate(A):
            for j, b in enumerate(B):
                if skip_diagonal and i == j:
                    continue
                total += np.sqrt(np.sum((a - b) ** 2))
                count += 1
        return total / count

    return 2 * mean_distance(X, Y, False) - mean_distance(X, X, True) - mean_distance(Y, Y, True)


def _mean_abs_normal(mean, std):
    """E|W| for W ~ N(mean, std^2), the folded-normal mean."""
    return std * np.sqrt(2 / np.pi) * np.exp(-(mean**2) / (2 * std**2)) + mean * (
        1 - 2 * norm.cdf(-mean / std)
    )


def _gaussian_energy_distance(mu):
    """Energy distance between N(0, 1) and N(mu, 1): X - Y ~ N(-mu, 2), X - X' ~ N(0, 2)."""
    return 2 * _mean_abs_normal(mu, np.sqrt(2)) - 2 * _mean_abs_normal(0.0, np.sqrt(2))


@pytest.mark.parametrize("working_memory", [256, 1e-5])
def test_matches_double_loop(working_memory):
    rng = np.random.default_rng(0)
    X, Y = rng.normal(size=(23, 3)) + 50.0, rng.normal(loc=0.5, size=(17, 3)) + 50.0
    energy = energy_distance(X, Y, working_memory=working_memory)
    np.testing.assert_allclose(energy, _energy_distance_double_loop(X, Y), rtol=1e-9)


def test_is_symmetric_and_translation_invariant():
    rng = np.random.default_rng(1)
    X, Y = rng.normal(size=(30, 2)), rng.normal(size=(40, 2))
    shift = np.array([3.0, -7.0])
    np.testing.assert_allclose(energy_distance(X, Y), energy_distance(Y, X), rtol=1e-12)
    np.testing.assert_allclose(
        energy_distance(X + shift, Y + shift), energy_distance(X, Y), rtol=1e-9
    )


def test_matches_gaussian_closed_form():
    # Over 100 replicates the standard deviation of the estimate for N(0,1) vs N(1,1) was
    # 1.5/sqrt(n) to 1.6/sqrt(n); with n = m = 5000 that is 0.023. Allow 5 of them.
    rng = np.random.default_rng(2)
    n, mu = 5000, 1.0
    X, Y = rng.normal(size=(n, 1)), rng.normal(loc=mu, size=(n, 1))
    standard_error = 1.6 / np.sqrt(n)
    np.testing.assert_allclose(
        energy_distance(X, Y), _gaussian_energy_distance(mu), atol=5 * standard_error
    )


def test_is_unbiased_on_tiny_samples():
    # With n = m = 5 the plug-in (V-statistic) version is biased by
    # (E|X - X'| + E|Y - Y'|) / 5 = 0.45; the U-statistic is not. The tolerance is 5 standard
    # errors of the mean over the replicates.
    rng = np.random.default_rng(3)
    n_replicates, n, mu = 4000, 5, 1.0
    estimates = np.array(
        [
            energy_distance(rng.normal(size=(n, 1)), rng.normal(loc=mu, size=(n, 1)))
            for _ in range(n_replicates)
        ]
    )
    standard_error = estimates.std() / np.sqrt(n_replicates)
    np.testing.assert_allclose(
        estimates.mean(), _gaussian_energy_distance(mu), atol=5 * standard_error
    )


@pytest.mark.parametrize(
    ("X", "Y", "match"),
    [
        (np.zeros((1, 2)), np.zeros((3, 2)), "Expected X to have at least 2 rows, got 1"),
        (np.zeros((3, 2)), np.zeros((3, 1)), "Expected Y to have the same number of features"),
        (np.zeros((3, 2, 1)), np.zeros((3, 2)), r"Expected X to be a 2-D array.*shape \(3, 2, 1\)"),
        (np.zeros((3, 2)), np.full((3, 2), np.inf), "Expected finite values in Y, got 6 NaN"),
    ],
)
def test_bad_input_raises(X, Y, match):
    with pytest.raises(ValueError, match=match):
        energy_distance(X, Y)


def test_a_sample_against_itself_gives_the_closed_form():
    # With Y = X: 2 S / n^2 - 2 S / (n (n-1)) = -(2/n) dbar, with dbar the mean distance
    # over pairs i != j. In the cross term the n pairs (x_i, x_i) come out of the
    # matrix-product formula at up to sqrt(16 eps) |x_i| instead of 0 (the square root of a
    # rounding error of |x_i|^2), which moves the estimate by at most 2 sqrt(16 eps) max|x| / n.
    from scipy.spatial.distance import pdist

    n = 40
    X = np.random.default_rng(4).normal(size=(n, 3))
    rounding = 2 * np.sqrt(16 * np.finfo(float).eps) * np.linalg.norm(X, axis=1).max() / n
    np.testing.assert_allclose(energy_distance(X, X), -2 / n * np.mean(pdist(X)), atol=rounding)
