r"""Figures that compare generated samples with data, drawn with matplotlib's object API.

Every function builds a :class:`matplotlib.figure.Figure` with an Agg canvas and never imports
``pyplot``: no global state, display or backend choice is involved, and ``fig.savefig(path)``
works on the result. Each function draws into a given ``ax`` or ``fig`` when one is passed,
creates a figure otherwise, and returns what it drew on.

* :func:`plot_samples_2d`: scatter panels of 2-D data and of one or several sample sets, with
  shared axis limits;
* :func:`plot_pairs`: a pairwise scatter matrix of data and samples with marginal histograms;
* :func:`plot_nearest_training_images`: generated images above their nearest training images;
* :func:`plot_memorization_histogram`: histograms of the nearest-neighbour ratio of generated
  samples and of held-out data against the training set.

The last two show the memorization ratio of
:func:`wpokernel.diagnostics.memorization_ratio`,

.. math::

    r(x) = \frac{d_1(x)}{d_2(x)}, \qquad
    d_k(x) = k\text{-th smallest of } \{\, |x - y_j| : j = 1, \dots, N \,\},

with :math:`y_j` the training points: a copy of a training point has :math:`r = 0`.
"""

from collections.abc import Mapping
from numbers import Integral

import numpy as np
from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure, FigureBase
from sklearn.utils import check_random_state

from wpokernel.diagnostics._pairwise import (
    DEFAULT_WORKING_MEMORY_MB,
    check_points,
    check_same_features,
    check_working_memory,
    nearest_indices,
)
from wpokernel.diagnostics.memorization import DEFAULT_MEMORIZATION_THRESHOLD, memorization_ratio

__all__ = [
    "plot_memorization_histogram",
    "plot_nearest_training_images",
    "plot_pairs",
    "plot_samples_2d",
]

_DATA_COLOR = "C0"
_SAMPLES_COLOR = "C1"
_DEFAULT_SAMPLES_LABEL = "samples"
# Small translucent markers let thousands of overlapping points show where the mass is.
_SCATTER_STYLE = {"s": 2, "alpha": 0.6}
_PANEL_INCHES = 4.0
_PAIR_PANEL_INCHES = 2.0
_IMAGE_INCHES = 1.4
# Extra height of the image grid for the two-line titles above the samples.
_IMAGE_TITLE_INCHES = 0.6
_HISTOGRAM_SIZE_INCHES = (6.0, 4.0)
_RGB_CHANNELS = 3
_PICKS = ("random", "first")


# -----------------------------------------------------------------------------------------
# Input checks
# -----------------------------------------------------------------------------------------


def _check_positive_int(value, name):
    if isinstance(value, bool) or not isinstance(value, Integral) or value < 1:
        raise ValueError(f"Expected {name} to be a positive int, got {value!r}.")
    return int(value)


def _check_two_features(X, name):
    if X.shape[1] != 2:
        raise ValueError(
            f"Expected {name} to hold 2-D points (n_features = 2), got n_features = "
            f"{X.shape[1]}; use plot_pairs for data of other dimensions."
        )


def _check_sample_sets(samples, X_data):
    """Return ``samples`` as a dict name -> checked array with the features of ``X_data``."""
    if not isinstance(samples, Mapping):
        samples = check_points(samples, "samples")
        check_same_features(X_data, "X_data", samples, "samples")
        return {_DEFAULT_SAMPLES_LABEL: samples}
    if not samples:
        raise ValueError("Expected at least one sample set in samples, got an empty mapping.")
    sample_sets = {}
    for name, points in samples.items():
        label = str(name)
        sample_sets[label] = check_points(points, f"samples[{label!r}]")
        check_same_features(X_data, "X_data", sample_sets[label], f"samples[{label!r}]")
    return sample_sets


def _check_features(features, n_features, max_features):
    """Return the column indices to plot: ``features``, or the first ``max_features``."""
    if features is None:
        return list(range(min(max_features, n_features)))
    columns = np.asarray(features)
    if (
        columns.ndim != 1
        or columns.size == 0
        or columns.dtype.kind not in "iu"
        or np.unique(columns).size != columns.size
        or columns.min() < 0
        or columns.max() >= n_features
    ):
        raise ValueError(
            f"Expected features to be distinct column indices in [0, {n_features}), "
            f"got {features!r}."
        )
    return [int(column) for column in columns]


def _check_image_shape(image_shape, n_features):
    """Return ``image_shape`` as a tuple of ints whose product is ``n_features``."""
    try:
        shape = tuple(image_shape)
    except TypeError:
        shape = ()
    if (
        len(shape) not in (2, 3)
        or not all(isinstance(n, Integral) and not isinstance(n, bool) and n > 0 for n in shape)
        or (len(shape) == 3 and shape[2] not in (1, _RGB_CHANNELS))
    ):
        raise ValueError(
            "Expected image_shape to be (height, width) or (height, width, channels) with 1 "
            f"or 3 channels last, got {image_shape!r}."
        )
    if np.prod(shape) != n_features:
        raise ValueError(
            f"Expected image_shape with prod(image_shape) = n_features = {n_features}, got "
            f"{image_shape!r} with {int(np.prod(shape))} pixel values."
        )
    return tuple(int(n) for n in shape)


def _check_axes(ax):
    if ax is not None and not isinstance(ax, Axes):
        raise ValueError(f"Expected ax to be a matplotlib Axes or None, got {type(ax).__name__}.")


def _check_figure(fig):
    if fig is None:
        return
    if not isinstance(fig, FigureBase):
        raise ValueError(
            f"Expected fig to be a matplotlib Figure, SubFigure or None, got {type(fig).__name__}."
        )
    if fig.axes:
        raise ValueError(
            f"Expected an empty figure to draw into, got one with {len(fig.axes)} axes; pass "
            "fig=None, a new Figure or a SubFigure."
        )


# -----------------------------------------------------------------------------------------
# Figures, subsamples and nearest neighbours
# -----------------------------------------------------------------------------------------


def _new_figure(width, height):
    figure = Figure(figsize=(width, height), layout="constrained")
    # The Agg canvas renders without pyplot or a display, so savefig and canvas.draw work.
    FigureCanvasAgg(figure)
    return figure


def _subsample_rows(X, max_points, rng):
    """Return at most ``max_points`` rows of ``X``, drawn without replacement."""
    if X.shape[0] <= max_points:
        return X
    return X[rng.choice(X.shape[0], size=max_points, replace=False)]


def _as_images(rows, image_shape):
    """Reshape flat rows into images for ``imshow``: (n, h, w) gray or (n, h, w, 3) RGB."""
    images = rows.reshape(rows.shape[0], *image_shape)
    if images.ndim == 4 and images.shape[-1] == 1:
        return images[..., 0]
    if images.ndim == 4:
        # imshow needs RGB floats in [0, 1]; one affine map for all images keeps their
        # intensities comparable, as the shared vmin and vmax do for gray images.
        low, high = images.min(), images.max()
        return (images - low) / (high - low if high > low else 1.0)
    return images


# -----------------------------------------------------------------------------------------
# Drawing helpers
# -----------------------------------------------------------------------------------------


def _panel_title(label, n_shown, n_points):
    return label if n_shown == n_points else f"{label} ({n_shown} of {n_points} shown)"


def _draw_marginals(ax, data_column, samples_column, bins):
    """Draw density histograms of one feature of the data and the samples on shared bins."""
    edges = np.histogram_bin_edges(np.concatenate([data_column, samples_column]), bins=bins)
    for values, color, label in (
        (data_column, _DATA_COLOR, "data"),
        (samples_column, _SAMPLES_COLOR, _DEFAULT_SAMPLES_LABEL),
    ):
        density, _ = np.histogram(values, bins=edges, density=True)
        ax.stairs(density, edges, color=color, label=label)


def _draw_pair_grid(axes, columns, data_shown, samples_shown, X_data, samples, bins):
    """Fill the lower triangle with scatters and the diagonal with histograms."""
    for row, i in enumerate(columns):
        for col, j in enumerate(columns):
            ax = axes[row, col]
            if col > row:
                ax.remove()
            elif col == row:
                _draw_marginals(ax, X_data[:, i], samples[:, i], bins)
            else:
                # Feature j on the horizontal axis, as in the histogram above this panel.
                ax.scatter(data_shown[:, j], data_shown[:, i], color=_DATA_COLOR, **_SCATTER_STYLE)
                ax.scatter(
                    samples_shown[:, j], samples_shown[:, i], color=_SAMPLES_COLOR, **_SCATTER_STYLE
                )
        axes[row, 0].set_ylabel(f"feature {i}" if row > 0 else "density")
        axes[-1, row].set_xlabel(f"feature {i}")


# -----------------------------------------------------------------------------------------
# Public functions
# -----------------------------------------------------------------------------------------


def plot_samples_2d(
    X_data,
    samples,
    *,
    fig=None,
    max_points=5000,
    random_state=0,
    title=None,
    data_label="data",
):
    """Scatter 2-D data and one or several sample sets side by side, with shared limits.

    One panel shows the data and one panel follows per sample set, all with the same axis
    limits and an equal aspect ratio, so the sets compare point for point; a benchmark can
    draw one figure per data set with one panel per estimator. Point sets larger than
    ``max_points`` are drawn as a random subsample of ``max_points`` rows.

    Parameters
    ----------
    X_data : array-like of shape (n_points, 2)
        The data, e.g. the training set.
    samples : array-like of shape (n_samples, 2) or mapping of str to array-like
        Generated points, or a mapping from a label (a panel title, e.g. the estimator's
        name) to generated points; a single array is titled "samples".
    fig : Figure, SubFigure or None, default=None
        Empty figure to draw into; ``None`` creates one of 4 by 4 inches per panel.
    max_points : int, default=5000
        Largest number of points drawn per panel.
    random_state : int, RandomState instance or None, default=0
        Seed of the subsamples, passed to :func:`sklearn.utils.check_random_state`.
    title : str or None, default=None
        Title of the whole figure.
    data_label : str, default="data"
        Title of the data panel.

    Returns
    -------
    fig : Figure or SubFigure
        The figure drawn on, with ``1 + n_sample_sets`` axes in a row: data first, then the
        sample sets in the order of ``samples``.

    Raises
    ------
    ValueError
        If an input is not a finite 2-D array of 2-D points, ``samples`` is an empty mapping,
        ``max_points`` is not a positive int, or ``fig`` is not an empty figure.

    Examples
    --------
    >>> import numpy as np
    >>> from wpokernel.plotting import plot_samples_2d
    >>> rng = np.random.default_rng(0)
    >>> X = rng.normal(size=(500, 2))
    >>> fig = plot_samples_2d(X, {"model A": X + 0.1, "model B": 2 * X})
    >>> [ax.get_title() for ax in fig.axes]
    ['data', 'model A', 'model B']
    >>> fig.savefig("samples.png")  # doctest: +SKIP
    """
    X_data = check_points(X_data, "X_data")
    _check_two_features(X_data, "X_data")
    sample_sets = _check_sample_sets(samples, X_data)
    max_points = _check_positive_int(max_points, "max_points")
    _check_figure(fig)
    rng = check_random_state(random_state)

    panels = [(data_label, X_data), *sample_sets.items()]
    fig = _new_figure(_PANEL_INCHES * len(panels), _PANEL_INCHES) if fig is None else fig
    axes = fig.subplots(1, len(panels), sharex=True, sharey=True, squeeze=False)[0]
    for k, (ax, (label, points)) in enumerate(zip(axes, panels)):
        shown = _subsample_rows(points, max_points, rng)
        ax.scatter(shown[:, 0], shown[:, 1], color=f"C{k}", **_SCATTER_STYLE)
        ax.set_title(_panel_title(label, shown.shape[0], points.shape[0]), fontsize=10)
        ax.set_aspect("equal")
    if title is not None:
        fig.suptitle(title)
    return fig


def plot_pairs(
    X_data,
    samples,
    *,
    features=None,
    max_features=5,
    fig=None,
    max_points=2000,
    random_state=0,
    bins=20,
):
    """Pairwise scatter matrix of data and samples, with marginal histograms on the diagonal.

    For ``k`` plotted features the figure has a ``k`` by ``k`` lower-triangular grid: the panel
    in row ``r`` and column ``c < r`` scatters feature ``features[c]`` (horizontal) against
    ``features[r]`` (vertical) for the data and the samples overlaid in two colours, and the
    diagonal panel ``r`` shows density histograms of feature ``features[r]`` of both sets on
    shared bins. The empty upper triangle holds the legend. Scatters draw a random subsample of
    at most ``max_points`` rows of each set; histograms use all rows.

    Parameters
    ----------
    X_data : array-like of shape (n_points, n_features)
        The data, e.g. the training set.
    samples : array-like of shape (n_samples, n_features)
        Generated points.
    features : sequence of int or None, default=None
        Distinct column indices to plot, in order; ``None`` means the first
        ``min(max_features, n_features)`` columns.
    max_features : int, default=5
        Number of leading columns plotted when ``features`` is None.
    fig : Figure, SubFigure or None, default=None
        Empty figure to draw into; ``None`` creates one of 2 by 2 inches per panel.
    max_points : int, default=2000
        Largest number of points of each set drawn per scatter panel.
    random_state : int, RandomState instance or None, default=0
        Seed of the subsamples, passed to :func:`sklearn.utils.check_random_state`.
    bins : int, default=20
        Number of histogram bins, spanning the range of both sets.

    Returns
    -------
    fig : Figure or SubFigure
        The figure drawn on, with ``k (k + 1) / 2`` axes in row-major order of the lower
        triangle.

    Raises
    ------
    ValueError
        If an input is not a finite 2-D array, the feature counts differ, ``features`` are not
        distinct column indices, an integer parameter is not a positive int, or ``fig`` is not
        an empty figure.

    Examples
    --------
    >>> import numpy as np
    >>> from wpokernel.plotting import plot_pairs
    >>> rng = np.random.default_rng(0)
    >>> fig = plot_pairs(rng.normal(size=(300, 6)), rng.normal(size=(300, 6)), max_features=3)
    >>> len(fig.axes)
    6
    """
    X_data = check_points(X_data, "X_data")
    samples = check_points(samples, "samples")
    check_same_features(X_data, "X_data", samples, "samples")
    max_features = _check_positive_int(max_features, "max_features")
    max_points = _check_positive_int(max_points, "max_points")
    bins = _check_positive_int(bins, "bins")
    columns = _check_features(features, X_data.shape[1], max_features)
    _check_figure(fig)
    rng = check_random_state(random_state)

    data_shown = _subsample_rows(X_data, max_points, rng)
    samples_shown = _subsample_rows(samples, max_points, rng)
    k = len(columns)
    fig = _new_figure(_PAIR_PANEL_INCHES * k, _PAIR_PANEL_INCHES * k) if fig is None else fig
    axes = fig.subplots(k, k, sharex="col", squeeze=False)
    _draw_pair_grid(axes, columns, data_shown, samples_shown, X_data, samples, bins)
    handles, labels = axes[0, 0].get_legend_handles_labels()
    if k > 1:
        # The empty upper triangle has room for the legend.
        fig.legend(handles, labels, loc="upper right")
    else:
        axes[0, 0].legend(handles, labels)
    return fig


def plot_nearest_training_images(
    samples, X_train, image_shape, *, n_images=8, pick="random", random_state=0, fig=None,
    cmap="gray"
):
    r"""Show generated images above their nearest training images.

    Column ``i`` shows sample ``i`` on top and, below it, the training image :math:`y_{j(i)}`
    nearest in Euclidean distance; the title above the pair gives

    .. math::

        d_1 = |x_i - y_{j(i)}| \quad\text{and}\quad \frac{d_1}{d_2},

    the memorization ratio of :func:`wpokernel.diagnostics.memorization_ratio`. A copy of a
    training image shows the same picture twice with :math:`d_1 = 0` and ratio 0. The nearest
    images are found by blocked matrix products, and :math:`d_1` is recomputed from the
    differences, so it is exact. Gray images share one intensity scale, and RGB images one
    affine map onto [0, 1], so brightness compares across the grid.

    Parameters
    ----------
    samples : array-like of shape (n_samples, n_features)
        Generated images, flattened in C order.
    X_train : array-like of shape (n_train, n_features)
        Training images, flattened the same way; at least two.
    image_shape : tuple of int
        ``(height, width)`` or ``(height, width, channels)`` with 1 or 3 channels last, and
        ``prod(image_shape) == n_features``.
    n_images : int, default=8
        Number of samples shown (all of them, in order, if there are fewer).
    pick : {"random", "first"}, default="random"
        Which samples are shown: ``n_images`` drawn at random without replacement
        (``check_random_state(random_state).choice(n_samples, n_images, replace=False)``), so
        that samples that come sorted (``GaussianMixture.sample`` returns them grouped by
        component) still show the whole model; or the first ``n_images``, e.g. to show the
        most memorized ones after sorting them by ratio,
        ``samples[np.argsort(memorization_ratio(samples, X_train)[1])]``.
    random_state : int, RandomState instance or None, default=0
        Seed of ``pick="random"``.
    fig : Figure, SubFigure or None, default=None
        Empty figure to draw into; ``None`` creates one sized for the grid.
    cmap : str or Colormap, default="gray"
        Colour map of gray images; RGB images ignore it.

    Returns
    -------
    fig : Figure or SubFigure
        The figure drawn on, with a 2 by ``n_shown`` grid of axes: the samples in the first
        row, their nearest training images in the second.

    Raises
    ------
    ValueError
        If an input is not a finite 2-D array, the feature counts differ, ``X_train`` has
        fewer than two rows, ``image_shape`` does not match ``n_features``, ``n_images`` is
        not a positive int, ``pick`` is unknown, or ``fig`` is not an empty figure.

    Examples
    --------
    >>> import numpy as np
    >>> from wpokernel.plotting import plot_nearest_training_images
    >>> X_train = np.random.default_rng(0).uniform(size=(100, 64))
    >>> fig = plot_nearest_training_images(X_train[:3], X_train, (8, 8), pick="first")
    >>> fig.axes[0].get_title()
    'd1 = 0\nd1/d2 = 0.00'
    """
    samples = check_points(samples, "samples")
    X_train = check_points(X_train, "X_train", min_rows=2)
    check_same_features(samples, "samples", X_train, "X_train")
    image_shape = _check_image_shape(image_shape, samples.shape[1])
    n_images = _check_positive_int(n_images, "n_images")
    if pick not in _PICKS:
        raise ValueError(f"Expected pick in {_PICKS}, got {pick!r}.")
    _check_figure(fig)

    shown = samples[:n_images]
    if pick == "random" and len(samples) > n_images:
        shown = samples[check_random_state(random_state).choice(len(samples), n_images,
                                                                replace=False)]
    budget_bytes = check_working_memory(DEFAULT_WORKING_MEMORY_MB)
    nearest = X_train[nearest_indices(shown, X_train, 1, budget_bytes)[:, 0]]
    # From differences, not the matrix-product formula, so a copy shows d1 = 0 exactly.
    d1 = np.sqrt(np.einsum("id,id->i", shown - nearest, shown - nearest))
    _, ratios = memorization_ratio(shown, X_train)
    images = _as_images(np.concatenate([shown, nearest]), image_shape)  # (2 n, h, w[, 3])

    n = shown.shape[0]
    size = (_IMAGE_INCHES * n, 2 * _IMAGE_INCHES + _IMAGE_TITLE_INCHES)
    fig = _new_figure(*size) if fig is None else fig
    axes = fig.subplots(2, n, squeeze=False)
    vmin, vmax = images.min(), images.max()
    for k, (ax, image) in enumerate(zip(axes.ravel(), images)):
        ax.imshow(image, cmap=cmap, vmin=vmin, vmax=vmax)
        ax.set_xticks([])
        ax.set_yticks([])
        if k < n:
            ax.set_title(f"d1 = {d1[k]:.3g}\nd1/d2 = {ratios[k]:.2f}", fontsize=9)
    axes[0, 0].set_ylabel("sample")
    axes[1, 0].set_ylabel("nearest training")
    return fig


def plot_memorization_histogram(
    samples, X_train, X_test, *, threshold=DEFAULT_MEMORIZATION_THRESHOLD, bins=30, ax=None
):
    r"""Histograms of the memorization ratio of generated samples and of held-out data.

    The arrays come in the order of every diagnostic, ``(samples, X_train, X_test)``
    (:func:`wpokernel.diagnostics.copy_gap`). Both sets are compared with the training set: for each point :math:`x` the ratio
    :math:`r(x) = d_1(x) / d_2(x)` of the distances to its nearest and second-nearest training
    points (:func:`wpokernel.diagnostics.memorization_ratio`). The two density histograms
    share ``bins`` equal bins on [0, 1]; a dashed line marks ``threshold``, and the legend gives
    each set's memorized fraction :math:`\frac1n \sum_i \mathbf 1[r(x_i) < \tau]`. Held-out
    data shows what a model that generalizes should match; copies pile up at 0.

    Parameters
    ----------
    samples : array-like of shape (n_samples, n_features)
        Generated points.
    X_train : array-like of shape (n_train, n_features)
        Training points; at least two.
    X_test : array-like of shape (n_test, n_features)
        Held-out data, not used for training.
    threshold : float, default=1/3
        Ratio :math:`\tau` in (0, 1] below which a point counts as memorized.
    bins : int, default=30
        Number of equal bins on [0, 1].
    ax : Axes or None, default=None
        Axes to draw into; ``None`` creates a figure with one axes.

    Returns
    -------
    ax : Axes
        The axes drawn on: two step histograms (``ax.patches``, samples first), the
        threshold line and a legend.

    Raises
    ------
    ValueError
        If an input is not a finite 2-D array, the feature counts differ, ``X_train`` has
        fewer than two rows, ``threshold`` is not in (0, 1], ``bins`` is not a positive int,
        or ``ax`` is not an Axes.

    Examples
    --------
    >>> import numpy as np
    >>> from wpokernel.plotting import plot_memorization_histogram
    >>> rng = np.random.default_rng(0)
    >>> X_train, X_test = rng.normal(size=(200, 2)), rng.normal(size=(200, 2))
    >>> ax = plot_memorization_histogram(X_train[:50], X_train, X_test)
    >>> ax.get_legend().get_texts()[0].get_text()
    'generated samples: 1.000 memorized'
    """
    X_train = check_points(X_train, "X_train", min_rows=2)
    sets = {
        "generated samples": check_points(samples, "samples"),
        "held-out data": check_points(X_test, "X_test"),
    }
    check_same_features(X_train, "X_train", sets["generated samples"], "samples")
    check_same_features(X_train, "X_train", sets["held-out data"], "X_test")
    bins = _check_positive_int(bins, "bins")
    _check_axes(ax)
    results = {
        label: memorization_ratio(points, X_train, threshold) for label, points in sets.items()
    }

    ax = _new_figure(*_HISTOGRAM_SIZE_INCHES).subplots() if ax is None else ax
    edges = np.linspace(0.0, 1.0, bins + 1)
    for (label, (fraction, ratios)), color in zip(results.items(), (_SAMPLES_COLOR, _DATA_COLOR)):
        density, _ = np.histogram(ratios, bins=edges, density=True)
        ax.stairs(density, edges, color=color, label=f"{label}: {fraction:.3f} memorized")
    ax.axvline(threshold, color="k", linestyle="--", label=f"threshold {threshold:.3g}")
    ax.set_xlim(0.0, 1.0)
    ax.set_xlabel("d1 / d2, nearest over second-nearest training distance")
    ax.set_ylabel("density")
    ax.legend()
    return ax
