"""What a model file may hold: checks of its tree of values, before and after its data is read.

Before any array data is decompressed, :func:`check_declared_shapes` walks the metadata's tree
with the shapes the archive's entries declare: every mixture field's centers are
``(n_centers, n_features)`` with the estimator's ``n_features_in_``, its log-weights
``(n_centers,)``, each covariance parameter has the leading axes ``(n_centers, n_features)``,
the standardization ``mean_`` is ``(n_features,)``, and every network's state has the shapes
of the network its configuration builds (built on torch's meta device, which allocates
nothing). A file that declares more than its model needs is refused there.

After decoding, :func:`check_estimator_state` runs the estimator's own parameter constraints
and checks that its fitted attributes are the ones its class documents (the names of the
``Attributes`` sections of its docstrings, plus those every estimator has).
"""

import re

import numpy as np
import torch

from .reductions import CovarianceStructure

__all__ = ["allowed_attributes", "check_declared_shapes", "check_estimator_state"]

#: Fitted attributes of every estimator, documented once in the base classes' pages.
COMMON_ATTRIBUTES = frozenset({"n_features_in_", "feature_names_in_", "mean_", "scale_",
                               "device_", "backend_"})
_DOCUMENTED = re.compile(r"^\s{4}([A-Za-z][A-Za-z0-9_]*_(?:, [A-Za-z][A-Za-z0-9_]*_)*) :", re.MULTILINE)
_MAX_DEPTH = 64


def allowed_attributes(cls):
    """Fitted attribute names documented in the ``Attributes`` sections along ``cls``'s MRO."""
    names = set(COMMON_ATTRIBUTES)
    for klass in cls.__mro__:
        doc = klass.__dict__.get("__doc__") or ""
        section = doc.split("Attributes\n    ----------", 1)
        if len(section) == 2:
            body = re.split(r"\n    [A-Z][a-z ]+\n    -{3,}", section[1], maxsplit=1)[0]
            for match in _DOCUMENTED.finditer(body):
                names.update(match.group(1).split(", "))
    return frozenset(names)


def check_estimator_state(estimator, fitted_names, error):
    """Run ``estimator``'s parameter constraints; refuse undocumented fitted attributes."""
    from ._validation import validate_params

    try:
        validate_params(estimator)
    except (TypeError, ValueError) as exc:
        raise error(f"its {type(estimator).__name__} has an invalid parameter: {exc}") from exc
    unknown = sorted(set(fitted_names) - allowed_attributes(type(estimator)))
    if unknown:
        raise error(f"its {type(estimator).__name__} has attributes that class does not have: "
                    f"{unknown}")


# ---------------------------------------------------------------------------- declared shapes
class _ShapeWalker:
    """Walks the encoded tree with the declared shape of each array entry."""

    def __init__(self, shapes, error):
        self.shapes, self.error = shapes, error

    def shape(self, value, where):
        if not (isinstance(value, dict) and set(value) == {"__array__"}):
            raise self.error(f"{where} is not an array")
        key = value["__array__"]
        if key not in self.shapes:
            raise self.error(f"{where} names a missing entry {key!r}")
        return self.shapes[key]

    def walk(self, value, where, n_features=None, depth=0):
        if depth > _MAX_DEPTH:
            raise self.error(f"its metadata nests deeper than {_MAX_DEPTH} levels")
        if isinstance(value, list):
            for i, item in enumerate(value):
                self.walk(item, f"{where}[{i}]", n_features, depth + 1)
            return
        if not isinstance(value, dict):
            return
        if "__estimator__" in value:
            self.estimator(value, where, depth)
        elif "__field__" in value:
            self.field(value["__field__"], where, n_features)
        elif "__module__" in value:
            self.module(value, where)
        else:
            for key, item in value.items():
                self.walk(item, f"{where}.{key}", n_features, depth + 1)

    def estimator(self, value, where, depth):
        fitted = value.get("fitted", {})
        if not isinstance(fitted, dict) or not isinstance(value.get("params", {}), dict):
            raise self.error(f"{where} is not an estimator's parameters and attributes")
        n_features = fitted.get("n_features_in_")
        if n_features is not None and (not isinstance(n_features, int) or n_features < 1):
            raise self.error(f"{where}.n_features_in_ is {n_features!r}, not a positive integer")
        if "mean_" in fitted and self.shape(fitted["mean_"], f"{where}.mean_") != (n_features,):
            raise self.error(f"{where}.mean_ is not of shape ({n_features},)")
        for key in ("params", "fitted"):
            self.walk(value.get(key, {}), f"{where}.{key}", n_features, depth + 1)

    def field(self, value, where, n_features):
        centers = self.shape(value.get("centers"), f"{where}.centers")
        if len(centers) != 2 or (n_features is not None and centers[1] != n_features):
            raise self.error(f"{where}.centers has shape {centers}, not (n_centers, {n_features})")
        n_centers, d = centers
        if self.shape(value.get("log_weights"), f"{where}.log_weights") != (n_centers,):
            raise self.error(f"{where}.log_weights is not of shape ({n_centers},)")
        covariance = value.get("covariance", {})
        params = covariance.get("params", {}) if isinstance(covariance, dict) else {}
        structure = CovarianceStructure.registry.get(covariance.get("__covariance__"))
        for name, item in params.items():
            if isinstance(item, dict) and "__array__" in item:
                shape = self.shape(item, f"{where}.covariance.{name}")
                if name in getattr(structure, "_feature_params", ()):
                    if shape not in ((d,), (n_centers, d)):
                        raise self.error(f"{where}.covariance.{name} has shape {shape}, not "
                                         f"({d},) or ({n_centers}, {d})")
                    continue
                if name in getattr(structure, "_column_params", ()):
                    if len(shape) != 2 or shape[0] != n_centers or shape[1] > d:
                        raise self.error(f"{where}.covariance.{name} has shape {shape}, not "
                                         f"({n_centers}, r) with r <= {d}")
                    continue
                expected = (n_centers, d, d)[:len(shape)]
                if len(shape) > 3 or shape[:2] != expected[:2] or (len(shape) == 3 and shape[2] > d):
                    raise self.error(f"{where}.covariance.{name} has shape {shape}, not one of "
                                     f"({n_centers},), ({n_centers}, {d}) or ({n_centers}, {d}, r)")

    def module(self, value, where):
        from .neural import NETWORKS

        cls = NETWORKS.get(value.get("__module__"))
        config = value.get("config", {}).get("__dict__", {})

        def argument(key, item):  # a zero array of the declared shape stands for an array
            if isinstance(item, dict) and set(item) == {"__array__"}:
                return np.zeros(self.shape(item, f"{where}.config.{key}"))
            return item

        if cls is None or not all(item is None or isinstance(item, (int, float, str, bool, dict))
                                  for item in config.values()):
            return  # refused, with its reason, when decoded
        arguments = {k: argument(k, v) for k, v in config.items()}
        try:
            with torch.device("meta"):
                expected = {k: tuple(t.shape) for k, t in cls(**arguments).state_dict().items()}
        except (TypeError, ValueError, RuntimeError, KeyError) as exc:
            raise self.error(f"{where} has a configuration that builds no network ({exc})") from exc
        declared = {k: self.shape(v, f"{where}.state.{k}") for k, v in value.get("state", {}).items()}
        if declared != expected:
            raise self.error(f"{where} declares a state of other shapes than its network has")


def check_declared_shapes(tree, shapes, error):
    """Refuse a tree whose arrays do not have the shapes its objects need (module docstring)."""
    _ShapeWalker(shapes, error).walk(tree, "model")
