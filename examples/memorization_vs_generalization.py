r"""Memorization vs generalization on a small training set.

Inputs: :math:`N` training points :math:`x_i` of the "moons" toy (few, so that copies are easy
to spot) and :math:`m` held-out points :math:`y_j` of the same law.

Outputs, for the empirical score model ``EmpiricalScore()`` sampled by the reverse heat-flow
SDE down to the time :math:`t_{\text{stop}}` where the noise left has standard deviation
``sigma_min`` (in units of the data's spread :math:`\rho`, ``scale_``), whose terminal law is
:math:`\eta(\cdot, t_{\text{stop}}) = \frac1N \sum_i N(x_i, \sigma^2 I)` with
:math:`\sigma = \rho\, \sigma_{\min}` in the data's units, and for ``WPOKernelScore()``:

* the memorized fraction :math:`\frac1n \sum_k \mathbf 1[r(\tilde x_k) < 1/3]`, with the
  nearest-neighbour ratio :math:`r = d_1 / d_2` to the training set, next to the held-out data's;
* the copy gap of :func:`wpokernel.diagnostics.copy_gap`: the Mann–Whitney :math:`z`-score of
  the nearest-training distances :math:`d_1` of the samples against those of held-out points
  (:math:`z \ll 0`: copying), and the ratio of their medians (0 for copies, about 1 for fresh
  points);
* ``memorization.png``: the samples over the training set, and histograms of :math:`r`.

Check: away from the other training points, a draw of :math:`\eta(\cdot, t_{\text{stop}})` sits
at distance :math:`d_1 = \sigma\,\lVert\xi\rVert`, :math:`\xi \sim N(0, I_2)`, from its own
center: a Rayleigh law of scale :math:`\sigma = \rho\, \sigma_{\min}`. The script prints the
Kolmogorov–Smirnov distance (and p-value) between the :math:`d_1` of the SDE samples and that
law, and their medians against :math:`\sigma\sqrt{2 \log 2}`.

Run: ``python examples/memorization_vs_generalization.py [--fast] [--output-dir DIR]
[--no-progress]``.
"""

import numpy as np
from _gallery import parse_args, save
from matplotlib.figure import Figure
from scipy.stats import kstest, rayleigh

from wpokernel import EmpiricalScore, WPOKernelScore
from wpokernel.datasets import make_toy
from wpokernel.diagnostics import copy_gap, memorization_ratio, nearest_neighbor_distances
from wpokernel.plotting import plot_memorization_histogram, plot_samples_2d

TOY = "moons"
FIGURE_INCHES = (10.0, 7.0)


def sample_models(X_train, n_samples, fast, progress):
    """Samples of the two models, by label."""
    empirical = EmpiricalScore(n_steps=100 if fast else 500, progress=progress).fit(X_train)
    wpo = WPOKernelScore(max_steps=10 if fast else 2000, random_state=0, progress=progress)
    wpo.fit(X_train)
    return empirical, {
        "EmpiricalScore(), SDE": empirical.sample(n_samples, random_state=1, method="sde"),
        "WPOKernelScore()": wpo.sample(n_samples, random_state=1),
    }


def report(samples, X_train, X_test):
    print(f"{'':24s} {'memorized':>9s} {'copy z':>8s} {'median d1 ratio':>15s}")
    for label, points in samples.items():
        memorized, _ = memorization_ratio(points, X_train)
        gap = copy_gap(points, X_train, X_test)
        print(f"{label:24s} {memorized:9.3f} {gap.z_score:8.2f} {gap.median_ratio:15.3f}")
    memorized, _ = memorization_ratio(X_test, X_train)
    print(f"{'held-out data':24s} {memorized:9.3f}")


def check_rayleigh(empirical, sde_samples, X_train):
    """Compare the distances of the SDE samples to the training set with the Rayleigh law."""
    d1 = nearest_neighbor_distances(sde_samples, X_train, n_neighbors=1)[:, 0]
    # The noise left where the sampler stops, in the data's units.
    scale = empirical.sigma_min * empirical.scale_
    result = kstest(d1, rayleigh(scale=scale).cdf)
    print(f"SDE distances d1 vs Rayleigh(sigma_min * scale_): KS distance {result.statistic:.3f}, "
          f"p-value {result.pvalue:.2f}; median {np.median(d1):.3e} vs "
          f"{scale * np.sqrt(2 * np.log(2)):.3e}")


def plot(X_train, X_test, samples):
    fig = Figure(figsize=FIGURE_INCHES, layout="constrained")
    top, bottom = fig.subfigures(2, 1)
    plot_samples_2d(X_train, samples, fig=top, data_label="training data")
    for ax, (label, points) in zip(bottom.subplots(1, 2), samples.items()):
        plot_memorization_histogram(points, X_train, X_test, ax=ax)
        ax.set_title(label)
    return fig


def main(fast=False, output_dir="figures", progress=True):
    n_train, n_samples = (50, 200) if fast else (100, 1000)
    X_train = make_toy(TOY, n_train, random_state=0)
    X_test = make_toy(TOY, n_samples, random_state=1)
    empirical, samples = sample_models(X_train, n_samples, fast, progress)
    print(f"{TOY}: {n_train} training points, {n_samples} samples and held-out points")
    report(samples, X_train, X_test)
    check_rayleigh(empirical, samples["EmpiricalScore(), SDE"], X_train)
    save(plot(X_train, X_test, samples), output_dir, "memorization.png")


if __name__ == "__main__":
    args = parse_args(__doc__)
    main(args.fast, args.output_dir, args.progress)
