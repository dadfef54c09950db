r"""Score-difference flow: particles pushed from a Gaussian onto the "2spirals" toy.

Inputs: training points :math:`z_j` of the toy, whose empirical measure is the target :math:`p`,
and source particles :math:`x_1, \dots, x_n` drawn from the Gaussian with the data's mean and
covariance (``mean_``, ``covariance_``).

Outputs: the particles after :math:`k` of the :math:`T` updates

.. math::

    x_k \leftarrow x_k + \eta\, \sigma_t^2 \big(\nabla \log p_{\sigma_t}(x_k)
        - \nabla \log q_{\sigma_t}(x_k)\big), \qquad
    \sigma_t^2 \nabla \log p_{\sigma_t}(x) = \sum_j \omega_j(x)\, z_j - x, \qquad
    \sigma_t^2 \nabla \log q_{\sigma_t}(x) = \sum_l \nu_l(x)\, x_l - x,

with :math:`\omega = \operatorname{softmax}_j(-\lVert x - z_j\rVert^2 / 2\sigma_t^2)`,
:math:`\nu = \operatorname{softmax}_l(-\lVert x - x_l\rVert^2 / 2\sigma_t^2)` and
:math:`\sigma_t` geometric from ``sigma_max_`` to ``sigma_min_`` (``score_difference_flow.png``).
The flow runs in the standardized coordinates :math:`(x - \mu)/\rho` of the data (``scale_``
:math:`= \rho`, its root-mean-square spread), so ``sigma_max_``, ``sigma_min_`` and the
:math:`\sigma_t` printed are in units of :math:`\rho`; mean shifts commute with
:math:`x \mapsto \mu + \rho x`, so in the data's units the update is the one above with
:math:`\rho \sigma_t`.
The first :math:`k` levels of that schedule are themselves a geometric schedule, from
``sigma_max_`` to :math:`\sigma_{k-1}` in :math:`k` steps, so the snapshot after :math:`k`
updates is the ``transport`` of a flow with those ends. The script prints the energy distance
of the final particles to held-out points and their memorized fraction, at the default
:math:`\sigma_{\min}` (Scott's bandwidth) and at a small :math:`\sigma_{\min}`, where the flow
of the empirical target ends on training points.

Checks: one update against the dense formula above in the data's units (bandwidth
:math:`\rho \sigma_t`; relative error), and the last snapshot against the flow's own
``transport`` (relative error).

Run: ``python examples/score_difference_flow.py [--fast] [--output-dir DIR] [--no-progress]``.
"""

import numpy as np
from _gallery import check, parse_args, relative_error, save
from matplotlib.figure import Figure
from scipy.special import softmax

from wpokernel import ScoreDifferenceFlow
from wpokernel.datasets import make_toy
from wpokernel.diagnostics import energy_distance, memorization_ratio
from wpokernel.plotting import plot_samples_2d

TOY = "2spirals"
# In units of the data's spread (about 1.6 for 2spirals): far below the spacing of the points.
SMALL_SIGMA_MIN = 0.01
SNAPSHOT_FRACTIONS = (0.1, 0.25, 0.5, 1.0)
PANEL_INCHES = (2.6, 2.9)
# Dense and blocked evaluations differ only by rounding.
REFERENCE_TOLERANCE = 1e-10


def dense_update(x, centers, sigma, step_size):
    """One explicit update by (M, N) softmax weights over the centers and the particles."""
    def mean_shift(points):
        sq_dist = ((x[:, None, :] - points[None, :, :]) ** 2).sum(-1)  # (M, N)
        return softmax(-sq_dist / (2 * sigma**2), axis=1) @ points

    return x + step_size * (mean_shift(centers) - mean_shift(x))


def snapshots(flow, X_train, X_source, progress):
    """Particles after k updates of ``flow``'s schedule, by k (0: the source)."""
    sigmas = np.geomspace(flow.sigma_max_, flow.sigma_min_, flow.n_steps)
    steps = sorted({max(1, round(fraction * flow.n_steps)) for fraction in SNAPSHOT_FRACTIONS})
    states = {0: X_source}
    for k in steps:
        partial = ScoreDifferenceFlow(sigma_max=flow.sigma_max_, sigma_min=sigmas[k - 1],
                                      n_steps=k, step_size=flow.step_size, progress=progress)
        states[k] = partial.fit(X_train).transport(X_source)
    return sigmas, states


def run_checks(flow, X_train, X_source, final):
    sigma = flow.sigma_max_
    one_step = ScoreDifferenceFlow(sigma_max=sigma, sigma_min=sigma, n_steps=1,
                                   step_size=flow.step_size, progress=False).fit(X_train)
    # sigma is in units of scale_: the bandwidth in the data's units is sigma * scale_.
    check("one update vs dense softmax formula, relative error",
          relative_error(one_step.transport(X_source),
                         dense_update(X_source, X_train, sigma * one_step.scale_, flow.step_size)),
          REFERENCE_TOLERANCE)
    check("last snapshot vs the flow's transport, relative error",
          relative_error(final, flow.transport(X_source)), REFERENCE_TOLERANCE)


def main(fast=False, output_dir="figures", progress=True):
    n_points, n_steps = (300, 20) if fast else (1000, 100)
    X_train = make_toy(TOY, n_points, random_state=0)
    X_test = make_toy(TOY, n_points, random_state=1)
    flow = ScoreDifferenceFlow(n_steps=n_steps, progress=progress).fit(X_train)
    rng = np.random.RandomState(2)
    X_source = rng.multivariate_normal(flow.mean_, flow.covariance_, n_points)
    sigmas, states = snapshots(flow, X_train, X_source, progress)
    print(f"{TOY}: {n_points} training points and particles, {n_steps} updates, "
          f"sigma from {flow.sigma_max_:.3f} to {flow.sigma_min_:.3f} x spread "
          f"{flow.scale_:.3f}")
    for k, particles in states.items():
        memorized, _ = memorization_ratio(particles, X_train)
        energy = energy_distance(particles, X_test)
        print(f"after {k:3d} updates: energy distance to held-out {energy:.5f}, "
              f"memorized {memorized:.3f}")
    copying = ScoreDifferenceFlow(sigma_min=SMALL_SIGMA_MIN, n_steps=n_steps, progress=progress)
    memorized, _ = memorization_ratio(copying.fit(X_train).transport(X_source), X_train)
    print(f"sigma_min = {SMALL_SIGMA_MIN}: memorized {memorized:.3f}; held-out data: "
          f"{memorization_ratio(X_test, X_train)[0]:.3f}, energy distance to held-out "
          f"{energy_distance(X_train, X_test):.5f}")
    run_checks(flow, X_train, X_source, states[n_steps])
    titles = {0: "source"} | {k: f"{k} updates, sigma {sigmas[k - 1]:.2f}" for k in states if k}
    width = PANEL_INCHES[0] * (len(states) + 1)
    fig = Figure(figsize=(width, PANEL_INCHES[1]), layout="constrained")
    plot_samples_2d(X_train, {titles[k]: particles for k, particles in states.items()}, fig=fig,
                    data_label="training data", title="score-difference flow")
    save(fig, output_dir, "score_difference_flow.png")


if __name__ == "__main__":
    args = parse_args(__doc__)
    main(args.fast, args.output_dir, args.progress)
