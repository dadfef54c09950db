r"""One call that measures a fitted generative model: are its samples good, and are they new?

:func:`evaluate` draws samples from a fitted model and compares them
(:func:`evaluate_samples` does the same for samples drawn beforehand)

* with the training set, for memorization: the memorized fraction in pixel space
  (:func:`~wpokernel.diagnostics.memorization_ratio`) and in the training data's principal
  subspace with the isotropic noise taken out
  (:func:`~wpokernel.diagnostics.subspace_memorization_ratio`, which sees a training image
  plus noise in high dimension), each next to that of held-out data, and the data-copying
  statistic (:func:`~wpokernel.diagnostics.copy_gap`);
* with held-out data, for quality: unbiased :math:`\mathrm{MMD}^2` at the median-heuristic
  and at multiscale bandwidths (:func:`~wpokernel.diagnostics.mmd_squared`), the energy
  distance, the sliced 2-Wasserstein distance and the accuracy of a classifier two-sample
  test;
* and, when the model has ``score_samples``, reports the held-out mean log-likelihood
  :math:`\frac1m \sum_j \log p(y_j)`.

Every random choice of the metrics (kernel bandwidth subset, projection directions,
classifier split) is seeded from ``random_state`` alone, and kernel bandwidths come from the
real data alone, so models evaluated with the same seed on the same data are measured with
the same instruments.
"""

import inspect
from numbers import Integral

import numpy as np
from sklearn.utils import check_random_state
from sklearn.utils.validation import check_is_fitted

from wpokernel.diagnostics._pairwise import (
    DEFAULT_WORKING_MEMORY_MB,
    check_points,
    check_same_features,
    check_working_memory,
)
from wpokernel.diagnostics.classifier import classifier_two_sample_test
from wpokernel.diagnostics.memorization import (
    DEFAULT_MEMORIZATION_THRESHOLD,
    _principal_basis,
    _resolve_n_components,
    _subspace_ratios,
    copy_gap,
    memorization_ratio,
)
from wpokernel.diagnostics.sliced import sliced_wasserstein
from wpokernel.diagnostics.two_sample import (
    MULTISCALE_FACTORS,
    energy_distance,
    median_heuristic,
    mmd_squared,
)

__all__ = ["METRICS", "Evaluation", "evaluate", "evaluate_samples"]

#: Metric name -> (description, value it takes for an ideal model).
METRICS = {
    "n_samples": ("samples drawn", ""),
    "memorized_fraction": ("memorized samples, r < 1/3", "memorized_fraction_test"),
    "memorized_fraction_test": ("memorized test points, r < 1/3", "(reference)"),
    "memorized_fraction_subspace": (
        "memorized samples, subspace r < 1/3", "memorized_fraction_subspace_test"
    ),
    "memorized_fraction_subspace_test": ("memorized test points, subspace r < 1/3",
                                         "(reference)"),
    "copy_gap_z": ("data-copying z (<< 0: copies)", "0"),
    "copy_gap_median_ratio": ("median NN distance / test's", "1"),
    "mmd2_median": ("MMD^2, median bandwidth", "0*"),
    "mmd2_multiscale": ("MMD^2, multiscale", "0*"),
    "energy_distance": ("energy distance", "0*"),
    "sliced_wasserstein": ("sliced 2-Wasserstein", "0"),
    "c2st_accuracy": ("classifier 2-sample accuracy", "0.5"),
    "log_likelihood": ("held-out mean log-likelihood", "higher"),
}
# Printed under the table when an unbiased estimate (ideal "0*") is in it.
UNBIASED_NOTE = ("* an unbiased estimate: it scatters around its ideal 0 and can be negative; a "
                 "small negative value means no difference was detected, not an error")
# The classifier test splits the samples in half and needs two points of each label per half.
_MIN_SAMPLES = 4
_SAMPLES_NAME = "the samples drawn from the model"
_SEED_BOUND = np.iinfo(np.int32).max


class Evaluation(dict):
    """Metrics of one model, as returned by :func:`evaluate`: a dict that prints as a table.

    Keys are those of :data:`METRICS` (``log_likelihood`` only for models with
    ``score_samples``); values are floats, ``n_samples`` an int.
    """

    def to_table(self):
        """Return the metrics as an aligned text table with the ideal value of each."""
        rows = [("metric", "value", "ideal")]
        for name, value in self.items():
            description, ideal = METRICS[name]
            # An ideal that names another entry is that entry's value: the level of test data.
            if ideal in self:
                ideal = f"~{self[ideal]:.4g} (test)"
            shown = f"{value:d}" if isinstance(value, Integral) else f"{value:.4g}"
            rows.append((description, shown, ideal))
        widths = [max(len(row[k]) for row in rows) for k in range(3)]
        lines = [
            f"{row[0]:<{widths[0]}}  {row[1]:>{widths[1]}}  {row[2]:<{widths[2]}}".rstrip()
            for row in rows
        ]
        lines.insert(1, "-" * len(lines[0]))
        if any(METRICS[name][1] == "0*" for name in self):
            lines.append(UNBIASED_NOTE)
        return "\n".join(lines)

    def __str__(self):
        return self.to_table()


def _check_n_samples(n_samples, n_test):
    if n_samples is None:
        return max(n_test, _MIN_SAMPLES)
    if isinstance(n_samples, bool) or not isinstance(n_samples, Integral):
        raise TypeError(f"Expected n_samples to be an int or None, got {n_samples!r}.")
    if n_samples < _MIN_SAMPLES:
        raise ValueError(f"Expected n_samples >= {_MIN_SAMPLES}, got {n_samples}.")
    return int(n_samples)


def _draw_samples(model, n_samples, seed):
    """Call ``model.sample``, passing the seed when it takes one (as KernelDensity does).

    Estimators whose ``sample`` returns ``(X, labels)``, such as
    :class:`~sklearn.mixture.GaussianMixture`, are seeded through their own ``random_state``.
    """
    if "random_state" in inspect.signature(model.sample).parameters:
        drawn = model.sample(n_samples, random_state=seed)
    else:
        drawn = model.sample(n_samples)
    return drawn[0] if isinstance(drawn, tuple) else drawn


def _memorization_entries(samples, X_train, X_test, working_memory):
    """The memorized fractions of the samples and of the test points, on both measures."""
    memory = {"working_memory": working_memory}
    # One principal basis of the training data serves the samples and the test points.
    basis_dp = _principal_basis(X_train, _resolve_n_components(None, X_train.shape[1]))
    budget_bytes = check_working_memory(working_memory)

    def subspace_fraction(points):
        ratios = _subspace_ratios(points, X_train, basis_dp, budget_bytes)
        return float(np.mean(ratios < DEFAULT_MEMORIZATION_THRESHOLD))

    return {
        "memorized_fraction": memorization_ratio(samples, X_train, **memory)[0],
        "memorized_fraction_test": memorization_ratio(X_test, X_train, **memory)[0],
        "memorized_fraction_subspace": subspace_fraction(samples),
        "memorized_fraction_subspace_test": subspace_fraction(X_test),
    }


def _check_model(model):
    if not callable(getattr(model, "sample", None)):
        raise TypeError(
            f"Expected a generative model with a sample(n_samples) method, got "
            f"{type(model).__name__}."
        )
    # Plain samplers without fit (a known law, a wrapped pretrained model) are accepted as is.
    if callable(getattr(model, "fit", None)):
        check_is_fitted(model)


def evaluate_samples(
    samples,
    X_train,
    X_test,
    *,
    random_state=None,
    classifier=None,
    n_projections=128,
    working_memory=DEFAULT_WORKING_MEMORY_MB,
):
    r"""Measure generated points against the training data and held-out data.

    With :math:`x_1, \dots, x_n` the samples, :math:`\{z_k\}` the training set and
    :math:`y_1, \dots, y_m` held-out data from the same law:

    * ``memorized_fraction``: :math:`\frac1n \sum_i \mathbf 1[d_1(x_i)/d_2(x_i) < 1/3]`, with
      :math:`d_k` the distance to the :math:`k`-th nearest training point, and
      ``memorized_fraction_test`` the same for :math:`\{y_j\}`, the level of fresh data;
    * ``memorized_fraction_subspace`` and ``memorized_fraction_subspace_test``: the same
      with the ratio :math:`r_i` of :func:`subspace_memorization_ratio` (default
      components), :math:`\sqrt{\delta_{\mathrm{lo}} / \delta_{\mathrm{hi}}}` with
      :math:`\delta = |P (x - z)|^2 - \frac{p}{d - p} |Q (x - z)|^2`, which flags a
      training point plus isotropic noise in high dimension and equals the pixel-space
      ratio below 32 features;
    * ``copy_gap_z`` and ``copy_gap_median_ratio`` from :func:`copy_gap`;
    * ``mmd2_median`` and ``mmd2_multiscale``: unbiased :math:`\mathrm{MMD}^2(x, y)` with the
      bandwidth :math:`\sigma` = median distance of the pooled real data
      :math:`\{z_k\} \cup \{y_j\}`, and with :math:`\sigma \times (1/4, \dots, 4)`;
    * ``energy_distance``, ``sliced_wasserstein`` (:math:`p = 2`) and ``c2st_accuracy``
      between :math:`\{x_i\}` and :math:`\{y_j\}`.

    Parameters
    ----------
    samples : array-like of shape (n_samples, n_features)
        Generated points, at least four.
    X_train : array-like of shape (n_train, n_features)
        Data the model was fitted on, at least two points.
    X_test : array-like of shape (n_test, n_features)
        Held-out data from the same law, at least four points.
    random_state : int, RandomState instance or None, default=None
        Seeds every random choice of the metrics.
    classifier : scikit-learn classifier or None, default=None
        Classifier of the two-sample test; see :func:`classifier_two_sample_test`.
    n_projections : int, default=128
        Directions of the sliced Wasserstein distance.
    working_memory : float, default=256
        Budget in MiB for one block of pairwise distances.

    Returns
    -------
    evaluation : Evaluation
        A dict of the metrics above; ``print(evaluation)`` shows them as a table.

    Raises
    ------
    ValueError
        If the inputs are not finite 2-D arrays with the same number of features, or have
        too few rows.

    Examples
    --------
    >>> import numpy as np
    >>> from wpokernel.diagnostics import evaluate_samples
    >>> rng = np.random.default_rng(0)
    >>> X_train, X_test = rng.normal(size=(500, 2)), rng.normal(size=(200, 2))
    >>> evaluate_samples(X_train[:200], X_train, X_test, random_state=0)["memorized_fraction"]
    1.0
    """
    samples = check_points(samples, _SAMPLES_NAME, min_rows=_MIN_SAMPLES)
    X_train = check_points(X_train, "X_train", min_rows=2)
    X_test = check_points(X_test, "X_test", min_rows=_MIN_SAMPLES)
    check_same_features(X_train, "X_train", X_test, "X_test")
    check_same_features(X_train, "X_train", samples, _SAMPLES_NAME)

    metric_seed = int(check_random_state(random_state).randint(_SEED_BOUND))
    bandwidth = median_heuristic(X_train, X_test, random_state=metric_seed)
    memory = {"working_memory": working_memory}
    gap = copy_gap(samples, X_train, X_test, **memory)
    return Evaluation(
        n_samples=samples.shape[0],
        **_memorization_entries(samples, X_train, X_test, working_memory),
        copy_gap_z=gap.z_score,
        copy_gap_median_ratio=gap.median_ratio,
        mmd2_median=mmd_squared(samples, X_test, bandwidth=bandwidth, **memory),
        mmd2_multiscale=mmd_squared(
            samples, X_test, bandwidth=[bandwidth * f for f in MULTISCALE_FACTORS], **memory
        ),
        energy_distance=energy_distance(samples, X_test, **memory),
        sliced_wasserstein=sliced_wasserstein(
            samples, X_test, n_projections=n_projections, random_state=metric_seed, **memory
        ),
        c2st_accuracy=classifier_two_sample_test(
            samples, X_test, classifier=classifier, random_state=metric_seed
        ).accuracy,
    )


def evaluate(
    model,
    X_train,
    X_test,
    *,
    n_samples=None,
    random_state=None,
    classifier=None,
    n_projections=128,
    working_memory=DEFAULT_WORKING_MEMORY_MB,
):
    r"""Draw samples from a fitted model and measure them, with its held-out likelihood.

    The samples are measured by :func:`evaluate_samples`; when the model has
    ``score_samples``, ``log_likelihood`` adds the held-out mean log-likelihood
    :math:`\frac1m \sum_j \log p(y_j)`.

    Parameters
    ----------
    model : fitted estimator
        Any fitted generative model with ``sample(n_samples)``; ``random_state`` is passed
        to ``sample`` when it accepts one, and a returned ``(X, labels)`` tuple is reduced
        to ``X`` (scikit-learn's :class:`~sklearn.neighbors.KernelDensity` and
        :class:`~sklearn.mixture.GaussianMixture` both work).
    X_train : array-like of shape (n_train, n_features)
        Data the model was fitted on, at least two points.
    X_test : array-like of shape (n_test, n_features)
        Held-out data from the same law, at least four points.
    n_samples : int or None, default=None
        Number of samples to draw, at least four; ``None`` draws ``n_test``.
    random_state : int, RandomState instance or None, default=None
        Seeds the samples and every random choice of the metrics.
    classifier : scikit-learn classifier or None, default=None
        Classifier of the two-sample test; see :func:`classifier_two_sample_test`.
    n_projections : int, default=128
        Directions of the sliced Wasserstein distance.
    working_memory : float, default=256
        Budget in MiB for one block of pairwise distances.

    Returns
    -------
    evaluation : Evaluation
        A dict of the metrics of :func:`evaluate_samples`, plus ``log_likelihood``;
        ``print(evaluation)`` shows them as a table.

    Raises
    ------
    TypeError
        If ``model`` has no ``sample`` method or ``n_samples`` is not an int.
    NotFittedError
        If ``model`` is an estimator (has ``fit``) that is not fitted.
    ValueError
        If the data are not finite 2-D arrays with the same number of features, or the
        model's samples are not finite points of that dimension.

    Examples
    --------
    >>> from wpokernel import EmpiricalScore
    >>> from wpokernel.datasets import make_toy, train_test_split_data
    >>> from wpokernel.diagnostics import evaluate
    >>> X_train, X_test = train_test_split_data(make_toy("moons", 600, random_state=0),
    ...                                         random_state=0)
    >>> model = EmpiricalScore(bandwidth="scott").fit(X_train)
    >>> evaluation = evaluate(model, X_train, X_test, random_state=0)
    >>> sorted(evaluation)[:3]
    ['c2st_accuracy', 'copy_gap_median_ratio', 'copy_gap_z']
    """
    _check_model(model)
    X_train = check_points(X_train, "X_train", min_rows=2)
    X_test = check_points(X_test, "X_test", min_rows=_MIN_SAMPLES)
    check_same_features(X_train, "X_train", X_test, "X_test")
    n_samples = _check_n_samples(n_samples, X_test.shape[0])

    rng = check_random_state(random_state)
    sample_seed, metric_seed = (int(seed) for seed in rng.randint(_SEED_BOUND, size=2))
    evaluation = evaluate_samples(
        _draw_samples(model, n_samples, sample_seed),
        X_train,
        X_test,
        random_state=metric_seed,
        classifier=classifier,
        n_projections=n_projections,
        working_memory=working_memory,
    )
    if callable(getattr(model, "score_samples", None)):
        evaluation["log_likelihood"] = float(np.mean(model.score_samples(X_test)))
    return evaluation
