"""wpokernel: kernel-method score-based generative models with a scikit-learn API.

The Wasserstein-proximal kernel score model and its relatives: Gaussian-mixture terminal
densities whose heat flow, score and Laplacian are closed form at every noise level, a
reduction engine on NumPy / torch / KeOps / CuPy, reverse heat-flow samplers and
diagnostics of memorization and sample quality.

The names below are imported on first use, so that ``import wpokernel`` (and the command
line's ``--help``) does not load torch or scikit-learn.
"""

import importlib

__version__ = "0.2.0"

# Public name -> submodule that defines it.
_EXPORTS = {
    "ConditionalSchrodingerBridge": "estimators",
    "EmpiricalScore": "estimators",
    "FollmerBridge": "estimators",
    "LocalScoreMachine": "estimators",
    "NadarayaWatson": "estimators",
    "NeuralInterpolant": "estimators",
    "NeuralScore": "estimators",
    "SchrodingerBridge": "estimators",
    "ScoreDifferenceFlow": "estimators",
    "StochasticInterpolant": "estimators",
    "WPOKernelScore": "estimators",
    "GaussianMixtureField": "mixture",
    "HeatSchedule": "dynamics",
    "load": "persistence",
}

__all__ = [*sorted(_EXPORTS), "__version__"]


def __getattr__(name):
    if name not in _EXPORTS:
        raise AttributeError(f"module 'wpokernel' has no attribute {name!r}")
    if name == "load":
        # Model files name estimator classes, which register themselves when imported.
        importlib.import_module(".estimators", __name__)
    value = getattr(importlib.import_module(f".{_EXPORTS[name]}", __name__), name)
    globals()[name] = value
    return value


def __dir__():
    return sorted({*globals(), *_EXPORTS})
