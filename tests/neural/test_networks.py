"""The noise-conditioned networks, the EDM preconditioning, noise levels and schedule, and the
kernel-attention network against the fitted kernel model and a dense mixture score."""

import math

import numpy as np
import pytest
import torch
from scipy.stats import kstest, norm

from wpokernel import WPOKernelScore
from wpokernel.neural import MLP, NETWORKS, FourierEmbedding, KernelAttention, UNet
from wpokernel.neural.denoising import (
    P_MEAN,
    P_STD,
    denoise,
    denoising_loss,
    karras_sigmas,
    preconditioning,
    sample_noise_levels,
)


def _perturbed(network, seed=0):
    """``network`` with every parameter moved off its initialization (the output layer is 0)."""
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for parameter in network.parameters():
            parameter.add_(0.3 * torch.randn(parameter.shape, generator=generator,
                                             dtype=parameter.dtype))
    return network


def test_the_fourier_embedding_is_cosines_and_sines_of_log_spaced_frequencies():
    c = torch.tensor([-1.3, 0.0, 0.7])
    frequencies = 2 * np.pi * np.geomspace(0.25, 32.0, 5)
    phase = c.numpy()[:, None] * frequencies
    np.testing.assert_allclose(FourierEmbedding(5)(c).numpy(),
                               np.hstack([np.cos(phase), np.sin(phase)]), rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("network, n_features", [
    (MLP(6, 16, 2), 6),
    (UNet(7, 5, 1, 8, 3), 35),  # odd sizes: the decoder meets every skip at its size
    (UNet(8, 8, 3, 8, 2), 192),
])
def test_networks_start_at_zero_and_depend_on_the_state_and_the_conditioning(network, n_features):
    x = torch.randn(4, n_features, generator=torch.Generator().manual_seed(1))
    c = torch.linspace(-1.0, 1.0, 4)
    assert torch.equal(network(x, c), torch.zeros(4, n_features))  # zero output layer
    network = _perturbed(network)
    out = network(x, c)
    assert out.shape == (4, n_features)
    assert not torch.allclose(out, network(x, c.flip(0)))
    assert not torch.allclose(out, network(2 * x, c))
    # Rows are independent: no statistic is shared across the batch (float64, so that the
    # comparison is not of float32 convolution algorithms for one row and for four).
    network, x, c = network.double(), x.double(), c.double()
    torch.testing.assert_close(network(x[:1], c[:1]), network(x, c)[:1], rtol=1e-10, atol=1e-12)


def test_the_unet_reads_images_flattened_channels_last():
    # Moving one pixel of one channel changes the output mostly near that pixel and channel.
    network = _perturbed(UNet(8, 8, 3, 8, 2), seed=1)
    image = torch.zeros(1, 8, 8, 3)
    bumped = image.clone()
    bumped[0, 0, 0, 2] = 5.0
    c = torch.zeros(1)
    change = (network(bumped.reshape(1, -1), c) - network(image.reshape(1, -1), c)).abs()
    change = change.reshape(8, 8, 3).sum(2)
    assert change[:2, :2].sum() > change[-2:, -2:].sum()


def test_the_preconditioning_gives_unit_variance_input_and_target():
    # [KAAL2022] Eq. 7 and Appendix B.6: with Var(y) = sigma_data^2 = 1, the input
    # c_in (y + sigma n) and the effective target (y - c_skip x) / c_out have unit variance.
    generator = torch.Generator().manual_seed(0)
    for sigma in (0.01, 0.5, 3.0, 80.0):
        y = torch.randn(200_000, generator=generator, dtype=torch.float64)
        x = y + sigma * torch.randn(200_000, generator=generator, dtype=torch.float64)
        c_skip, c_out, c_in, c_noise = preconditioning(torch.tensor(sigma, dtype=torch.float64))
        assert float((c_in * x).var()) == pytest.approx(1.0, rel=0.02)
        assert float(((y - c_skip * x) / c_out).var()) == pytest.approx(1.0, rel=0.02)
        assert float(c_noise) == pytest.approx(math.log(sigma) / 4)


class _Constant(torch.nn.Module):
    """A raw network that returns ``value`` everywhere."""

    def __init__(self, value):
        super().__init__()
        self.value = torch.nn.Parameter(torch.tensor(value))

    def forward(self, x, c):
        return self.value * torch.ones_like(x)


def test_denoise_and_the_loss_are_the_preconditioned_regression():
    network = _Constant(0.25)
    generator = torch.Generator().manual_seed(0)
    y, noise = torch.randn(5, 3, generator=generator), torch.randn(5, 3, generator=generator)
    sigma = torch.tensor([0.1, 0.5, 1.0, 2.0, 10.0])
    s, d = sigma[:, None], 1.0 + sigma[:, None] ** 2
    x = y + s * noise
    expected = x / d + s / d.sqrt() * 0.25  # c_skip x + c_out F
    torch.testing.assert_close(denoise(network, x, sigma), expected)
    weight = d / s**2  # lambda(sigma) = 1 / c_out^2
    torch.testing.assert_close(denoising_loss(network, y, sigma, noise),
                               (weight * (expected - y) ** 2).mean())


def test_karras_levels_are_linear_in_the_rho_th_root():
    sigmas = karras_sigmas(80.0, 0.002, 10)
    assert sigmas[0] == 80.0 and sigmas[-1] == 0.002 and np.all(np.diff(sigmas) < 0)
    np.testing.assert_allclose(np.diff(sigmas ** (1 / 7)), np.diff(sigmas ** (1 / 7))[0], rtol=1e-9)


def test_noise_levels_are_log_normal_and_grouped_on_request():
    levels = sample_noise_levels(4000, torch.Generator().manual_seed(0), dtype=torch.float64)
    assert kstest(np.log(levels.numpy()), norm(P_MEAN, P_STD).cdf).pvalue > 0.01
    assert kstest(np.log(levels.numpy()), norm(P_MEAN + 0.2, P_STD).cdf).pvalue < 0.01
    grouped = sample_noise_levels(10, torch.Generator().manual_seed(0), groups=3)
    assert len(torch.unique(grouped)) == 3
    assert torch.equal(grouped[:4], grouped[:1].expand(4))


# ---------------------------------------------------------------------------- kernel attention
def _dense_mixture_score(x, keys, variance, factors, sigma):
    """-sum_k w_k (C_k + sigma^2 I)^{-1} (x - z_k) with dense covariances (NumPy)."""
    d = keys.shape[1]
    covariances = factors @ factors.transpose(0, 2, 1) + (variance[:, None, None] + sigma**2) * np.eye(d)
    precisions = np.linalg.inv(covariances)
    diff = x[:, None, :] - keys[None]  # (M, K, d)
    solved = np.einsum("kij,mkj->mki", precisions, diff)
    _, logdet = np.linalg.slogdet(covariances)
    log_kernel = -0.5 * ((diff * solved).sum(2) + logdet)
    weight = np.exp(log_kernel - log_kernel.max(1, keepdims=True))
    weight /= weight.sum(1, keepdims=True)
    return -(weight[:, :, None] * solved).sum(1)


def test_the_kernel_attention_score_is_the_dense_mixture_score():
    network = _perturbed(KernelAttention(3, 6, 2, 8, 1, 1e-4, 2.0, 0.3, residual=False)).double()
    rng = np.random.default_rng(0)
    x = torch.as_tensor(rng.normal(size=(7, 3)))
    sigma = torch.tensor([0.1, 0.1, 0.5, 0.5, 0.5, 2.0, 0.1], dtype=torch.float64)
    covariance = network.factors(network.keys, torch.arange(6))
    variance = np.broadcast_to(covariance.variance.detach().numpy(), (6,))
    factors, keys = covariance.factors.detach().numpy(), network.keys.detach().numpy()
    expected = np.vstack([_dense_mixture_score(x[i:i + 1].numpy(), keys, variance, factors,
                                               float(sigma[i])) for i in range(7)])
    score = (network(x, sigma) - x) / sigma[:, None] ** 2
    np.testing.assert_allclose(score.detach().numpy(), expected, rtol=1e-9, atol=1e-12)


def test_with_keys_at_the_centers_and_no_residual_it_is_the_kernel_model():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(60, 4)) @ rng.normal(size=(4, 4))
    wpo = WPOKernelScore(structure="lowrank", rank=2, max_steps=20, random_state=0,
                         progress=False).fit(X)
    centers = wpo.field_.centers
    network = KernelAttention(4, len(centers), 2, 8, 1, 1e-6, 1.0, 0.5, residual=False).double()
    network.factors = wpo.factor_network_  # the kernel model's covariance network
    with torch.no_grad():
        network.keys.copy_(torch.as_tensor(centers))
    U = (X[:10] - wpo.mean_) / wpo.scale_
    for t in (1e-4, 0.01, 0.3, 2.0):
        sigma = wpo.beta * math.sqrt(t)
        sigmas = torch.full((10,), sigma, dtype=torch.float64)
        denoised = network(torch.as_tensor(U), sigmas).detach().numpy()
        expected = wpo.field_.score(U, t)
        np.testing.assert_allclose((denoised - U) / sigma**2, expected, rtol=1e-6,
                                   atol=1e-6 * np.abs(expected).max())


def test_the_keys_learn_unless_fixed():
    for learn_keys in (True, False):
        network = KernelAttention(2, 5, 1, 8, 1, 1e-4, 2.0, 0.3, learn_keys=learn_keys)
        x = torch.randn(4, 2, generator=torch.Generator().manual_seed(0))
        network(x, torch.full((4,), 0.5)).pow(2).sum().backward()
        assert (network.keys.grad is not None) == learn_keys


def test_every_network_is_in_the_model_file_allow_list():
    assert {MLP, UNet, KernelAttention} <= set(NETWORKS.values())
