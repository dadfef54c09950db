r"""Per-center arrays of a covariance structure, ready for blocked evaluation.

A prepared structure holds, with leading axis ``N`` (sliced by :meth:`Prepared.block`):
``bias`` :math:`b_j = a_j - \tfrac12 \log\det C_j - \tfrac d2 \log 2\pi`, ``log_det``,
``trace_precision`` and its own arrays. For a block it gives

* ``logits(x_i)`` -> :math:`f_{ij} = b_j - \tfrac12 (x_i - z_j)^\top P_j (x_i - z_j)` and a cache;
* ``columns(score, laplacian)`` -> a per-center matrix :math:`W_j` whose weighted sums
  :math:`\sum_j e_{ij} W_j` (one matrix product, fused with the normalizer and the values)
  carry everything that factorizes over centers;
* ``moments(e_ij, x_i, sums_i, cache, score, laplacian)`` -> the un-normalized
  :math:`\sum_j e_{ij} P_j (x_i - z_j)` and
  :math:`\sum_j e_{ij} (\lVert P_j (x_i - z_j) \rVert^2 - \operatorname{tr} P_j)`;
* ``lazy_precision_displacement(lazy_j, delta)`` -> the symbolic :math:`P_j (x_i - z_j)` of
  the KeOps backend, from ``delta`` :math:`= x_i - z_j` and ``lazy_j``, which turns an
  ``(N, k)`` array into a KeOps j-variable (so this module never imports pykeops).

For isotropic and diagonal structures the logits are a single matrix product of augmented
features, e.g. :math:`f_{ij} = [x_i, \lVert x_i\rVert^2, 1] \cdot [p_j z_j, -\tfrac12 p_j,
b_j - \tfrac12 p_j \lVert z_j\rVert^2]`, so a block costs two matrix products and one
``exp``.
"""

import math

import numpy as np

LOG_2PI = math.log(2.0 * math.pi)


def cholesky(ns, matrices, what):
    """Batched Cholesky factor; a failure becomes a ``ValueError`` with a remedy."""
    try:
        return ns.cholesky(matrices)
    except Exception as exc:  # numpy.linalg.LinAlgError, torch.linalg.LinAlgError, cupy
        raise ValueError(
            f"Expected symmetric positive definite {what}, but the Cholesky factorization failed "
            "(matrix not positive definite). Add a floor to the covariance."
        ) from exc


def centered(ns, x_i, z_j):
    """Queries and centers shifted by the mean of all the centers.

    Distances are translation invariant; centring keeps the ``|x|^2 - 2 x.z + |z|^2``
    expansion from cancelling catastrophically far from the origin. Returns ``(x_i, z_j)``.
    """
    shift = ns.sum(z_j, 0) / z_j.shape[0]
    return x_i - shift, z_j - shift


def center_and_prepare(ns, x_i, z_j, covariance, log_weights_j):
    """Shift queries and centers (see :func:`centered`) and prepare the structure there.

    Returns ``(x_i, z_j, prepared)``.
    """
    x_i, z_j = centered(ns, x_i, z_j)
    return x_i, z_j, covariance.prepare(ns, z_j).set_log_weights(log_weights_j)


def _clip_nonnegative(ns, a):
    return ns.maximum(a, ns.zeros((), like=a))


class Prepared:
    """Base of the prepared structures: bias, slicing and the shared squared distance."""

    _fields = ()

    def set_log_weights(self, log_weights):
        """Fold the log-weights and the normalizing constants into ``bias`` (N,)."""
        d = self.n_features
        self.bias = log_weights - 0.5 * self.log_det - 0.5 * d * LOG_2PI
        return self

    def extra_floats_per_pair(self):
        """Live floats per (query, center) pair beyond the ``(M, N)`` logits and weights."""
        return 0

    def block(self, j0, j1):
        new = object.__new__(type(self))
        new.ns, new.n_features = self.ns, self.n_features
        for name in ("bias", "log_det", "trace_precision") + self._fields:
            setattr(new, name, getattr(self, name)[j0:j1])
        return new

    def _augmented_logits(self, features_i, coefficients_j):
        """``f = features_i @ coefficients_j.T``: all of the logits in one matrix product."""
        return features_i @ coefficients_j.T  # (M, N)


class PreparedIsotropic(Prepared):
    _fields = ("precision", "pz", "z2")

    def __init__(self, ns, centers, variance):
        self.ns, self.n_features = ns, centers.shape[1]
        self.precision = 1.0 / variance  # (N,)
        self.pz = self.precision[:, None] * centers  # (N, d)
        self.z2 = ns.sum(centers * centers, 1)  # (N,)
        self.log_det = self.n_features * ns.log(variance)  # (N,)
        self.trace_precision = self.n_features * self.precision  # (N,)

    def logits(self, x_i):
        ns = self.ns
        features = ns.concat([x_i, ns.sum(x_i * x_i, 1)[:, None], ns.ones((x_i.shape[0], 1), like=x_i)], 1)
        coefficients = ns.concat([self.pz, -0.5 * self.precision[:, None],
                                  (self.bias - 0.5 * self.precision * self.z2)[:, None]], 1)
        return self._augmented_logits(features, coefficients), None

    def columns(self, score, laplacian):
        p = self.precision[:, None]
        cols = [p, self.pz] if score or laplacian else []
        if laplacian:
            cols += [p * p, p * self.pz, p * p * self.z2[:, None]]
        return self.ns.concat(cols, 1) if cols else None

    def moments(self, e_ij, x_i, sums_i, cache, score, laplacian):
        ns, d = self.ns, self.n_features
        ep_i = sums_i[:, 0]  # sum_j e_ij p_j
        disp = x_i * ep_i[:, None] - sums_i[:, 1:d + 1] if score else None
        lap = None
        if laplacian:
            # sum_j e_ij p_j^2 |x_i - z_j|^2, expanded so that only (M, d) products appear.
            epp, eppz, eppz2 = sums_i[:, d + 1], sums_i[:, d + 2:2 * d + 2], sums_i[:, 2 * d + 2]
            lap = (ns.sum(x_i * x_i, 1) * epp - 2.0 * ns.sum(x_i * eppz, 1) + eppz2
                   - d * ep_i)
        return disp, lap

    def lazy_precision_displacement(self, lazy_j, delta):
        return lazy_j(self.precision.reshape(-1, 1)) * delta


class PreparedDiagonal(Prepared):
    _fields = ("precision", "pz", "zpz", "ppz", "pzpz")

    def __init__(self, ns, centers, variances):
        self.ns, self.n_features = ns, centers.shape[1]
        self.precision = 1.0 / variances  # (N, d)
        self.pz = self.precision * centers  # (N, d)
        self.zpz = ns.sum(self.pz * centers, 1)  # (N,)
        self.ppz = self.precision * self.pz  # (N, d)
        self.pzpz = ns.sum(self.pz * self.pz, 1)  # (N,)
        self.log_det = ns.sum(ns.log(variances), 1)  # (N,)
        self.trace_precision = ns.sum(self.precision, 1)  # (N,)

    def logits(self, x_i):
        ns = self.ns
        features = ns.concat([x_i * x_i, x_i, ns.ones((x_i.shape[0], 1), like=x_i)], 1)
        coefficients = ns.concat([-0.5 * self.precision, self.pz,
                                  (self.bias - 0.5 * self.zpz)[:, None]], 1)
        return self._augmented_logits(features, coefficients), None

    def columns(self, score, laplacian):
        cols = [self.precision, self.pz] if score else []
        if laplacian:
            cols += [self.precision * self.precision, self.ppz, self.pzpz[:, None],
                     self.trace_precision[:, None]]
        return self.ns.concat(cols, 1) if cols else None

    def moments(self, e_ij, x_i, sums_i, cache, score, laplacian):
        ns, d = self.ns, self.n_features
        disp = lap = None
        if score:
            disp = x_i * sums_i[:, :d] - sums_i[:, d:2 * d]
        if laplacian:
            k = 2 * d if score else 0
            # sum_k p_jk^2 (x_ik - z_jk)^2, expanded so that only (M, d) products appear.
            pp, ppz = sums_i[:, k:k + d], sums_i[:, k + d:k + 2 * d]
            lap = (ns.sum(x_i * x_i * pp, 1) - 2.0 * ns.sum(x_i * ppz, 1)
                   + sums_i[:, k + 2 * d] - sums_i[:, k + 2 * d + 1])
        return disp, lap

    def lazy_precision_displacement(self, lazy_j, delta):
        return lazy_j(self.precision) * delta


class PreparedLowRank(Prepared):
    _fields = ("inv_tau", "V", "zV", "G", "z", "tz", "z2")

    def __init__(self, ns, centers, tau, factors):
        d, r = factors.shape[1], factors.shape[2]
        self.ns, self.n_features = ns, d
        eye_r = ns.asarray(np.eye(r), like=factors)
        inner = tau[:, None, None] * eye_r + ns.swap_last(factors) @ factors  # (N, r, r)
        chol = cholesky(ns, inner, "low-rank capacitance matrices")
        # V = U L^-T, by a triangular solve (batched small inverses are slow, and their
        # gradient slower): V V^T = U M^-1 U^T.
        self.V = ns.swap_last(ns.solve_lower(chol, ns.swap_last(factors)))  # (N, d, r)
        self.zV = ns.einsum("nd,ndr->nr", centers, self.V)  # (N, r)
        self.G = ns.swap_last(self.V) @ self.V  # (N, r, r)
        self.inv_tau = 1.0 / tau  # (N,)
        self.z = centers  # (N, d)
        self.tz = self.inv_tau[:, None] * centers  # (N, d)
        self.z2 = ns.sum(centers * centers, 1)  # (N,)
        self.log_det = (d - r) * ns.log(tau) + 2.0 * ns.sum(ns.log(ns.diagonal(chol)), 1)
        self.trace_precision = self.inv_tau * (d - ns.sum(ns.diagonal(self.G), 1))

    def extra_floats_per_pair(self):
        return 3 * self.V.shape[2]

    def logits(self, x_i):
        ns = self.ns
        n, d, r = self.V.shape
        x2_i = ns.sum(x_i * x_i, 1)  # (M,)
        d2_ij = _clip_nonnegative(ns, x2_i[:, None] - 2.0 * (x_i @ self.z.T) + self.z2[None, :])  # (M, N)
        xV = x_i @ ns.moveaxis(self.V, 0, 1).reshape(d, n * r)  # (M, N r)
        c_ijr = xV.reshape(x_i.shape[0], n, r) - self.zV[None]  # (M, N, r), V_j^T (x_i - z_j)
        q_ij = _clip_nonnegative(ns, (d2_ij - ns.sum(c_ijr * c_ijr, 2)) * self.inv_tau[None, :])
        return self.bias[None, :] - 0.5 * q_ij, (d2_ij, c_ijr)

    def columns(self, score, laplacian):
        return self.ns.concat([self.inv_tau[:, None], self.tz], 1) if score else None

    def moments(self, e_ij, x_i, sums_i, cache, score, laplacian):
        ns = self.ns
        d2_ij, c_ijr = cache
        et_ij = e_ij * self.inv_tau[None, :]  # (M, N)
        disp = lap = None
        if score:
            low = ns.einsum("ijr,jdr->id", et_ij[:, :, None] * c_ijr, self.V)  # (M, d)
            disp = x_i * sums_i[:, :1] - sums_i[:, 1:] - low
        if laplacian:
            # |P d|^2 = tau^-2 (|d|^2 - 2|c|^2 + c^T G c), c = V^T d.
            Gc_ijr = ns.einsum("jrs,ijs->ijr", self.G, c_ijr)  # (M, N, r)
            norm = d2_ij - 2.0 * ns.sum(c_ijr * c_ijr, 2) + ns.sum(c_ijr * Gc_ijr, 2)
            lap = ns.sum(et_ij * self.inv_tau[None, :] * norm, 1) - e_ij @ self.trace_precision
        return disp, lap

    def lazy_precision_displacement(self, lazy_j, delta):
        # P (x - z) = tau^-1 (delta - V V^T delta), V stored row-major as (d, r).
        n, d, r = self.V.shape
        v_j = lazy_j(self.V.reshape(n, d * r))
        return lazy_j(self.inv_tau.reshape(-1, 1)) * (delta - v_j.matvecmult(delta.vecmatmult(v_j)))


class PreparedDiagonalLowRank(Prepared):
    r"""Diagonal floor plus low rank: :math:`P_j = \operatorname{diag}(p_j) - V_j V_j^\top`
    (see :class:`~wpokernel.reductions.DiagonalLowRank`). With :math:`c_{ij} = V_j^\top
    (x_i - z_j)`, :math:`q_{ij} = \sum_k p_{jk} (x_{ik} - z_{jk})^2 - \lVert c_{ij}\rVert^2`,
    and :math:`\lVert P_j \delta\rVert^2 = \sum_k p_{jk}^2 \delta_k^2 - 2\, b_{ij}^\top c_{ij}
    + c_{ij}^\top G_j c_{ij}` with :math:`b_{ij} = (p_j \odot V_j)^\top \delta`,
    :math:`G_j = V_j^\top V_j`: only ``(M, N, r)`` products per pair block."""

    _fields = ("precision", "pz", "zpz", "ppz", "ppzz", "V", "zV", "Y", "zY", "G")

    def __init__(self, ns, centers, diagonal, factors):
        d, r = factors.shape[1], factors.shape[2]
        self.ns, self.n_features = ns, d
        self.precision = 1.0 / diagonal  # (N, d)
        W = self.precision[:, :, None] * factors  # (N, d, r), D^-1 U
        eye_r = ns.asarray(np.eye(r), like=factors)
        chol = cholesky(ns, eye_r + ns.swap_last(factors) @ W, "diagonal low-rank capacitance "
                        "matrices")  # (N, r, r)
        self.V = ns.swap_last(ns.solve_lower(chol, ns.swap_last(W)))  # (N, d, r), W L^-T
        self.Y = self.precision[:, :, None] * self.V  # (N, d, r)
        self.zV = ns.einsum("nd,ndr->nr", centers, self.V)  # (N, r)
        self.zY = ns.einsum("nd,ndr->nr", centers, self.Y)  # (N, r)
        self.G = ns.swap_last(self.V) @ self.V  # (N, r, r)
        self.pz = self.precision * centers  # (N, d)
        self.zpz = ns.sum(self.pz * centers, 1)  # (N,)
        self.ppz = self.precision * self.pz  # (N, d)
        self.ppzz = ns.sum(self.ppz * centers, 1)  # (N,)
        self.log_det = ns.sum(ns.log(diagonal), 1) + 2.0 * ns.sum(ns.log(ns.diagonal(chol)), 1)
        self.trace_precision = ns.sum(self.precision, 1) - ns.sum(self.V * self.V, (1, 2))

    def extra_floats_per_pair(self):
        return 4 * self.V.shape[2]

    def _projections(self, x_i, A, zA):
        """:math:`A_j^\top (x_i - z_j)` for every pair, shape (M, N, r)."""
        n, d, r = A.shape
        xA = x_i @ self.ns.moveaxis(A, 0, 1).reshape(d, n * r)  # (M, N r)
        return xA.reshape(x_i.shape[0], n, r) - zA[None]

    def logits(self, x_i):
        ns = self.ns
        features = ns.concat([x_i * x_i, x_i, ns.ones((x_i.shape[0], 1), like=x_i)], 1)
        coefficients = ns.concat([self.precision, -2.0 * self.pz, self.zpz[:, None]], 1)
        d2p_ij = _clip_nonnegative(ns, self._augmented_logits(features, coefficients))  # (M, N)
        c_ijr = self._projections(x_i, self.V, self.zV)  # (M, N, r)
        q_ij = _clip_nonnegative(ns, d2p_ij - ns.sum(c_ijr * c_ijr, 2))
        return self.bias[None, :] - 0.5 * q_ij, c_ijr

    def columns(self, score, laplacian):
        cols = [self.precision, self.pz] if score or laplacian else []
        if laplacian:
            cols += [self.precision * self.precision, self.ppz, self.ppzz[:, None]]
        return self.ns.concat(cols, 1) if cols else None

    def moments(self, e_ij, x_i, sums_i, c_ijr, score, laplacian):
        ns, d = self.ns, self.n_features
        disp = lap = None
        if score:
            low = ns.einsum("ijr,jdr->id", e_ij[:, :, None] * c_ijr, self.V)  # (M, d)
            disp = x_i * sums_i[:, :d] - sums_i[:, d:2 * d] - low
        if laplacian:
            b_ijr = self._projections(x_i, self.Y, self.zY)  # (M, N, r)
            Gc_ijr = ns.einsum("jrs,ijs->ijr", self.G, c_ijr)  # (M, N, r)
            pp, ppz, ppzz = sums_i[:, 2 * d:3 * d], sums_i[:, 3 * d:4 * d], sums_i[:, 4 * d]
            diagonal_part = ns.sum(x_i * x_i * pp, 1) - 2.0 * ns.sum(x_i * ppz, 1) + ppzz
            low_part = ns.sum(e_ij * ns.sum(c_ijr * (Gc_ijr - 2.0 * b_ijr), 2), 1)
            lap = diagonal_part + low_part - e_ij @ self.trace_precision
        return disp, lap

    def lazy_precision_displacement(self, lazy_j, delta):
        n, d, r = self.V.shape
        v_j = lazy_j(self.V.reshape(n, d * r))
        return lazy_j(self.precision) * delta - v_j.matvecmult(delta.vecmatmult(v_j))


class PreparedFull(Prepared):
    r"""Dense precisions :math:`P_j = C_j^{-1}`, with every quadratic form as a matrix product.

    :math:`(x - z)^\top P (x - z) = \operatorname{vec}(x x^\top) \cdot \operatorname{vec} P
    - 2 x \cdot P z + z^\top P z`, and the same with :math:`P^2` for
    :math:`\lVert P (x - z) \rVert^2`: a block costs matrix products with :math:`d^2 + d + 1`
    columns and no ``(M, N, d)`` array (a batched ``(M, N, d) x (N, d, d)`` product was 5x
    slower at :math:`d = 2`, forward and backward).
    """

    _fields = ("A", "P", "Pz", "zPz", "PP", "PPz", "zPPz")

    def __init__(self, ns, centers, chol):
        n, d = centers.shape
        self.ns, self.n_features = ns, d
        eye = ns.asarray(np.tile(np.eye(d), (n, 1, 1)), like=chol)
        self.A = ns.solve_lower(chol, eye)  # (N, d, d), A C A^T = I
        precision = ns.swap_last(self.A) @ self.A  # (N, d, d)
        self.Pz = ns.einsum("nkd,nd->nk", precision, centers)  # (N, d)
        self.zPz = ns.sum(self.Pz * centers, 1)  # (N,)
        squared = precision @ precision  # (N, d, d), P^2
        self.PPz = ns.einsum("nkd,nd->nk", precision, self.Pz)  # (N, d)
        self.zPPz = ns.sum(self.Pz * self.Pz, 1)  # (N,)
        self.P, self.PP = precision.reshape(n, d * d), squared.reshape(n, d * d)
        self.log_det = 2.0 * ns.sum(ns.log(ns.diagonal(chol)), 1)  # (N,)
        self.trace_precision = ns.sum(self.A * self.A, (1, 2))  # (N,)

    def _outer(self, x_i):
        return (x_i[:, :, None] * x_i[:, None, :]).reshape(x_i.shape[0], -1)  # (M, d^2)

    def logits(self, x_i):
        ns = self.ns
        features = ns.concat([self._outer(x_i), x_i, ns.ones((x_i.shape[0], 1), like=x_i)], 1)
        coefficients = ns.concat([-0.5 * self.P, self.Pz, (self.bias - 0.5 * self.zPz)[:, None]], 1)
        return self._augmented_logits(features, coefficients), None

    def columns(self, score, laplacian):
        cols = [self.P, self.Pz] if score else []
        if laplacian:
            cols += [self.PP, self.PPz, (self.zPPz - self.trace_precision)[:, None]]
        return self.ns.concat(cols, 1) if cols else None

    def moments(self, e_ij, x_i, sums_i, cache, score, laplacian):
        ns, d = self.ns, self.n_features
        disp = lap = None
        if score:  # (sum_j e_ij P_j) x_i - sum_j e_ij P_j z_j
            summed_precision = sums_i[:, :d * d].reshape(x_i.shape[0], d, d)
            disp = ns.einsum("ikd,id->ik", summed_precision, x_i) - sums_i[:, d * d:d * d + d]
        if laplacian:
            k = d * d + d if score else 0
            lap = (ns.sum(self._outer(x_i) * sums_i[:, k:k + d * d], 1)
                   - 2.0 * ns.sum(x_i * sums_i[:, k + d * d:k + d * d + d], 1)
                   + sums_i[:, k + d * d + d])
        return disp, lap

    def lazy_precision_displacement(self, lazy_j, delta):
        n, d = self.P.shape[0], self.n_features
        a_j = lazy_j(self.A.reshape(n, d * d))
        return a_j.matvecmult(delta).vecmatmult(a_j)  # A^T A delta
