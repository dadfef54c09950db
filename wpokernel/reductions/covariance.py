r"""Covariance structures of the components of a Gaussian mixture.

Each structure describes the covariances :math:`C_j` of ``N`` components in ``d`` dimensions
and knows the pieces the reduction engine needs, for a block of queries ``x_i`` and a block of
centers ``z_j``:

.. math::

    q_{ij} = (x_i - z_j)^\top P_j (x_i - z_j), \qquad P_j = C_j^{-1},

    \log\det C_j, \qquad \operatorname{tr} P_j, \qquad
    \sum_j e_{ij} P_j (x_i - z_j), \qquad \sum_j e_{ij} \lVert P_j (x_i - z_j)\rVert^2 .

Every structure carries an extra isotropic variance ``added_variance`` (the heat flow adds
:math:`\beta^2 s I` to every component: :math:`C_j(s) = C_j + \beta^2 s I`), so that one
structure object serves every noise level without copying its parameters.

Structures:

* :class:`Isotropic` — :math:`C_j = \sigma_j^2 I` (one variance shared, or one per center).
* :class:`Diagonal` — :math:`C_j = \operatorname{diag}(v_j)`.
* :class:`LowRank` — :math:`C_j = \sigma_j^2 I + U_j U_j^\top`, ``U_j`` of shape ``(d, r)``,
  inverted with the Woodbury identity and the matrix determinant lemma; no ``d x d`` matrix
  is ever formed.
* :class:`DiagonalLowRank` — :math:`C_j = \sigma_j^2 \operatorname{diag}(f_j) + U_j U_j^\top`,
  a per-feature floor of profile :math:`f_j` (shared, :math:`f_j = f`, or one per center)
  under the low-rank part, the same way.
* :class:`ScaledLowRank` — :class:`DiagonalLowRank` with :math:`U_j = L_j \operatorname{diag}(h_j)`
  held as fixed factors and column scales (one copy of factors a model shares).
* :class:`Full` — any symmetric positive definite :math:`C_j`, through its Cholesky factor.
"""

import copy
import math
import numbers

import numpy as np

from ._namespace import get_namespace
from ._prepared import (
    PreparedDiagonal,
    PreparedDiagonalLowRank,
    PreparedFull,
    PreparedIsotropic,
    PreparedLowRank,
    cholesky,
)

__all__ = ["CovarianceStructure", "Isotropic", "Diagonal", "LowRank", "DiagonalLowRank",
           "ScaledLowRank", "Full"]


# Components whose parameters are checked for finiteness at once.
_CHECK_BLOCK = 1024


def _param(value, name, allowed_ndims):
    """Validate a covariance parameter: an array of allowed rank with finite entries."""
    ns = get_namespace(value)
    if ns.name == "numpy":
        # float32 is kept (half the memory of image-scale factors); every structure casts its
        # parameters to the working dtype of the centers when it is prepared.
        keep = isinstance(value, np.ndarray) and value.dtype in (np.float32, np.float64)
        try:
            value = value if keep else np.asarray(value, dtype=float)
        except (TypeError, ValueError) as exc:
            raise TypeError(f"Expected a numeric array for {name}, got {value!r}.") from exc
    ndim = value.ndim
    if ndim not in allowed_ndims:
        raise ValueError(f"Expected {name} with ndim in {allowed_ndims}, got shape {tuple(value.shape)}.")
    # A block of components at a time: no boolean copy of image-scale factors.
    blocks = [value] if ndim == 0 else [value[i:i + _CHECK_BLOCK]
                                       for i in range(0, value.shape[0], _CHECK_BLOCK)]
    if not all(bool(ns.isfinite(block).all()) for block in blocks):
        raise ValueError(f"Expected finite values in {name}, got NaN or inf.")
    return value


def _check_nonnegative(value, name):
    if bool((value < 0).any()):
        raise ValueError(f"Expected non-negative {name}, got a negative entry.")


def _check_added_variance(added_variance):
    if not isinstance(added_variance, (int, float)) or not math.isfinite(added_variance):
        raise TypeError(f"Expected a finite float added_variance, got {added_variance!r}.")
    if added_variance < 0:
        raise ValueError(f"Expected added_variance >= 0, got {added_variance}.")
    return float(added_variance)


def _per_center(ns, value, n_centers, like):
    """Broadcast a scalar or ``(N,)`` parameter to ``(N,)`` in the working library."""
    value = ns.asarray(value, like=like)
    if value.ndim == 0:
        value = value * ns.ones((n_centers,), like=like)
    return value


def _drawn(random, value, indices):
    """Rows ``indices`` of a per-center parameter in the library of the draws (a shared
    scalar is repeated)."""
    if value.ndim > 0 and get_namespace(value).name == random.ns.name:
        # Rows first, then the dtype of the draws: no converted copy of every component's
        # parameters (gigabytes of image-scale factors stored in float32).
        return random.ns.asarray(value[indices], like=random.like)
    value = random.ns.asarray(value, like=random.like)
    if value.ndim == 0:
        return value * random.ns.ones((len(indices),), like=random.like)
    return value[indices]


def _selected_std(random, variance, indices, added_variance):
    """Standard deviations :math:`\\sqrt{v_j + a}` of the drawn components ``indices``."""
    return (_drawn(random, variance, indices) + added_variance) ** 0.5


def _positive(ns, variance, what):
    if bool((variance <= 0).any()):
        raise ValueError(
            f"Expected positive {what}, got a zero or negative variance. "
            "Add smoothing (a bandwidth or a noise level s > 0) to get a proper density."
        )
    return variance


class CovarianceStructure:
    """Base class: shared bookkeeping of a covariance structure.

    Subclasses define ``_params`` (the parameter names), ``_shape_param``, ``_prepare`` and
    ``_sample_offsets``. Every subclass enters :attr:`registry` under its class name when it
    is defined, which is how model files find it (:mod:`wpokernel.persistence`): adding a
    structure is one class.
    """

    #: ``{class name: class}`` of every structure defined.
    registry = {}

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        if not cls.__name__.startswith("_"):  # a private base is no structure of a file
            CovarianceStructure.registry[cls.__name__] = cls

    _params = ()
    _shape_param = None  # the parameter whose leading axes are (n_centers, n_features)
    # Parameters of shape (d,), shared by every center, or (N, d), one row per center.
    _feature_params = ()
    # Power of c with which each parameter scales when the covariance is multiplied by c
    # (variances scale with c, factors and Cholesky-free square roots with sqrt(c)).
    _scaling_powers = {}

    @property
    def n_components(self):
        """Number of components the parameters describe (``None``: any)."""
        return int(getattr(self, self._shape_param).shape[0])

    @property
    def n_features(self):
        """Dimension the parameters describe (``None``: any)."""
        return int(getattr(self, self._shape_param).shape[1])

    @property
    def requires_grad(self):
        """Whether any parameter is a torch tensor that requires grad."""
        return any(bool(getattr(getattr(self, name), "requires_grad", False)) for name in self._params)

    @property
    def parameters(self):
        """``{name: array}`` of the structure's parameters (without ``added_variance``)."""
        return {name: getattr(self, name) for name in self._params}

    def map_arrays(self, function):
        """Same structure with ``function`` applied to every parameter array.

        For instance ``function = lambda a: a.detach().cpu().numpy()`` gives the structure of
        NumPy arrays of a torch one, and ``torch.as_tensor`` moves a NumPy one to torch.
        """
        return type(self)(**{name: function(value) for name, value in self.parameters.items()},
                          added_variance=self.added_variance)

    def sliced(self, start, stop):
        """Same structure restricted to the components ``start:stop``.

        Per-component parameters are sliced on their leading axis (a view for NumPy and CuPy,
        a differentiable slice for torch); shared ones (a scalar variance, a feature profile)
        and ``added_variance`` are kept.

        Parameters
        ----------
        start, stop : int
            The components ``start <= j < stop``, as in ``centers[start:stop]``.

        Returns
        -------
        CovarianceStructure
            Of the same type, describing ``stop - start`` components (or any number where
            every parameter is shared).
        """
        # A copy rather than the constructor: the slices of validated parameters are valid,
        # and validating again would scan them (and wait for the GPU) once per block.
        new = copy.copy(self)
        for name in self._params:
            value = getattr(self, name)
            # Shared by role, not by shape alone: a feature profile of shape (d,) stays whole
            # even when d equals the number of components; one of shape (N, d) is sliced.
            shared = value.ndim == 0 or (name in self._feature_params and value.ndim == 1)
            if not shared:
                setattr(new, name, value[start:stop])
        return new

    def with_added_variance(self, variance):
        """Same structure with ``variance * I`` added to every component covariance."""
        return type(self)(**self.parameters, added_variance=self.added_variance + float(variance))

    def scaled(self, factor):
        r"""Same structure with every covariance multiplied by ``factor`` :math:`c \ge 0`.

        :math:`c\,(C_j + a I)`: the covariance of :math:`\sqrt{c}\,X` for :math:`X \sim N(z_j, C_j + a I)`,
        as the interpolants need for :math:`\alpha(t) x_0 + \beta(t) x_1`.
        """
        if isinstance(factor, bool) or not isinstance(factor, numbers.Real) \
                or not math.isfinite(factor) or factor < 0:
            raise ValueError(f"Expected a finite factor >= 0, got {factor!r}.")
        factor = float(factor)
        kwargs = {name: getattr(self, name) * factor ** self._scaling_powers.get(name, 1.0)
                  for name in self._params}
        return type(self)(**kwargs, added_variance=self.added_variance * factor)

    def check_dimensions(self, n_centers, n_features):
        """Raise a ``ValueError`` if the parameters do not fit ``n_centers`` x ``n_features``."""
        n = self.n_components
        if n is not None and n != n_centers:
            raise ValueError(
                f"Expected covariance parameters for {n_centers} centers, got {n}."
            )
        dim = self.n_features
        if dim is not None and dim != n_features:
            raise ValueError(
                f"Expected covariance parameters in {n_features} dimensions, got {dim}."
            )

    def prepare(self, ns, centers):
        """Precompute per-center quantities in the namespace ``ns`` (see :mod:`._prepared`)."""
        return self._prepare(ns, centers)

    def sample_offsets(self, indices, n_features, random):
        r"""Draw :math:`C_j^{1/2} \xi`, :math:`\xi \sim N(0, I)`, for each index in ``indices``.

        Parameters
        ----------
        indices : array of shape (n,)
            Component of each draw.
        n_features : int
        random : RandomSource
            Draws in the library of the parameters (:class:`~wpokernel.reductions.RandomSource`).

        Returns
        -------
        array of shape (n, n_features), in the parameters' library.
        """
        return self._sample_offsets(indices, int(n_features), random)

    def __repr__(self):
        fields = ", ".join(f"{name}=<{tuple(getattr(self, name).shape)}>" for name in self._params)
        return f"{type(self).__name__}({fields}, added_variance={self.added_variance:g})"


class Isotropic(CovarianceStructure):
    r"""Isotropic covariances :math:`C_j = (\sigma_j^2 + a) I`.

    Parameters
    ----------
    variance : float or array-like of shape (n_centers,)
        :math:`\sigma_j^2 \ge 0`, shared by all centers (scalar) or one per center.
    added_variance : float, default=0.0
        Extra isotropic variance :math:`a` (the heat flow adds :math:`\beta^2 s`).
    """

    _params = ("variance",)

    def __init__(self, variance, added_variance=0.0):
        self.variance = _param(variance, "variance", (0, 1))
        _check_nonnegative(self.variance, "variance")
        self.added_variance = _check_added_variance(added_variance)

    @property
    def n_components(self):
        return None if self.variance.ndim == 0 else int(self.variance.shape[0])

    n_features = None

    def _prepare(self, ns, centers):
        variance = _per_center(ns, self.variance, centers.shape[0], centers) + self.added_variance
        return PreparedIsotropic(ns, centers, _positive(ns, variance, "variances"))

    def _sample_offsets(self, indices, n_features, random):
        std = _selected_std(random, self.variance, indices, self.added_variance)
        return std.reshape(-1, 1) * random.normal((len(indices), n_features))


class Diagonal(CovarianceStructure):
    r"""Diagonal covariances :math:`C_j = \operatorname{diag}(v_j) + a I`.

    Parameters
    ----------
    variances : array-like of shape (n_centers, n_features)
        Per-coordinate variances :math:`v_{jk} \ge 0`.
    added_variance : float, default=0.0
        Extra isotropic variance :math:`a`.
    """

    _params = ("variances",)
    _shape_param = "variances"

    def __init__(self, variances, added_variance=0.0):
        self.variances = _param(variances, "variances", (2,))
        _check_nonnegative(self.variances, "variances")
        self.added_variance = _check_added_variance(added_variance)

    def _prepare(self, ns, centers):
        variances = ns.asarray(self.variances, like=centers) + self.added_variance
        return PreparedDiagonal(ns, centers, _positive(ns, variances, "variances"))

    def _sample_offsets(self, indices, n_features, random):
        std = _selected_std(random, self.variances, indices, self.added_variance)
        return std * random.normal(std.shape)


class LowRank(CovarianceStructure):
    r"""Low-rank plus isotropic covariances :math:`C_j = (\sigma_j^2 + a) I + U_j U_j^\top`.

    Evaluated with the Woodbury identity and the matrix determinant lemma:

    .. math::

        C_j^{-1} = \tau_j^{-1}\,(I - V_j V_j^\top),\quad V_j = U_j L_j^{-\top},\quad
        L_j L_j^\top = \tau_j I_r + U_j^\top U_j,

        \log\det C_j = (d - r)\log\tau_j + 2 \sum_k \log (L_j)_{kk},
        \qquad \tau_j = \sigma_j^2 + a,

    so that memory and work scale with ``d r``, never ``d^2``.

    Parameters
    ----------
    variance : float or array-like of shape (n_centers,)
        Isotropic floor :math:`\sigma_j^2 \ge 0`.
    factors : array-like of shape (n_centers, n_features, rank)
        Low-rank factors :math:`U_j`.
    added_variance : float, default=0.0
        Extra isotropic variance :math:`a`.
    """

    _params = ("variance", "factors")
    _shape_param = "factors"
    _scaling_powers = {"factors": 0.5}

    def __init__(self, variance, factors, added_variance=0.0):
        self.variance = _param(variance, "variance", (0, 1))
        _check_nonnegative(self.variance, "variance")
        self.factors = _param(factors, "factors", (3,))
        if self.variance.ndim == 1 and self.variance.shape[0] != self.factors.shape[0]:
            raise ValueError(
                f"Expected one variance per factor matrix ({self.factors.shape[0]}), "
                f"got {self.variance.shape[0]}."
            )
        self.added_variance = _check_added_variance(added_variance)

    def _prepare(self, ns, centers):
        tau = _per_center(ns, self.variance, centers.shape[0], centers) + self.added_variance
        factors = ns.asarray(self.factors, like=centers)
        return PreparedLowRank(ns, centers, _positive(ns, tau, "isotropic variances"), factors)

    def _sample_offsets(self, indices, n_features, random):
        factors = _drawn(random, self.factors, indices)
        std = _selected_std(random, self.variance, indices, self.added_variance).reshape(-1, 1)
        n, d, r = factors.shape
        isotropic = std * random.normal((n, d))
        return isotropic + (factors @ random.normal((n, r, 1)))[..., 0]


class _ProfiledLowRank(CovarianceStructure):
    """What :class:`DiagonalLowRank` and :class:`ScaledLowRank` share: the diagonal floor of a
    profile, the checks of the factors, and the Woodbury evaluation of the low-rank part that
    ``_low_rank_factors`` and ``_drawn_factors`` give."""

    _shape_param = "factors"
    _feature_params = ("profile",)

    def _check_floor_and_factors(self, variance, profile, factors, added_variance):
        self.variance = _param(variance, "variance", (0, 1))
        _check_nonnegative(self.variance, "variance")
        self.profile = _param(profile, "profile", (1, 2))
        _check_nonnegative(self.profile, "profile")
        self.factors = _param(factors, "factors", (3,))
        n, d, _ = self.factors.shape
        if self.variance.ndim == 1 and self.variance.shape[0] != n:
            raise ValueError(f"Expected one variance per factor matrix ({n}), "
                             f"got {self.variance.shape[0]}.")
        if tuple(self.profile.shape) not in ((d,), (n, d)):
            raise ValueError(f"Expected a profile of shape ({d},) or ({n}, {d}) like the "
                             f"factors, got {tuple(self.profile.shape)}.")
        self.added_variance = _check_added_variance(added_variance)

    def _diagonal(self, ns, n_centers, like):
        """:math:`D_j`, shape (N, d), in the working library."""
        variance = _per_center(ns, self.variance, n_centers, like)
        profile = ns.asarray(self.profile, like=like)
        return variance[:, None] * (profile if profile.ndim == 2 else profile[None, :]) \
            + self.added_variance

    def _prepare(self, ns, centers):
        diagonal = self._diagonal(ns, centers.shape[0], centers)
        return PreparedDiagonalLowRank(ns, centers, _positive(ns, diagonal, "floor variances"),
                                       self._low_rank_factors(ns, centers))

    def _sample_offsets(self, indices, n_features, random):
        factors = self._drawn_factors(random, indices)
        variance = _drawn(random, self.variance, indices)
        profile = (_drawn(random, self.profile, indices) if self.profile.ndim == 2
                   else random.ns.asarray(self.profile, like=random.like)[None, :])
        std = (variance[:, None] * profile + self.added_variance) ** 0.5
        n, d, r = factors.shape
        return std * random.normal((n, d)) + (factors @ random.normal((n, r, 1)))[..., 0]


class DiagonalLowRank(_ProfiledLowRank):
    r"""A diagonal floor of a profile under a low-rank part:
    :math:`C_j = \sigma_j^2 \operatorname{diag}(f_j) + a I + U_j U_j^\top`.

    With :math:`D_j = \sigma_j^2 \operatorname{diag}(f_j) + a I` and
    :math:`M_j = I_r + U_j^\top D_j^{-1} U_j = L_j L_j^\top`, the Woodbury identity and the
    determinant lemma give

    .. math::

        C_j^{-1} = D_j^{-1} - V_j V_j^\top, \quad V_j = D_j^{-1} U_j L_j^{-\top}, \qquad
        \log\det C_j = \sum_k \log (D_j)_{kk} + 2 \sum_k \log (L_j)_{kk},

    so that, as for :class:`LowRank`, work and memory scale with ``d r``. A profile of ones is
    :class:`LowRank`; a profile proportional to the data's per-feature variances is a floor
    that fits features of very different spreads (the border and the centre pixels of an
    image) at once; a profile per center (the residual variances of each center's own
    neighbourhood) fits features that are constant near some centers and not near others.

    Parameters
    ----------
    variance : float or array-like of shape (n_centers,)
        Scale :math:`\sigma_j^2 \ge 0` of the floor, shared or one per center.
    profile : array-like of shape (n_features,) or (n_centers, n_features)
        Per-feature profile :math:`f_j \ge 0` of the floor, shared by every center or one
        per center; float32 is kept, as for the factors.
    factors : array-like of shape (n_centers, n_features, rank)
        Low-rank factors :math:`U_j`.
    added_variance : float, default=0.0
        Extra isotropic variance :math:`a`.
    """

    _params = ("variance", "profile", "factors")
    _scaling_powers = {"profile": 0.0, "factors": 0.5}

    def __init__(self, variance, profile, factors, added_variance=0.0):
        self._check_floor_and_factors(variance, profile, factors, added_variance)

    def _low_rank_factors(self, ns, like):
        """:math:`U_j` of every component, in the working library and dtype of ``like``."""
        return ns.asarray(self.factors, like=like)

    def _drawn_factors(self, random, indices):
        """:math:`U_j` of the drawn components ``indices``."""
        return _drawn(random, self.factors, indices)


class ScaledLowRank(_ProfiledLowRank):
    r"""A diagonal floor of a profile under fixed factors with per-column scales:
    :math:`C_j = \sigma_j^2 \operatorname{diag}(f_j) + a I + L_j H_j^2 L_j^\top`,
    :math:`H_j = \operatorname{diag}(h_j)`.

    It is the covariance of :class:`DiagonalLowRank` with :math:`U_j = L_j H_j` (not a
    subclass: its ``factors`` are :math:`L_j`, not :math:`U_j`), the product formed a block of
    components at a time when prepared and per draw when sampled, so that a mixture can share the
    factors :math:`L_j` of the model that rescales them
    (:class:`~wpokernel.neural.LocalScales`) instead of holding a rescaled copy: at image
    scale the factors are gigabytes.

    Parameters
    ----------
    variance, profile, added_variance
        As in :class:`DiagonalLowRank`.
    factors : array-like of shape (n_centers, n_features, rank)
        Fixed factors :math:`L_j`; float32 is kept (half the memory), and cast to the working
        dtype a block at a time.
    column_scales : array-like of shape (n_centers, rank)
        Scales :math:`h_j` of their columns.
    """

    _params = ("variance", "profile", "factors", "column_scales")
    # Multiplying the covariance by c scales the columns by sqrt(c); the factors stay fixed.
    _scaling_powers = {"profile": 0.0, "factors": 0.0, "column_scales": 0.5}
    # Per-component parameters with one entry per column of the factors (model-file checks).
    _column_params = ("column_scales",)

    def __init__(self, variance, profile, factors, column_scales, added_variance=0.0):
        self._check_floor_and_factors(variance, profile, factors, added_variance)
        self.column_scales = _param(column_scales, "column_scales", (2,))
        n, _, r = self.factors.shape
        if tuple(self.column_scales.shape) != (n, r):
            raise ValueError(f"Expected column_scales of shape ({n}, {r}) like the factors, "
                             f"got {tuple(self.column_scales.shape)}.")

    def _low_rank_factors(self, ns, like):
        scales = ns.asarray(self.column_scales, like=like)
        return ns.asarray(self.factors, like=like) * scales[:, None, :]

    def _drawn_factors(self, random, indices):
        scales = _drawn(random, self.column_scales, indices)
        return _drawn(random, self.factors, indices) * scales[:, None, :]


class Full(CovarianceStructure):
    r"""Full covariances :math:`C_j + a I`, through the Cholesky factor :math:`C_j = L_j L_j^\top`.

    With :math:`A_j = L_j^{-1}`: :math:`P_j = A_j^\top A_j`, :math:`q_{ij} = \lVert A_j (x_i - z_j)\rVert^2`,
    :math:`\log\det C_j = 2\sum_k \log (L_j)_{kk}`.

    Parameters
    ----------
    covariances : array-like of shape (n_centers, n_features, n_features)
        Symmetric positive (semi-)definite matrices; positive definite after adding ``a I``.
    added_variance : float, default=0.0
        Extra isotropic variance :math:`a`.
    """

    _params = ("covariances",)
    _shape_param = "covariances"

    def __init__(self, covariances, added_variance=0.0):
        self.covariances = _param(covariances, "covariances", (3,))
        if self.covariances.shape[1] != self.covariances.shape[2]:
            raise ValueError(
                f"Expected square covariance matrices, got shape {tuple(self.covariances.shape)}."
            )
        self.added_variance = _check_added_variance(added_variance)

    def _shifted(self, ns, like):
        covariances = ns.asarray(self.covariances, like=like)
        eye = ns.asarray(np.eye(covariances.shape[-1]), like=like)
        return covariances + self.added_variance * eye

    def _prepare(self, ns, centers):
        return PreparedFull(ns, centers, cholesky(ns, self._shifted(ns, centers), "covariances"))

    def _sample_offsets(self, indices, n_features, random):
        covariances = random.ns.asarray(self.covariances, like=random.like)
        chol = cholesky(random.ns, self._shifted(random.ns, covariances), "covariances")[indices]
        return (chol @ random.normal((len(indices), n_features, 1)))[..., 0]
