r"""Conditional generation: the conditional Schrödinger bridge against Nadaraya–Watson.

Inputs: pairs :math:`(x_i, y_i)` of the heteroscedastic model of
:func:`wpokernel.datasets.make_conditional`, :math:`x \in \mathbb{R}^5`,

.. math::

    Y = X_1^2 + e^{X_2 + X_3/4} + X_4 - X_5 + \big(\tfrac12 + \tfrac12 X_2^2\big)\,\varepsilon,

so that on the line :math:`x(u) = (0, u, 0, 0, 0)` the true conditional mean is :math:`e^u`
and the true standard deviation :math:`\frac12 + \frac12 u^2`.

Outputs: the conditional mean and standard deviation along that line from

* ``NadarayaWatson()``, in closed form: :math:`m(x) = \sum_i \omega_i(x) y_i`,
  :math:`v(x) = \sum_i \omega_i(x) (y_i - m(x))^2`, with
  :math:`\omega = \operatorname{softmax}_i(-\lVert x - x_i\rVert^2 / 2(\rho H)^2)` and the
  cross-validated bandwidth :math:`H`, in units of the covariates' root-mean-square spread
  :math:`\rho` (``scale_``: the estimators work in standardized coordinates);
* ``ConditionalSchrodingerBridge()``: the mean and standard deviation of bridge samples of the
  same kernel conditional law, and of ``ConditionalSchrodingerBridge(residuals=True)``, whose
  components sit at :math:`m(x) + r_i` with out-of-fold residuals :math:`r_i`;

the root-mean-square errors against the truth on the line and, for the closed-form means, on
held-out covariates; and ``conditional_generation.png`` (mean and standard deviation against
:math:`u`, with bridge samples).

Checks: ``NadarayaWatson.predict`` and ``predict_std`` against the dense formulas above
(relative error), and the sampled mean and standard deviation of the bridge without residuals
against the closed form of the law it samples (largest :math:`z`-score of the means, largest
relative error of the standard deviations).

Run: ``python examples/conditional_generation.py [--fast] [--output-dir DIR] [--no-progress]``.
"""

import numpy as np
from _gallery import check, parse_args, relative_error, save
from matplotlib.figure import Figure
from scipy.special import softmax

from wpokernel import ConditionalSchrodingerBridge, NadarayaWatson
from wpokernel.datasets import make_conditional

MODEL = "heteroscedastic"
LINE_FEATURE = 1
LINE_RANGE = (-2.0, 2.0)
FIGURE_INCHES = (11.0, 4.0)
SAMPLE_STYLE = {"s": 2, "alpha": 0.15, "color": "C2"}
# Dense and blocked evaluations differ only by rounding.
REFERENCE_TOLERANCE = 1e-10


def line_points(n_points, n_features):
    """Covariates :math:`x(u)` and the positions :math:`u`."""
    u = np.linspace(*LINE_RANGE, n_points)
    X = np.zeros((n_points, n_features))
    X[:, LINE_FEATURE] = u
    return X, u


def dense_nadaraya_watson(X, X_train, y_train, bandwidth):
    """Reference :math:`m(x)` and :math:`\\sqrt{v(x)}` by an explicit (M, N) softmax.

    In the data's units: ``bandwidth`` is :math:`\\rho H`, the estimator's relative bandwidth
    times the covariates' spread.
    """
    sq_dist = ((X[:, None, :] - X_train[None, :, :]) ** 2).sum(-1)  # (M, N)
    weights = softmax(-sq_dist / (2 * bandwidth**2), axis=1)
    mean = weights @ y_train
    return mean, np.sqrt(weights @ y_train**2 - mean**2)


def bridge_moments(model, X, n_samples):
    """Samples, their mean and their standard deviation per row of ``X``."""
    samples = model.sample(X, n_samples=n_samples, random_state=0)[..., 0]  # (M, n_samples)
    return samples, samples.mean(1), samples.std(1, ddof=1)


def rms(a, b):
    return float(np.sqrt(np.mean((np.asarray(a) - b) ** 2)))


def plot(u, truth, curves, samples):
    fig = Figure(figsize=FIGURE_INCHES, layout="constrained")
    ax_mean, ax_std = fig.subplots(1, 2)
    ax_mean.scatter(np.repeat(u, samples.shape[1]), samples.ravel(), **SAMPLE_STYLE,
                    label="bridge samples (residuals)")
    styles = ("k-", "C0--", "C1-", "C2-")
    for (label, (mean, std)), style in zip({"truth": truth, **curves}.items(), styles):
        ax_mean.plot(u, mean, style, label=label)
        ax_std.plot(u, std, style, label=label)
    ax_mean.set(xlabel=f"u = x[{LINE_FEATURE}], other covariates 0", ylabel="conditional mean")
    ax_std.set(xlabel=f"u = x[{LINE_FEATURE}], other covariates 0", ylabel="conditional std")
    ax_mean.legend(fontsize="small")
    return fig


def main(fast=False, output_dir="figures", progress=True):
    (n_train, n_test, n_line, n_samples) = (300, 100, 11, 50) if fast else (1000, 500, 41, 200)
    X_train, y_train, _, _ = make_conditional(MODEL, n_train, random_state=0)
    X_test, _, mean_test, _ = make_conditional(MODEL, n_test, random_state=1)
    X_line, u = line_points(n_line, X_train.shape[1])
    truth = (np.exp(u), 0.5 + 0.5 * u**2)
    nw = NadarayaWatson().fit(X_train, y_train)
    bridge = ConditionalSchrodingerBridge(progress=progress).fit(X_train, y_train)
    twostep = ConditionalSchrodingerBridge(residuals=True, progress=progress).fit(X_train, y_train)
    _, bridge_mean, bridge_std = bridge_moments(bridge, X_line, n_samples)
    samples, twostep_mean, twostep_std = bridge_moments(twostep, X_line, n_samples)
    curves = {"NadarayaWatson": (nw.predict(X_line), nw.predict_std(X_line)),
              "bridge": (bridge_mean, bridge_std),
              "bridge, residuals": (twostep_mean, twostep_std)}
    print(f"{MODEL}: {n_train} training pairs, bandwidth {nw.bandwidth_:.3f} x spread; "
          f"{n_samples} bridge samples at {n_line} points of the line")
    print(f"{'':20s} {'line mean RMSE':>14s} {'line std RMSE':>13s} {'test mean RMSE':>14s}")
    models = {"NadarayaWatson": nw, "bridge": bridge, "bridge, residuals": twostep}
    for label, model in models.items():
        mean, std = curves[label]
        print(f"{label:20s} {rms(mean, truth[0]):14.3f} {rms(std, truth[1]):13.3f} "
              f"{rms(model.predict(X_test), mean_test):14.3f}")
    reference = dense_nadaraya_watson(X_line, X_train, y_train, nw.bandwidth_ * nw.scale_)
    for name, value, dense in zip(("predict", "predict_std"), curves["NadarayaWatson"], reference):
        check(f"NadarayaWatson.{name} vs dense softmax, relative error",
              relative_error(value, dense), REFERENCE_TOLERANCE)
    z = (bridge_mean - reference[0]) / (reference[1] / np.sqrt(n_samples))
    print(f"bridge samples vs their closed-form law: largest |z| of the means "
          f"{np.abs(z).max():.2f}, largest relative error of the stds "
          f"{np.abs(bridge_std / reference[1] - 1).max():.3f}")
    save(plot(u, truth, curves, samples), output_dir, "conditional_generation.png")


if __name__ == "__main__":
    args = parse_args(__doc__)
    main(args.fast, args.output_dir, args.progress)
