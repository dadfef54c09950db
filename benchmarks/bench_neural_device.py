#!/usr/bin/env python
r"""Training throughput of NeuralScore, in images per second, on CUDA (or the CPU).

For the default U-Net and for the kernel-attention network, on MNIST-shaped data (28 x 28;
the MNIST files when ``--mnist`` has them, else uniform noise of the same shape, which costs
the same), one fit of ``--steps`` optimizer steps without validation at each precision:

.. math::

    \text{throughput} = \frac{\text{batch\_size} \times \text{steps}}{\text{fit wall time}},

after a warm-up fit of a few steps (CUDA kernels, allocator). Also the wall time of sampling
256 images by the default Heun sampler. ``--quick`` runs tiny versions on the CPU (the GPU
check's dry run): narrow networks, batches of 16, one warm-up step, 16 images sampled.
"""

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import torch

from wpokernel import NeuralScore
from wpokernel.datasets import MNIST_IMAGE_SHAPE, load_mnist

WARM_UP_STEPS = 5
N_SAMPLED = 256


def _data(mnist, n_images, seed):
    try:
        return load_mnist(mnist, n_samples=n_images, random_state=seed)
    except ValueError:
        return np.random.default_rng(seed).random((n_images, int(np.prod(MNIST_IMAGE_SHAPE))))


def _synchronize(device):
    if device == "cuda":
        torch.cuda.synchronize()


def measure(X, device, network, precision, steps, extra, warm_up, n_sampled):
    """Images per second of one fit, and the seconds of sampling ``n_sampled`` images."""
    settings = {"image_shape": MNIST_IMAGE_SHAPE, "network": network, "precision": precision,
                "device": device, "validation_fraction": 0, "random_state": 0,
                "progress": False, **extra}
    NeuralScore(max_steps=warm_up, **settings).fit(X)
    _synchronize(device)
    start = time.perf_counter()
    model = NeuralScore(max_steps=steps, **settings).fit(X)
    _synchronize(device)
    fit_seconds = time.perf_counter() - start
    start = time.perf_counter()
    model.sample(n_sampled, random_state=0)
    return model.batch_size * steps / fit_seconds, time.perf_counter() - start


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="tiny CPU run (dry run)")
    parser.add_argument("--steps", type=int, default=200)
    parser.add_argument("--mnist", type=Path, default=Path("../shared/data/mnist"))
    args = parser.parse_args(argv)
    device = "cpu" if args.quick or not torch.cuda.is_available() else "cuda"
    steps = 3 if args.quick else args.steps
    extra = ({"width": 8, "n_steps": 4, "n_centers": 16, "batch_size": 16} if args.quick
             else {})
    warm_up, n_sampled = (1, 16) if args.quick else (WARM_UP_STEPS, N_SAMPLED)
    X = _data(args.mnist, 2000, 0)
    print(f"device {device}: {torch.cuda.get_device_name(0) if device == 'cuda' else 'CPU'}")
    print(f"network | precision | training images/s | sample {n_sampled} images (s)")
    for network in ("unet", "kernel-attention"):
        for precision in ("float32", "bfloat16"):
            throughput, sample_seconds = measure(X, device, network, precision, steps, extra,
                                                 warm_up, n_sampled)
            print(f"{network} | {precision} | {throughput:.0f} | {sample_seconds:.2f}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
