"""Torch networks of the neural layer and their training loop (torch only, no scikit-learn).

:data:`NETWORKS` lists the network classes that model files may rebuild from their
``config`` and state dict (:mod:`wpokernel.persistence`).
"""

from .denoising import denoise, denoising_loss, karras_sigmas, sample_noise_levels
from .distributed import data_parallel, process_shard, world
from .factor_network import HEADS, FactorNetwork, FreeFactors, LocalScales
from .kernel_attention import KernelAttention
from .networks import MLP, FourierEmbedding, UNet
from .training import (
    EarlyStopping,
    ExponentialMovingAverage,
    Minibatches,
    TrainingResult,
    distill,
    torch_threads,
    train,
)

#: ``{class name: class}`` of the networks a model file may hold.
NETWORKS = {cls.__name__: cls for cls in (FactorNetwork, FreeFactors, LocalScales, MLP, UNet,
                                           KernelAttention)}

__all__ = ["HEADS", "MLP", "NETWORKS", "EarlyStopping", "ExponentialMovingAverage",
           "FactorNetwork", "FourierEmbedding", "FreeFactors", "KernelAttention", "LocalScales",
           "Minibatches", "TrainingResult", "UNet", "data_parallel", "denoise", "denoising_loss",
           "distill", "karras_sigmas", "process_shard", "sample_noise_levels", "torch_threads",
           "train", "world"]
