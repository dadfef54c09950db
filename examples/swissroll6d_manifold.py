r"""A 2-D swiss roll in six dimensions: WPOKernelScore against a cross-validated KDE.

Inputs: training and held-out points of :func:`wpokernel.datasets.make_swissroll6d`,

.. math::

    X = \bigl(x,\; y,\; 2x + \epsilon_1,\; x + y + \epsilon_2,\; x - 2y + \epsilon_3,\;
    \epsilon_4\bigr), \qquad \epsilon_{1,2,3} \sim N(0, 0.1^2),\ \epsilon_4 \sim N(0, 1),

a roll :math:`(x, y)` whose linear copies are thin in three directions: the data lie near a
3-D slab. An isotropic kernel cannot be thin in those directions and wide along the roll at
once; the local covariances :math:`C_\theta(z_k)` of ``WPOKernelScore`` can.

Outputs, for ``WPOKernelScore()`` and the Gaussian KDE ``EmpiricalScore(bandwidth=h)`` with
:math:`h` (in units of the data's root-mean-square spread :math:`\rho`, ``scale_``) of best
3-fold cross-validated log-likelihood: the held-out mean log-likelihood
:math:`\frac1m \sum_j \log p(y_j)` in nats, the energy distance of 2000 samples to the
held-out points and their memorized fraction (nearest-neighbour ratio below 1/3), and the pair
plots ``swissroll6d_wpo_pairs.png`` and ``swissroll6d_kde_pairs.png`` of columns 0, 1, 2 and 5
(the roll, one linear copy, the noise column; samples over held-out data).

Check: both models' ``score_samples`` against the dense mixture of their model density in the
data's units (``density_field()``),
:math:`\operatorname{logsumexp}_j(\log w_j + \log N(y; \mu + \rho z_j, \rho^2 (C_j + \sigma_{\min}^2
I)))` with :math:`z_j, C_j` fitted in the standardized coordinates :math:`(x - \mu)/\rho`,
evaluated with ``scipy.stats``, as a relative error.

Run: ``python examples/swissroll6d_manifold.py [--fast] [--output-dir DIR] [--no-progress]``.
"""

import numpy as np
from _gallery import check, dense_log_density, parse_args, relative_error, save
from sklearn.model_selection import GridSearchCV

from wpokernel import EmpiricalScore, WPOKernelScore
from wpokernel.datasets import make_swissroll6d
from wpokernel.diagnostics import energy_distance, memorization_ratio
from wpokernel.plotting import plot_pairs

# Candidate KDE bandwidths; EmpiricalScore takes them in units of the data's root-mean-square
# spread (scale_).
RELATIVE_BANDWIDTHS = np.geomspace(0.02, 0.5, 10)
PAIR_FEATURES = (0, 1, 2, 5)
N_REFERENCE_POINTS = 100
# Dense and blocked evaluations differ only by rounding.
REFERENCE_TOLERANCE = 1e-10


def cross_validated_kde(X_train):
    """``EmpiricalScore`` with the bandwidth of best 3-fold held-out log-likelihood."""
    grid = {"bandwidth": list(RELATIVE_BANDWIDTHS)}
    return GridSearchCV(EmpiricalScore(), grid, cv=3).fit(X_train).best_estimator_


def main(fast=False, output_dir="figures", progress=True):
    n_train, n_test = (300, 300) if fast else (2000, 1000)
    X_train = make_swissroll6d(n_train, random_state=0)
    X_test = make_swissroll6d(n_test, random_state=1)
    wpo = WPOKernelScore(max_steps=10 if fast else 2000, random_state=0, progress=progress)
    models = {"wpo": wpo.fit(X_train), "kde": cross_validated_kde(X_train)}
    print(f"swissroll6d: {n_train} training and {n_test} held-out points; "
          f"KDE bandwidth {models['kde'].bandwidth_:.4f} x spread, WPO structure "
          f"{wpo.structure_}, {wpo.n_train_steps_} training steps (kept step {wpo.best_step_})")
    print(f"{'model':6s} {'test log-lik':>12s} {'energy':>8s} {'memorized':>9s}")
    for label, model in models.items():
        samples = model.sample(n_train, random_state=2)
        memorized, _ = memorization_ratio(samples, X_train)
        print(f"{label:6s} {model.score(X_test):12.3f} {energy_distance(samples, X_test):8.4f} "
              f"{memorized:9.3f}")
        fig = plot_pairs(X_test, samples, features=PAIR_FEATURES, random_state=0)
        fig.suptitle(f"{type(model).__name__}: samples over held-out data")
        save(fig, output_dir, f"swissroll6d_{label}_pairs.png")
    memorized, _ = memorization_ratio(X_test, X_train)
    print(f"{'test':6s} {'':12s} {'':8s} {memorized:9.3f}")
    points = X_test[:N_REFERENCE_POINTS]
    for label, model in models.items():
        error = relative_error(model.score_samples(points),
                               dense_log_density(model.density_field(), points))
        check(f"{label} log-density vs dense scipy reference, relative error", error,
              REFERENCE_TOLERANCE)


if __name__ == "__main__":
    args = parse_args(__doc__)
    main(args.fast, args.output_dir, args.progress)
