"""The reduction engine against dense loops with scipy.stats, on every backend."""

import inspect
import tracemalloc

import numpy as np
import pytest
import torch

from _problems import random_mixture
from _reference import dense_covariances, mixture_moments_loop
from wpokernel.reductions import (
    BACKENDS,
    Diagonal,
    DiagonalLowRank,
    ScaledLowRank,
    Full,
    Isotropic,
    LowRank,
    mixture_moments,
    resolve_backend,
)
from wpokernel.reductions import _dispatch

M, N, D, R = 13, 11, 3, 2


def _structures(rng):
    A = rng.normal(size=(N, D, D))
    return {
        "isotropic-shared": Isotropic(0.4),
        "isotropic": Isotropic(rng.uniform(0.2, 1.0, N)),
        "diagonal": Diagonal(rng.uniform(0.2, 1.0, (N, D))),
        "lowrank": LowRank(rng.uniform(0.2, 1.0, N), rng.normal(size=(N, D, R))),
        "lowrank-shared": LowRank(0.3, rng.normal(size=(N, D, R))),
        "diagonal-lowrank": DiagonalLowRank(rng.uniform(0.2, 1.0, N), rng.uniform(0.3, 2.0, D),
                                            rng.normal(size=(N, D, R))),
        "diagonal-lowrank-shared": DiagonalLowRank(0.5, rng.uniform(0.3, 2.0, D),
                                                   rng.normal(size=(N, D, R))),
        "scaled-lowrank": ScaledLowRank(rng.uniform(0.2, 1.0, N), rng.uniform(0.3, 2.0, D),
                                        rng.normal(size=(N, D, R)).astype(np.float32),
                                        rng.uniform(0.2, 3.0, (N, R))),
        # A profile per center (the local floor), float32 as the model stores it.
        "diagonal-lowrank-per-center": DiagonalLowRank(
            rng.uniform(0.2, 1.0, N), rng.uniform(0.3, 2.0, (N, D)), rng.normal(size=(N, D, R))),
        "scaled-lowrank-per-center": ScaledLowRank(
            rng.uniform(0.2, 1.0, N), rng.uniform(0.3, 2.0, (N, D)).astype(np.float32),
            rng.normal(size=(N, D, R)).astype(np.float32), rng.uniform(0.2, 3.0, (N, R))),
        "full": Full(A @ A.transpose(0, 2, 1) + 0.1 * np.eye(D)),
    }


STRUCTURES = list(_structures(np.random.default_rng(0)))


@pytest.fixture
def problem():
    rng = np.random.default_rng(1)
    return (*random_mixture(rng, M, N, D), _structures(rng))


def _assert_matches(out, ref, rtol):
    for got, want in zip(out, ref):
        want = np.asarray(want)
        scale = np.abs(want).max()
        np.testing.assert_allclose(np.asarray(got), want, rtol=0, atol=rtol * scale)


@pytest.mark.parametrize("structure", STRUCTURES)
def test_float64_matches_dense_reference(problem, structure, backend):
    x, z, log_w, values, structures = problem
    cov = structures[structure].with_added_variance(0.25)
    ref = mixture_moments_loop(x, z, dense_covariances(cov, N, D), log_w, values)
    out = mixture_moments(x, z, cov, log_w, values, score=True, laplacian=True, backend=backend)
    _assert_matches(out, ref, 1e-10)


@pytest.mark.parametrize("structure", ["isotropic", "diagonal", "lowrank", "diagonal-lowrank",
                                       "full"])
def test_float32_matches_dense_reference(problem, structure, backend):
    x, z, log_w, values, structures = problem
    cov = structures[structure]
    ref = mixture_moments_loop(x, z, dense_covariances(cov, N, D), log_w, values)
    out = mixture_moments(x.astype(np.float32), z.astype(np.float32), cov, log_w.astype(np.float32),
                          values.astype(np.float32), score=True, laplacian=True, backend=backend)
    assert out.log_density.dtype == np.float32
    _assert_matches(out, ref, 1e-4)


# Budgets in MiB that prepare the N = 11 centers in several blocks: ten bytes (one center
# per prepared block, one query row per block) and five kilobytes (3 to 10 centers per
# prepared block by structure, the last one shorter, cut again into columns against all
# 13 query rows).
SPLITTING_BUDGETS = [1e-5, 5e-3]


@pytest.mark.parametrize("library", ["numpy", "torch"])
@pytest.mark.parametrize("working_memory", SPLITTING_BUDGETS)
@pytest.mark.parametrize("structure", STRUCTURES)
def test_blocking_does_not_change_the_result(problem, structure, working_memory, library):
    x, z, log_w, values, structures = problem
    cov = structures[structure]
    if library == "torch":
        cov = cov.map_arrays(torch.as_tensor)
        x, z, log_w, values = (torch.as_tensor(a) for a in (x, z, log_w, values))
    whole = mixture_moments(x, z, cov, log_w, values, score=True, laplacian=True, backend=library)
    split = mixture_moments(x, z, cov, log_w, values, score=True, laplacian=True, backend=library,
                            working_memory=working_memory)
    _assert_matches(split, whole, 1e-12)


@pytest.mark.parametrize("working_memory", SPLITTING_BUDGETS)
@pytest.mark.parametrize("structure", ["isotropic", "lowrank", "diagonal-lowrank", "full"])
def test_tight_budgets_prepare_the_centers_in_blocks(problem, structure, working_memory,
                                                      monkeypatch):
    x, z, log_w, values, structures = problem
    cov = structures[structure]
    prepared = []
    real_prepare = type(cov).prepare
    monkeypatch.setattr(type(cov), "prepare",
                        lambda self, ns, centers: prepared.append(len(centers))
                        or real_prepare(self, ns, centers))
    mixture_moments(x, z, cov, log_w, values, score=True, working_memory=working_memory)
    assert sum(prepared) == N and 1 < len(prepared) and max(prepared) < N
    prepared.clear()
    mixture_moments(x, z, cov, log_w, values, score=True)
    assert prepared == [N]  # small problems: one block, prepared once


def test_prepared_arrays_of_a_big_mixture_stay_in_the_budget():
    rng = np.random.default_rng(5)
    n_centers, d, r, budget = 800, 64, 8, 2.0
    x, z, log_w, _ = random_mixture(rng, 100, n_centers, d)
    cov = DiagonalLowRank(rng.uniform(0.2, 1.0, n_centers), rng.uniform(0.5, 1.0, d),
                          rng.normal(size=(n_centers, d, r)))
    # Preparing every center at once would hold W, V and Y: three times the 3.1 MiB factors.
    tracemalloc.start()
    try:
        mixture_moments(x, z, cov, log_w, score=True, laplacian=True, working_memory=budget)
        peak = tracemalloc.get_traced_memory()[1] / 2**20
    finally:
        tracemalloc.stop()
    assert peak < 2 * budget


@pytest.mark.parametrize("working_memory", SPLITTING_BUDGETS)
@pytest.mark.parametrize("structure", STRUCTURES)
def test_blocked_gradients_match_one_block(problem, structure, working_memory):
    x, z, log_w, values, structures = problem
    cov = structures[structure]

    def gradients(working_memory):
        leaves = [torch.tensor(a, requires_grad=True) for a in (x, z, log_w, values)]
        params = {name: torch.tensor(a, requires_grad=True) for name, a in cov.parameters.items()}
        out = mixture_moments(*leaves[:2], type(cov)(**params), *leaves[2:], score=True,
                              laplacian=True, working_memory=working_memory)
        loss = sum(a.square().sum() for a in out)
        return torch.autograd.grad(loss, leaves + list(params.values()))

    for split, whole in zip(gradients(working_memory), gradients(256)):
        np.testing.assert_allclose(split.numpy(), whole.numpy(), rtol=1e-10,
                                   atol=1e-12 * whole.abs().max().item())


@pytest.mark.parametrize("structure", STRUCTURES)
@pytest.mark.parametrize("start, stop", [(0, N), (3, 8), (10, 11)])
def test_sliced_covariances_are_the_slices_of_the_dense_ones(structure, start, stop):
    covariance = _structures(np.random.default_rng(6))[structure].with_added_variance(0.25)
    part = covariance.sliced(start, stop)
    assert type(part) is type(covariance) and part.added_variance == covariance.added_variance
    np.testing.assert_array_equal(dense_covariances(part, stop - start, D),
                                  dense_covariances(covariance, N, D)[start:stop])


def test_sliced_keeps_a_profile_as_long_as_the_components():
    rng = np.random.default_rng(7)
    n = d = 4  # the shared (d,) profile has the shape of a per-center (N,) variance
    variance, profile = rng.uniform(0.2, 1.0, n), rng.uniform(0.3, 2.0, d)
    factors = rng.normal(size=(n, d, R))
    part = DiagonalLowRank(variance, profile, factors).sliced(1, 3)
    np.testing.assert_array_equal(part.profile, profile)
    assert part.variance.shape == (2,) and part.factors.shape == (2, d, R)
    dense = [np.diag(v * profile) + u @ u.T for v, u in zip(variance[1:3], factors[1:3])]
    np.testing.assert_allclose(dense_covariances(part, 2, d), dense, rtol=1e-15)


def test_sliced_cuts_a_profile_per_center_with_the_components():
    rng = np.random.default_rng(8)
    variance, profile = rng.uniform(0.2, 1.0, N), rng.uniform(0.3, 2.0, (N, D))
    factors = rng.normal(size=(N, D, R))
    part = DiagonalLowRank(variance, profile, factors).sliced(2, 6)
    np.testing.assert_array_equal(part.profile, profile[2:6])
    dense = [np.diag(v * f) + u @ u.T for v, f, u in zip(variance[2:6], profile[2:6], factors[2:6])]
    np.testing.assert_allclose(dense_covariances(part, 4, D), dense, rtol=1e-15)


@pytest.mark.parametrize("shape", [(N + 1, D), (D + 1,), (N, D, 1)])
def test_a_profile_of_neither_shape_is_refused(shape):
    with pytest.raises(ValueError, match="profile"):
        DiagonalLowRank(0.5, np.ones(shape), np.ones((N, D, R)))


def test_sliced_torch_parameters_keep_the_graph():
    factors = torch.ones((N, D, R), dtype=torch.float64, requires_grad=True)
    variance = torch.tensor(0.3, dtype=torch.float64, requires_grad=True)
    part = LowRank(variance, factors).sliced(2, 5)
    assert part.variance is variance
    (grad,) = torch.autograd.grad(part.factors.sum(), factors)
    assert grad[2:5].eq(1).all() and grad[:2].eq(0).all() and grad[5:].eq(0).all()


def test_weighted_mean_of_centers(problem, backend):
    x, z, log_w, _, structures = problem
    out = mixture_moments(x, z, structures["isotropic"], log_w, values=z, backend=backend)
    _, _, _, ref = mixture_moments_loop(x, z, dense_covariances(structures["isotropic"], N, D), log_w, z)
    np.testing.assert_allclose(out.values, ref, rtol=1e-10)


def test_unrequested_moments_are_none(problem):
    x, z, _, _, structures = problem
    out = mixture_moments(x, z, structures["full"])
    assert out.displacement is None and out.laplacian_term is None and out.values is None


def test_uniform_weights_by_default(problem):
    x, z, _, _, structures = problem
    cov = structures["diagonal"]
    uniform = np.full(N, -np.log(N))
    np.testing.assert_allclose(mixture_moments(x, z, cov).log_density,
                               mixture_moments(x, z, cov, uniform).log_density, rtol=1e-14)


def test_weight_equals_repeated_center(problem):
    x, z, _, _, _ = problem
    doubled = np.concatenate([z, z[:1]])
    log_w = np.log(np.r_[2.0, np.ones(N - 1)] / (N + 1))
    a = mixture_moments(x, z, Isotropic(0.5), log_w, score=True, laplacian=True)
    b = mixture_moments(x, doubled, Isotropic(0.5), score=True, laplacian=True)
    _assert_matches(a[:3], b[:3], 1e-12)


# ------------------------------------------------------------------ torch specifics

@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_torch_in_torch_out(problem, device, dtype):
    x, z, _, _, structures = problem
    xt = torch.as_tensor(x, dtype=dtype, device=device)
    zt = torch.as_tensor(z, dtype=dtype, device=device)
    out = mixture_moments(xt, zt, structures["lowrank"], score=True, backend="auto")
    assert isinstance(out.log_density, torch.Tensor)
    assert out.log_density.dtype == dtype and out.displacement.device.type == device
    ref = mixture_moments(x, z, structures["lowrank"], score=True, backend="numpy")
    rtol = 1e-10 if dtype == torch.float64 else 1e-4
    _assert_matches([o.cpu().numpy() for o in out[:2]], ref[:2], rtol)


@pytest.mark.parametrize("structure", ["isotropic", "diagonal", "lowrank", "diagonal-lowrank",
                                       "full"])
def test_score_is_autograd_gradient(problem, structure):
    x, z, _, _, structures = problem
    xt = torch.tensor(x, requires_grad=True)
    out = mixture_moments(xt, torch.tensor(z), structures[structure], score=True)
    (grad,) = torch.autograd.grad(out.log_density.sum(), xt)
    np.testing.assert_allclose(grad.numpy(), -out.displacement.detach().numpy(), rtol=1e-10, atol=1e-12)


def test_gradient_wrt_covariance_parameters_gradcheck():
    rng = np.random.default_rng(3)
    x = torch.tensor(rng.normal(size=(4, 2)))
    z = torch.tensor(rng.normal(size=(3, 2)))
    factors = torch.tensor(rng.normal(size=(3, 2, 1)), requires_grad=True)
    variance = torch.tensor(rng.uniform(0.3, 1.0, 3), requires_grad=True)

    def f(variance, factors):
        return mixture_moments(x, z, LowRank(variance, factors), score=True, laplacian=True,
                               working_memory=1e-5)[:3]

    assert torch.autograd.gradcheck(f, (variance, factors))


def test_gradient_wrt_diagonal_low_rank_parameters_gradcheck():
    rng = np.random.default_rng(4)
    x = torch.tensor(rng.normal(size=(4, 3)))
    z = torch.tensor(rng.normal(size=(3, 3)))
    parameters = (torch.tensor(rng.uniform(0.3, 1.0, 3), requires_grad=True),
                  torch.tensor(rng.uniform(0.5, 2.0, 3), requires_grad=True),
                  torch.tensor(rng.normal(size=(3, 3, 2)), requires_grad=True))

    def f(variance, profile, factors):
        return mixture_moments(x, z, DiagonalLowRank(variance, profile, factors), score=True,
                               laplacian=True, working_memory=1e-5)[:3]

    assert torch.autograd.gradcheck(f, parameters)


# ------------------------------------------------------------------ dispatch

def test_backend_signatures_match():
    signatures = {name: inspect.signature(fn) for name, fn in BACKENDS.items()}
    first = next(iter(signatures.values()))
    for name, sig in signatures.items():
        assert list(sig.parameters) == list(first.parameters), name
        assert all(p.kind == first.parameters[k].kind for k, p in sig.parameters.items()), name


def test_auto_resolution_rules(monkeypatch):
    monkeypatch.setattr(_dispatch, "keops_installed", lambda: True)
    big = _dispatch.KEOPS_MIN_PAIRS
    # CPU: the blocked NumPy engine, whatever the size or the library, unless grad is needed.
    assert resolve_backend("auto", "numpy", big, 1, 2) == "numpy"
    assert resolve_backend("auto", "torch", big, 1, 2) == "numpy"
    assert resolve_backend("auto", "torch", big, 1, 2, requires_grad=True) == "torch"
    # GPU: KeOps for large, low-dimensional problems, the caller's GPU library otherwise.
    assert resolve_backend("auto", "torch", big, 1, 2, on_gpu=True) == "keops"
    assert resolve_backend("auto", "cupy", big, 1, 2) == "keops"
    assert resolve_backend("auto", "torch", big, 1, _dispatch.KEOPS_MAX_DIM + 1, on_gpu=True) == "torch"
    assert resolve_backend("auto", "cupy", 10, 10, 2) == "cupy"
    assert resolve_backend("auto", "torch", big, 1, 2, requires_grad=True, on_gpu=True) == "torch"
    monkeypatch.setattr(_dispatch, "keops_installed", lambda: False)
    assert resolve_backend("auto", "torch", big, 1, 2, on_gpu=True) == "torch"
    assert resolve_backend("torch", "numpy", 1, 1, 2) == "torch"
    with pytest.raises(ValueError, match="numpy, torch or cupy"):
        resolve_backend("auto", "jax", 1, 1, 2)


def test_auto_never_needs_keops(problem, monkeypatch):
    monkeypatch.setattr(_dispatch, "keops_installed", lambda: False)
    x, z, _, _, structures = problem
    big_x = np.repeat(x, 1 + _dispatch.KEOPS_MIN_PAIRS // (M * N), axis=0)
    out = mixture_moments(big_x, z, structures["isotropic"])
    assert out.log_density.shape == (big_x.shape[0],)


def test_explicit_keops_without_keops_raises(problem, monkeypatch):
    monkeypatch.setattr(_dispatch, "keops_installed", lambda: False)
    x, z, _, _, structures = problem
    with pytest.raises(ImportError, match="pip install"):
        mixture_moments(x, z, structures["isotropic"], backend="keops")


def test_auto_falls_back_with_one_warning_when_keops_fails(problem, monkeypatch):
    x, z, _, _, structures = problem

    def broken(*args, **kwargs):
        raise RuntimeError("compiler missing")

    monkeypatch.setitem(_dispatch.BACKENDS, "keops", broken)
    monkeypatch.setattr(_dispatch, "keops_installed", lambda: True)
    monkeypatch.setattr(_dispatch, "_KEOPS_BROKEN", [])
    monkeypatch.setattr(_dispatch, "KEOPS_MIN_PAIRS", 1)
    # Pretend the input lives on a GPU, where "auto" prefers KeOps.
    real_resolve = _dispatch.resolve_backend
    monkeypatch.setattr(_dispatch, "resolve_backend",
                        lambda *args: real_resolve(*args[:6], True))
    with pytest.warns(RuntimeWarning, match="KeOps failed.*runs 'numpy' instead"):
        out = mixture_moments(x, z, structures["isotropic"])
    ref = mixture_moments(x, z, structures["isotropic"], backend="numpy")
    np.testing.assert_allclose(out.log_density, ref.log_density)
    assert real_resolve("auto", "torch", 10**6, 10**6, 2, False, True) == "torch"


# ------------------------------------------------------------------ bad input

@pytest.mark.parametrize("kwargs, error, match", [
    ({"backend": "gpu"}, ValueError, "Expected backend in"),
    ({"working_memory": 0}, ValueError, "positive working_memory"),
    ({"log_weights": np.zeros(N + 1)}, ValueError, "log_weights of shape"),
    ({"log_weights": np.r_[-np.inf, np.zeros(N - 1)]}, ValueError, "finite log_weights"),
    ({"values": np.zeros((N + 1, 2))}, ValueError, "values with"),
])
def test_bad_arguments(problem, kwargs, error, match):
    x, z, _, _, structures = problem
    with pytest.raises(error, match=match):
        mixture_moments(x, z, structures["isotropic"], **kwargs)


def test_bad_arrays(problem):
    x, z, _, _, structures = problem
    cov = structures["isotropic"]
    with pytest.raises(ValueError, match="2-D array for x"):
        mixture_moments(x[0], z, cov)
    with pytest.raises(ValueError, match="at least one row in x"):
        mixture_moments(x[:0], z, cov)
    with pytest.raises(ValueError, match="finite values in x"):
        mixture_moments(np.where(x > 5, np.nan, x), z, cov)
    with pytest.raises(ValueError, match="centers with 3 columns"):
        mixture_moments(x, z[:, :2], Isotropic(1.0))
    with pytest.raises(ValueError, match="covariance parameters for 11 centers"):
        mixture_moments(x, z, Isotropic(np.ones(N - 1)))
    with pytest.raises(TypeError, match="CovarianceStructure"):
        mixture_moments(x, z, 1.0)
    with pytest.raises(TypeError, match="one library"):
        mixture_moments(torch.tensor(x), z, cov)
    with pytest.raises(TypeError, match="real numeric array"):
        mixture_moments(x.astype(complex), z, cov)
    with pytest.raises(TypeError, match="real numeric array"):
        mixture_moments(x > 5, z, cov)


def test_integer_queries_are_promoted_to_float64(problem):
    x, z, _, _, structures = problem
    xi = np.round(x).astype(np.int64)
    out = mixture_moments(xi, z, structures["isotropic"])
    assert out.log_density.dtype == np.float64
    np.testing.assert_allclose(out.log_density, mixture_moments(xi.astype(float), z, structures["isotropic"]).log_density)


def test_degenerate_covariances_are_rejected(problem):
    x, z, _, _, _ = problem
    with pytest.raises(ValueError, match="positive variances"):
        mixture_moments(x, z, Isotropic(0.0))
    with pytest.raises(ValueError, match="Cholesky"):
        mixture_moments(x, z, Full(np.zeros((N, D, D))))
    with pytest.raises(ValueError, match="non-negative variance"):
        Isotropic(-1.0)
    with pytest.raises(ValueError, match="finite values in variances"):
        Diagonal(np.full((N, D), np.nan))
    with pytest.raises(ValueError, match="square covariance"):
        Full(np.ones((N, D, D + 1)))
    with pytest.raises(ValueError, match="added_variance >= 0"):
        Isotropic(1.0, added_variance=-1.0)


def test_grad_tensors_need_a_differentiable_backend(problem):
    x, z, _, _, structures = problem
    xt = torch.tensor(x, requires_grad=True)
    with pytest.raises(ValueError, match="cannot propagate gradients"):
        mixture_moments(xt, torch.tensor(z), structures["isotropic"], backend="numpy")


@pytest.mark.parametrize("structure", STRUCTURES)
@pytest.mark.parametrize("factor", [0.0, 0.3, 2.5])
def test_scaled_multiplies_every_covariance(structure, factor):
    covariance = _structures(np.random.default_rng(2))[structure].with_added_variance(0.7)
    scaled = covariance.scaled(factor)
    assert type(scaled) is type(covariance)
    np.testing.assert_allclose(dense_covariances(scaled, N, D),
                               factor * dense_covariances(covariance, N, D), rtol=1e-12, atol=1e-14)


@pytest.mark.parametrize("factor", [-1.0, float("nan"), float("inf"), True, "2"])
def test_scaled_rejects_invalid_factors(factor):
    with pytest.raises(ValueError, match="finite factor >= 0"):
        Isotropic(1.0).scaled(factor)
