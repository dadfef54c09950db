"""One process of the data-parallel training test, launched with the gloo backend by

    python -m torch.distributed.run --standalone --nproc_per_node=2 _neural_worker.py OUT

Every process fits the same neural estimators to the same data (each takes its shard of every
minibatch) and saves the trained weights, the loss history and seeded samples to
``OUT/rank<r>.npz``; a batch that does not split over the processes is refused on every
process, which saves ``passed`` or what went wrong.
"""

import sys
from pathlib import Path

import numpy as np
import torch
import torch.distributed as dist

from wpokernel import NeuralInterpolant, NeuralScore
from wpokernel.neural import MLP

TRAINING = {"batch_size": 32, "max_steps": 15, "validation_fraction": 0.2,
            "validation_interval": 5, "n_steps": 6, "progress": False, "random_state": 0}


def data():
    return np.random.default_rng(0).normal(size=(90, 3)) * [1.0, 2.0, 0.5]


class RecordingMLP(MLP):
    """An MLP that records how many rows its last training call saw."""

    training_rows = 0

    def forward(self, x, c):
        if self.training and torch.is_grad_enabled():  # not the checks, validation or sampling
            self.training_rows = len(x)
        return super().forward(x, c)


def network():
    """A float64 MLP, so that the processes and the single process agree to float64 round-off."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        module = RecordingMLP(3, 16, 1).double()
        with torch.no_grad():
            module.output.weight.normal_(0.0, 0.1)  # a non-zero start: every layer learns
    return module


def models():
    return {"score": NeuralScore(network=network(), **TRAINING),
            "interpolant": NeuralInterpolant(network=network(), gamma="sqrt", **TRAINING)}


def results(model):
    """The trained weights, the loss history and seeded samples of a fitted model."""
    networks = ([model.network_] if hasattr(model, "network_")
                else [model.velocity_network_, model.denoiser_network_])
    weights = np.concatenate([p.detach().numpy().ravel() for net in networks
                              for p in net.parameters()])
    return {"weights": weights, "loss": np.array(model.history_["loss"]),
            "sample": model.sample(5, random_state=1),
            "rows": np.array([net.training_rows for net in networks])}


def main(out):
    dist.init_process_group("gloo")
    rank = dist.get_rank()
    saved = {}
    for name, model in models().items():
        for key, value in results(model.fit(data())).items():
            saved[f"{name}/{key}"] = value
    try:
        NeuralScore(network=network(), **{**TRAINING, "batch_size": 31}).fit(data())
        saved["error/odd-batch"] = "no error"
    except ValueError as exc:
        saved["error/odd-batch"] = "passed" if "splits evenly over the 2 processes" in str(exc) else str(exc)
    np.savez(Path(out) / f"rank{rank}.npz", **saved)
    dist.destroy_process_group()


if __name__ == "__main__":
    main(sys.argv[1])
