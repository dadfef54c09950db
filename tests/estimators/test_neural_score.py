"""NeuralScore against independent computations: Gaussian data in d = 8 (the exact heat-flowed
score, log-density and law), memorization of 20 points by a large network trained long, the
kernel-attention network and the U-Net on small data, reproducibility, bits per dimension,
and clear errors for bad input."""

import math

import numpy as np
import pytest
import torch
from scipy.stats import multivariate_normal, norm

from _stats import energy_permutation_pvalue
from wpokernel import NeuralScore
from wpokernel.datasets import load_digits_continuous
from wpokernel.diagnostics import memorization_ratio
from wpokernel.estimators._neural import bits_per_dimension
from wpokernel.neural import MLP, KernelAttention

QUIET = {"progress": False, "random_state": 0}
TINY = {"network": "mlp", "width": 16, "depth": 1, "max_steps": 20, "n_steps": 4, **QUIET}


@pytest.fixture(scope="module")
def gaussian():
    """A model of N(mu, Sigma) in d = 8, eigenvalues 0.3 to 2, and the exact law."""
    rng = np.random.default_rng(0)
    d = 8
    Q, _ = np.linalg.qr(rng.normal(size=(d, d)))
    Sigma = (Q * np.linspace(0.3, 2.0, d)) @ Q.T
    mu = rng.normal(size=d)
    X = rng.multivariate_normal(mu, Sigma, size=4000)
    model = NeuralScore(network="mlp", width=64, depth=2, max_steps=2000, batch_size=256,
                        validation_fraction=0, **QUIET).fit(X)
    return model, mu, Sigma


def test_the_learned_score_is_the_exact_heat_flowed_score(gaussian):
    # grad log N(x; mu, Sigma + (sigma rho)^2 I) at noise levels across the training
    # distribution's central 80% (exp(P_mean +- 1.28 P_std) = 0.13 to 2.8).
    model, mu, Sigma = gaussian
    rng = np.random.default_rng(1)
    errors = []
    for sigma in (0.15, 0.3, 0.6, 1.2, 2.4):
        covariance = Sigma + (sigma * model.scale_) ** 2 * np.eye(8)
        x = rng.multivariate_normal(mu, covariance, size=2000)
        exact = -np.linalg.solve(covariance, (x - mu).T).T
        learned = model.score_function(x, sigma**2 / model.beta**2)
        errors.append(np.sqrt(((learned - exact) ** 2).sum() / (exact**2).sum()))
    assert np.mean(errors) < 0.1, errors


def _law(model, mu, Sigma):
    """The model's target: the data's law with the noise left where sampling stops."""
    return multivariate_normal(mu, Sigma + (model.sigma_min * model.scale_) ** 2 * np.eye(8))


def test_score_samples_is_the_exact_log_density(gaussian):
    model, mu, Sigma = gaussian
    law = _law(model, mu, Sigma)
    x = law.rvs(300, random_state=1)
    gap = np.abs(model.score_samples(x) - law.logpdf(x)).mean() / 8
    assert gap < 0.05
    assert model.score(x) == pytest.approx(np.mean(model.score_samples(x)))


# Euler-Maruyama is first order: the SDE takes the steps of the template's test.
@pytest.mark.parametrize("method, n_steps", [("ode", None), ("sde", 200)])
def test_samples_have_the_exact_law(gaussian, method, n_steps):
    model, mu, Sigma = gaussian
    law = _law(model, mu, Sigma)
    samples = model.sample(600, random_state=2, method=method, n_steps=n_steps)
    exact = law.rvs(600, random_state=3)
    assert energy_permutation_pvalue(samples, exact) > 0.01
    assert energy_permutation_pvalue(mu + 1.5 * (samples - mu), exact) < 0.01  # power


def test_a_large_network_trained_long_memorizes_twenty_points():
    X = load_digits_continuous(random_state=0)[:20]
    model = NeuralScore(network="mlp", width=128, depth=3, max_steps=4000, batch_size=20,
                        validation_fraction=0, **QUIET).fit(X)
    fraction, _ = memorization_ratio(model.sample(100, random_state=1), X)
    assert fraction > 0.9


def test_the_kernel_attention_network_trains_and_samples():
    X = load_digits_continuous(random_state=0)[:300]
    model = NeuralScore(network="kernel-attention", n_centers=64, rank=4, width=32, depth=1,
                        max_steps=60, validation_interval=20, n_steps=16, **QUIET).fit(X)
    network = model.network_
    assert isinstance(network, KernelAttention) and network.keys.shape == (64, 64)
    assert model.history_["loss"][-1] < model.history_["loss"][0]
    assert np.all(np.isfinite(model.sample(5, random_state=0)))


def test_the_unet_trains_on_images():
    X = load_digits_continuous(random_state=0)[:200]
    model = NeuralScore(image_shape=(8, 8), width=8, depth=2, max_steps=30, n_steps=8,
                        validation_interval=10, **QUIET).fit(X)
    assert type(model.network_).__name__ == "UNet"
    assert model.sample(3, random_state=0).shape == (3, 64)


def test_a_seed_gives_the_same_model_and_another_seed_another():
    X = np.random.default_rng(0).normal(size=(100, 3))
    a, b = (NeuralScore(**TINY).fit(X) for _ in range(2))
    c = NeuralScore(**{**TINY, "random_state": 1}).fit(X)
    for p, q in zip(a.network_.parameters(), b.network_.parameters()):
        assert torch.equal(p, q)
    assert a.history_ == b.history_ and a.history_ != c.history_
    np.testing.assert_array_equal(a.sample(4, random_state=0), b.sample(4, random_state=0))


def test_the_moving_average_and_early_stopping_are_recorded():
    X = np.random.default_rng(0).normal(size=(200, 2))
    model = NeuralScore(**{**TINY, "max_steps": 200, "validation_interval": 10, "patience": 2}).fit(X)
    steps = model.history_["validation_step"]
    assert steps[0] == 0 and model.best_step_ in steps
    best = model.history_["validation_score"][steps.index(model.best_step_)]
    assert model.best_validation_loss_ == -best
    assert model.best_validation_loss_ == -max(model.history_["validation_score"])


def test_bits_per_dimension_bound_the_discrete_code_length():
    # Values on the grid k / 256, dequantized by uniform noise over each cell: a density q
    # gives, by Jensen, E_u log q + log(1/256) <= log P(cell), here both exact (q Gaussian:
    # E_u (x - m)^2 over a cell of centre c is (c - m)^2 + w^2 / 12; P from the CDF).
    m, s, w = 0.5, 0.1, 1 / 256
    q = norm(m, s)
    cells = np.arange(256) * w
    probability = q.cdf(cells + w) - q.cdf(cells)
    k = np.random.default_rng(0).choice(256, size=20_000, p=probability / probability.sum())
    mean_log_q = -0.5 * np.log(2 * np.pi * s**2) - ((cells[k] + w / 2 - m) ** 2 + w**2 / 12) / (2 * s**2)
    exact = -np.mean(np.log2(probability[k]))
    bound = bits_per_dimension(mean_log_q, 1)
    assert exact <= bound < exact + 0.01


def test_bits_per_dimension_of_the_model():
    X = np.random.default_rng(0).random((60, 3))
    model = NeuralScore(**TINY).fit(X)
    expected = 8 - model.score_samples(X).mean() / (3 * math.log(2))
    assert model.bits_per_dimension(X) == pytest.approx(expected)
    with pytest.raises(ValueError, match="Expected bin_width > 0"):
        model.bits_per_dimension(X, bin_width=0.0)


# ---------------------------------------------------------------------------- bad input
class _WrongShape(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.weight = torch.nn.Parameter(torch.ones(1))

    def forward(self, x, c):
        return self.weight * torch.ones(len(x), x.shape[1] + 1)


class _Diverging(MLP):
    """An MLP whose output turns to NaN from its 7th training call on (the checks and the
    validation run without gradients)."""

    def __init__(self):
        super().__init__(3, 8, 1)
        self.calls = 0

    def forward(self, x, c):
        self.calls += torch.is_grad_enabled()
        out = super().forward(x, c)
        return out * math.nan if self.calls >= 7 else out


def test_images_whose_size_is_not_the_image_shape_are_refused():
    with pytest.raises(ValueError, match=r"Expected image_shape with prod\(image_shape\) == "
                                         r"n_features = 64, got image_shape=\(28, 28\)"):
        NeuralScore(image_shape=(28, 28), **QUIET).fit(np.random.default_rng(0).random((10, 64)))
    with pytest.raises(ValueError, match="Expected image_shape to be None or"):
        NeuralScore(image_shape=(8, 0), **QUIET).fit(np.random.default_rng(0).random((10, 64)))
    with pytest.raises(ValueError, match="Expected image_shape .* with network='unet'"):
        NeuralScore(network="unet", **QUIET).fit(np.random.default_rng(0).random((10, 64)))


@pytest.mark.skipif(torch.cuda.is_available(), reason="a CUDA GPU is visible")
def test_cuda_without_a_gpu_is_refused_before_any_work():
    with pytest.raises(ValueError, match=r"Expected device='cpu' on a machine without a CUDA "
                                         r"GPU visible to torch, got device='cuda'"):
        NeuralScore(device="cuda", **TINY).fit(np.random.default_rng(0).random((10, 3)))


def test_a_network_with_the_wrong_output_shape_is_refused():
    with pytest.raises(ValueError, match=r"Expected the network to return a tensor of shape "
                                         r"\(2, 3\) for an input of shape \(2, 3\), got \(2, 4\)"):
        NeuralScore(**{**TINY, "network": _WrongShape()}).fit(np.random.default_rng(0).random((10, 3)))


def test_a_non_finite_loss_stops_training_with_the_step_and_the_last_finite_loss():
    network = _Diverging()
    with pytest.raises(ValueError, match=r"Expected a finite training loss, got nan at step 7 "
                                         r"\(last finite loss [0-9.e+-]+\)"):
        NeuralScore(**{**TINY, "network": network}).fit(np.random.default_rng(0).random((50, 3)))
    assert network.calls == 0  # the caller's module is never trained: a copy is


@pytest.mark.parametrize("params, match", [
    ({"sigma_min": 0.0}, "Expected sigma_min > 0"),
    ({"network": "transformer"}, r"Expected network in \('auto', 'mlp', 'unet', "
                                 r"'kernel-attention'\) or a torch.nn.Module"),
    ({"validation_fraction": 1.0}, r"Expected validation_fraction in \[0, 1\)"),
    ({"precision": "float16"}, "Expected precision in"),
    ({"ema_decay": 1.5}, r"Expected ema_decay in \[0, 1\)"),
    ({"width": 0}, "Expected width >= 1"),
])
def test_invalid_hyper_parameters(params, match):
    with pytest.raises(ValueError, match=match):
        NeuralScore(**{**TINY, **params}).fit(np.random.default_rng(0).random((10, 3)))


def test_the_score_is_not_defined_without_noise():
    model = NeuralScore(**TINY).fit(np.random.default_rng(0).random((20, 3)))
    with pytest.raises(ValueError, match="Expected t > 0"):
        model.score_function(np.zeros((1, 3)), 0.0)


@pytest.mark.gpu
def test_a_cuda_fit_trains_and_samples_on_the_gpu_with_the_cpu_draws():
    X = np.random.default_rng(0).normal(size=(200, 3))
    settings = {**TINY, "max_steps": 50, "precision": "float32"}
    cpu = NeuralScore(**settings).fit(X)
    cuda = NeuralScore(**settings, device="cuda").fit(X)
    assert cuda.device_ == "cuda" and next(cuda.network_.parameters()).is_cuda
    # The same minibatches and noise (drawn on the CPU): the same losses up to float32 kernels.
    np.testing.assert_allclose(cuda.history_["loss"], cpu.history_["loss"], rtol=1e-3)
    samples = cuda.sample(5, random_state=0)
    assert isinstance(samples, np.ndarray) and np.all(np.isfinite(samples))
    np.testing.assert_allclose(cuda.score_samples(X[:5]), cpu.score_samples(X[:5]), rtol=1e-3,
                               atol=1e-3)
    assert NeuralScore(**{**settings, "precision": "auto"}, device="cuda")._autocast_dtype() \
        is torch.bfloat16
