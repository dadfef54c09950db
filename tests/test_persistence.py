"""Safe model files: round trips in a fresh interpreter, and refusal of foreign or altered files."""

import json
import os
import pickle
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from sklearn.base import clone, is_regressor

import wpokernel
from wpokernel import estimators, load
from wpokernel.datasets import make_toy
from wpokernel.estimators._base import BaseMixtureScore
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
from wpokernel._model_schema import allowed_attributes
from wpokernel.persistence import _checksum

REPO_ROOT = Path(__file__).resolve().parents[1]
QUIET = {"progress": False}
FAST = {"n_steps": 5, **QUIET}
FAST_WPO = {"max_steps": 10, "random_state": 0, **QUIET}
FAST_NEURAL = {"width": 8, "depth": 1, "max_steps": 10, "random_state": 0, **FAST}
X_SOURCE = np.random.default_rng(1).normal(size=(30, 2))
# Every exported estimator, with fit keywords where it has some; the nested target models are
# estimators inside an estimator's parameters and fitted state.
MODELS = {
    "empirical": (EmpiricalScore(bandwidth="scott", **QUIET), {}),
    "wpo-full": (WPOKernelScore(**FAST_WPO), {}),
    "wpo-lowrank": (WPOKernelScore(structure="lowrank", rank=1, **FAST_WPO), {}),
    "wpo-lowrank-local": (WPOKernelScore(structure="lowrank", rank=1, floor="local", **FAST_WPO),
                          {}),
    "wpo-diagonal-free": (WPOKernelScore(structure="diagonal", amortized=False, **FAST_WPO), {}),
    "interpolant": (StochasticInterpolant(target="scott", interpolant="sbdm", gamma="sqrt", **FAST), {}),
    "interpolant-wpo": (StochasticInterpolant(target=WPOKernelScore(max_steps=5, random_state=0,
                                                                    **QUIET), **FAST), {}),
    "schrodinger": (SchrodingerBridge(target=0.2, n_prior_samples=30, random_state=0, **FAST), {}),
    "schrodinger-data": (SchrodingerBridge(**FAST), {"X_source": X_SOURCE}),
    "follmer-wpo": (FollmerBridge(target=WPOKernelScore(max_steps=5, random_state=0, **QUIET),
                                  **FAST), {}),
    "score-difference": (ScoreDifferenceFlow(target="silverman", **FAST), {}),
    "nadaraya-watson": (NadarayaWatson(), {}),
    "conditional-bridge": (ConditionalSchrodingerBridge(y_bandwidth=0.1, residuals=True, **FAST), {}),
    "local-score": (LocalScoreMachine(random_state=0, **FAST), {}),
    "local-score-equivariant": (LocalScoreMachine(translation_radius=None,
                                                  patch_size=[[0.1, 1], [1.0, 3]], **FAST), {}),
    "neural-score": (NeuralScore(**FAST_NEURAL), {}),
    "neural-score-kernel-attention": (NeuralScore(network="kernel-attention", n_centers=16,
                                                  **FAST_NEURAL), {}),
    "neural-score-unet": (NeuralScore(network="unet", image_shape=(2, 1), **FAST_NEURAL), {}),
    "neural-interpolant": (NeuralInterpolant(gamma="sqrt", **FAST_NEURAL), {}),
}


@pytest.fixture(scope="module")
def data():
    X = make_toy("moons", 240, random_state=0)
    return X[:200], X[200:]


def _fit(estimator, X, **fit_params):
    """Fit a generative estimator to ``X``, a conditional one to the pairs (X[:, :1], X[:, 1])."""
    if is_regressor(estimator):
        return estimator.fit(X[:, :1], X[:, 1], **fit_params)
    return estimator.fit(X, **fit_params)


def outputs(model, X_test):
    """What a loaded model must reproduce: its log-densities or predictions and seeded samples."""
    if is_regressor(model):
        results = {"predict": model.predict(X_test[:, :1])}
        if hasattr(model, "sample"):
            results["sample"] = model.sample(X_test[:3, :1], 2, random_state=4)
        return results
    results = {"sample": model.sample(7, random_state=3)}
    if hasattr(model, "score_samples"):
        results["score_samples"] = model.score_samples(X_test)
    if isinstance(model, BaseMixtureScore):
        results["sde"] = model.sample(4, random_state=4, method="sde", n_steps=5)
    return results


_FRESH_INTERPRETER = """
import sys
import numpy as np
import wpokernel
sys.path.insert(0, {tests!r})
from test_persistence import MODELS, outputs
X_test = np.load({folder!r} + "/X_test.npy")
for name in MODELS:
    model = wpokernel.load({folder!r} + "/" + name + ".npz")
    np.savez({folder!r} + "/" + name + "-outputs.npz", **outputs(model, X_test))
"""


@pytest.fixture(scope="module")
def round_trips(data, tmp_path_factory):
    """Every model fitted and saved, and the outputs of each loaded in one fresh interpreter."""
    X, X_test = data
    folder = tmp_path_factory.mktemp("models")
    np.save(folder / "X_test.npy", X_test)
    fitted = {}
    for name, (estimator, fit_params) in MODELS.items():
        fitted[name] = _fit(clone(estimator), X, **fit_params)
        assert fitted[name].save(folder / name) == folder / f"{name}.npz"
    script = _FRESH_INTERPRETER.format(tests=str(Path(__file__).parent), folder=str(folder))
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT)}
    result = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True,
                            text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    return fitted, {name: dict(np.load(folder / f"{name}-outputs.npz")) for name in MODELS}


def test_every_exported_estimator_has_a_case():
    assert {type(estimator).__name__ for estimator, _ in MODELS.values()} == set(estimators.__all__)


@pytest.mark.parametrize("name", list(MODELS))
def test_a_saved_model_gives_identical_results_in_a_fresh_interpreter(name, data, round_trips):
    fitted, fresh = round_trips
    expected = outputs(fitted[name], data[1])
    assert sorted(fresh[name]) == sorted(expected)
    for key, value in expected.items():
        np.testing.assert_array_equal(fresh[name][key], value)


def test_round_trip_keeps_parameters_and_fitted_attributes(data, tmp_path):
    model = WPOKernelScore(**FAST_WPO).fit(data[0])
    loaded = load(model.save(tmp_path / "m.npz"))
    assert type(loaded) is WPOKernelScore
    assert loaded.get_params() == model.get_params()
    assert loaded.history_ == model.history_ and loaded.n_train_steps_ == model.n_train_steps_
    for a, b in zip(loaded.factor_network_.state_dict().values(),
                    model.factor_network_.state_dict().values()):
        np.testing.assert_array_equal(a.numpy(), b.numpy())
    # The loaded model pickles like any scikit-learn estimator.
    again = pickle.loads(pickle.dumps(loaded))
    np.testing.assert_array_equal(again.score_samples(data[1]), model.score_samples(data[1]))


def test_unfitted_models_and_random_states_round_trip(tmp_path):
    model = EmpiricalScore(bandwidth=0.3)
    assert load(model.save(tmp_path / "u.npz")).get_params() == model.get_params()
    seeded = WPOKernelScore(random_state=np.random.RandomState(5))
    loaded = load(seeded.save(tmp_path / "r.npz")).random_state
    assert loaded.randint(1000) == np.random.RandomState(5).randint(1000)


def test_feature_names_survive(tmp_path):
    pd = pytest.importorskip("pandas")
    X = pd.DataFrame(make_toy("moons", 50, random_state=0), columns=["a", "b"])
    loaded = load(EmpiricalScore(bandwidth=0.2).fit(X).save(tmp_path / "f.npz"))
    assert list(loaded.feature_names_in_) == ["a", "b"]


def _rewrite(path, edit_metadata=None, edit_arrays=None, fix_checksum=True):
    with np.load(path, allow_pickle=False) as archive:
        entries = {key: archive[key] for key in archive.files}
    metadata = json.loads(str(entries.pop("metadata")))
    entries.pop("checksum")
    if edit_metadata:
        edit_metadata(metadata)
    if edit_arrays:
        edit_arrays(entries)
    text = json.dumps(metadata, sort_keys=True)
    checksum = _checksum(text, entries) if fix_checksum else "0" * 64
    np.savez(path, metadata=np.array(text), checksum=np.array(checksum), **entries)


@pytest.fixture
def saved(data, tmp_path):
    return EmpiricalScore(bandwidth=0.2).fit(data[0]).save(tmp_path / "model.npz")


def test_a_modified_file_is_refused(saved):
    def shift(entries):
        entries["array_0"] = entries["array_0"] + 1.0

    _rewrite(saved, edit_arrays=shift, fix_checksum=False)
    with pytest.raises(ValueError, match="modified after it was saved"):
        load(saved)


def test_files_of_any_package_version_with_this_layout_load(saved, data):
    model = load(saved)
    _rewrite(saved, edit_metadata=lambda m: m.update(wpokernel_version="0.9.7"))
    np.testing.assert_array_equal(load(saved).score_samples(data[1]), model.score_samples(data[1]))


@pytest.mark.parametrize("version, match", [
    (99, r"layout version 99, newer than the 2 this wpokernel reads .*; upgrade wpokernel"),
    (1, r"layout version 1, written by wpokernel .* before the estimators' parameters were "
        r"renamed; refit"),
])
def test_layouts_of_other_versions_are_refused_with_the_reason(saved, version, match):
    _rewrite(saved, edit_metadata=lambda m: m.update(format_version=version))
    with pytest.raises(ValueError, match=match):
        load(saved)


def test_classes_outside_the_allow_list_are_refused(saved):
    _rewrite(saved, edit_metadata=lambda m: m["model"].update(__estimator__="subprocess.Popen"))
    with pytest.raises(ValueError, match=r"Expected a wpokernel estimator in the model file .*"
                                         r"model\.npz, got 'subprocess.Popen'"):
        load(saved)


class _Marker:
    """Would create a file if unpickled."""

    def __init__(self, path):
        self.path = path

    def __reduce__(self):
        return (Path.touch, (Path(self.path),))


def test_pickled_payloads_are_never_executed(tmp_path):
    marker = tmp_path / "executed"
    payload = np.empty(1, dtype=object)
    payload[0] = _Marker(str(marker))
    np.savez(tmp_path / "evil.npz", metadata=np.array("{}"), checksum=np.array("0"), payload=payload)
    with pytest.raises(ValueError, match=r"evil\.npz is not a readable wpokernel model file: entry "
                                         r"'payload' holds dtype object, not numbers"):
        load(tmp_path / "evil.npz")
    assert not marker.exists()
    with open(tmp_path / "raw.pkl", "wb") as file:
        pickle.dump(_Marker(str(marker)), file)
    with pytest.raises(ValueError, match="raw.pkl is not a wpokernel model file: it is not an "
                                         ".npz archive") as info:
        load(tmp_path / "raw.pkl")
    assert "pickle" not in str(info.value).replace(str(tmp_path), "") and not marker.exists()


def test_files_that_are_not_model_files_are_refused(tmp_path):
    (tmp_path / "text.npz").write_text("not an archive")
    with pytest.raises(ValueError, match=r"text\.npz is not a wpokernel model file: it is not an "
                                         r"\.npz archive"):
        load(tmp_path / "text.npz")
    np.savetxt(tmp_path / "data.csv", np.zeros((3, 2)), delimiter=",")
    with pytest.raises(ValueError, match=r"data\.csv is not a wpokernel model file") as info:
        load(tmp_path / "data.csv")
    assert "pickle" not in str(info.value)
    np.savez(tmp_path / "plain.npz", x=np.zeros(3))
    with pytest.raises(ValueError, match=r"plain\.npz is not a readable wpokernel model file: it "
                                         r"has no 'metadata' entry"):
        load(tmp_path / "plain.npz")


def test_load_finds_the_file_save_wrote(data, tmp_path):
    model = EmpiricalScore(bandwidth=0.2).fit(data[0])
    assert model.save(tmp_path / "m") == tmp_path / "m.npz"
    np.testing.assert_array_equal(load(tmp_path / "m").score_samples(data[1]),
                                  model.score_samples(data[1]))
    with pytest.raises(ValueError, match=r"Expected a wpokernel model file at .*missing, got no "
                                         r"such file \(nor .*missing\.npz\)"):
        load(tmp_path / "missing")


# ------------------------------------------------------------------ damaged files

def _damaged(saved, edit):
    raw = bytearray(saved.read_bytes())
    saved.write_bytes(bytes(edit(raw)))
    return saved


def _flip(position):
    def edit(raw):
        raw[position(len(raw))] ^= 0xFF
        return raw

    return edit


@pytest.mark.parametrize("edit", [
    _flip(lambda n: n // 3),  # inside the compressed data
    _flip(lambda n: n - 30),  # in the zip directory at the end
    _flip(lambda n: 40),  # in the first entry's local header
    lambda raw: raw[:10],
    lambda raw: raw[:len(raw) // 2],
    lambda raw: raw[:-1],
], ids=["data byte", "directory byte", "header byte", "10 bytes", "half", "all but one byte"])
def test_a_damaged_file_is_a_clear_error_naming_it(saved, edit):
    with pytest.raises(ValueError, match=rf"{saved.name} (is not a|is not a readable|is not a "
                                         r"valid|was modified)") as info:
        load(_damaged(saved, edit))
    assert "zlib" not in type(info.value).__module__


def _zeros_entry(path, key, n_bytes):
    """Replace the entry ``key`` of a model file by ``n_bytes`` of zeros, written in chunks."""
    import zipfile

    with zipfile.ZipFile(path) as old:
        kept = {info.filename: old.read(info) for info in old.infolist() if info.filename != key + ".npy"}
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as new:
        for name, content in kept.items():
            new.writestr(name, content)
        header = {"descr": "<f8", "fortran_order": False, "shape": (n_bytes // 8,)}
        with new.open(key + ".npy", "w", force_zip64=True) as stream:
            np.lib.format.write_array_header_2_0(stream, header)
            chunk = bytes(2**20)
            for _ in range(n_bytes // len(chunk)):
                stream.write(chunk)


def test_a_decompression_bomb_is_refused_before_its_data_is_read(saved, monkeypatch):
    # 256 MiB of zeros where the model's centers were (about 250 KiB compressed): the shapes
    # declared by the entry's header do not fit the model, so nothing is decompressed.
    import zipfile

    with np.load(saved, allow_pickle=False) as archive:
        metadata = json.loads(str(archive["metadata"]))
    centers = metadata["model"]["fitted"]["field_"]["__field__"]["centers"]["__array__"]
    _zeros_entry(saved, centers, 256 * 2**20)

    read = []
    original_read, original_readinto = zipfile.ZipExtFile.read, zipfile.ZipExtFile.readinto
    monkeypatch.setattr(zipfile.ZipExtFile, "read",
                        lambda self, n=-1: read.append(n) or original_read(self, n))
    monkeypatch.setattr(zipfile.ZipExtFile, "readinto",
                        lambda self, b: read.append(len(b)) or original_readinto(self, b))
    with pytest.raises(ValueError, match=r"model\.npz is not a readable wpokernel model file: "
                                         r"model\.fitted\.field_\.centers has shape \(33554432,\)"):
        load(saved)
    assert sum(n for n in read if n > 0) < 2**20


def test_arrays_larger_than_the_ceiling_are_refused_before_reading(saved):
    with pytest.raises(ValueError, match=r"its arrays hold \d+ bytes, more than max_bytes=100"):
        load(saved, max_bytes=100)


# ------------------------------------------------------------------ tampered metadata

def _tampered(saved, edit):
    _rewrite(saved, edit_metadata=edit)  # with a recomputed checksum: anyone can
    return saved


def _model(edit):
    return lambda metadata: edit(metadata["model"])


@pytest.mark.parametrize("edit, match", [
    (_model(lambda m: m["params"].update(bandwidth=-1)),
     r"its EmpiricalScore has an invalid parameter: Expected bandwidth >= 0, got -1"),
    (_model(lambda m: m["params"].update(backend="evil")),
     r"invalid parameter: Expected backend in \('auto', 'numpy', 'torch', 'keops', 'cupy'\)"),
    (_model(lambda m: m.update(__estimator__="WPOKernelScore")),
     r"its WPOKernelScore has parameters \[.*\], which are not those of that class"),
    (_model(lambda m: m["fitted"].update(__class__="x")),
     r"has attributes that class does not have: \['__class__'\]"),
    (_model(lambda m: m["fitted"].update(backdoor_=1)),
     r"has attributes that class does not have: \['backdoor_'\]"),
    (_model(lambda m: m["fitted"].update(n_features_in_=3)),
     r"model\.mean_ is not of shape \(3,\)"),
    (_model(lambda m: m["fitted"]["field_"]["__field__"].update(beta=-1.0)),
     "a mixture field's beta, backend or working_memory is invalid"),
    (_model(lambda m: m["fitted"]["field_"]["__field__"].update(extra=1)),
     "a mixture field has other attributes"),
    (lambda metadata: metadata.update(model={"__os__": "system"}), "it holds no estimator|does not read"),
])
def test_tampered_metadata_is_checked_like_the_parameters(saved, edit, match):
    with pytest.raises(ValueError, match=match):
        load(_tampered(saved, edit))


def test_deeply_nested_metadata_is_refused(saved):
    def nest(metadata):
        deep = {}
        for _ in range(100_000):
            deep = {"__dict__": {"a": deep}}
        metadata["model"]["fitted"]["deep_"] = deep

    _rewrite_text(saved, nest)
    with pytest.raises(ValueError, match="its metadata is not JSON of bounded depth"):
        load(saved)


def _rewrite_text(path, edit_metadata):
    """As _rewrite, for metadata too deep for json.dumps: written with a plain string join."""
    with np.load(path, allow_pickle=False) as archive:
        entries = {key: archive[key] for key in archive.files}
    metadata = json.loads(str(entries.pop("metadata")))
    entries.pop("checksum")
    edit_metadata(metadata)
    deep = metadata["model"]["fitted"].pop("deep_")
    depth = 0
    while deep:
        depth, deep = depth + 1, deep["__dict__"]["a"]
    text = json.dumps(metadata, sort_keys=True)
    text = text[:-2] + ', "deep_": ' + '{"__dict__": {"a": ' * depth + "{}" + "}}" * depth + "}}"
    np.savez(path, metadata=np.array(text), checksum=np.array(_checksum(text, entries)), **entries)


def test_every_fitted_attribute_of_every_estimator_is_documented(data):
    for estimator, fit_params in MODELS.values():
        model = _fit(clone(estimator), data[0], **fit_params)
        fitted = {k for k in vars(model) if k.endswith("_") and not k.startswith("_")}
        assert fitted <= allowed_attributes(type(model)), (type(model).__name__, fitted)


def test_unsupported_attributes_are_refused_on_save(tmp_path):
    model = EmpiricalScore().fit(np.zeros((3, 2)) + np.arange(3)[:, None])
    model.extra_ = object()
    with pytest.raises(TypeError, match="Cannot save model.extra_ of type object"):
        model.save(tmp_path / "x.npz")


def test_a_local_floor_profile_of_another_shape_is_refused(data, tmp_path):
    # A profile per center must have a row per center: (d,) or (n_centers, d), nothing else.
    model = WPOKernelScore(structure="lowrank", rank=1, floor="local", **FAST_WPO).fit(data[0])
    path = model.save(tmp_path / "local.npz")
    with np.load(path, allow_pickle=False) as archive:
        metadata = json.loads(str(archive["metadata"]))
    field = metadata["model"]["fitted"]["field_"]["__field__"]
    key = field["covariance"]["params"]["profile"]["__array__"]
    n, d = model.field_.centers.shape

    def grow(entries):
        entries[key] = np.ones((n + 1, d), dtype=np.float32)

    _rewrite(path, edit_arrays=grow)
    with pytest.raises(ValueError, match=rf"covariance\.profile has shape \({n + 1}, {d}\), "
                                         rf"not \({d},\) or \({n}, {d}\)"):
        load(path)
