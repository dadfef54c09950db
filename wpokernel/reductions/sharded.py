r"""Mixture reductions with the centers sharded across processes (``torch.distributed``).

A mixture with more centers than one device holds is split into shards of centers
:math:`J_1, \dots, J_K`, one per process. For the same queries :math:`x_i` on every process,
shard :math:`k` computes with :func:`~wpokernel.reductions.mixture_moments` its own
log-sum-exp and normalized moments

.. math::

    \ell_{ik} = \log \sum_{j \in J_k} e^{a_j} N(x_i; z_j, C_j), \qquad
    D_{ik} = \sum_{j \in J_k} e^{a_j} N(x_i; z_j, C_j)\, P_j (x_i - z_j) \,/\, e^{\ell_{ik}},

(likewise :math:`L_{ik}` and :math:`V_{ik}`), and the shards combine exactly, as the blocks of
one process do in the online softmax:

.. math::

    m_i = \max_k \ell_{ik}, \qquad S_i = \sum_k e^{\ell_{ik} - m_i}, \qquad
    \log p(x_i) = m_i + \log S_i, \qquad
    D_i = \frac{1}{S_i} \sum_k e^{\ell_{ik} - m_i} D_{ik}.

A shard's :math:`\ell_{ik}` is its running maximum plus the log of its sum of exponentials,
and :math:`e^{\ell_{ik} - m_i} D_{ik}` is its un-normalized weighted sum rescaled to the common
maximum, so two all-reduces (a maximum, then one sum of the stacked rescaled terms) give every
process the moments over all centers. Any backend, KeOps included, serves as the shard's engine.

Launch one process per device with ``torchrun --nproc_per_node=2 script.py``; each process of
``script.py`` initializes the default process group (``"nccl"`` for CUDA tensors, ``"gloo"``
for CPU ones) and passes its own shard of the centers ``z`` to the same queries ``x``:

    import torch.distributed as dist
    from wpokernel.reductions import Isotropic, sharded_mixture_moments

    dist.init_process_group("gloo")
    rank, world = dist.get_rank(), dist.get_world_size()
    shard = slice(rank * len(z) // world, (rank + 1) * len(z) // world)
    out = sharded_mixture_moments(x, z[shard], Isotropic(variance[shard]),
                                  log_weights[shard], score=True)
    dist.barrier()  # with gloo, a process that tears down early can abort the others
    dist.destroy_process_group()

Without an initialized process group the call is :func:`mixture_moments` itself.
"""

import math

import numpy as np

from ._dispatch import DEFAULT_WORKING_MEMORY, MixtureMoments, _convert, mixture_moments
from ._namespace import get_namespace

__all__ = ["sharded_mixture_moments"]

# What every process reports before the reduction, in this order; the entries between the
# first (a failure) and the last two (this shard's size and a checksum of the queries) must
# agree across processes.
_REPORT = ("failed", "number of queries", "number of features", "number of value columns",
           "score flag", "laplacian flag", "dtype size in bytes", "n_centers", "checksum")
# Identical queries give identical checksums; different ones differ by far more than this
# relative spread, while a smaller difference could not change the moments visibly.
_CHECKSUM_RTOL = 1e-6


def _distributed():
    import torch.distributed as dist

    return dist


def _active_group(group):
    """The process group to reduce over, or ``None`` for a single process."""
    if group is not None:
        return group
    dist = _distributed()
    if dist.is_available() and dist.is_initialized():
        return dist.group.WORLD
    return None


def _communication_device(group, library, x):
    """Device of the exchanged tensors: a GPU for NCCL (the queries' one), else the CPU."""
    import torch

    if _distributed().get_backend(group) != "nccl":
        return torch.device("cpu")
    if library == "torch" and x.device.type == "cuda":
        return x.device
    if library == "cupy":
        return torch.device("cuda", x.device.id)
    return torch.device("cuda", torch.cuda.current_device())


def _to_torch(a, library, device):
    return None if a is None else _convert(a, library, "torch").to(device)


def _from_torch(a, library, like):
    """A combined result back in the caller's library and on the queries' device."""
    if library == "torch":
        return a.to(like.device)
    if library == "cupy":
        a = a.to(f"cuda:{like.device.id}")
    return _convert(a, "torch", library)


def _local_moments(x, centers, covariance, log_weights, values, kwargs):
    """This shard's moments, or the error it raised (every process learns of it first)."""
    try:
        library = get_namespace(x, centers, log_weights, values).name
        out = mixture_moments(x, centers, covariance, log_weights, values, **kwargs)
        if getattr(out.log_density, "requires_grad", False):
            raise ValueError(
                "Expected tensors that do not require grad with a process group, got a "
                "differentiable input; gradients do not flow through the all-reduce, so "
                "detach the inputs."
            )
        return library, out, None
    except Exception as exc:  # re-raised once every process knows, so that none waits forever
        return None, None, exc


def _report(library, out, x, centers, device):
    """This process's entries of ``_REPORT`` as a float64 tensor on ``device``."""
    import torch

    entries = [1.0] + [0.0] * (len(_REPORT) - 1)
    if out is not None:
        x_t = _to_torch(x, library, device)  # (M, d)
        # Weighted by the row index, so that reordered queries do not pass for the same ones.
        rows = torch.arange(1, x_t.shape[0] + 1, dtype=torch.float64, device=device)  # (M,)
        entries = [0.0, x_t.shape[0], x_t.shape[1],
                   0 if out.values is None else out.values.shape[1],
                   out.displacement is not None, out.laplacian_term is not None,
                   out.log_density.dtype.itemsize, len(centers),
                   float((x_t.sum(1, dtype=torch.float64) * rows).sum())]
    return torch.tensor(entries, dtype=torch.float64, device=device)


def _gather(report, group):
    """Every process's report, as a NumPy array of shape (n_processes, len(_REPORT))."""
    import torch

    dist = _distributed()
    rows = [torch.empty_like(report) for _ in range(dist.get_world_size(group))]
    dist.all_gather(rows, report, group=group)
    return torch.stack(rows).cpu().numpy()


def _check_reports(reports, error):
    """Raise on every process when one of them failed or the processes disagree."""
    if error is not None:
        raise error
    failed = np.flatnonzero(reports[:, 0]).tolist()
    if failed:
        raise ValueError(
            f"Expected valid input on every process, got an error on process {failed}; "
            "see the traceback of that process."
        )
    for column, name in enumerate(_REPORT[1:7], 1):
        if np.ptp(reports[:, column]) > 0:
            seen = reports[:, column].astype(int).tolist()
            raise ValueError(f"Expected the same {name} on every process, got {seen} (one per process).")
    checksums = reports[:, -1]
    if np.ptp(checksums) > _CHECKSUM_RTOL * max(np.abs(checksums).max(), 1.0):
        raise ValueError(
            "Expected the same queries x on every process, got different queries; only the "
            "centers (and their covariances, log-weights and values) are sharded."
        )


def _combine(log_density, parts, group):
    """Log-density and moments over every shard: the maximum, then the rescaled sums."""
    import torch

    dist = _distributed()
    m_i = log_density.clone()
    dist.all_reduce(m_i, op=dist.ReduceOp.MAX, group=group)  # (M,)
    scale_i = torch.exp(log_density - m_i)[:, None]  # (M, 1), e^(l_ik - m_i) <= 1
    present = [p.reshape(m_i.shape[0], -1) for p in parts if p is not None]
    terms = torch.cat([scale_i] + [scale_i * p for p in present], 1)  # (M, 1 + d + 1 + k)
    dist.all_reduce(terms, group=group)
    moments = iter(torch.split(terms[:, 1:] / terms[:, :1], [p.shape[1] for p in present], 1))
    combined = [None if p is None else next(moments).reshape(p.shape) for p in parts]
    return [m_i + torch.log(terms[:, 0])] + combined


def sharded_mixture_moments(x, centers, covariance, log_weights=None, values=None, *,
                            score=False, laplacian=False, group=None, backend="auto",
                            working_memory=DEFAULT_WORKING_MEMORY):
    r"""Mixture moments over centers sharded across the processes of a process group.

    Every process passes the same queries and its own shard :math:`J_k` of the centers with
    the matching covariance parameters, log-weights and values, and gets the moments of
    :func:`~wpokernel.reductions.mixture_moments` over all centers:

    .. math::

        m_i = \max_k \ell_{ik}, \qquad S_i = \sum_k e^{\ell_{ik} - m_i}, \qquad
        \log p(x_i) = m_i + \log S_i, \qquad
        D_i = \frac{1}{S_i} \sum_k e^{\ell_{ik} - m_i} D_{ik},

    with :math:`\ell_{ik}` and :math:`D_{ik}` the log-sum-exp and the normalized moments of
    shard :math:`k` alone (:math:`L_i` and :math:`V_i` combine as :math:`D_i` does).

    Parameters
    ----------
    x : array-like of shape (n_queries, n_features)
        Query points :math:`x_i`, the same on every process.
    centers : array-like of shape (n_shard_centers, n_features)
        This process's centers :math:`z_j`, :math:`j \in J_k` (at least one).
    covariance : CovarianceStructure
        The covariances of this shard's centers (per-center parameters sliced like
        ``centers``).
    log_weights : array-like of shape (n_shard_centers,), default=None
        This shard's entries of the mixture's log-weights :math:`a_j`, normalized over all
        centers (:math:`\sum_k \sum_{j \in J_k} e^{a_j} = 1` gives a normalized density).
        ``None`` means uniform weights over all centers, :math:`a_j = -\log N`.
    values : array-like of shape (n_shard_centers, n_values), default=None
        This shard's per-center values :math:`v_j`.
    score, laplacian : bool, default=False
        Whether to compute :math:`D_i` and :math:`L_i`; the same on every process.
    group : torch.distributed.ProcessGroup, default=None
        The processes holding the shards; ``None`` means the default group when one is
        initialized, else this process alone (the call is then :func:`mixture_moments`).
    backend : {"auto", "numpy", "torch", "keops", "cupy"}, default="auto"
        Engine of this process's shard, see :func:`~wpokernel.reductions.resolve_backend`.
    working_memory : float, default=256
        Budget in MiB for the live blocks of the blocked engine.

    Returns
    -------
    MixtureMoments
        The moments over all centers, on every process, in the caller's library, dtype and
        device.

    Raises
    ------
    ValueError
        On every process, when one process's input is invalid, when the processes disagree
        on the queries, the requested moments, the number of value columns or the dtype, or
        when an input requires grad (gradients do not flow through the all-reduce).

    Examples
    --------
    Without a process group, one process holds every center:

    >>> import numpy as np
    >>> from wpokernel.reductions import Isotropic, sharded_mixture_moments
    >>> x, z = np.zeros((1, 2)), np.array([[0.0, 0.0], [1.0, 0.0]])
    >>> sharded_mixture_moments(x, z, Isotropic(1.0), score=True).displacement.round(3)
    array([[-0.378,  0.   ]])
    """
    kwargs = dict(score=score, laplacian=laplacian, backend=backend, working_memory=working_memory)
    group = _active_group(group)
    if group is None:
        return mixture_moments(x, centers, covariance, log_weights, values, **kwargs)
    library, out, error = _local_moments(x, centers, covariance, log_weights, values, kwargs)
    device = _communication_device(group, library, x)
    reports = _gather(_report(library, out, x, centers, device), group)
    _check_reports(reports, error)
    log_density = _to_torch(out.log_density, library, device)
    if log_weights is None:
        # The shard weighted its own centers by 1 / n_k; the mixture weighs each by 1 / N.
        log_density = log_density + math.log(len(centers) / reports[:, -2].sum())
    parts = [_to_torch(a, library, device) for a in out[1:]]
    combined = _combine(log_density, parts, group)
    return MixtureMoments(*(None if a is None else _from_torch(a, library, x) for a in combined))
