#!/usr/bin/env python
r"""Why training keeps step 0 at image scale: the leave-out objective against held-out data.

:class:`~wpokernel.WPOKernelScore` (``"lowrank"``) trains the scales of fixed local factors on
the held-out likelihood of its fitting points: a point :math:`x_i` is scored against the
centers outside its batch, which leaves out its own component but not the neighbourhoods it
belongs to. The local factors of the centers near :math:`x_i` were computed from
neighbourhoods that contain :math:`x_i`, so they span the direction towards it, and the
objective rewards a smaller floor under them more than fresh data does.

This script scales the fitted initialization on ``digits`` (the split of
``benchmarks/bench_wpo.py``) — its local part :math:`L_k H_k^2 L_k^\top` by :math:`c_L`, its
floor :math:`\sigma_k^2 \operatorname{diag}(f_k)` by :math:`c_f` — and measures, with dense
:math:`d \times d` Gaussians (no code of the training loop):

* **leave-self-out**: the mean over the centers :math:`x_i` of
  :math:`\log \frac{1}{K - 1} \sum_{j \ne i} N(x_i; z_j, C_j)`, what training maximizes
  (up to the other batch members it also leaves out);
* **test**: the mean test log-likelihood of the same mixture;
* **honest split**: the isotropic-floor initialization rebuilt with every neighbourhood
  taken from a random half :math:`A` of the centers, scored leave-self-out on the other half
  (whose points are then in no neighbourhood), beside its own test log-likelihood.

Log-likelihoods are in the model's standardized coordinates (the data's spread is 1), so
they differ from the page ``wpo.md`` by the constant :math:`d \log \rho`; only their
differences across rows matter. Writes ``wpo_leave_out.md`` into ``--output-dir`` (default
``docs/benchmarks``); ``--quick`` is a smoke run.
"""

import argparse
import shlex
import sys
import time
from pathlib import Path

import numpy as np
import scipy.linalg
import torch
from scipy.special import logsumexp

from wpokernel import WPOKernelScore
from wpokernel.reductions import ScaledLowRank

sys.path.insert(0, str(Path(__file__).parent))
import bench_wpo  # noqa: E402
import run  # noqa: E402

# The gallery's dense reference of a covariance structure, not a copy of it.
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "examples"))
from _gallery import dense_covariances  # noqa: E402

SCALINGS = (0.5, 1.0, 2.0)


def scaled_covariances(structure, n_centers, local_scaling=1.0, floor_scaling=1.0):
    r"""The :math:`C_k` of a fitted ``ScaledLowRank`` with its local part scaled by
    :math:`c_L` (its column scales by :math:`\sqrt{c_L}`) and its floor by :math:`c_f`, as
    dense matrices (the gallery's :func:`_gallery.dense_covariances`)."""
    scaled = ScaledLowRank(floor_scaling * np.asarray(structure.variance, dtype=float),
                           structure.profile, structure.factors,
                           np.sqrt(local_scaling) * np.asarray(structure.column_scales, dtype=float),
                           structure.added_variance)
    return dense_covariances(scaled, n_centers, np.asarray(structure.factors).shape[1])


def log_kernels(X, centers, covariances):
    """:math:`\\log N(x_n; z_k, C_k)`, (n, K), one Cholesky factor per center."""
    out = np.empty((len(X), len(centers)))
    d = centers.shape[1]
    for k, (z, C) in enumerate(zip(centers, covariances)):
        cholesky = np.linalg.cholesky(C)
        solved = scipy.linalg.solve_triangular(cholesky, (X - z).T, lower=True)
        out[:, k] = -0.5 * (solved**2).sum(0) - np.log(np.diag(cholesky)).sum() - 0.5 * d * np.log(
            2 * np.pi)
    return out


def leave_self_out(log_k, own):
    """Mean of :math:`\\log \\frac{1}{K - 1} \\sum_{j \\ne own(n)} e^{\\ell_{nj}}`."""
    log_k = log_k.copy()
    log_k[np.arange(len(log_k)), own] = -np.inf
    return float(np.mean(logsumexp(log_k, axis=1) - np.log(log_k.shape[1] - 1)))


def mixture_mean(log_k):
    return float(np.mean(logsumexp(log_k, axis=1) - np.log(log_k.shape[1])))


def pooled_factors(centers, pool, n_neighbors, rank):
    r"""Rank-``rank`` local factors of every center from its ``n_neighbors`` nearest points of
    ``centers[pool]`` other than itself, :math:`V \Lambda^{1/2}` of their covariance."""
    factors = np.empty((len(centers), centers.shape[1], rank))
    for k, z in enumerate(centers):
        distances = ((centers[pool] - z) ** 2).sum(1)
        distances[pool == k] = np.inf
        diff = centers[pool[np.argsort(distances)[:n_neighbors]]] - z
        eigenvalues, vectors = np.linalg.eigh(diff.T @ diff / n_neighbors)
        factors[k] = vectors[:, -rank:] * np.sqrt(np.clip(eigenvalues[-rank:], 0.0, None))
    return factors


def measure(X_train, X_test, seed, scalings=SCALINGS):
    """Rows (objective, c_L, c_f, leave-out value, test value)."""
    model = WPOKernelScore(max_steps=0, random_state=seed, progress=False).fit(X_train)
    centers, K = model.field_.centers, len(model.field_.centers)
    U_test = (X_test - model.mean_) / model.scale_
    rows = []
    for c_local in scalings:
        for c_floor in scalings:
            C = scaled_covariances(model.field_.covariance, K, c_local, c_floor)
            rows.append(("leave-self-out", c_local, c_floor,
                         leave_self_out(log_kernels(centers, centers, C), np.arange(K)),
                         mixture_mean(log_kernels(U_test, centers, C))))
    isotropic = WPOKernelScore(max_steps=0, floor="isotropic", random_state=seed,
                               progress=False).fit(X_train)
    half = np.zeros(K, dtype=bool)
    half[np.random.default_rng(seed).permutation(K)[:K // 2]] = True
    factors = np.sqrt(isotropic.local_scale_) * pooled_factors(
        centers, np.flatnonzero(half), isotropic.n_neighbors_, isotropic.rank_)
    floor = isotropic.local_variance_ + isotropic.covariance_floor_
    B = np.flatnonzero(~half)
    for c_local in scalings:
        for c_floor in scalings:
            C = (c_local * factors @ factors.transpose(0, 2, 1)
                 + c_floor * floor * np.eye(centers.shape[1]))
            rows.append(("honest split", c_local, c_floor,
                         leave_self_out(log_kernels(centers[B], centers, C), B),
                         mixture_mean(log_kernels(U_test, centers, C))))
    return model, rows


def write_markdown(model, rows, path, *, command, seconds):
    lines = [
        "# The leave-out objective of WPOKernelScore against held-out data",
        "",
        f"Produced by `{command}` in {seconds:.0f} s, on digits (the split of "
        f"`benchmarks/bench_wpo.py`). The default initialization: {model.structure_}, rank "
        f"{model.rank_}, {model.n_neighbors_} neighbours, {model.floor_} floor. The script's "
        "docstring defines the rows; mean log-likelihoods in nats, in standardized "
        "coordinates (compare rows, not with `wpo.md`).",
        "",
        "| objective | local part x c_L | floor x c_f | leave-out objective | test |",
        "| --- | --- | --- | --- | --- |",
    ]
    lines += [f"| {name} | {c_local:g} | {c_floor:g} | {value:.2f} | {test:.2f} |"
              for name, c_local, c_floor, value, test in rows]
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(lines) + "\n")


def _parse(argv):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="smoke run: 200 training images")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--output-dir", type=Path, default=Path("docs/benchmarks"))
    return parser.parse_args(argv)


def main(argv=None):
    args = _parse(argv)
    torch.set_num_threads(1)
    start = time.perf_counter()
    n_train, n_test = (200, 100) if args.quick else (1200, 597)
    X_train, X_test = bench_wpo._split(run.DATASETS["digits"], n_train, n_test, args.seed)
    model, rows = measure(X_train, X_test, args.seed)
    for row in rows:
        print("{}: c_L={:g} c_f={:g}: leave-out {:.2f}, test {:.2f}".format(*row), flush=True)
    command = "python benchmarks/bench_wpo_leave_out.py " + shlex.join(
        argv if argv is not None else sys.argv[1:])
    path = args.output_dir / "wpo_leave_out.md"
    write_markdown(model, rows, path, command=command.strip(),
                   seconds=time.perf_counter() - start)
    print(f"wrote {path}")
    return rows


if __name__ == "__main__":
    main()
