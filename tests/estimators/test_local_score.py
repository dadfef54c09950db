"""The LS and ELS machines against independent computations: a brute-force loop over
patches, pixels and images; the empirical score for patches that hold the whole image; the
closed-form score of independent pixels for 1 x 1 patches; equivariance; the calibration
against a direct evaluation of its held-out error; the bad-input errors."""

import itertools

import numpy as np
import pytest
from scipy.special import logsumexp
from scipy.stats import ks_2samp, norm

from wpokernel import EmpiricalScore, LocalScoreMachine
from wpokernel.datasets import load_digits_continuous
from wpokernel.diagnostics import memorization_ratio
from wpokernel.estimators.local_score import held_out_errors

QUIET = {"progress": False}
T_QUERY = 0.04  # a heat-flow time: noise 0.2 times the data's spread


def _rng(seed):
    return np.random.default_rng(seed)


def brute_force_score(X_train, weight, x, shape, size, t, radius, beta=1.0):
    """The score (D(x) - x) / s^2 in the caller's units, by loops over every query image,
    pixel, training image and compared pixel, from the definitions: patches padded with the
    weighted mean pixel value of each channel, s^2 = beta^2 t rho^2 with rho the
    root-mean-square weighted standard deviation of the features."""
    height, width, channels = shape
    w = weight / weight.sum()
    mean = w @ X_train
    rho = np.sqrt(np.mean(w @ (X_train - mean) ** 2))
    pad = mean.reshape(shape).mean(axis=(0, 1))
    s2 = beta**2 * t * rho**2
    train, query = X_train.reshape(-1, *shape), x.reshape(-1, *shape)
    h = size // 2

    def patch(image, r, c):
        return np.array([image[r + a, c + b, k] if 0 <= r + a < height and 0 <= c + b < width
                         else pad[k] for a in range(-h, h + 1) for b in range(-h, h + 1)
                         for k in range(channels)])

    denoised = np.empty_like(query)
    for m, r, c in itertools.product(range(len(query)), range(height), range(width)):
        q = patch(query[m], r, c)
        logits, values = [], []
        for n, rj, cj in itertools.product(range(len(train)), range(height), range(width)):
            if radius is not None and max(abs(rj - r), abs(cj - c)) > radius:
                continue
            logits.append(np.log(weight[n]) - np.sum((q - patch(train[n], rj, cj)) ** 2) / (2 * s2))
            values.append(train[n, rj, cj])
        p = np.exp(np.array(logits) - logsumexp(logits))
        denoised[m, r, c] = p @ np.array(values)
    return (denoised - query).reshape(len(x), -1) / s2


@pytest.mark.parametrize("shape, size, radius", [
    ((5, 6, 1), 3, 0),  # LS
    ((5, 6, 1), 5, None),  # ELS
    ((4, 5, 2), 3, 1),  # translation radius 1, two channels
    ((4, 5, 2), 1, None),
])
def test_the_machine_is_the_brute_force_loop(shape, size, radius):
    rng = _rng(0)
    n_features = int(np.prod(shape))
    X = 3.0 + 2.0 * rng.uniform(size=(6, n_features))
    weight = rng.uniform(0.5, 2.0, size=6)
    x = 3.0 + 2.0 * rng.uniform(size=(2, n_features))
    model = LocalScoreMachine(image_shape=shape, patch_size=size, translation_radius=radius,
                              **QUIET).fit(X, sample_weight=weight)
    expected = brute_force_score(X, weight, x, shape, size, T_QUERY, radius)
    np.testing.assert_allclose(model.score_function(x, T_QUERY), expected, rtol=1e-10,
                               atol=1e-10 * np.abs(expected).max())


def test_patches_that_hold_the_whole_image_give_the_empirical_score():
    X = load_digits_continuous(random_state=0)[:80]
    x = load_digits_continuous(random_state=1)[80:90]
    model = LocalScoreMachine(image_shape=(8, 8), patch_size=15, **QUIET).fit(X)
    empirical = EmpiricalScore(**QUIET).fit(X)
    for t in (0.01, 0.3):
        expected = empirical.score_function(x, t)
        np.testing.assert_allclose(model.score_function(x, t), expected, rtol=1e-10,
                                   atol=1e-10 * np.abs(expected).max())


def test_one_pixel_patches_give_the_score_of_independent_pixels():
    # With P = 1 the LS machine is the score of the product of the pixels' smoothed
    # empirical laws, p(x) = prod_k (1/N) sum_n N(x_k; z_nk, s^2): its gradient by central
    # differences of the scipy log-density.
    rng = _rng(1)
    X, x = rng.normal(size=(30, 6)), rng.normal(size=(4, 6))
    model = LocalScoreMachine(image_shape=(2, 3), patch_size=1, **QUIET).fit(X)
    s = np.sqrt(T_QUERY) * model.scale_

    def log_density(points):
        return logsumexp(norm.logpdf(points[:, None, :], X[None], s), axis=1).sum(1)

    h = 1e-5
    eye = np.eye(6)
    expected = np.stack([(log_density(x + h * e) - log_density(x - h * e)) / (2 * h)
                         for e in eye], 1)
    np.testing.assert_allclose(model.score_function(x, T_QUERY), expected, rtol=1e-6)


def test_the_els_machine_is_equivariant_away_from_the_borders():
    rng = _rng(2)
    X = rng.uniform(size=(8, 100))
    image = np.zeros((10, 10))
    image[2:6, 3:7] = rng.uniform(size=(4, 4))
    shifted = np.roll(image, (2, 1), axis=(0, 1))
    model = LocalScoreMachine(image_shape=(10, 10), patch_size=3, translation_radius=None,
                              **QUIET).fit(X)
    score = model.score_function(np.stack([image.ravel(), shifted.ravel()]), T_QUERY)
    a, b = score[0].reshape(10, 10), score[1].reshape(10, 10)
    # Pixels whose 3 x 3 patch stays inside the image before and after the shift.
    np.testing.assert_allclose(b[3:9, 2:9], a[1:7, 1:8], rtol=1e-12, atol=1e-12)
    local = LocalScoreMachine(image_shape=(10, 10), patch_size=3, **QUIET).fit(X)
    score = local.score_function(np.stack([image.ravel(), shifted.ravel()]), T_QUERY)
    assert not np.allclose(score[1].reshape(10, 10)[3:9, 2:9], score[0].reshape(10, 10)[1:7, 1:8])


def test_the_ode_likelihood_of_whole_image_patches_is_the_kernel_density():
    # P = 3 holds every 2 x 2 image from every pixel: the machine's flow is the empirical
    # score's, whose density where sampling stops is the Gaussian KDE of bandwidth sigma_min.
    rng = _rng(3)
    X, x = rng.normal(size=(40, 4)), rng.normal(size=(10, 4))
    model = LocalScoreMachine(image_shape=(2, 2), patch_size=3, sigma_min=0.3, T=1000.0,
                              n_steps=400, **QUIET).fit(X)
    expected = EmpiricalScore(sigma_min=0.3, **QUIET).fit(X).score_samples(x)
    np.testing.assert_allclose(model.score_samples(x), expected, atol=0.02)


def test_whole_image_patches_copy_training_images_and_single_pixels_draw_independent_pixels():
    X = load_digits_continuous(random_state=0)[:100]
    copies = LocalScoreMachine(image_shape=(8, 8), patch_size=15, n_steps=50, **QUIET).fit(X)
    assert memorization_ratio(copies.sample(20, random_state=0), X)[0] > 0.9
    # With P = 1 each pixel follows its own training values: the samples keep every
    # pixel's law and lose the correlation of neighbouring pixels.
    pixels = LocalScoreMachine(image_shape=(8, 8), patch_size=1, n_steps=50, **QUIET).fit(X)
    samples = pixels.sample(400, random_state=1)
    a, b = 61, 62  # neighbouring pixels of the bottom row
    assert np.corrcoef(X[:, a], X[:, b])[0, 1] > 0.5
    assert abs(np.corrcoef(samples[:, a], samples[:, b])[0, 1]) < 0.2
    assert ks_2samp(samples[:, a], X[:, a]).pvalue > 0.01
    assert memorization_ratio(samples, X)[0] < 0.1


# ------------------------------------------------------------------ calibration

def test_the_held_out_error_is_the_weighted_mean_squared_error_at_the_noise_level():
    rng = _rng(4)
    clean = rng.normal(size=(50, 6, 6, 1))
    weight = rng.uniform(0.5, 2.0, size=50)
    offset = rng.normal(size=50)

    def shifted(noisy, sigma, size, locations):
        # Ignores the noisy images: the clean pixels plus size times a per-image offset.
        rows, columns = zip(*locations)
        return clean[:, list(rows), list(columns)] + size * offset[:, None, None]

    def identity(noisy, sigma, size, locations):
        rows, columns = zip(*locations)
        return noisy[:, list(rows), list(columns)]

    levels = np.array([0.1, 2.0])
    errors = held_out_errors(shifted, clean, weight, levels, [1, 3], np.random.RandomState(0))
    exact = np.array([1.0, 9.0]) * (weight @ offset**2) / weight.sum()
    np.testing.assert_allclose(errors, np.tile(exact, (2, 1)), rtol=1e-12)
    # Returning the noisy pixels costs the noise variance sigma^2: 50 x 36 squared normals,
    # so the estimate is within 5 standard errors of its mean.
    errors = held_out_errors(identity, clean, np.ones(50), levels, [1], np.random.RandomState(1))
    np.testing.assert_allclose(errors[:, 0], levels**2, rtol=5 * np.sqrt(2 / (50 * 36)))


def test_the_calibration_picks_one_pixel_for_independent_pixels_and_the_whole_image_for_flat_ones():
    rng = _rng(5)
    independent = rng.choice([0.0, 1.0], size=(300, 36))
    flat = np.repeat(rng.choice([0.0, 1.0], size=(300, 1)), 36, axis=1)
    for X, expected in [(independent, "single pixels"), (flat, "whole images")]:
        model = LocalScoreMachine(image_shape=(6, 6), random_state=0, **QUIET).fit(X)
        levels, chosen = model.patch_schedule_.T
        sizes, errors = model.calibration_sizes_, model.calibration_errors_
        np.testing.assert_array_equal(sizes, np.arange(1, 12, 2))
        np.testing.assert_array_equal(chosen, np.maximum.accumulate(sizes[errors.argmin(1)]))
        np.testing.assert_allclose(levels, np.geomspace(0.01, 10.0, 8))
        if expected == "single pixels":  # where the noise is below the data's spread
            assert np.all(chosen[levels < 1] == 1)
        else:  # where the noise hides the pixel's own value
            assert np.all(chosen[levels > 1] == 11)


def test_a_given_schedule_is_used_at_the_nearest_level_in_log_sigma():
    X = load_digits_continuous(random_state=0)[:60]
    x = load_digits_continuous(random_state=1)[60:65]
    schedule = [[0.1, 1], [1.0, 5]]
    model = LocalScoreMachine(image_shape=(8, 8), patch_size=schedule, **QUIET).fit(X)
    np.testing.assert_array_equal(model.patch_schedule_, schedule)
    assert model.calibration_errors_ is None
    for t, size in [(0.3**2, 1), (0.33**2, 5), (4.0, 5)]:  # the switch is at sqrt(0.1)
        fixed = LocalScoreMachine(image_shape=(8, 8), patch_size=size, **QUIET).fit(X)
        np.testing.assert_array_equal(model.score_function(x, t), fixed.score_function(x, t))


# ------------------------------------------------------------------ bad input

@pytest.mark.parametrize("params, match", [
    ({"image_shape": (8, 7)}, r"Expected image_shape with height \* width \* channels = "
                              r"n_features = 64, got \(8, 7\)"),
    ({"image_shape": (8, 0)}, r"Expected image_shape to be None, \(height, width\)"),
    ({"image_shape": "8x8"}, r"Expected image_shape to be None, \(height, width\)"),
    ({"patch_size": 4}, "Expected odd positive patch sizes in patch_size"),
    ({"patch_size": [[0.1, 3.5]]}, r"Expected odd positive patch sizes in patch_size .*got 3.5"),
    ({"patch_size": 17}, r"Expected patch sizes in patch_size of at most 2 \* max\(height, "
                         r"width\) - 1 = 15 for images of shape \(8, 8\)"),
    ({"patch_size": [[0.1, 5], [1.0, 3]]}, r"Expected the patch sizes of patch_size \(second "
                                           r"column\) to be non-decreasing in sigma"),
    ({"patch_size": [[1.0, 3], [0.1, 5]]}, r"Expected the noise levels of patch_size \(first "
                                           r"column\) to be positive and strictly increasing"),
    ({"patch_size": [3, 5]}, r"Expected patch_size='calibrate', an odd integer or an array of "
                             r"\(sigma, size\) rows of shape \(n_levels, 2\)"),
    ({"patch_size": "auto"}, "Expected patch_size='calibrate'"),
    ({"calibration_sizes": [1, 2]}, "Expected odd positive patch sizes in calibration_sizes"),
    ({"calibration_sizes": [1, 17]}, "Expected patch sizes in calibration_sizes of at most"),
    ({"calibration_sizes": []}, "Expected calibration_sizes to be None or a non-empty list"),
    ({"translation_radius": -1}, "Expected translation_radius >= 0"),
    ({"calibration_levels": 0}, "Expected calibration_levels >= 1"),
    ({"validation_fraction": 1.0}, r"Expected validation_fraction in \(0, 1\)"),
    ({"sigma_min": 0.0}, "Expected sigma_min > 0"),
])
def test_bad_parameters_are_refused_naming_them(params, match):
    X = load_digits_continuous(random_state=0)[:20]
    params = {"image_shape": (8, 8), **params}
    with pytest.raises(ValueError, match=match):
        LocalScoreMachine(**params, **QUIET).fit(X)


def test_the_score_needs_a_positive_time():
    X = load_digits_continuous(random_state=0)[:3]
    model = LocalScoreMachine(image_shape=(8, 8), patch_size=3, **QUIET).fit(X)
    with pytest.raises(ValueError, match="Expected t > 0"):
        model.score_function(X, 0.0)
