#!/usr/bin/env python
"""Benchmark of score evaluation with ``wpokernel.reductions.mixture_moments``.

Measures the log-density and score of an isotropic, uniformly weighted Gaussian mixture
(``M`` queries against ``N`` centers in ``d`` dimensions) with every available backend of
the library (``numpy`` blocked, ``torch`` blocked, ``keops``, ``auto``) and with three peers
computed in the same run:

* ``dense``: NumPy broadcasting, ``D = ((x[:, None] - z[None]) ** 2).sum(-1)``, then
  ``scipy.special.logsumexp`` / ``softmax`` and ``w @ z`` (materializes ``M x N x d``);
* ``cdist``: ``torch.cdist`` -> ``log_softmax`` -> ``weights @ z``;
* ``hand-keops``: a hand-written ``pykeops.numpy`` LazyTensor reduction
  (``sumsoftmaxweight`` plus ``logsumexp``), when pykeops is installed.

For each (case, backend): a warm-up on a slice of the queries (compiles KeOps formulas and
gives a time estimate used to skip absurdly long runs), one full-size call under
``tracemalloc`` with the process peak RSS reset (memory), then the median of up to
``--repeats`` untraced full-size calls (time). Every result is checked against the dense
reference (the ``numpy`` backend where dense is skipped).

``--profile gpu`` measures the GPU engines instead: float32 data drawn on the CUDA device,
M = N from 10^4 to 10^6 and d in {2, 16, 64, 784}, with ``auto``, ``keops``, the hand-written
KeOps reduction on torch tensors, the blocked ``torch`` engine (at the default working
memory and at ``--gpu-working-memory``), ``cupy`` and a dense torch reference
(``dense-torch``). Each call is followed by ``torch.cuda.synchronize()``; rows give the
peak device memory of one call and the achieved TFLOP/s at a nominal ``4 d + 7`` flops per
pair, as a fraction of the device's FP32 peak (SMs x FP32 lanes x max SM clock x 2).
``--time-budget`` stops starting new rows after that many seconds. Without a CUDA device the
profile runs on the CPU (``benchmarks/gpu_check.sh --dry-run`` does so with ``--quick``).

Run ``python benchmarks/bench_reductions.py --help`` for the options; ``--quick`` is a
smoke run of a few seconds once the KeOps formulas are compiled.
"""

import argparse
import gc
import math
import os
import platform
import statistics
import sys
import time
import tracemalloc
import warnings
from dataclasses import dataclass, field

import numpy as np
from scipy.special import logsumexp, softmax

try:
    from tqdm.auto import tqdm
except ImportError:  # the progress bar is optional
    tqdm = None

import wpokernel
from wpokernel.reductions import Isotropic, available_backends, mixture_moments, resolve_backend

GB = 1e9
MB = 2**20
DENSE_LIMIT_BYTES = 8 * GB  # the M x N x d broadcast of the dense peer
CDIST_LIMIT_BYTES = 8 * GB  # the M x N distance and log-softmax matrices of the cdist peer
PEERS = ("dense", "cdist", "hand-keops")
LIBRARY_BACKENDS = ("numpy", "torch", "keops", "auto")
REFERENCE_ORDER = ("dense", "numpy", "hand-keops", "keops", "cdist", "torch")


# ----------------------------------------------------------------------------------------
# Cases
# ----------------------------------------------------------------------------------------


@dataclass
class Case:
    name: str
    n_queries: int
    n_centers: int
    n_features: int
    working_memory: float = 256.0
    # Backends run even when their estimated time exceeds --max-call-seconds.
    required: tuple = ()
    note: str = ""

    @property
    def variance(self):
        # 0.05 d: the softmax over centers neither collapses onto the nearest center nor
        # flattens to uniform weights as d grows (0.1 at d = 2).
        return 0.05 * self.n_features

    @property
    def pairs(self):
        return self.n_queries * self.n_centers


def default_cases():
    cases = [Case("20000x20000 d=2", 20_000, 20_000, 2, note="headline")]
    cases += [Case(f"5000x5000 d={d}", 5_000, 5_000, d) for d in (2, 16, 64, 784)]
    cases.append(Case("1000x1000000 d=2", 1_000, 1_000_000, 2, required=("numpy",),
                      note="memory: numpy backend under the default 256 MiB budget"))
    return cases


def quick_cases():
    return [
        Case("2000x2000 d=2", 2_000, 2_000, 2),
        Case("1000x1000 d=16", 1_000, 1_000, 16),
        Case("100x50000 d=2", 100, 50_000, 2, working_memory=4.0, required=("numpy",),
             note="memory: numpy backend under a 4 MiB budget"),
    ]


def make_data(case, seed):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((case.n_queries, case.n_features))
    z = rng.standard_normal((case.n_centers, case.n_features))
    return x, z


# ----------------------------------------------------------------------------------------
# Implementations: each returns (log_density (M,), displacement (M, d)) as NumPy arrays;
# the score is -displacement.
# ----------------------------------------------------------------------------------------


def _log_normalizer(n_centers, n_features, variance):
    # uniform weights 1/N and the Gaussian normalizing constant of N(0, variance I_d)
    return -math.log(n_centers) - 0.5 * n_features * math.log(2.0 * math.pi * variance)


def dense_numpy(x, z, variance, working_memory):
    del working_memory
    D = ((x[:, None, :] - z[None, :, :]) ** 2).sum(-1)  # materializes (M, N, d)
    logits = -D / (2.0 * variance)
    del D
    log_density = logsumexp(logits, axis=1) + _log_normalizer(*z.shape, variance)
    w = softmax(logits, axis=1)
    displacement = (x - w @ z) / variance
    return log_density, displacement


def dense_torch(xt, zt, variance, working_memory):
    """``torch.cdist`` -> ``log_softmax`` -> ``weights @ z`` on torch tensors (any device)."""
    import torch

    del working_memory
    logits = torch.cdist(xt, zt).square_().mul_(-0.5 / variance)  # (M, N)
    log_w = torch.log_softmax(logits, dim=1)
    log_density = torch.logsumexp(logits, dim=1) + _log_normalizer(*zt.shape, variance)
    del logits
    displacement = (xt - log_w.exp_() @ zt) / variance
    return log_density, displacement


def torch_cdist(x, z, variance, working_memory):
    import torch

    out = dense_torch(torch.from_numpy(x), torch.from_numpy(z), variance, working_memory)
    return tuple(a.numpy() for a in out)


def hand_keops(x, z, variance, working_memory):
    """A hand-written KeOps reduction, in ``pykeops.torch`` for tensors, else ``pykeops.numpy``."""
    if type(x).__module__.startswith("torch"):
        from pykeops.torch import LazyTensor
    else:
        from pykeops.numpy import LazyTensor

    del working_memory
    x_i = LazyTensor(x[:, None, :])
    z_j = LazyTensor(z[None, :, :])
    D_ij = ((x_i - z_j) ** 2).sum(-1)
    logits = -D_ij / (2.0 * variance)
    mean_z = logits.sumsoftmaxweight(z_j, axis=1)  # sum_j w_ij z_j
    log_density = logits.logsumexp(axis=1)[:, 0] + _log_normalizer(*z.shape, variance)
    return log_density, (x - mean_z) / variance


def library(backend, fixed_working_memory=None):
    """``mixture_moments`` with ``backend``, under the case's budget unless one is fixed."""
    def run(x, z, variance, working_memory):
        out = mixture_moments(x, z, Isotropic(variance), score=True, backend=backend,
                              working_memory=fixed_working_memory or working_memory)
        return out.log_density, out.displacement

    return run


def keops_installed():
    return "keops" in available_backends()


def implementations():
    impls = {"dense": dense_numpy, "cdist": torch_cdist}
    if keops_installed():
        impls["hand-keops"] = hand_keops
    for name in LIBRARY_BACKENDS:
        if name == "keops" and not keops_installed():
            continue
        impls[name] = library(name)
    return impls


# ----------------------------------------------------------------------------------------
# Memory: tracemalloc (NumPy allocations) and the process peak RSS (everything)
# ----------------------------------------------------------------------------------------


def _status_kb(key):
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith(key + ":"):
                    return int(line.split()[1])
    except OSError:
        pass
    return None


def _reset_peak_rss():
    """Reset VmHWM to the current RSS (Linux >= 4.0); False where not possible."""
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
        return True
    except OSError:
        return False


def mem_available_bytes():
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return None


def measured_call(fn, args):
    """One call with tracemalloc on and the peak RSS reset: (result, seconds, traced MiB, RSS+ MiB)."""
    gc.collect()
    rss_ok = _reset_peak_rss()
    rss0 = _status_kb("VmRSS")
    tracemalloc.start()
    t0 = time.perf_counter()
    result = fn(*args)
    seconds = time.perf_counter() - t0
    traced = tracemalloc.get_traced_memory()[1] / MB
    tracemalloc.stop()
    hwm = _status_kb("VmHWM")
    # max(0, .): the RSS can shrink between the reset and the read-out
    rss = max(0.0, (hwm - rss0) / 1024) if rss_ok and hwm is not None and rss0 is not None else None
    return result, seconds, traced, rss


def timed_call(fn, args):
    gc.collect()
    t0 = time.perf_counter()
    fn(*args)
    return time.perf_counter() - t0


# ----------------------------------------------------------------------------------------
# Running one case
# ----------------------------------------------------------------------------------------


@dataclass
class Row:
    case: str
    backend: str
    seconds: float = None
    repeats: int = 0
    traced_only: bool = False  # the time comes from the tracemalloc call (no untraced repeat)
    traced_mb: float = None
    rss_mb: float = None
    error: float = None
    reference: str = ""
    note: str = ""
    result: tuple = field(default=None, repr=False)
    # GPU profile: peak device memory of the call and the achieved throughput
    device_mb: float = None
    tflops: float = None
    peak_fraction: float = None

    @property
    def skipped(self):
        return self.seconds is None


def static_skip(name, case):
    """Reason to skip before running anything (memory of the dense peers), or None."""
    M, N, d = case.n_queries, case.n_centers, case.n_features
    if name == "dense" and M * N * d * 8 > DENSE_LIMIT_BYTES:
        return f"skipped (would need {M * N * d * 8 / GB:.1f} GB for the M x N x d array)"
    if name == "cdist" and 2 * M * N * 8 > CDIST_LIMIT_BYTES:
        return f"skipped (would need {2 * M * N * 8 / GB:.1f} GB for two M x N matrices)"
    return None


def probe_size(name, case):
    """Queries in the warm-up slice: about 2% of them, and small enough to be cheap in memory."""
    M, N, d = case.n_queries, case.n_centers, case.n_features
    m = max(32, M // 50)
    if name == "dense":
        m = min(m, max(1, int(256 * MB // (3 * N * d * 8))))
    elif name == "cdist":
        m = min(m, max(1, int(256 * MB // (3 * N * 8))))
    return min(M, m)


def run_backend(name, fn, case, x, z, args, log):
    row = Row(case.name, name)
    if name == "auto":
        row.backend = f"auto ({resolve_backend('auto', 'numpy', x.shape[0], z.shape[0], x.shape[1])})"
    reason = static_skip(name, case)
    if reason:
        row.note = reason
        return row
    call_args = (x, z, case.variance, case.working_memory)

    # Warm-up on a slice of the queries: compiles KeOps, initializes torch, gives an estimate.
    m = probe_size(name, case)
    probe_args = (x[:m], z, case.variance, case.working_memory)
    fn(*probe_args)
    _, t_probe, traced_probe, rss_probe = measured_call(fn, probe_args)
    scale = case.n_queries / m
    estimate = t_probe * scale
    if name in ("dense", "cdist"):
        need = max(traced_probe or 0.0, rss_probe or 0.0) * MB * scale
        avail = mem_available_bytes()
        if avail is not None and need > 0.9 * avail:
            row.note = (f"skipped (would need about {need / GB:.1f} GB, "
                        f"{avail / GB:.1f} GB available)")
            return row
    row.note = too_slow(name, case, estimate, m, args)
    if row.note:
        return row

    # Memory: one full-size call under tracemalloc with the peak RSS reset.
    row.result, t_mem, row.traced_mb, row.rss_mb = measured_call(fn, call_args)
    if name in ("torch", "cdist"):
        row.traced_mb = None  # torch's allocator is invisible to tracemalloc
    time_repeats(row, lambda: timed_call(fn, call_args), t_mem, args)
    log_timed(log, row, estimate)
    return row


def too_slow(name, case, estimate, m, args):
    """Skip note when the warm-up estimates a call above --max-call-seconds, else ''."""
    if estimate > args.max_call_seconds and name not in case.required:
        return (f"skipped (estimated {estimate:.0f} s per call from a {m}-query warm-up, "
                f"> --max-call-seconds {args.max_call_seconds:g})")
    return ""


def time_repeats(row, timer, t_mem, args):
    """Median of as many further full-size calls as fit in --repeat-budget (else the first)."""
    n = min(args.repeats, int(args.repeat_budget // max(t_mem, 1e-9)))
    if n >= 1:
        row.seconds = statistics.median(timer() for _ in range(n))
        row.repeats = n
    else:
        row.seconds, row.repeats, row.traced_only = t_mem, 1, True


def log_timed(log, row, estimate):
    log(f"  {row.backend:<18} {row.seconds:9.3f} s  (n={row.repeats}{'*' if row.traced_only else ''}, "
        f"warm-up estimate {estimate:.2f} s)")


def check_errors(rows, order=REFERENCE_ORDER):
    """Max relative error of each row against the first of ``order`` that ran (dense, ...).

    A row is never compared with itself, and ``auto`` not with the backend it resolved to.
    """
    done = {r.backend.split(" ")[0]: r for r in rows if not r.skipped}
    for row in rows:
        if row.skipped:
            continue
        own = {part.strip("()") for part in row.backend.split(" ")}
        ref_name = next((n for n in order if n in done and n not in own), None)
        if ref_name is None:
            continue
        ref = done[ref_name].result
        errs = [np.max(np.abs(a - b)) / max(np.max(np.abs(b)), np.finfo(float).tiny)
                for a, b in zip(row.result, ref)]
        row.error, row.reference = float(max(errs)), ref_name


def past_deadline(args):
    return args.deadline is not None and time.perf_counter() > args.deadline


def run_one(profile, name, fn, case, data, args, log):
    """One (case, backend) row; past the --time-budget deadline a skipped one."""
    if past_deadline(args):
        return Row(case.name, name, note=f"skipped (--time-budget {args.time_budget:g} s spent)")
    try:
        return profile.run(name, fn, case, data, args, log)
    except Exception as exc:  # report, keep going: one broken backend is a result too
        return Row(case.name, name, note=f"failed: {exc!r}"[:200])


def run_case(case, impls, args, log, progress, profile):
    log(f"\n{case.name}  (M={case.n_queries}, N={case.n_centers}, d={case.n_features}, "
        f"variance={case.variance:g}, working_memory={case.working_memory:g} MiB)"
        + (f"  [{case.note}]" if case.note else ""))
    # Past the deadline every row is skipped: no need for the (possibly large) data.
    data = None if past_deadline(args) else profile.data(case, args.seed)
    rows = []
    for name, fn in impls.items():
        if args.backends and name not in args.backends:
            continue
        if progress is not None:
            progress.set_postfix_str(f"{case.name}: {name}")
        row = run_one(profile, name, fn, case, data, args, log)
        if row.skipped:
            log(f"  {row.backend:<18} {row.note}")
        rows.append(row)
        if progress is not None:
            progress.update(1)
    check_errors(rows, profile.reference_order)
    for row in rows:
        row.result = None
    return rows


# ----------------------------------------------------------------------------------------
# GPU profile (--profile gpu): float32 data on the CUDA device, synchronized timings, peak
# device memory and the achieved fraction of the device's FP32 peak. Without a CUDA device
# the same code runs on the CPU (a dry run: no device memory, no peak).
# ----------------------------------------------------------------------------------------

GPU_SIZES = (10_000, 100_000, 1_000_000)
GPU_DIMS = (2, 16, 64, 784)
GPU_PEERS = ("dense-torch", "torch-wm", "cupy")
GPU_REFERENCE_ORDER = ("dense-torch", "torch", "hand-keops", "keops", "torch-wm", "cupy")
# The dense peer holds about three M x N float32 matrices (distances, log-weights, the
# log-sum-exp's work space); it runs only where they take under this share of free memory.
DENSE_FREE_FRACTION = 0.4
# FP32 lanes per streaming multiprocessor by compute capability (CUDA C++ Programming Guide,
# "Arithmetic Instructions"): 64 on Volta, Turing and the A100, 128 from compute 8.6 on.
FP32_LANES_PER_SM = {(7, 0): 64, (7, 5): 64, (8, 0): 64, (8, 6): 128, (8, 7): 128, (8, 9): 128,
                     (9, 0): 128, (10, 0): 128, (12, 0): 128}


def flops_per_pair(n_features):
    """Nominal flops of one (query, center) pair, the same for every engine: the logits and
    the weighted sum of ``[1, z_j]`` as matrix products of inner sizes d + 2 and d + 1 (a
    multiply-add counts 2), and one exp."""
    return 4 * n_features + 7


def gpu_cases(quick):
    sizes, dims = ((2_000,), (2, 16)) if quick else (GPU_SIZES, GPU_DIMS)
    return [Case(f"{n}x{n} d={d}", n, n, d) for n in sizes for d in dims]


def gpu_implementations(working_memory):
    """Engines on torch tensors of the device; each returns torch tensors there."""
    impls = {"dense-torch": dense_torch}
    if keops_installed():
        impls["hand-keops"] = hand_keops
        impls["keops"] = library("keops")
    impls["torch"] = library("torch")
    impls["torch-wm"] = library("torch", working_memory)
    if "cupy" in available_backends():
        impls["cupy"] = library("cupy")
    impls["auto"] = library("auto")
    return impls


def max_sm_clock_mhz():
    """Maximum SM clock of GPU 0 from nvidia-smi, or None."""
    import subprocess

    query = ["nvidia-smi", "--query-gpu=clocks.max.sm", "--format=csv,noheader,nounits", "--id=0"]
    try:
        out = subprocess.run(query, capture_output=True, text=True, check=True, timeout=60).stdout
        return float(out.split()[0])
    except (OSError, subprocess.SubprocessError, ValueError, IndexError):
        return None


def fp32_peak(torch, override):
    """(FP32 peak of CUDA device 0 in TFLOP/s, how it was found); (None, why) if unknown."""
    if override:
        return override, "given by --peak-tflops"
    props = torch.cuda.get_device_properties(0)
    lanes = FP32_LANES_PER_SM.get((props.major, props.minor))
    mhz = max_sm_clock_mhz()
    if lanes is None or mhz is None:
        return None, (f"unknown (compute capability {props.major}.{props.minor}, max SM clock "
                      f"{mhz} MHz); pass --peak-tflops")
    sms = props.multi_processor_count
    return (2 * sms * lanes * mhz * 1e6 / 1e12,
            f"2 x {sms} SMs x {lanes} FP32 lanes x {mhz:.0f} MHz (nvidia-smi max SM clock)")


def cupy_pool():
    """CuPy's default memory pool where CuPy runs, else None."""
    if "cupy" not in available_backends():
        return None
    import cupy

    return cupy.get_default_memory_pool()


def gpu_table_rows(rows):
    out = []
    for r, (ratio,) in zip(rows, _speedups(rows, ("dense-torch",))):
        percent = None if r.peak_fraction is None else 100.0 * r.peak_fraction
        out.append((
            r.case, r.backend, *_time_cells(r, ".4f"), ratio, _fmt(r.tflops, ".2f"),
            _fmt(percent, ".1f"), _fmt(r.device_mb, ".0f"), _fmt(r.error, ".1e"),
            r.reference or "-", r.note,
        ))
    return out


GPU_COLUMNS = ("case", "backend", "time s", "n", "x dense", "TFLOP/s", "% FP32 peak",
               "device MiB", "max rel err", "ref", "note")

GPU_INTRO = """Log-density and score of an isotropic Gaussian mixture with uniform weights, M = N
queries and centers in d dimensions, float32 on the GPU, with the library backends (`auto`,
`keops`, the blocked `torch` engine at the default 256 MiB budget and at `--gpu-working-memory`
(`torch-wm`), `cupy`), a hand-written KeOps LazyTensor reduction (`hand-keops`) and a dense
torch reference (`dense-torch`: `torch.cdist`, `log_softmax`, `weights @ z`)."""

GPU_LEGEND = """\
- time s: median wall time of n full-size calls, each followed by torch.cuda.synchronize(),
  after a warm-up on about 2% of the queries (it compiles KeOps); n* means only the first
  full-size call fitted in --repeat-budget.
- x dense: dense-torch time / backend time (> 1: the backend is faster).
- TFLOP/s: M N (4 d + 7) / time, the nominal work of the logits and the weighted sum of
  [1, z] as two matrix products and one exp per pair, the same count for every engine;
  % FP32 peak: that over the device's FP32 peak (machine line; TF32 is off in torch matmul
  unless the machine line says otherwise).
- device MiB: torch.cuda.max_memory_allocated() growth during one full-size call (after
  torch.cuda.empty_cache()), plus the bytes CuPy's memory pool held after the call (it keeps
  freed blocks, so that is its peak); KeOps allocates through torch.
- max rel err: max over the log-density and the score of max|a - b| / max|b| against 'ref'
  (dense-torch when it ran, else the blocked torch engine); float32 throughout.
- Data: x, z ~ N(0, I_d) drawn on the device (torch.randn, seeded), isotropic variance
  0.05 d, uniform weights, float32."""


# ----------------------------------------------------------------------------------------
# Output
# ----------------------------------------------------------------------------------------

COLUMNS = ("case", "backend", "time s", "n", "x dense", "x hand-KeOps", "traced MB",
           "RSS+ MB", "max rel err", "ref", "note")


def _fmt(value, spec):
    return "-" if value is None else format(value, spec)


def _time_cells(r, spec=".3f"):
    """The ``time s`` and ``n`` cells of a row."""
    if r.skipped:
        return "-", "-"
    return format(r.seconds, spec), f"{r.repeats}{'*' if r.traced_only else ''}"


def _speedups(rows, peers):
    """Per row, ``peer time / row time`` for each of ``peers`` in its case (``-`` if not run)."""
    by_case = {}
    for r in rows:
        by_case.setdefault(r.case, {})[r.backend.split(" ")[0]] = r
    out = []
    for r in rows:
        cells = []
        for peer in peers:
            p = by_case[r.case].get(peer)
            ok = p is not None and not p.skipped and not r.skipped
            cells.append(f"{p.seconds / r.seconds:.2f}" if ok else "-")
        out.append(cells)
    return out


def table_rows(rows):
    out = []
    for r, ratios in zip(rows, _speedups(rows, ("dense", "hand-keops"))):
        out.append((
            r.case, r.backend, *_time_cells(r), *ratios,
            _fmt(r.traced_mb, ".1f"), _fmt(r.rss_mb, ".0f"),
            _fmt(r.error, ".1e"), r.reference or "-", r.note,
        ))
    return out


def text_table(rows, columns=COLUMNS, body_rows=table_rows):
    """Aligned plain-text table: two text columns, seven numeric ones, two text ones."""
    body = body_rows(rows)
    widths = [max(len(c), *(len(b[i]) for b in body)) for i, c in enumerate(columns)]
    numeric = {2, 3, 4, 5, 6, 7, 8}

    def line(cells):
        return "  ".join(c.rjust(w) if i in numeric else c.ljust(w)
                         for i, (c, w) in enumerate(zip(cells, widths))).rstrip()

    sep = "  ".join("-" * w for w in widths)
    return "\n".join([line(columns), sep] + [line(b) for b in body])


def markdown_table(rows, columns=COLUMNS, body_rows=table_rows):
    body = body_rows(rows)
    align = ["---", "---"] + ["---:"] * 7 + ["---", "---"]
    lines = ["| " + " | ".join(columns) + " |", "| " + " | ".join(align) + " |"]
    lines += ["| " + " | ".join(c.replace("|", "\\|") for c in b) + " |" for b in body]
    return "\n".join(lines)


LEGEND = """\
- time s: median wall time (time.perf_counter) of n untraced full-size calls after a warm-up;
  n* means the only full-size call was the tracemalloc one (it was longer than --repeat-budget).
- x dense, x hand-KeOps: peer time / backend time (> 1: the backend is faster than the peer).
- traced MB: peak of tracemalloc during one full-size call (NumPy allocations, including the
  result and any copies; torch and KeOps internal buffers are invisible to it, so torch and
  cdist show '-').
- RSS+ MB: growth of the process peak resident set (VmHWM, reset through
  /proc/self/clear_refs) over the RSS before the same call; it sees every allocator, but
  memory already resident (allocator caches) is not counted again.
- max rel err: max over the log-density and the score of max|a - b| / max|b| against 'ref'
  (dense when it ran, else the numpy backend; the numpy row, and auto when it resolved to
  numpy, are compared with the hand-written KeOps).
- Data: x, z ~ N(0, I_d), isotropic variance 0.05 d, uniform weights, float64."""


def machine_description():
    import scipy
    import torch

    try:
        import pykeops

        keops = pykeops.__version__
    except ImportError:
        keops = "not installed"
    cpu = platform.processor() or "unknown CPU"
    try:
        with open("/proc/cpuinfo") as f:
            cpu = next(line.split(":", 1)[1].strip() for line in f if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    mem = None
    try:
        with open("/proc/meminfo") as f:
            mem = int(next(line for line in f if line.startswith("MemTotal")).split()[1]) / 2**20
    except (OSError, StopIteration):
        pass
    gpu = "CUDA available" if torch.cuda.is_available() else "CPU only"
    return (f"{cpu}, {cores} cores, {mem:.0f} GiB RAM, {gpu}; {platform.system()} "
            f"{platform.release()}, Python {platform.python_version()}; wpokernel "
            f"{getattr(wpokernel, '__version__', '?')} ({library_revision()}), numpy {np.__version__}, scipy "
            f"{scipy.__version__}, torch {torch.__version__} ({torch.get_num_threads()} threads), "
            f"pykeops {keops}")


def library_revision():
    """Git commit of the library being measured, and whether wpokernel/ has local changes."""
    import subprocess

    root = os.path.dirname(os.path.dirname(os.path.abspath(wpokernel.__file__)))
    try:
        commit = subprocess.run(["git", "-C", root, "rev-parse", "--short", "HEAD"], capture_output=True,
                                text=True, check=True).stdout.strip()
        dirty = subprocess.run(["git", "-C", root, "status", "--porcelain", "--", "wpokernel"],
                               capture_output=True, text=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "not a git checkout"
    return f"git {commit}" + (", wpokernel/ modified" if dirty else "")


def load_average():
    try:
        return "{:.2f} {:.2f} {:.2f}".format(*os.getloadavg())
    except OSError:
        return "n/a"


CPU_INTRO = """Log-density and score of an isotropic Gaussian mixture with uniform weights, M queries x N
centers in d dimensions, with the library backends (`numpy` and `torch` blocked, `keops`,
`auto`) and three peers: dense NumPy broadcasting (`dense`), `torch.cdist` (`cdist`) and a
hand-written KeOps LazyTensor reduction (`hand-keops`)."""


def write_markdown(path, profile, rows, command, machine, load_start, load_end, total_s):
    text = f"""# {profile.title}

Generated by `benchmarks/bench_reductions.py`.

Command: `{command}`

Machine: {machine}.

Load average (1, 5, 15 min) at the start: {load_start}; at the end: {load_end}. Total run time {total_s:.0f} s.

{profile.intro}

{profile.markdown_table(rows)}

{profile.legend}
"""
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    with open(path, "w") as f:
        f.write(text)


# ----------------------------------------------------------------------------------------
# Profiles: what runs and how it is measured and shown
# ----------------------------------------------------------------------------------------


class CpuProfile:
    """The default suite: float64 NumPy data, tracemalloc and peak-RSS memory."""

    title = "Reduction benchmark: score evaluation"
    intro = CPU_INTRO
    legend = LEGEND
    reference_order = REFERENCE_ORDER

    def __init__(self, args):
        self.quick = args.quick

    def cases(self):
        return quick_cases() if self.quick else default_cases()

    def implementations(self):
        return implementations()

    def machine(self):
        return machine_description()

    def data(self, case, seed):
        return make_data(case, seed)

    def run(self, name, fn, case, data, args, log):
        return run_backend(name, fn, case, *data, args, log)

    def text_table(self, rows):
        return text_table(rows)

    def markdown_table(self, rows):
        return markdown_table(rows)

    def report(self, rows, cases):
        """Whether the memory cases' required backends kept to their working-memory budget."""
        for case in cases:
            for r in rows:
                if r.case == case.name and r.backend in case.required and r.traced_mb is not None:
                    verdict = "within" if r.traced_mb <= case.working_memory else "OVER"
                    print(f"\n{case.name}, {r.backend}: peak traced {r.traced_mb:.1f} MiB, {verdict} the "
                          f"{case.working_memory:g} MiB working-memory budget; {r.seconds:.1f} s per call")


class GpuProfile(CpuProfile):
    """``--profile gpu``: see the banner above."""

    title = "Reduction benchmark: score evaluation on a GPU"
    intro = GPU_INTRO
    legend = GPU_LEGEND
    reference_order = GPU_REFERENCE_ORDER

    def __init__(self, args):
        import torch

        super().__init__(args)
        self.torch, self.cuda = torch, torch.cuda.is_available()
        self.device = torch.device("cuda" if self.cuda else "cpu")
        self.working_memory = args.gpu_working_memory
        self.peak_tflops, self.peak_source = (fp32_peak(torch, args.peak_tflops) if self.cuda
                                              else (None, "no CUDA device"))

    def cases(self):
        return gpu_cases(self.quick)

    def implementations(self):
        return gpu_implementations(self.working_memory)

    def machine(self):
        torch = self.torch
        if not self.cuda:
            return machine_description() + "; no CUDA device: the GPU profile ran on the CPU (dry run)"
        props = torch.cuda.get_device_properties(0)
        pool = cupy_pool()
        cupy = "not available" if pool is None else __import__("cupy").__version__
        return (f"{machine_description()}; GPU: {props.name}, {props.total_memory / 2**30:.0f} GiB, "
                f"compute capability {props.major}.{props.minor}, {props.multi_processor_count} SMs, "
                f"CUDA {torch.version.cuda}, CuPy {cupy}, torch matmul TF32 "
                f"{'on' if torch.backends.cuda.matmul.allow_tf32 else 'off'}; FP32 peak "
                f"{_fmt(self.peak_tflops, '.1f')} TFLOP/s: {self.peak_source}")

    def data(self, case, seed):
        torch = self.torch
        generator = torch.Generator(device=self.device).manual_seed(seed)
        return tuple(torch.randn((n, case.n_features), generator=generator, device=self.device,
                                 dtype=torch.float32) for n in (case.n_queries, case.n_centers))

    def call(self, fn, args):
        """One synchronized call: (result, seconds, peak device MiB or None on the CPU)."""
        torch, pool = self.torch, cupy_pool()
        if self.cuda:
            torch.cuda.synchronize()
            torch.cuda.empty_cache()
            torch.cuda.reset_peak_memory_stats()
            if pool is not None:
                pool.free_all_blocks()
        base = torch.cuda.memory_allocated() if self.cuda else 0
        t0 = time.perf_counter()
        result = fn(*args)
        if self.cuda:
            torch.cuda.synchronize()
        seconds = time.perf_counter() - t0
        if not self.cuda:
            return result, seconds, None
        held = 0 if pool is None else pool.total_bytes()
        return result, seconds, (torch.cuda.max_memory_allocated() - base + held) / MB

    def static_skip(self, name, case):
        if name != "dense-torch":
            return ""
        need = 3 * case.pairs * 4
        free = self.torch.cuda.mem_get_info()[0] if self.cuda else mem_available_bytes()
        if free is not None and need > DENSE_FREE_FRACTION * free:
            return (f"skipped (would need {need / GB:.0f} GB for three M x N matrices, "
                    f"{free / GB:.0f} GB free)")
        return ""

    def run(self, name, fn, case, data, args, log):
        x, z = data
        row = Row(case.name, name)
        if name == "auto":
            resolved = resolve_backend("auto", "torch", case.n_queries, case.n_centers,
                                       case.n_features, on_gpu=self.cuda)
            row.backend = f"auto ({resolved})"
        row.note = self.static_skip(name, case)
        if row.note:
            return row
        m = probe_size(name, case)
        probe = (x[:m], z, case.variance, case.working_memory)
        fn(*probe)  # compiles KeOps and initializes the libraries
        estimate = self.call(fn, probe)[1] * case.n_queries / m
        row.note = too_slow(name, case, estimate, m, args)
        if row.note:
            return row
        call_args = (x, z, case.variance, case.working_memory)
        result, t_mem, row.device_mb = self.call(fn, call_args)
        row.result = tuple(a.detach().cpu().numpy() for a in result)
        del result
        time_repeats(row, lambda: self.call(fn, call_args)[1], t_mem, args)
        row.tflops = case.pairs * flops_per_pair(case.n_features) / row.seconds / 1e12
        row.peak_fraction = row.tflops / self.peak_tflops if self.peak_tflops else None
        log_timed(log, row, estimate)
        return row

    def text_table(self, rows):
        return text_table(rows, GPU_COLUMNS, gpu_table_rows)

    def markdown_table(self, rows):
        return markdown_table(rows, GPU_COLUMNS, gpu_table_rows)

    def report(self, rows, cases):
        del rows, cases  # the GPU cases have no working-memory verdict


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--profile", choices=("cpu", "gpu"), default="cpu",
                   help="cpu: the float64 NumPy suite; gpu: float32 on the CUDA device, M = N from "
                        "10^4 to 10^6, d in {2, 16, 64, 784} (on the CPU where there is no GPU)")
    p.add_argument("--quick", action="store_true", help="small smoke suite (< 60 s once KeOps is compiled)")
    p.add_argument("--no-progress", action="store_true", help="no tqdm progress bar")
    p.add_argument("--markdown", metavar="PATH", help="also write the table as a Markdown page")
    p.add_argument("--repeats", type=int, default=3, help="most timed full-size calls per backend")
    p.add_argument("--repeat-budget", type=float, default=60.0,
                   help="seconds of timed calls per backend; fewer repeats when a call is slow")
    p.add_argument("--max-call-seconds", type=float, default=40.0,
                   help="skip a backend whose warm-up estimates a longer call (except a case's required backend)")
    p.add_argument("--time-budget", type=float,
                   help="seconds after which no further backend starts (the rest are listed as skipped)")
    p.add_argument("--peak-tflops", type=float, help="FP32 peak of the GPU, where nvidia-smi cannot give it")
    p.add_argument("--gpu-working-memory", type=float, default=2048.0,
                   help="working memory in MiB of the GPU profile's torch-wm row")
    p.add_argument("--backends", nargs="+", choices=PEERS + LIBRARY_BACKENDS + GPU_PEERS,
                   help="only these backends and peers")
    p.add_argument("--cases", nargs="+", metavar="SUBSTRING", help="only cases whose name contains one of these")
    p.add_argument("--torch-threads", type=int, help="torch.set_num_threads (default: torch's own choice)")
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args(argv)
    if args.repeats < 1:
        p.error("--repeats must be at least 1")
    return args


def configure(args):
    """Quiet KeOps, torch threads, the --time-budget deadline; notes on what is missing."""
    warnings.filterwarnings("ignore", message=".*CUDA.*")
    if keops_installed():
        import pykeops

        pykeops.set_verbose(False)  # no compilation messages in the table
    if "KEOPS_CACHE_FOLDER" not in os.environ and keops_installed():
        print("note: KEOPS_CACHE_FOLDER is not set; KeOps uses its default cache folder")
    if args.torch_threads:
        import torch

        torch.set_num_threads(args.torch_threads)
    args.deadline = None if args.time_budget is None else time.perf_counter() + args.time_budget


def print_header(command, machine, load_start, impls, profile):
    print(f"command: {command}")
    print(f"machine: {machine}")
    print(f"load average at start: {load_start}")
    busy = os.getloadavg()[0] if hasattr(os, "getloadavg") else 0.0
    if busy > 0.5 * (os.cpu_count() or 1):
        print("warning: the machine is busy (load average above half the cores); timings are "
              "contended, torch's multi-threaded kernels most of all")
    missing = [n for n in ("hand-keops", "keops") if n not in impls]
    if missing:
        print(f"not installed: {', '.join(missing)} (pip install pykeops)")
    if isinstance(profile, GpuProfile) and "cupy" not in impls:
        print("not available: cupy (CuPy with a GPU; pip install 'wpokernel[gpu-cuda13]')")


def run_cases(cases, impls, args, profile):
    n_rows = sum(1 for _ in cases for n in impls if not args.backends or n in args.backends)
    progress = None
    if tqdm is not None and not args.no_progress:
        progress = tqdm(total=n_rows, unit="run", file=sys.stderr, dynamic_ncols=True)
    log = progress.write if progress is not None else print
    rows = []
    try:
        for case in cases:
            rows += run_case(case, impls, args, log, progress, profile)
    except KeyboardInterrupt:  # an outer time limit (timeout -s INT): keep what was measured
        log(f"interrupted: the table holds the {len(rows)} rows of the finished cases")
    finally:
        if progress is not None:
            progress.close()
    return rows


def main(argv=None):
    args = parse_args(argv)
    command = "python " + " ".join([os.path.relpath(sys.argv[0])] + sys.argv[1:])
    configure(args)
    profile = GpuProfile(args) if args.profile == "gpu" else CpuProfile(args)
    cases = profile.cases()
    if args.cases:
        cases = [c for c in cases if any(s in c.name for s in args.cases)]
    impls = profile.implementations()
    machine = profile.machine()
    load_start = load_average()
    print_header(command, machine, load_start, impls, profile)
    t_start = time.perf_counter()
    rows = run_cases(cases, impls, args, profile)
    total = time.perf_counter() - t_start
    load_end = load_average()

    print()
    print(profile.text_table(rows))
    print()
    print(profile.legend)
    profile.report(rows, cases)
    print(f"\nload average at end: {load_end}; total {total:.0f} s")
    if args.markdown:
        write_markdown(args.markdown, profile, rows, command, machine, load_start, load_end, total)
        print(f"wrote {args.markdown}")


if __name__ == "__main__":
    main()
