r"""Stochastic interpolant: the probability-flow ODE and the SDE reach the same law.

Inputs: training points :math:`x_i` of the "moons" toy. The model works in the standardized
coordinates :math:`u = (x - \mu)/\rho` (the data's mean ``mean_`` and root-mean-square spread
``scale_``), where the points are :math:`u_i`; the target :math:`\pi` is their Gaussian KDE of
bandwidth :math:`h` (in units of :math:`\rho`), and the linear interpolant
:math:`u_t = (1 - t)\, u_0 + t\, u_1`, :math:`u_0 \sim N(0, I)`, :math:`u_1 \sim \pi`, has the
marginals

.. math::

    p_t = \frac1N \sum_i N\big(t\, u_i,\; (t^2 h^2 + (1 - t)^2) I\big),

and :math:`x_t = \mu + \rho\, u_t` in the data's units, where the samplers return it.

Outputs: samples of :math:`p_1 = \pi` by the ODE :math:`du = b\, dt` (Heun) and by the SDE
:math:`du = (b + \varepsilon \sigma_t^2 s)\, dt + \sqrt{2 \varepsilon \sigma_t^2}\, dW`
(Euler–Maruyama), with the closed-form velocity :math:`b(u, t)` and score
:math:`s = \nabla \log p_t`; trajectories of a few particles from the same starting points
(``interpolant_ode_vs_sde.png``), recorded on the sampler's grid
:math:`t_k = 1 - (1 - k/n)^2` (:func:`wpokernel.dynamics.squared_grid`) through the public
``velocity`` and ``score_function``, which are in the data's units: :math:`dx/dt = \rho\, b` and
:math:`\nabla_x \log p_t = s / \rho`, so the SDE in :math:`x` has drift
:math:`\rho b + \varepsilon \sigma_t^2 \rho^2 \nabla_x \log p_t` and diffusion
:math:`\rho \sqrt{2 \varepsilon \sigma_t^2}`.

Checks, each against an exact reference:

* energy distance of the ODE and SDE samples to exact draws of :math:`\pi`, next to that of two
  independent sets of exact draws (the statistical noise level);
* at :math:`t = 1/2`, energy distance of the trajectories' positions to exact draws
  :math:`\mu + \rho ((1 - t) u_0 + t u_1)` of :math:`p_t`;
* the ODE log-likelihood ``score_samples`` (instantaneous change of variables) against the
  closed-form :math:`\log \pi` in the data's units,
  :math:`\log \pi_u((x - \mu)/\rho) - d \log \rho`, as a maximum absolute error in nats.

Run: ``python examples/interpolant_ode_vs_sde.py [--fast] [--output-dir DIR] [--no-progress]``.
"""

import numpy as np
from _gallery import parse_args, save
from tqdm.auto import tqdm

from wpokernel import StochasticInterpolant
from wpokernel.datasets import make_toy
from wpokernel.diagnostics import energy_distance
from wpokernel.dynamics import euler_maruyama, heun, squared_grid
from wpokernel.plotting import plot_samples_2d

TOY = "moons"
BANDWIDTH = 0.1
N_PATHS_DRAWN = 25
PATH_STYLE = {"color": "0.3", "linewidth": 0.5, "alpha": 0.5}
N_LIKELIHOOD_POINTS = 200


def trajectories(model, x0, times, random_state, progress):
    """Positions of the ODE and SDE particles from ``x0`` at every time, (n_times, n, d) each.

    In the data's units: ``velocity`` is :math:`\rho b` and ``score_function`` :math:`s / \rho`.
    """
    rng = np.random.RandomState(random_state)
    scale = model.scale_

    def noise_variance(t):
        return float(model.coefficients_(t).noise_variance)

    def sde_drift(x, t):
        score = model.score_function(x, t)
        return model.velocity(x, t) + model.diffusion * noise_variance(t) * scale**2 * score

    ode, sde = [x0], [x0]
    for t, t_next in tqdm(zip(times[:-1], times[1:]), total=len(times) - 1, disable=not progress,
                          desc="trajectories"):
        ode.append(heun(model.velocity, ode[-1], [t, t_next]))
        sde.append(euler_maruyama(sde_drift, sde[-1], [t, t_next],
                                  scale * np.sqrt(2 * model.diffusion * noise_variance(t)), rng))
    return np.stack(ode), np.stack(sde)


def exact_marginal(model, t, n_samples, random_state):
    r"""Exact draws of :math:`p_t` for the linear interpolant, in the data's units:
    :math:`\mu + \rho ((1 - t) u_0 + t u_1)` (``target_field_`` is standardized)."""
    rng = np.random.RandomState(random_state)
    u1 = model.target_field_.sample(n_samples, random_state=rng)
    return model.mean_ + model.scale_ * ((1 - t) * rng.standard_normal(u1.shape) + t * u1)


def target_log_density(model, x):
    r""":math:`\log \pi` in the data's units: the standardized target moved by
    :math:`x = \mu + \rho u`, whose density is :math:`\rho^{-d} \pi_u(u)`."""
    return model.target_field_.affine(model.mean_, model.scale_).log_density(x)


def main(fast=False, output_dir="figures", progress=True):
    n_points, n_steps = (300, 20) if fast else (1000, 100)
    X_train = make_toy(TOY, n_points, random_state=0)
    model = StochasticInterpolant(target=BANDWIDTH, n_steps=n_steps, progress=progress)
    model.fit(X_train)
    samples = {method: model.sample(n_points, random_state=1, method=method)
               for method in ("ode", "sde")}
    exact = [model.sample(n_points, random_state=seed, method="exact") for seed in (2, 3)]
    print(f"{TOY}: {n_points} points, KDE target of bandwidth {BANDWIDTH} x spread, "
          f"{n_steps} steps")
    print(f"energy distance to exact draws: ODE {energy_distance(samples['ode'], exact[0]):.5f}, "
          f"SDE {energy_distance(samples['sde'], exact[0]):.5f}, "
          f"exact vs exact {energy_distance(exact[1], exact[0]):.5f}")
    if model.t_end_ != 1.0:
        raise SystemExit(f"Expected the dynamics of a smoothed target to run to t = 1, got "
                         f"t_end_ = {model.t_end_}.")
    times = squared_grid(n_steps)  # the samplers' grid when the dynamics run to t = 1
    # N(0, I) in standardized coordinates, in the data's units.
    u0 = np.random.RandomState(4).standard_normal((n_points, X_train.shape[1]))
    x0 = model.mean_ + model.scale_ * u0
    ode_paths, sde_paths = trajectories(model, x0, times, 5, progress)
    middle = int(np.argmin(np.abs(times - 0.5)))
    reference = exact_marginal(model, times[middle], n_points, 6)
    print(f"at t = {times[middle]:.3f}, energy distance to exact draws of p_t: "
          f"ODE paths {energy_distance(ode_paths[middle], reference):.5f}, "
          f"SDE paths {energy_distance(sde_paths[middle], reference):.5f}")
    points = X_train[:N_LIKELIHOOD_POINTS]
    error = np.abs(model.score_samples(points) - target_log_density(model, points)).max()
    print(f"ODE log-likelihood vs closed-form log pi: max abs error {error:.2e} nats")
    fig = plot_samples_2d(X_train, {"ODE samples": samples["ode"], "SDE samples": samples["sde"]},
                          title="linear interpolant from N(0, I) (standardized): samples "
                                "and trajectories",
                          data_label="training data")
    for ax, paths in zip(fig.axes[1:], (ode_paths, sde_paths)):
        ax.plot(paths[:, :N_PATHS_DRAWN, 0], paths[:, :N_PATHS_DRAWN, 1], **PATH_STYLE)
    save(fig, output_dir, "interpolant_ode_vs_sde.png")


if __name__ == "__main__":
    args = parse_args(__doc__)
    main(args.fast, args.output_dir, args.progress)
