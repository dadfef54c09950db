"""Factor-network heads and local covariances against dense formulas and brute force."""

import numpy as np
import pytest
import torch
from scipy.spatial.distance import cdist
from scipy.stats import multivariate_normal

from _reference import dense_covariances
from wpokernel.local_covariance import local_covariances
from wpokernel.neural import HEADS, FactorNetwork, FreeFactors, LocalScales
from wpokernel.neural.factor_network import gaussian_kl
from wpokernel.reductions import Diagonal, DiagonalLowRank, LowRank, mixture_moments


@pytest.mark.parametrize("structure", list(HEADS))
def test_head_covariances_are_floored_and_match_the_engine_density(structure):
    torch.manual_seed(0)
    d, n_centers, floor = 3, 4, 0.01
    network = FactorNetwork(d, structure, 2, 16, 2, torch.zeros(d), 1.5, floor, 5.0)
    z = torch.randn(n_centers, d, dtype=torch.float64)
    covariance = network(z, None)
    C_kdd = network.head.dense(covariance).detach().numpy()
    # Every covariance is symmetric with eigenvalues at least the floor.
    np.testing.assert_allclose(C_kdd, C_kdd.transpose(0, 2, 1), atol=1e-12)
    assert np.linalg.eigvalsh(C_kdd).min() >= floor * (1 - 1e-9)
    # The engine's density of the structure is the dense Gaussian mixture.
    x = np.random.default_rng(0).normal(size=(5, d))
    expected = np.log(np.mean([multivariate_normal(z_k, C_k).pdf(x)
                               for z_k, C_k in zip(z.numpy(), C_kdd)], axis=0))
    log_density = mixture_moments(torch.as_tensor(x), z, covariance).log_density.detach().numpy()
    np.testing.assert_allclose(log_density, expected, rtol=1e-10)


def test_full_head_is_the_inverse_of_the_precision_cholesky():
    head = HEADS["full"](2, None)
    o = torch.tensor([[0.3, -0.4, 1.2]], dtype=torch.float64)  # L = [[sp(.3), 0], [-.4, sp(1.2)]]
    softplus = torch.nn.functional.softplus
    L = torch.tensor([[softplus(o[0, 0]), 0.0], [-0.4, softplus(o[0, 2])]], dtype=torch.float64)
    eye = torch.eye(2, dtype=torch.float64)
    # scale 2, floor 0.1, ceiling 8: the precision (in units of scale^-2) gains scale^2/8 = 0.5.
    expected = 4.0 * torch.linalg.inv(L @ L.T + 0.5 * eye) + 0.1 * eye
    torch.testing.assert_close(head.dense(head.covariance(o, 2.0, 0.1, 8.0))[0], expected)


@pytest.mark.parametrize("structure", [*HEADS, "lowrank-profile"])
@pytest.mark.parametrize("magnitude", [1e-3, 1.0, 1e3])
def test_head_eigenvalues_stay_between_the_floor_and_the_ceiling(structure, magnitude):
    d, floor, ceiling = 4, 0.01, 3.0
    profile = np.array([1.0, 0.1, 0.5, 0.02]) if structure == "lowrank-profile" else None
    structure = structure.split("-")[0]
    head = HEADS[structure](d, 2, profile)
    generator = torch.Generator().manual_seed(4)
    o = magnitude * torch.randn(50, head.n_outputs, generator=generator, dtype=torch.float64)
    eigenvalues = torch.linalg.eigvalsh(head.dense(head.covariance(o, 0.7, floor, ceiling)))
    assert eigenvalues.min() >= floor * (1 - 1e-9)
    # Low rank: the isotropic part and U U^T are each below the ceiling.
    bound = floor + (2 if structure == "lowrank" else 1) * ceiling
    # Outputs of 1e3 make precisions of condition number ~1e7: rounding is ~1e7 machine epsilons.
    assert eigenvalues.max() <= bound * (1 + 1e-7)


def _local_part(head, local_kdd):
    """The statistic each head is initialized from, made from dense local covariances."""
    if head.local_statistic == "covariances":
        return local_kdd
    if head.local_statistic == "variances":
        return np.diagonal(local_kdd, axis1=1, axis2=2).copy()
    values, vectors = np.linalg.eigh(local_kdd)  # factors of the top-rank part
    return vectors[:, :, -head.rank:] * np.sqrt(np.clip(values[:, -head.rank:], 0, None))[:, None, :]


@pytest.mark.parametrize("structure", [*HEADS, "lowrank-profile"])
def test_local_structures_clip_the_local_eigenvalues_at_the_ceiling(structure):
    rng = np.random.default_rng(5)
    d, ceiling, variance, floor = 3, 2.0, 0.05, 0.01
    A = rng.normal(size=(6, d, d))
    local = A @ A.transpose(0, 2, 1) * np.array([0.1, 1.0, 10.0, 0.1, 5.0, 0.2])[:, None, None]
    profile = np.array([1.0, 0.3, 0.6]) if structure == "lowrank-profile" else None
    head = HEADS[structure.split("-")[0]](d, d, profile)
    part = _local_part(head, local)
    dense = head.dense(head.local_structure(part, 1.5, variance, floor, ceiling)).numpy()
    # Each structure's own projection of 1.5 * local, eigenvalues clipped, plus the variance
    # and the floor: isotropic, or in the floor's profile with the floor its least entry.
    projected = head.dense(head.local_structure(part, 1.5, 0.0, 0.0, np.inf)).numpy()
    values, vectors = np.linalg.eigh(projected)
    clipped = (vectors * np.minimum(values, ceiling)[:, None, :]) @ vectors.transpose(0, 2, 1)
    floor_part = (variance + floor if profile is None
                  else (variance + floor / profile.min()) * profile)
    np.testing.assert_allclose(dense, clipped + np.diag(np.broadcast_to(floor_part, d)),
                               atol=1e-10)


def test_gaussian_kl_matches_torch_distributions():
    generator = torch.Generator().manual_seed(2)
    A, B = (torch.randn(4, 3, 3, generator=generator, dtype=torch.float64) for _ in range(2))
    T = A @ A.transpose(1, 2) + 0.5 * torch.eye(3)
    C = B @ B.transpose(1, 2) + 0.5 * torch.eye(3)
    zeros = torch.zeros(4, 3, dtype=torch.float64)
    expected = torch.distributions.kl_divergence(
        torch.distributions.MultivariateNormal(zeros, T),
        torch.distributions.MultivariateNormal(zeros, C),
    ).mean()
    torch.testing.assert_close(gaussian_kl(T, C), expected)


def test_free_factors_give_each_center_its_own_covariance():
    factors = FreeFactors(3, 2, "diagonal", 1, 1.0, 0.01, 4.0)
    with torch.no_grad():
        factors.raw[1] = 2.0
    variances = factors(None, torch.arange(3)).variances
    assert variances[1, 0] > variances[0, 0] == variances[2, 0]


def test_local_covariances_match_a_loop_over_neighbours():
    rng = np.random.default_rng(3)
    X = rng.normal(size=(40, 3))
    center_index = np.array([0, 5, 17, 39])
    covariances = local_covariances(X, center_index, 6)
    distances = cdist(X[center_index], X)
    for k, row in enumerate(center_index):
        distances[k, row] = np.inf  # the center itself is not its own neighbour
        neighbors = np.argsort(distances[k])[:6]
        diff = X[neighbors] - X[row]
        np.testing.assert_allclose(covariances[k], diff.T @ diff / 6, rtol=1e-12)


def test_structured_kls_match_the_dense_kl():
    generator = torch.Generator().manual_seed(6)
    K, d = 5, 6

    def randn(*shape):
        return torch.randn(*shape, generator=generator, dtype=torch.float64)

    profile = randn(d).exp()
    structures = {
        "diagonal": (lambda v: Diagonal(v), randn(K, d).exp(), randn(K, d).exp()),
        "lowrank": (lambda v, U: LowRank(v, U), (randn(K).exp(), randn(K, d, 3)),
                    (randn(K).exp(), randn(K, d, 2))),
        "lowrank-profile": (lambda v, U: DiagonalLowRank(v, profile, U, added_variance=0.2),
                            (randn(K).exp(), randn(K, d, 3)), (randn(K).exp(), randn(K, d, 2))),
    }
    for name, (build, target, model) in structures.items():
        head = HEADS[name.split("-")[0]](d, 2, profile if name == "lowrank-profile" else None)
        target_structure = build(target) if name == "diagonal" else build(*target)
        model_structure = build(model) if name == "diagonal" else build(*model)
        dense_target, dense_model = head.dense(target_structure), head.dense(model_structure)
        torch.testing.assert_close(head.kl(head.parameters(target_structure), model_structure),
                                   gaussian_kl(dense_target, dense_model))
        # The gradient reaches the model's parameters like the dense one's does.
        model_param = model if name == "diagonal" else model[1]
        model_param.requires_grad_(True)
        rebuilt = build(model_param) if name == "diagonal" else build(model[0], model_param)
        grad_structured, = torch.autograd.grad(head.kl(head.parameters(target_structure), rebuilt),
                                               model_param)
        grad_dense, = torch.autograd.grad(gaussian_kl(dense_target, head.dense(rebuilt)), model_param)
        torch.testing.assert_close(grad_structured, grad_dense)


def test_a_network_with_a_floor_profile_saves_it_in_its_state():
    profile = np.array([1.0, 0.5, 0.25])
    network = FactorNetwork(3, "lowrank", 1, 8, 1, np.zeros(3), 1.0, 0.01, 2.0, profile=profile)
    rebuilt = FactorNetwork(**network.config)
    rebuilt.load_state_dict(network.state_dict())
    z = torch.randn(4, 3, dtype=torch.float64)
    torch.testing.assert_close(rebuilt.head.dense(rebuilt(z, None)), network.head.dense(network(z, None)))
    np.testing.assert_array_equal(rebuilt.profile.numpy(), profile)


def _local_factors(rng, n, d, r):
    """Factors with orthogonal columns, like the local factors."""
    Q = np.linalg.qr(rng.normal(size=(n, d, d)))[0][:, :, :r]
    return Q * rng.uniform(0.1, 1.5, (n, 1, r))


@pytest.mark.parametrize("profile", [None, np.array([1.0, 0.2, 0.5, 0.05])])
@pytest.mark.parametrize("amortized", [True, False])
def test_local_scales_start_at_the_calibrated_covariances(profile, amortized):
    rng = np.random.default_rng(8)
    n, d, r, floor, ceiling, variance = 5, 4, 2, 1e-3, 4.0, 0.3
    factors = _local_factors(rng, n, d, r)
    model = LocalScales(n, d, r, 8, 2, np.zeros(d), 1.0, floor, ceiling, variance, profile,
                        amortized, factors)
    z = torch.as_tensor(rng.normal(size=(n, d)))
    dense = HEADS["lowrank"](d, r).dense(model(z, torch.arange(n))).detach().numpy()
    floor_part = (np.full(d, variance + floor) if profile is None
                  else (variance + floor / profile.min()) * profile)
    expected = factors @ factors.transpose(0, 2, 1) + np.diag(floor_part)
    np.testing.assert_allclose(dense, expected, rtol=1e-12, atol=1e-14)


@pytest.mark.parametrize("profile", [None, np.array([1.0, 0.2, 0.5, 0.05])])
def test_local_scales_keep_float32_factors_and_share_them_with_the_mixture(profile):
    # Float32 factors are kept as given (no float64 copy); the model is that of their
    # values in float64 up to the column norms, which are taken in float32 (relative
    # rounding 1e-7), and its mixture structure shares the factors themselves.
    rng = np.random.default_rng(10)
    n, d, r = 5, 4, 2
    factors32 = torch.as_tensor(_local_factors(rng, n, d, r).astype(np.float32))
    arguments = (n, d, r, 8, 1, np.zeros(d), 1.0, 1e-3, 4.0, 0.3, profile, True)
    model = LocalScales(*arguments, factors32)
    assert model.factors is factors32 and model.config["factors_dtype"] == "float32"
    with torch.no_grad():
        model.mlp[-1].weight.normal_(0.0, 0.5)
    reference = LocalScales(*arguments, factors32.double())
    reference.load_state_dict({**model.state_dict(), "factors": factors32.double()})
    z = torch.as_tensor(rng.normal(size=(n, d)))
    with torch.no_grad():
        got = model(z, torch.arange(n))
        shared = model.mixture_structure(z)
        exact = reference(z, torch.arange(n))
    assert got.factors.dtype == torch.float64
    assert shared.factors is factors32 and shared.variance.dtype == torch.float64
    head = HEADS["lowrank"](d, r)
    torch.testing.assert_close(torch.as_tensor(dense_covariances(shared, n, d)),
                               head.dense(got), rtol=1e-12, atol=0)
    torch.testing.assert_close(got.factors, exact.factors, rtol=1e-6, atol=0)
    torch.testing.assert_close(got.variance, exact.variance, rtol=1e-12, atol=0)
    # A state of float32 factors loads into a model built from its config.
    rebuilt = LocalScales(*arguments, factors_dtype=model.config["factors_dtype"])
    rebuilt.load_state_dict(model.state_dict())
    assert rebuilt.factors.dtype == torch.float32


@pytest.mark.parametrize("profile", [None, np.array([1.0, 0.2, 0.5, 0.05])])
def test_local_scales_stay_between_the_floor_and_twice_the_ceiling(profile):
    rng = np.random.default_rng(9)
    n, d, r, floor, ceiling = 20, 4, 2, 1e-3, 2.0
    model = LocalScales(n, d, r, 8, 1, np.zeros(d), 1.0, floor, ceiling, 0.5, profile,
                        factors=_local_factors(rng, n, d, r))
    with torch.no_grad():
        model.mlp[-1].weight.normal_(0.0, 30.0)  # outputs far from 0, of both signs
    dense = HEADS["lowrank"](d, r).dense(model(torch.as_tensor(rng.normal(size=(n, d))),
                                               torch.arange(n)))
    eigenvalues = torch.linalg.eigvalsh(dense)
    least_scale = floor if profile is None else floor / profile.min()
    assert eigenvalues.min() >= floor * (1 - 1e-9)
    assert eigenvalues.max() <= (least_scale + 2 * ceiling) * (1 + 1e-9)
