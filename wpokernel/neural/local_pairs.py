r"""Gaussian log-kernels of a mixture whose low-rank parts are rescaled fixed local factors.

A component of :class:`~wpokernel.neural.LocalScales` (and every candidate of the local-PCA
initialization) has the covariance

.. math::

    C_j = s_j F + L_j H_j^2 L_j^\top, \qquad F = \operatorname{diag}(f),
    \quad H_j = \operatorname{diag}(h_j),

with fixed local factors :math:`L_j` (:math:`d \times r`), a fixed floor profile :math:`f`
(ones for an isotropic floor; or one profile :math:`f_j` per center, :math:`F_j =
\operatorname{diag}(f_j)` in place of :math:`F` below) and only the :math:`1 + r` scalars
:math:`s_j, h_j` free. With
:math:`\delta_{ij} = x_i - z_j` and the statistics that do not depend on those scalars,

.. math::

    a_{ij} = \delta_{ij}^\top F^{-1} \delta_{ij}, \qquad
    b_{ij} = L_j^\top F^{-1} \delta_{ij} \in \mathbb R^r, \qquad
    Q_j = L_j^\top F^{-1} L_j,

the Woodbury identity and the determinant lemma give, with
:math:`M_j = I_r + H_j Q_j H_j / s_j` and :math:`G_j = H_j M_j^{-1} H_j`,

.. math::

    (x_i - z_j)^\top C_j^{-1} (x_i - z_j) = \frac{a_{ij}}{s_j}
    - \frac{b_{ij}^\top G_j b_{ij}}{s_j^2}, \qquad
    \log\det C_j = d \log s_j + \sum_k \log f_k + \log\det M_j .

The statistics cost one matrix product of the queries with all the factors, :math:`O(M N d r)`,
with no gradient; every scale candidate, and every training step's gradient, then costs only
:math:`O(M N r^2)`. This is what makes the initialization search and the training of the
``"lowrank"`` model affordable at image scale (the general engine of
:mod:`wpokernel.reductions` would redo the :math:`d r` products, and differentiate through
them, for every candidate and step).
"""

import math
from typing import NamedTuple

import torch

__all__ = ["CenterTerms", "ComponentTerms", "PairStatistics", "center_terms", "component_terms",
           "log_kernels", "mixture_log_densities", "mixture_log_density", "neighbor_statistics",
           "pair_log_kernels", "pair_statistics"]

_LOG_2PI = math.log(2.0 * math.pi)


class PairStatistics(NamedTuple):
    """The scale-free statistics :math:`a_{ij}`, :math:`b_{ij}`, :math:`Q_j` (module docstring).

    Dense, of every query against every center (``index`` None: ``a`` is (M, N) and ``b``
    is laid out (N, r, M)); or of each query against its own centers ``index`` (M, n),
    :func:`neighbor_statistics`.
    """

    a: torch.Tensor  # (M, N) or (M, n)
    b: torch.Tensor  # (N, r, M) or (M, n, r)
    gram: torch.Tensor  # (N, r, r): Q_j of every center
    log_det_profile: object  # float, or (N,) tensor for a profile per center
    n_features: int
    index: object = None  # (M, n) tensor of center indices, or None

    def leading(self, rank):
        """The statistics of the first ``rank`` columns of the factors."""
        b = self.b[:, :rank] if self.index is None else self.b[..., :rank]
        return self._replace(b=b, gram=self.gram[:, :rank, :rank])

    def components(self, j):
        """What :func:`component_terms` reads, of the centers ``j`` only (no pairs)."""
        log_det = self.log_det_profile
        return self._replace(a=None, b=None, gram=self.gram[j],
                             log_det_profile=log_det[j] if torch.is_tensor(log_det) else log_det)


class CenterTerms(NamedTuple):
    """The per-center parts of :func:`pair_statistics`, fixed while only the scales change."""

    shift: torch.Tensor  # (d,), the centers' mean
    # (d,), 1 / f; or, for a profile per center, the (N, d) profiles f_j themselves, in their
    # storage dtype (float32 at image scale), inverted a block of centers at a time.
    inverse: torch.Tensor
    zfz: torch.Tensor  # (N,), z^T F^-1 z of the shifted centers
    zfL: torch.Tensor  # (N, r), L^T F^-1 z
    gram: torch.Tensor  # (N, r, r), Q
    log_det_profile: object  # float, or (N,) tensor for a profile per center


# Centers whose factors are copied at once, in the queries' dtype (the factors may be stored
# in a narrower one) and, for the Gram matrices, times F^-1.
_FACTOR_CHUNK = 512


def _inverse_profile(profile, like):
    """The ``inverse`` and ``log_det_profile`` of :class:`CenterTerms`."""
    d = like.shape[-1]
    if profile is None:
        return torch.ones(d, dtype=like.dtype, device=like.device), 0.0
    if profile.ndim == 2:  # one per center: no (N, d) copy in the wider dtype
        profile = profile.to(like.device)
        log_det = torch.empty(len(profile), dtype=like.dtype, device=like.device)
        for j0 in range(0, len(profile), _FACTOR_CHUNK):
            j = slice(j0, j0 + _FACTOR_CHUNK)
            log_det[j] = torch.log(profile[j].to(like.dtype)).sum(1)
        return profile, log_det
    return 1.0 / profile.to(like), float(torch.log(profile).sum())


def _inverse_rows(inverse, j, like):
    """:math:`1 / f_j` of the centers ``j`` (a slice, or an index array of any shape:
    ``j.shape + (d,)``), or the shared :math:`1 / f`, (1, d), in the dtype of ``like``
    (``inverse`` as in :class:`CenterTerms`)."""
    if inverse.ndim == 2:
        return 1.0 / inverse[j].to(like.dtype)
    return inverse[None].to(like.dtype)


def _factor_chunks(factors, like):
    """``(slice, factors of those centers in the dtype of like)`` over blocks of centers."""
    for j0 in range(0, len(factors), _FACTOR_CHUNK):
        j = slice(j0, j0 + _FACTOR_CHUNK)
        yield j, factors[j].to(like.dtype)


def center_terms(centers, factors, profile=None):
    """The per-center terms of :func:`pair_statistics` (arguments alike), computed once.

    ``factors`` may be stored in a narrower floating dtype than ``centers`` (float32 to
    halve the memory of image-scale factors): every product is formed in the dtype of the
    centers, a block of centers at a time.
    """
    with torch.no_grad():
        shift = centers.mean(0)
        inverse, log_det = _inverse_profile(profile, centers)
        n, _, r = factors.shape
        zfz = torch.empty(n, dtype=centers.dtype, device=centers.device)
        zfL = torch.empty((n, r), dtype=centers.dtype, device=centers.device)
        gram = torch.empty((n, r, r), dtype=centers.dtype, device=centers.device)
        for j, chunk in _factor_chunks(factors, centers):
            inverse_j = _inverse_rows(inverse, j, centers)
            shifted = centers[j] - shift
            zf = shifted * inverse_j
            zfz[j] = (zf * shifted).sum(1)
            zfL[j] = torch.einsum("nd,ndr->nr", zf, chunk)
            gram[j] = torch.einsum("ndr,nds->nrs", chunk * inverse_j[:, :, None], chunk)
        return CenterTerms(shift, inverse, zfz, zfL, gram, log_det)


def pair_statistics(x, centers, factors, profile=None, terms=None):
    r"""The statistics :math:`a_{ij}, b_{ij}, Q_j` of queries against components (no gradient).

    Parameters
    ----------
    x : tensor of shape (M, d)
    centers : tensor of shape (N, d)
    factors : tensor of shape (N, d, r)
        Fixed local factors :math:`L_j`, in the dtype of ``x`` or a narrower one (their
        products are formed in the dtype of ``x``).
    profile : tensor of shape (d,) or (N, d), or None, default=None
        Floor profile :math:`f`, positive, shared or one per center :math:`f_j` (``None``:
        ones).
    terms : CenterTerms or None, default=None
        :func:`center_terms` of the same centers, factors and profile, when they serve many
        calls (training steps).

    Returns
    -------
    PairStatistics
    """
    with torch.no_grad():
        terms = center_terms(centers, factors, profile) if terms is None else terms
        # Centring on the centers' mean keeps |x|^2 - 2 x.z + |z|^2 from cancelling.
        x = x - terms.shift
        # b laid out (N, r, M): batched products of wide blocks. The factors (and the shifted
        # centers) are copied a block of centers at a time.
        a = torch.empty((len(x), len(centers)), dtype=x.dtype, device=x.device)
        b = torch.empty((len(centers), factors.shape[2], len(x)), dtype=x.dtype, device=x.device)
        if terms.inverse.ndim == 1:
            xf = x * terms.inverse
            for j, chunk in _factor_chunks(factors, x):
                a[:, j] = xf @ (centers[j] - terms.shift).T
                b[j] = torch.matmul(chunk.transpose(1, 2), xf.T)
            a.mul_(-2.0).add_((xf * x).sum(1)[:, None])
        else:  # x^T F_j^-1 x differs per center: one more product per block
            for j, chunk in _factor_chunks(factors, x):
                inverse_j = _inverse_rows(terms.inverse, j, x)
                a[:, j] = (x * x) @ inverse_j.T - 2.0 * (x @ (inverse_j * (centers[j]
                                                                         - terms.shift)).T)
                b[j] = torch.matmul((chunk * inverse_j[:, :, None]).transpose(1, 2), x.T)
        a.add_(terms.zfz[None, :])
        b -= terms.zfL[:, :, None]
    return PairStatistics(a.clamp_min(0.0), b, terms.gram, terms.log_det_profile, x.shape[1])


def neighbor_statistics(x, index, centers, factors, profile=None, terms=None, *, chunk=16):
    r"""The statistics of each query against its own centers ``index`` only (no gradient).

    The :math:`d r` products of the pairs are done once here, so that a mixture restricted
    to each query's nearest centers costs :math:`O(n r^2)` per query afterwards.

    Parameters
    ----------
    x : tensor of shape (M, d)
    index : tensor of shape (M, n)
        Centers of each query.
    centers, factors, profile, terms
        As in :func:`pair_statistics` (of ``terms``, only the profile and the Gram matrices
        are used).
    chunk : int, default=16
        Queries whose gathered factors (``chunk * n * d * r`` floats) are held at once.

    Returns
    -------
    PairStatistics
    """
    with torch.no_grad():
        terms = center_terms(centers, factors, profile) if terms is None else terms
        inverse = terms.inverse
        a = torch.empty(index.shape, dtype=x.dtype, device=x.device)
        b = torch.empty((*index.shape, factors.shape[2]), dtype=x.dtype, device=x.device)
        for i0 in range(0, len(x), chunk):
            i = slice(i0, i0 + chunk)
            delta = x[i, None, :] - centers[index[i]]  # (c, n, d)
            scaled = delta * _inverse_rows(inverse, index[i], x)  # rows (c, n, d) or (1, d)
            a[i] = (scaled * delta).sum(-1)
            b[i] = torch.einsum("cnd,cndr->cnr", scaled, factors[index[i]].to(x.dtype))
    return PairStatistics(a, b, terms.gram, terms.log_det_profile, x.shape[1], index)


# (center, rank, query) entries of the temporaries of one block of _QuadraticForms.
_QUADRATIC_BLOCK = 2**22


class _QuadraticForms(torch.autograd.Function):
    r""":math:`b_{ij}^\top G_j b_{ij}`, shape (M, N), of ``b`` (N, r, M) without a gradient.

    Plain autograd would keep two temporaries the size of ``b`` for the backward pass (at
    image scale, gigabytes per step). Here forward and backward run a block of centers at a
    time and keep only ``b`` itself, whose gradient is never needed:
    :math:`\partial \ell / \partial G_j = \sum_i w_{ij}\, b_{ij} b_{ij}^\top` with
    :math:`w = \partial \ell / \partial (b^\top G b)`.
    """

    @staticmethod
    def forward(ctx, gram, b):
        ctx.save_for_backward(gram, b)
        out = torch.empty((b.shape[2], b.shape[0]), dtype=b.dtype, device=b.device)
        for j in _blocks(b):
            out[:, j] = (torch.bmm(gram[j], b[j]) * b[j]).sum(1).T
        return out

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx, grad_out):
        gram, b = ctx.saved_tensors
        grad = torch.empty_like(gram)
        for j in _blocks(b):
            grad[j] = torch.bmm(b[j] * grad_out[:, j].T[:, None, :], b[j].transpose(1, 2))
        return grad, None


def _blocks(b):
    step = max(1, _QUADRATIC_BLOCK // max(1, b.shape[1] * b.shape[2]))
    return [slice(j0, j0 + step) for j0 in range(0, b.shape[0], step)]


class ComponentTerms(NamedTuple):
    r"""The per-component parts of :func:`log_kernels`: :math:`s_j`, :math:`G_j = H_j M_j^{-1}
    H_j` and :math:`\log\det C_j`, the same for every query."""

    variance: torch.Tensor  # (N,)
    G: torch.Tensor  # (N, r, r)
    log_det: torch.Tensor  # (N,)


def component_terms(stats, variance, scales):
    """:class:`ComponentTerms` of the components of ``stats`` (arguments as in
    :func:`log_kernels`); differentiable in ``variance`` and ``scales``."""
    n, r = scales.shape
    variance = torch.as_tensor(variance, dtype=scales.dtype, device=scales.device).expand(n)
    eye = torch.eye(r, dtype=scales.dtype, device=scales.device)
    outer = scales[:, :, None] * scales[:, None, :]  # (N, r, r)
    chol = torch.linalg.cholesky(eye + outer * stats.gram / variance[:, None, None])
    G = outer * torch.cholesky_inverse(chol)  # H M^-1 H, (N, r, r)
    log_det = (stats.n_features * torch.log(variance) + stats.log_det_profile
               + 2.0 * torch.log(torch.diagonal(chol, dim1=1, dim2=2)).sum(1))
    return ComponentTerms(variance, G, log_det)


def pair_log_kernels(stats, terms):
    """:func:`log_kernels` from the :func:`component_terms` of the same components, which
    serve every block of queries."""
    variance, G, log_det = terms
    if stats.index is None:
        low = _QuadraticForms.apply(G, stats.b)  # b^T G b, (M, N)
    else:
        variance, log_det = variance[stats.index], log_det[stats.index]
        low = torch.einsum("ijr,ijrs,ijs->ij", stats.b, G[stats.index], stats.b)
    quadratic = (stats.a / variance - low / variance**2).clamp_min(0.0)
    return -0.5 * (quadratic + log_det + stats.n_features * _LOG_2PI)


def log_kernels(stats, variance, scales):
    r"""Log-densities :math:`\log N(x_i; z_j, s_j F + L_j H_j^2 L_j^\top)` of the pairs of
    ``stats``, shape (M, N) (or (M, n) for :func:`neighbor_statistics`).

    Differentiable in ``variance`` and ``scales``.

    Parameters
    ----------
    stats : PairStatistics
    variance : tensor of shape (N,) or scalar
        :math:`s_j > 0`.
    scales : tensor of shape (N, r)
        :math:`h_j`, the scales of the columns of the factors.

    Returns
    -------
    tensor of shape (M, N) or (M, n)
    """
    return pair_log_kernels(stats, component_terms(stats, variance, scales))


def mixture_log_densities(x, centers, factors, profile, candidates, *, max_pairs=2**20):
    r"""Equal-weight mixture log-densities :math:`\log \frac1N \sum_j N(x_i; z_j, C_j)` of
    several candidate scalings of the same factors, shape (n_candidates, M).

    Centers are taken in blocks of at most ``max_pairs / M`` at a time, with the exact
    streaming log-sum-exp, so memory stays ``O(max_pairs r)`` and the statistics of a block,
    its only :math:`O(d r)`-per-pair work, serve every candidate; no gradient.

    Parameters
    ----------
    x, centers, factors, profile
        As in :func:`pair_statistics`.
    candidates : sequence of (variance, scales)
        ``variance`` a scalar or tensor of shape (N,), ``scales`` a tensor of shape (N, r_c)
        with :math:`r_c \le r`: the candidate uses the first :math:`r_c` columns of the
        factors (:func:`log_kernels`).
    max_pairs : int, default=2**20
        Largest number of (query, center) pairs held at once.

    Returns
    -------
    tensor of shape (n_candidates, M)
    """
    n = len(centers)
    step = max(1, max_pairs // max(1, len(x)))
    candidates = [(torch.as_tensor(v, dtype=x.dtype, device=x.device).expand(n), h)
                  for v, h in candidates]
    total = None
    with torch.no_grad():
        for j0 in range(0, n, step):
            j = slice(j0, min(n, j0 + step))
            # Each block is centred on its own centers: the statistics do not depend on it.
            profile_j = profile[j] if profile is not None and profile.ndim == 2 else profile
            stats = pair_statistics(x, centers[j], factors[j], profile_j)
            block = torch.stack([
                torch.logsumexp(log_kernels(stats.leading(h.shape[1]), v[j], h[j]), 1)
                for v, h in candidates])
            total = block if total is None else torch.logaddexp(total, block)
    return total - math.log(n)


def mixture_log_density(x, centers, factors, profile, variance, scales, *, max_pairs=2**20):
    """:func:`mixture_log_densities` of one candidate, shape (M,)."""
    return mixture_log_densities(x, centers, factors, profile, [(variance, scales)],
                                 max_pairs=max_pairs)[0]
