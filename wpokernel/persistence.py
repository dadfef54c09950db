r"""Safe model files: ``model.save(path)`` and :func:`load`, without pickle.

A model file is one NumPy ``.npz`` archive holding

* ``metadata``: JSON text, the estimator as a tree of plain values (class name, package and
  format versions, hyper-parameters, fitted attributes), where every array is replaced by the
  name of an array entry;
* one entry per array (numeric dtypes only);
* ``checksum``: the SHA-256 of the metadata and of every array's bytes, dtype and shape.

Loading reads the archive with ``allow_pickle=False``, checks the checksum and the versions,
and rebuilds only objects of an explicit allow-list (the estimators, which enter the registry
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

import hashlib
import json
from pathlib import Path

import numpy as np
import torch
from sklearn.base import BaseEstimator

from .interpolant_coefficients import InterpolantCoefficients
from .mixture import GaussianMixtureField
from .neural import NETWORKS
from .reductions import CovarianceStructure

__all__ = ["FORMAT_VERSION", "SaveMixin", "load", "save"]

#: Version of the file layout; files of another layout are refused.
FORMAT_VERSION = 1
_FORMAT_NAME = "wpokernel-model"
_METADATA_KEY, _CHECKSUM_KEY = "metadata", "checksum"


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
class _Decoder:
    """Rebuilds an object tree from JSON values and the archive's arrays (allow-lists only)."""

    def __init__(self, arrays):
        self.arrays = arrays

    def decode(self, value):
        if value is None or isinstance(value, (bool, int, float, str)):
            return value
        if isinstance(value, list):
            return [self.decode(v) for v in value]
        if not isinstance(value, dict) or len(value) == 0:
            raise ValueError(f"Expected an encoded value in the model file, got {value!r}.")
        kind = next((key for key in value if key.startswith("__")), None)
        decoder = {"__array__": self.array, "__tuple__": lambda v: tuple(self.decode(x) for x in v),
                   "__strings__": lambda v: np.asarray(v, dtype=object),
                   "__dict__": lambda v: {k: self.decode(x) for k, x in v.items()},
                   "__random_state__": self.random_state, "__estimator__": self.estimator,
                   "__field__": self.field, "__covariance__": self.covariance,
                   "__module__": self.module, "__object__": self.constructed}.get(kind)
        if decoder is None:
            raise ValueError(f"Expected a known entry in the model file, got {kind!r}.")
        named = ("__estimator__", "__covariance__", "__module__", "__object__")
        return decoder(value) if kind in named else decoder(value[kind])

    def array(self, key):
        if key not in self.arrays:
            raise ValueError(f"Expected array {key!r} in the model file; it is missing.")
        return self.arrays[key]

    def random_state(self, state):
        rng = np.random.RandomState()
        rng.set_state(tuple(self.decode(state)))
        return rng

    def estimator(self, value):
        cls = _known(_estimator_classes(), value["__estimator__"], "estimator")
        estimator = cls(**{k: self.decode(v) for k, v in value["params"].items()})
        for name, encoded in value["fitted"].items():
            setattr(estimator, name, self.decode(encoded))
        return estimator

    def field(self, value):
        # Not through __init__, which would renormalize the log-weights and change their last
        # bits: a loaded model must give identical results.
        field = GaussianMixtureField.__new__(GaussianMixtureField)
        field.__dict__.update({k: self.decode(v) for k, v in value.items()})
        return field

    def covariance(self, value):
        cls = _known(_covariance_classes(), value["__covariance__"], "covariance structure")
        return cls(**{k: self.decode(v) for k, v in value["params"].items()})

    def constructed(self, value):
        cls, _ = _known(_constructed_classes(), value["__object__"], "object")
        return cls(**{k: self.decode(v) for k, v in value["params"].items()})

    def module(self, value):
        cls = _known(_module_classes(), value["__module__"], "network")
        module = cls(**self.decode(value["config"]))
        state = {k: torch.as_tensor(self.decode(v)) for k, v in value["state"].items()}
        module.load_state_dict(state)
        return module.eval()


def _known(classes, name, what):
    if name not in classes:
        raise ValueError(f"Expected a wpokernel {what} in the model file, got {name!r}.")
    return classes[name]


# ---------------------------------------------------------------------------- files
def _checksum(metadata, arrays):
    digest = hashlib.sha256(metadata.encode("utf-8"))
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
        Destination; ``.npz`` is appended when missing (as :func:`numpy.savez` does).

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


def load(path):
    """Read a model written by :func:`save`; no code in the file is ever run.

    Raises
    ------
    ValueError
        The file is not a wpokernel model file, was modified after saving (checksum), or was
        written by another wpokernel version or file layout.
    """
    from . import __version__

    try:
        archive = np.load(path, allow_pickle=False)
        if not isinstance(archive, np.lib.npyio.NpzFile):
            raise ValueError("it holds a single array, not an archive")
        with archive:
            entries = {key: archive[key] for key in archive.files}
    except (OSError, ValueError, EOFError) as exc:
        raise ValueError(f"Expected a wpokernel model file (.npz) at {path}, got an unreadable "
                         f"file: {exc}") from exc
    if _METADATA_KEY not in entries or _CHECKSUM_KEY not in entries:
        raise ValueError(f"Expected a wpokernel model file at {path}, got an archive without "
                         "model metadata.")
    metadata = str(entries.pop(_METADATA_KEY))
    checksum = str(entries.pop(_CHECKSUM_KEY))
    if _checksum(metadata, entries) != checksum:
        raise ValueError(f"The model file {path} was modified after it was saved (checksum "
                         "mismatch); refusing to load it.")
    header = json.loads(metadata)
    if header.get("format") != _FORMAT_NAME or header.get("format_version") != FORMAT_VERSION:
        raise ValueError(f"Expected a {_FORMAT_NAME} file of format version {FORMAT_VERSION}, "
                         f"got {header.get('format')!r} version {header.get('format_version')!r}.")
    if header.get("wpokernel_version") != __version__:
        raise ValueError(f"The model file {path} was saved by wpokernel "
                         f"{header.get('wpokernel_version')}, this is wpokernel {__version__}; "
                         "refit the model or install the version that saved it.")
    return _Decoder(entries).decode(header["model"])


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
