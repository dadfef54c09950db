r"""Schrödinger bridge between two data sets: from the "8gaussians" toy to the "moons" toy.

Inputs: source points :math:`x_1, \dots, x_m` ("8gaussians", passed as ``X_source``), target
points :math:`y_1, \dots, y_n` ("moons") smoothed into the KDE
:math:`\nu = \frac1n \sum_j N(y_j, c I)`, :math:`c = h^2`, and the reference Brownian motion of
variance :math:`\varepsilon` per unit time. The bridge works in the standardized coordinates
:math:`(x - \mu)/\rho` of the target data (their mean ``mean_`` and root-mean-square spread
``scale_``): the points, :math:`h` and :math:`\sqrt{\varepsilon}` below are in units of
:math:`\rho`, and ``transport`` takes and returns points in the data's units.

Outputs: the Sinkhorn potentials :math:`(f, g)` of the entropic plan at
:math:`\varepsilon' = \varepsilon + c`,

.. math::

    \pi_{ij} = \frac{1}{mn} \exp\Big(\frac{f_i + g_j - \frac12 \lVert x_i - y_j\rVert^2}
        {\varepsilon'}\Big),

and, for fresh source points, the bridge SDE :math:`dX_t = b\, dt + \sqrt{\varepsilon}\, dW_t`
(``transport``) and the entropic map :math:`E[X_1 \mid X_0 = x] = x + b(x, 0)`
(``transport(method="mean")``). ``schrodinger_bridge.png`` shows both data sets, the
transported points with lines from a few of their starting points, and the entropic map. The
script prints the energy distances of the transported points to held-out target points, next
to that of the target data itself.

Checks, against dense computations from the potentials:

* the marginals of the dense plan, :math:`\sum_i |\sum_j \pi_{ij} - \frac1m| +
  \sum_j |\sum_i \pi_{ij} - \frac1n|` (converged potentials make it small);
* the entropic map at the source points against the barycentric projection of the plan, moved
  the fraction :math:`\varepsilon / (\varepsilon + c)` of the way for a kernel target:
  :math:`x_i + \frac{\varepsilon}{\varepsilon + c}\big(\sum_j \pi_{ij} y_j / \sum_j \pi_{ij}
  - x_i\big)`, mapped back to the data's units by :math:`\mu + \rho\,\cdot`;
* the closed-form model log-density ``score_samples`` against the probability-flow ODE
  ``log_likelihood``, as a maximum absolute difference in nats.

Run: ``python examples/schrodinger_bridge_between_datasets.py [--fast] [--output-dir DIR]
[--no-progress]``.
"""

import numpy as np
from _gallery import check, parse_args, relative_error, save
from scipy.special import logsumexp

from wpokernel import SchrodingerBridge
from wpokernel.datasets import make_toy
from wpokernel.diagnostics import energy_distance
from wpokernel.plotting import plot_samples_2d

SOURCE, TARGET = "8gaussians", "moons"
# Both in units of the target data's spread (epsilon: of its variance).
EPSILON = 0.3
# A target bandwidth well below sqrt(epsilon): the bridge's end law tilts each kernel toward
# the starting point by a factor c / (epsilon + c), small here.
BANDWIDTH = 0.1
N_LINES = 40
LINE_STYLE = {"color": "0.3", "linewidth": 0.5, "alpha": 0.6}
N_LIKELIHOOD_POINTS = 200
# Dense and blocked evaluations of the same formula differ only by rounding.
MAP_TOLERANCE = 1e-10


def dense_plan(bridge):
    """Log of the plan between the source sample and the target centers, (m, n).

    Both are standardized (``source_``, ``target_field_``), where the potentials were solved.
    """
    x, y = bridge.source_, np.asarray(bridge.target_field_.centers)
    cost = 0.5 * ((x[:, None, :] - y[None, :, :]) ** 2).sum(-1)  # (m, n)
    log_mu = -np.log(len(x))
    log_nu = np.asarray(bridge.target_field_.log_weights)
    potentials = bridge.f_[:, None] + bridge.g_[None, :]  # (m, n)
    return log_mu + log_nu + (potentials - cost) / bridge.sinkhorn_epsilon_


def check_against_plan(bridge):
    """Dense marginal error of the plan and the entropic map against its projection."""
    log_plan = dense_plan(bridge)
    rows, columns = np.exp(logsumexp(log_plan, axis=1)), np.exp(logsumexp(log_plan, axis=0))
    nu = np.exp(np.asarray(bridge.target_field_.log_weights))
    error = np.abs(rows - 1 / len(rows)).sum() + np.abs(columns - nu).sum()
    print(f"dense plan marginal error {error:.2e} (Sinkhorn's own: {bridge.marginal_error_:.2e}, "
          f"{bridge.n_iter_} iterations)")
    conditional = np.exp(log_plan - logsumexp(log_plan, axis=1, keepdims=True))  # (m, n)
    fraction = bridge.epsilon / bridge.sinkhorn_epsilon_
    u = bridge.source_
    projection = u + fraction * (conditional @ np.asarray(bridge.target_field_.centers) - u)
    # transport takes and returns points in the data's units.
    x = bridge.mean_ + bridge.scale_ * u
    check("entropic map vs dense barycentric projection, relative error",
          relative_error(bridge.transport(x, method="mean"),
                         bridge.mean_ + bridge.scale_ * projection), MAP_TOLERANCE)


def main(fast=False, output_dir="figures", progress=True):
    n_points, n_steps = (200, 20) if fast else (1000, 100)
    X_source = make_toy(SOURCE, n_points, random_state=0)
    X_target, X_test = (make_toy(TARGET, n_points, random_state=seed) for seed in (1, 2))
    bridge = SchrodingerBridge(epsilon=EPSILON, target=BANDWIDTH, n_steps=n_steps,
                               progress=progress).fit(X_target, X_source=X_source)
    fresh = make_toy(SOURCE, n_points, random_state=3)
    moved = {"bridge SDE": bridge.transport(fresh, random_state=4),
             "entropic map": bridge.transport(fresh, method="mean")}
    print(f"{SOURCE} -> {TARGET}: {n_points} points each, epsilon {EPSILON} x variance, "
          f"target bandwidth {BANDWIDTH} x spread, {n_steps} steps")
    for label, points in {**moved, f"{TARGET} data": X_target}.items():
        print(f"energy distance to held-out {TARGET}: {label} "
              f"{energy_distance(points, X_test):.5f}")
    check_against_plan(bridge)
    points = X_test[:N_LIKELIHOOD_POINTS]
    gap = np.abs(bridge.score_samples(points) - bridge.log_likelihood(points)).max()
    print(f"closed-form log-density vs probability-flow ODE: max abs difference {gap:.2e} nats")
    fig = plot_samples_2d(X_source, {TARGET: X_target, **moved}, data_label=SOURCE,
                          title=f"Schrödinger bridge, epsilon = {EPSILON}")
    ax = fig.axes[2]
    for start, end in zip(fresh[:N_LINES], moved["bridge SDE"][:N_LINES]):
        ax.plot(*np.transpose([start, end]), **LINE_STYLE)
    save(fig, output_dir, "schrodinger_bridge.png")


if __name__ == "__main__":
    args = parse_args(__doc__)
    main(args.fast, args.output_dir, args.progress)
