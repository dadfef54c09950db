r"""Diagnostics that tell memorization from generalization.

They take arrays of points only, never estimators:

* :func:`nearest_neighbor_distances` and :func:`memorization_ratio` compare generated points
  with the training set;
* :func:`energy_distance` compares two samples, e.g. generated points and held-out data.
"""

from wpokernel.diagnostics.memorization import memorization_ratio, nearest_neighbor_distances
from wpokernel.diagnostics.two_sample import energy_distance

__all__ = ["energy_distance", "memorization_ratio", "nearest_neighbor_distances"]
