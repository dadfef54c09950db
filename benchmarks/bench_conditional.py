#!/usr/bin/env python
r"""Conditional-generation benchmark: the conditional Schrödinger bridge beside Nadaraya–Watson.

On the two simulation models of :func:`wpokernel.datasets.make_conditional`, with
:math:`X \sim N(0, I_5)` and :math:`\varepsilon \sim N(0, 1)` ([ZJLH2023]_, [Hua2024]_),

.. math::

    \text{additive:}\quad Y = X_1^2 + e^{X_2 + X_3/4} + \cos(X_4 + X_5) + \varepsilon,
    \qquad
    \text{heteroscedastic:}\quad Y = X_1^2 + e^{X_2 + X_3/4} + X_4 - X_5
        + \big(\tfrac12 + \tfrac12 X_2^2\big)\varepsilon,

every row is fitted on ``n_train`` draws (default 2000) and estimates the conditional mean
:math:`m(x)` and standard deviation :math:`s(x)` of :math:`Y` at ``n_test`` new covariates
(default 1000), scored against the truth by

.. math::

    \mathrm{MSE}_m = \frac1{n} \sum_{j=1}^{n} \big(\hat m(x_j) - m(x_j)\big)^2, \qquad
    \mathrm{MSE}_s = \frac1{n} \sum_{j=1}^{n} \big(\hat s(x_j) - s(x_j)\big)^2.

Rows:

* ``NadarayaWatson()``: the kernel-weighted mean and standard deviation in closed form,
  bandwidth by 5-fold cross-validation (in units of the covariates' root-mean-square spread:
  the estimators work in standardized coordinates);
* ``ConditionalSchrodingerBridge()`` and ``ConditionalSchrodingerBridge(residuals=True)``:
  the mean and standard deviation (``ddof=1``) of ``n_samples`` bridge samples per test
  covariate, ``n_steps`` Euler–Maruyama steps each, what ``predict_mean`` and
  ``predict_std`` return; same cross-validated bandwidth. Their column ``mean MSE (closed
  form)`` scores ``predict``, the exact mean of the law the samples are drawn from;
* ``true law, n_samples draws (reference)``: the mean and standard deviation of
  ``n_samples`` draws of the true conditional law, the Monte Carlo floor of any estimate
  from that many samples (:math:`\mathbb E\,\mathrm{MSE}_m = \overline{s^2}/n_{\text{samples}}`).

Writes ``conditional.csv`` and ``conditional.md`` into ``--output-dir`` (default
``docs/benchmarks``). Run ``python benchmarks/bench_conditional.py --help`` for the options;
``--quick`` is a smoke run of a few seconds.

References
----------
.. [ZJLH2023] X. Zhou, Y. Jiao, J. Liu, J. Huang, "A Deep Generative Approach to
   Conditional Sampling", Journal of the American Statistical Association, 1837-1848, 2023.
.. [Hua2024] H. Huang, "Schrödinger bridge based deep conditional generative learning",
   arXiv:2409.17294, 2024.
"""

import argparse
import sys
import time
from dataclasses import dataclass
from functools import partial
from pathlib import Path

import numpy as np
from sklearn.metrics import mean_squared_error
from tqdm.auto import tqdm

from wpokernel import ConditionalSchrodingerBridge, NadarayaWatson
from wpokernel.datasets import CONDITIONAL_NAMES, make_conditional

# benchmarks/ is a folder of scripts, not a package: the writers of the harness run.py are
# imported from this script's folder so that every benchmark page is formatted alike.
sys.path.insert(0, str(Path(__file__).parent))
import run  # noqa: E402

# --------------------------------------------------------------------------------------------
# Rows
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Settings:
    """Sizes and seed of a run; test covariates are drawn with ``seed + 1``."""

    n_train: int
    n_test: int
    n_samples: int
    n_steps: int
    seed: int


def _closed_form_moments(model, X_test, settings):
    del settings  # Nadaraya–Watson draws nothing
    return model.predict(X_test), model.predict_std(X_test)


def _sample_moments(model, X_test, settings):
    samples = model.sample(X_test, settings.n_samples, random_state=settings.seed)[..., 0]
    return samples.mean(axis=1), samples.std(axis=1, ddof=1)  # (n_test,) each


def _bridge(settings, **options):
    return ConditionalSchrodingerBridge(n_steps=settings.n_steps, progress=False, **options)


ROWS = {
    "NadarayaWatson()": (lambda settings: NadarayaWatson(), _closed_form_moments),
    "ConditionalSchrodingerBridge()": (_bridge, _sample_moments),
    "ConditionalSchrodingerBridge(residuals=True)": (
        partial(_bridge, residuals=True), _sample_moments
    ),
}
REFERENCE = "true law, {n_samples} draws (reference)"


def measure(name, train, test, settings):
    """Fit row ``name`` on ``train``, estimate the moments at ``test.X``; return its result."""
    make, moments = ROWS[name]
    start = time.perf_counter()
    model = make(settings).fit(train.X, train.y)
    fit_seconds = time.perf_counter() - start
    start = time.perf_counter()
    mean, std = moments(model, test.X, settings)
    predict_seconds = time.perf_counter() - start
    return {
        "estimator": name,
        "params": f"H={model.bandwidth_:.3g}",
        "mean_mse": mean_squared_error(test.mean, mean),
        "std_mse": mean_squared_error(test.std, std),
        "closed_form_mean_mse": mean_squared_error(test.mean, model.predict(test.X)),
        "fit_seconds": fit_seconds,
        "predict_seconds": predict_seconds,
    }


def true_law_row(test, settings):
    """Score the moments of ``n_samples`` draws of the true conditional law at ``test.X``."""
    rng = np.random.default_rng(settings.seed)
    noise = rng.standard_normal((len(test.mean), settings.n_samples))  # (n_test, n_samples)
    draws = test.mean[:, None] + test.std[:, None] * noise
    return {
        "estimator": REFERENCE.format(n_samples=settings.n_samples),
        "params": "",
        "mean_mse": mean_squared_error(test.mean, draws.mean(axis=1)),
        "std_mse": mean_squared_error(test.std, draws.std(axis=1, ddof=1)),
    }


def run_benchmark(model_names, row_names, settings, progress):
    """Return the result rows of every (simulation model, row), reference rows included."""
    rows, data = [], {}
    jobs = [(model, row) for model in model_names for row in [*row_names, REFERENCE]]
    for model_name, row_name in tqdm(jobs, disable=not progress, desc="bench_conditional"):
        if model_name not in data:
            data[model_name] = (
                make_conditional(model_name, settings.n_train, random_state=settings.seed),
                make_conditional(model_name, settings.n_test, random_state=settings.seed + 1),
            )
        train, test = data[model_name]
        if row_name == REFERENCE:
            row = true_law_row(test, settings)
        else:
            row = measure(row_name, train, test, settings)
        row.update(model=model_name, n_train=settings.n_train, n_test=settings.n_test,
                   mean_variance=float(np.var(test.mean)), mean_std=float(np.mean(test.std)))
        rows.append(row)
    return rows


# --------------------------------------------------------------------------------------------
# Output
# --------------------------------------------------------------------------------------------

_CSV_COLUMNS = (
    "model", "estimator", "params", "n_train", "n_test", "mean_mse", "std_mse",
    "closed_form_mean_mse", "fit_seconds", "predict_seconds", "mean_variance", "mean_std",
)
_MARKDOWN_HEADERS = {
    "estimator": "estimator",
    "params": "chosen",
    "mean_mse": "mean MSE",
    "std_mse": "std MSE",
    "closed_form_mean_mse": "mean MSE (closed form)",
    "fit_seconds": "fit (s)",
    "predict_seconds": "predict (s)",
}
_FORMULAS = {
    "additive": "Y = X₁² + exp(X₂ + X₃/4) + cos(X₄ + X₅) + ε",
    "heteroscedastic": "Y = X₁² + exp(X₂ + X₃/4) + X₄ − X₅ + (1/2 + X₂²/2) ε",
}


def write_markdown(rows, settings, path, *, command, seconds):
    parts = [
        "# Conditional generation\n",
        f"Produced by `{command}` in {seconds:.0f} s on {run.environment()}. On each "
        "simulation model of `wpokernel.datasets.make_conditional` (X ~ N(0, I₅), "
        "ε ~ N(0, 1)), every row is fitted on the training draws and estimates the "
        "conditional mean and standard deviation of Y at new test covariates; **mean MSE** "
        "and **std MSE** are the mean squared errors against the true ones. The bridge rows "
        f"take the mean and standard deviation of {settings.n_samples} samples per test "
        f"covariate ({settings.n_steps} Euler–Maruyama steps), as `predict_mean` and "
        "`predict_std` do; **mean MSE (closed form)** scores `predict`, the exact mean of "
        "the law they sample, and Nadaraya–Watson's estimates are closed form throughout. "
        "The reference row draws as many samples from the true conditional law: the Monte "
        "Carlo floor of a sample-based estimate. **chosen**: the bandwidth H on X, in units "
        "of the covariates' root-mean-square spread, by 5-fold cross-validation. See "
        "`benchmarks/README.md`.\n",
    ]
    for model in dict.fromkeys(row["model"] for row in rows):
        model_rows = [row for row in rows if row["model"] == model]
        first = model_rows[0]
        parts.append(
            f"## {model}\n\n{_FORMULAS[model]}; {first['n_train']} training points, "
            f"{first['n_test']} test covariates. Variance of the true conditional mean over "
            f"them (the MSE of the best constant): {first['mean_variance']:.3g}; mean of the "
            f"true standard deviation: {first['mean_std']:.3g}.\n"
        )
        parts.append(run._markdown_table(model_rows, _MARKDOWN_HEADERS) + "\n")
    Path(path).write_text("\n".join(parts))


# --------------------------------------------------------------------------------------------
# Command line
# --------------------------------------------------------------------------------------------

_DEFAULT = Settings(n_train=2000, n_test=1000, n_samples=100, n_steps=100, seed=0)
_QUICK = Settings(n_train=300, n_test=100, n_samples=10, n_steps=10, seed=0)


def _parse(argv):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="smoke run with small sizes")
    parser.add_argument("--models", nargs="+", choices=CONDITIONAL_NAMES,
                        default=list(CONDITIONAL_NAMES))
    parser.add_argument("--estimators", nargs="+", choices=list(ROWS), default=list(ROWS))
    for name, value in vars(_DEFAULT).items():
        parser.add_argument(f"--{name.replace('_', '-')}", type=int, default=None,
                            help=f"default {value} (quick: {getattr(_QUICK, name)})")
    parser.add_argument("--output-dir", type=Path, default=Path("docs/benchmarks"))
    parser.add_argument("--no-progress", action="store_true")
    args = parser.parse_args(argv)
    defaults = vars(_QUICK if args.quick else _DEFAULT)
    args.settings = Settings(**{
        name: default if getattr(args, name) is None else getattr(args, name)
        for name, default in defaults.items()
    })
    return args


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    args = _parse(argv)
    start = time.perf_counter()
    rows = run_benchmark(args.models, args.estimators, args.settings,
                         progress=not args.no_progress)
    args.output_dir.mkdir(parents=True, exist_ok=True)
    run.write_csv(rows, args.output_dir / "conditional.csv", columns=_CSV_COLUMNS)
    command = " ".join(["python benchmarks/bench_conditional.py", *argv])
    write_markdown(rows, args.settings, args.output_dir / "conditional.md",
                   command=command, seconds=time.perf_counter() - start)
    print((args.output_dir / "conditional.md").read_text())
    return 0


if __name__ == "__main__":
    sys.exit(main())
