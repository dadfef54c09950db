r"""The local-PCA initialization of :class:`~wpokernel.WPOKernelScore`, chosen on validation data.

Each center :math:`z_k` gets the covariance

.. math::

    \hat C_k = \alpha\, \hat L_k + (\sigma^2 + c_{\min} / \min_j f_j) \operatorname{diag}(f),

(for ``"full"`` and ``"diagonal"``, whose profile is ones: :math:`\alpha \hat L_k + (\sigma^2 +
c_{\min}) I`), with :math:`\hat L_k` the head's projection of the local covariance of the center's
:math:`m` nearest neighbours (the rank-:math:`r` local factors for ``"lowrank"``,
:mod:`wpokernel.local_covariance`), its eigenvalues clipped at the ceiling, :math:`c_{\min}`
the covariance floor and :math:`f` the floor's profile: ones (isotropic), or the data's
per-feature variances shrunk towards their mean, :math:`f \propto (1 - \lambda) v + \lambda
\bar v`, scaled to a largest entry of 1 — a floor that serves features of very different
spreads (the border and the centre pixels of an image) at once.

The rank :math:`r`, the neighbourhood size :math:`m`, the profile's shrinkage :math:`\lambda`
and the scales :math:`(\alpha, \sigma^2)` that are not given are chosen by the validation
log-likelihood of the mixture, searched in stages so that the cost stays a few dozen mixture
evaluations on at most 512 validation points (for ``"lowrank"``, one product of those
points with the factors per group of candidates that share the neighbourhood and the
profile, :mod:`wpokernel.neural.local_pairs`): first :math:`(r, m)` with the scale
:math:`\sigma`, then the profile with :math:`\sigma`, then :math:`\alpha` and :math:`\sigma`
again at the best of those.
"""

from typing import NamedTuple

import numpy as np
import torch

from ..local_covariance import (
    local_covariances,
    local_factors,
    local_neighbors,
    local_variances,
)
from ..neural import HEADS
from ..neural.factor_network import calibrated_scales, floor_offset, squared_column_norms
from ..neural.local_pairs import mixture_log_densities
from ..reductions import mixture_moments

__all__ = ["Initialization", "floor_profile", "initialize"]

_ALPHA_GRID = np.geomspace(0.0625, 4.0, 7)
# The floor's standard deviation sigma relative to the data's spread (1 in these coordinates).
_SIGMA_GRID = np.geomspace(1e-3, 1.0, 10)
_SHRINKAGE_GRID = (0.0, 0.001, 0.01, 0.1)
_RANK_GRID = (10, 20)
_NEIGHBOR_GRID = (20, 40)
# Validation points scored per candidate: enough to rank candidates, far fewer than the data.
_MAX_CALIBRATION_POINTS = 512
# Storage of the local factors: half the memory of float64 at image scale, and a rounding
# (6e-8 relative) far below their sampling error; every product with them is in float64.
_FACTOR_DTYPE = np.float32
# Without validation points: the local covariances as they are, over a floor of 0.1 spreads.
_DEFAULT_SCALES = (1.0, 0.1**2)


class Initialization(NamedTuple):
    """The chosen initialization: its settings, the head and the target covariances."""

    rank: int
    n_neighbors: int
    shrinkage: object  # float, or None for the isotropic floor
    profile: object  # ndarray of shape (n_features,), or None
    alpha: float
    variance: float
    log_likelihood: float
    head: object
    target: object  # the CovarianceStructure of the centers


def floor_profile(X, shrinkage):
    r"""The floor's profile :math:`f \propto (1 - \lambda) v + \lambda \bar v`, largest entry 1.

    Parameters
    ----------
    X : ndarray of shape (n_samples, n_features)
        Data (standardized: :math:`\bar v = 1`).
    shrinkage : float in (0, 1]
        :math:`\lambda`; 1 is the isotropic profile.

    Returns
    -------
    ndarray of shape (n_features,)
    """
    variances = X.var(axis=0)
    profile = (1.0 - shrinkage) * variances + shrinkage * variances.mean()
    return profile / profile.max()


class _Search:
    """Scores candidates on the calibration points, one neighbourhood's statistics in memory.

    A group of candidates shares the neighbourhood size and the floor profile; for
    ``"lowrank"`` it is scored in one pass of :func:`~wpokernel.neural.local_pairs.
    mixture_log_densities`, whose :math:`O(d r)`-per-pair statistics serve every rank, scale
    and floor variance of the group, so the search costs a few matrix products of the
    calibration points with the factors, not one per candidate.
    """

    def __init__(self, structure, X_fit, X_cal, center_rows, centers, floor, ceiling, backend,
                 max_rank, max_neighbors):
        self.structure, self.X_fit, self.X_cal = structure, X_fit, X_cal
        self.center_rows, self.centers = center_rows, centers
        self.floor, self.ceiling, self.backend = floor, ceiling, backend
        self.max_rank, self.statistic = max_rank, (None, None)
        self.max_neighbors, self.neighbors = max_neighbors, None

    def part(self, head, rank, n_neighbors):
        """The head's local statistic; factors are computed once at the largest rank tried,
        whose leading columns are the factors of every smaller rank. Only the last
        neighbourhood's statistic is kept: its memory is K d r."""
        if self.statistic[0] != n_neighbors:
            self.statistic = (None, None)  # freed before the next one is computed
            if head.local_statistic == "factors":
                if self.neighbors is None:  # one search for every neighbourhood size
                    self.neighbors = local_neighbors(self.X_fit, self.center_rows,
                                                     self.max_neighbors)
                rank_cap = min(self.max_rank, n_neighbors)
                part = local_factors(self.X_fit, self.center_rows, n_neighbors, rank_cap,
                                     dtype=_FACTOR_DTYPE, neighbors=self.neighbors).factors
            elif head.local_statistic == "variances":
                part = local_variances(self.X_fit, self.center_rows, n_neighbors)
            else:
                part = local_covariances(self.X_fit, self.center_rows, n_neighbors)
            self.statistic = (n_neighbors, part)
        part = self.statistic[1]
        return part[:, :, :rank] if head.local_statistic == "factors" else part

    def head(self, rank, shrinkage):
        profile = None if shrinkage is None else floor_profile(self.X_fit, shrinkage)
        return profile, HEADS[self.structure](self.X_fit.shape[1], rank, profile)

    def build(self, rank, n_neighbors, shrinkage, alpha, variance, *, last=False):
        """The candidate's profile, head and structure; ``last``: the search is over, and
        the low-rank structure takes the kept factors themselves (no second copy)."""
        profile, head = self.head(rank, shrinkage)
        part = self.part(head, rank, n_neighbors)
        if not (last and head.local_statistic == "factors"):
            return profile, head, head.local_structure(part, alpha, variance, self.floor,
                                                       self.ceiling)
        self.statistic = (None, None)
        # Leading columns of a larger rank are a strided view: copied, and the rest freed.
        part = np.ascontiguousarray(part)
        return profile, head, head.local_structure(part, alpha, variance, self.floor,
                                                   self.ceiling, in_place=True)

    def _scores(self, candidates):
        """Mean calibration log-likelihoods of candidates sharing (n_neighbors, shrinkage)."""
        if self.structure != "lowrank":
            return [float(mixture_moments(self.X_cal, self.centers, self.build(*c)[2],
                                          backend=self.backend).log_density.mean())
                    for c in candidates]
        _, n_neighbors, shrinkage = candidates[0][:3]
        profile, head = self.head(max(c[0] for c in candidates), shrinkage)
        factors = self.part(head, head.rank, n_neighbors)
        eigenvalues = squared_column_norms(factors)  # (K, r): the columns are orthogonal
        # The head's local structures (floored_lowrank) as scalings of the same factors.
        scalings = [(variance + floor_offset(profile, self.floor),
                     torch.as_tensor(calibrated_scales(eigenvalues[:, :rank], alpha, self.ceiling)))
                    for rank, _, _, alpha, variance in candidates]
        densities = mixture_log_densities(
            torch.as_tensor(self.X_cal), torch.as_tensor(self.centers), torch.as_tensor(factors),
            None if profile is None else torch.as_tensor(profile), scalings)
        return densities.mean(1).tolist()

    def best(self, candidates):
        """The best of ``candidates`` (rank, n_neighbors, shrinkage, alpha, variance)."""
        groups = {}
        for candidate in candidates:
            groups.setdefault(candidate[1:3], []).append(candidate)
        scored = [item for group in groups.values() for item in zip(self._scores(group), group)]
        return max(scored, key=lambda item: item[0])

    def result(self, log_likelihood, candidate):
        profile, head, target = self.build(*candidate, last=True)
        return Initialization(*candidate[:3], profile, *candidate[3:], log_likelihood, head, target)


def initialize(structure, X_fit, X_val, center_rows, centers, *, ranks, neighbors, shrinkages,
               floor, ceiling, backend, rng):
    """Choose the initialization on the validation points (module docstring).

    ``centers`` are ``X_fit[center_rows]``; ``ranks``, ``neighbors`` and ``shrinkages`` the
    candidate values (one each where the estimator's parameter fixed it; ``None`` in
    ``shrinkages`` is the isotropic floor).

    Returns
    -------
    Initialization
    """
    if len(X_val) > _MAX_CALIBRATION_POINTS:
        X_val = X_val[np.sort(rng.choice(len(X_val), _MAX_CALIBRATION_POINTS, replace=False))]
    search = _Search(structure, X_fit, X_val, center_rows, centers, floor, ceiling, backend,
                     max(ranks), max(neighbors))
    if len(X_val) == 0:
        candidate = (ranks[0], neighbors[0], shrinkages[0], *_DEFAULT_SCALES)
        return search.result(np.nan, candidate)
    sigmas = [(1.0, s**2) for s in _SIGMA_GRID]
    # One neighbourhood size at a time (each group is scored before the next is computed).
    _, best = search.best([(r, m, shrinkages[0], *scales) for m in neighbors for r in ranks
                           for scales in sigmas])
    _, best = search.best([(*best[:2], shrinkage, *scales) for shrinkage in shrinkages
                           for scales in sigmas])
    _, best = search.best([(*best[:3], alpha, best[4]) for alpha in _ALPHA_GRID])
    return search.result(*search.best([(*best[:4], s**2) for s in _SIGMA_GRID]))
