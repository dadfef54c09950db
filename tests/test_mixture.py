"""GaussianMixtureField against scipy.stats, torch autograd and finite differences."""

import numpy as np
import pytest
import torch
from scipy.stats import multivariate_normal

from _reference import dense_covariances
from wpokernel import GaussianMixtureField
from wpokernel.reductions import Diagonal, DiagonalLowRank, Full, Isotropic, LowRank, ScaledLowRank

N, D = 5, 3
BETA, NOISE = 0.7, 0.3


def _field(structure, rng, library=np.asarray):
    A = rng.normal(size=(N, D, D))
    cov = {
        "isotropic": Isotropic(rng.uniform(0.2, 1.0, N)),
        "diagonal": Diagonal(rng.uniform(0.2, 1.0, (N, D))),
        "lowrank": LowRank(0.3, rng.normal(size=(N, D, 2))),
        "diagonal-lowrank": DiagonalLowRank(rng.uniform(0.2, 1.0, N), rng.uniform(0.3, 2.0, D),
                                            rng.normal(size=(N, D, 2))),
        "scaled-lowrank": ScaledLowRank(rng.uniform(0.2, 1.0, N), rng.uniform(0.3, 2.0, D),
                                        rng.normal(size=(N, D, 2)).astype(np.float32),
                                        rng.uniform(0.2, 3.0, (N, 2))),
        "scaled-lowrank-per-center": ScaledLowRank(
            rng.uniform(0.2, 1.0, N), rng.uniform(0.3, 2.0, (N, D)).astype(np.float32),
            rng.normal(size=(N, D, 2)).astype(np.float32), rng.uniform(0.2, 3.0, (N, 2))),
        "full": Full(A @ A.transpose(0, 2, 1) + 0.1 * np.eye(D)),
    }[structure]
    centers = rng.normal(size=(N, D))
    log_w = rng.normal(size=N)  # deliberately unnormalized: the field normalizes
    return GaussianMixtureField(library(centers), cov, library(log_w), beta=BETA), centers, log_w


STRUCTURES = ["isotropic", "diagonal", "lowrank", "diagonal-lowrank", "scaled-lowrank",
              "scaled-lowrank-per-center", "full"]


def _scipy_density(field, centers, log_w, x, noise):
    covs = dense_covariances(field.covariance, N, D) + BETA**2 * noise * np.eye(D)
    w = np.exp(log_w) / np.exp(log_w).sum()
    return sum(w[j] * multivariate_normal(centers[j], covs[j]).pdf(x) for j in range(N))


@pytest.mark.parametrize("structure", STRUCTURES)
@pytest.mark.parametrize("noise", [0.0, NOISE])
def test_log_density_matches_scipy(structure, noise):
    rng = np.random.default_rng(0)
    field, centers, log_w = _field(structure, rng)
    x = rng.normal(size=(20, D))
    np.testing.assert_allclose(field.log_density(x, noise), np.log(_scipy_density(field, centers, log_w, x, noise)),
                               rtol=1e-12)


@pytest.mark.parametrize("structure", STRUCTURES)
def test_score_and_laplacian_match_autograd(structure):
    rng = np.random.default_rng(1)
    field, _, _ = _field(structure, rng, torch.tensor)
    x = torch.tensor(rng.normal(size=(6, D)), requires_grad=True)
    logp = field.log_density(x, NOISE)
    (grad,) = torch.autograd.grad(logp.sum(), x, create_graph=True)
    laplacian = sum(torch.autograd.grad(grad[:, k].sum(), x, retain_graph=True)[0][:, k] for k in range(D))
    np.testing.assert_allclose(field.score(x.detach(), NOISE).numpy(), grad.detach().numpy(), rtol=1e-10)
    np.testing.assert_allclose(field.laplacian_log_density(x.detach(), NOISE).numpy(),
                               laplacian.detach().numpy(), rtol=1e-9)


@pytest.mark.parametrize("structure", STRUCTURES)
def test_score_and_laplacian_match_finite_differences(structure):
    rng = np.random.default_rng(2)
    field, _, _ = _field(structure, rng)
    x = rng.normal(size=(4, D))
    h = 1e-5
    eye = np.eye(D)
    grad = np.stack([(field.log_density(x + h * e, NOISE) - field.log_density(x - h * e, NOISE)) / (2 * h)
                     for e in eye], axis=1)
    lap = sum((field.log_density(x + 1e-3 * e, NOISE) - 2 * field.log_density(x, NOISE)
               + field.log_density(x - 1e-3 * e, NOISE)) / 1e-6 for e in eye)
    np.testing.assert_allclose(field.score(x, NOISE), grad, rtol=1e-6, atol=1e-8)
    np.testing.assert_allclose(field.laplacian_log_density(x, NOISE), lap, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("structure", STRUCTURES)
def test_exact_sampling_moments(structure):
    rng = np.random.default_rng(3)
    field, centers, log_w = _field(structure, rng)
    w = np.exp(log_w) / np.exp(log_w).sum()
    covs = dense_covariances(field.covariance, N, D) + BETA**2 * NOISE * np.eye(D)
    mean = w @ centers
    second = np.einsum("j,jkl->kl", w, covs + np.einsum("jk,jl->jkl", centers, centers))
    cov = second - np.outer(mean, mean)
    n = 200_000
    samples = field.sample(n, t=NOISE, random_state=0)
    # Standard error of each mean coordinate is sqrt(var / n); allow 5 of them.
    np.testing.assert_allclose(samples.mean(0), mean, atol=5 * np.sqrt(cov.diagonal().max() / n))
    np.testing.assert_allclose(np.cov(samples.T), cov, atol=0.03 * np.abs(cov).max())


def test_sample_is_reproducible_and_validated():
    field, _, _ = _field("full", np.random.default_rng(4))
    np.testing.assert_array_equal(field.sample(7, random_state=5), field.sample(7, random_state=5))
    with pytest.raises(ValueError, match="Expected n_samples >= 1, got 0"):
        field.sample(0)
    with pytest.raises(ValueError, match="t >= 0"):
        field.log_density(np.zeros((1, D)), t=-1.0)
    with pytest.raises(TypeError, match="CovarianceStructure"):
        GaussianMixtureField(np.zeros((2, 2)), np.eye(2))


def test_empirical_measure_needs_positive_noise():
    field = GaussianMixtureField(np.zeros((3, 2)), Isotropic(0.0))
    with pytest.raises(ValueError, match="positive variances"):
        field.log_density(np.zeros((1, 2)))
    np.testing.assert_allclose(field.score(np.ones((1, 2)), t=2.0), [[-0.5, -0.5]])


def test_default_weights_follow_the_centers_array_library():
    rng = np.random.default_rng(0)
    centers, x = rng.normal(size=(5, 2)), rng.normal(size=(4, 2))
    expected = GaussianMixtureField(centers, Isotropic(0.5)).log_density(x)
    field = GaussianMixtureField(torch.as_tensor(centers), Isotropic(0.5))
    assert isinstance(field.log_weights, torch.Tensor)
    got = field.log_density(torch.as_tensor(x))
    assert isinstance(got, torch.Tensor)
    np.testing.assert_allclose(got.numpy(), expected, rtol=1e-12)
