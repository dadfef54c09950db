"""Torch networks of the neural layer: the factor network of the local covariances."""

from .factor_network import HEADS, FactorNetwork, FreeFactors

__all__ = ["HEADS", "FactorNetwork", "FreeFactors"]
