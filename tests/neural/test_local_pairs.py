"""The pair-statistics log-kernels against dense Gaussian densities and the mixture engine."""

import numpy as np
import pytest
import torch
from scipy.special import logsumexp
from scipy.stats import multivariate_normal

from wpokernel.neural.local_pairs import (
    log_kernels,
    mixture_log_density,
    neighbor_statistics,
    pair_statistics,
)
from wpokernel.reductions import DiagonalLowRank, mixture_moments


def _problem(profile, seed=0, m=7, n=5, d=6, r=3):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(m, d)) * 3.0 + 10.0  # far from the origin: the centring matters
    z = rng.normal(size=(n, d)) + 10.0
    L = rng.normal(size=(n, d, r))
    # A shared profile, or one per center (the local floor).
    f = {None: None, "diagonal": (d,), "per-center": (n, d)}[profile]
    f = None if f is None else rng.uniform(0.05, 1.0, f)
    s = rng.uniform(0.1, 2.0, n)
    h = rng.uniform(0.2, 3.0, (n, r))
    return x, z, L, f, s, h


def _dense(z, L, f, s, h):
    n, d = z.shape
    f = np.ones((n, d)) if f is None else np.broadcast_to(f, (n, d))
    return [s[j] * np.diag(f[j]) + (L[j] * h[j]) @ (L[j] * h[j]).T for j in range(n)]


@pytest.mark.parametrize("profile", [None, "diagonal", "per-center"])
def test_log_kernels_are_the_dense_gaussian_log_densities(profile):
    x, z, L, f, s, h = _problem(profile)
    t = torch.as_tensor
    stats = pair_statistics(t(x), t(z), t(L), None if f is None else t(f))
    got = log_kernels(stats, t(s), t(h)).numpy()
    expected = np.stack([multivariate_normal(z[j], C).logpdf(x)
                         for j, C in enumerate(_dense(z, L, f, s, h))], 1)
    np.testing.assert_allclose(got, expected, rtol=1e-10, atol=1e-10)


@pytest.mark.parametrize("profile", [None, "diagonal", "per-center"])
def test_leading_columns_are_the_lower_rank_model(profile):
    x, z, L, f, s, h = _problem(profile, seed=1)
    t = torch.as_tensor
    full = pair_statistics(t(x), t(z), t(L), None if f is None else t(f))
    small = pair_statistics(t(x), t(z), t(L[:, :, :2]), None if f is None else t(f))
    np.testing.assert_allclose(log_kernels(full.leading(2), t(s), t(h[:, :2])).numpy(),
                               log_kernels(small, t(s), t(h[:, :2])).numpy(), rtol=1e-12)


@pytest.mark.parametrize("profile", ["diagonal", "per-center"])
def test_blocked_mixture_density_matches_the_reduction_engine(profile):
    x, z, L, f, s, h = _problem(profile, seed=2, m=9, n=23)
    t = torch.as_tensor
    got = mixture_log_density(t(x), t(z), t(L), t(f), t(s), t(h), max_pairs=20).numpy()
    structure = DiagonalLowRank(s, f, L * h[:, None, :])
    expected = mixture_moments(x, z, structure, backend="numpy").log_density
    np.testing.assert_allclose(got, expected, rtol=1e-10)
    dense = np.stack([multivariate_normal(z[j], C).logpdf(x)
                      for j, C in enumerate(_dense(z, L, f, s, h))], 1)
    np.testing.assert_allclose(got, logsumexp(dense, 1) - np.log(len(z)), rtol=1e-10)


@pytest.mark.parametrize("profile", ["diagonal", "per-center"])
@pytest.mark.parametrize("block", [None, 1])
def test_gradients_match_autograd_through_the_dense_density(block, profile, monkeypatch):
    # block=1: every center its own block of the b^T G b forms, forward and backward.
    from wpokernel.neural import local_pairs
    if block is not None:
        monkeypatch.setattr(local_pairs, "_QUADRATIC_BLOCK", block)
    x, z, L, f, s, h = _problem(profile, seed=3)
    f_kd = np.broadcast_to(f, z.shape).copy()
    t = torch.as_tensor
    stats = pair_statistics(t(x), t(z), t(L), t(f))
    s_t, h_t = t(s).requires_grad_(), t(h).requires_grad_()
    log_kernels(stats, s_t, h_t).sum().backward()
    s_d, h_d = t(s).requires_grad_(), t(h).requires_grad_()
    total = 0.0
    for j in range(len(z)):
        U = t(L[j]) * h_d[j]
        C = s_d[j] * torch.diag(t(f_kd[j])) + U @ U.T
        total = total + torch.distributions.MultivariateNormal(t(z[j]), C).log_prob(t(x)).sum()
    total.backward()
    np.testing.assert_allclose(s_t.grad.numpy(), s_d.grad.numpy(), rtol=1e-8)
    np.testing.assert_allclose(h_t.grad.numpy(), h_d.grad.numpy(), rtol=1e-8)


@pytest.mark.parametrize("profile", [None, np.array([1.0, 0.2, 0.5, 0.05, 0.7, 0.3]),
                                     np.random.default_rng(9).uniform(0.05, 1.0, (5, 6))
                                     .astype(np.float32)])
def test_local_scales_in_pair_form_are_its_covariances(profile):
    from wpokernel.neural import LocalScales
    x, z, L, _, _, _ = _problem(None, seed=4)
    L = np.linalg.qr(L)[0] * np.array([0.5, 1.0, 2.0])  # orthogonal columns, like local factors
    n, d, r = L.shape
    model = LocalScales(n, d, r, 8, 1, np.zeros(d), 1.0, 1e-3, 4.0, 0.3, profile, True, L)
    with torch.no_grad():
        model.mlp[-1].weight.normal_(0.0, 0.5)  # away from the initialization
    t = torch.as_tensor
    index = torch.arange(n)
    stats = pair_statistics(t(x), t(z), model.factors, model.profile)
    got = log_kernels(stats, *model.local_scales(t(z), index))
    expected = mixture_moments(t(x), t(z), model(t(z), index), log_weights=torch.zeros(1, n)[0],
                               backend="torch").log_density
    np.testing.assert_allclose(torch.logsumexp(got, 1).detach().numpy(),
                               expected.detach().numpy(), rtol=1e-10)


@pytest.mark.parametrize("profile", [None, "diagonal", "per-center"])
def test_neighbor_statistics_are_the_dense_pairs_they_select(profile):
    x, z, L, f, s, h = _problem(profile, seed=5, m=8, n=9)
    t = torch.as_tensor
    f_t = None if f is None else t(f)
    index = torch.as_tensor(np.random.default_rng(0).integers(0, len(z), (len(x), 4)))
    dense = log_kernels(pair_statistics(t(x), t(z), t(L), f_t), t(s), t(h))
    got = log_kernels(neighbor_statistics(t(x), index, t(z), t(L), f_t, chunk=3), t(s), t(h))
    np.testing.assert_allclose(got.numpy(), torch.gather(dense, 1, index).numpy(), rtol=1e-10)


@pytest.mark.parametrize("profile", [None, "diagonal", "per-center"])
def test_float32_factors_are_the_float64_model_of_their_rounded_values(profile, monkeypatch):
    # Stored in float32, the factors enter every product in float64, a few centers at a
    # time: the kernels are those of the rounded factors in float64, to float64 rounding.
    from wpokernel.neural import local_pairs
    monkeypatch.setattr(local_pairs, "_FACTOR_CHUNK", 2)
    x, z, L, f, s, h = _problem(profile, seed=6, m=8, n=7)
    t = torch.as_tensor
    f_t = None if f is None else t(f)
    L32 = t(L.astype(np.float32))
    rounded = L32.double()
    got = log_kernels(pair_statistics(t(x), t(z), L32, f_t), t(s), t(h))
    assert got.dtype == torch.float64
    expected = log_kernels(pair_statistics(t(x), t(z), rounded, f_t), t(s), t(h))
    np.testing.assert_allclose(got.numpy(), expected.numpy(), rtol=1e-12)
    dense = np.stack([multivariate_normal(z[j], C).logpdf(x) for j, C in
                      enumerate(_dense(z, rounded.numpy(), f, s, h))], 1)
    np.testing.assert_allclose(got.numpy(), dense, rtol=1e-10)
    index = torch.as_tensor(np.random.default_rng(1).integers(0, len(z), (len(x), 3)))
    near = log_kernels(neighbor_statistics(t(x), index, t(z), L32, f_t), t(s), t(h))
    np.testing.assert_allclose(near.numpy(), torch.gather(expected, 1, index).numpy(),
                               rtol=1e-12)
