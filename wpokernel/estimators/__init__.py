"""Estimators: thin scikit-learn adapters that build a mixture field and hand it to the dynamics."""

from .conditional import ConditionalSchrodingerBridge, NadarayaWatson
from .empirical import EmpiricalScore
from .follmer import FollmerBridge
from .interpolant import StochasticInterpolant
from .neural_interpolant import NeuralInterpolant
from .neural_score import NeuralScore
from .local_score import LocalScoreMachine
from .schrodinger import SchrodingerBridge
from .score_difference import ScoreDifferenceFlow
from .wpo import WPOKernelScore

__all__ = [
    "ConditionalSchrodingerBridge",
    "EmpiricalScore",
    "FollmerBridge",
    "LocalScoreMachine",
    "NadarayaWatson",
    "NeuralInterpolant",
    "NeuralScore",
    "SchrodingerBridge",
    "ScoreDifferenceFlow",
    "StochasticInterpolant",
    "WPOKernelScore",
]
