#!/usr/bin/env python
r"""Evidence benchmark of WPOKernelScore: its samples and held-out likelihood beside its peers.

Every data set is split once into a training set and a held-out test set (generated data:
2000 and 1000 points; digits: 1200 training images and the other 597 as the test set). Every
row is fitted on the training set, draws 5000 samples and is measured by
:func:`wpokernel.diagnostics.evaluate_samples` against the same training and test sets with
the same metric seed, plus the held-out mean log-likelihood
:math:`\frac1m \sum_j \log p(y_j)` in nats and the wall time of ``fit`` (model selection
included) and ``sample``.

Rows:

* ``WPOKernelScore()``: the default model, trained on the leave-batch-out likelihood;
* ``WPOKernelScore(objective="ism")``: trained by implicit score matching;
* ``WPOKernelScore(max_steps=0)``: the untrained local-PCA initialization of both;
* ``EmpiricalScore(bandwidth=CV)`` and ``KernelDensity(bandwidth=CV)``: the rows of
  ``benchmarks/run.py``, fitted by the same helpers;
* ``GaussianMixture(k, type=val)``: scikit-learn's mixture with the number of components
  (1 to 64) and the covariance type (full or diagonal) of best likelihood on a validation
  fifth, refitted on the whole training set;
* ``EmpiricalScore(), SDE``: the unsmoothed empirical score sampled by the reverse heat-flow
  SDE down to :math:`t_{\text{stop}} = \sigma_{\min}^2 / \beta^2`, where the noise left is
  ``sigma_min`` (:math:`10^{-3}` of the data's spread), the memorizing reference.

Every row samples exactly except the SDE row. On ``swissroll6d`` the exact mean
log-likelihood of the test points (:func:`wpokernel.datasets.swissroll6d_log_density`) is
the ceiling. The targets are checked on every data set run, for the default model:

* held-out log-likelihood at least 1 nat above the better of the mixture and the exact
  cross-validated KDE (``EmpiricalScore(bandwidth=CV)``) on ``digits``; on ``swissroll6d``
  at least as high as the better of them and within 0.2 nat of the exact density; on every
  2-D toy not below either peer by more than 0.02 nat;
* not below its own initialization;
* memorized share within 0.02 of the test set's, in pixel space and in the leading
  principal subspace, while the unsmoothed empirical score memorizes more than 90% on both.

Writes ``wpo.csv`` and ``wpo.md`` into ``--output-dir`` (default ``docs/benchmarks``) and
PNG figures ``figures/wpo_*.png``: data vs samples for 2-D data, and the default model's
digits above their nearest training digits.

Run ``python benchmarks/bench_wpo.py --help`` for the options; ``--quick`` is a smoke run on
small data sets.
"""

import argparse
import shlex
import sys
import time
from functools import partial
from pathlib import Path

import torch
from threadpoolctl import threadpool_info, threadpool_limits
from tqdm.auto import tqdm

from wpokernel import WPOKernelScore
from wpokernel.plotting import plot_nearest_training_images, plot_samples_2d

# benchmarks/ is a folder of scripts, not a package: put this script's folder on the path so
# that the data sets, peer rows, measurement and writers of the harness run.py are imported,
# not copied, and both pages measure the same way.
sys.path.insert(0, str(Path(__file__).parent))
import run  # noqa: E402

# --------------------------------------------------------------------------------------------
# Data sets and rows
# --------------------------------------------------------------------------------------------

DEFAULT_DATASETS = (
    "2spirals", "swissroll", "checkerboard", "8gaussians", "moons", "pinwheel",
    "swissroll6d", "digits",
)
QUICK_DATASETS = ("moons", "swissroll6d", "digits")
# The digits set is 1200 x 64: real data sets train on at most this many points and
# test on the rest.
_REAL_MAX_TRAIN = 1200
_QUICK_MAX_STEPS = 50

DEFAULT = "WPOKernelScore()"
ISM = 'WPOKernelScore(objective="ism")'
INITIALIZATION = "WPOKernelScore(max_steps=0)"
EMPIRICAL_CV = "EmpiricalScore(bandwidth=CV)"
KDE_CV = "KernelDensity(bandwidth=CV)"
MIXTURE = "GaussianMixture(k, type=val)"
MEMORIZING = "EmpiricalScore(), SDE"


def _split(dataset, n_train, n_test, seed):
    """Return (X_train, X_test): run.py's split, or for real data the rest as test set."""
    if dataset.n_total is None:
        return run._split(dataset, n_train, n_test, seed)[:2]
    n_train = min(n_train, _REAL_MAX_TRAIN)
    X = dataset.draw(dataset.n_total, seed)
    return X[:n_train], X[n_train : n_train + n_test]


def _fit_wpo(options, X_train, random_state):
    model = WPOKernelScore(random_state=random_state, progress=False, **options).fit(X_train)
    chosen = (
        f"{model.structure_}, alpha={model.local_scale_:.3g}, "
        f"sigma²={model.local_variance_:.3g}"
    )
    if model.n_train_steps_:
        chosen += f", steps={model.n_train_steps_}, best={model.best_step_}"
    return model, chosen


def estimators(max_steps=None):
    """The rows: name -> run.Estimator; ``max_steps`` None keeps WPOKernelScore's default."""
    trained = {} if max_steps is None else {"max_steps": max_steps}
    return {
        DEFAULT: run.Estimator(partial(_fit_wpo, trained)),
        ISM: run.Estimator(partial(_fit_wpo, {**trained, "objective": "ism"})),
        INITIALIZATION: run.Estimator(partial(_fit_wpo, {"max_steps": 0})),
        EMPIRICAL_CV: run.ESTIMATORS[EMPIRICAL_CV],
        KDE_CV: run.ESTIMATORS[KDE_CV],
        MIXTURE: run.Estimator(partial(run._fit_mixture, covariance_types=("full", "diag"))),
        MEMORIZING: run.Estimator(run._fit_empirical, run._SDE),
    }


def run_benchmark(dataset_names, rows_to_fit, sizes, seed, progress):
    """Return the result rows, the samples of every (data set, row) and the splits.

    ``sizes`` is ``(n_train, n_test, n_samples)``.
    """
    n_train, n_test, n_samples = sizes
    rows, samples, splits = [], {}, {}
    jobs = [(d, e) for d in dataset_names for e in rows_to_fit]
    for dataset_name, name in tqdm(jobs, disable=not progress, desc="bench_wpo"):
        if dataset_name not in splits:
            splits[dataset_name] = _split(run.DATASETS[dataset_name], n_train, n_test, seed)
        X_train, X_test = splits[dataset_name]
        row, samples[dataset_name, name] = run._measure(
            name, rows_to_fit[name], X_train, X_test, seed, n_samples=n_samples
        )
        row.update(dataset=dataset_name, n_train=len(X_train), n_test=len(X_test),
                   n_features=X_train.shape[1])
        rows.append(row)
    return rows, samples, splits


# --------------------------------------------------------------------------------------------
# The targets
# --------------------------------------------------------------------------------------------

_DIGITS_MARGIN = 1.0
_TOY_TOLERANCE = 0.02
_CEILING_TOLERANCE = 0.2
_MEMORIZATION_TOLERANCE = 0.02
_MEMORIZING_MINIMUM = 0.9
_MEMORIZATION_MEASURES = (("memorized_fraction", "pixel space"),
                          ("memorized_fraction_subspace", "principal subspace"))


def exact_log_likelihood(dataset, X_test):
    """Mean exact log-density of the test points, where the data set has one (else None)."""
    if dataset != "swissroll6d":
        return None
    from wpokernel.datasets import swissroll6d_log_density

    return float(swissroll6d_log_density(X_test).mean())


def _check(dataset, target, measured, holds):
    return {"dataset": dataset, "target": target, "measured": measured, "holds": bool(holds)}


def _versus(dataset, value, other, margin, label):
    measured = f"{value:.2f} vs {other:.2f} (margin {value - other:+.2f})"
    return _check(dataset, label, measured, value - other >= margin)


def _likelihood_checks(dataset, by_key, ceiling):
    value = by_key[dataset, DEFAULT]["log_likelihood"]
    best_peer = max(by_key[dataset, peer]["log_likelihood"] for peer in (MIXTURE, EMPIRICAL_CV))
    peers = f"the better of {MIXTURE} and {EMPIRICAL_CV}"
    checks = [_versus(dataset, value, by_key[dataset, INITIALIZATION]["log_likelihood"], 0.0,
                      f"log-lik >= {INITIALIZATION} (its initialization)")]
    if dataset == "digits":
        checks.append(_versus(dataset, value, best_peer, _DIGITS_MARGIN,
                              f"log-lik >= {peers} + {_DIGITS_MARGIN:g} nat"))
    elif dataset == "swissroll6d":
        checks.append(_versus(dataset, value, best_peer, 0.0, f"log-lik >= {peers}"))
        if ceiling is not None:
            checks.append(_versus(dataset, value, ceiling, -_CEILING_TOLERANCE,
                                  f"log-lik within {_CEILING_TOLERANCE:g} nat of the exact "
                                  "density"))
    elif by_key[dataset, DEFAULT]["n_features"] == 2:
        checks += [_versus(dataset, value, by_key[dataset, peer]["log_likelihood"],
                           -_TOY_TOLERANCE, f"log-lik >= {peer} - {_TOY_TOLERANCE:g} nat")
                   for peer in (MIXTURE, EMPIRICAL_CV)]
    return checks


def _memorization_checks(dataset, by_key):
    wpo, copies = by_key[dataset, DEFAULT], by_key[dataset, MEMORIZING]
    checks = []
    for key, where in _MEMORIZATION_MEASURES:
        memorized, test = wpo[key], wpo[key + "_test"]
        checks += [
            _check(dataset, f"memorized ({where}) within {_MEMORIZATION_TOLERANCE:g} of the "
                   "test set's", f"{memorized:.4f} vs {test:.4f} (gap {memorized - test:+.4f})",
                   abs(memorized - test) <= _MEMORIZATION_TOLERANCE),
            _check(dataset, f"{MEMORIZING} memorized ({where}) > {_MEMORIZING_MINIMUM:g}",
                   f"{copies[key]:.4f}", copies[key] > _MEMORIZING_MINIMUM),
        ]
    return checks


def check_targets(rows, ceilings=None):
    """One dict (dataset, target, measured, holds) per target, on every data set run.

    ``ceilings`` maps a data set to its exact mean test log-likelihood, where known.
    """
    ceilings = ceilings or {}
    by_key = {(row["dataset"], row["estimator"]): row for row in rows}
    checks = []
    for dataset in dict.fromkeys(row["dataset"] for row in rows):
        if (dataset, DEFAULT) not in by_key:
            continue
        checks += (_likelihood_checks(dataset, by_key, ceilings.get(dataset))
                   + _memorization_checks(dataset, by_key))
    return checks


def _targets_table(checks):
    lines = ["| data set | target (default `WPOKernelScore()`) | measured | holds |",
             "| --- | --- | --- | --- |"]
    for check in checks:
        holds = "yes" if check["holds"] else "**no**"
        cells = [check["dataset"], check["target"], check["measured"], holds]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


# --------------------------------------------------------------------------------------------
# Output
# --------------------------------------------------------------------------------------------

_CSV_COLUMNS = ("dataset", "estimator", "params", "n_train", "n_test", "n_samples",
                *run.METRIC_COLUMNS)
_MARKDOWN_HEADERS = {
    "estimator": "estimator",
    "params": "chosen",
    "log_likelihood": "test log-lik",
    "energy_distance": "energy",
    "mmd2_median": "MMD² (median)",
    "memorized_fraction": "memorized",
    "memorized_fraction_test": "memorized (test set)",
    "copy_gap_z": "copy z",
    "mmd2_multiscale": "MMD² (multi)",
    "sliced_wasserstein": "SW₂",
    "c2st_accuracy": "C2ST acc.",
    "fit_seconds": "fit (s)",
    "sample_seconds": "sample (s)",
}
_FIGURE_DPI = 80
_PANEL_INCHES = 3.0
_INTRODUCTION = """\
Every row is fitted on the training set, draws {n_samples} samples (exactly, except the SDE
row) and is measured by `wpokernel.diagnostics.evaluate_samples` against the test set with one
seed per data set; `benchmarks/README.md` explains the columns. **test log-lik**: held-out
mean log-likelihood in nats (higher is better). **energy**, **MMD² (median)**: distance of
the samples to the test set (0 is ideal). **memorized**: share of samples whose nearest
training point is closer than a third of the second nearest, next to the same share for the
real test set, the level of fresh data. **copy z** < -2: samples sit closer to the training
set than fresh data do. **C2ST acc.** 0.5: a classifier cannot tell samples from test data.
The C2ST subsamples the larger set to the size of the smaller. `WPOKernelScore` holds out 10%
of its training set for early stopping and the calibration of its initialization; its
**chosen** column gives the covariance structure, the calibrated local-PCA scale alpha and
variance sigma² (in units of the data's variance: the model works in standardized
coordinates), and the training steps run and the step kept (0: the initialization).

scikit-learn's `KernelDensity` is wrong in high dimension for test points far from every
training point (see `benchmarks/README.md`): on digits its test log-likelihood is too high,
which is why the targets compare with `EmpiricalScore(bandwidth=CV)`, the same density
computed exactly, as well.
"""


def _dataset_section(dataset, rows, figures, ceiling):
    first = rows[0]
    exact = ("" if ceiling is None else
             f" The exact density gives the test points a mean log-likelihood of "
             f"{ceiling:.3f} nats, the ceiling of the **test log-lik** column.")
    parts = [
        f"## {dataset}\n\n{first['n_train']} training and {first['n_test']} test points of "
        f"dimension {first['n_features']}; {first['memorized_fraction_test']:.3g} of the test "
        f"points count as memorized.{exact}\n",
        run._markdown_table(rows, _MARKDOWN_HEADERS) + "\n",
    ]
    parts += [f"![{figure.stem}](figures/{figure.name})\n" for figure in figures]
    return parts


def _threads():
    # numpy and scipy each load their own OpenBLAS: list every distinct pool once.
    pools = ", ".join(dict.fromkeys(
        f"{pool['internal_api']} {pool['num_threads']}" for pool in threadpool_info()
    ))
    return f"threads: torch {torch.get_num_threads()}, {pools}"


def write_markdown(rows, checks, figures, path, *, command, seconds, ceilings=None):
    datasets = list(dict.fromkeys(row["dataset"] for row in rows))
    parts = [
        "# WPOKernelScore evidence\n",
        f"Produced by `{command}` in {seconds:.0f} s on {run.environment()}, "
        f"torch {torch.__version__} ({_threads()}).\n",
        _INTRODUCTION.format(n_samples=rows[0]["n_samples"]),
        "## Targets\n",
        (_targets_table(checks) if checks else "No target data set in this run.") + "\n",
    ]
    for dataset in datasets:
        dataset_rows = [row for row in rows if row["dataset"] == dataset]
        parts += _dataset_section(dataset, dataset_rows, figures.get(dataset, []),
                                  (ceilings or {}).get(dataset))
    Path(path).write_text("\n".join(parts))


def _plot_samples(X_test, samples):
    """The WPOKernelScore rows above the peers, each row of panels after the test data."""
    names = list(samples)
    n_wpo = sum(name.startswith("WPOKernelScore") for name in names)
    groups = [names[:n_wpo], names[n_wpo:]]
    width = 1 + max(len(group) for group in groups)
    fig = run._new_figure((_PANEL_INCHES * width, 2 * _PANEL_INCHES))
    for subfigure, group in zip(fig.subfigures(2, 1), groups):
        plot_samples_2d(X_test, {name: samples[name] for name in group}, fig=subfigure,
                        data_label="test data")
    return fig


def write_figures(samples, splits, row_names, folder):
    """Draw data vs samples for 2-D data and nearest training images for image data."""
    folder.mkdir(parents=True, exist_ok=True)
    figures = {}
    for dataset_name, (X_train, X_test) in splits.items():
        paths = []
        if X_train.shape[1] == 2:
            fig = _plot_samples(X_test, {e: samples[dataset_name, e] for e in row_names})
            paths.append(folder / f"wpo_samples_{dataset_name}.png")
            fig.savefig(paths[-1], dpi=_FIGURE_DPI)
        image_shape = run.DATASETS[dataset_name].image_shape
        if image_shape is not None:
            fig = plot_nearest_training_images(samples[dataset_name, DEFAULT], X_train,
                                               image_shape)
            fig.suptitle(f"{DEFAULT}: samples above their nearest training images")
            paths.append(folder / f"wpo_nearest_{dataset_name}.png")
            fig.savefig(paths[-1], dpi=_FIGURE_DPI)
        figures[dataset_name] = paths
    return figures


def _print_checks(checks):
    for check in checks:
        verdict = "holds" if check["holds"] else "FAILS"
        print(f"[{verdict}] {check['dataset']}: {check['target']}: {check['measured']}")


# --------------------------------------------------------------------------------------------
# Command line
# --------------------------------------------------------------------------------------------


def _parse(argv):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="smoke run on small data sets")
    parser.add_argument("--datasets", nargs="+", choices=list(run.DATASETS), default=None)
    parser.add_argument("--n-train", type=int, default=None,
                        help="default 2000, real data at most 1200 (quick: 300)")
    parser.add_argument("--n-test", type=int, default=None,
                        help="default 1000, real data the rest (quick: 200)")
    parser.add_argument("--n-samples", type=int, default=None, help="default 5000 (quick: 500)")
    parser.add_argument("--max-steps", type=int, default=None,
                        help=f"WPOKernelScore training steps (default its own; quick: "
                             f"{_QUICK_MAX_STEPS})")
    parser.add_argument("--threads", type=int, default=None,
                        help="threads of torch and of the BLAS/OpenMP pools (default: the "
                             "libraries' own choice); 1 on a machine shared with other jobs")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--output-dir", type=Path, default=Path("docs/benchmarks"))
    parser.add_argument("--no-progress", action="store_true")
    args = parser.parse_args(argv)
    if args.datasets is None:
        args.datasets = list(QUICK_DATASETS if args.quick else DEFAULT_DATASETS)
    defaults = (300, 200, 500, _QUICK_MAX_STEPS) if args.quick else (2000, 1000, 5000, None)
    for name, default in zip(("n_train", "n_test", "n_samples", "max_steps"), defaults):
        if getattr(args, name) is None:
            setattr(args, name, default)
    return args


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    args = _parse(argv)
    if args.threads is not None:
        # Spinning OpenMP threads of torch and scikit-learn slow down many-fold when another
        # process holds the cores.
        torch.set_num_threads(args.threads)
        threadpool_limits(args.threads)
    start = time.perf_counter()
    rows_to_fit = estimators(args.max_steps)
    rows, samples, splits = run_benchmark(
        args.datasets, rows_to_fit, (args.n_train, args.n_test, args.n_samples), args.seed,
        progress=not args.no_progress,
    )
    ceilings = {name: exact_log_likelihood(name, X_test) for name, (_, X_test) in splits.items()}
    ceilings = {name: value for name, value in ceilings.items() if value is not None}
    checks = check_targets(rows, ceilings)
    args.output_dir.mkdir(parents=True, exist_ok=True)
    run.write_csv(rows, args.output_dir / "wpo.csv", _CSV_COLUMNS)
    figures = write_figures(samples, splits, list(rows_to_fit), args.output_dir / "figures")
    write_markdown(
        rows, checks, figures, args.output_dir / "wpo.md",
        command="python benchmarks/bench_wpo.py " + shlex.join(argv),
        seconds=time.perf_counter() - start, ceilings=ceilings,
    )
    print((args.output_dir / "wpo.md").read_text())
    _print_checks(checks)
    return 0


if __name__ == "__main__":
    sys.exit(main())
