"""Reduction engine: the only place that touches pairs of (query, center) points.

:func:`mixture_moments` evaluates a Gaussian mixture's log-density and its softmax-weighted
moments (score, Laplacian, weighted means of per-center values) on NumPy, torch, KeOps or
CuPy, for the covariance structures of :mod:`wpokernel.reductions.covariance`;
:func:`sharded_mixture_moments` computes them with the centers split across processes.
"""

from ._dispatch import (
    BACKENDS,
    DEFAULT_WORKING_MEMORY,
    MixtureMoments,
    available_backends,
    mixture_moments,
    resolve_backend,
)
from ._namespace import RandomSource, get_namespace
from .covariance import (
    CovarianceStructure,
    Diagonal,
    DiagonalLowRank,
    Full,
    Isotropic,
    LowRank,
    ScaledLowRank,
)
from .sharded import sharded_mixture_moments

__all__ = [
    "BACKENDS",
    "DEFAULT_WORKING_MEMORY",
    "CovarianceStructure",
    "Diagonal",
    "DiagonalLowRank",
    "Full",
    "Isotropic",
    "LowRank",
    "MixtureMoments",
    "RandomSource",
    "ScaledLowRank",
    "available_backends",
    "get_namespace",
    "mixture_moments",
    "resolve_backend",
    "sharded_mixture_moments",
]
