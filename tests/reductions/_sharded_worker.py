"""One process of the sharded-reduction tests, launched with the gloo backend by

    python -m torch.distributed.run --standalone --nproc_per_node=2 _sharded_worker.py OUT

Every process builds the same mixture, passes its shard of the centers to
``sharded_mixture_moments`` and saves what it got to ``OUT/rank<r>.npz``; the bad-input cases
check their errors here, on every process, and save ``passed`` or what went wrong.
"""

import datetime
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.distributed as dist

from _problems import random_mixture
from wpokernel.reductions import Diagonal, Full, Isotropic, LowRank, sharded_mixture_moments

M, N, D, R = 7, 12, 3, 2
# name: (structure, number of centers on process 0, library, with log-weights, with values)
CASES = {
    "isotropic-even": ("isotropic", 6, "numpy", True, True),
    "isotropic-uneven": ("isotropic", 2, "numpy", True, True),
    "isotropic-shared-uniform": ("isotropic-shared", 5, "numpy", False, False),
    "lowrank-even": ("lowrank", 6, "numpy", True, True),
    "lowrank-uneven": ("lowrank", 9, "torch", True, True),
    "diagonal-uniform": ("diagonal", 4, "torch", False, True),
    "full-uneven": ("full", 7, "numpy", True, False),
}


def problem():
    """Queries, centers, normalized log-weights, values and the covariance parameters."""
    rng = np.random.default_rng(7)
    # Away from the origin, where the shards' own centring must not change the result.
    x, z, log_w, values = random_mixture(rng, M, N, D)
    A = rng.normal(size=(N, D, D))
    params = {
        "isotropic": (rng.uniform(0.2, 1.0, N),),
        "isotropic-shared": (0.4,),
        "lowrank": (rng.uniform(0.2, 1.0, N), rng.normal(size=(N, D, R))),
        "diagonal": (rng.uniform(0.2, 1.0, (N, D)),),
        "full": (A @ A.transpose(0, 2, 1) + 0.1 * np.eye(D),),
    }
    return x, z, log_w, values, params


def structure(name, params, rows=slice(None)):
    """The covariance structure ``name`` of the centers ``rows``: per-center parameters sliced."""
    kind = {"isotropic": Isotropic, "isotropic-shared": Isotropic, "lowrank": LowRank,
            "diagonal": Diagonal, "full": Full}[name]
    return kind(*(p if np.ndim(p) == 0 else p[rows] for p in params[name]), added_variance=0.25)


def _shard(rank, n_first):
    return slice(0, n_first) if rank == 0 else slice(n_first, N)


def run_case(rank, name, group):
    kind, n_first, library, with_weights, with_values = CASES[name]
    x, z, log_w, values, params = problem()
    rows = _shard(rank, n_first)
    arrays = [x, z[rows], log_w[rows] if with_weights else None, values[rows] if with_values else None]
    if library == "torch":
        arrays = [None if a is None else torch.from_numpy(a) for a in arrays]
    out = sharded_mixture_moments(*arrays[:2], structure(kind, params, rows), *arrays[2:], score=True,
                                  laplacian=True, group=group)
    assert type(out.log_density).__module__.split(".")[0] == library, type(out.log_density)
    return {f"{name}/{field}": np.asarray(value) for field, value in zip(out._fields, out)
            if value is not None}


def _bad_inputs(rank):
    """Per case: this process's arguments and the error it must raise."""
    x, z, log_w, _, params = problem()
    rows = _shard(rank, 6)
    cov = structure("isotropic", params, rows)
    other = f"got an error on process \\[{1 - rank}\\]"
    return {
        "centers-features": ((x, z[rows, :2] if rank == 1 else z[rows], cov, log_w[rows]),
                             {}, "centers with 3 columns" if rank == 1 else other),
        "process-features": ((x[:, :2] if rank == 1 else x, z[rows, :2] if rank == 1 else z[rows],
                              cov, log_w[rows]), {}, r"same number of features .*got \[3, 2\]"),
        "log-weights": ((x, z[rows], cov, log_w[:7] if rank == 0 else log_w[rows]), {},
                        r"log_weights of shape \(6,\)" if rank == 0 else other),
        "queries": ((x + rank, z[rows], cov, log_w[rows]), {}, "same queries x on every process"),
        "score-flag": ((x, z[rows], cov, log_w[rows]), {"score": rank == 0}, "same score flag"),
        "grad": ((torch.tensor(x, requires_grad=True), torch.from_numpy(z[rows]), cov,
                  torch.from_numpy(log_w[rows])), {}, "do not require grad"),
    }


def check_errors(rank):
    results = {}
    for name, (args, kwargs, match) in _bad_inputs(rank).items():
        try:
            with pytest.raises(ValueError, match=match):
                sharded_mixture_moments(*args, **kwargs)
            results[f"error/{name}"] = np.array("passed")
        except BaseException as exc:  # a missing or wrong error: reported to the test, not raised
            results[f"error/{name}"] = np.array(f"{type(exc).__name__}: {exc}")
    return results


def main(out_dir):
    torch.set_num_threads(1)
    # A collective that waits for a process that never comes fails the test within a minute.
    dist.init_process_group("gloo", timeout=datetime.timedelta(seconds=60))
    rank = dist.get_rank()
    group = dist.new_group([0, 1])
    results = {}
    for index, name in enumerate(CASES):
        # Every other case names its group; the others use the default one.
        results.update(run_case(rank, name, group if index % 2 else None))
    results.update(check_errors(rank))
    np.savez(Path(out_dir) / f"rank{rank}.npz", **results)
    # Without it a process can tear its connections down while the other still reads from
    # them, and gloo aborts that one ("terminate called without an active exception").
    dist.barrier()
    dist.destroy_process_group()


if __name__ == "__main__":
    main(sys.argv[1])
