r"""The local-PCA initialization of :class:`~wpokernel.WPOKernelScore`, chosen on validation data.

Each center :math:`z_k` gets the covariance

.. math::

    \hat C_k = \alpha\, \hat L_k + (\sigma^2 + c_{\min} / \min_j f_j) \operatorname{diag}(f),

(for ``"full"`` and ``"diagonal"``, whose profile is ones: :math:`\alpha \hat L_k + (\sigma^2 +
c_{\min}) I`), with :math:`\hat L_k` the head's projection of the local covariance of the center's
:math:`m` nearest neighbours (the rank-:math:`r` local factors for ``"lowrank"``,
:mod:`wpokernel.local_covariance`), its eigenvalues clipped at the ceiling, :math:`c_{\min}`
the covariance floor and :math:`f` the floor's profile (``"lowrank"`` only, besides ones):

* ``"isotropic"``: ones;
* ``"diagonal"``: the data's per-feature variances shrunk towards their mean,
  :math:`f \propto (1 - \lambda) v + \lambda \bar v`, scaled to a largest entry of 1 — a
  floor that serves features of very different spreads (the border and the centre pixels of
  an image) at once;
* ``"local"``: one profile per center (:math:`f_k` in place of :math:`f`), the variances its
  neighbourhood leaves out of the local factors plus a share :math:`\mu` of the data's
  (shrunk by :math:`10^{-3}`, so that no entry is zero),
  :math:`f_k = \operatorname{diag}(\hat C_k) - \sum_{l \le \bar r} \lambda_{kl} v_{kl}^2
  + \mu ((1 - 10^{-3}) v + 10^{-3} \bar v)`, with :math:`\bar r` the largest rank searched —
  a floor for features that are constant near some centers and not near others (a pixel
  always dark in one digit's neighbourhood and often lit in another's), which no shared
  profile can serve.

The rank :math:`r`, the neighbourhood size :math:`m`, the profile (its kind and its weight
:math:`\lambda` or :math:`\mu`) and the scales :math:`(\alpha, \sigma^2)` that are not given
are chosen by the validation log-likelihood of the mixture on at most 512 validation points.

* ``"lowrank"``: searched in stages so that the cost stays a few dozen mixture evaluations
  (one product of those points with the factors per group of candidates that share the
  neighbourhood and the profile, :mod:`wpokernel.neural.local_pairs`): first :math:`(r, m)`
  with the scale :math:`\sigma`, then the profile with :math:`\sigma`, then :math:`\alpha`
  and :math:`\sigma` again at the best of those.
* ``"full"`` and ``"diagonal"``: every :math:`(m, \alpha, \sigma)` of the grids, then
  :math:`(\alpha, \sigma)` within half a grid step of the best
  (:func:`eigenbasis_log_likelihoods`: one eigendecomposition of the local covariances per
  :math:`m` serves every scale). A staged search fixes :math:`\alpha = 1` while it chooses
  :math:`m`, and so misses the wide neighbourhoods under a small :math:`\alpha` (a mildly
  anisotropic kernel) that low-dimensional data often prefer.
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

__all__ = ["Initialization", "floor_candidates", "floor_profile", "initialize",
           "local_floor_profiles"]

_ALPHA_GRID = np.geomspace(0.0625, 4.0, 7)
# The floor's standard deviation sigma relative to the data's spread (1 in these coordinates).
_SIGMA_GRID = np.geomspace(1e-3, 1.0, 10)
# The dense structures' last stage: alpha and sigma within half a grid step of the best.
_ALPHA_STEPS = (_ALPHA_GRID[1] / _ALPHA_GRID[0]) ** np.linspace(-0.5, 0.5, 5)
_SIGMA_STEPS = (_SIGMA_GRID[1] / _SIGMA_GRID[0]) ** np.linspace(-0.5, 0.5, 5)
# For a local profile, sigma relative to the neighbourhood's own left-out spread (1: as it is).
_LOCAL_SIGMA_GRID = np.geomspace(0.5, 4.0, 7)
_SHRINKAGE_GRID = (0.0, 0.001, 0.01, 0.1)
# Share mu of the data's variances in a local profile.
_LOCAL_WEIGHT_GRID = (1e-6, 1e-4, 1e-2, 1e-1)
# Shrinkage of the data's variances in a local profile: no entry is zero, even for a feature
# constant in the data.
_LOCAL_SHRINKAGE = 1e-3
# Centers whose local profile is corrected at once.
_LOCAL_BLOCK = 4096
_RANK_GRID = (10, 20)
_NEIGHBOR_GRID = (20, 40)
# The dense structures' neighbourhoods: their d x d local covariance (d <= 16 under "auto")
# has up to d(d + 1)/2 entries, which 40 neighbours estimate poorly at d = 6, and a wide
# neighbourhood under a small alpha (a mildly anisotropic kernel) is what 2-D toys prefer.
_DENSE_NEIGHBOR_GRID = (20, 40, 80, 160)
# Bytes of the (points, centers, features) coordinates of one block of the dense search.
_DENSE_BLOCK_BYTES = 2**26
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
    floor: str  # "isotropic", "diagonal" or "local"
    shrinkage: object  # lambda ("diagonal"), mu ("local"), or None ("isotropic")
    profile: object  # ndarray of shape (n_features,) or (n_centers, n_features), or None
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


def local_floor_profiles(X, center_index, n_neighbors, factors, neighbors, weight):
    r"""Profiles :math:`f_k` of the ``"local"`` floor (module docstring), one per center.

    Parameters
    ----------
    X : ndarray of shape (n_samples, n_features)
        Data (standardized).
    center_index : ndarray of shape (n_centers,)
        Rows of the centers.
    n_neighbors : int
        Their neighbourhood size :math:`m`.
    factors : ndarray of shape (n_centers, n_features, rank)
        Their local factors from those neighbourhoods
        (:func:`~wpokernel.local_covariance.local_factors`), in any floating dtype.
    neighbors : ndarray of shape (n_centers, n) with n >= n_neighbors
        The wider search the neighbourhoods were taken from, as in ``local_factors``.
    weight : float
        :math:`\mu > 0`.

    Returns
    -------
    ndarray of shape (n_centers, n_features), in the dtype of ``factors``
    """
    return _with_share(_left_out_variances(X, center_index, n_neighbors, factors, neighbors),
                       X, weight)


def _left_out_variances(X, center_index, n_neighbors, factors, neighbors):
    r""":math:`\operatorname{diag}(\hat C_k) - \sum_l \lambda_{kl} v_{kl}^2`, (K, d), in the
    dtype of ``factors``."""
    left_out = local_variances(X, center_index, n_neighbors, neighbors=neighbors)
    for j0 in range(0, len(left_out), _LOCAL_BLOCK):  # no (K, d, r) copy of the factors
        j = slice(j0, j0 + _LOCAL_BLOCK)
        left_out[j] -= np.einsum("kdr,kdr->kd", factors[j], factors[j])
    # Rounding can leave a variance that the factors explain fully slightly negative.
    return np.maximum(left_out, 0.0, out=left_out).astype(factors.dtype, copy=False)


def _with_share(left_out, X, weight):
    """The local profiles: the left-out variances plus the share ``weight`` of the data's."""
    variances = X.var(axis=0)
    shared = weight * ((1.0 - _LOCAL_SHRINKAGE) * variances + _LOCAL_SHRINKAGE * variances.mean())
    return left_out + shared.astype(left_out.dtype)


class _Search:
    """Scores candidates on the calibration points, one neighbourhood's statistics in memory.

    A group of candidates shares the neighbourhood size and the floor profile; for
    ``"lowrank"`` it is scored in one pass of :func:`~wpokernel.neural.local_pairs.
    mixture_log_densities`, whose :math:`O(d r)`-per-pair statistics serve every rank, scale
    and floor variance of the group, so the search costs a few matrix products of the
    calibration points with the factors, not one per candidate.
    """

    def __init__(self, structure, X_fit, X_cal, center_rows, centers, floor, ceiling, max_rank,
                 max_neighbors):
        self.structure, self.X_fit, self.X_cal = structure, X_fit, X_cal
        self.center_rows, self.centers = center_rows, centers
        self.floor, self.ceiling = floor, ceiling
        self.max_rank, self.statistic = max_rank, (None, None)
        self.max_neighbors, self.neighbors = max_neighbors, None
        self.left_out = (None, None)  # the last neighbourhood's left-out variances (local floor)

    def part(self, head, rank, n_neighbors):
        """The head's local statistic; factors are computed once at the largest rank tried,
        whose leading columns are the factors of every smaller rank. Only the last
        neighbourhood's statistic is kept: its memory is K d r."""
        if self.statistic[0] != n_neighbors:
            self.statistic = self.left_out = (None, None)  # freed before the next are computed
            if self.neighbors is None:  # one search for every neighbourhood size
                self.neighbors = local_neighbors(self.X_fit, self.center_rows,
                                                 self.max_neighbors)
            if head.local_statistic == "factors":
                rank_cap = min(self.max_rank, n_neighbors)
                part = local_factors(self.X_fit, self.center_rows, n_neighbors, rank_cap,
                                     dtype=_FACTOR_DTYPE, neighbors=self.neighbors).factors
            elif head.local_statistic == "variances":
                part = local_variances(self.X_fit, self.center_rows, n_neighbors,
                                       neighbors=self.neighbors)
            else:
                part = local_covariances(self.X_fit, self.center_rows, n_neighbors,
                                         neighbors=self.neighbors)
            self.statistic = (n_neighbors, part)
        part = self.statistic[1]
        return part[:, :, :rank] if head.local_statistic == "factors" else part

    def head(self, rank, n_neighbors, floor):
        """The profile of ``floor`` (kind, weight) and the head of ``rank`` over it."""
        kind, weight = floor
        if kind == "isotropic":
            profile = None
        elif kind == "diagonal":
            profile = floor_profile(self.X_fit, weight)
        else:
            profile = _with_share(self._left_out(n_neighbors), self.X_fit, weight)
        return profile, HEADS[self.structure](self.X_fit.shape[1], rank, profile)

    def _left_out(self, n_neighbors):
        """The left-out variances of the neighbourhood's factors at the largest rank."""
        if self.left_out[0] != n_neighbors:
            head = HEADS[self.structure](self.X_fit.shape[1], self.max_rank)
            self.part(head, self.max_rank, n_neighbors)
            self.left_out = (n_neighbors, _left_out_variances(
                self.X_fit, self.center_rows, n_neighbors, self.statistic[1], self.neighbors))
        return self.left_out[1]

    def build(self, rank, n_neighbors, floor, alpha, variance, *, last=False):
        """The candidate's profile, head and structure; ``last``: the search is over, and
        the low-rank structure takes the kept factors themselves (no second copy)."""
        profile, head = self.head(rank, n_neighbors, floor)
        part = self.part(head, rank, n_neighbors)
        if not (last and head.local_statistic == "factors"):
            return profile, head, head.local_structure(part, alpha, variance, self.floor,
                                                       self.ceiling)
        self.statistic = self.left_out = (None, None)
        # Leading columns of a larger rank are a strided view: copied, and the rest freed.
        part = np.ascontiguousarray(part)
        return profile, head, head.local_structure(part, alpha, variance, self.floor,
                                                   self.ceiling, in_place=True)

    def _scores(self, candidates):
        """Mean calibration log-likelihoods of candidates sharing (n_neighbors, floor)."""
        if self.structure != "lowrank":
            return self._dense_scores(candidates)
        _, n_neighbors, floor = candidates[0][:3]
        profile, head = self.head(max(c[0] for c in candidates), n_neighbors, floor)
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

    def _dense_scores(self, candidates):
        r"""The dense heads' candidates (:meth:`~_FullHead.local_structure`): every one is
        :math:`V_k \operatorname{diag}(\min(\alpha \lambda_k, c_{\max}) + \sigma^2 + c_{\min})
        V_k^\top` of the same eigenvectors :math:`V_k` of the local statistic (the axes, for
        ``"diagonal"``), so one decomposition serves the group."""
        _, n_neighbors, floor = candidates[0][:3]
        _, head = self.head(candidates[0][0], n_neighbors, floor)
        part = self.part(head, candidates[0][0], n_neighbors)
        if head.local_statistic == "covariances":
            eigenvalues, vectors = np.linalg.eigh(part)
        else:
            eigenvalues, vectors = part, None
        variances = [np.clip(alpha * eigenvalues, 0.0, self.ceiling) + variance + self.floor
                     for *_, alpha, variance in candidates]
        return eigenbasis_log_likelihoods(self.X_cal, self.centers, vectors, variances).tolist()

    def best(self, candidates):
        """The best of ``candidates`` (rank, n_neighbors, floor, alpha, variance)."""
        groups = {}
        for candidate in candidates:
            groups.setdefault(candidate[1:3], []).append(candidate)
        scored = [item for group in groups.values() for item in zip(self._scores(group), group)]
        return max(scored, key=lambda item: item[0])

    def result(self, log_likelihood, candidate):
        profile, head, target = self.build(*candidate, last=True)
        rank, n_neighbors, floor = candidate[:3]
        return Initialization(rank, n_neighbors, *floor, profile, *candidate[3:], log_likelihood,
                              head, target)


def eigenbasis_log_likelihoods(X, centers, vectors, variances):
    r"""Mean log-likelihood at ``X`` of the mixtures :math:`\frac1K \sum_k N(z_k, V_k
    \operatorname{diag}(v_k) V_k^\top)`, one per ``v`` in ``variances``.

    The squared coordinates :math:`((x - z_k)^\top V_k)^2` are formed once for every mixture,
    a block of centers at a time (:data:`_DENSE_BLOCK_BYTES`), and each mixture divides them by
    its own :math:`v_k`.

    Parameters
    ----------
    X : ndarray of shape (n_points, n_features)
    centers : ndarray of shape (n_centers, n_features)
    vectors : ndarray of shape (n_centers, n_features, n_features) or None
        Orthonormal columns :math:`V_k`; None: the coordinate axes.
    variances : list of ndarray of shape (n_centers, n_features)
        Positive :math:`v_k` along those columns, one array per mixture.

    Returns
    -------
    ndarray of shape (len(variances),)
    """
    n_points, d = X.shape
    step = max(1, _DENSE_BLOCK_BYTES // (8 * n_points * d))
    totals = np.full((len(variances), n_points), -np.inf)
    for k0 in range(0, len(centers), step):
        k = slice(k0, k0 + step)
        diff = X[:, None, :] - centers[None, k]  # (n, b, d)
        # Feature-major (d, n, b): each mixture sums d planes, not a short last axis.
        along = (diff.transpose(2, 0, 1) if vectors is None
                 else np.einsum("nbd,bde->enb", diff, vectors[k])) ** 2
        for i, v in enumerate(variances):
            inverse = 1.0 / v[k].T  # (d, b)
            quadratic = along[0] * inverse[0]
            for j in range(1, d):
                quadratic += along[j] * inverse[j]
            quadratic += np.log(v[k]).sum(-1)  # now -2 log N(x; z_k, C_k) - d log(2 pi)
            shift = quadratic.min(axis=1)
            np.subtract(shift[:, None], quadratic, out=quadratic)
            block = np.log(np.exp(0.5 * quadratic, out=quadratic).sum(axis=1)) - 0.5 * shift
            totals[i] = np.logaddexp(totals[i], block)
    return (totals - np.log(len(centers)) - 0.5 * d * np.log(2 * np.pi)).mean(axis=1)


def floor_candidates(kinds):
    """The (kind, weight) floors of the search for the floor kinds ``kinds``."""
    weights = {"isotropic": [None], "diagonal": _SHRINKAGE_GRID, "local": _LOCAL_WEIGHT_GRID}
    return [(kind, weight) for kind in kinds for weight in weights[kind]]


def _sigmas(floor):
    return _LOCAL_SIGMA_GRID if floor[0] == "local" else _SIGMA_GRID


def initialize(structure, X_fit, X_val, center_rows, centers, *, ranks, neighbors, floors,
               floor, ceiling, rng):
    """Choose the initialization on the validation points (module docstring).

    ``centers`` are ``X_fit[center_rows]``; ``ranks``, ``neighbors`` and ``floors`` the
    candidate values (one each where the estimator's parameter fixed it; a floor is
    ``(kind, weight)``, :func:`floor_candidates`); ``floor`` is the covariance floor.

    Returns
    -------
    Initialization
    """
    if len(X_val) > _MAX_CALIBRATION_POINTS:
        X_val = X_val[np.sort(rng.choice(len(X_val), _MAX_CALIBRATION_POINTS, replace=False))]
    search = _Search(structure, X_fit, X_val, center_rows, centers, floor, ceiling, max(ranks),
                     max(neighbors))
    if len(X_val) == 0:
        candidate = (ranks[0], neighbors[0], floors[0], *_DEFAULT_SCALES)
        return search.result(np.nan, candidate)
    if structure != "lowrank":  # every (m, alpha, sigma) of the grids, then a finer step
        _, best = search.best([(ranks[0], m, floors[0], alpha, s**2) for m in neighbors
                               for alpha in _ALPHA_GRID for s in _SIGMA_GRID])
        return search.result(*search.best([
            (*best[:3], best[3] * alpha_step, best[4] * sigma_step**2)
            for alpha_step in _ALPHA_STEPS for sigma_step in _SIGMA_STEPS]))
    # One neighbourhood size at a time (each group is scored before the next is computed).
    _, best = search.best([(r, m, floors[0], 1.0, s**2) for m in neighbors for r in ranks
                           for s in _sigmas(floors[0])])
    _, best = search.best([(*best[:2], f, 1.0, s**2) for f in floors for s in _sigmas(f)])
    _, best = search.best([(*best[:3], alpha, best[4]) for alpha in _ALPHA_GRID])
    return search.result(*search.best([(*best[:4], s**2) for s in _sigmas(best[2])]))
