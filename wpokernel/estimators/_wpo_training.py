r"""The held-out likelihood of the ``"lowrank"`` :class:`~wpokernel.WPOKernelScore`, per step.

The model :class:`~wpokernel.neural.LocalScales` only rescales fixed local factors, so the
:math:`d r` products of each (point, center) pair carry no gradient
(:mod:`wpokernel.neural.local_pairs`). A training point :math:`x_i` is scored against the
mixture of the centers not in its batch :math:`B`,

.. math::

    \ell_i = \log \frac{1}{|K \setminus B|} \sum_{j \notin B} N(x_i; z_j, C_j),

either over every center (one matrix product with the factors per step), or — when that
product is large — over its :math:`n` nearest centers only, whose pair statistics are
computed once before training, so that a step costs :math:`O(|B|\, n\, r^2)`. Dropping the
far centers can only lower :math:`\ell_i`; the nearest-center sum is used only when, at the
initialization, it is within :data:`TRUNCATION_TOLERANCE` nats of the full sum on average
over a random probe of the training points (the far centers then hold less than 1% of the
held-out density). Early stopping always measures the full mixture.
"""

import math

import numpy as np
import torch

from ..diagnostics._pairwise import nearest_indices
from ..neural.local_pairs import (
    ComponentTerms,
    component_terms,
    log_kernels,
    neighbor_statistics,
    pair_log_kernels,
    pair_statistics,
)

__all__ = ["TRAINING_NEIGHBORS", "TRUNCATION_TOLERANCE", "dense_loo_loss", "nearest_center_loss",
           "neighbor_loss"]

#: Nearest centers each training point is scored against when the full sum is too costly.
TRAINING_NEIGHBORS = 128
#: Largest mean shortfall, in nats, of the nearest-center held-out log-density at the
#: initialization for it to replace the full sum.
TRUNCATION_TOLERANCE = 0.01
# (batch point, center, feature, rank) products per step below which the full sum is cheap
# (about a tenth of a second on one core).
_MIN_WORK_FOR_TRUNCATION = 2 * 10**9
_PROBE_POINTS = 256
_PROBE_CHUNK = 64
_NEIGHBOR_MEMORY_BYTES = 2**28
# Bytes of the (K, r, points) statistics b of one block of a batch in dense_loo_loss.
_BATCH_BLOCK_BYTES = 2**29
# Centers whose per-component terms are differentiated at once.
_COMPONENT_BLOCK = 4096


def dense_loo_loss(model, x_b, centers_t, excluded, terms=None, scales=None):
    r"""Mean :math:`-\ell_i` over the batch ``x_b``, every center but ``excluded`` summed.

    ``terms`` and ``scales`` are the model's
    :func:`~wpokernel.neural.local_pairs.center_terms` and
    :meth:`~wpokernel.neural.LocalScales.scales_of_all` of the centers, when made once for
    every step. The batch is taken a few points at a time (:class:`_HeldOutLoss`), so that a
    step holds the :math:`(K, r)` statistics of those points only, not of the whole batch.
    """
    variance, scales = (model.local_scales(centers_t, None) if scales is None else scales())
    context = (x_b, centers_t, model.factors, model.profile, excluded, terms)
    return _HeldOutLoss.apply(variance, scales, context)


class _HeldOutLoss(torch.autograd.Function):
    r"""The loss of :func:`dense_loo_loss` as a function of the scales :math:`(s, h)`.

    Its gradient is accumulated over blocks of the batch during the forward pass, each
    block's pair statistics freed before the next is formed; the backward pass only scales
    it. Memory is that of one block's statistics, :math:`O(K r)` per point, whatever the
    batch size.
    """

    @staticmethod
    def forward(ctx, variance, scales, context):
        x_b, centers_t, factors, profile, excluded, terms = context
        step = max(1, _BATCH_BLOCK_BYTES // (factors.shape[0] * factors.shape[2]
                                             * x_b.element_size()))
        blocks = [x_b[i0:i0 + step] for i0 in range(0, len(x_b), step)]
        stats = pair_statistics(blocks[0], centers_t, factors, profile, terms)
        components = stats._replace(a=None, b=None)  # what the component terms read
        # The per-component terms once per step; their gradient is accumulated over the
        # blocks of queries, then carried to the scales (_component_gradients).
        leaves = ComponentTerms(*(t.requires_grad_() for t in component_terms(
            stats, variance, scales)))
        grads = [torch.zeros_like(t) for t in leaves]
        total = 0.0
        for i, x in enumerate(blocks):
            # The previous block's statistics are freed before the next ones are formed.
            stats = stats if i == 0 else pair_statistics(x, centers_t, factors, profile, terms)
            total += _block_loss(stats, leaves, excluded, len(centers_t) - len(excluded), grads)
            del stats
        grad_variance, grad_scales = _component_gradients(components, variance, scales, grads)
        ctx.save_for_backward(grad_variance / len(x_b), grad_scales / len(x_b))
        return torch.as_tensor(total / len(x_b), dtype=scales.dtype, device=scales.device)

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx, grad_output):
        grad_variance, grad_scales = ctx.saved_tensors
        return grad_output * grad_variance, grad_output * grad_scales, None


def _component_gradients(stats, variance, scales, grads):
    """The gradient in ``variance`` and ``scales`` of a loss whose gradient in their
    :func:`~wpokernel.neural.local_pairs.component_terms` is ``grads``, a block of centers
    at a time: the autograd graph of the (K, r, r) terms is never held for all centers."""
    grad_variance, grad_scales = torch.empty_like(variance), torch.empty_like(scales)
    for j0 in range(0, len(scales), _COMPONENT_BLOCK):
        j = slice(j0, j0 + _COMPONENT_BLOCK)
        with torch.enable_grad():
            v, h = variance[j].detach().requires_grad_(), scales[j].detach().requires_grad_()
            block = component_terms(stats.components(j), v, h)
            grad_variance[j], grad_scales[j] = torch.autograd.grad(
                block, (v, h), [g[j] for g in grads])
    return grad_variance, grad_scales


def _block_loss(stats, leaves, excluded, n_kept, grads):
    r"""Sum of :math:`-\ell_i` over one block of queries; its gradient in the component terms
    ``leaves`` is added to ``grads``, and nothing of its graph outlives the call."""
    with torch.enable_grad():
        log_k = pair_log_kernels(stats, leaves).index_fill(1, excluded, -torch.inf)
        loss = -(torch.logsumexp(log_k, 1) - math.log(n_kept)).sum()
        for grad, part in zip(grads, torch.autograd.grad(loss, leaves)):
            grad += part
    return float(loss)


def _center_positions(n_fit, center_rows):
    """Each fitting point's index among the centers, or -1 where it is not one."""
    position = np.full(n_fit, -1)
    position[center_rows] = np.arange(len(center_rows))
    return position


def _nearest_centers(X_fit, center_rows, n_neighbors):
    """Each fitting point's ``n_neighbors`` nearest centers other than itself, (n_fit, n)."""
    centers = X_fit[center_rows]
    if len(center_rows) == len(X_fit):  # every point is a center: exclude itself
        return nearest_indices(X_fit, centers, n_neighbors, _NEIGHBOR_MEMORY_BYTES,
                               excluded=np.arange(len(X_fit)))
    found = nearest_indices(X_fit, centers, n_neighbors + 1, _NEIGHBOR_MEMORY_BYTES)
    position = _center_positions(len(X_fit), center_rows)
    # Drop the point itself where it is a center, else the farthest of the n + 1.
    drop = np.empty(len(X_fit), dtype=np.intp)
    for i0 in range(0, len(X_fit), _PROBE_CHUNK):
        rows = slice(i0, i0 + _PROBE_CHUNK)
        distance = ((X_fit[rows, None, :] - centers[found[rows]]) ** 2).sum(-1)
        distance[found[rows] == position[rows, None]] = np.inf
        drop[rows] = np.argmax(distance, axis=1)
    keep = np.ones(found.shape, dtype=bool)
    keep[np.arange(len(X_fit)), drop] = False
    return found[keep].reshape(len(X_fit), n_neighbors)


def _truncation_gap(model, X_fit_t, center_rows, centers_t, neighbors, rng, terms, scales):
    """Mean shortfall of the nearest-center held-out log-density on a probe of points."""
    probe = np.sort(rng.choice(len(X_fit_t), min(_PROBE_POINTS, len(X_fit_t)), replace=False))
    position = _center_positions(len(X_fit_t), center_rows)
    gaps = []
    with torch.no_grad():
        scales = scales()
        for i0 in range(0, len(probe), _PROBE_CHUNK):
            rows = probe[i0:i0 + _PROBE_CHUNK]
            log_k = log_kernels(pair_statistics(X_fit_t[rows], centers_t, model.factors,
                                                model.profile, terms), *scales)
            own = np.flatnonzero(position[rows] >= 0)
            log_k[own, position[rows][own]] = -torch.inf  # held out: never its own component
            nearest = torch.gather(log_k, 1, torch.as_tensor(neighbors[rows]))
            gaps.append(torch.logsumexp(log_k, 1) - torch.logsumexp(nearest, 1))
    return float(torch.cat(gaps).mean())


def nearest_center_loss(model, X_fit_t, center_rows, centers_t, batch_size, rng, terms, scales):
    """The nearest-center loss if it is needed and accurate at the initialization.

    ``terms`` and ``scales`` are the model's :func:`~wpokernel.neural.local_pairs.center_terms`
    and :meth:`~wpokernel.neural.LocalScales.scales_of_all`, which the full-sum loss of the
    same fit uses too.

    Returns
    -------
    loss : callable ``(batch, kept) -> 0-d tensor`` or None
        None: the full sum is cheap, or the nearest centers miss more than the tolerance.
    gap : float
        Mean shortfall measured on the probe (NaN when not measured).
    """
    n_centers, n_features, rank = model.factors.shape
    work = min(batch_size, len(X_fit_t)) * n_centers * n_features * rank
    if work < _MIN_WORK_FOR_TRUNCATION or n_centers <= 2 * TRAINING_NEIGHBORS:
        return None, np.nan
    neighbors = _nearest_centers(X_fit_t.cpu().numpy(), center_rows, TRAINING_NEIGHBORS)
    gap = _truncation_gap(model, X_fit_t, center_rows, centers_t, neighbors, rng, terms, scales)
    if not gap < TRUNCATION_TOLERANCE:
        return None, gap
    return neighbor_loss(model, X_fit_t, centers_t, neighbors, terms, scales), gap


def neighbor_loss(model, X_fit_t, centers_t, neighbors, terms=None, scales=None):
    r"""The loss ``(batch, kept) -> 0-d tensor``: mean :math:`-\ell_i` over the batch rows,
    each point's sum over its centers ``neighbors`` (n_fit, n) that are ``kept``."""
    device = centers_t.device
    stats = neighbor_statistics(X_fit_t, torch.as_tensor(neighbors, device=device), centers_t,
                                model.factors, model.profile, terms)
    in_batch = torch.zeros(len(centers_t), dtype=torch.bool, device=device)
    scales = model.scales_of_all(centers_t) if scales is None else scales

    def loss(batch, kept):
        batch_t = torch.as_tensor(batch, device=device)
        in_batch.fill_(True)
        in_batch[torch.as_tensor(kept, device=device)] = False
        index = stats.index[batch_t]
        pairs = stats._replace(a=stats.a[batch_t], b=stats.b[batch_t], index=index)
        log_k = log_kernels(pairs, *scales()).masked_fill(
            in_batch[index], -torch.inf)
        log_density = torch.logsumexp(log_k, 1) - math.log(len(kept))
        # A point whose nearest centers are all in its batch (rare) has no term this step.
        return -log_density[torch.isfinite(log_density)].mean()

    return loss
