r"""Diagnostics that tell memorization from generalization, and measure sample quality.

They take arrays of points, never estimators, except :func:`evaluate`:

* memorization, against the training set: :func:`nearest_neighbor_distances`,
  :func:`memorization_ratio`, its high-dimensional form :func:`subspace_memorization_ratio`
  (which sees a training point plus noise) and :func:`copy_gap`;
* sample quality, against held-out data, with no pretrained network:
  :func:`mmd_squared` (with :func:`median_heuristic`), :func:`energy_distance`,
  :func:`sliced_wasserstein` and :func:`classifier_two_sample_test`;
* :func:`evaluate` draws samples from a fitted model and returns all of the above,
  :func:`evaluate_samples` measures samples drawn beforehand.
"""

from wpokernel.diagnostics.classifier import ClassifierTestResult, classifier_two_sample_test
from wpokernel.diagnostics.evaluation import METRICS, Evaluation, evaluate, evaluate_samples
from wpokernel.diagnostics.memorization import (
    CopyGap,
    copy_gap,
    memorization_ratio,
    nearest_neighbor_distances,
    subspace_memorization_ratio,
)
from wpokernel.diagnostics.sliced import sliced_wasserstein
from wpokernel.diagnostics.two_sample import (
    MULTISCALE_FACTORS,
    energy_distance,
    median_heuristic,
    mmd_squared,
)

__all__ = [
    "METRICS",
    "MULTISCALE_FACTORS",
    "ClassifierTestResult",
    "CopyGap",
    "Evaluation",
    "classifier_two_sample_test",
    "copy_gap",
    "energy_distance",
    "evaluate",
    "evaluate_samples",
    "median_heuristic",
    "memorization_ratio",
    "mmd_squared",
    "nearest_neighbor_distances",
    "sliced_wasserstein",
    "subspace_memorization_ratio",
]
