"""WPOKernelScore on a CUDA device: trained there, the same model as on the CPU, its mixture
kept on the device and its network returned on the CPU."""

import pickle

import numpy as np
import pytest
import torch

from wpokernel import WPOKernelScore
from wpokernel.datasets import make_toy


@pytest.fixture(scope="module")
def spirals():
    X = make_toy("2spirals", 500, random_state=0)
    return X[:400], X[400:]


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU visible to torch")
def test_cuda_training_matches_the_cpu(spirals):
    params = {"max_steps": 50, "progress": False, "random_state": 0}
    cpu = WPOKernelScore(**params).fit(spirals[0])
    gpu = WPOKernelScore(device="cuda", **params).fit(spirals[0])
    assert all(p.device.type == "cpu" for p in gpu.factor_network_.parameters())
    assert gpu.device_ == "cuda" and gpu.field_.centers.device.type == "cuda"
    # Same seeds and float64 on both devices: only the rounding of the reductions differs.
    np.testing.assert_allclose(gpu.score_samples(spirals[1]), cpu.score_samples(spirals[1]),
                               rtol=1e-6)
    restored = pickle.loads(pickle.dumps(gpu))
    np.testing.assert_array_equal(restored.score_samples(spirals[1]), gpu.score_samples(spirals[1]))


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the error without a GPU")
def test_cuda_without_a_gpu_is_a_clear_error(spirals):
    with pytest.raises(ValueError, match="Expected device='cpu' on a machine without a CUDA GPU"):
        WPOKernelScore(device="cuda", progress=False).fit(spirals[0])
