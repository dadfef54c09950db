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


def torch_cdist(x, z, variance, working_memory):
    import torch

    del working_memory
    xt, zt = torch.from_numpy(x), torch.from_numpy(z)
    logits = torch.cdist(xt, zt).square_().mul_(-0.5 / variance)  # (M, N)
    log_w = torch.log_softmax(logits, dim=1)
    log_density = torch.logsumexp(logits, dim=1) + _log_normalizer(*z.shape, variance)
    del logits
    displacement = (xt - log_w.exp_() @ zt) / variance
    return log_density.numpy(), displacement.numpy()


def hand_keops(x, z, variance, working_memory):
    from pykeops.numpy import LazyTensor

    del working_memory
    x_i = LazyTensor(x[:, None, :])
    z_j = LazyTensor(z[None, :, :])
    D_ij = ((x_i - z_j) ** 2).sum(-1)
    logits = -D_ij / (2.0 * variance)
    mean_z = logits.sumsoftmaxweight(z_j, axis=1)  # sum_j w_ij z_j
    log_density = logits.logsumexp(axis=1)[:, 0] + _log_normalizer(*z.shape, variance)
    return log_density, (x - mean_z) / variance


def library(backend):
    def run(x, z, variance, working_memory):
        out = mixture_moments(x, z, Isotropic(variance), score=True, backend=backend,
                              working_memory=working_memory)
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
    if estimate > args.max_call_seconds and name not in case.required:
        row.note = (f"skipped (estimated {estimate:.0f} s per call from a {m}-query warm-up, "
                    f"> --max-call-seconds {args.max_call_seconds:g})")
        return row

    # Memory: one full-size call under tracemalloc with the peak RSS reset.
    row.result, t_mem, row.traced_mb, row.rss_mb = measured_call(fn, call_args)
    if name in ("torch", "cdist"):
        row.traced_mb = None  # torch's allocator is invisible to tracemalloc

    # Time: median of untraced full-size calls, as many as fit in --repeat-budget.
    n = min(args.repeats, int(args.repeat_budget // max(t_mem, 1e-9)))
    if n >= 1:
        row.seconds = statistics.median(timed_call(fn, call_args) for _ in range(n))
        row.repeats = n
    else:
        row.seconds, row.repeats, row.traced_only = t_mem, 1, True
    log(f"  {row.backend:<18} {row.seconds:9.3f} s  (n={row.repeats}{'*' if row.traced_only else ''}, "
        f"warm-up estimate {estimate:.2f} s)")
    return row


def check_errors(rows):
    """Max relative error of each row against the dense reference (else numpy, ...).

    A row is never compared with itself, and ``auto`` not with the backend it resolved to.
    """
    done = {r.backend.split(" ")[0]: r for r in rows if not r.skipped}
    for row in rows:
        if row.skipped:
            continue
        own = {part.strip("()") for part in row.backend.split(" ")}
        ref_name = next((n for n in REFERENCE_ORDER if n in done and n not in own), None)
        if ref_name is None:
            continue
        ref = done[ref_name].result
        errs = [np.max(np.abs(a - b)) / max(np.max(np.abs(b)), np.finfo(float).tiny)
                for a, b in zip(row.result, ref)]
        row.error, row.reference = float(max(errs)), ref_name


def run_case(case, impls, args, log, progress):
    log(f"\n{case.name}  (M={case.n_queries}, N={case.n_centers}, d={case.n_features}, "
        f"variance={case.variance:g}, working_memory={case.working_memory:g} MiB)"
        + (f"  [{case.note}]" if case.note else ""))
    x, z = make_data(case, args.seed)
    rows = []
    for name, fn in impls.items():
        if args.backends and name not in args.backends:
            continue
        if progress is not None:
            progress.set_postfix_str(f"{case.name}: {name}")
        try:
            row = run_backend(name, fn, case, x, z, args, log)
        except Exception as exc:  # report, keep going: one broken backend is a result too
            row = Row(case.name, name, note=f"failed: {exc!r}"[:200])
        if row.skipped:
            log(f"  {row.backend:<18} {row.note}")
        rows.append(row)
        if progress is not None:
            progress.update(1)
    check_errors(rows)
    for row in rows:
        row.result = None
    return rows


# ----------------------------------------------------------------------------------------
# Output
# ----------------------------------------------------------------------------------------

COLUMNS = ("case", "backend", "time s", "n", "x dense", "x hand-KeOps", "traced MB",
           "RSS+ MB", "max rel err", "ref", "note")


def _fmt(value, spec):
    return "-" if value is None else format(value, spec)


def table_rows(rows):
    by_case = {}
    for r in rows:
        by_case.setdefault(r.case, {})[r.backend.split(" ")[0]] = r
    out = []
    for r in rows:
        peers = by_case[r.case]
        ratios = []
        for peer in ("dense", "hand-keops"):
            p = peers.get(peer)
            ok = p is not None and not p.skipped and not r.skipped
            ratios.append(f"{p.seconds / r.seconds:.2f}" if ok else "-")
        out.append((
            r.case, r.backend,
            "-" if r.skipped else f"{r.seconds:.3f}",
            "-" if r.skipped else f"{r.repeats}{'*' if r.traced_only else ''}",
            *ratios,
            _fmt(r.traced_mb, ".1f"), _fmt(r.rss_mb, ".0f"),
            _fmt(r.error, ".1e"), r.reference or "-", r.note,
        ))
    return out


def text_table(rows):
    body = table_rows(rows)
    widths = [max(len(c), *(len(b[i]) for b in body)) for i, c in enumerate(COLUMNS)]
    numeric = {2, 3, 4, 5, 6, 7, 8}

    def line(cells):
        return "  ".join(c.rjust(w) if i in numeric else c.ljust(w)
                         for i, (c, w) in enumerate(zip(cells, widths))).rstrip()

    sep = "  ".join("-" * w for w in widths)
    return "\n".join([line(COLUMNS), sep] + [line(b) for b in body])


def markdown_table(rows):
    body = table_rows(rows)
    align = ["---", "---"] + ["---:"] * 7 + ["---", "---"]
    lines = ["| " + " | ".join(COLUMNS) + " |", "| " + " | ".join(align) + " |"]
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


def write_markdown(path, rows, command, machine, load_start, load_end, total_s):
    text = f"""# Reduction benchmark: score evaluation

Generated by `benchmarks/bench_reductions.py`.

Command: `{command}`

Machine: {machine}.

Load average (1, 5, 15 min) at the start: {load_start}; at the end: {load_end}. Total run time {total_s:.0f} s.

Log-density and score of an isotropic Gaussian mixture with uniform weights, M queries x N
centers in d dimensions, with the library backends (`numpy` and `torch` blocked, `keops`,
`auto`) and three peers: dense NumPy broadcasting (`dense`), `torch.cdist` (`cdist`) and a
hand-written KeOps LazyTensor reduction (`hand-keops`).

{markdown_table(rows)}

{LEGEND}
"""
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    with open(path, "w") as f:
        f.write(text)


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--quick", action="store_true", help="small smoke suite (< 60 s once KeOps is compiled)")
    p.add_argument("--no-progress", action="store_true", help="no tqdm progress bar")
    p.add_argument("--markdown", metavar="PATH", help="also write the table as a Markdown page")
    p.add_argument("--repeats", type=int, default=3, help="most timed full-size calls per backend")
    p.add_argument("--repeat-budget", type=float, default=60.0,
                   help="seconds of timed calls per backend; fewer repeats when a call is slow")
    p.add_argument("--max-call-seconds", type=float, default=40.0,
                   help="skip a backend whose warm-up estimates a longer call (except a case's required backend)")
    p.add_argument("--backends", nargs="+", choices=PEERS + LIBRARY_BACKENDS,
                   help="only these backends and peers")
    p.add_argument("--cases", nargs="+", metavar="SUBSTRING", help="only cases whose name contains one of these")
    p.add_argument("--torch-threads", type=int, help="torch.set_num_threads (default: torch's own choice)")
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args(argv)
    if args.repeats < 1:
        p.error("--repeats must be at least 1")
    return args


def main(argv=None):
    args = parse_args(argv)
    command = "python " + " ".join([os.path.relpath(sys.argv[0])] + sys.argv[1:])
    warnings.filterwarnings("ignore", message=".*CUDA.*")
    if keops_installed():
        import pykeops

        pykeops.set_verbose(False)  # no compilation messages in the table
    if "KEOPS_CACHE_FOLDER" not in os.environ and keops_installed():
        print("note: KEOPS_CACHE_FOLDER is not set; KeOps uses its default cache folder")

    if args.torch_threads:
        import torch

        torch.set_num_threads(args.torch_threads)
    cases = quick_cases() if args.quick else default_cases()
    if args.cases:
        cases = [c for c in cases if any(s in c.name for s in args.cases)]
    impls = implementations()
    machine = machine_description()
    load_start = load_average()
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

    n_rows = sum(1 for _ in cases for n in impls if not args.backends or n in args.backends)
    progress = None
    if tqdm is not None and not args.no_progress:
        progress = tqdm(total=n_rows, unit="run", file=sys.stderr, dynamic_ncols=True)
    log = progress.write if progress is not None else print
    t_start = time.perf_counter()
    rows = []
    try:
        for case in cases:
            rows += run_case(case, impls, args, log, progress)
    finally:
        if progress is not None:
            progress.close()
    total = time.perf_counter() - t_start
    load_end = load_average()

    print()
    print(text_table(rows))
    print()
    print(LEGEND)
    for case in cases:
        if not case.required:
            continue
        for r in rows:
            if r.case == case.name and r.backend in case.required and r.traced_mb is not None:
                verdict = "within" if r.traced_mb <= case.working_memory else "OVER"
                print(f"\n{case.name}, {r.backend}: peak traced {r.traced_mb:.1f} MiB, {verdict} the "
                      f"{case.working_memory:g} MiB working-memory budget; {r.seconds:.1f} s per call")
    print(f"\nload average at end: {load_end}; total {total:.0f} s")
    if args.markdown:
        write_markdown(args.markdown, rows, command, machine, load_start, load_end, total)
        print(f"wrote {args.markdown}")


if __name__ == "__main__":
    main()
