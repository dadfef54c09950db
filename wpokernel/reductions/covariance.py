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
* :class:`Full` — any symmetric positive definite :math:`C_j`, through its Cholesky factor.
"""

import math

import numpy as np

from ._namespace import NumpyNamespace, get_namespace

__all__ = ["CovarianceStructure", "Isotropic", "Diagonal", "LowRank", "Full"]


def _param(value, name, allowed_ndims):
    """Validate a covariance parameter: an array of allowed rank with finite entries."""
    ns = get_namespace(value)
    if ns.name == "numpy":
        try:
            value = np.asarray(value, dtype=float)
        except (TypeError, ValueError) as exc:
            raise TypeError(f"Expected a numeric array for {name}, got {value!r}.") from exc
    ndim = value.ndim
    if ndim not in allowed_ndims:
        raise ValueError(f"Expected {name} with ndim in {allowed_ndims}, got shape {tuple(value.shape)}.")
    finite = ns.isfinite(value)
    if not bool(finite.all()):
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


def _positive(ns, variance, what):
    if bool((variance <= 0).any()):
        raise ValueError(
            f"Expected positive {what}, got a zero or negative variance. "
            "Add smoothing (a bandwidth or a noise level s > 0) to get a proper density."
        )
    return variance


def _cholesky(ns, matrices, what):
    try:
        return ns.cholesky(matrices)
    except Exception as exc:  # numpy.linalg.LinAlgError, torch.linalg.LinAlgError, cupy
        raise ValueError(
            f"Expected symmetric positive definite {what}, but the Cholesky factorization failed "
            "(matrix not positive definite). Add a floor to the covariance."
        ) from exc


class CovarianceStructure:
    """Base class: shared bookkeeping of a covariance structure.

    Subclasses define ``_params`` (the parameter names), ``n_components``, ``_prepare`` and
    ``_sample_offsets``.
    """

    _params = ()

    def with_added_variance(self, variance):
        """Same structure with ``variance * I`` added to every component covariance."""
        kwargs = {name: getattr(self, name) for name in self._params}
        return type(self)(**kwargs, added_variance=self.added_variance + float(variance))

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
        """Precompute per-center quantities in the namespace ``ns`` (see ``_Prepared``)."""
        return self._prepare(ns, centers)

    def sample_offsets(self, indices, n_features, rng):
        r"""Draw :math:`C_j^{1/2} \xi`, :math:`\xi \sim N(0, I)`, for each index in ``indices``.

        Returns a float64 NumPy array of shape ``(len(indices), n_features)``.
        """
        return self._sample_offsets(np.asarray(indices), int(n_features), rng)

    def _numpy(self, name):
        value = getattr(self, name)
        return get_namespace(value).to_numpy(value)

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
        return _PreparedIsotropic(ns, centers, _positive(ns, variance, "variances"))

    def _sample_offsets(self, indices, n_features, rng):
        variance = self._numpy("variance")
        variance = variance if variance.ndim == 0 else variance[indices]
        std = np.sqrt(variance + self.added_variance)
        return np.reshape(std, (-1, 1)) * rng.standard_normal((len(indices), n_features))


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

    def __init__(self, variances, added_variance=0.0):
        self.variances = _param(variances, "variances", (2,))
        _check_nonnegative(self.variances, "variances")
        self.added_variance = _check_added_variance(added_variance)

    @property
    def n_components(self):
        return int(self.variances.shape[0])

    @property
    def n_features(self):
        return int(self.variances.shape[1])

    def _prepare(self, ns, centers):
        variances = ns.asarray(self.variances, like=centers) + self.added_variance
        return _PreparedDiagonal(ns, centers, _positive(ns, variances, "variances"))

    def _sample_offsets(self, indices, n_features, rng):
        std = np.sqrt(self._numpy("variances")[indices] + self.added_variance)
        return std * rng.standard_normal(std.shape)


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

    @property
    def n_components(self):
        return int(self.factors.shape[0])

    @property
    def n_features(self):
        return int(self.factors.shape[1])

    def _prepare(self, ns, centers):
        tau = _per_center(ns, self.variance, centers.shape[0], centers) + self.added_variance
        factors = ns.asarray(self.factors, like=centers)
        return _PreparedLowRank(ns, centers, _positive(ns, tau, "isotropic variances"), factors)

    def _sample_offsets(self, indices, n_features, rng):
        factors = self._numpy("factors")[indices]
        variance = self._numpy("variance")
        variance = variance if variance.ndim == 0 else variance[indices]
        std = np.reshape(np.sqrt(variance + self.added_variance), (-1, 1))
        n, d, r = factors.shape
        isotropic = std * rng.standard_normal((n, d))
        return isotropic + np.einsum("ndr,nr->nd", factors, rng.standard_normal((n, r)))


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

    def __init__(self, covariances, added_variance=0.0):
        self.covariances = _param(covariances, "covariances", (3,))
        if self.covariances.shape[1] != self.covariances.shape[2]:
            raise ValueError(
                f"Expected square covariance matrices, got shape {tuple(self.covariances.shape)}."
            )
        self.added_variance = _check_added_variance(added_variance)

    @property
    def n_components(self):
        return int(self.covariances.shape[0])

    @property
    def n_features(self):
        return int(self.covariances.shape[1])

    def _shifted(self, ns, like):
        covariances = ns.asarray(self.covariances, like=like)
        eye = ns.asarray(np.eye(covariances.shape[-1]), like=like)
        return covariances + self.added_variance * eye

    def _prepare(self, ns, centers):
        cholesky = _cholesky(ns, self._shifted(ns, centers), "covariances")
        return _PreparedFull(ns, centers, cholesky)

    def _sample_offsets(self, indices, n_features, rng):
        ns = NumpyNamespace()
        chol = _cholesky(ns, self._shifted(ns, self._numpy("covariances")), "covariances")[indices]
        return np.einsum("nkd,nd->nk", chol, rng.standard_normal((len(indices), n_features)))


# ----------------------------------------------------------------------------------------
# Prepared structures: per-center arrays in the working library, sliced by center blocks.
# ----------------------------------------------------------------------------------------


class _Prepared:
    """Per-center arrays of a structure, ready for blocked evaluation.

    Attributes (all with leading axis N): ``log_det`` (N,), ``trace_precision`` (N,) and the
    structure's own arrays listed in ``_fields``. ``block(j0, j1)`` slices every field.
    Subclasses implement ``quadratic(x_i, z_j)`` returning ``(q_ij, cache)`` and
    ``moments(e_ij, x_i, z_j, cache, score, laplacian)`` returning the two weighted sums
    (``None`` where not requested).
    """

    _fields = ()

    def extra_floats_per_pair(self):
        """Live floats per (query, center) pair beyond the ``(M, N)`` logits and weights."""
        return 0

    def block(self, j0, j1):
        new = object.__new__(type(self))
        new.ns = self.ns
        for name in ("log_det", "trace_precision") + self._fields:
            setattr(new, name, getattr(self, name)[j0:j1])
        return new

    def _squared_distances(self, x_i, z_j):
        ns = self.ns
        x2 = ns.sum(x_i * x_i, 1)  # (M,)
        z2 = ns.sum(z_j * z_j, 1)  # (N,)
        d2_ij = x2[:, None] - 2.0 * (x_i @ z_j.T) + z2[None, :]  # (M, N)
        return ns.maximum(d2_ij, ns.zeros((), like=d2_ij))


class _PreparedIsotropic(_Prepared):
    _fields = ("precision",)

    def __init__(self, ns, centers, variance):
        d = centers.shape[1]
        self.ns = ns
        self.precision = 1.0 / variance  # (N,)
        self.log_det = d * ns.log(variance)  # (N,)
        self.trace_precision = d * self.precision  # (N,)

    def quadratic(self, x_i, z_j):
        d2_ij = self._squared_distances(x_i, z_j)  # (M, N)
        return d2_ij * self.precision[None, :], None

    def moments(self, e_ij, x_i, z_j, q_ij, score, laplacian):
        ns = self.ns
        ep_ij = e_ij * self.precision[None, :]  # (M, N)
        disp = x_i * ns.sum(ep_ij, 1)[:, None] - ep_ij @ z_j if score else None  # (M, d)
        # |P_j (x_i - z_j)|^2 = p_j q_ij for isotropic P_j = p_j I.
        lap = ns.sum(ep_ij * q_ij, 1) - e_ij @ self.trace_precision if laplacian else None
        return disp, lap


class _PreparedDiagonal(_Prepared):
    _fields = ("precision", "pz", "zpz", "ppz", "pzpz")

    def __init__(self, ns, centers, variances):
        self.ns = ns
        self.precision = 1.0 / variances  # (N, d)
        self.pz = self.precision * centers  # (N, d)
        self.zpz = ns.sum(self.pz * centers, 1)  # (N,)
        self.ppz = self.precision * self.pz  # (N, d)
        self.pzpz = ns.sum(self.pz * self.pz, 1)  # (N,)
        self.log_det = ns.sum(ns.log(variances), 1)  # (N,)
        self.trace_precision = ns.sum(self.precision, 1)  # (N,)

    def quadratic(self, x_i, z_j):
        ns = self.ns
        q_ij = (x_i * x_i) @ self.precision.T - 2.0 * (x_i @ self.pz.T) + self.zpz[None, :]
        return ns.maximum(q_ij, ns.zeros((), like=q_ij)), None

    def moments(self, e_ij, x_i, z_j, cache, score, laplacian):
        ns = self.ns
        disp = x_i * (e_ij @ self.precision) - e_ij @ self.pz if score else None  # (M, d)
        lap = None
        if laplacian:
            # sum_k p_jk^2 (x_ik - z_jk)^2 expanded so that only (M, d) products appear.
            sq = ns.sum(x_i * x_i * (e_ij @ (self.precision * self.precision)), 1)
            cross = ns.sum(x_i * (e_ij @ self.ppz), 1)
            lap = sq - 2.0 * cross + e_ij @ self.pzpz - e_ij @ self.trace_precision
        return disp, lap


class _PreparedLowRank(_Prepared):
    _fields = ("inv_tau", "V", "zV", "G")

    def __init__(self, ns, centers, tau, factors):
        d, r = factors.shape[1], factors.shape[2]
        self.ns = ns
        eye_r = ns.asarray(np.eye(r), like=factors)
        inner = tau[:, None, None] * eye_r + ns.swap_last(factors) @ factors  # (N, r, r)
        chol = _cholesky(ns, inner, "low-rank capacitance matrices")
        self.V = factors @ ns.swap_last(ns.inv(chol))  # (N, d, r), V V^T = U M^-1 U^T
        self.zV = ns.einsum("nd,ndr->nr", centers, self.V)  # (N, r)
        self.G = ns.swap_last(self.V) @ self.V  # (N, r, r)
        self.inv_tau = 1.0 / tau  # (N,)
        log_diag = ns.log(ns.diagonal(chol))  # (N, r)
        self.log_det = (d - r) * ns.log(tau) + 2.0 * ns.sum(log_diag, 1)
        trace_G = ns.sum(ns.diagonal(self.G), 1)
        self.trace_precision = self.inv_tau * (d - trace_G)

    def extra_floats_per_pair(self):
        return 3 * self.V.shape[2]

    def quadratic(self, x_i, z_j):
        ns = self.ns
        n, d, r = self.V.shape
        d2_ij = self._squared_distances(x_i, z_j)  # (M, N)
        xV = x_i @ ns.moveaxis(self.V, 0, 1).reshape(d, n * r)  # (M, N r)
        c_ijr = xV.reshape(x_i.shape[0], n, r) - self.zV[None]  # (M, N, r)
        q_ij = (d2_ij - ns.sum(c_ijr * c_ijr, 2)) * self.inv_tau[None, :]
        return ns.maximum(q_ij, ns.zeros((), like=q_ij)), (d2_ij, c_ijr)

    def moments(self, e_ij, x_i, z_j, cache, score, laplacian):
        ns = self.ns
        d2_ij, c_ijr = cache
        et_ij = e_ij * self.inv_tau[None, :]  # (M, N)
        disp = lap = None
        if score:
            low = ns.einsum("ijr,jdr->id", et_ij[:, :, None] * c_ijr, self.V)  # (M, d)
            disp = x_i * ns.sum(et_ij, 1)[:, None] - et_ij @ z_j - low
        if laplacian:
            # |P d|^2 = tau^-2 (|d|^2 - 2|c|^2 + c^T G c), c = V^T d.
            Gc_ijr = ns.einsum("jrs,ijs->ijr", self.G, c_ijr)  # (M, N, r)
            norm = d2_ij - 2.0 * ns.sum(c_ijr * c_ijr, 2) + ns.sum(c_ijr * Gc_ijr, 2)
            lap = ns.sum(et_ij * self.inv_tau[None, :] * norm, 1) - e_ij @ self.trace_precision
        return disp, lap


class _PreparedFull(_Prepared):
    _fields = ("A", "Az")

    def __init__(self, ns, centers, cholesky):
        self.ns = ns
        self.A = ns.inv(cholesky)  # (N, d, d), A C A^T = I
        self.Az = ns.einsum("nkd,nd->nk", self.A, centers)  # (N, d)
        self.log_det = 2.0 * ns.sum(ns.log(ns.diagonal(cholesky)), 1)  # (N,)
        self.trace_precision = ns.sum(self.A * self.A, (1, 2))  # (N,)

    def extra_floats_per_pair(self):
        return 3 * self.Az.shape[1]

    def quadratic(self, x_i, z_j):
        ns = self.ns
        n, d = self.Az.shape
        xA = x_i @ self.A.reshape(n * d, d).T  # (M, N d)
        y_ijk = xA.reshape(x_i.shape[0], n, d) - self.Az[None]  # (M, N, d)
        return ns.sum(y_ijk * y_ijk, 2), y_ijk

    def moments(self, e_ij, x_i, z_j, y_ijk, score, laplacian):
        ns = self.ns
        w_ijd = ns.einsum("ijk,jkd->ijd", y_ijk, self.A)  # (M, N, d) = P_j (x_i - z_j)
        disp = ns.einsum("ij,ijd->id", e_ij, w_ijd) if score else None
        lap = None
        if laplacian:
            lap = ns.sum(e_ij * ns.sum(w_ijd * w_ijd, 2), 1) - e_ij @ self.trace_precision
        return disp, lap
