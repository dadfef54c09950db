r"""Stochastic interpolant: the probability-flow ODE and the SDE reach the same law.

Inputs: training points :math:`x_i` of the "moons" toy; the target :math:`\pi` is their Gaussian
KDE of bandwidth :math:`h`, and the linear interpolant
:math:`x_t = (1 - t)\, x_0 + t\, x_1`, :math:`x_0 \sim N(0, I)`, :math:`x_1 \sim \pi`, has the
marginals

.. math::

    p_t = \frac1N \sum_i N\big(t\, x_i,\; (t^2 h^2 + (1 - t)^2) I\big).

Outputs: samples of :math:`p_1 = \pi` by the ODE :math:`dx = b\, dt` (Heun) and by the SDE
:math:`dx = (b + \varepsilon \sigma_t^2 s)\, dt + \sqrt{2 \varepsilon \sigma_t^2}\, dW`
(Euler–Maruyama), with the closed-form velocity :math:`b(x, t)` and score
:math:`s = \nabla \log p_t`; trajectories of a few particles from the same starting points
(``interpolant_ode_vs_sde.png``), recorded on the sampler's grid
:math:`t_k = 1 - (1 - k/n)^2` through the public ``velocity`` and ``score_function``.

Checks, each against an exact reference:

* energy distance of the ODE and SDE samples to exact draws of :math:`\pi`, next to that of two
  independent sets of exact draws (the statistical noise level);
* at :math:`t = 1/2`, energy distance of the trajectories' positions to exact draws
  :math:`(1 - t) x_0 + t x_1` of :math:`p_t`;
* the ODE log-likelihood ``score_samples`` (instantaneous change of variables) against the
  closed-form :math:`\log \pi`, as a maximum absolute error in nats.

Run: ``python examples/interpolant_ode_vs_sde.py [--fast] [--output-dir DIR] [--no-progress]``.
"""

import numpy as np
from _gallery import parse_args, save
from tqdm.auto import tqdm

from wpokernel import StochasticInterpolant
from wpokernel.datasets import make_toy
from wpokernel.diagnostics import energy_distance
from wpokernel.integrators import euler_maruyama, heun
from wpokernel.plotting import plot_samples_2d

TOY = "moons"
BANDWIDTH = 0.1
N_PATHS_DRAWN = 25
PATH_STYLE = {"color": "0.3", "linewidth": 0.5, "alpha": 0.5}
N_LIKELIHOOD_POINTS = 200


def sampler_times(n_steps):
    """The samplers' grid for an end time of 1, refined toward the target."""
    return 1.0 - (1.0 - np.linspace(0.0, 1.0, n_steps + 1)) ** 2


def trajectories(model, x0, times, random_state, progress):
    """Positions of the ODE and SDE particles from ``x0`` at every time, (n_times, n, d) each."""
    rng = np.random.RandomState(random_state)

    def noise_variance(t):
        return float(model.coefficients_(t).noise_variance)

    def sde_drift(x, t):
        score = model.score_function(x, t)
        return model.velocity(x, t) + model.diffusion * noise_variance(t) * score

    ode, sde = [x0], [x0]
    for t, t_next in tqdm(zip(times[:-1], times[1:]), total=len(times) - 1, disable=not progress,
                          desc="trajectories"):
        ode.append(heun(model.velocity, ode[-1], [t, t_next]))
        sde.append(euler_maruyama(sde_drift, sde[-1], [t, t_next],
                                  np.sqrt(2 * model.diffusion * noise_variance(t)), rng))
    return np.stack(ode), np.stack(sde)


def exact_marginal(model, t, n_samples, random_state):
    """Exact draws of :math:`p_t`: :math:`(1 - t) x_0 + t x_1` for the linear interpolant."""
    rng = np.random.RandomState(random_state)
    x1 = model.target_field_.sample(n_samples, random_state=rng)
    return (1 - t) * rng.standard_normal(x1.shape) + t * x1


def main(fast=False, output_dir="figures", progress=True):
    n_points, n_steps = (300, 20) if fast else (1000, 100)
    X_train = make_toy(TOY, n_points, random_state=0)
    model = StochasticInterpolant(target=BANDWIDTH, n_steps=n_steps, progress=progress)
    model.fit(X_train)
    samples = {method: model.sample(n_points, random_state=1, method=method)
               for method in ("ode", "sde")}
    exact = [model.sample(n_points, random_state=seed, method="exact") for seed in (2, 3)]
    print(f"{TOY}: {n_points} points, KDE target of bandwidth {BANDWIDTH}, {n_steps} steps")
    print(f"energy distance to exact draws: ODE {energy_distance(samples['ode'], exact[0]):.5f}, "
          f"SDE {energy_distance(samples['sde'], exact[0]):.5f}, "
          f"exact vs exact {energy_distance(exact[1], exact[0]):.5f}")
    times = sampler_times(n_steps)
    x0 = np.random.RandomState(4).standard_normal((n_points, X_train.shape[1]))
    ode_paths, sde_paths = trajectories(model, x0, times, 5, progress)
    middle = int(np.argmin(np.abs(times - 0.5)))
    reference = exact_marginal(model, times[middle], n_points, 6)
    print(f"at t = {times[middle]:.3f}, energy distance to exact draws of p_t: "
          f"ODE paths {energy_distance(ode_paths[middle], reference):.5f}, "
          f"SDE paths {energy_distance(sde_paths[middle], reference):.5f}")
    points = X_train[:N_LIKELIHOOD_POINTS]
    error = np.abs(model.score_samples(points) - model.target_field_.log_density(points)).max()
    print(f"ODE log-likelihood vs closed-form log pi: max abs error {error:.2e} nats")
    fig = plot_samples_2d(X_train, {"ODE samples": samples["ode"], "SDE samples": samples["sde"]},
                          title="linear interpolant from N(0, I): samples and trajectories",
                          data_label="training data")
    for ax, paths in zip(fig.axes[1:], (ode_paths, sde_paths)):
        ax.plot(paths[:, :N_PATHS_DRAWN, 0], paths[:, :N_PATHS_DRAWN, 1], **PATH_STYLE)
    save(fig, output_dir, "interpolant_ode_vs_sde.png")


if __name__ == "__main__":
    args = parse_args(__doc__)
    main(args.fast, args.output_dir, args.progress)
