"""The reduction engine against dense loops with scipy.stats, on every backend."""

import inspect

import numpy as np
import pytest
import torch

from _problems import random_mixture
from _reference import dense_covariances, mixture_moments_loop
from wpokernel.reductions import (
    BACKENDS,
    Diagonal,
    DiagonalLowRank,
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


@pytest.mark.parametrize("structure", STRUCTURES)
def test_blocking_does_not_change_the_result(problem, structure):
    x, z, log_w, values, structures = problem
    cov = structures[structure]
    whole = mixture_moments(x, z, cov, log_w, values, score=True, laplacian=True, backend="numpy")
    # A few hundred bytes: one query row against one center per block.
    tiny = mixture_moments(x, z, cov, log_w, values, score=True, laplacian=True, backend="numpy",
                           working_memory=1e-5)
    _assert_matches(tiny, whole, 1e-12)


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
