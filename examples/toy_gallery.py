r"""2-D toy gallery: WPOKernelScore next to the empirical score model, smoothed and not.

Inputs: for each toy of :func:`wpokernel.datasets.make_toy`, training points
:math:`x_1, \dots, x_N \in \mathbb{R}^2` and held-out points :math:`y_1, \dots, y_m`.

Outputs, for three models of the terminal density :math:`\pi`,

* ``WPOKernelScore``: :math:`\pi_\theta = \frac1K \sum_k N(z_k, C_\theta(z_k))` with learned
  local covariances;
* ``EmpiricalScore(bandwidth="scott")``: the Gaussian KDE :math:`\frac1N \sum_i N(x_i, h^2 I)`;
* ``EmpiricalScore()``: the empirical measure :math:`\frac1N \sum_i \delta_{x_i}`,

exact draws of the model density :math:`\eta(\cdot, t_{\text{stop}}) = \pi * N(0, \beta^2
t_{\text{stop}} I)`, :math:`\beta^2 t_{\text{stop}} = \sigma_{\min}^2` (one figure row per toy,
``toy_gallery.png``) and a printed table with the held-out mean log-likelihood
:math:`\frac1m \sum_j \log \eta(y_j, t_{\text{stop}})`, the energy
distance of the samples to the held-out points and the memorized fraction
:math:`\frac1n \sum_i \mathbf 1[d_1(\tilde x_i) / d_2(\tilde x_i) < 1/3]` (:math:`d_k`: distance
to the :math:`k`-th nearest training point). The last row gives the level of fresh data: the
energy distance between the training and the held-out points, and the memorized fraction of
the held-out points.

The models fit in standardized coordinates :math:`u = (x - \mu)/\rho` (``mean_``, ``scale_``),
so :math:`z_k`, :math:`C_k`, :math:`h` and :math:`\sigma_{\min}` are in units of the data's
spread :math:`\rho`.

Check: ``score_samples`` of the fitted WPO and KDE models against the dense reference
:math:`\operatorname{logsumexp}_j(\log w_j + \log N(y; \mu + \rho z_j,
\rho^2 (C_j + \sigma_{\min}^2 I)))` of the model density in the data's units
(``density_field()``; ``scipy.stats``, one component at a time), as a relative error.

Run: ``python examples/toy_gallery.py [--fast] [--output-dir DIR] [--no-progress]``.
"""

import numpy as np
from _gallery import check, dense_log_density, parse_args, relative_error, save
from matplotlib.figure import Figure

from wpokernel import EmpiricalScore, WPOKernelScore
from wpokernel.datasets import make_toy
from wpokernel.diagnostics import energy_distance, memorization_ratio
from wpokernel.plotting import plot_samples_2d

TOYS = ("moons", "8gaussians", "2spirals", "pinwheel")
# Training steps of WPOKernelScore: with early stopping most toys stop before 300, and the
# gallery stays within its time budget when one does not.
MAX_STEPS = 300
N_REFERENCE_POINTS = 100
# Dense and blocked evaluations differ only by rounding.
REFERENCE_TOLERANCE = 1e-10
ROW_INCHES = (10.0, 2.7)


def fit_models(X_train, fast, progress):
    """The three models of the module docstring, fitted to ``X_train``, by label."""
    wpo = WPOKernelScore(max_steps=10 if fast else MAX_STEPS, random_state=0, progress=progress)
    return {
        "WPOKernelScore": wpo.fit(X_train),
        "EmpiricalScore(scott)": EmpiricalScore(bandwidth="scott").fit(X_train),
        "EmpiricalScore()": EmpiricalScore().fit(X_train),
    }


def report(samples, X_train, X_test, models):
    """Print one table row per model and one for the held-out data."""
    print(f"  {'model':26s} {'test log-lik':>12s} {'energy':>8s} {'memorized':>9s}")
    for label, points in samples.items():
        log_lik = models[label].score(X_test)
        energy = energy_distance(points, X_test)
        memorized, _ = memorization_ratio(points, X_train)
        print(f"  {label:26s} {log_lik:12.3f} {energy:8.4f} {memorized:9.3f}")
    memorized, _ = memorization_ratio(X_test, X_train)
    energy = energy_distance(X_train, X_test)
    print(f"  {'training vs held-out data':26s} {'':12s} {energy:8.4f} {memorized:9.3f}")


def check_against_dense(models, X_test):
    """Relative error of ``score_samples`` against the dense mixture, for the smooth models."""
    points = X_test[:N_REFERENCE_POINTS]
    for label in ("WPOKernelScore", "EmpiricalScore(scott)"):
        model = models[label]
        reference = dense_log_density(model.density_field(), points)
        error = relative_error(model.score_samples(points), reference)
        check(f"  {label} log-density vs dense scipy reference, relative error", error,
              REFERENCE_TOLERANCE)


def main(fast=False, output_dir="figures", progress=True):
    toys = TOYS[:1] if fast else TOYS
    n_points = 200 if fast else 1000
    fig = Figure(figsize=(ROW_INCHES[0], ROW_INCHES[1] * len(toys)), layout="constrained")
    rows = fig.subfigures(len(toys), 1, squeeze=False)[:, 0]
    for row, (name, subfigure) in enumerate(zip(toys, rows)):
        X_train = make_toy(name, n_points, random_state=row)
        X_test = make_toy(name, n_points, random_state=100 + row)
        models = fit_models(X_train, fast, progress)
        samples = {label: model.sample(n_points, random_state=0)
                   for label, model in models.items()}
        print(f"{name}: {n_points} training points, {n_points} samples per model")
        report(samples, X_train, X_test, models)
        check_against_dense(models, X_test)
        plot_samples_2d(X_train, samples, fig=subfigure, title=name, data_label="training data")
    save(fig, output_dir, "toy_gallery.png")


if __name__ == "__main__":
    args = parse_args(__doc__)
    main(args.fast, args.output_dir, args.progress)
