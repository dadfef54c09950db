"""Tests of evaluate: each entry against the direct metric call, and the model adapters."""

import numpy as np
import pytest
from sklearn.exceptions import NotFittedError
from sklearn.mixture import GaussianMixture
from sklearn.neighbors import KernelDensity

from wpokernel.diagnostics import (
    METRICS,
    copy_gap,
    energy_distance,
    evaluate,
    median_heuristic,
    memorization_ratio,
    mmd_squared,
    subspace_memorization_ratio,
)
from wpokernel.diagnostics.evaluation import UNBIASED_NOTE


class _CopyingModel:
    """Returns the first training rows: a deterministic model that memorizes."""

    def __init__(self, X_train):
        self.X_train_ = np.asarray(X_train)

    def sample(self, n_samples=1):
        return self.X_train_[:n_samples]


class _GaussianModel:
    """Draws fresh N(0, I) points: the true law of the test data below."""

    def __init__(self, n_features, output=None):
        self.n_features_in_ = n_features
        self.output = output

    def sample(self, n_samples=1, random_state=None):
        if self.output is not None:
            return self.output
        return np.random.default_rng(random_state).normal(size=(n_samples, self.n_features_in_))


@pytest.fixture
def gaussian_data():
    rng = np.random.default_rng(0)
    return rng.normal(size=(400, 2)), rng.normal(size=(300, 2))


def test_entries_equal_direct_metric_calls_for_a_deterministic_model(gaussian_data):
    X_train, X_test = gaussian_data
    evaluation = evaluate(_CopyingModel(X_train), X_train, X_test, n_samples=250, random_state=0)
    samples = X_train[:250]
    bandwidth = median_heuristic(X_train, X_test)  # 700 pooled points: exact, no subsampling
    gap = copy_gap(samples, X_train, X_test)
    assert evaluation["n_samples"] == 250
    assert evaluation["memorized_fraction"] == 1.0
    assert evaluation["memorized_fraction_test"] == memorization_ratio(X_test, X_train)[0]
    # Two features: the subspace measure keeps them all and is the pixel-space ratio.
    assert evaluation["memorized_fraction_subspace"] == 1.0
    assert evaluation["memorized_fraction_subspace_test"] == evaluation["memorized_fraction_test"]
    assert evaluation["copy_gap_z"] == gap.z_score
    assert evaluation["copy_gap_median_ratio"] == 0.0
    np.testing.assert_allclose(
        evaluation["mmd2_median"], mmd_squared(samples, X_test, bandwidth=bandwidth), rtol=1e-12
    )
    np.testing.assert_allclose(
        evaluation["energy_distance"], energy_distance(samples, X_test), rtol=1e-12
    )
    assert "log_likelihood" not in evaluation


def test_a_model_of_the_true_law_looks_like_fresh_data(gaussian_data):
    X_train, X_test = gaussian_data
    evaluation = evaluate(_GaussianModel(2), X_train, X_test, n_samples=2000, random_state=1)
    # Binomial standard errors of fractions and of the held-out accuracy (600 test points).
    fraction_test = evaluation["memorized_fraction_test"]
    assert abs(evaluation["memorized_fraction"] - fraction_test) < 4 * np.sqrt(
        fraction_test * (1 - fraction_test) * (1 / 2000 + 1 / 300)
    )
    assert abs(evaluation["c2st_accuracy"] - 0.5) < 4 * np.sqrt(0.25 / 600)
    assert abs(evaluation["copy_gap_z"]) < 4
    for name in ("mmd2_median", "mmd2_multiscale", "energy_distance"):
        assert abs(evaluation[name]) < 0.01, name


def test_is_reproducible_for_a_seed(gaussian_data):
    X_train, X_test = gaussian_data
    model = _GaussianModel(2)
    first = evaluate(model, X_train, X_test, random_state=3)
    assert evaluate(model, X_train, X_test, random_state=3) == first
    assert evaluate(model, X_train, X_test, random_state=4) != first


def test_accepts_scikit_learn_density_models(gaussian_data):
    X_train, X_test = gaussian_data
    mixture = GaussianMixture(2, random_state=0).fit(X_train)
    kde = KernelDensity(bandwidth=0.3).fit(X_train)
    for model in (mixture, kde):
        evaluation = evaluate(model, X_train, X_test, n_samples=100, random_state=0)
        assert evaluation["n_samples"] == 100
        # GaussianMixture.score is the mean log-likelihood, KernelDensity.score the sum.
        np.testing.assert_allclose(
            evaluation["log_likelihood"], np.mean(model.score_samples(X_test)), rtol=1e-12
        )
    np.testing.assert_allclose(
        evaluate(mixture, X_train, X_test, random_state=0)["log_likelihood"],
        mixture.score(X_test),
        rtol=1e-12,
    )


def test_table_lists_every_metric(gaussian_data):
    X_train, X_test = gaussian_data
    evaluation = evaluate(KernelDensity(bandwidth=0.3).fit(X_train), X_train, X_test)
    table = str(evaluation)
    assert table == evaluation.to_table()
    assert len(table.splitlines()) == len(METRICS) + 3  # header, rule and the note
    for name, value in evaluation.items():
        assert METRICS[name][0] in table
        assert f"{value:.4g}" in table
    # Unbiased estimates can be negative beside their ideal 0: the table says so.
    assert table.splitlines()[-1] == UNBIASED_NOTE
    for name in ("mmd2_median", "mmd2_multiscale", "energy_distance"):
        row = next(line for line in table.splitlines() if line.startswith(METRICS[name][0]))
        assert row.endswith("0*")


def test_bad_models_raise(gaussian_data):
    X_train, X_test = gaussian_data
    with pytest.raises(TypeError, match="Expected a generative model with a sample"):
        evaluate(object(), X_train, X_test)
    with pytest.raises(NotFittedError):
        evaluate(KernelDensity(), X_train, X_test)
    with pytest.raises(ValueError, match="Expected finite values in the samples drawn"):
        evaluate(_GaussianModel(2, output=np.full((5, 2), np.nan)), X_train, X_test)
    with pytest.raises(ValueError, match="Expected the samples drawn from the model to have"):
        evaluate(_GaussianModel(2, output=np.zeros((5, 3))), X_train, X_test)


@pytest.mark.parametrize(
    ("options", "error", "match"),
    [
        ({"n_samples": 2}, ValueError, "Expected n_samples >= 4, got 2"),
        ({"n_samples": 10.0}, TypeError, "Expected n_samples to be an int or None"),
    ],
)
def test_bad_options_raise(gaussian_data, options, error, match):
    X_train, X_test = gaussian_data
    with pytest.raises(error, match=match):
        evaluate(_GaussianModel(2), X_train, X_test, **options)


def test_bad_data_raise(gaussian_data):
    X_train, X_test = gaussian_data
    with pytest.raises(ValueError, match="Expected X_test to have the same number of features"):
        evaluate(_GaussianModel(2), X_train, X_test[:, :1])
    with pytest.raises(ValueError, match="Expected X_test to have at least 4 rows, got 3"):
        evaluate(_GaussianModel(2), X_train, X_test[:3])


def test_evaluate_samples_measures_given_points_like_evaluate(gaussian_data):
    from wpokernel.diagnostics import evaluate_samples

    X_train, X_test = gaussian_data
    samples = X_train[:250]
    by_model = evaluate(_CopyingModel(X_train), X_train, X_test, n_samples=250, random_state=0)
    by_samples = evaluate_samples(samples, X_train, X_test, random_state=5)
    assert evaluate_samples(samples, X_train, X_test, random_state=5) == by_samples
    # Entries without a random choice agree whatever the seeds.
    for name in ("memorized_fraction", "copy_gap_z", "mmd2_median", "energy_distance"):
        assert by_samples[name] == by_model[name], name
    with pytest.raises(ValueError, match="Expected the samples drawn from the model to have at"):
        evaluate_samples(samples[:3], X_train, X_test)


def test_subspace_entries_equal_direct_calls_in_high_dimension():
    # 40 features: the default subspace keeps 20 components, and noisy copies that the pixel
    # ratio misses are flagged there.
    from wpokernel.diagnostics import evaluate_samples

    rng = np.random.default_rng(1)
    X = rng.normal(size=(700, 4)) @ rng.normal(size=(4, 40))
    X_train, X_test = X[:500], X[500:]
    samples = X_train[:200] + 0.3 * rng.normal(size=(200, 40))
    evaluation = evaluate_samples(samples, X_train, X_test, random_state=0)
    assert evaluation["memorized_fraction_subspace"] == subspace_memorization_ratio(
        samples, X_train)[0]
    assert evaluation["memorized_fraction_subspace_test"] == subspace_memorization_ratio(
        X_test, X_train)[0]
    assert evaluation["memorized_fraction"] < 0.5 < evaluation["memorized_fraction_subspace"]
    assert "~{:.4g} (test)".format(evaluation["memorized_fraction_subspace_test"]) in str(
        evaluation)
