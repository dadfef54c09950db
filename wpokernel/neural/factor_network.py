r"""Factor networks: local covariances :math:`C_\theta(z)` as a smooth function of the center.

The Wasserstein-proximal kernel model [ZLLKO2024]_ amortizes the covariance of every mixture
component into one small network of the center, :math:`z \mapsto C_\theta(z)`. Smoothness of
the network in :math:`z` is the regularizer: nearby centers get similar covariances, so a
component cannot shrink onto its own training point without shrinking its neighbours.

A multilayer perceptron reads the standardized center :math:`\tilde z = (z - \mu) / \rho`
(:math:`\mu` the data mean, :math:`\rho` its root-mean-square spread) and its output
:math:`o(\tilde z)` is read by a *head* as one covariance structure. Each head keeps the
eigenvalues of :math:`C` between the floor :math:`f` (the estimator's ``covariance_floor``),
which keeps every precision bounded, and about the ceiling :math:`c_{\max}` (the estimator uses the largest
variance of the data), which keeps a component that the likelihood sees little of (an
isolated center) from spreading its mass far beyond the data:

* ``"full"``: :math:`o` fills a lower-triangular :math:`L` with a positive diagonal, the
  Cholesky factor of the precision scaled by :math:`\rho`:
  :math:`C = \rho^2 (L L^\top + (\rho^2 / c_{\max}) I)^{-1} + f I`,
  eigenvalues in :math:`(f, f + c_{\max})`;
* ``"diagonal"``: :math:`C = \operatorname{diag}(f + c_{\max}\,\mathrm{sigmoid}(o))`;
* ``"lowrank"``: :math:`C = (f + c_{\max}\,\mathrm{sigmoid}(o_0)) I + U U^\top`, or, given a
  per-feature ``profile`` :math:`p` (entries in :math:`(0, 1]`, largest 1), the diagonal floor
  :math:`C = (f / \min_k p_k + c_{\max}\,\mathrm{sigmoid}(o_0)) \operatorname{diag}(p)
  + U U^\top`, whose smallest diagonal entry is at least :math:`f`,
  :math:`U = V / \sqrt{1 + \lVert V\rVert_F^2 / c_{\max}}` with :math:`V = \rho\, o_{1:}`
  reshaped to :math:`d \times r`, so that :math:`\lVert U U^\top\rVert \le \lVert U\rVert_F^2 < c_{\max}`;
  work and memory of the mixture scale with :math:`d r`, never :math:`d^2`.

Before training, the network is distilled towards the local-PCA covariances of
:mod:`wpokernel.local_covariance` (each head takes the statistic it needs: the dense local
covariances for ``"full"``, their diagonals for ``"diagonal"``, the rank-:math:`r` local factors
for ``"lowrank"``, so no :math:`d \times d` matrix is formed beyond small :math:`d`; then
scaled and floored) by minimizing the Gaussian Kullback-Leibler divergence from them.

References
----------
.. [ZLLKO2024] B. J. Zhang, S. Liu, W. Li, M. A. Katsoulakis, S. J. Osher, "Wasserstein
   proximal operators describe score-based generative models and resolve memorization",
   arXiv:2402.06162, 2024.
"""

import numpy as np
import torch
from torch import nn
from torch.nn.functional import softplus

from ..reductions import Diagonal, DiagonalLowRank, Full, LowRank, ScaledLowRank

__all__ = ["HEADS", "FactorNetwork", "FreeFactors", "LocalScales", "diagonal_lowrank_gaussian_kl",
           "gaussian_kl", "lowrank_gaussian_kl"]


# ---------------------------------------------------------------------------- heads
# A head reads raw network outputs o (K, P) as one covariance structure, turns a structure into
# dense matrices (for tests), names the local statistic it is initialized from
# ("covariances", "variances" or "factors", see wpokernel.local_covariance), and makes the
# initialization alpha * part + variance * floor shape + floor * I of it, the part's
# eigenvalues clipped at the ceiling, to be scored and distilled.

# Guards the division by a zero eigenvalue of a rank-deficient local covariance.
_TINY = 1e-300
# Storage dtypes of the local factors of LocalScales, by name (a model file's config).
_FACTOR_DTYPES = {"float64": torch.float64, "float32": torch.float32}


class _FullHead:
    """Cholesky factor of the precision, plus the floor."""

    local_statistic = "covariances"

    def __init__(self, n_features, rank, profile=None):
        del rank, profile
        self.n_features = n_features
        self.n_outputs = n_features * (n_features + 1) // 2
        self._rows, self._cols = torch.tril_indices(n_features, n_features)

    def covariance(self, o_kp, scale, floor, ceiling):
        d = self.n_features
        L_kdd = o_kp.new_zeros(o_kp.shape[0], d, d)
        L_kdd[:, self._rows, self._cols] = o_kp
        diagonal = torch.arange(d)
        # softplus keeps the diagonal of the Cholesky factor, hence the precision, positive.
        L_kdd[:, diagonal, diagonal] = softplus(L_kdd[:, diagonal, diagonal])
        eye = torch.eye(d, dtype=o_kp.dtype, device=o_kp.device)
        precision_kdd = L_kdd @ L_kdd.transpose(1, 2) + (scale**2 / ceiling) * eye
        C_kdd = scale**2 * torch.cholesky_inverse(torch.linalg.cholesky(precision_kdd))
        return Full(C_kdd + floor * eye)

    def dense(self, covariance):
        return torch.as_tensor(covariance.covariances)

    def parameters(self, covariance):
        return (torch.as_tensor(covariance.covariances),)

    def kl(self, target, covariance):
        return gaussian_kl(target[0], covariance.covariances)

    def local_structure(self, part, alpha, variance, floor, ceiling):
        eigenvalues_kd, vectors_kdd = np.linalg.eigh(alpha * part)
        clipped_kd = np.clip(eigenvalues_kd, 0.0, ceiling)
        return Full((vectors_kdd * clipped_kd[:, None, :]) @ vectors_kdd.transpose(0, 2, 1)
                    + (variance + floor) * np.eye(self.n_features))


class _DiagonalHead:
    """Per-coordinate variances above the floor."""

    local_statistic = "variances"

    def __init__(self, n_features, rank, profile=None):
        del rank, profile
        self.n_features = n_features
        self.n_outputs = n_features

    def covariance(self, o_kp, scale, floor, ceiling):
        del scale
        return Diagonal(floor + ceiling * torch.sigmoid(o_kp))

    def dense(self, covariance):
        return torch.diag_embed(torch.as_tensor(covariance.variances))

    def parameters(self, covariance):
        return (torch.as_tensor(covariance.variances),)

    def kl(self, target, covariance):
        ratio_kd = target[0] / covariance.variances
        return 0.5 * (ratio_kd - 1 - torch.log(ratio_kd)).sum(-1).mean()

    def local_structure(self, part, alpha, variance, floor, ceiling):
        return Diagonal(np.minimum(alpha * part, ceiling) + variance + floor)


class _LowRankHead:
    """A floor, isotropic or of a per-feature profile, plus r learned directions."""

    local_statistic = "factors"

    def __init__(self, n_features, rank, profile=None):
        self.n_features, self.rank = n_features, rank
        self.profile = _profile_tensor(profile)
        self.n_outputs = 1 + n_features * rank

    def covariance(self, o_kp, scale, floor, ceiling):
        variance_k = ceiling * torch.sigmoid(o_kp[:, 0])
        V_kdr = scale * o_kp[:, 1:].reshape(-1, self.n_features, self.rank)
        # A smooth saturation: close to the identity while |V|_F^2 << ceiling.
        shrink_k11 = torch.rsqrt(1 + V_kdr.pow(2).sum(dim=(1, 2), keepdim=True) / ceiling)
        return self._structure(variance_k, shrink_k11 * V_kdr, floor)

    def _structure(self, variance, factors, floor):
        return floored_lowrank(variance, self.profile, factors, floor)

    def dense(self, covariance):
        U_kdr = torch.as_tensor(covariance.factors)
        return torch.diag_embed(_floor_diagonal(covariance, U_kdr)) + U_kdr @ U_kdr.transpose(1, 2)

    def parameters(self, covariance):
        U_kdr = torch.as_tensor(covariance.factors)
        return _floor_diagonal(covariance, U_kdr), U_kdr

    def kl(self, target, covariance):
        U_kdr = covariance.factors
        return diagonal_lowrank_gaussian_kl(*target, _floor_diagonal(covariance, U_kdr), U_kdr)

    def local_structure(self, part, alpha, variance, floor, ceiling, *, in_place=False):
        """The calibrated structure of the local factors ``part``; ``in_place`` scales
        ``part`` itself (no second copy of image-scale factors), which is then consumed."""
        scales_kr = calibrated_scales(squared_column_norms(part), alpha, ceiling)
        # In the factors' own dtype: no wider copy.
        scales_kr = scales_kr[:, None, :].astype(part.dtype, copy=False)
        scaled = np.multiply(part, scales_kr, out=part) if in_place else part * scales_kr
        return floored_lowrank(variance, self.profile, scaled, floor)


def squared_column_norms(factors):
    r""":math:`\lVert L_{k, :, l}\rVert^2`, shape (K, r), float64, without a copy of the
    factors."""
    return np.einsum("kdr,kdr->kr", factors, factors).astype(np.float64, copy=False)


def calibrated_scales(eigenvalues_kr, alpha, ceiling):
    r"""Column scales :math:`\sqrt{\alpha \min(1, c_{\max} / (\alpha \lambda_{kl}))}` that
    make the local factors (orthogonal columns of squared norms :math:`\lambda_{kl}`) those of
    :math:`\alpha` times the local covariance with its eigenvalues clipped at the ceiling."""
    scaled = alpha * np.asarray(eigenvalues_kr)
    return np.sqrt(alpha * np.minimum(1.0, ceiling / np.maximum(scaled, _TINY)))


def floor_offset(profile, floor):
    r"""The least floor scale :math:`c_{\min} / \min_k f_k`, so that every entry of the
    diagonal floor :math:`s\, f` is at least the covariance floor :math:`c_{\min}`."""
    return float(floor) if profile is None else float(floor) / float(profile.min())


def floored_lowrank(variance, profile, factors, floor):
    r"""The structure :math:`(c_{\min} / \min_k f_k + v)\operatorname{diag}(f) + U U^\top`.

    The covariance floor enters as a least scale of the diagonal part rather than as an added
    :math:`c_{\min} I`, so that the floor is one scale times the fixed profile: that keeps the
    statistics of :mod:`wpokernel.neural.local_pairs` free of the scale. For the isotropic
    profile (``None``) it is :math:`(c_{\min} + v) I + U U^\top`.
    """
    return _lowrank(variance + floor_offset(profile, floor), profile, factors)


def _lowrank(scale, profile, factors):
    r""":math:`s \operatorname{diag}(f) + U U^\top` (:math:`s I + U U^\top` without a profile)."""
    if profile is None:
        return LowRank(scale, factors)
    if isinstance(factors, torch.Tensor):
        # The profile keeps its own dtype: the factors may be stored in a narrower one.
        profile = torch.as_tensor(profile, device=factors.device)
    else:
        profile = np.asarray(profile)
    return DiagonalLowRank(scale, profile, factors)


def _floor_diagonal(covariance, like):
    """The (K, d) diagonal floor of a low-rank structure, isotropic or of a profile."""
    n, d = like.shape[0], like.shape[1]
    variance = torch.as_tensor(covariance.variance, dtype=like.dtype, device=like.device)
    variance = variance.expand(n) if variance.ndim == 0 else variance
    profile = (torch.ones(d, dtype=like.dtype, device=like.device)
               if not hasattr(covariance, "profile")
               else torch.as_tensor(covariance.profile, dtype=like.dtype, device=like.device))
    return variance[:, None] * profile.expand(n, d) + covariance.added_variance


#: Covariance structure name -> head class.
HEADS = {"full": _FullHead, "diagonal": _DiagonalHead, "lowrank": _LowRankHead}


def gaussian_kl(target_kdd, model_kdd):
    r"""Mean over centers of :math:`\mathrm{KL}(N(0, T_k) \,\|\, N(0, C_k))`.

    .. math::

        \mathrm{KL} = \tfrac12 \bigl( \operatorname{tr}(C^{-1} T) - d
        + \log\det C - \log\det T \bigr).
    """
    chol_model = torch.linalg.cholesky(model_kdd)
    chol_target = torch.linalg.cholesky(target_kdd)
    # tr(C^{-1} T) = |L_C^{-1} L_T|_F^2.
    solved = torch.linalg.solve_triangular(chol_model, chol_target, upper=False)
    trace = solved.pow(2).sum(dim=(1, 2))
    logdet_model = 2 * torch.log(torch.diagonal(chol_model, dim1=1, dim2=2)).sum(-1)
    logdet_target = 2 * torch.log(torch.diagonal(chol_target, dim1=1, dim2=2)).sum(-1)
    return 0.5 * (trace - target_kdd.shape[-1] + logdet_model - logdet_target).mean()


def _capacitance(diagonal_kd, U_kdr):
    r"""Cholesky factor :math:`L` of :math:`M = I_r + U^\top D^{-1} U` and
    :math:`\log\det(D + U U^\top) = \sum \log D + 2 \sum \log L_{ii}`."""
    r = U_kdr.shape[2]
    eye = torch.eye(r, dtype=U_kdr.dtype, device=U_kdr.device)
    chol_krr = torch.linalg.cholesky(eye + U_kdr.transpose(1, 2) @ (U_kdr / diagonal_kd[:, :, None]))
    logdet_k = torch.log(diagonal_kd).sum(-1) + 2 * torch.log(
        torch.diagonal(chol_krr, dim1=1, dim2=2)).sum(-1)
    return chol_krr, logdet_k


def diagonal_lowrank_gaussian_kl(target_diagonal, target_factors, diagonal, factors):
    r"""Mean over centers of :math:`\mathrm{KL}(N(0, T_k) \,\|\, N(0, C_k))` for diagonal plus
    low-rank covariances :math:`T = \operatorname{diag}(t) + A A^\top`,
    :math:`C = \operatorname{diag}(c) + U U^\top`, in :math:`O(d r^2)` per center.

    With :math:`M = I_r + U^\top D_c^{-1} U = L L^\top` and :math:`V = D_c^{-1} U L^{-\top}`,
    Woodbury gives :math:`C^{-1} = D_c^{-1} - V V^\top`, hence

    .. math::

        \operatorname{tr}(C^{-1} T) = \sum_k \frac{t_k + (A A^\top)_{kk}}{c_k}
            - \sum_k t_k (V V^\top)_{kk} - \lVert V^\top A\rVert_F^2,

    and the determinant lemma :math:`\log\det C = \sum_k \log c_k + 2 \sum_i \log L_{ii}`.

    Parameters
    ----------
    target_diagonal, diagonal : torch.Tensor of shape (n_centers, n_features)
    target_factors : torch.Tensor of shape (n_centers, n_features, target_rank)
    factors : torch.Tensor of shape (n_centers, n_features, rank)
    """
    d = factors.shape[1]
    chol_krr, logdet_model = _capacitance(diagonal, factors)
    _, logdet_target = _capacitance(target_diagonal, target_factors)
    V_kdr = torch.linalg.solve_triangular(chol_krr, (factors / diagonal[:, :, None]).transpose(1, 2),
                                          upper=False).transpose(1, 2)
    trace = (((target_diagonal + target_factors.pow(2).sum(-1)) / diagonal).sum(-1)
             - (target_diagonal * V_kdr.pow(2).sum(-1)).sum(-1)
             - (V_kdr.transpose(1, 2) @ target_factors).pow(2).sum(dim=(1, 2)))
    return 0.5 * (trace - d + logdet_model - logdet_target).mean()


def lowrank_gaussian_kl(target_variance, target_factors, variance, factors):
    r""":func:`diagonal_lowrank_gaussian_kl` for isotropic floors :math:`T = t I + A A^\top`,
    :math:`C = \tau I + U U^\top` (``variance`` and ``target_variance`` of shape
    ``(n_centers,)`` or scalars)."""
    n, d = factors.shape[0], factors.shape[1]

    def diagonal(v):
        return torch.as_tensor(v, dtype=factors.dtype, device=factors.device).reshape(-1, 1).expand(n, d)

    return diagonal_lowrank_gaussian_kl(diagonal(target_variance), target_factors,
                                        diagonal(variance), factors)


# ---------------------------------------------------------------------------- network
def _placeholder(profile, n_features):
    """The profile entry of a network's config: its values travel in the state dict (a
    profile per center is declared by ``profile_per_center`` instead: no (K, d) config)."""
    return None if profile is None or np.ndim(profile) == 2 else np.ones(n_features)


def _profile_tensor(profile):
    """A floor profile as a tensor: float64 when shared, (d,); one per center, (K, d), kept
    in its own floating dtype (float32 halves it at image scale), as the local factors."""
    if profile is None:
        return None
    profile = torch.as_tensor(profile)
    if profile.ndim == 2 and profile.dtype in _FACTOR_DTYPES.values():
        return profile
    return profile.to(torch.float64)


def _profile_buffer(module, profile):
    """Register a floor profile as a buffer of ``module`` (so it is saved with the state) and
    return it, or ``None``."""
    if profile is None:
        return None
    profile = _profile_tensor(profile)
    # A profile per center is kept as given, as the factors: at image scale it is (K, d).
    module.register_buffer("profile", profile if profile.ndim == 2 else profile.clone())
    return module.profile



class FactorNetwork(nn.Module):
    r"""MLP from a center :math:`z` to its covariance :math:`C_\theta(z)`.

    Parameters
    ----------
    n_features : int
        Dimension :math:`d` of the centers.
    structure : {"full", "diagonal", "lowrank"}
        Covariance structure of the output (module docstring).
    rank : int
        Rank :math:`r` of ``"lowrank"`` (ignored otherwise).
    width, depth : int
        Hidden units per layer and number of hidden layers.
    mean : torch.Tensor of shape (n_features,)
        Data mean :math:`\mu` used to standardize the input.
    scale : float
        Data spread :math:`\rho`, the unit of the covariances.
    floor : float
        Covariance floor :math:`f`.
    ceiling : float
        Covariance ceiling :math:`c_{\max}` (module docstring).
    profile : array-like of shape (n_features,) or None, default=None
        Per-feature profile of the ``"lowrank"`` floor (``None``: isotropic).
    """

    def __init__(self, n_features, structure, rank, width, depth, mean, scale, floor, ceiling,
                 profile=None):
        super().__init__()
        # Everything but the state dict that rebuilds the module (see wpokernel.persistence).
        self.config = {"n_features": n_features, "structure": structure, "rank": rank,
                       "width": width, "depth": depth, "mean": np.zeros(n_features),
                       "scale": float(scale), "floor": float(floor), "ceiling": float(ceiling),
                       "profile": _placeholder(profile, n_features)}
        self.head = HEADS[structure](n_features, rank, _profile_buffer(self, profile))
        layers, n_in = [], n_features
        for _ in range(depth):
            layers += [nn.Linear(n_in, width, dtype=torch.float64), nn.SiLU()]
            n_in = width
        layers.append(nn.Linear(n_in, self.head.n_outputs, dtype=torch.float64))
        self.mlp = nn.Sequential(*layers)
        self.register_buffer("mean", torch.as_tensor(mean, dtype=torch.float64))
        self.scale, self.floor, self.ceiling = float(scale), float(floor), float(ceiling)

    def forward(self, z_kd, index):
        """Return the covariance structure of the centers ``z_kd`` (K, d); ``index`` unused."""
        del index
        o_kp = self.mlp((z_kd - self.mean) / self.scale)  # (K, P)
        return self.head.covariance(o_kp, self.scale, self.floor, self.ceiling)

    def distillation_loss(self, z_kd, index, target):
        """KL from the target covariances to the modelled ones.

        ``target`` is the tuple of per-center tensors of ``self.head.parameters`` of the target
        structure, restricted to the centers ``z_kd``.
        """
        return self.head.kl(target, self(z_kd, index))


class FreeFactors(nn.Module):
    r"""Free raw outputs per center, read by the same heads: no amortization, no smoothness.

    The covariance of center ``index[k]`` depends on that center alone, so nothing stops a
    component from fitting its own neighbourhood; offered to show why the network is there.
    Same parameters as :class:`FactorNetwork`, plus ``n_centers``; ``width`` and ``depth``
    are not used.
    """

    def __init__(self, n_centers, n_features, structure, rank, scale, floor, ceiling,
                 profile=None):
        super().__init__()
        self.config = {"n_centers": n_centers, "n_features": n_features, "structure": structure,
                       "rank": rank, "scale": float(scale), "floor": float(floor),
                       "ceiling": float(ceiling), "profile": _placeholder(profile, n_features)}
        self.head = HEADS[structure](n_features, rank, _profile_buffer(self, profile))
        self.raw = nn.Parameter(torch.zeros(n_centers, self.head.n_outputs, dtype=torch.float64))
        self.scale, self.floor, self.ceiling = float(scale), float(floor), float(ceiling)

    def forward(self, z_kd, index):
        """Return the covariance structure of the centers ``index``; ``z_kd`` unused."""
        del z_kd
        return self.head.covariance(self.raw[index], self.scale, self.floor, self.ceiling)

    distillation_loss = FactorNetwork.distillation_loss



def _mlp(n_in, width, depth, n_out):
    """SiLU perceptron in float64 whose last layer starts at zero (outputs 0 at first)."""
    layers = []
    for _ in range(depth):
        layers += [nn.Linear(n_in, width, dtype=torch.float64), nn.SiLU()]
        n_in = width
    last = nn.Linear(n_in, n_out, dtype=torch.float64)
    nn.init.zeros_(last.weight)
    nn.init.zeros_(last.bias)
    return nn.Sequential(*layers, last)


def _logit(p):
    p = torch.as_tensor(p)
    return torch.log(p) - torch.log1p(-p)


class LocalScales(nn.Module):
    r"""Per-center scales of fixed local factors: the calibrated local-PCA covariances, adjusted.

    With :math:`L_k` the calibrated local factors of center :math:`k` (orthogonal columns of
    squared norms :math:`\lambda_{kl}`, each at most the ceiling), :math:`\sigma^2` the calibrated
    floor scale and :math:`o_k \in \mathbb R^{1 + r}` the outputs of a network of the standardized
    center (or free per-center values, ``amortized=False``),

    .. math::

        C_k = \Big(\frac{c_{\min}}{\min_j f_j} + s_k\Big) \operatorname{diag}(f)
        + \sum_l \lambda'_{kl}\, \hat l_{kl} \hat l_{kl}^\top, \qquad
        s_k = c_{\max}\,\mathrm{sigmoid}\big(o_{k0} + \operatorname{logit}(\sigma^2 / c_{\max})\big),
        \qquad \lambda'_{kl} = c_{\max}\,\mathrm{sigmoid}\big(o_{kl} +
        \operatorname{logit}(\lambda_{kl} / c_{\max})\big),

    with :math:`\hat l_{kl}` the unit directions of :math:`L_k` and :math:`f` the floor's profile
    (ones when isotropic; one profile :math:`f_k` per center for a local floor, the minimum
    then over every entry of every profile). The network's last layer starts at zero, so before training the
    model is the calibrated local-PCA mixture exactly (no distillation, nothing lost), and every
    eigenvalue stays between the floor :math:`c_{\min}` and :math:`c_{\min} / \min_j f_j` plus
    twice the ceiling :math:`c_{\max}`. Training moves only these :math:`1 + r` scales per center, smoothly in the
    center when amortized.

    Parameters
    ----------
    n_centers, n_features, rank : int
    width, depth : int
        Hidden units and layers of the network.
    mean : array-like of shape (n_features,)
        Data mean of the standardized input.
    scale : float
        Data spread.
    floor, ceiling : float
        :math:`c_{\min}` and :math:`c_{\max}`.
    variance : float
        Calibrated floor scale :math:`\sigma^2`.
    profile : array-like of shape (n_features,) or (n_centers, n_features), or None, default=None
        Floor profile :math:`f`, shared or one per center :math:`f_k` (``None``: isotropic,
        unless ``profile_per_center``). One per center is kept in its own floating dtype, as
        the factors.
    amortized : bool, default=True
        Scales from a network of the center, or free per center.
    factors : array-like of shape (n_centers, n_features, rank) or None, default=None
        The calibrated local factors :math:`L_k` (``None``: zeros, to be loaded from a state),
        kept as given, in their own floating dtype (float32 halves their memory; every
        product with the factors is formed in float64, their column norms in their dtype).
    factors_dtype : {"float64", "float32"}, default="float64"
        Dtype of the zero factors when ``factors`` is None (that of the state to be loaded).
    profile_per_center : bool, default=False
        With ``profile`` None: a zero profile per center, of shape (n_centers, n_features)
        and dtype ``factors_dtype``, to be loaded from a state.
    """

    def __init__(self, n_centers, n_features, rank, width, depth, mean, scale, floor, ceiling,
                 variance, profile=None, amortized=True, factors=None, factors_dtype="float64",
                 profile_per_center=False):
        super().__init__()
        if profile is None and profile_per_center:
            profile = torch.zeros(n_centers, n_features, dtype=_FACTOR_DTYPES[factors_dtype])
        self.config = {"n_centers": n_centers, "n_features": n_features, "rank": rank,
                       "width": width, "depth": depth, "mean": np.zeros(n_features),
                       "scale": float(scale), "floor": float(floor), "ceiling": float(ceiling),
                       "variance": float(variance), "profile": _placeholder(profile, n_features),
                       "amortized": bool(amortized),
                       "profile_per_center": profile is not None and np.ndim(profile) == 2}
        self.profile = _profile_buffer(self, profile)
        # Kept as given, not copied: at image scale the factors are gigabytes.
        if factors is None:
            factors = torch.zeros(n_centers, n_features, rank,
                                  dtype=_FACTOR_DTYPES[factors_dtype])
        else:
            factors = torch.as_tensor(factors)
            if factors.dtype not in _FACTOR_DTYPES.values():
                factors = factors.to(torch.float64)
        self.config["factors_dtype"] = str(factors.dtype).removeprefix("torch.")
        self.register_buffer("factors", factors)
        self.register_buffer("mean", torch.as_tensor(mean, dtype=torch.float64))
        if amortized:
            self.mlp = _mlp(n_features, width, depth, 1 + rank)
        else:
            self.raw = nn.Parameter(torch.zeros(n_centers, 1 + rank, dtype=torch.float64))
        self.scale, self.floor, self.ceiling = float(scale), float(floor), float(ceiling)
        self.variance = min(float(variance), (1 - 1e-9) * self.ceiling)

    def local_scales(self, z_kd, index):
        r"""The floor scales :math:`s_k` (K,) and the column scales :math:`h_k` (K, r) of the
        centers ``z_kd`` (rows ``index``; ``None``: all of them, in order): :math:`C_k = s_k
        \operatorname{diag}(f) + L_k \operatorname{diag}(h_k)^2 L_k^\top`, the form
        :mod:`wpokernel.neural.local_pairs` evaluates."""
        return self._scales(self._outputs((z_kd - self.mean) / self.scale, index),
                            self._eigenvalues(index))

    def scales_of_all(self, z_kd):
        """``() -> local_scales(z_kd, None)``, for the steps of a fit: what they do not change
        (the network's input, the factors' column norms) is computed once, so that a step
        makes no copy of the centers."""
        with torch.no_grad():
            inputs, eigenvalues_kr = (z_kd - self.mean) / self.scale, self._eigenvalues(None)
        return lambda: self._scales(self._outputs(inputs, None), eigenvalues_kr)

    def _outputs(self, inputs, index):
        if hasattr(self, "mlp"):
            return self.mlp(inputs)
        return self.raw if index is None else self.raw[index]

    def _eigenvalues(self, index):
        # A norm reduction, not factors[index] ** 2: no copy of the (K, d, r) factors. In
        # their storage dtype (float32 norms are good to 1e-7): a float64 one would copy them.
        factors = self.factors if index is None else self.factors[index]
        return (torch.linalg.vector_norm(factors, dim=1).to(torch.float64).pow(2)
                .clamp_min(_TINY))

    def _scales(self, o_kp, eigenvalues_kr):
        ceiling = torch.as_tensor(self.ceiling, dtype=o_kp.dtype, device=o_kp.device)
        eigenvalues_kr = eigenvalues_kr.to(o_kp.dtype)
        variance_k = (floor_offset(self.profile, self.floor)
                      + ceiling * torch.sigmoid(o_kp[:, 0] + _logit(self.variance / ceiling)))
        # Calibrated factors are below the ceiling already; others start at it.
        start_kr = eigenvalues_kr.clamp_max(self.ceiling * (1 - 1e-9))
        adjusted_kr = ceiling * torch.sigmoid(o_kp[:, 1:] + _logit(start_kr / ceiling))
        return variance_k, torch.sqrt(adjusted_kr / eigenvalues_kr)

    def forward(self, z_kd, index):
        """Return the covariance structure of the centers ``z_kd`` (rows ``index``)."""
        variance_k, scales_kr = self.local_scales(z_kd, index)
        factors = self.factors if index is None else self.factors[index]
        profile = self.profile
        if index is not None and profile is not None and profile.ndim == 2:
            profile = profile[index]
        return _lowrank(variance_k, profile, factors * scales_kr[:, None, :])

    def mixture_structure(self, z_kd):
        r"""The covariances of every center ``z_kd`` (all of them, in order) as a
        :class:`~wpokernel.reductions.ScaledLowRank` that shares the local factors of this
        model (no copy; no gradient): a fitted mixture at image scale then holds no second
        copy of them."""
        with torch.no_grad():
            variance_k, scales_kr = self.local_scales(z_kd, None)
        profile = (torch.ones(self.factors.shape[1], dtype=torch.float64) if self.profile is None
                   else self.profile)
        return ScaledLowRank(variance_k, profile, self.factors, scales_kr)
