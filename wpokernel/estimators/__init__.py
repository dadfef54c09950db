"""Estimators: thin scikit-learn adapters that build a mixture field and hand it to the dynamics."""

from .empirical import EmpiricalScore
from .wpo import WPOKernelScore

__all__ = ["EmpiricalScore", "WPOKernelScore"]
