"""wpokernel: kernel-method score-based generative models with a scikit-learn API.

The Wasserstein-proximal kernel score model and its relatives: Gaussian-mixture terminal
densities whose heat flow, score and Laplacian are closed form at every noise level, a
reduction engine on NumPy / torch / KeOps / CuPy, reverse heat-flow samplers and
diagnostics of memorization and sample quality.
"""

from .estimators import (
    ConditionalSchrodingerBridge,
    EmpiricalScore,
    FollmerBridge,
    NadarayaWatson,
    SchrodingerBridge,
    ScoreDifferenceFlow,
    StochasticInterpolant,
    WPOKernelScore,
)
from .mixture import GaussianMixtureField
from .persistence import load
from .schedules import HeatSchedule

__version__ = "0.1.0"

__all__ = [
    "ConditionalSchrodingerBridge",
    "EmpiricalScore",
    "FollmerBridge",
    "GaussianMixtureField",
    "HeatSchedule",
    "NadarayaWatson",
    "SchrodingerBridge",
    "ScoreDifferenceFlow",
    "StochasticInterpolant",
    "WPOKernelScore",
    "__version__",
    "load",
]
