"""Fitted state and sampling on the device: ``device="cuda"`` keeps every generative
estimator's mixture fields on the GPU and integrates there, with the results of the CPU model.

Without a GPU the CUDA cases skip; the same code path — fitted state in torch, the samplers on
torch tensors — then runs on the CPU, with ``"cuda"`` mapped to torch CPU tensors, so that it is
exercised on every machine.
"""

import numpy as np
import pytest
import torch
from sklearn.base import clone

from _stats import energy_permutation_pvalue
from wpokernel import (
    EmpiricalScore,
    FollmerBridge,
    LocalScoreMachine,
    SchrodingerBridge,
    ScoreDifferenceFlow,
    StochasticInterpolant,
    WPOKernelScore,
)
from wpokernel.datasets import make_toy
from wpokernel.estimators import _base
from wpokernel.mixture import GaussianMixtureField

QUIET = {"progress": False, "n_steps": 20}
GENERATIVE = [
    EmpiricalScore(bandwidth=0.1, **QUIET),
    WPOKernelScore(max_steps=5, random_state=0, **QUIET),
    StochasticInterpolant(target=0.1, **QUIET),
    SchrodingerBridge(target=0.1, n_prior_samples=50, random_state=0, **QUIET),
    FollmerBridge(target=0.1, **QUIET),
    ScoreDifferenceFlow(**QUIET),
    LocalScoreMachine(random_state=0, **QUIET),
]
HAS_CUDA = torch.cuda.is_available()


def _name(estimator):
    return type(estimator).__name__


@pytest.fixture(scope="module")
def data():
    X = make_toy("moons", 300, random_state=0)
    return X[:200], X[200:]


@pytest.fixture
def torch_on_cpu(monkeypatch):
    """Run the device path on the CPU: "cuda" state is a torch CPU tensor (no GPU needed)."""
    if HAS_CUDA:
        return "cuda"
    monkeypatch.setattr(_base, "check_device", lambda device: None)
    monkeypatch.setattr(WPOKernelScore, "_training_device", lambda self: torch.device("cpu"))
    monkeypatch.setattr(_base.BaseGenerativeModel, "_to_state", lambda self, a: (
        torch.as_tensor(a) if self.device_ == "cuda" else np.asarray(a)
        if _base._library(a) == "numpy" else a.detach().cpu().numpy()))
    return "cpu"


def _device_arrays(model):
    fields = [getattr(model, name) for name in model._device_state()]
    return [field.centers if isinstance(field, GaussianMixtureField) else field for field in fields]


@pytest.mark.gpu
@pytest.mark.parametrize("estimator", GENERATIVE, ids=_name)
def test_device_state_and_samplers_match_the_cpu_model(estimator, data, torch_on_cpu):
    X, X_test = data
    cpu = clone(estimator).fit(X)
    gpu = clone(estimator).set_params(device="cuda").fit(X)
    assert cpu.device_ == "cpu" and gpu.device_ == "cuda"
    for array in _device_arrays(gpu):
        assert isinstance(array, torch.Tensor) and array.device.type == torch_on_cpu
    # The same model: densities agree to the rounding of float64 reductions.
    if hasattr(cpu, "score_samples"):
        np.testing.assert_allclose(gpu.score_samples(X_test), cpu.score_samples(X_test), rtol=1e-8)
        X_t = torch.as_tensor(X_test, device=torch_on_cpu)
        got = gpu.score_samples(X_t)
        assert isinstance(got, torch.Tensor) and got.device.type == torch_on_cpu
        np.testing.assert_allclose(got.cpu().numpy(), cpu.score_samples(X_test), rtol=1e-8)
    # Samples come back as NumPy arrays, drawn by torch's generator on the device: the same
    # law as the CPU model's, reproducible for a seed.
    for method in gpu._sample_methods:
        a = gpu.sample(300, random_state=0, method=method)
        assert isinstance(a, np.ndarray) and a.shape == (300, 2)
        np.testing.assert_array_equal(a, gpu.sample(300, random_state=0, method=method))
        assert energy_permutation_pvalue(a, cpu.sample(300, random_state=1, method=method)) > 0.01


@pytest.mark.gpu
@pytest.mark.skipif(not HAS_CUDA, reason="needs a CUDA GPU visible to torch")
@pytest.mark.parametrize("estimator", GENERATIVE, ids=_name)
def test_cuda_sampling_copies_to_the_host_once(estimator, data, monkeypatch):
    model = clone(estimator).set_params(device="cuda").fit(data[0])
    calls = []
    original = torch.Tensor.cpu
    monkeypatch.setattr(torch.Tensor, "cpu", lambda self, *a, **k: calls.append(1) or original(self, *a, **k))
    model.sample(50, random_state=0)
    assert len(calls) == 1  # the returned samples, after the last step


@pytest.mark.skipif(HAS_CUDA, reason="checks the error without a GPU")
@pytest.mark.parametrize("estimator", GENERATIVE, ids=_name)
def test_cuda_without_a_gpu_is_a_clear_error_before_any_work(estimator, data, monkeypatch):
    def no_work(*args, **kwargs):
        raise AssertionError("work started before the device was checked")

    monkeypatch.setattr(_base, "standardization", no_work)
    with pytest.raises(ValueError, match="Expected device='cpu' on a machine without a CUDA GPU"):
        clone(estimator).set_params(device="cuda").fit(data[0])


def test_a_model_file_of_a_device_model_loads_on_the_cpu(data, tmp_path, torch_on_cpu):
    from wpokernel import load

    X, X_test = data
    model = EmpiricalScore(bandwidth=0.1, device="cuda", **QUIET).fit(X)
    loaded = load(model.save(tmp_path / "m.npz"))
    assert loaded.device_ == "cpu" and isinstance(loaded.field_.centers, np.ndarray)
    np.testing.assert_allclose(loaded.score_samples(X_test), model.score_samples(X_test), rtol=1e-12)
