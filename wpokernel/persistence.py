r"""Safe model files: ``model.save(path)`` and :func:`load`, without pickle.

A model file is one NumPy ``.npz`` archive holding

* ``metadata``: JSON text, the estimator as a tree of plain values (class name, package and
  format versions, hyper-parameters, fitted attributes), where every array is replaced by the
  name of an array entry;
* one entry per array (numeric dtypes only);
* ``checksum``: the SHA-256 of the metadata and of every array's bytes, dtype and shape.

Loading (:func:`load`) never unpickles and never runs code from the file. In order, it

1. finds the file (``load("m")`` reads ``m.npz``, as ``save("m")`` writes it);
2. opens the zip archive and reads every entry's ``.npy`` header, refusing non-numeric or
   inconsistent entries (:mod:`wpokernel._model_archive`);
3. reads the metadata (at most 64 MiB of JSON, nested at most 64 levels), checks the file
   layout's ``format_version`` — files of any package version with a layout this code reads
   load; a newer layout is refused with a message that says so;
4. checks the shapes every array declares against what the model they belong to needs, and
   their total size against a ceiling (``max_bytes``, 4 GiB by default), before any data is
   decompressed (:mod:`wpokernel._model_schema`);
5. reads the arrays in chunks while the checksum is computed, and refuses a mismatch;
6. rebuilds the objects, runs every estimator's parameter constraints and refuses fitted
   attributes its class does not document.

Every failure is a ``ValueError`` that names the file and what is wrong with it. Objects are
rebuilt only from an explicit allow-list (the estimators, which enter the registry
of :class:`SaveMixin` when their class is defined, the mixture field, the covariance
structures of :attr:`~wpokernel.reductions.CovarianceStructure.registry`, the networks of
:data:`wpokernel.neural.NETWORKS`, small package objects rebuilt from their constructor
arguments such as the interpolant coefficients, NumPy random states): a model file carries
data, never code, so opening one from an untrusted source cannot run anything. This module
imports none of the estimators: :func:`wpokernel.load` imports them (and so registers them)
before it reads a file. A model file holds CPU arrays, so a model fitted with
``device="cuda"`` loads as a CPU model.

Pickle keeps working for scikit-learn users (``pickle.dump(model, f)``); these files are the
format to share models with.
"""

import json
from pathlib import Path

import numpy as np
import torch
from sklearn.base import BaseEstimator

from ._model_archive import DEFAULT_MAX_BYTES, new_digest, open_archive, resolve_model_path
from ._model_schema import check_declared_shapes, check_estimator_state
from .interpolant_coefficients import InterpolantCoefficients
from .mixture import GaussianMixtureField
from .neural import NETWORKS
from .reductions import BACKENDS, CovarianceStructure

__all__ = ["DEFAULT_MAX_BYTES", "FORMAT_VERSION", "SaveMixin", "load", "save"]

#: Version of the file layout and of the estimators' parameter vocabulary. Files of this
#: layout load whatever package version wrote them; version 1 (before the parameters were
#: renamed, wpokernel 0.1) and newer layouts are refused with a message that says so.
FORMAT_VERSION = 2
_FORMAT_NAME = "wpokernel-model"
_METADATA_KEY, _CHECKSUM_KEY = "metadata", "checksum"
_MAX_METADATA_BYTES = 64 * 2**20
_MAX_CHECKSUM_BYTES = 4096


# ---------------------------------------------------------------------------- allow-lists
#: ``{class name: class}`` of the estimators, filled by :class:`SaveMixin` subclasses.
ESTIMATORS = {}


def _estimator_classes():
    return ESTIMATORS


def _covariance_classes():
    return CovarianceStructure.registry


def _module_classes():
    return NETWORKS


# Package objects whose state is their constructor arguments, kept as attributes of the
# same names: {name: (class, argument names)}. A file names the class and gives the
# arguments, never code.
_CONSTRUCTED = {"InterpolantCoefficients": (InterpolantCoefficients, ("family", "gamma", "gamma_scale"))}


def _constructed_classes():
    return _CONSTRUCTED


# ---------------------------------------------------------------------------- encoding
class _Encoder:
    """Turns an object tree into JSON-ready values, collecting arrays on the side."""

    def __init__(self):
        self.arrays = {}

    def array(self, value):
        value = np.asarray(value)
        if value.dtype.kind not in "biufc":
            raise TypeError(f"Expected numeric arrays in a model file, got dtype {value.dtype}.")
        key = f"array_{len(self.arrays)}"
        self.arrays[key] = np.array(value, order="C")  # ascontiguousarray would make 0-d arrays 1-d
        return {"__array__": key}

    def encode(self, value, where):
        if value is None or isinstance(value, (bool, str)):
            return value
        if isinstance(value, (int, float, np.integer, np.floating, np.bool_)):
            return value.item() if isinstance(value, np.generic) else value
        if isinstance(value, np.ndarray) and value.dtype == object \
                and all(isinstance(v, str) for v in value.ravel()):
            # feature_names_in_: strings, which the archive stores without pickle.
            return {"__strings__": value.tolist()}
        if isinstance(value, (np.ndarray, torch.Tensor)):
            return self.array(value.detach().cpu().numpy() if isinstance(value, torch.Tensor) else value)
        if isinstance(value, (list, tuple)):
            items = [self.encode(v, f"{where}[{i}]") for i, v in enumerate(value)]
            return items if isinstance(value, list) else {"__tuple__": items}
        if isinstance(value, dict):
            if not all(isinstance(k, str) for k in value):
                raise TypeError(f"Expected string keys in {where}, got {list(value)!r}.")
            return {"__dict__": {k: self.encode(v, f"{where}[{k!r}]") for k, v in value.items()}}
        if isinstance(value, np.random.RandomState):
            return {"__random_state__": self.encode(list(value.get_state()), where)}
        if isinstance(value, BaseEstimator):
            return self.estimator(value, where)
        if isinstance(value, GaussianMixtureField):
            names = ("centers", "covariance", "log_weights", "beta", "backend", "working_memory")
            return {"__field__": {n: self.encode(getattr(value, n), f"{where}.{n}") for n in names}}
        if isinstance(value, CovarianceStructure):
            names = (*value._params, "added_variance")
            return {"__covariance__": type(value).__name__,
                    "params": {n: self.encode(getattr(value, n), f"{where}.{n}") for n in names}}
        cls, arguments = _constructed_classes().get(type(value).__name__, (None, ()))
        if cls is type(value):
            return {"__object__": cls.__name__,
                    "params": {n: self.encode(getattr(value, n), f"{where}.{n}") for n in arguments}}
        if isinstance(value, torch.nn.Module) and type(value).__name__ in _module_classes():
            state = {k: self.array(v.detach().cpu().numpy()) for k, v in value.state_dict().items()}
            return {"__module__": type(value).__name__,
                    "config": self.encode(value.config, f"{where}.config"), "state": state}
        raise TypeError(f"Cannot save {where} of type {type(value).__name__}: model files hold "
                        "arrays, numbers, strings and the package's own objects only.")

    def estimator(self, estimator, where):
        name = type(estimator).__name__
        if _estimator_classes().get(name) is not type(estimator):
            raise TypeError(f"Expected a wpokernel estimator at {where}, got {name}.")
        params = estimator.get_params(deep=False)
        fitted = {k: v for k, v in vars(estimator).items() if k.endswith("_") and not k.startswith("_")}
        if "device_" in fitted:
            fitted["device_"] = "cpu"  # the file holds every array on the host
        return {"__estimator__": name,
                "params": {k: self.encode(v, f"{where}.{k}") for k, v in params.items()},
                "fitted": {k: self.encode(v, f"{where}.{k}") for k, v in fitted.items()}}


# ---------------------------------------------------------------------------- decoding
_KINDS = ("__array__", "__tuple__", "__strings__", "__dict__", "__random_state__",
          "__estimator__", "__field__", "__covariance__", "__module__", "__object__")


class _Decoder:
    """Rebuilds an object tree from JSON values and the archive's arrays (allow-lists only).

    Every problem raises a ``ValueError`` that names the file (:meth:`error`).
    """

    def __init__(self, arrays, path):
        self.arrays, self.path = arrays, path

    def error(self, reason):
        return ValueError(f"{self.path} is not a valid wpokernel model file: {reason}.")

    def decode(self, value):
        if value is None or isinstance(value, (bool, int, float, str)):
            return value
        if isinstance(value, list):
            return [self.decode(v) for v in value]
        kind = next((key for key in value if key in _KINDS), None) if isinstance(value, dict) else None
        if kind is None:
            raise self.error(f"it holds a value this code does not read, {str(value)[:80]!r}")
        decoder = {"__array__": self.array, "__tuple__": lambda v: tuple(self.decode(x) for x in v),
                   "__strings__": self.strings, "__dict__": self.mapping,
                   "__random_state__": self.random_state, "__estimator__": self.estimator,
                   "__field__": self.field, "__covariance__": self.covariance,
                   "__module__": self.module, "__object__": self.constructed}[kind]
        named = ("__estimator__", "__covariance__", "__module__", "__object__")
        return decoder(value) if kind in named else decoder(value[kind])

    def array(self, key):
        if not isinstance(key, str) or key not in self.arrays:
            raise self.error(f"array {key!r} is missing")
        return np.array(self.arrays[key])

    def strings(self, values):
        if not isinstance(values, list) or not all(isinstance(v, str) for v in values):
            raise self.error("a list of strings holds something else")
        return np.asarray(values, dtype=object)

    def mapping(self, value):
        if not isinstance(value, dict):
            raise self.error(f"a mapping is a {type(value).__name__}")
        return {k: self.decode(x) for k, x in value.items()}

    def random_state(self, state):
        rng = np.random.RandomState()
        try:
            rng.set_state(tuple(self.decode(state)))
        except (TypeError, ValueError) as exc:
            raise self.error(f"a random state is malformed ({exc})") from exc
        return rng

    def build(self, cls, arguments, what):
        """``cls(**arguments)``, its failures as the file's errors."""
        if not isinstance(arguments, dict):
            raise self.error(f"the arguments of a {what} are not a mapping")
        try:
            return cls(**{k: self.decode(v) for k, v in arguments.items()})
        except (TypeError, ValueError, RuntimeError) as exc:
            if str(exc).startswith(str(self.path)):
                raise
            raise self.error(f"its {cls.__name__} cannot be built from the file's values ({exc})") \
                from exc

    def estimator(self, value):
        cls = self.known(_estimator_classes(), value.get("__estimator__"), "estimator")
        params, fitted = value.get("params"), value.get("fitted")
        if not isinstance(params, dict) or set(params) != set(cls().get_params(deep=False)):
            raise self.error(f"its {cls.__name__} has parameters {sorted(params or {})}, which "
                             "are not those of that class")
        estimator = self.build(cls, params, "estimator")
        if not isinstance(fitted, dict):
            raise self.error(f"the fitted attributes of its {cls.__name__} are not a mapping")
        check_estimator_state(estimator, fitted, self.error)
        for name, encoded in fitted.items():
            setattr(estimator, name, self.decode(encoded))
        return estimator

    def field(self, value):
        if not isinstance(value, dict) or set(value) != set(_FIELD_ATTRIBUTES):
            raise self.error("a mixture field has other attributes than centers, covariance, "
                             "log_weights, beta, backend and working_memory")
        # Not through __init__, which would renormalize the log-weights and change their last
        # bits: a loaded model must give identical results.
        field = GaussianMixtureField.__new__(GaussianMixtureField)
        field.__dict__.update({k: self.decode(v) for k, v in value.items()})
        self.check_field(field)
        return field

    def check_field(self, field):
        if not isinstance(field.covariance, CovarianceStructure):
            raise self.error("a mixture field's covariance is not a covariance structure")
        for name in ("centers", "log_weights"):
            if not np.all(np.isfinite(getattr(field, name))):
                raise self.error(f"a mixture field's {name} are not finite")
        if not (isinstance(field.beta, float) and field.beta > 0
                and field.backend in (*BACKENDS, "auto")
                and isinstance(field.working_memory, (int, float)) and field.working_memory > 0):
            raise self.error("a mixture field's beta, backend or working_memory is invalid")

    def covariance(self, value):
        cls = self.known(_covariance_classes(), value.get("__covariance__"), "covariance structure")
        return self.build(cls, value.get("params"), "covariance structure")

    def constructed(self, value):
        cls, _ = self.known(_constructed_classes(), value.get("__object__"), "object")
        return self.build(cls, value.get("params"), "object")

    def module(self, value):
        cls = self.known(_module_classes(), value.get("__module__"), "network")
        module = self.build(cls, {k: v for k, v in value.get("config", {}).get("__dict__", {}).items()},
                            "network")
        state = {k: torch.as_tensor(self.decode(v)) for k, v in value.get("state", {}).items()}
        try:
            module.load_state_dict(state)
        except RuntimeError as exc:
            raise self.error(f"its {cls.__name__} state does not fit the network") from exc
        return module.eval()

    def known(self, classes, name, what):
        if not isinstance(name, str) or name not in classes:
            raise ValueError(f"Expected a wpokernel {what} in the model file {self.path}, got "
                             f"{name!r}.")
        return classes[name]


_FIELD_ATTRIBUTES = ("centers", "covariance", "log_weights", "beta", "backend", "working_memory")


# ---------------------------------------------------------------------------- files
def _checksum(metadata, arrays):
    digest = new_digest(metadata)
    for key in sorted(arrays):
        array = np.array(arrays[key], order="C")
        digest.update(f"{key}:{array.dtype.str}:{array.shape}".encode())
        digest.update(array.tobytes())
    return digest.hexdigest()


def save(estimator, path):
    """Write a fitted or unfitted wpokernel estimator to ``path`` (a ``.npz`` file).

    Parameters
    ----------
    estimator : wpokernel estimator
    path : str or pathlib.Path
        Destination; ``.npz`` is appended when missing (as :func:`numpy.savez` does), and
        :func:`load` finds the file by the same name.

    Returns
    -------
    pathlib.Path
        The path written.
    """
    from . import __version__

    encoder = _Encoder()
    tree = encoder.estimator(estimator, "model")
    metadata = json.dumps({"format": _FORMAT_NAME, "format_version": FORMAT_VERSION,
                           "wpokernel_version": __version__, "model": tree}, sort_keys=True)
    path = Path(path)
    path = path if path.suffix == ".npz" else path.with_name(path.name + ".npz")
    entries = {**encoder.arrays, _METADATA_KEY: np.array(metadata),
               _CHECKSUM_KEY: np.array(_checksum(metadata, encoder.arrays))}
    with open(path, "wb") as file:
        np.savez_compressed(file, **entries)
    return path


def _header(archive, path):
    """The parsed metadata of an open archive, its layout checked."""
    metadata = archive.read_text(_METADATA_KEY, max_bytes=_MAX_METADATA_BYTES)
    try:
        header = json.loads(metadata)
    except (json.JSONDecodeError, RecursionError) as exc:
        raise archive.error(f"its metadata is not JSON of bounded depth ({type(exc).__name__})") \
            from exc
    if not isinstance(header, dict) or header.get("format") != _FORMAT_NAME:
        raise archive.error("its metadata is not that of a wpokernel model")
    version = header.get("format_version")
    if not isinstance(version, int) or version > FORMAT_VERSION:
        raise ValueError(f"The model file {path} has layout version {version!r}, newer than the "
                         f"{FORMAT_VERSION} this wpokernel reads (it was written by wpokernel "
                         f"{header.get('wpokernel_version')}); upgrade wpokernel to load it.")
    if version < FORMAT_VERSION:
        raise ValueError(f"The model file {path} has layout version {version}, written by "
                         f"wpokernel {header.get('wpokernel_version')} before the estimators' "
                         f"parameters were renamed; refit the model with this wpokernel.")
    return metadata, header


def load(path, *, max_bytes=DEFAULT_MAX_BYTES):
    """Read a model written by :func:`save`; no code in the file is ever run.

    Parameters
    ----------
    path : str or pathlib.Path
        The model file; ``.npz`` is appended when the name without it does not exist.
    max_bytes : int, default=DEFAULT_MAX_BYTES
        Largest total size of the model's arrays, decompressed (4 GiB by default).

    Returns
    -------
    estimator
        The estimator, fitted as it was saved (its state on the CPU).

    Raises
    ------
    ValueError
        The file does not exist, is not a wpokernel model file, is damaged or was modified
        after saving (checksum), declares arrays its model does not need or larger than
        ``max_bytes``, holds invalid parameters or attributes, or has a layout of another
        version; the message names the file and the reason.
    """
    path = resolve_model_path(path)
    with open_archive(path) as archive:
        metadata, header = _header(archive, path)
        keys = [k for k in archive.headers if k not in (_METADATA_KEY, _CHECKSUM_KEY)]
        if archive.nbytes(keys) > max_bytes:
            raise archive.error(f"its arrays hold {archive.nbytes(keys)} bytes, more than "
                                f"max_bytes={max_bytes}")
        check_declared_shapes(header.get("model"), {k: archive.headers[k][1] for k in keys},
                              archive.error)
        checksum = archive.read_text(_CHECKSUM_KEY, max_bytes=_MAX_CHECKSUM_BYTES)
        digest = new_digest(metadata)
        arrays = archive.read_arrays(keys, digest)
    if digest.hexdigest() != checksum:
        raise ValueError(f"The model file {path} was modified after it was saved (checksum "
                         "mismatch); refusing to load it.")
    model = _Decoder(arrays, path).decode(header.get("model"))
    if not isinstance(model, BaseEstimator):
        raise ValueError(f"{path} is not a valid wpokernel model file: it holds no estimator.")
    return model


class SaveMixin:
    """Adds ``save(path)`` to an estimator and enters its class in :data:`ESTIMATORS`.

    Every public subclass (a name without a leading underscore) registers itself under its
    class name when it is defined, so adding an estimator needs no edit here. A name taken by
    a class of the package is kept by it.
    """

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        name = cls.__name__
        taken = ESTIMATORS.get(name)
        package_class = taken is not None and taken.__module__.startswith("wpokernel.")
        if not name.startswith("_") and not (package_class and taken is not cls
                                             and not cls.__module__.startswith("wpokernel.")):
            ESTIMATORS[name] = cls

    def save(self, path):
        """Write the estimator to a safe model file; read it back with :func:`wpokernel.load`.

        Parameters
        ----------
        path : str or pathlib.Path
            Destination ``.npz`` file.

        Returns
        -------
        pathlib.Path
            The path written.
        """
        return save(self, path)
