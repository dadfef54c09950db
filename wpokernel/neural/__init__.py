"""Torch networks of the neural layer and their training loop (torch only, no scikit-learn).

:data:`NETWORKS` lists the network classes that model files may rebuild from their
``config`` and state dict (:mod:`wpokernel.persistence`).
"""

from .factor_network import HEADS, FactorNetwork, FreeFactors
from .training import EarlyStopping, TrainingResult, distill, torch_threads, train

#: ``{class name: class}`` of the networks a model file may hold.
NETWORKS = {cls.__name__: cls for cls in (FactorNetwork, FreeFactors)}

__all__ = ["HEADS", "NETWORKS", "EarlyStopping", "FactorNetwork", "FreeFactors",
           "TrainingResult", "distill", "torch_threads", "train"]
