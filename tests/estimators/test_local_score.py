"""The LS and ELS machines against independent computations: a brute-force loop over
patches, pixels and images; the empirical score for patches that hold the whole image; the
closed-form score of independent pixels for 1 x 1 patches; equivariance; the calibration
against a direct evaluation of its held-out error; the bad-input errors."""

import itertools

import numpy as np
import pytest
from scipy.special import logsumexp
from scipy.stats import norm

from wpokernel import EmpiricalScore, LocalScoreMachine
from wpokernel.datasets import load_digits_continuous
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
    expected = np.stack([(log_density(x + h * e) - log_density(x - h * e)) / (2 * h) for e in eye], 1)
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
