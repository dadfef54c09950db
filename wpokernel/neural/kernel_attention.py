r"""The WPO kernel-attention network: the kernel model's closed-form mixture score as a layer.

The Wasserstein-proximal kernel model [ZLLKO2024]_ has the terminal density
:math:`\pi_\theta = \frac1K \sum_k N(z_k, C_k)`, and at noise level :math:`\sigma` of the heat
flow its score is a softmax attention over the centers:

.. math::

    s(x, \sigma) = -\sum_{k=1}^{K} \operatorname{softmax}_k\big(\log N(x;\, z_k,\, C_k +
    \sigma^2 I)\big)\, (C_k + \sigma^2 I)^{-1} (x - z_k),

with the queries :math:`x`, the keys :math:`z_k` and the values the precision-weighted
displacements. :class:`KernelAttention` computes it through the reduction engine's
differentiable torch backend (:func:`~wpokernel.reductions.mixture_moments`), with

* learned keys :math:`z_k` (initialized from the data by the estimator; ``learn_keys=False``
  keeps them fixed),
* low-rank-plus-floor covariances :math:`C_k = \tau_k I + U_k U_k^\top` from a factor network
  of the key (:class:`~wpokernel.neural.FactorNetwork`, ``"lowrank"`` head), and
* an optional small residual network :math:`R` (an :class:`~wpokernel.neural.MLP`, ``depth``
  0 for none), read with the preconditioning of :mod:`wpokernel.neural.denoising`.

The network is the denoiser itself (``preconditioned = True``):

.. math::

    D_\theta(x, \sigma) = x + \sigma^2 s(x, \sigma) + c_{\text{out}}(\sigma)\,
        R(c_{\text{in}}(\sigma) x, c_{\text{noise}}(\sigma)),

so with keys fixed at the training points and no residual, :math:`(D_\theta - x)/\sigma^2` is
exactly the score of the kernel model (:class:`~wpokernel.estimators.WPOKernelScore`) whose
covariance network it holds as ``factors``: any module ``factors(z, index)`` that returns the
covariance structure of the keys ``z`` (rows ``index``) serves. The reduction adds one isotropic variance
per call, so a batch is reduced once per distinct noise level: ``noise_groups`` tells the
training how many levels to draw per batch.

References
----------
.. [ZLLKO2024] B. J. Zhang, S. Liu, W. Li, M. A. Katsoulakis, S. J. Osher, "Wasserstein
   proximal operators describe score-based generative models and resolve memorization",
   arXiv:2402.06162, 2024.
"""

import math

import numpy as np
import torch
from torch import nn

from ..reductions import mixture_moments
from .denoising import preconditioning
from .factor_network import FactorNetwork
from .networks import MLP

__all__ = ["KernelAttention"]

# Keeps the logit of the initial variance's share of the ceiling finite.
_SHARE_BOUND = 1e-6


class KernelAttention(nn.Module):
    r"""Denoiser of a Gaussian mixture with learned keys and covariances (module docstring).

    Parameters
    ----------
    n_features : int
        Dimension :math:`d`.
    n_keys : int
        Number of keys (mixture components) :math:`K`.
    rank : int
        Rank :math:`r` of the learned part :math:`U_k U_k^\top` of each covariance.
    width, depth : int
        Hidden units and layers of the factor network, and of the residual network.
    floor, ceiling : float
        Bounds of the covariances' eigenvalues (:class:`~wpokernel.neural.FactorNetwork`).
    initial_variance : float
        :math:`\tau_k` of the untrained network, between ``floor`` and ``floor + ceiling``.
    scale : float, default=1.0
        Unit of the keys, as the factor network reads them.
    learn_keys : bool, default=True
        Whether the keys are trained.
    residual : bool, default=True
        Whether the residual network :math:`R` is added.
    """

    preconditioned = True
    noise_groups = 8

    def __init__(self, n_features, n_keys, rank, width, depth, floor, ceiling, initial_variance,
                 scale=1.0, learn_keys=True, residual=True):
        super().__init__()
        self.config = {"n_features": n_features, "n_keys": n_keys, "rank": rank, "width": width,
                       "depth": depth, "floor": float(floor), "ceiling": float(ceiling),
                       "initial_variance": float(initial_variance), "scale": float(scale),
                       "learn_keys": learn_keys, "residual": residual}
        self.keys = nn.Parameter(torch.zeros(n_keys, n_features), requires_grad=learn_keys)
        self.factors = FactorNetwork(n_features, "lowrank", rank, width, depth,
                                     np.zeros(n_features), scale, floor, ceiling).float()
        share = min(max((initial_variance - floor) / ceiling, _SHARE_BOUND), 1 - _SHARE_BOUND)
        with torch.no_grad():
            self.factors.mlp[-1].bias[0] = math.log(share / (1 - share))
        self.residual = MLP(n_features, width, depth) if residual else None

    @property
    def reduction_multiply_adds(self):
        """Multiply-adds per query of the reduction over the keys, :math:`K d (r + 1)`."""
        keys = self.keys
        return keys.shape[0] * keys.shape[1] * (self.config["rank"] + 1)

    def mixture_score(self, x, sigma):
        r"""The mixture score :math:`s(x, \sigma)` (module docstring), shape ``(B, d)``, in the
        dtype of ``x``: a float64 state is reduced in float64, so that the score
        :math:`\propto 1/\sigma^2` keeps its digits at small noise."""
        keys = self.keys
        covariance = self.factors(keys, torch.arange(len(keys), device=keys.device))
        keys, covariance = keys.to(x.dtype), covariance.map_arrays(lambda a: a.to(x.dtype))
        index, scores = [], []
        # Log-kernels of a softmax lose their meaning in bfloat16: no autocast in the reduction.
        with torch.autocast(x.device.type, enabled=False):
            for level in torch.unique(sigma):
                rows = torch.nonzero(sigma == level)[:, 0]
                moments = mixture_moments(x[rows], keys, covariance.with_added_variance(
                    float(level) ** 2), score=True, backend="torch")
                index.append(rows)
                scores.append(-moments.displacement)
        return torch.zeros_like(x).index_copy(0, torch.cat(index), torch.cat(scores))

    def forward(self, x, sigma):
        r"""The denoiser :math:`D_\theta(x, \sigma)`, shape ``(B, d)``, in the dtype of ``x``."""
        denoised = x + sigma[:, None] ** 2 * self.mixture_score(x, sigma)
        if self.residual is None:
            return denoised
        _, c_out, c_in, c_noise = preconditioning(sigma)
        dtype = self.residual.output.weight.dtype
        raw = self.residual((c_in[:, None] * x).to(dtype), c_noise.to(dtype))
        return denoised + c_out[:, None] * raw.to(x.dtype)
