"""Tests of the unbiased squared MMD against a double loop and a Gaussian closed form."""

import numpy as np
import pytest
from scipy.spatial.distance import pdist

from wpokernel.diagnostics import MULTISCALE_FACTORS, median_heuristic, mmd_squared


def _mmd_double_loop(X, Y, bandwidths):
    def kernel(a, b):
        return np.mean([np.exp(-np.sum((a - b) ** 2) / (2 * s**2)) for s in bandwidths])

    def mean_kernel(A, B, skip_diagonal):
        values = [
            kernel(a, b)
            for i, a in enumerate(A)
            for j, b in enumerate(B)
            if not (skip_diagonal and i == j)
        ]
        return np.mean(values)

    return mean_kernel(X, X, True) + mean_kernel(Y, Y, True) - 2 * mean_kernel(X, Y, False)


def _gaussian_mmd_squared(shift, std, bandwidth, d):
    r"""MMD^2 between N(0, std^2 I) and N(shift, std^2 I) with a Gaussian kernel.

    E exp(-|W|^2 / 2 sigma^2) for W ~ N(m, v I_d) is
    (sigma^2 / (sigma^2 + v))^{d/2} exp(-|m|^2 / 2 (sigma^2 + v)), here with v = 2 std^2.
    """
    v = 2 * std**2
    c = (bandwidth**2 / (bandwidth**2 + v)) ** (d / 2)
    return 2 * c * (1 - np.exp(-np.sum(shift**2) / (2 * (bandwidth**2 + v))))


@pytest.mark.parametrize("working_memory", [256, 1e-5])
@pytest.mark.parametrize("bandwidth", ["median", "multiscale", 0.7, [0.3, 2.0]])
def test_matches_double_loop(bandwidth, working_memory):
    rng = np.random.default_rng(0)
    X, Y = rng.normal(size=(21, 3)) + 40.0, rng.normal(loc=0.4, size=(15, 3)) + 40.0
    mmd2 = mmd_squared(X, Y, bandwidth=bandwidth, working_memory=working_memory)
    median = np.median(pdist(np.concatenate([X, Y])))
    bandwidths = {
        "median": [median],
        "multiscale": [median * f for f in MULTISCALE_FACTORS],
    }.get(bandwidth if isinstance(bandwidth, str) else None, np.atleast_1d(bandwidth))
    np.testing.assert_allclose(mmd2, _mmd_double_loop(X, Y, bandwidths), rtol=1e-9, atol=1e-14)


@pytest.mark.parametrize(("shift", "sd_times_sqrt_n"), [(0.5, 0.18), (1.0, 0.33)])
def test_matches_gaussian_closed_form(shift, sd_times_sqrt_n):
    # The standard deviations were measured over 30 replicates with n = 2000 (0.18/sqrt(n)
    # and 0.33/sqrt(n)); the tolerance is 5 of them.
    rng = np.random.default_rng(1)
    n, d = 4000, 2
    shift_d = np.array([shift, 0.0])
    X, Y = rng.normal(size=(n, d)), rng.normal(size=(n, d)) + shift_d
    expected = _gaussian_mmd_squared(shift_d, 1.0, 1.0, d)
    np.testing.assert_allclose(
        mmd_squared(X, Y, bandwidth=1.0), expected, atol=5 * sd_times_sqrt_n / np.sqrt(n)
    )


@pytest.mark.parametrize("shift", [0.0, 1.0])
def test_is_unbiased_on_tiny_samples(shift):
    # With n = m = 5 the plug-in (V-statistic) version is biased upwards by about
    # 2 (1 - E k(X, X')) / 5 = 0.2; the U-statistic is not. Same law (shift 0) gives 0.
    rng = np.random.default_rng(2)
    n_replicates, n, d = 4000, 5, 2
    shift_d = np.array([shift, 0.0])
    estimates = np.array(
        [
            mmd_squared(rng.normal(size=(n, d)), rng.normal(size=(n, d)) + shift_d, bandwidth=1.0)
            for _ in range(n_replicates)
        ]
    )
    standard_error = estimates.std() / np.sqrt(n_replicates)
    np.testing.assert_allclose(
        estimates.mean(), _gaussian_mmd_squared(shift_d, 1.0, 1.0, d), atol=5 * standard_error
    )


def test_median_heuristic_matches_pdist_and_subsamples_large_inputs():
    rng = np.random.default_rng(3)
    X, Y = rng.normal(size=(300, 2)), rng.normal(size=(200, 2)) + 1.0
    np.testing.assert_allclose(
        median_heuristic(X, Y), np.median(pdist(np.concatenate([X, Y]))), rtol=1e-12
    )
    # 6000 pooled points are subsampled to 1000; the median of N(0, I_2) - N(0, I_2)
    # distances is 2 sqrt(ln 2) (Rayleigh with scale sqrt 2).
    X, Y = rng.normal(size=(3000, 2)), rng.normal(size=(3000, 2))
    np.testing.assert_allclose(median_heuristic(X, Y), 2 * np.sqrt(np.log(2)), rtol=0.03)
    assert median_heuristic(X, Y, random_state=5) == median_heuristic(X, Y, random_state=5)


@pytest.mark.parametrize(
    ("bandwidth", "match"),
    [
        ("mean", "Expected bandwidth to be 'median', 'multiscale'"),
        (-1.0, "Expected positive finite bandwidths, got -1.0"),
        ([], r"Expected positive finite bandwidths, got \[\]"),
        ([1.0, np.nan], "Expected positive finite bandwidths"),
        (True, "Expected positive finite bandwidths, got True"),
    ],
)
def test_bad_bandwidth_raises(bandwidth, match):
    with pytest.raises(ValueError, match=match):
        mmd_squared(np.zeros((3, 1)), np.ones((3, 1)), bandwidth=bandwidth)


def test_median_heuristic_of_coincident_points_raises():
    with pytest.raises(ValueError, match="Expected distinct points for the median heuristic"):
        mmd_squared(np.zeros((3, 2)), np.zeros((4, 2)))


def test_bad_points_raise():
    with pytest.raises(ValueError, match="Expected Y to have the same number of features"):
        mmd_squared(np.zeros((3, 2)), np.zeros((3, 1)))
    with pytest.raises(ValueError, match="Expected X to have at least 2 rows, got 1"):
        mmd_squared(np.zeros((1, 2)), np.zeros((3, 2)))


def test_a_sample_against_itself_gives_the_closed_form():
    # With Y = X the U-statistic is 2 S / (n (n-1)) - 2 (S + n) / n^2 = -(2/n) (1 - kbar),
    # with S the sum of k over pairs i != j and kbar its mean: slightly negative, not 0.
    rng = np.random.default_rng(6)
    X = rng.normal(size=(40, 3))
    mean_off_diagonal = np.mean(np.exp(-pdist(X, "sqeuclidean") / 2.0))
    np.testing.assert_allclose(
        mmd_squared(X, X, bandwidth=1.0), -2 / 40 * (1 - mean_off_diagonal), rtol=1e-10
    )
