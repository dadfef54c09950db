r"""Denoising score matching on the heat flow, with the design choices of Karras et al.

On the heat (variance-exploding) flow a noisy state is :math:`x = y + \sigma n`, with
:math:`y` a data point and :math:`n \sim N(0, I)`. The best denoiser in the mean-square sense
is :math:`D^*(x, \sigma) = \mathbb E[y \mid x]`, and Tweedie's formula gives the score of the
noisy law :math:`\eta_\sigma = \pi * N(0, \sigma^2 I)` from it [Vin2011]_:

.. math::

    \nabla \log \eta_\sigma(x) = \frac{D^*(x, \sigma) - x}{\sigma^2} .

Following [KAAL2022]_ (their Table 1, "ours"), with :math:`\sigma_{\text{data}} = 1` (the
estimators work in standardized coordinates, where the data's spread is 1):

* **preconditioning** — the denoiser is a network :math:`F_\theta` read as
  :math:`D_\theta(x, \sigma) = c_{\text{skip}} x + c_{\text{out}} F_\theta(c_{\text{in}} x,
  c_{\text{noise}})` with :math:`c_{\text{skip}} = \sigma_{\text{data}}^2 / (\sigma^2 +
  \sigma_{\text{data}}^2)`, :math:`c_{\text{out}} = \sigma \sigma_{\text{data}} /
  \sqrt{\sigma^2 + \sigma_{\text{data}}^2}`, :math:`c_{\text{in}} = 1 / \sqrt{\sigma^2 +
  \sigma_{\text{data}}^2}`, :math:`c_{\text{noise}} = \tfrac14 \ln \sigma`, so that the
  network's input and its regression target both have unit variance at every noise level;
* **noise distribution** — :math:`\ln \sigma \sim N(P_{\text{mean}}, P_{\text{std}}^2)` with
  :math:`P_{\text{std}} = 1.2` and :math:`P_{\text{mean}} = -1.2 + \ln 2`, their
  :math:`P_{\text{mean}} = -1.2` at :math:`\sigma_{\text{data}} = 0.5` moved to
  :math:`\sigma_{\text{data}} = 1` (the same noise-to-data ratios);
* **loss weighting** — :math:`\lambda(\sigma) = 1 / c_{\text{out}}^2`, so that the loss
  :math:`\lambda(\sigma) \lVert D_\theta(y + \sigma n, \sigma) - y\rVert^2` is the unit-weighted
  regression of :math:`F_\theta` on its effective target;
* **sampler** — Heun's second-order method on the probability-flow ODE
  :math:`dx/d\sigma = (x - D_\theta(x, \sigma))/\sigma` over the noise levels
  :math:`\sigma_i = (\sigma_{\max}^{1/\rho} + \tfrac{i}{n}(\sigma_{\min}^{1/\rho} -
  \sigma_{\max}^{1/\rho}))^\rho`, :math:`\rho = 7` (:func:`karras_sigmas`).

A network whose class sets ``preconditioned = True`` (the kernel-attention network) is the
denoiser :math:`D_\theta(x, \sigma)` itself, and is read as such.

References
----------
.. [Vin2011] P. Vincent, "A connection between score matching and denoising autoencoders",
   Neural Computation 23(7), 1661-1674, 2011.
.. [KAAL2022] T. Karras, M. Aittala, T. Aila, S. Laine, "Elucidating the design space of
   diffusion-based generative models", NeurIPS 2022.
"""

import math

import numpy as np
import torch

__all__ = ["P_MEAN", "P_STD", "SIGMA_DATA", "denoise", "denoising_loss", "karras_sigmas",
           "network_dtype", "preconditioning", "sample_noise_levels"]

#: The data's spread in the estimators' standardized coordinates.
SIGMA_DATA = 1.0
#: Log-normal noise distribution of the training, moved from sigma_data = 0.5 to 1.
P_MEAN, P_STD = -1.2 + math.log(2.0), 1.2
_RHO = 7.0


def preconditioning(sigma):
    r""":math:`(c_{\text{skip}}, c_{\text{out}}, c_{\text{in}}, c_{\text{noise}})` at noise
    levels ``sigma`` (tensor of shape ``(B,)``), each of shape ``(B,)`` (module docstring)."""
    total = sigma**2 + SIGMA_DATA**2
    return (SIGMA_DATA**2 / total, sigma * SIGMA_DATA / total.sqrt(), 1.0 / total.sqrt(),
            0.25 * sigma.log())


def denoise(network, x, sigma):
    r"""The denoiser :math:`D_\theta(x, \sigma)` of ``network`` (preconditioned unless it is a
    denoiser itself), in the dtype of ``x`` (a raw network runs in its own).

    Parameters
    ----------
    network : torch.nn.Module
        ``network(x, c)`` of shape ``(B, d)``.
    x : torch.Tensor of shape (B, d)
    sigma : torch.Tensor of shape (B,)
        Positive noise levels.

    Returns
    -------
    torch.Tensor of shape (B, d)
    """
    # A DistributedDataParallel wrapper holds the network as ``module``; a denoiser network
    # takes the state in its own dtype.
    if getattr(getattr(network, "module", network), "preconditioned", False):
        return network(x, sigma.to(x.dtype))
    dtype = network_dtype(network)
    c_skip, c_out, c_in, c_noise = preconditioning(sigma)
    raw = network((c_in[:, None] * x).to(dtype), c_noise.to(dtype))
    return c_skip[:, None] * x + c_out[:, None] * raw.to(x.dtype)


def network_dtype(network):
    """The floating dtype of ``network``'s first parameter (float32 without parameters)."""
    parameter = next(network.parameters(), None)
    return torch.float32 if parameter is None else parameter.dtype


def sample_noise_levels(n, generator, groups=None, dtype=torch.float32):
    r"""``n`` noise levels, :math:`\ln \sigma \sim N(P_{\text{mean}}, P_{\text{std}}^2)`, on the
    generator's device.

    ``groups`` (an int) draws that many levels, each shared by a block of consecutive rows
    (for networks whose cost grows with the number of distinct levels in a batch).
    """
    n_levels = n if groups is None else min(n, groups)
    log_sigma = P_MEAN + P_STD * torch.randn(n_levels, generator=generator, dtype=torch.float64,
                                             device=generator.device)
    sigma = log_sigma.exp().to(dtype)
    if n_levels == n:
        return sigma
    return sigma.repeat_interleave(-(-n // n_levels))[:n]


def denoising_loss(network, y, sigma, noise):
    r"""Mean of :math:`\lambda(\sigma_i) \lVert D_\theta(y_i + \sigma_i n_i, \sigma_i) - y_i\rVert^2 / d`.

    Parameters
    ----------
    network : torch.nn.Module
    y : torch.Tensor of shape (B, d)
        Clean data.
    sigma : torch.Tensor of shape (B,)
    noise : torch.Tensor of shape (B, d)
        Standard normal draws :math:`n_i`.

    Returns
    -------
    torch.Tensor
        0-d loss.
    """
    _, c_out, _, _ = preconditioning(sigma)
    residual = denoise(network, y + sigma[:, None] * noise, sigma) - y
    return (residual.pow(2).mean(1) / c_out**2).mean()


def karras_sigmas(sigma_max, sigma_min, n_steps, rho=_RHO):
    r"""Decreasing noise levels :math:`\sigma_0 = \sigma_{\max} > \dots > \sigma_n = \sigma_{\min}`.

    :math:`\sigma_i = (\sigma_{\max}^{1/\rho} + \tfrac{i}{n} (\sigma_{\min}^{1/\rho} -
    \sigma_{\max}^{1/\rho}))^\rho`: steps shrink toward :math:`\sigma_{\min}`, where the
    denoiser changes fastest [KAAL2022]_.

    Examples
    --------
    >>> karras_sigmas(80.0, 0.002, 2).round(4)
    array([8.0000e+01, 2.5152e+00, 2.0000e-03])
    """
    ramp = np.linspace(0.0, 1.0, n_steps + 1)
    sigmas = (sigma_max ** (1 / rho) + ramp * (sigma_min ** (1 / rho) - sigma_max ** (1 / rho))) ** rho
    sigmas[0], sigmas[-1] = sigma_max, sigma_min
    return sigmas
