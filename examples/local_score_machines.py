r"""8x8 digits from local pieces: the LS and ELS machines beside the memorizing empirical score.

Inputs: scikit-learn's digits dequantised to :math:`[0, 1)^{64}`
(:func:`wpokernel.datasets.load_digits_continuous`), split into training images
:math:`z^{(n)}` and held-out images :math:`y_m`.

Outputs, for ``EmpiricalScore()``, the LS machine ``LocalScoreMachine()`` and the ELS machine
``LocalScoreMachine(translation_radius=None)``, whose denoiser at noise :math:`\sigma` is

.. math::

    D(x)_i = \sum_{n, j} w_{nj}(x)\, z^{(n)}_j, \qquad
    w_{nj} = \operatorname{softmax}_{n, j}\Big(-\frac{\lVert x_{\Omega_i} -
        z^{(n)}_{\Omega_j}\rVert^2}{2 \sigma^2}\Big)

over the training patches of size :math:`P(\sigma)` at the pixel itself (LS, :math:`j = i`)
or at every pixel (ELS), and whose score is :math:`(D(x) - x)/\sigma^2`:

* the calibrated patch-size schedules :math:`(\sigma_k, P_k)` (held-out denoising error);
* the memorized fraction :math:`\frac1n \sum_k \mathbf 1[d_1/d_2 < 1/3]` of the samples
  (nearest-neighbour ratio to the training images) in pixel space and in the principal
  subspace (:func:`wpokernel.diagnostics.subspace_memorization_ratio`), next to the held-out
  images';
* ``local_score_empirical_nearest.png``, ``local_score_ls_nearest.png`` and
  ``local_score_els_nearest.png``: samples above their nearest training images.

Check: the ELS denoiser at noisy held-out images against a dense evaluation written here:
every zero-padded patch of every training image stacked by ``numpy.pad`` (padding value the
mean pixel, distances in units of the root-mean-square spread :math:`\rho` of the pixels)
and one explicit softmax per pixel with ``scipy.special.softmax``, as a relative error.

Run: ``python examples/local_score_machines.py [--fast] [--output-dir DIR] [--no-progress]``.
"""

import numpy as np
from _gallery import check, parse_args, relative_error, save
from scipy.special import softmax

from wpokernel import EmpiricalScore, LocalScoreMachine
from wpokernel.datasets import DIGITS_IMAGE_SHAPE, load_digits_continuous, train_test_split_data
from wpokernel.diagnostics import memorization_ratio, subspace_memorization_ratio
from wpokernel.plotting import plot_nearest_training_images

N_TEST = 597
N_IMAGES = 10
# Candidate patch sizes of the ELS calibration: its cost grows as P^2 times every patch.
ELS_SIZES = [1, 3, 5, 7, 9]
# The dense and the blocked evaluations differ only by rounding.
REFERENCE_TOLERANCE = 1e-10


def dense_els_denoiser(X_train, x, size, sigma):
    """D(x) of the ELS machine by an explicit softmax over every padded training patch."""
    side, h = DIGITS_IMAGE_SHAPE[0], size // 2
    rho = np.sqrt(X_train.var(axis=0).mean())
    pad = X_train.mean()

    def all_patches(rows):
        images = np.pad(rows.reshape(-1, side, side), ((0, 0), (h, h), (h, h)),
                        constant_values=pad)
        return np.stack([images[:, r:r + size, c:c + size].reshape(len(rows), -1)
                         for r in range(side) for c in range(side)], axis=1)  # (n, 64, P^2)

    # Centers and their centre pixels, both ordered by (image, row, column).
    centers, values = all_patches(X_train).reshape(-1, size * size), X_train.reshape(-1)
    queries = all_patches(x)
    denoised = np.empty(x.shape)
    for m, i in np.ndindex(*x.shape):
        distances = np.sum((queries[m, i] - centers) ** 2, axis=1) / rho**2
        denoised[m, i] = softmax(-distances / (2 * sigma**2)) @ values
    return denoised


def fit_models(X_train, fast, progress):
    settings = {"image_shape": DIGITS_IMAGE_SHAPE, "n_steps": 20 if fast else 100,
                "calibration_levels": 4 if fast else 8, "random_state": 0, "progress": progress}
    return {
        "empirical": EmpiricalScore(progress=progress).fit(X_train),
        "ls": LocalScoreMachine(**settings).fit(X_train),
        "els": LocalScoreMachine(translation_radius=None, calibration_sizes=ELS_SIZES,
                                 **settings).fit(X_train),
    }


def main(fast=False, output_dir="figures", progress=True):
    X = load_digits_continuous(random_state=0)
    X_train, X_test = train_test_split_data(X, test_size=N_TEST, random_state=0)
    n_samples = 20 if fast else 100
    if fast:
        X_train, X_test = X_train[:200], X_test[:100]
    models = fit_models(X_train, fast, progress)
    print(f"digits: {len(X_train)} training and {len(X_test)} held-out images")
    for label in ("ls", "els"):
        schedule = models[label].patch_schedule_
        print(f"{label} schedule (sigma, P): "
              + ", ".join(f"({sigma:.3g}, {int(size)})" for sigma, size in schedule))
    print(f"{'model':10s} {'memorized (pixels)':>18s} {'memorized (subspace)':>20s}")
    for label, model in models.items():
        samples = model.sample(n_samples, random_state=1)
        print(f"{label:10s} {memorization_ratio(samples, X_train)[0]:18.3f} "
              f"{subspace_memorization_ratio(samples, X_train)[0]:20.3f}")
        fig = plot_nearest_training_images(samples, X_train, DIGITS_IMAGE_SHAPE,
                                           n_images=N_IMAGES)
        fig.suptitle(f"{label}: samples (top), nearest training images (bottom)")
        save(fig, output_dir, f"local_score_{label}_nearest.png")
    print(f"{'held-out':10s} {memorization_ratio(X_test, X_train)[0]:18.3f} "
          f"{subspace_memorization_ratio(X_test, X_train)[0]:20.3f}")
    els, sigma, size = models["els"], 0.5, 5
    t = (sigma / els.beta) ** 2
    noisy = X_test[:2] + sigma * els.scale_ * np.random.default_rng(2).normal(size=(2, 64))
    denoised = noisy + (sigma * els.scale_) ** 2 * LocalScoreMachine(
        image_shape=DIGITS_IMAGE_SHAPE, translation_radius=None, patch_size=size,
        progress=progress).fit(X_train).score_function(noisy, t)
    error = relative_error(denoised, dense_els_denoiser(X_train, noisy, size, sigma))
    check("ELS denoiser vs dense softmax over every padded patch, relative error", error,
          REFERENCE_TOLERANCE)


if __name__ == "__main__":
    args = parse_args(__doc__)
    main(args.fast, args.output_dir, args.progress)
