r"""Data-parallel training across processes with ``torch.distributed``.

Under ``torchrun`` (one process per GPU, or per CPU worker), every process builds the same
network from the same seed and draws the same global minibatch and noise; process :math:`r` of
:math:`P` takes the :math:`r`-th of :math:`P` equal contiguous shards of the minibatch, and a
:class:`~torch.nn.parallel.DistributedDataParallel` wrapper averages the gradients of the
shard means. With equal shards the average is the gradient of the global minibatch's mean
loss, so :math:`P` processes take the steps of one process with the same global batch, up to
the rounding of the sums. The processes use the default process group, which the caller
initializes (``torch.distributed.init_process_group("gloo")`` on CPUs, ``"nccl"`` with one GPU
per process).
"""

import torch
from torch import distributed as dist

__all__ = ["data_parallel", "process_shard", "world"]


def world():
    """``(rank, world size)`` of this process in the default group; ``(0, 1)`` without one."""
    if not (dist.is_available() and dist.is_initialized()):
        return 0, 1
    return dist.get_rank(), dist.get_world_size()


def process_shard(batch, rank, world_size):
    """The ``rank``-th of ``world_size`` equal contiguous shards of a minibatch (first axis).

    Raises
    ------
    ValueError
        When the minibatch does not split into equal shards.
    """
    if len(batch) % world_size:
        raise ValueError(f"Expected a minibatch that splits evenly over the {world_size} "
                         f"processes, got {len(batch)} rows; choose batch_size divisible by "
                         f"{world_size}.")
    return batch.tensor_split(world_size)[rank]


def data_parallel(model):
    """``model`` wrapped in DistributedDataParallel when there are several processes, else itself."""
    _, world_size = world()
    if world_size == 1:
        return model
    parameter = next(model.parameters())
    device_ids = [parameter.device] if parameter.device.type == "cuda" else None
    # The buffers (fixed frequencies) are the same everywhere: no broadcast per forward.
    return torch.nn.parallel.DistributedDataParallel(model, device_ids=device_ids,
                                                     broadcast_buffers=False)
