#!/usr/bin/env python
r"""Benchmark harness: estimators x data sets x metrics, side by side in one process.

Every data set is split once into a training set, a held-out test set and (for generated
data) a fresh draw of the same law. Every estimator is fitted on the training set, draws as
many samples as there are test points, and is measured by
:func:`wpokernel.diagnostics.evaluate_samples` against the same training and test sets with
the same metric seed, plus the held-out mean log-likelihood when it has ``score_samples``
and the wall time of ``fit`` (model selection included) and ``sample``.

Rows:

* ``EmpiricalScore()``: the empirical score, the memorizing baseline;
* ``EmpiricalScore(bandwidth=CV)``: the empirical score of a Gaussian kernel density
  estimate, bandwidth by 3-fold cross-validated held-out likelihood (``GridSearchCV``),
  sampled exactly, and again with the reverse heat-flow SDE (``, SDE``);
* ``KernelDensity(bandwidth=CV)``: scikit-learn's Gaussian KDE, same grid (in the data's
  units: ``EmpiricalScore`` takes its bandwidth in units of the data's root-mean-square
  spread) and folds, the peer of the row above;
* ``GaussianMixture(n_components=val)``: scikit-learn's full-covariance mixture, with the
  number of components of best likelihood on a validation fifth of the training set;
* the closed-form transport estimators, on the 2-D toys and ``swissroll6d`` only:
  ``StochasticInterpolant`` (probability-flow ODE, and SDE), ``SchrodingerBridge``,
  ``FollmerBridge`` and ``ScoreDifferenceFlow``, each toward the empirical measure
  (``target=None``, the memorizing case; the score-difference flow stops at Scott's bandwidth
  by default and shows the copying with ``sigma_min=0.001``, in units of the data's spread)
  and toward the Gaussian KDE of the cross-validated bandwidth of
  ``EmpiricalScore(bandwidth=CV)`` (``target=CV``); on ``swissroll6d`` also toward a fitted
  ``WPOKernelScore`` (``target=WPOKernelScore()``);
* ``fresh data (reference)``: a new draw from the data law itself, what an ideal generator
  would score; only for generated data sets.

Writes ``results.csv`` and ``results.md`` into ``--output-dir`` (default
``docs/benchmarks``) and PNG figures into its ``figures/`` folder: data vs samples for 2-D
data, generated images beside their nearest training images for image data, and
memorization-ratio histograms for every data set.

Run ``python benchmarks/run.py --help`` for the options; ``--quick`` is a smoke run of a few
seconds on small data sets.
"""

import argparse
import csv
import os
import platform
import sys
import time
from dataclasses import dataclass, field
from functools import partial
from itertools import groupby
from pathlib import Path
from typing import Callable, Optional

import numpy as np
import sklearn
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.mixture import GaussianMixture
from sklearn.model_selection import GridSearchCV, train_test_split
from sklearn.neighbors import KernelDensity
from tqdm.auto import tqdm

import wpokernel
from wpokernel import (
    EmpiricalScore,
    FollmerBridge,
    SchrodingerBridge,
    ScoreDifferenceFlow,
    StochasticInterpolant,
    WPOKernelScore,
)
from wpokernel.datasets import (
    DIGITS_IMAGE_SHAPE,
    MANIFOLD_NAMES,
    TOY_NAMES,
    load_digits_continuous,
    make_manifold,
    make_swissroll6d,
    make_toy,
)
from wpokernel.diagnostics import evaluate_samples
from wpokernel.plotting import (
    plot_memorization_histogram,
    plot_nearest_training_images,
    plot_samples_2d,
)

# --------------------------------------------------------------------------------------------
# Data sets
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class DataSet:
    """A data set of the suite.

    ``draw(n, random_state)`` returns ``n`` points; ``n_total`` is the size of a real data set
    (None for generated data, which can be drawn afresh) and ``image_shape`` the shape of one
    image for image data.
    """

    draw: Callable[[int, int], np.ndarray]
    n_total: Optional[int] = None
    image_shape: Optional[tuple] = None


def _draw_toy(name, n, random_state):
    return make_toy(name, n, random_state=random_state)


def _draw_manifold(name, n, random_state):
    # One call: the random rotation into R^10 depends on the seed, so the training, test
    # and fresh points must come from the same draw.
    return make_manifold(name, n, ambient_dim=10, random_state=random_state)


def _draw_swissroll6d(n, random_state):
    return make_swissroll6d(n, random_state=random_state)


def _load_digits(n, random_state):
    X = load_digits_continuous(random_state=random_state)
    return X[np.random.default_rng(random_state).permutation(len(X))[:n]]


DATASETS = {
    **{name: DataSet(partial(_draw_toy, name)) for name in TOY_NAMES},
    "swissroll6d": DataSet(_draw_swissroll6d),
    **{f"{name}-in-R10": DataSet(partial(_draw_manifold, name)) for name in MANIFOLD_NAMES},
    "digits": DataSet(_load_digits, n_total=1797, image_shape=DIGITS_IMAGE_SHAPE),
}
QUICK_DATASETS = ("2spirals", "sphere-in-R10", "digits")
_QUICK_BOOSTING_ROUNDS = 10

# --------------------------------------------------------------------------------------------
# Estimators: each fits on X_train and returns (model, chosen hyper-parameters)
# --------------------------------------------------------------------------------------------

# Bandwidth grid relative to the data's root-mean-square spread: from much narrower than the
# spacing of training points (memorizing) to the spread itself (over-smoothing). EmpiricalScore
# takes these relative bandwidths as they are (its lengths are in units of its scale_, the
# same spread); scikit-learn's KernelDensity takes them times the spread.
_RELATIVE_BANDWIDTHS = np.geomspace(0.01, 1.0, 12)
_CV_FOLDS = 3
_MIXTURE_COMPONENTS = (1, 2, 4, 8, 16, 32, 64)
# A full covariance in d dimensions needs about d points per component to be estimable.
_MIN_POINTS_PER_COMPONENT = 10
_VALIDATION_FRACTION = 0.2


def _bandwidth_grid(estimator, X_train):
    """The grid in the units ``estimator`` takes: relative for this package's estimators."""
    if isinstance(estimator, EmpiricalScore):
        return list(_RELATIVE_BANDWIDTHS)
    return list(np.sqrt(np.var(X_train, axis=0).mean()) * _RELATIVE_BANDWIDTHS)


def _fit_empirical(X_train, random_state):
    del random_state  # the empirical score has no random choice in fit
    return EmpiricalScore(progress=False).fit(X_train), ""


def _bandwidth_search(estimator, X_train):
    grid = {"bandwidth": _bandwidth_grid(estimator, X_train)}
    return GridSearchCV(estimator, grid, cv=_CV_FOLDS).fit(X_train)


def _fit_cross_validated(estimator, X_train):
    search = _bandwidth_search(estimator, X_train)
    return search.best_estimator_, f"bandwidth={search.best_params_['bandwidth']:.3g}"


def _fit_empirical_cv(X_train, random_state):
    del random_state
    return _fit_cross_validated(EmpiricalScore(progress=False), X_train)


def _fit_kde_cv(X_train, random_state):
    del random_state
    return _fit_cross_validated(KernelDensity(), X_train)


def _fit_mixture(X_train, random_state, covariance_types=("full",)):
    """GaussianMixture with the number of components (and covariance type) of best
    validation likelihood, refitted on all of ``X_train``."""
    fit_part, validation = train_test_split(
        X_train, test_size=_VALIDATION_FRACTION, random_state=random_state
    )
    candidates = [
        (k, kind) for kind in covariance_types for k in _MIXTURE_COMPONENTS
        if k * _MIN_POINTS_PER_COMPONENT <= len(fit_part)
    ]
    scores = [
        GaussianMixture(k, covariance_type=kind, random_state=random_state)
        .fit(fit_part).score(validation)
        for k, kind in candidates
    ]
    best, kind = candidates[int(np.argmax(scores))]
    model = GaussianMixture(best, covariance_type=kind, random_state=random_state).fit(X_train)
    chosen = f"n_components={best}" + ("" if len(covariance_types) == 1 else f", {kind}")
    return model, chosen


# Targets of the transport rows besides the empirical measure (None): the Gaussian KDE with
# the bandwidth that EmpiricalScore(bandwidth=CV) selects, and a fitted WPOKernelScore.
_CV_TARGET = "CV"
_WPO_TARGET = "WPOKernelScore()"
# The score-difference flow stops at Scott's bandwidth by default, which hides the empirical
# target's copying; stopping far below the spacing of the data shows it. The row measured
# before the estimators became unit-free stopped at 1e-3 in the data's units; it now stops at
# 1e-3 of the data's root-mean-square spread (1.4e-3 to 2.3e-3 in the data's units on the toys
# and swissroll6d), still far below the spacing of the training points.
_SMALL_SIGMA_MIN = 1e-3


def _fit_transport(estimator_class, options, target, X_train, random_state):
    """Fit ``estimator_class(target=..., **options)``, model selection of the target included."""
    chosen = ""
    if target == _CV_TARGET:
        # The selected bandwidth is relative to the data's spread, as the target takes it.
        search = _bandwidth_search(EmpiricalScore(progress=False), X_train)
        target = search.best_params_["bandwidth"]
        chosen = f"bandwidth={target:.3g}"
    elif target == _WPO_TARGET:
        target = WPOKernelScore(random_state=random_state, progress=False)
    if "random_state" in estimator_class().get_params():
        options = {**options, "random_state": random_state}
    model = estimator_class(target=target, progress=False, **options).fit(X_train)
    return model, chosen


@dataclass(frozen=True)
class Estimator:
    """A row of the suite: ``fit(X_train, seed)``, the keyword options of ``sample`` and the
    data sets it runs on (``None``: all)."""

    fit: Callable[[np.ndarray, int], tuple]
    sample_options: dict = field(default_factory=dict)
    datasets: Optional[tuple] = None


# The reverse heat-flow SDE with progress bars off: the sampler of the score models.
_SDE = {"method": "sde", "progress": False}

ESTIMATORS = {
    "EmpiricalScore()": Estimator(_fit_empirical),
    "EmpiricalScore(bandwidth=CV)": Estimator(_fit_empirical_cv),
    "EmpiricalScore(bandwidth=CV), SDE": Estimator(_fit_empirical_cv, _SDE),
    "KernelDensity(bandwidth=CV)": Estimator(_fit_kde_cv),
    "GaussianMixture(n_components=val)": Estimator(_fit_mixture),
}

# The transport rows run where they are cheap: the 2-D toys and swissroll6d. A fitted
# WPOKernelScore target costs about a minute per row on two cores (its fit, then sampling
# through full-covariance components): only on swissroll6d.
TRANSPORT_DATASETS = (*TOY_NAMES, "swissroll6d")
WPO_TARGET_DATASETS = ("swissroll6d",)


def _transport_rows(estimator_class, options=None, targets=(None, _CV_TARGET, _WPO_TARGET),
                    sample_options=None, suffix=""):
    """The rows of one transport estimator: name -> Estimator, one per target."""
    options = {} if options is None else options
    rows = {}
    for target in targets:
        arguments = [f"{key}={value}" for key, value in options.items()]
        arguments += [] if target is None else [f"target={target}"]
        name = f"{estimator_class.__name__}({', '.join(arguments)}){suffix}"
        rows[name] = Estimator(
            partial(_fit_transport, estimator_class, options, target),
            {} if sample_options is None else sample_options,
            WPO_TARGET_DATASETS if target == _WPO_TARGET else TRANSPORT_DATASETS,
        )
    return rows


ESTIMATORS.update({
    **_transport_rows(StochasticInterpolant),
    **_transport_rows(StochasticInterpolant, targets=(None, _CV_TARGET), sample_options=_SDE,
                      suffix=", SDE"),
    **_transport_rows(SchrodingerBridge),
    **_transport_rows(FollmerBridge),
    **_transport_rows(ScoreDifferenceFlow),
    **_transport_rows(ScoreDifferenceFlow, {"sigma_min": _SMALL_SIGMA_MIN}, targets=(None,)),
})
REFERENCE = "fresh data (reference)"

# --------------------------------------------------------------------------------------------
# Running the suite
# --------------------------------------------------------------------------------------------

#: CSV / Markdown columns after dataset, estimator and params.
METRIC_COLUMNS = (
    "memorized_fraction",
    "memorized_fraction_test",
    "memorized_fraction_subspace",
    "memorized_fraction_subspace_test",
    "copy_gap_z",
    "copy_gap_median_ratio",
    "mmd2_median",
    "mmd2_multiscale",
    "energy_distance",
    "sliced_wasserstein",
    "c2st_accuracy",
    "log_likelihood",
    "fit_seconds",
    "sample_seconds",
)


def _split(dataset, n_train, n_test, seed):
    """Return (X_train, X_test, X_fresh); X_fresh is None for a real data set."""
    if dataset.n_total is not None:
        n_test = min(n_test, dataset.n_total // 4)
        n_train = min(n_train, dataset.n_total - n_test)
        X = dataset.draw(n_train + n_test, seed)
        return X[:n_train], X[n_train:], None
    X = dataset.draw(n_train + 2 * n_test, seed)
    return X[:n_train], X[n_train : n_train + n_test], X[n_train + n_test :]


def _sample(model, n_samples, seed, options):
    if isinstance(model, GaussianMixture):
        # GaussianMixture.sample takes no seed: it draws from its own random_state.
        return model.sample(n_samples)[0]
    return model.sample(n_samples, random_state=seed, **options)


def _measure(name, estimator, X_train, X_test, seed, n_samples=None, classifier=None):
    """Fit, sample and evaluate one estimator; return (row, samples).

    ``n_samples`` samples are drawn (``None``: as many as there are test points);
    ``classifier`` is the two-sample classifier (``None``: the default of
    ``evaluate_samples``).
    """
    n_samples = len(X_test) if n_samples is None else n_samples
    start = time.perf_counter()
    model, params = estimator.fit(X_train, seed)
    fit_seconds = time.perf_counter() - start
    start = time.perf_counter()
    samples = _sample(model, n_samples, seed, estimator.sample_options)
    sample_seconds = time.perf_counter() - start
    row = {"estimator": name, "params": params}
    row.update(evaluate_samples(samples, X_train, X_test, random_state=seed,
                                classifier=classifier))
    if hasattr(model, "score_samples"):
        row["log_likelihood"] = float(np.mean(model.score_samples(X_test)))
    row.update(fit_seconds=fit_seconds, sample_seconds=sample_seconds)
    return row, samples


def run_suite(dataset_names, estimator_names, n_train, n_test, seed, progress, classifier=None):
    """Return the result rows and the samples of every (data set, estimator).

    ``classifier``: the classifier of the two-sample tests (``None``: the default).
    """
    rows, samples = [], {}
    jobs = [
        (d, e) for d in dataset_names for e in [*estimator_names, REFERENCE]
        if e == REFERENCE or ESTIMATORS[e].datasets is None or d in ESTIMATORS[e].datasets
    ]
    splits = {}
    for dataset_name, estimator_name in tqdm(jobs, disable=not progress, desc="benchmark"):
        if dataset_name not in splits:
            splits[dataset_name] = _split(DATASETS[dataset_name], n_train, n_test, seed)
        X_train, X_test, X_fresh = splits[dataset_name]
        if estimator_name == REFERENCE:
            if X_fresh is None:
                continue
            row = {"estimator": REFERENCE, "params": ""}
            row.update(evaluate_samples(X_fresh, X_train, X_test, random_state=seed,
                                        classifier=classifier))
            drawn = X_fresh
        else:
            row, drawn = _measure(estimator_name, ESTIMATORS[estimator_name], X_train, X_test,
                                  seed, classifier=classifier)
        row.update(dataset=dataset_name, n_train=len(X_train), n_test=len(X_test))
        rows.append(row)
        samples[dataset_name, estimator_name] = drawn
    return rows, samples, splits


# --------------------------------------------------------------------------------------------
# Output
# --------------------------------------------------------------------------------------------

_CSV_COLUMNS = ("dataset", "estimator", "params", "n_train", "n_test", *METRIC_COLUMNS)
_MARKDOWN_HEADERS = {
    "estimator": "estimator",
    "params": "chosen",
    "memorized_fraction": "memorized",
    "memorized_fraction_subspace": "memorized (subspace)",
    "copy_gap_z": "copy z",
    "mmd2_median": "MMD² (median)",
    "mmd2_multiscale": "MMD² (multi)",
    "energy_distance": "energy",
    "sliced_wasserstein": "SW₂",
    "c2st_accuracy": "C2ST acc.",
    "log_likelihood": "test log-lik",
    "fit_seconds": "fit (s)",
    "sample_seconds": "sample (s)",
}


def _format(value):
    if isinstance(value, str):
        return value
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return ""
    return f"{value:.3g}"


def write_csv(rows, path, columns=_CSV_COLUMNS):
    with open(path, "w", newline="") as file:
        writer = csv.DictWriter(file, fieldnames=columns, extrasaction="ignore")
        writer.writeheader()
        for row in rows:
            writer.writerow({key: row.get(key, "") for key in columns})


def _markdown_table(rows, headers=_MARKDOWN_HEADERS):
    """A Markdown table of ``rows``, one column per key of ``headers`` (key -> header)."""
    lines = [
        "| " + " | ".join(headers.values()) + " |",
        "|" + "|".join(" --- " for _ in headers) + "|",
    ]
    for row in rows:
        cells = [_format(row.get(key)) for key in headers]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def environment():
    """The machine and versions a result was measured with, as a phrase."""
    return (
        f"{platform.machine()} with {os.cpu_count()} CPUs, Python "
        f"{platform.python_version()}, wpokernel {wpokernel.__version__}, scikit-learn "
        f"{sklearn.__version__}"
    )


def write_markdown(rows, figures, path, *, command, seconds):
    datasets = list(dict.fromkeys(row["dataset"] for row in rows))
    parts = [
        "# Estimators side by side\n",
        f"Produced by `{command}` in {seconds:.0f} s on {environment()}. "
        "Every estimator draws as many samples as there are test points; the metrics are "
        "those of `wpokernel.diagnostics.evaluate_samples` with one seed per data set "
        "(see `benchmarks/README.md` for what each column means). **memorized**: share of "
        "samples whose nearest training point is closer than a third of the second nearest; "
        "the test set's share, the level of fresh data, is given above each table. "
        "**copy z** < -2: "
        "samples sit closer to the training set than fresh data do. **C2ST acc.** 0.5: a "
        "classifier cannot tell samples from test data. **chosen** bandwidths of this "
        "package's estimators and targets are in units of the data's root-mean-square "
        "spread, those of `KernelDensity` in the data's units.\n",
        "The transport estimators (`StochasticInterpolant`, `SchrodingerBridge`, "
        "`FollmerBridge`, `ScoreDifferenceFlow`; 2-D toys and swissroll6d) run with their "
        "default settings toward the empirical measure (no `target`: the memorizing case; "
        "the score-difference flow also with `sigma_min=0.001` of the data's spread, since "
        "its default stop at Scott's bandwidth hides the copying), toward the Gaussian KDE "
        "with the bandwidth of "
        "`EmpiricalScore(bandwidth=CV)` (`target=CV`, its cross-validation counted in "
        "`fit (s)`) and, on swissroll6d, toward a fitted `WPOKernelScore` seeded with the "
        "run's seed (`target=WPOKernelScore()`). Their `test log-lik` is that of the model "
        "density where the estimator has one: the probability-flow ODE of the interpolant, "
        "the closed-form bridge marginal at its end time.\n",
    ]
    for dataset in datasets:
        dataset_rows = [row for row in rows if row["dataset"] == dataset]
        first = dataset_rows[0]
        parts.append(
            f"## {dataset}\n\n{first['n_train']} training and {first['n_test']} test points, "
            f"{first['memorized_fraction_test']:.3g} of the test points count as memorized.\n"
        )
        parts.append(_markdown_table(dataset_rows) + "\n")
        for figure in figures.get(dataset, []):
            parts.append(f"![{figure.stem}](figures/{figure.name})\n")
    Path(path).write_text("\n".join(parts))


def _new_figure(size):
    fig = Figure(figsize=size, layout="constrained")
    FigureCanvasAgg(fig)
    return fig


# Panels in one row of a figure, the data panel included: wider figures shrink too much on
# a documentation page.
_MAX_PANELS_PER_ROW = 6


def _panel_rows(names):
    """Split the row names into figure rows, each estimator class in one row, small ones merged."""
    rows = []
    for _, group in groupby(names, key=lambda name: name.split("(")[0]):
        group = list(group)
        if rows and len(rows[-1]) + len(group) < _MAX_PANELS_PER_ROW:
            rows[-1].extend(group)
        else:
            rows.append(group)
    return rows


def _samples_figure(X_test, samples_of, panel_rows):
    fig = _new_figure((4 * _MAX_PANELS_PER_ROW, 4 * len(panel_rows)))
    for subfigure, row in zip(fig.subfigures(len(panel_rows), 1, squeeze=False)[:, 0], panel_rows):
        plot_samples_2d(X_test, {name: samples_of[name] for name in row}, fig=subfigure)
    return fig


def _memorization_figure(X_train, X_test, samples_of, panel_rows):
    n_columns = max(len(row) for row in panel_rows)
    fig = _new_figure((4 * n_columns, 3 * len(panel_rows)))
    axes = fig.subplots(len(panel_rows), n_columns, squeeze=False)
    for row_axes, row in zip(axes, panel_rows):
        for ax in row_axes[len(row):]:
            ax.set_axis_off()
        for ax, name in zip(row_axes, row):
            plot_memorization_histogram(samples_of[name], X_train, X_test, ax=ax)
            ax.set_title(name, fontsize=8)
    return fig


def write_figures(samples, splits, estimator_names, folder):
    """Draw the figures of every data set; return {dataset: [paths]}."""
    folder.mkdir(parents=True, exist_ok=True)
    figures = {}
    for dataset_name, (X_train, X_test, _) in splits.items():
        paths = []
        names = [e for e in [*estimator_names, REFERENCE] if (dataset_name, e) in samples]
        samples_of = {name: samples[dataset_name, name] for name in names}
        if X_train.shape[1] == 2:
            fig = _samples_figure(X_test, samples_of, _panel_rows(names))
            paths.append(folder / f"samples_{dataset_name}.png")
            fig.savefig(paths[-1], dpi=60)
        image_shape = DATASETS[dataset_name].image_shape
        for index, estimator in enumerate(names if image_shape else []):
            fig = plot_nearest_training_images(samples_of[estimator], X_train, image_shape)
            fig.suptitle(estimator)
            paths.append(folder / f"nearest_{dataset_name}_{index}.png")
            fig.savefig(paths[-1], dpi=80)
        fig = _memorization_figure(X_train, X_test, samples_of, _panel_rows(names))
        paths.append(folder / f"memorization_{dataset_name}.png")
        fig.savefig(paths[-1], dpi=60)
        figures[dataset_name] = paths
    return figures


# --------------------------------------------------------------------------------------------
# Command line
# --------------------------------------------------------------------------------------------


def _parse(argv):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="smoke run on small data sets")
    parser.add_argument("--datasets", nargs="+", choices=list(DATASETS), default=None)
    parser.add_argument("--estimators", nargs="+", choices=list(ESTIMATORS), default=None)
    parser.add_argument("--n-train", type=int, default=None, help="default 2000 (quick: 200)")
    parser.add_argument("--n-test", type=int, default=None, help="default 1000 (quick: 100)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--output-dir", type=Path, default=Path("docs/benchmarks"))
    parser.add_argument("--no-progress", action="store_true")
    args = parser.parse_args(argv)
    if args.datasets is None:
        args.datasets = list(QUICK_DATASETS if args.quick else DATASETS)
    if args.estimators is None:
        args.estimators = list(ESTIMATORS)
    if args.n_train is None:
        args.n_train = 200 if args.quick else 2000
    if args.n_test is None:
        args.n_test = 100 if args.quick else 1000
    return args


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    args = _parse(argv)
    start = time.perf_counter()
    # A smoke run checks that every row runs, not how well a classifier tells it apart:
    # ten boosting rounds instead of the default hundred make it three times faster.
    classifier = (HistGradientBoostingClassifier(max_iter=_QUICK_BOOSTING_ROUNDS,
                                                 random_state=args.seed) if args.quick else None)
    rows, samples, splits = run_suite(
        args.datasets, args.estimators, args.n_train, args.n_test, args.seed,
        progress=not args.no_progress, classifier=classifier,
    )
    args.output_dir.mkdir(parents=True, exist_ok=True)
    write_csv(rows, args.output_dir / "results.csv")
    figures = write_figures(samples, splits, args.estimators, args.output_dir / "figures")
    command = " ".join(["python benchmarks/run.py", *argv])
    write_markdown(
        rows, figures, args.output_dir / "results.md",
        command=command, seconds=time.perf_counter() - start,
    )
    print(Path(args.output_dir / "results.md").read_text())
    return 0


if __name__ == "__main__":
    sys.exit(main())
