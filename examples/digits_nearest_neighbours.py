r"""8x8 digits: generated images above their nearest training images.

Inputs: scikit-learn's digits dequantised to :math:`[0, 1)^{64}`,
:math:`X_{ik} = (P_{ik} + U_{ik}) / 17` (:func:`wpokernel.datasets.load_digits_continuous`),
split into training images :math:`x_i` and held-out images :math:`y_j`.

Outputs, for ``WPOKernelScore()`` (low-rank-plus-isotropic local covariances in 64
dimensions) and the memorizing ``EmpiricalScore()``:

* ``digits_wpo_nearest.png`` and ``digits_empirical_nearest.png``: samples :math:`\tilde x`
  (top row) above their nearest training images (bottom row), titled with
  :math:`d_1 = \min_i \lVert \tilde x - x_i\rVert` and the ratio :math:`d_1 / d_2`;
* the held-out mean log-likelihood :math:`\frac1m \sum_j \log p(y_j)` in nats and the bound it
  gives on the pixels' discrete log-likelihood, :math:`\frac1m \sum_j \log p(y_j) - 64 \log 17`,
  in bits per pixel (:math:`-(\cdot) / (64 \log 2)`, lower is better);
* the median nearest-training distance :math:`d_1` of samples and held-out images, and the
  memorized fraction (:math:`d_1 / d_2 < 1/3`).

Check: WPO's ``score_samples`` against the dense mixture of its model density in the pixels'
units (``density_field()``),
:math:`\operatorname{logsumexp}_k(\log w_k + \log N(y; \mu + \rho z_k, \rho^2 (\tau_k I + U_k
U_k^\top)))` with :math:`z_k, \tau_k, U_k` fitted in the standardized coordinates
:math:`(x - \mu)/\rho` (``mean_``, ``scale_``) and :math:`\tau_k` including the noise
:math:`\sigma_{\min}^2` left where sampling stops, with the :math:`64 \times 64` covariances
formed explicitly and evaluated by ``scipy.stats``, as a relative error.

Run: ``python examples/digits_nearest_neighbours.py [--fast] [--output-dir DIR]
[--no-progress]``.
"""

import numpy as np
from _gallery import check, dense_log_density, parse_args, relative_error, save

from wpokernel import EmpiricalScore, WPOKernelScore
from wpokernel.datasets import DIGITS_IMAGE_SHAPE, load_digits_continuous, train_test_split_data
from wpokernel.diagnostics import memorization_ratio, nearest_neighbor_distances
from wpokernel.plotting import plot_nearest_training_images

N_TEST = 597
N_SAMPLES = 500
N_IMAGES = 10
# Pixel levels of the dequantisation: a density on [0, 1)^64 bounds the pixels' likelihood.
N_LEVELS = 17
N_REFERENCE_POINTS = 50
# Dense and blocked evaluations differ only by rounding.
REFERENCE_TOLERANCE = 1e-10


def bits_per_pixel(mean_log_likelihood, n_pixels):
    """Upper bound on the pixels' negative log-likelihood, bits per pixel."""
    return -(mean_log_likelihood - n_pixels * np.log(N_LEVELS)) / (n_pixels * np.log(2))


def main(fast=False, output_dir="figures", progress=True):
    X = load_digits_continuous(random_state=0)
    X_train, X_test = train_test_split_data(X, test_size=N_TEST, random_state=0)
    n_samples = 100 if fast else N_SAMPLES
    if fast:
        X_train, X_test = X_train[:150], X_test[:100]
    wpo = WPOKernelScore(max_steps=10 if fast else 2000, random_state=0, progress=progress)
    models = {"wpo": wpo.fit(X_train), "empirical": EmpiricalScore().fit(X_train)}
    print(f"digits: {len(X_train)} training and {len(X_test)} held-out images; WPO "
          f"{wpo.structure_} rank {wpo.rank_}, {wpo.n_train_steps_} steps "
          f"(kept step {wpo.best_step_})")
    print(f"{'model':10s} {'test log-lik':>12s} {'bits/pixel':>10s} {'median d1':>9s} "
          f"{'memorized':>9s}")
    for label, model in models.items():
        samples = model.sample(n_samples, random_state=1)
        log_lik = model.score(X_test)
        median_d1 = np.median(nearest_neighbor_distances(samples, X_train, 1))
        memorized, ratios = memorization_ratio(samples, X_train)
        print(f"{label:10s} {log_lik:12.2f} {bits_per_pixel(log_lik, X.shape[1]):10.3f} "
              f"{median_d1:9.3f} {memorized:9.3f}")
        fig = plot_nearest_training_images(samples, X_train, DIGITS_IMAGE_SHAPE,
                                           n_images=N_IMAGES)
        fig.suptitle(f"{type(model).__name__}: samples (top), nearest training images (bottom)")
        save(fig, output_dir, f"digits_{label}_nearest.png")
    memorized, _ = memorization_ratio(X_test, X_train)
    median_d1 = np.median(nearest_neighbor_distances(X_test, X_train, 1))
    print(f"{'held-out':10s} {'':12s} {'':10s} {median_d1:9.3f} {memorized:9.3f}")
    points = X_test[:N_REFERENCE_POINTS]
    error = relative_error(wpo.score_samples(points),
                           dense_log_density(wpo.density_field(), points))
    check("wpo log-density vs dense scipy reference, relative error", error, REFERENCE_TOLERANCE)


if __name__ == "__main__":
    args = parse_args(__doc__)
    main(args.fast, args.output_dir, args.progress)
