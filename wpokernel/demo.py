r"""The ``wpokernel demo``: the WPO kernel score model against the empirical score on a 2-D toy.

The unsmoothed empirical score model samples the reverse heat flow of the empirical measure
:math:`\frac1N \sum_i \delta_{x_i}` and lands on (near-)copies of training points. The smoothed
one starts from a Gaussian kernel density estimate whose bandwidth is chosen by 3-fold
cross-validated held-out likelihood (scikit-learn's ``GridSearchCV`` on ``model.score``)
and generates new points; :class:`~wpokernel.WPOKernelScore` starts from its mixture with
learned local covariances. All three are sampled by the reverse heat-flow SDE (the
mean-field-game sampler). The demo shows them against the training data and prints, for each
model,

* the memorized fraction :math:`\frac1n \sum_i \mathbf 1[d_1(x_i)/d_2(x_i) < 1/3]` of its
  samples against the training set (see :func:`wpokernel.diagnostics.memorization_ratio`),
* the energy distance of its samples to a held-out test set
  (:func:`wpokernel.diagnostics.energy_distance`),
* the held-out mean log-likelihood :math:`\frac1m \sum_j \log p(y_j)` (``model.score``),
* the wall time of ``fit`` plus ``sample``.

A reference row gives the same numbers for real data: the memorized fraction of the test set
against the training set, and the energy distance between the training and the test set.
"""

import sys
import time
from pathlib import Path

import numpy as np
from sklearn.model_selection import GridSearchCV

from wpokernel import EmpiricalScore, WPOKernelScore
from wpokernel.datasets import make_toy, train_test_split_data
from wpokernel.diagnostics import energy_distance, memorization_ratio
from wpokernel.plotting import plot_samples_2d

__all__ = ["run_demo"]

# Bandwidth candidates for the smoothed model, relative to the data's scale.
_RELATIVE_BANDWIDTHS = np.geomspace(0.01, 0.3, 8)


def _unsmoothed(X_train, seed, progress):
    del seed, progress
    return EmpiricalScore().fit(X_train)


def _cross_validated(X_train, seed, progress):
    """EmpiricalScore with the bandwidth of best 3-fold held-out log-likelihood."""
    del seed, progress
    scale = float(np.sqrt(np.var(X_train, axis=0).mean()))
    search = GridSearchCV(EmpiricalScore(), {"bandwidth": list(scale * _RELATIVE_BANDWIDTHS)}, cv=3)
    return search.fit(X_train).best_estimator_


def _wpo(X_train, seed, progress):
    return WPOKernelScore(random_state=seed, progress=progress).fit(X_train)


# file label -> (table label, function fitting the model to the training data)
_MODELS = {
    "unsmoothed": ("EmpiricalScore()", _unsmoothed),
    "smoothed": ("EmpiricalScore(bandwidth=<3-fold CV>)", _cross_validated),
    "wpo": ("WPOKernelScore()", _wpo),
}
_SAMPLING_METHOD = "sde"
_FIGURE_NAME = "data_vs_samples.png"
_TABLE_HEADER = ("model", "memorized", "energy to test", "test log-lik", "time (s)")
_COLUMN_WIDTHS = (38, 10, 15, 13, 9)


def _held_out_log_likelihood(model, X_test):
    """Return ``model.score(X_test)`` as text, or "n/a" where the density is undefined."""
    try:
        return f"{model.score(X_test):.3f}"
    except ValueError:
        # A model without smoothing may have no finite density away from the training points.
        return "n/a"


def _fit_sample_and_evaluate(fit, X_train, X_test, n_samples, seed, progress):
    """Fit one model, sample it and return ``(samples, table cells after the label)``."""
    start = time.perf_counter()
    model = fit(X_train, seed, progress)
    samples = np.asarray(
        model.sample(n_samples, random_state=seed, method=_SAMPLING_METHOD, progress=progress)
    )
    seconds = time.perf_counter() - start
    memorized, _ = memorization_ratio(samples, X_train)
    cells = (f"{memorized:.3f}", f"{energy_distance(samples, X_test):.4f}",
             _held_out_log_likelihood(model, X_test), f"{seconds:.2f}")
    return samples, cells


def _reference_cells(X_train, X_test):
    """Table cells of real data: test-vs-train memorization, train-vs-test energy."""
    memorized, _ = memorization_ratio(X_test, X_train)
    return (f"{memorized:.3f}", f"{energy_distance(X_train, X_test):.4f}", "-", "-")


def _format_row(cells):
    return "  ".join(
        f"{cell:<{width}}" if k == 0 else f"{cell:>{width}}"
        for k, (cell, width) in enumerate(zip(cells, _COLUMN_WIDTHS))
    )


def run_demo(
    dataset="2spirals",
    *,
    n_train=1000,
    n_samples=1000,
    output_dir="wpokernel_demo",
    seed=0,
    progress=True,
    stream=None,
):
    r"""Fit an unsmoothed and a smoothed :class:`~wpokernel.EmpiricalScore` and a
    :class:`~wpokernel.WPOKernelScore`, and compare them.

    Draws ``n_train + n_samples`` points of a toy, holds out ``n_samples`` of them as a test
    set, fits the models to the rest, samples ``n_samples`` points from each with the
    reverse SDE, and writes ``samples_unsmoothed.npy``, ``samples_smoothed.npy``,
    ``samples_wpo.npy`` and ``data_vs_samples.png`` to ``output_dir``. The memorized fraction
    in the printed table is

    .. math::

        \frac1n \sum_{i=1}^{n} \mathbf 1\Bigl[\frac{d_1(x_i)}{d_2(x_i)} < \frac13\Bigr],

    with :math:`d_k` the distance to the :math:`k`-th nearest training point.

    Parameters
    ----------
    dataset : str, default="2spirals"
        Name of the toy, one of :data:`wpokernel.datasets.TOY_NAMES`.
    n_train : int, default=1000
        Number of training points.
    n_samples : int, default=1000
        Number of test points and of samples per model.
    output_dir : str or Path, default="wpokernel_demo"
        Folder for the outputs, created if missing.
    seed : int, default=0
        Seed of the data, the split and the samplers.
    progress : bool, default=True
        Whether to show progress bars while fitting and sampling.
    stream : file-like or None, default=None
        Where to print the table; ``None`` means standard output.

    Returns
    -------
    rows : list of tuple of str
        The printed table, header first.
    """
    stream = sys.stdout if stream is None else stream
    X = make_toy(dataset, n_train + n_samples, random_state=seed)
    X_train, X_test = train_test_split_data(X, test_size=n_samples, random_state=seed)
    output_dir = Path(output_dir)
    output_dir.mkdir(parents=True, exist_ok=True)

    rows = [_TABLE_HEADER, ("real test data (reference)", *_reference_cells(X_train, X_test))]
    samples = {}
    for label, (table_label, fit) in _MODELS.items():
        samples[label], cells = _fit_sample_and_evaluate(
            fit, X_train, X_test, n_samples, seed, progress
        )
        np.save(output_dir / f"samples_{label}.npy", samples[label])
        rows.append((table_label, *cells))
    figure = plot_samples_2d(
        X_train,
        {_MODELS[label][0]: points for label, points in samples.items()},
        data_label="training data",
    )
    figure.savefig(output_dir / _FIGURE_NAME, dpi=120)

    print(f"{dataset}: {n_train} training points, {n_samples} test points, "
          f"{n_samples} samples per model ({_SAMPLING_METHOD})", file=stream)
    print("\n".join(_format_row(row) for row in rows), file=stream)
    print("memorized: share of points whose nearest/second-nearest training distance is < 1/3;"
          " the reference energy is training vs test data.", file=stream)
    print(f"outputs written to {output_dir}", file=stream)
    return rows
