r"""Classifier two-sample test: can a classifier tell generated points from real ones?

Label the points of one sample 0 and of the other 1, train a classifier on part of them and
measure its accuracy on the rest [LPO2017]_. With equally many points of each label,

.. math::

    \widehat{\mathrm{acc}} = \frac{1}{n_{\mathrm{test}}} \sum_{k \in \mathrm{test}}
    \mathbf 1[\hat c(u_k) = \ell_k]

is near 1/2 when the two laws are equal (no classifier beats chance) and near 1 when they
are easy to tell apart. Under equal laws the held-out correct count is
:math:`\mathrm{Binomial}(n_{\mathrm{test}}, 1/2)`, which gives an exact one-sided p-value. The
accuracy can never exceed the Bayes accuracy
:math:`\tfrac12 + \tfrac12 \mathrm{TV}(P, Q)`.

References
----------
.. [LPO2017] D. Lopez-Paz, M. Oquab, "Revisiting Classifier Two-Sample Tests", ICLR 2017.
"""

from numbers import Real
from typing import NamedTuple

import numpy as np
from scipy.stats import binomtest
from sklearn.base import clone
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.model_selection import train_test_split
from sklearn.utils import check_random_state

from wpokernel.diagnostics._pairwise import check_points, check_same_features

__all__ = ["ClassifierTestResult", "classifier_two_sample_test"]

# A training split and a held-out split need at least two points of each label.
_MIN_POINTS_PER_SAMPLE = 4


class ClassifierTestResult(NamedTuple):
    """Outcome of :func:`classifier_two_sample_test`."""

    #: Held-out accuracy, 1/2 when the samples are indistinguishable.
    accuracy: float
    #: One-sided binomial p-value of the accuracy under equal laws.
    p_value: float


def _default_classifier(random_state):
    # Gradient-boosted trees need no feature scaling and no tuning to pick up both shifted
    # modes and thin structures; 100 rounds take about a second for 10^4 points.
    return HistGradientBoostingClassifier(early_stopping=False, random_state=random_state)


def classifier_two_sample_test(X, Y, *, classifier=None, test_size=0.5, random_state=0):
    r"""Held-out accuracy of a classifier trained to tell sample ``X`` from sample ``Y``.

    The larger sample is first subsampled to the size of the smaller, so chance level is
    exactly 1/2; the pooled points are split, stratified by label, into a training and a
    held-out part [LPO2017]_.

    Parameters
    ----------
    X : array-like of shape (n, n_features)
        First sample (e.g. generated points), at least 4 points.
    Y : array-like of shape (m, n_features)
        Second sample (e.g. held-out data), at least 4 points.
    classifier : scikit-learn classifier or None, default=None
        Unfitted classifier, cloned before use; ``None`` uses a
        :class:`~sklearn.ensemble.HistGradientBoostingClassifier`.
    test_size : float, default=0.5
        Held-out share of the pooled points, in (0, 1).
    random_state : int, RandomState instance or None, default=0
        Seeds the subsampling, the split and the default classifier.

    Returns
    -------
    result : ClassifierTestResult
        ``accuracy`` on the held-out points and its one-sided binomial ``p_value``
        (probability of at least that many correct labels by chance).

    Raises
    ------
    ValueError
        If an input is not a finite 2-D array with at least 4 rows, the feature counts
        differ, or ``test_size`` is not in (0, 1).

    Examples
    --------
    >>> import numpy as np
    >>> from wpokernel.diagnostics import classifier_two_sample_test
    >>> rng = np.random.default_rng(0)
    >>> result = classifier_two_sample_test(rng.normal(size=(200, 2)), rng.normal(size=(200, 2)) + 10)
    >>> float(result.accuracy)
    1.0
    """
    X = check_points(X, "X", min_rows=_MIN_POINTS_PER_SAMPLE)
    Y = check_points(Y, "Y", min_rows=_MIN_POINTS_PER_SAMPLE)
    check_same_features(X, "X", Y, "Y")
    if isinstance(test_size, bool) or not isinstance(test_size, Real) or not 0 < test_size < 1:
        raise ValueError(f"Expected test_size in (0, 1), got {test_size!r}.")

    rng = check_random_state(random_state)
    n_per_label = min(len(X), len(Y))
    X = X[rng.choice(len(X), n_per_label, replace=False)]
    Y = Y[rng.choice(len(Y), n_per_label, replace=False)]
    points = np.concatenate([X, Y])
    labels = np.repeat([0, 1], n_per_label)
    points_train, points_test, labels_train, labels_test = train_test_split(
        points, labels, test_size=test_size, stratify=labels, random_state=rng
    )
    model = _default_classifier(rng) if classifier is None else clone(classifier)
    model.fit(points_train, labels_train)
    n_correct = int(np.count_nonzero(model.predict(points_test) == labels_test))
    p_value = binomtest(n_correct, len(labels_test), 0.5, alternative="greater").pvalue
    return ClassifierTestResult(n_correct / len(labels_test), float(p_value))
