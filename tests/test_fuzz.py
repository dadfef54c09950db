"""A standing fuzz test: random shapes, dtypes, scales from 1e-8 to 1e8, duplicated rows and
outliers fed to every exported estimator give a finite answer or a ``ValueError`` /
``TypeError`` raised by this package's checks (its own, or scikit-learn's data validation it
calls) — never an error from inside NumPy, SciPy, zipfile or torch, and never NaN or inf."""

import traceback
import warnings

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sklearn.base import clone, is_regressor

from wpokernel import (
    ConditionalSchrodingerBridge,
    EmpiricalScore,
    FollmerBridge,
    LocalScoreMachine,
    NeuralInterpolant,
    NeuralScore,
    NadarayaWatson,
    SchrodingerBridge,
    ScoreDifferenceFlow,
    StochasticInterpolant,
    WPOKernelScore,
)

QUIET = {"progress": False, "n_steps": 4}
ESTIMATORS = [
    EmpiricalScore(**QUIET),
    EmpiricalScore(bandwidth="scott", **QUIET),
    WPOKernelScore(max_steps=2, random_state=0, **QUIET),
    StochasticInterpolant(target="silverman", **QUIET),
    SchrodingerBridge(n_prior_samples=10, random_state=0, **QUIET),
    FollmerBridge(**QUIET),
    ScoreDifferenceFlow(**QUIET),
    NadarayaWatson(bandwidth="scott"),
    ConditionalSchrodingerBridge(bandwidth="scott", **QUIET),
    LocalScoreMachine(random_state=0, **QUIET),
    NeuralScore(width=8, depth=1, max_steps=2, random_state=0, **QUIET),
    NeuralInterpolant(width=8, depth=1, max_steps=2, random_state=0, **QUIET),
]
# Modules whose errors are this package's answer to bad input.
_OWN_ERRORS = ("wpokernel", "sklearn.utils.validation", "sklearn.utils._array_api")


def _raised_by_the_package(exc):
    frames = traceback.extract_tb(exc.__traceback__)
    last = frames[-1].filename.replace("\\", "/") if frames else ""
    return any(f"/{name.replace('.', '/')}" in last for name in _OWN_ERRORS)


@st.composite
def data_sets(draw):
    n_rows = draw(st.integers(0, 30))
    n_features = draw(st.integers(1, 4))
    scale = 10.0 ** draw(st.integers(-8, 8))
    seed = draw(st.integers(0, 2**16))
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n_rows, n_features)) * scale * 10.0 ** rng.integers(-3, 4, n_features)
    if n_rows and draw(st.booleans()):  # duplicated rows
        X[: n_rows // 2 + 1] = X[0]
    if n_rows and draw(st.booleans()):  # an outlier a million spreads away
        X[-1] *= 1e6
    kind = draw(st.sampled_from(["float64", "float32", "int64", "nan", "inf", "object"]))
    if kind in ("float32", "int64"):
        X = X.astype(kind)
    elif kind in ("nan", "inf") and n_rows:
        X[rng.integers(n_rows), 0] = np.nan if kind == "nan" else np.inf
    elif kind == "object":
        X = X.astype(object)
    return X


def _outputs(model, X):
    """Everything a fitted model returns on a few rows of its own data."""
    if is_regressor(model):
        x = X[:3, :1]
        out = [model.predict(x)]
        if hasattr(model, "sample"):
            out.append(model.sample(x, 2, random_state=0))
        return out
    out = [model.sample(4, random_state=0)]
    if hasattr(model, "score_samples"):
        out.append(model.score_samples(X[:3]))
    return out


@pytest.mark.parametrize("estimator", ESTIMATORS, ids=lambda e: type(e).__name__)
def test_random_data_gives_a_finite_answer_or_a_clear_error(estimator):
    @settings(max_examples=40, deadline=None, derandomize=True, database=None,
              suppress_health_check=[HealthCheck.too_slow])
    @given(X=data_sets())
    def check(X):
        model = clone(estimator)
        args = (X[:, :1], X[:, -1]) if is_regressor(model) and X.ndim == 2 else (X,)
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # a ConvergenceWarning is an answer too
                model.fit(*args)
                outputs = _outputs(model, np.asarray(X, dtype=float))
        except (ValueError, TypeError) as exc:
            assert _raised_by_the_package(exc), "".join(traceback.format_exception(exc))
            return
        for out in outputs:
            assert np.all(np.isfinite(out)), (type(model).__name__, X)

    check()
