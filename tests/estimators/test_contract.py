"""The contract every estimator shares: the scikit-learn checks, the sampler arguments and their
reproducibility, pickling, the shared hyper-parameter, data and frequency-weight checks, and
target models that take no weights. Behaviour particular to one estimator is tested in its file."""

import pickle

import numpy as np
import pytest
from sklearn.base import clone, is_regressor
from sklearn.exceptions import NotFittedError
from sklearn.utils.estimator_checks import parametrize_with_checks

from wpokernel.datasets import make_toy
from wpokernel.estimators.conditional import ConditionalSchrodingerBridge, NadarayaWatson
from wpokernel.estimators.empirical import EmpiricalScore
from wpokernel.estimators.follmer import FollmerBridge
from wpokernel.estimators.interpolant import StochasticInterpolant
from wpokernel.estimators.local_score import LocalScoreMachine
from wpokernel.estimators.neural_interpolant import NeuralInterpolant
from wpokernel.estimators.neural_score import NeuralScore
from wpokernel.estimators.schrodinger import SchrodingerBridge
from wpokernel.estimators.score_difference import ScoreDifferenceFlow
from wpokernel.estimators.wpo import WPOKernelScore

QUIET = {"progress": False}
FAST = {"n_steps": 5, **QUIET}
FAST_WPO = {"max_steps": 20, "random_state": 0, **QUIET}
# Tiny networks and few steps: the contract, not the fit, is checked.
FAST_NEURAL = {"width": 8, "depth": 1, "max_steps": 5, "random_state": 0, **FAST}
FAST_BRIDGE = {"n_prior_samples": 20, "random_state": 0, **QUIET}

# Short settings keep the scikit-learn checks fast; every estimator in two or more settings.
CHECKED = [
    EmpiricalScore(),
    EmpiricalScore(bandwidth="scott", backend="numpy"),
    WPOKernelScore(**FAST_WPO),
    WPOKernelScore(structure="lowrank", rank=1, **FAST_WPO),
    StochasticInterpolant(n_steps=8, **QUIET),
    StochasticInterpolant(target="scott", interpolant="trigonometric", gamma="sqrt", n_steps=8,
                          backend="numpy", **QUIET),
    SchrodingerBridge(**FAST_BRIDGE),
    SchrodingerBridge(target="scott", epsilon=0.5, backend="numpy", **FAST_BRIDGE),
    FollmerBridge(**FAST),
    FollmerBridge(target="scott", **FAST),
    ScoreDifferenceFlow(**FAST),
    ScoreDifferenceFlow(target="scott", backend="numpy", **FAST),
    NadarayaWatson(),
    NadarayaWatson(bandwidth=0.5),
    ConditionalSchrodingerBridge(**FAST),
    ConditionalSchrodingerBridge(bandwidth="scott", y_bandwidth=0.2, **FAST),
    ConditionalSchrodingerBridge(bandwidth=1.0, residuals=True, **FAST),
    LocalScoreMachine(random_state=0, **FAST),
    LocalScoreMachine(translation_radius=None, patch_size=[[0.1, 1], [1.0, 1]], **FAST),
    NeuralScore(**FAST_NEURAL),
    NeuralScore(network="kernel-attention", n_centers=8, validation_fraction=0, **FAST_NEURAL),
    NeuralInterpolant(**FAST_NEURAL),
    NeuralInterpolant(gamma="sqrt", validation_fraction=0, **FAST_NEURAL),
]


@parametrize_with_checks(CHECKED)
def test_sklearn_compatible(estimator, check):
    check(estimator)


# The generative estimators, smoothed so that every sampler has a density to reach.
SAMPLERS = [
    EmpiricalScore(bandwidth=0.1, **FAST),
    StochasticInterpolant(target=0.1, **FAST),
    SchrodingerBridge(target=0.1, n_prior_samples=30, random_state=0, **FAST),
    FollmerBridge(target=0.1, **FAST),
    ScoreDifferenceFlow(**FAST),
    LocalScoreMachine(random_state=0, **FAST),
]
# The network estimators, which take no frequency weights.
NEURAL = [NeuralScore(**FAST_NEURAL), NeuralInterpolant(**FAST_NEURAL)]
# The estimators fitted to a target measure of the data.
TARGET_SAMPLERS = [estimator for estimator in SAMPLERS if "target" in estimator.get_params()]
CONDITIONAL = [NadarayaWatson(bandwidth=0.5), ConditionalSchrodingerBridge(bandwidth=0.5, **FAST)]
WITH_DYNAMICS = [*SAMPLERS, CONDITIONAL[1], *NEURAL]


def _name(estimator):
    return type(estimator).__name__


@pytest.fixture(scope="module")
def data():
    return make_toy("moons", 60, random_state=0)


def _fit(estimator, X, **fit_params):
    """Fit a generative estimator to ``X``, a conditional one to the pairs (X[:, :1], X[:, 1])."""
    if is_regressor(estimator):
        return estimator.fit(X[:, :1], X[:, 1], **fit_params)
    return estimator.fit(X, **fit_params)


@pytest.fixture(scope="module", params=[*SAMPLERS, *NEURAL], ids=_name)
def fitted(request, data):
    return clone(request.param).fit(data)


# ------------------------------------------------------------------ sampling

def test_sample_contract(fitted, capsys):
    with pytest.raises(NotFittedError):
        clone(fitted).sample(3)
    a, b = fitted.sample(4, random_state=7), fitted.sample(4, random_state=7)
    assert a.shape == (4, 2) and a.dtype == np.float64
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, fitted.sample(4, random_state=8))
    assert fitted.sample().shape == (1, 2)
    assert fitted.sample(2, random_state=0, n_steps=3, progress=True).shape == (2, 2)
    if not isinstance(fitted, EmpiricalScore):  # its default, exact sampler integrates nothing
        assert "%|" in capsys.readouterr().err  # the progress bar was shown


@pytest.mark.parametrize("bad, error", [(0, ValueError), (-1, ValueError), (2.5, TypeError),
                                        ("3", TypeError), (True, TypeError)])
def test_invalid_n_samples(fitted, bad, error):
    with pytest.raises(error, match="n_samples"):
        fitted.sample(bad)


def test_an_output_too_large_is_refused_before_any_work(fitted, monkeypatch):
    # 10^9 samples would be 15 GiB: refused with the ceiling and a batch size, nothing drawn.
    monkeypatch.setattr(type(fitted), "_initial_state", lambda *a: pytest.fail("work started"))
    with pytest.raises(ValueError, match=r"Expected at most 67108864 samples of 2 features "
                                         r"\(1024 MiB\) from one call, got 1000000000; draw them "
                                         r"in batches"):
        fitted.sample(10**9)


def test_the_conditional_sampler_refuses_an_output_too_large(data):
    model = ConditionalSchrodingerBridge(bandwidth=0.5, **FAST).fit(data[:, :1], data[:, 1])
    with pytest.raises(ValueError, match="from one call, got 1000000000"):
        model.sample(data[:10, :1], 10**8)


@pytest.mark.parametrize("bad", [-1, 2**32 + 5])
def test_an_invalid_seed_of_sample_is_a_clear_error(fitted, bad):
    with pytest.raises(ValueError, match="random_state"):
        fitted.sample(2, random_state=bad)


@pytest.mark.parametrize("kwargs, error, match", [
    ({"n_steps": 0}, ValueError, "Expected n_steps >= 1"),
    ({"n_steps": 2.0}, TypeError, "Expected an integer for n_steps"),
    ({"progress": 1}, TypeError, "Expected a bool for progress"),
])
def test_invalid_sampler_settings(fitted, kwargs, error, match):
    with pytest.raises(error, match=match):
        fitted.sample(2, **kwargs)


def test_pickle_round_trip(fitted, data):
    loaded = pickle.loads(pickle.dumps(fitted))
    np.testing.assert_array_equal(loaded.sample(5, random_state=3), fitted.sample(5, random_state=3))
    if hasattr(fitted, "score_samples"):
        np.testing.assert_array_equal(loaded.score_samples(data[:5]), fitted.score_samples(data[:5]))


# ------------------------------------------------------------------ bad hyper-parameters

SHARED_BAD_PARAMS = [
    ({"n_steps": 0}, ValueError, "Expected n_steps >= 1"),
    ({"n_steps": 10.0}, TypeError, "Expected an integer for n_steps"),
    ({"backend": "jax"}, ValueError, "Expected backend in"),
    ({"working_memory": -5}, ValueError, "Expected working_memory > 0"),
    ({"working_memory": 0}, ValueError, "Expected working_memory > 0"),
    ({"progress": "yes"}, TypeError, "Expected a bool for progress"),
    ({"progress": 1}, TypeError, "Expected a bool for progress"),
]


@pytest.mark.parametrize("estimator", WITH_DYNAMICS, ids=_name)
@pytest.mark.parametrize("params, error, match", SHARED_BAD_PARAMS)
def test_invalid_shared_hyper_parameters(data, estimator, params, error, match):
    with pytest.raises(error, match=match):
        _fit(clone(estimator).set_params(**params), data)


@pytest.mark.parametrize("estimator", TARGET_SAMPLERS, ids=_name)
@pytest.mark.parametrize("target, error", [(-0.1, ValueError), ("wide", ValueError),
                                           (float("nan"), ValueError), ([0.1], TypeError)])
def test_invalid_targets(data, estimator, target, error):
    with pytest.raises(error, match="Expected target to be None, a bandwidth"):
        clone(estimator).set_params(target=target).fit(data)


# ------------------------------------------------------------------ bad data

@pytest.mark.parametrize("estimator", [*SAMPLERS, *CONDITIONAL, *NEURAL], ids=_name)
def test_invalid_training_data(data, estimator):
    X = data
    for bad, match in [(np.where(X > 1, np.nan, X), "NaN"), (np.where(X > 1, np.inf, X), "infinity"),
                       (X[:0], "0 sample")]:
        with pytest.raises(ValueError, match=match):
            _fit(clone(estimator), bad)
    y = (X[:, 1],) if is_regressor(estimator) else ()
    with pytest.raises(ValueError, match="2D array"):
        clone(estimator).fit(X[:, 0], *y)


@pytest.mark.parametrize("estimator", [SAMPLERS[0], *TARGET_SAMPLERS], ids=_name)
def test_a_bandwidth_rule_needs_two_points(data, estimator):
    rule = {"bandwidth": "scott"} if isinstance(estimator, EmpiricalScore) else {"target": "scott"}
    with pytest.raises(ValueError, match="minimum of 2 is required"):
        clone(estimator).set_params(**rule).fit(data[:1])


@pytest.mark.parametrize("estimator", SAMPLERS, ids=_name)
@pytest.mark.parametrize("weight, match", [
    (-np.ones(60), "Expected finite, non-negative sample_weight, got a NaN, inf or negative"),
    (np.r_[np.nan, np.ones(59)], "Expected finite, non-negative sample_weight"),
    (np.r_[np.inf, np.ones(59)], "Expected finite, non-negative sample_weight"),
    (np.ones(59), r"Expected sample_weight of shape \(60,\), got \(59,\)"),
    (np.ones((60, 1)), r"Expected sample_weight of shape \(60,\), got \(60, 1\)"),
    (np.zeros(60), "Expected sample_weight with a positive sum, got all zeros"),
])
def test_invalid_sample_weight(data, estimator, weight, match):
    with pytest.raises(ValueError, match=match):
        clone(estimator).fit(data, sample_weight=weight)


@pytest.mark.parametrize("estimator", SAMPLERS, ids=_name)
def test_a_scalar_weight_weights_every_row(data, estimator):
    a = clone(estimator).fit(data, sample_weight=2.5)
    b = clone(estimator).fit(data, sample_weight=np.full(60, 2.5))
    np.testing.assert_array_equal(a.sample(6, random_state=0), b.sample(6, random_state=0))


# ------------------------------------------------------------------ target models without weights

def _no_training(self, X, y=None):
    raise AssertionError("the target model was fitted before the weights were checked")


@pytest.mark.parametrize("estimator", TARGET_SAMPLERS, ids=_name)
def test_a_target_model_without_weights_refuses_them_before_any_work(data, estimator, monkeypatch):
    monkeypatch.setattr(WPOKernelScore, "fit", _no_training)
    model = clone(estimator).set_params(target=WPOKernelScore(max_steps=0))
    weight = np.r_[np.full(30, 2.0), np.ones(30)]
    with pytest.raises(ValueError, match=r"Expected sample_weight=None with "
                                         r"target=WPOKernelScore\(\.\.\.\), which takes no sample "
                                         r"weights, got weights\."):
        model.fit(data, sample_weight=weight)
