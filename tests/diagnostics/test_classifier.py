"""Tests of the classifier two-sample test on cases with known accuracy."""

import numpy as np
import pytest
from scipy.stats import binom, norm
from sklearn.dummy import DummyClassifier
from sklearn.neighbors import KNeighborsClassifier

from wpokernel.diagnostics import classifier_two_sample_test


def test_disjoint_samples_are_told_apart_perfectly():
    # The squares are 4 apart and at most sqrt(2) wide, so every nearest neighbour of a point
    # lies in its own square. (Histogram-binned trees can misplace a threshold by one bin.)
    rng = np.random.default_rng(0)
    X, Y = rng.uniform(size=(300, 2)), rng.uniform(size=(300, 2)) + [5.0, 0.0]
    result = classifier_two_sample_test(X, Y, classifier=KNeighborsClassifier(1))
    assert result.accuracy == 1.0
    # 300 correct labels out of 300 by chance has probability 2^-300.
    np.testing.assert_allclose(result.p_value, 0.5**300, rtol=1e-6)


def test_same_law_gives_chance_accuracy():
    # Under equal laws the held-out correct count is Binomial(2000, 1/2): 4 standard errors.
    rng = np.random.default_rng(1)
    X, Y = rng.normal(size=(2000, 3)), rng.normal(size=(2000, 3))
    result = classifier_two_sample_test(X, Y, random_state=2)
    assert abs(result.accuracy - 0.5) < 4 * np.sqrt(0.25 / 2000)


def test_accuracy_stays_below_and_near_the_bayes_accuracy():
    # N(0, 1) vs N(1, 1) with equal priors: the Bayes accuracy is Phi(1/2). No classifier
    # can beat it by more than sampling noise; boosted trees come within a few points.
    rng = np.random.default_rng(3)
    n = 4000
    result = classifier_two_sample_test(rng.normal(size=(n, 1)), rng.normal(size=(n, 1)) + 1.0)
    bayes = norm.cdf(0.5)
    assert result.accuracy <= bayes + 4 * np.sqrt(bayes * (1 - bayes) / n)
    assert result.accuracy >= bayes - 0.03


def test_p_value_is_the_binomial_tail_of_the_correct_count():
    rng = np.random.default_rng(4)
    X, Y = rng.normal(size=(200, 2)), rng.normal(size=(200, 2)) + 0.3
    result = classifier_two_sample_test(X, Y, classifier=KNeighborsClassifier(15))
    n_test = 200
    n_correct = round(result.accuracy * n_test)
    np.testing.assert_allclose(result.p_value, binom.sf(n_correct - 1, n_test, 0.5), rtol=1e-9)


def test_constant_classifier_scores_exactly_one_half_on_unequal_sizes():
    # The larger sample is subsampled, so the held-out split is balanced and a classifier that
    # always answers one label is right on exactly half of it.
    rng = np.random.default_rng(5)
    classifier = DummyClassifier(strategy="most_frequent")
    result = classifier_two_sample_test(
        rng.normal(size=(10, 2)), rng.normal(size=(1000, 2)), classifier=classifier
    )
    assert result.accuracy == 0.5
    assert not hasattr(classifier, "classes_")  # the caller's classifier is cloned


def test_is_reproducible_for_a_seed():
    rng = np.random.default_rng(6)
    X, Y = rng.normal(size=(300, 2)), rng.normal(size=(300, 2)) + 0.2
    assert classifier_two_sample_test(X, Y, random_state=1) == classifier_two_sample_test(
        X, Y, random_state=1
    )


@pytest.mark.parametrize(
    ("X", "Y", "options", "match"),
    [
        (np.zeros((3, 2)), np.zeros((5, 2)), {}, "Expected X to have at least 4 rows, got 3"),
        (np.zeros((5, 2)), np.zeros((5, 3)), {}, "Expected Y to have the same number of features"),
        (np.zeros((5, 2)), np.zeros((5, 2)), {"test_size": 1.0}, "Expected test_size in"),
    ],
)
def test_bad_input_raises(X, Y, options, match):
    with pytest.raises(ValueError, match=match):
        classifier_two_sample_test(X, Y, **options)
