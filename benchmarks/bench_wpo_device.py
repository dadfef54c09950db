#!/usr/bin/env python
"""Timings of WPOKernelScore on the CPU and on a CUDA device, for the same data and seeds.

For each device of ``--devices`` one model is fitted on ``--n-train`` points of a toy data
set (``WPOKernelScore(device=..., max_steps=--max-steps, random_state=0)``), then draws
``--n-samples`` samples exactly and with the reverse heat-flow SDE (``--n-steps`` steps) and
evaluates ``score_samples`` on ``--n-test`` held-out points. On the CUDA row the factor
network trains on the GPU and the reductions of evaluation and sampling run with
``backend="keops"`` (KeOps compiles for the GPU) or, without pykeops, ``"cupy"``; on the CPU
row ``backend="auto"``. Each device first runs one untimed small fit and draw, so that CUDA
initialization and KeOps compilation are not timed. The table gives wall times in seconds
and, for the CUDA row, ``log p gap to cpu``: the largest difference of its ``score_samples``
from the CPU model's (the same seeds and float64: only rounding differs). A ``cuda`` device is skipped, with a
line, where torch sees no GPU.

Run ``python benchmarks/bench_wpo_device.py --help`` for the options; ``--quick`` is a
smoke run of a few seconds.
"""

import argparse
import sys
import time

import numpy as np
import torch

from wpokernel import WPOKernelScore
from wpokernel.datasets import make_toy
from wpokernel.reductions import available_backends

COLUMNS = ("device", "backend", "fit s", "steps", "exact sample s", "SDE sample s",
           "score_samples s", "log p gap to cpu")


def gpu_backend():
    """The reduction backend that runs on the GPU for NumPy data: KeOps, else CuPy."""
    backends = available_backends()
    return "keops" if "keops" in backends else "cupy" if "cupy" in backends else "auto"


def seconds(call):
    """(result, wall seconds) of ``call()``, the device synchronized after it."""
    t0 = time.perf_counter()
    result = call()
    if torch.cuda.is_available():
        torch.cuda.synchronize()
    return result, time.perf_counter() - t0


def time_device(device, X_train, X_test, args):
    """One row: fit, exact and SDE sampling and score_samples timed on ``device``."""
    backend = gpu_backend() if device == "cuda" else "auto"
    params = {"device": device, "backend": backend, "progress": False, "random_state": 0}
    # Untimed: CUDA context, KeOps compilation, first calls of every path.
    warm = WPOKernelScore(max_steps=2, **params).fit(X_train[:200])
    warm.sample(50, random_state=0, method="sde", n_steps=2)
    warm.score_samples(X_test[:50])
    model, fit_s = seconds(lambda: WPOKernelScore(max_steps=args.max_steps, **params).fit(X_train))
    _, exact_s = seconds(lambda: model.sample(args.n_samples, random_state=1))
    _, sde_s = seconds(lambda: model.sample(args.n_samples, random_state=1, method="sde",
                                            n_steps=args.n_steps))
    log_p, score_s = seconds(lambda: model.score_samples(X_test))
    return {"device": device, "backend": backend, "fit s": fit_s, "steps": model.n_train_steps_,
            "exact sample s": exact_s, "SDE sample s": sde_s, "score_samples s": score_s,
            "log_p": log_p}


def table_line(row, cpu_log_p):
    """One row of the table; a CUDA row compared with the log-density of the CPU row before it."""
    gap = "-"
    if cpu_log_p is not None and row["device"] != "cpu":
        gap = f"{np.max(np.abs(row['log_p'] - cpu_log_p)):.1e}"
    cells = [row["device"], row["backend"], f"{row['fit s']:.2f}", str(row["steps"])]
    return " | ".join(cells + [f"{row[c]:.3f}" for c in COLUMNS[4:7]] + [gap])


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--quick", action="store_true", help="smoke run: 300 points, 20 steps, 500 samples")
    p.add_argument("--devices", nargs="+", choices=("cpu", "cuda"), default=["cpu", "cuda"])
    p.add_argument("--dataset", default="2spirals", help="a toy of wpokernel.datasets.make_toy")
    p.add_argument("--n-train", type=int, default=2000)
    p.add_argument("--n-test", type=int, default=1000)
    p.add_argument("--n-samples", type=int, default=2000)
    p.add_argument("--n-steps", type=int, default=50, help="steps of the SDE sampler")
    p.add_argument("--max-steps", type=int, default=200, help="training steps of each fit")
    p.add_argument("--threads", type=int, help="torch.set_num_threads on the CPU")
    args = p.parse_args(argv)
    if args.quick:
        args.n_train, args.n_test, args.n_samples, args.n_steps, args.max_steps = 300, 200, 500, 10, 20
    return args


def main(argv=None):
    args = parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    print("command: python " + " ".join(["benchmarks/bench_wpo_device.py"] + sys.argv[1:]))
    X = make_toy(args.dataset, args.n_train + args.n_test, random_state=0)
    X_train, X_test = X[:args.n_train], X[args.n_train:]
    print(f"data: {args.dataset}, {args.n_train} training and {args.n_test} test points; "
          f"{args.n_samples} samples, {args.n_steps} SDE steps, max_steps={args.max_steps}")
    print(" | ".join(COLUMNS))
    cpu_log_p = None
    for device in args.devices:
        if device == "cuda" and not torch.cuda.is_available():
            print("skipped: device cuda (torch sees no CUDA device)")
            continue
        if device == "cuda":
            print(f"GPU: {torch.cuda.get_device_name(0)}")
        row = time_device(device, X_train, X_test, args)
        # Printed at once: an outer time limit keeps the rows that were finished.
        print(table_line(row, cpu_log_p), flush=True)
        cpu_log_p = row["log_p"] if device == "cpu" else cpu_log_p


if __name__ == "__main__":
    main()
