"""Tests of the data generators and loaders against the laws they are defined by."""

import numpy as np
import pytest
from scipy import integrate, stats
from sklearn.datasets import load_digits
from sklearn.neighbors import NearestNeighbors

from wpokernel.datasets import (
    DIGITS_IMAGE_SHAPE,
    MANIFOLD_INTRINSIC_DIMS,
    MANIFOLD_NAMES,
    TOY_NAMES,
    load_digits_continuous,
    make_manifold,
    make_swissroll6d,
    make_toy,
    swissroll6d_log_density,
    train_test_split_data,
)

EXPECTED_NAMES = {
    "swissroll", "circles", "rings", "moons", "8gaussians", "pinwheel", "2spirals", "checkerboard"
}
EXPECTED_MANIFOLDS = {"sphere", "s_curve", "torus"}
EPS = np.finfo(np.float64).eps
# The ring torus of make_manifold.
TORUS_R, TORUS_r = 2.0, 1.0


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


# The law of make_swissroll6d written out independently: t ~ U[3 pi / 2, 9 pi / 2] (sklearn's
# make_swiss_roll), the roll N((t cos t, t sin t) / 5, 1/25 I), columns 3-5 given (x, y).
ROLL_T = (1.5 * np.pi, 4.5 * np.pi)
ROLL_STD = 0.2
LINEAR_MAPS = np.array([[2.0, 0.0], [1.0, 1.0], [1.0, -2.0]])


def _roll_density_given_t(point, t):
    return (stats.norm.pdf(point[0], t * np.cos(t) / 5, ROLL_STD)
            * stats.norm.pdf(point[1], t * np.sin(t) / 5, ROLL_STD))


def _log_conditionals(X):
    """log N(X_3..5; c^T (X_1, X_2), 0.1^2) + log N(X_6; 0, 1), by scipy.stats."""
    means = X[:, :2] @ LINEAR_MAPS.T
    return stats.norm.logpdf(X[:, 2:5], means, 0.1).sum(axis=1) + stats.norm.logpdf(X[:, 5])


def _points_on_and_off_the_roll():
    X = make_swissroll6d(4, random_state=1)
    off = X.copy()
    off[:, :2] += [0.6, -0.4]  # between two turns of the roll
    return np.vstack([X, off])


def test_swissroll6d_density_matches_adaptive_quadrature():
    # scipy's adaptive quad over t, split at every half turn so that each bump is resolved.
    X = _points_on_and_off_the_roll()
    breaks = np.arange(ROLL_T[0], ROLL_T[1] + 1e-12, np.pi / 2)
    expected = []
    for point in X:
        roll = sum(integrate.quad(lambda t: _roll_density_given_t(point, t), a, b,
                                  epsabs=0, epsrel=1e-12, limit=200)[0]
                   for a, b in zip(breaks[:-1], breaks[1:])) / (ROLL_T[1] - ROLL_T[0])
        expected.append(np.log(roll))
    np.testing.assert_allclose(swissroll6d_log_density(X), expected + _log_conditionals(X),
                               rtol=1e-9)


def test_swissroll6d_density_matches_monte_carlo_over_the_roll_parameter():
    # p(x) = E_t[N(x_12; m(t), I / 25)] times the Gaussian conditionals; the mean over
    # 400,000 uniform draws of t has standard error std / sqrt(400,000): allow 5 of them.
    X = _points_on_and_off_the_roll()
    t = np.random.default_rng(2).uniform(*ROLL_T, size=400_000)
    for point, log_density in zip(X, swissroll6d_log_density(X)):
        values = _roll_density_given_t(point, t)
        roll = np.exp(log_density - _log_conditionals(point[None])[0])
        np.testing.assert_allclose(roll, values.mean(), atol=5 * values.std() / np.sqrt(t.size))


def _roll_density_on_a_grid():
    """p(x, y) of the first two columns on [-4, 4]^2 with spacing 0.04, and the cell area."""
    # With the other columns at their conditional means and X_6 = 0 the conditionals are
    # (2 pi 0.01)^(-3/2) (2 pi)^(-1/2), divided out here.
    grid = np.linspace(-4.0, 4.0, 201)
    xx, yy = np.meshgrid(grid, grid)
    points = np.column_stack([xx.ravel(), yy.ravel()])
    X = np.column_stack([points, points @ LINEAR_MAPS.T, np.zeros(len(points))])
    log_constant = -1.5 * np.log(2 * np.pi * 0.01) - 0.5 * np.log(2 * np.pi)
    return np.exp(swissroll6d_log_density(X) - log_constant), (grid[1] - grid[0]) ** 2


def test_swissroll6d_density_is_normalized_and_its_entropy_matches_its_samples():
    # The roll lies within radius 9 pi / 10 = 2.83 of the origin and its noise has std 0.2, so
    # [-4, 4]^2 misses a mass below 1e-8; the grid sum of a smooth density of width 0.2 at
    # spacing 0.04 is exact to far below that. E_p[log p] computed on the grid (plus the
    # Gaussian conditionals' -(1/2) log(2 pi e s^2) each) matches the mean of log p over
    # samples of make_swissroll6d within 5 standard errors: the density is that of the draws.
    roll, cell = _roll_density_on_a_grid()
    np.testing.assert_allclose(roll.sum() * cell, 1.0, atol=1e-6)
    positive = roll > 0
    expected_log_p = (np.sum(roll[positive] * np.log(roll[positive])) * cell
                      - 1.5 * np.log(2 * np.pi * np.e * 0.01) - 0.5 * np.log(2 * np.pi * np.e))
    log_p = swissroll6d_log_density(make_swissroll6d(20000, random_state=3))
    np.testing.assert_allclose(log_p.mean(), expected_log_p,
                               atol=5 * log_p.std() / np.sqrt(log_p.size))


@pytest.mark.parametrize(
    ("X", "match"),
    [
        (np.zeros((3, 5)), r"Expected X of shape \(n_samples, 6\), got shape \(3, 5\)"),
        (np.zeros(6), r"Expected X of shape \(n_samples, 6\), got shape \(6,\)"),
        (np.full((2, 6), np.nan), "Expected finite values in X"),
        ([["a"] * 6], "Expected X to be a numeric array-like"),
    ],
)
def test_swissroll6d_density_names_bad_input(X, match):
    with pytest.raises(ValueError, match=match):
        swissroll6d_log_density(X)


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


# ---------------------------------------------------------------------------------------------
# make_manifold
# ---------------------------------------------------------------------------------------------


def test_all_manifolds_are_available_with_their_dimension():
    assert set(MANIFOLD_NAMES) == EXPECTED_MANIFOLDS
    assert MANIFOLD_INTRINSIC_DIMS == {name: 2 for name in EXPECTED_MANIFOLDS}


@pytest.mark.parametrize("name", sorted(EXPECTED_MANIFOLDS))
@pytest.mark.parametrize(("n_samples", "ambient_dim"), [(1, 3), (2, 10), (101, 4)])
def test_manifold_shape_dtype_and_finiteness(name, n_samples, ambient_dim):
    X = make_manifold(name, n_samples, ambient_dim=ambient_dim, random_state=0)
    assert X.shape == (n_samples, ambient_dim)
    assert X.dtype == np.float64
    assert np.all(np.isfinite(X))


@pytest.mark.parametrize("name", sorted(EXPECTED_MANIFOLDS))
def test_manifold_random_state_makes_draws_reproducible(name):
    X = make_manifold(name, 50, random_state=3)
    np.testing.assert_array_equal(
        X, make_manifold(name, 50, random_state=np.random.RandomState(3))
    )
    assert not np.array_equal(X, make_manifold(name, 50, random_state=4))


@pytest.mark.parametrize("name", sorted(EXPECTED_MANIFOLDS))
def test_noiseless_manifold_spans_exactly_three_dimensions(name):
    # A rotation of points in R^3 padded with zeros: after centring, three singular values
    # are of order sqrt(n) and the other D - 3 are rounding errors, below the tolerance
    # numpy's matrix_rank uses, s_max * max(n, D) * eps.
    X = make_manifold(name, 2000, ambient_dim=10, noise=0.0, random_state=0)
    singular_values = np.linalg.svd(X - X.mean(axis=0), compute_uv=False)
    tolerance = singular_values[0] * max(X.shape) * EPS
    assert np.sum(singular_values > tolerance) == 3
    assert singular_values[2] > 1.0


@pytest.mark.parametrize("name", sorted(EXPECTED_MANIFOLDS))
def test_manifold_neighbourhoods_have_the_intrinsic_dimension(name):
    # Near each point a surface is its tangent plane: the 20 nearest neighbours spread along
    # two directions, and curvature adds a third one of order radius^2 * curvature, far
    # smaller. Count the local singular values above a quarter of the largest.
    X = make_manifold(name, 5000, noise=0.0, random_state=0)
    _, neighbours = NearestNeighbors(n_neighbors=20).fit(X).kneighbors(X[:100])
    patches = X[neighbours] - X[neighbours].mean(axis=1, keepdims=True)  # (100, 20, D)
    singular_values = np.linalg.svd(patches, compute_uv=False)  # (100, min(20, D))
    local_dims = np.sum(singular_values >= 0.25 * singular_values[:, :1], axis=1)
    np.testing.assert_array_equal(local_dims, MANIFOLD_INTRINSIC_DIMS[name])


def test_embedding_plane_is_uniformly_random():
    # Without noise the points span the plane of the first three rows of a Haar rotation,
    # a uniformly random 3-plane of R^D; the squared length of the projection of a fixed
    # unit vector onto it is Beta(3/2, (D - 3)/2), here over 300 independent draws.
    ambient_dim = 6
    squared_projections = []
    for seed in range(300):
        X = make_manifold("sphere", 10, ambient_dim=ambient_dim, noise=0.0, random_state=seed)
        plane_basis = np.linalg.svd(X, full_matrices=False)[2][:3]  # (3, D)
        squared_projections.append(np.sum(plane_basis[:, 0] ** 2))
    beta = stats.beta(3 / 2, (ambient_dim - 3) / 2)
    assert stats.kstest(squared_projections, beta.cdf).pvalue > 1e-3


def test_sphere_points_have_unit_norm():
    # A rotation preserves norms; each entry of the rotated point is a 10-term dot product, so
    # the rounding error is a few eps per term at most.
    ambient_dim = 10
    X = make_manifold("sphere", 1000, ambient_dim=ambient_dim, noise=0.0, random_state=0)
    np.testing.assert_allclose(np.linalg.norm(X, axis=1), 1.0, rtol=0, atol=ambient_dim * EPS)


def test_sphere_is_uniform():
    # Archimedes: for independent uniform points x, y on the unit 2-sphere, <x, y> is uniform
    # on [-1, 1]; this holds in any rotated frame. Each coordinate of the mean has variance
    # at most 1 / (3n).
    n = 20000
    X = make_manifold("sphere", n, noise=0.0, random_state=0)
    inner_products = np.einsum("id,id->i", X[0::2], X[1::2])  # (n / 2,)
    assert stats.kstest(inner_products, stats.uniform(loc=-1.0, scale=2.0).cdf).pvalue > 1e-3
    np.testing.assert_allclose(X.mean(axis=0), 0.0, atol=5 / np.sqrt(3 * n))
    second_moment_eigenvalues = np.linalg.eigvalsh(X.T @ X / n)[::-1]
    # The Frobenius error of the second-moment matrix has variance (2/3) / n.
    np.testing.assert_allclose(
        second_moment_eigenvalues, [1 / 3] * 3 + [0] * 7, atol=5 * np.sqrt(2 / (3 * n))
    )
    # The uniform law is a spherical 4-design: E <x, y>^4 = E t^4 = 1/5 for t ~ U[-1, 1],
    # and E[<x, y>^4 | x] = 1/5 for every x. The mean over all m (m - 1) / 2 pairs is then a
    # degenerate U-statistic, of variance 2 Var(t^4) / (m (m - 1)) with Var(t^4) = 16/225,
    # which makes it sensitive to non-uniform laws with the same second moments.
    m = 2000
    gram = X[:m] @ X[:m].T  # (m, m)
    fourth_moment = np.mean(gram[np.triu_indices(m, k=1)] ** 4)
    np.testing.assert_allclose(
        fourth_moment, 1 / 5, atol=5 * np.sqrt(2 * (16 / 225) / (m * (m - 1)))
    )


def test_torus_is_uniform_in_area():
    # |x|^2 = R^2 + r^2 + 2 R r cos(theta) in any rotated frame, with theta of density
    # (R + r cos theta) / (2 pi R); folded onto [0, pi], its CDF is (R t + r sin t) / (pi R).
    # E[cos theta] = r / (2R) and E[cos^2 theta] = 1/2, so E|x|^2 = R^2 + 2 r^2 and
    # Var|x|^2 = (2 R r)^2 (1/2 - r^2 / (4 R^2)).
    R, r, n, ambient_dim = TORUS_R, TORUS_r, 20000, 10
    X = make_manifold("torus", n, ambient_dim=ambient_dim, noise=0.0, random_state=0)
    squared_norms = np.sum(X**2, axis=1)
    norms = np.sqrt(squared_norms)
    rounding = ambient_dim * EPS * (R + r)
    assert norms.min() >= R - r - rounding and norms.max() <= R + r + rounding
    variance = (2 * R * r) ** 2 * (0.5 - r**2 / (4 * R**2))
    np.testing.assert_allclose(
        squared_norms.mean(), R**2 + 2 * r**2, atol=5 * np.sqrt(variance / n)
    )
    cos_theta = np.clip((squared_norms - R**2 - r**2) / (2 * R * r), -1.0, 1.0)

    def folded_cdf(t):
        return (R * t + r * np.sin(t)) / (np.pi * R)

    assert stats.kstest(np.arccos(cos_theta), folded_cdf).pvalue > 1e-3


@pytest.mark.parametrize("name", sorted(EXPECTED_MANIFOLDS))
def test_manifold_noise_is_isotropic_gaussian(name):
    # The noise is drawn last, so the same seed gives the same rotated points and the
    # difference is exactly sigma * eps over n * D values (relative std error 1 / sqrt(2nD)).
    # It also lifts the D - 3 residual singular values of the centred data to about
    # sigma sqrt(n): Marchenko-Pastur puts them within sigma (sqrt(n) +- sqrt(D - 3)), 4 %.
    n, ambient_dim, sigma = 5000, 10, 0.01
    X = make_manifold(name, n, ambient_dim=ambient_dim, noise=sigma, random_state=0)
    difference = X - make_manifold(name, n, ambient_dim=ambient_dim, noise=0.0, random_state=0)
    np.testing.assert_allclose(difference.std(), sigma, rtol=5 / np.sqrt(2 * n * ambient_dim))
    np.testing.assert_allclose(difference.mean(axis=0), 0.0, atol=5 * sigma / np.sqrt(n))
    singular_values = np.linalg.svd(X - X.mean(axis=0), compute_uv=False)
    np.testing.assert_allclose(singular_values[3:] / np.sqrt(n), sigma, rtol=0.1)


def test_unknown_manifold_lists_valid_names():
    with pytest.raises(
        ValueError, match=r"Expected name to be one of 'sphere', 's_curve', 'torus', got 'cube'"
    ):
        make_manifold("cube")


@pytest.mark.parametrize(
    ("ambient_dim", "error", "match"),
    [
        (2, ValueError, r"Expected ambient_dim to be an int >= 3, got 2; the manifolds"),
        (0, ValueError, r"Expected ambient_dim to be an int >= 3, got 0"),
        (3.0, TypeError, r"Expected ambient_dim to be an int >= 3, got float 3.0"),
        (True, TypeError, r"Expected ambient_dim to be an int >= 3, got bool"),
    ],
)
def test_bad_ambient_dim_raises(ambient_dim, error, match):
    with pytest.raises(error, match=match):
        make_manifold("sphere", 10, ambient_dim=ambient_dim)


def test_bad_manifold_n_samples_and_noise_raise():
    with pytest.raises(ValueError, match="Expected n_samples to be a positive int, got 0"):
        make_manifold("torus", 0)
    with pytest.raises(ValueError, match="Expected a finite noise >= 0, got -0.01"):
        make_manifold("torus", 10, noise=-0.01)


# ---------------------------------------------------------------------------------------------
# load_digits_continuous
# ---------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def digits():
    return load_digits()


def test_digits_floor_recovers_the_pixels(digits):
    X = load_digits_continuous(random_state=0)
    assert X.shape == (1797, 64) and X.dtype == np.float64
    assert X.min() >= 0.0 and X.max() < 1.0
    pixels = np.floor(17 * X)
    np.testing.assert_array_equal(pixels, digits.data)
    np.testing.assert_array_equal(pixels.reshape(-1, *DIGITS_IMAGE_SHAPE), digits.images)


def test_digits_dequantisation_noise_is_independent_uniform(digits):
    # 17 X - P = U: over N = 1797 * 64 values, mean 1/2 and variance 1/12 with standard
    # errors sqrt(1 / (12 N)) and sqrt(1 / (180 N)), as Var (U - 1/2)^2 = 1/80 - 1/144.
    # Independent noise has no correlation between neighbouring pixels nor with the pixel.
    U = 17 * load_digits_continuous(random_state=0) - digits.data  # (1797, 64)
    N = U.size
    np.testing.assert_allclose(U.mean(), 0.5, atol=5 * np.sqrt(1 / (12 * N)))
    np.testing.assert_allclose(U.var(), 1 / 12, atol=5 * np.sqrt(1 / (180 * N)))
    assert stats.kstest(U.ravel(), stats.uniform.cdf).pvalue > 1e-3
    neighbour_correlation = np.corrcoef(U[:, :-1].ravel(), U[:, 1:].ravel())[0, 1]
    pixel_correlation = np.corrcoef(U.ravel(), digits.data.ravel())[0, 1]
    np.testing.assert_allclose(
        [neighbour_correlation, pixel_correlation], 0.0, atol=5 / np.sqrt(N)
    )


def test_digits_random_state_makes_draws_reproducible():
    X = load_digits_continuous(random_state=3)
    np.testing.assert_array_equal(X, load_digits_continuous(random_state=np.random.RandomState(3)))
    assert not np.array_equal(X, load_digits_continuous(random_state=4))


def test_digits_return_y_gives_the_labels(digits):
    X, y = load_digits_continuous(random_state=0, return_y=True)
    np.testing.assert_array_equal(X, load_digits_continuous(random_state=0))
    np.testing.assert_array_equal(y, digits.target)
