r"""Noise-conditioned networks :math:`F_\theta(x, c)` of the neural estimators.

Each network maps a batch of flattened states :math:`x` of shape ``(B, d)`` and one
conditioning scalar per row :math:`c` of shape ``(B,)`` (a noise level or a time) to an
output of the shape of :math:`x`. :class:`~wpokernel.estimators.NeuralScore` reads it through
the preconditioning of Karras et al. [KAAL2022]_ as a denoiser, and
:class:`~wpokernel.estimators.NeuralInterpolant` as a velocity or a noise predictor.

* :class:`FourierEmbedding` — the conditioning as sines and cosines at log-spaced
  frequencies, :math:`e(c) = [\cos(2\pi f_k c), \sin(2\pi f_k c)]_k`,
  :math:`f_k = f_{\min} (f_{\max}/f_{\min})^{k/(K-1)}`;
* :class:`MLP` — for tabular data: :math:`h_0 = W_{\text{in}} x + E(e(c))`, then ``depth``
  residual blocks :math:`h_{l+1} = h_l + W_2\,\mathrm{SiLU}(W_1\,\mathrm{SiLU}(\mathrm{LN}(h_l)))`
  and :math:`F = W_{\text{out}}\,\mathrm{SiLU}(\mathrm{LN}(h))`;
* :class:`UNet` — for images: an encoder of residual blocks (group norm, SiLU, 3 x 3
  convolutions, the embedding added to every block's channels) that halves the resolution
  ``depth - 1`` times while doubling the channels, a decoder that mirrors it with the encoder's
  features concatenated (skip connections) [RFB2015]_ [HJA2020]_.

The last layer of every network starts at zero, so an untrained network's output is 0 and the
preconditioned denoiser starts as :math:`c_{\text{skip}}(\sigma)\,x`. Every network keeps its
constructor arguments, plain numbers and strings, in ``config``: a model file rebuilds it from
them (:mod:`wpokernel.persistence`).

References
----------
.. [KAAL2022] T. Karras, M. Aittala, T. Aila, S. Laine, "Elucidating the design space of
   diffusion-based generative models", NeurIPS 2022.
.. [RFB2015] O. Ronneberger, P. Fischer, T. Brox, "U-Net: convolutional networks for biomedical
   image segmentation", MICCAI 2015.
.. [HJA2020] J. Ho, A. Jain, P. Abbeel, "Denoising diffusion probabilistic models", NeurIPS 2020.
"""

import math

import torch
from torch import nn
from torch.nn import functional

__all__ = ["MLP", "FourierEmbedding", "UNet"]

# Frequencies of the embedding, in cycles per unit of the conditioning: the EDM noise input
# ln(sigma)/4 spans about 4 units from sigma = 0.002 to 80, a time spans 1.
_MIN_FREQUENCY, _MAX_FREQUENCY = 0.25, 32.0
_EMBEDDING_SIZE = 64
# Channels per group of the group norms (fewer groups when a layer has fewer channels).
_GROUP_CHANNELS = 8


class FourierEmbedding(nn.Module):
    r"""Sines and cosines of the conditioning at ``n_frequencies`` log-spaced frequencies.

    :math:`e(c) = [\cos(2\pi f_k c), \sin(2\pi f_k c)]_{k < K}`, frequencies
    :math:`f_k` from 0.25 to 32 cycles per unit (module docstring); output
    ``(B, 2 n_frequencies)``.
    """

    def __init__(self, n_frequencies):
        super().__init__()
        frequencies = torch.logspace(math.log10(_MIN_FREQUENCY), math.log10(_MAX_FREQUENCY),
                                     n_frequencies)
        self.register_buffer("frequencies", 2 * math.pi * frequencies, persistent=False)

    def forward(self, c):
        phase_bk = c[:, None].to(self.frequencies.dtype) * self.frequencies  # (B, K)
        return torch.cat([phase_bk.cos(), phase_bk.sin()], dim=1)


def _embedding_mlp(width):
    """Fourier features of the conditioning, then a two-layer SiLU MLP of ``width`` outputs."""
    return nn.Sequential(FourierEmbedding(_EMBEDDING_SIZE // 2), nn.Linear(_EMBEDDING_SIZE, width),
                         nn.SiLU(), nn.Linear(width, width))


def _zero(layer):
    """``layer`` with its weights and bias set to zero (an output layer that starts at 0)."""
    nn.init.zeros_(layer.weight)
    nn.init.zeros_(layer.bias)
    return layer


class _ResidualLayer(nn.Module):
    """:math:`h + W_2\\,\\mathrm{SiLU}(W_1\\,\\mathrm{SiLU}(\\mathrm{LN}(h)))`."""

    def __init__(self, width):
        super().__init__()
        self.norm = nn.LayerNorm(width)
        self.inner = nn.Linear(width, width)
        self.outer = nn.Linear(width, width)

    def forward(self, h):
        return h + self.outer(functional.silu(self.inner(functional.silu(self.norm(h)))))


class MLP(nn.Module):
    r"""Residual SiLU multilayer perceptron :math:`F(x, c)` for tabular data (module docstring).

    Parameters
    ----------
    n_features : int
        Dimension :math:`d` of the input and of the output.
    width : int
        Hidden units.
    depth : int
        Residual blocks (0: one hidden layer).
    """

    def __init__(self, n_features, width, depth):
        super().__init__()
        self.config = {"n_features": n_features, "width": width, "depth": depth}
        self.embedding = _embedding_mlp(width)
        self.input = nn.Linear(n_features, width)
        self.blocks = nn.Sequential(*(_ResidualLayer(width) for _ in range(depth)))
        self.norm = nn.LayerNorm(width)
        self.output = _zero(nn.Linear(width, n_features))

    def forward(self, x, c):
        h = self.input(x) + self.embedding(c)  # (B, width)
        return self.output(functional.silu(self.norm(self.blocks(h))))


# ---------------------------------------------------------------------------- U-Net
def _group_norm(channels):
    return nn.GroupNorm(max(1, channels // _GROUP_CHANNELS), channels)


class _ResidualBlock(nn.Module):
    """Group norm, SiLU, 3 x 3 convolution twice, the embedding added between, a skip path."""

    def __init__(self, n_in, n_out, embedding_width):
        super().__init__()
        self.norm_in, self.norm_out = _group_norm(n_in), _group_norm(n_out)
        self.conv_in = nn.Conv2d(n_in, n_out, 3, padding=1)
        self.conv_out = nn.Conv2d(n_out, n_out, 3, padding=1)
        self.embedding = nn.Linear(embedding_width, n_out)
        self.skip = nn.Conv2d(n_in, n_out, 1) if n_in != n_out else nn.Identity()

    def forward(self, h, e):
        inner = self.conv_in(functional.silu(self.norm_in(h)))  # (B, C_out, H, W)
        inner = inner + self.embedding(e)[:, :, None, None]
        return self.skip(h) + self.conv_out(functional.silu(self.norm_out(inner)))


class UNet(nn.Module):
    r"""Small U-Net :math:`F(x, c)` on images flattened in C order (module docstring).

    Parameters
    ----------
    height, width_pixels, channels : int
        Image shape :math:`(H, W, C)`, channels last, as ``x`` is flattened.
    width : int
        Channels of the first level; level :math:`l` has :math:`2^l` times as many.
    depth : int
        Levels (resolutions :math:`H, \lceil H/2\rceil, \dots`).
    """

    def __init__(self, height, width_pixels, channels, width, depth):
        super().__init__()
        self.config = {"height": height, "width_pixels": width_pixels, "channels": channels,
                       "width": width, "depth": depth}
        levels = [width * 2**level for level in range(depth)]
        self.embedding = _embedding_mlp(4 * width)
        self.input = nn.Conv2d(channels, width, 3, padding=1)
        self.down = nn.ModuleList(_ResidualBlock(n_in, n_out, 4 * width)
                                  for n_in, n_out in zip([width, *levels[:-1]], levels))
        self.middle = _ResidualBlock(levels[-1], levels[-1], 4 * width)
        self.up = nn.ModuleList(_ResidualBlock(2 * n_in, n_out, 4 * width)
                                for n_in, n_out in zip(levels[::-1], [*levels[-2::-1], width]))
        self.norm = _group_norm(width)
        self.output = _zero(nn.Conv2d(width, channels, 3, padding=1))

    def forward(self, x, c):
        config = self.config
        shape = (x.shape[0], config["height"], config["width_pixels"], config["channels"])
        h = self.input(x.reshape(shape).permute(0, 3, 1, 2))  # (B, width, H, W)
        e = self.embedding(c)
        skips = []
        for level, block in enumerate(self.down):
            h = block(h if level == 0 else functional.avg_pool2d(h, 2, ceil_mode=True), e)
            skips.append(h)
        h = self.middle(h, e)
        for block in self.up:
            skip = skips.pop()
            h = block(torch.cat([functional.interpolate(h, size=skip.shape[-2:]), skip], 1), e)
        out = self.output(functional.silu(self.norm(h)))  # (B, C, H, W)
        return out.permute(0, 2, 3, 1).reshape(x.shape)
