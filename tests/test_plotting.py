"""Tests of the figures: what is drawn is checked against brute-force computations."""

import subprocess
import sys

import numpy as np
import pytest
from matplotlib.figure import Figure
from scipy.spatial.distance import cdist

from wpokernel.plotting import (
    plot_memorization_histogram,
    plot_nearest_training_images,
    plot_pairs,
    plot_samples_2d,
)


def _rows_are_subset(rows, X):
    """Whether every row of ``rows`` is a row of ``X``."""
    return all(np.any(np.all(X == row, axis=1)) for row in rows)


def _pair_axes(fig, row, col):
    """Axes of panel (row, col), col <= row, of the lower-triangular pair plot."""
    return fig.axes[row * (row + 1) // 2 + col]


def _brute_force_nearest(samples, X_train):
    """Index of the nearest training row of each sample, by a double loop."""
    return np.array(
        [np.argmin([np.sum((x - y) ** 2) for y in X_train]) for x in samples], dtype=np.intp
    )


def _brute_force_ratios(samples, X_train):
    """d1 / d2 from the sorted full distance matrix, 0 where d2 = 0."""
    distances = np.sort(cdist(samples, X_train), axis=1)
    d1, d2 = distances[:, 0], distances[:, 1]
    return np.where(d2 > 0, d1 / np.where(d2 > 0, d2, 1.0), 0.0)


def _legend_texts(legend):
    return [text.get_text() for text in legend.get_texts()]


# -----------------------------------------------------------------------------------------
# plot_samples_2d
# -----------------------------------------------------------------------------------------


def test_samples_2d_panels_show_the_input_points_with_shared_limits():
    rng = np.random.default_rng(0)
    X_data, samples = rng.normal(size=(120, 2)), rng.normal(loc=3.0, size=(90, 2))
    fig = plot_samples_2d(X_data, samples)
    assert isinstance(fig, Figure)
    data_ax, samples_ax = fig.axes
    np.testing.assert_array_equal(data_ax.collections[0].get_offsets(), X_data)
    np.testing.assert_array_equal(samples_ax.collections[0].get_offsets(), samples)
    assert [data_ax.get_title(), samples_ax.get_title()] == ["data", "samples"]
    fig.canvas.draw()
    assert data_ax.get_xlim() == samples_ax.get_xlim()
    assert data_ax.get_ylim() == samples_ax.get_ylim()
    # Shared limits cover both sets.
    low, high = data_ax.get_xlim()
    assert low <= min(X_data[:, 0].min(), samples[:, 0].min())
    assert high >= max(X_data[:, 0].max(), samples[:, 0].max())


def test_samples_2d_mapping_gives_one_panel_per_set_in_order():
    rng = np.random.default_rng(1)
    X_data = rng.normal(size=(50, 2))
    sample_sets = {"model B": rng.normal(size=(40, 2)), "model A": rng.normal(size=(30, 2))}
    fig = plot_samples_2d(X_data, sample_sets, data_label="training data", title="moons")
    assert [ax.get_title() for ax in fig.axes] == ["training data", "model B", "model A"]
    for ax, points in zip(fig.axes, [X_data, *sample_sets.values()]):
        np.testing.assert_array_equal(ax.collections[0].get_offsets(), points)
    assert fig.get_suptitle() == "moons"


def test_samples_2d_subsample_is_seeded_subset_of_max_points_rows():
    rng = np.random.default_rng(2)
    X_data, samples = rng.normal(size=(300, 2)), rng.normal(size=(40, 2))
    fig = plot_samples_2d(X_data, samples, max_points=50, random_state=3)
    shown = np.asarray(fig.axes[0].collections[0].get_offsets())
    assert shown.shape == (50, 2)
    assert np.unique(shown, axis=0).shape[0] == 50
    assert _rows_are_subset(shown, X_data)
    assert fig.axes[0].get_title() == "data (50 of 300 shown)"
    # Sets within the limit are drawn whole.
    np.testing.assert_array_equal(fig.axes[1].collections[0].get_offsets(), samples)
    again = plot_samples_2d(X_data, samples, max_points=50, random_state=3)
    np.testing.assert_array_equal(again.axes[0].collections[0].get_offsets(), shown)


def test_samples_2d_draws_into_given_figure_and_subfigure():
    rng = np.random.default_rng(4)
    X_data = rng.normal(size=(20, 2))
    fig = Figure()
    assert plot_samples_2d(X_data, {"a": X_data, "b": X_data}, fig=fig) is fig
    assert len(fig.axes) == 3
    # One figure with a row of panels per data set, as a benchmark would draw.
    grid = Figure()
    top, bottom = grid.subfigures(2, 1)
    assert plot_samples_2d(X_data, X_data, fig=top) is top
    assert plot_samples_2d(X_data, X_data, fig=bottom) is bottom
    assert len(grid.axes) == 4


# -----------------------------------------------------------------------------------------
# plot_pairs
# -----------------------------------------------------------------------------------------


def test_pairs_lower_triangle_scatters_and_diagonal_histograms():
    rng = np.random.default_rng(5)
    X_data, samples = rng.normal(size=(150, 7)), rng.normal(loc=1.0, size=(100, 7))
    fig = plot_pairs(X_data, samples, bins=12)
    k = 5  # default: the first min(max_features=5, 7) columns
    assert len(fig.axes) == k * (k + 1) // 2
    for row in range(k):
        diagonal = _pair_axes(fig, row, row)
        both = np.concatenate([X_data[:, row], samples[:, row]])
        edges = np.linspace(both.min(), both.max(), 13)
        for patch, points in zip(diagonal.patches, (X_data, samples)):
            expected, _ = np.histogram(points[:, row], bins=edges, density=True)
            np.testing.assert_allclose(patch.get_data().values, expected, rtol=1e-12)
            np.testing.assert_allclose(patch.get_data().edges, edges, rtol=1e-12)
        for col in range(row):
            scatters = _pair_axes(fig, row, col).collections
            np.testing.assert_array_equal(scatters[0].get_offsets(), X_data[:, [col, row]])
            np.testing.assert_array_equal(scatters[1].get_offsets(), samples[:, [col, row]])
    assert _legend_texts(fig.legends[0]) == ["data", "samples"]


def test_pairs_features_pick_columns_in_order():
    rng = np.random.default_rng(6)
    X_data, samples = rng.normal(size=(40, 4)), rng.normal(size=(30, 4))
    fig = plot_pairs(X_data, samples, features=[3, 1])
    assert len(fig.axes) == 3
    np.testing.assert_array_equal(
        _pair_axes(fig, 1, 0).collections[0].get_offsets(), X_data[:, [3, 1]]
    )
    assert [_pair_axes(fig, 1, col).get_xlabel() for col in range(2)] == ["feature 3", "feature 1"]
    assert _pair_axes(fig, 1, 0).get_ylabel() == "feature 1"


def test_pairs_single_feature_is_one_histogram_with_its_legend():
    rng = np.random.default_rng(7)
    X_data, samples = rng.normal(size=(40, 3)), rng.normal(size=(30, 3))
    fig = plot_pairs(X_data, samples, features=[2], bins=5)
    (ax,) = fig.axes
    both = np.concatenate([X_data[:, 2], samples[:, 2]])
    edges = np.linspace(both.min(), both.max(), 6)
    expected, _ = np.histogram(X_data[:, 2], bins=edges, density=True)
    np.testing.assert_allclose(ax.patches[0].get_data().values, expected, rtol=1e-12)
    assert _legend_texts(ax.get_legend()) == ["data", "samples"]


def test_pairs_scatter_subsample_is_subset_but_histograms_use_all_rows():
    rng = np.random.default_rng(8)
    X_data, samples = rng.normal(size=(400, 3)), rng.normal(size=(20, 3))
    fig = plot_pairs(X_data, samples, max_points=60, bins=8)
    shown = np.asarray(_pair_axes(fig, 2, 1).collections[0].get_offsets())
    assert shown.shape == (60, 2)
    assert _rows_are_subset(shown, X_data[:, [1, 2]])
    # Every panel shows the same subsample of rows.
    np.testing.assert_array_equal(
        _pair_axes(fig, 2, 0).collections[0].get_offsets()[:, 1], shown[:, 1]
    )
    both = np.concatenate([X_data[:, 0], samples[:, 0]])
    edges = np.linspace(both.min(), both.max(), 9)
    expected, _ = np.histogram(X_data[:, 0], bins=edges, density=True)
    np.testing.assert_allclose(
        _pair_axes(fig, 0, 0).patches[0].get_data().values, expected, rtol=1e-12
    )


def test_pairs_draws_into_given_figure():
    rng = np.random.default_rng(9)
    fig = Figure()
    assert plot_pairs(rng.normal(size=(10, 3)), rng.normal(size=(10, 3)), fig=fig) is fig
    assert len(fig.axes) == 6


# -----------------------------------------------------------------------------------------
# plot_nearest_training_images
# -----------------------------------------------------------------------------------------


def test_nearest_images_match_brute_force_neighbours_and_titles():
    rng = np.random.default_rng(10)
    X_train = rng.uniform(size=(40, 12)) + 100.0
    samples = np.vstack([rng.uniform(size=(4, 12)) + 100.0, X_train[7]])
    fig = plot_nearest_training_images(samples, X_train, (3, 4), pick="first")
    n = samples.shape[0]
    assert len(fig.axes) == 2 * n
    nearest = _brute_force_nearest(samples, X_train)
    ratios = _brute_force_ratios(samples, X_train)
    for k in range(n):
        sample_ax, training_ax = fig.axes[k], fig.axes[n + k]
        np.testing.assert_array_equal(sample_ax.images[0].get_array(), samples[k].reshape(3, 4))
        np.testing.assert_array_equal(
            training_ax.images[0].get_array(), X_train[nearest[k]].reshape(3, 4)
        )
        d1 = np.linalg.norm(samples[k] - X_train[nearest[k]])
        assert sample_ax.get_title() == f"d1 = {d1:.3g}\nd1/d2 = {ratios[k]:.2f}"
    # The copy of training image 7 is found with distance and ratio exactly 0.
    assert fig.axes[n - 1].get_title() == "d1 = 0\nd1/d2 = 0.00"
    # One intensity scale for the whole grid.
    shown = np.concatenate([samples, X_train[nearest]])
    for ax in fig.axes:
        assert ax.images[0].get_clim() == (shown.min(), shown.max())


def test_nearest_images_show_first_n_images():
    rng = np.random.default_rng(11)
    X_train, samples = rng.uniform(size=(20, 6)), rng.uniform(size=(10, 6))
    fig = plot_nearest_training_images(samples, X_train, [2, 3], n_images=3, pick="first")
    assert len(fig.axes) == 6
    for k in range(3):
        np.testing.assert_array_equal(fig.axes[k].images[0].get_array(), samples[k].reshape(2, 3))
    assert len(plot_nearest_training_images(samples[:2], X_train, (2, 3)).axes) == 4


def test_nearest_images_of_sorted_samples_are_a_random_pick():
    # Samples grouped by component (as GaussianMixture.sample returns them): the first 3 are
    # all of one component, a random pick is not.
    rng = np.random.default_rng(12)
    X_train = rng.uniform(size=(20, 6))
    samples = np.repeat(np.eye(6)[:5], 4, axis=0)  # 5 "components", 4 samples each
    fig = plot_nearest_training_images(samples, X_train, (2, 3), n_images=3, random_state=7)
    expected = samples[np.random.RandomState(7).choice(20, 3, replace=False)]
    shown = np.array([ax.images[0].get_array().ravel() for ax in fig.axes[:3]])
    np.testing.assert_array_equal(shown, expected)
    assert len({tuple(row) for row in shown}) > 1
    with pytest.raises(ValueError, match=r"Expected pick in \('random', 'first'\), got 'last'"):
        plot_nearest_training_images(samples, X_train, (2, 3), pick="last")


def test_nearest_images_rgb_share_one_affine_map_and_one_channel_is_gray():
    rng = np.random.default_rng(12)
    X_train, samples = rng.normal(size=(15, 2 * 3 * 3)), rng.normal(size=(2, 2 * 3 * 3))
    fig = plot_nearest_training_images(samples, X_train, (2, 3, 3))
    nearest = X_train[_brute_force_nearest(samples, X_train)]
    shown = np.concatenate([samples, nearest])
    low, high = shown.min(), shown.max()
    for ax, row in zip(fig.axes, shown):
        np.testing.assert_allclose(
            ax.images[0].get_array(), (row.reshape(2, 3, 3) - low) / (high - low), rtol=1e-12
        )
    gray = plot_nearest_training_images(samples[:, :6], X_train[:, :6], (2, 3, 1))
    np.testing.assert_array_equal(gray.axes[0].images[0].get_array(), samples[0, :6].reshape(2, 3))


def test_nearest_images_draw_into_given_figure():
    rng = np.random.default_rng(13)
    fig = Figure()
    X_train = rng.uniform(size=(5, 4))
    assert plot_nearest_training_images(X_train[:2], X_train, (2, 2), fig=fig) is fig
    assert len(fig.axes) == 4


# -----------------------------------------------------------------------------------------
# plot_memorization_histogram
# -----------------------------------------------------------------------------------------


@pytest.mark.parametrize(("threshold", "bins"), [(1 / 3, 30), (0.5, 7)])
def test_memorization_histogram_matches_brute_force_ratios(threshold, bins):
    rng = np.random.default_rng(14)
    X_train, X_test = rng.normal(size=(80, 2)), rng.normal(size=(60, 2))
    samples = np.vstack([X_train[:25], rng.normal(size=(25, 2))])
    ax = plot_memorization_histogram(samples, X_train, X_test, threshold=threshold, bins=bins)
    edges = np.linspace(0.0, 1.0, bins + 1)
    fractions = []
    for patch, points in zip(ax.patches, (samples, X_test)):
        ratios = _brute_force_ratios(points, X_train)
        expected, _ = np.histogram(ratios, bins=edges, density=True)
        np.testing.assert_allclose(patch.get_data().values, expected, rtol=1e-10)
        np.testing.assert_allclose(patch.get_data().edges, edges)
        fractions.append(np.mean(ratios < threshold))
    texts = _legend_texts(ax.get_legend())
    assert f"{fractions[0]:.3f}" in texts[0] and texts[0].startswith("generated samples")
    assert f"{fractions[1]:.3f}" in texts[1] and texts[1].startswith("held-out data")
    assert fractions[0] >= 0.5  # the 25 copies
    np.testing.assert_array_equal(ax.lines[0].get_xdata(), [threshold, threshold])


def test_memorization_histogram_draws_into_given_axes():
    rng = np.random.default_rng(15)
    ax = Figure().subplots()
    X_train = rng.normal(size=(10, 3))
    assert plot_memorization_histogram(X_train, X_train, X_train, ax=ax) is ax
    assert len(ax.patches) == 2


# -----------------------------------------------------------------------------------------
# Shared behaviour
# -----------------------------------------------------------------------------------------


def _draw_each(rng):
    X2, X4 = rng.normal(size=(30, 2)), rng.normal(size=(30, 4))
    return {
        "samples_2d": plot_samples_2d(X2, {"a": X2 + 1.0}),
        "pairs": plot_pairs(X4, X4 + 1.0),
        "nearest_images": plot_nearest_training_images(X4[:5] + 0.1, X4, (2, 2)),
        "memorization_histogram": plot_memorization_histogram(X2, X2, X2 + 0.1).figure,
    }


def test_every_figure_saves_to_a_non_empty_png(tmp_path):
    for name, fig in _draw_each(np.random.default_rng(16)).items():
        path = tmp_path / f"{name}.png"
        fig.savefig(path)
        assert path.stat().st_size > 0


def test_module_never_imports_pyplot():
    code = (
        "import sys, numpy as np; from wpokernel.plotting import plot_samples_2d; "
        "plot_samples_2d(np.zeros((3, 2)), np.ones((3, 2))).canvas.draw(); "
        "assert 'matplotlib.pyplot' not in sys.modules"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


# -----------------------------------------------------------------------------------------
# Errors
# -----------------------------------------------------------------------------------------

_X2 = np.arange(12.0).reshape(6, 2)
_X3 = np.arange(18.0).reshape(6, 3)
_X4 = np.arange(24.0).reshape(6, 4) ** 1.5


def _figure_with_axes():
    fig = Figure()
    fig.subplots()
    return fig


@pytest.mark.parametrize(
    ("plot", "match"),
    [
        (
            lambda: plot_samples_2d(_X3, _X3),
            r"Expected X_data to hold 2-D points \(n_features = 2\), got n_features = 3",
        ),
        (
            lambda: plot_samples_2d(_X2, {"m": _X3}),
            r"Expected samples\['m'\] to have the same number of features as X_data \(2\), got 3",
        ),
        (
            lambda: plot_samples_2d(_X2, {}),
            "Expected at least one sample set in samples, got an empty mapping",
        ),
        (
            lambda: plot_samples_2d(_X2, np.ones(4)),
            "Expected samples to be a 2-D array",
        ),
        (lambda: plot_samples_2d([[np.nan, 0.0]], _X2), "Expected finite values in X_data"),
        (
            lambda: plot_samples_2d(_X2, _X2, max_points=0),
            "Expected max_points to be a positive int, got 0",
        ),
        (
            lambda: plot_samples_2d(_X2, _X2, max_points=2.5),
            "Expected max_points to be a positive int, got 2.5",
        ),
        (
            lambda: plot_samples_2d(_X2, _X2, fig=_figure_with_axes()),
            "Expected an empty figure to draw into, got one with 1 axes",
        ),
        (
            lambda: plot_samples_2d(_X2, _X2, fig="figure"),
            "Expected fig to be a matplotlib Figure, SubFigure or None, got str",
        ),
        (
            lambda: plot_pairs(_X3, _X2),
            r"Expected samples to have the same number of features as X_data \(3\), got 2",
        ),
        (
            lambda: plot_pairs(_X3, _X3, features=[0, 3]),
            r"Expected features to be distinct column indices in \[0, 3\), got \[0, 3\]",
        ),
        (
            lambda: plot_pairs(_X3, _X3, features=[1, 1]),
            r"Expected features to be distinct column indices",
        ),
        (
            lambda: plot_pairs(_X3, _X3, features=[]),
            r"Expected features to be distinct column indices",
        ),
        (
            lambda: plot_pairs(_X3, _X3, features=[0.0, 1.0]),
            r"Expected features to be distinct column indices",
        ),
        (
            lambda: plot_pairs(_X3, _X3, features=[-1]),
            r"Expected features to be distinct column indices",
        ),
        (
            lambda: plot_pairs(_X3, _X3, max_features=0),
            "Expected max_features to be a positive int, got 0",
        ),
        (
            lambda: plot_pairs(_X3, _X3, bins=True),
            "Expected bins to be a positive int, got True",
        ),
        (
            lambda: plot_pairs(_X3, _X3, max_points=-1),
            "Expected max_points to be a positive int, got -1",
        ),
        (
            lambda: plot_pairs(_X3, _X3, fig=_figure_with_axes()),
            "Expected an empty figure to draw into",
        ),
        (
            lambda: plot_nearest_training_images(_X4, _X4, (3, 3)),
            r"Expected image_shape with prod\(image_shape\) = n_features = 4, "
            r"got \(3, 3\) with 9 pixel values",
        ),
        (
            lambda: plot_nearest_training_images(_X4, _X4, (4,)),
            r"Expected image_shape to be \(height, width\) or \(height, width, channels\)",
        ),
        (
            lambda: plot_nearest_training_images(_X4, _X4, (1, 1, 4)),
            r"Expected image_shape to be \(height, width\)",
        ),
        (
            lambda: plot_nearest_training_images(_X4, _X4, (2, 2.0)),
            r"Expected image_shape to be \(height, width\)",
        ),
        (
            lambda: plot_nearest_training_images(_X4, _X4, 4),
            r"Expected image_shape to be \(height, width\)",
        ),
        (
            lambda: plot_nearest_training_images(_X4, _X4[:1], (2, 2)),
            "Expected X_train to have at least 2 rows, got 1",
        ),
        (
            lambda: plot_nearest_training_images(_X3, _X4, (2, 2)),
            r"Expected X_train to have the same number of features as samples \(3\), got 4",
        ),
        (
            lambda: plot_nearest_training_images(_X4, _X4, (2, 2), n_images=0),
            "Expected n_images to be a positive int, got 0",
        ),
        (
            lambda: plot_nearest_training_images(_X4, _X4, (2, 2), fig=_figure_with_axes()),
            "Expected an empty figure to draw into",
        ),
        (
            lambda: plot_memorization_histogram(_X2, _X2, _X2, threshold=0.0),
            r"Expected threshold in \(0, 1\], got 0.0",
        ),
        (
            lambda: plot_memorization_histogram(_X2, _X2, _X2, threshold=1.5),
            r"Expected threshold in \(0, 1\], got 1.5",
        ),
        (
            lambda: plot_memorization_histogram(_X2, _X2, _X3),
            r"Expected X_test to have the same number of features as X_train \(2\), got 3",
        ),
        (
            lambda: plot_memorization_histogram(_X3, _X2, _X2),
            r"Expected samples to have the same number of features as X_train \(2\), got 3",
        ),
        (
            lambda: plot_memorization_histogram(_X2, _X2[:1], _X2),
            "Expected X_train to have at least 2 rows, got 1",
        ),
        (
            lambda: plot_memorization_histogram(_X2, _X2, _X2, bins=0),
            "Expected bins to be a positive int, got 0",
        ),
        (
            lambda: plot_memorization_histogram(_X2, _X2, _X2, ax=Figure()),
            "Expected ax to be a matplotlib Axes or None, got Figure",
        ),
    ],
)
def test_invalid_input_raises_with_remedy_message(plot, match):
    with pytest.raises(ValueError, match=match):
        plot()


def test_invalid_input_leaves_given_figure_and_axes_empty():
    fig, ax = Figure(), Figure().subplots()
    with pytest.raises(ValueError):
        plot_samples_2d(_X2, {"m": _X3}, fig=fig)
    with pytest.raises(ValueError):
        plot_pairs(_X3, _X3, features=[5], fig=fig)
    with pytest.raises(ValueError):
        plot_nearest_training_images(_X4, _X4, (3, 3), fig=fig)
    with pytest.raises(ValueError):
        plot_memorization_histogram(_X2, _X2, _X2, threshold=2.0, ax=ax)
    assert len(fig.axes) == len(ax.patches) == len(ax.lines) == 0
