#!/usr/bin/env python
r"""Memorization study of the neural score models on MNIST, beside the kernel models.

For nested training sets of :math:`N` MNIST images (default 100, 300, 1,000 and 3,000), each
row fits a model, draws ``n_samples`` images and measures them against the training images
and fresh test images:

* **memorized (pixels)**: :math:`\frac1n \sum_k \mathbf 1[d_1/d_2 < 1/3]`, with :math:`d_1,
  d_2` the distances of a sample to its two nearest training images
  (:func:`wpokernel.diagnostics.memorization_ratio`); **memorized (subspace)**: the same test
  in the leading principal subspace, which sees a training image plus noise
  (:func:`~wpokernel.diagnostics.subspace_memorization_ratio`); **median d1/d2**; the
  reference row measures fresh test images against the same training images, the value of a
  model that does not copy;
* **bits/dim** of ``n_bits`` fresh test images (dequantized, bin width 1/256), from
  ``score_samples``: closed form for the mixtures, the probability-flow ODE with a 16-probe
  Hutchinson divergence for the networks;
* fit and sampling wall times; nearest-training-image grids
  ``figures/neural_<model>_<N>.png`` and the curve of memorization against :math:`N`,
  ``figures/neural_memorization_curve.png``.

Rows: ``EmpiricalScore(sigma_min=0.01)`` (the memorizing closed-form score, sampled exactly),
``NeuralScore`` with its default U-Net and with the WPO kernel-attention network (both
trained for ``max_steps`` steps at most, sampled by Heun's method in ``n_steps`` steps), and
``WPOKernelScore(structure="lowrank")``.

``--budget`` instead trains the default ``NeuralScore`` (U-Net) on ``--budget-size`` images
(default 10,000) once, with its default ``max_steps``, and records the wall time of the fit,
the process's CPU time, the load average before, during (sampled every 30 s) and after, a grid
of 64 samples and their memorization: ``neural_budget.md`` and
``figures/neural_budget_samples.png``, which the study's page includes.

Writes ``neural.csv`` and ``neural.md`` into ``--output-dir`` (default ``docs/benchmarks``);
the page includes ``benchmarks/neural_notes.md``, what the measured grids show. MNIST is
read from ``--mnist`` (default ``../shared/data/mnist``); ``--quick`` is a smoke run of a few
seconds on scikit-learn's 8x8 digits, which needs no files.
"""

import os
import shlex
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from wpokernel import EmpiricalScore, NeuralScore, WPOKernelScore
from wpokernel.datasets import MNIST_IMAGE_SHAPE, load_mnist
from wpokernel.estimators._neural import bits_per_dimension
from wpokernel.plotting import plot_nearest_training_images

sys.path.insert(0, str(Path(__file__).parent))
import image_study  # noqa: E402
import run  # noqa: E402
from bench_local_score import REFERENCE, _memorization, load_data  # noqa: E402

MODELS = ("EmpiricalScore", "NeuralScore (U-Net)", "NeuralScore (kernel-attention)",
          "WPOKernelScore")
SIGMA_MIN = 0.01
N_GRID_IMAGES = 10
FIGURE_DPI = 80
LOAD_INTERVAL_S = 30.0
NOTES = Path(__file__).parent / "neural_notes.md"


@dataclass(frozen=True)
class Settings:
    """What one run measures; the test images are drawn with ``seed + 1``."""

    dataset: str
    sizes: tuple
    n_test: int
    n_samples: int
    n_bits: int
    n_steps: int
    max_steps: int
    width: int
    n_centers: int
    seed: int


# --------------------------------------------------------------------------------------------
# Models and rows
# --------------------------------------------------------------------------------------------


def make_model(name, settings, image_shape):
    """The estimator of row ``name``."""
    seeded = {"random_state": settings.seed, "progress": False}
    neural = {"image_shape": image_shape, "max_steps": settings.max_steps,
              "n_steps": settings.n_steps, **seeded}
    if name == "EmpiricalScore":
        return EmpiricalScore(sigma_min=SIGMA_MIN, progress=False)
    if name == "NeuralScore (U-Net)":
        return NeuralScore(width=settings.width, **neural)
    if name == "NeuralScore (kernel-attention)":
        return NeuralScore(network="kernel-attention", n_centers=settings.n_centers, **neural)
    return WPOKernelScore(structure="lowrank", max_steps=settings.max_steps, **seeded)


def _slug(name):
    return name.lower().replace("neuralscore (", "neural-").replace(")", "").replace(" ", "-")


def measure(name, X_train, X_test, image_shape, settings, figures):
    """Fit row ``name`` on ``X_train``, sample it and measure it; write its grid."""
    start = time.perf_counter()
    model = make_model(name, settings, image_shape).fit(X_train)
    fit_seconds = time.perf_counter() - start
    start = time.perf_counter()
    samples = model.sample(settings.n_samples, random_state=settings.seed)
    sample_seconds = time.perf_counter() - start
    start = time.perf_counter()
    log_density = model.score_samples(X_test[:settings.n_bits])
    bits_seconds = time.perf_counter() - start
    fig = plot_nearest_training_images(samples, X_train, image_shape, n_images=N_GRID_IMAGES,
                                       random_state=settings.seed)
    fig.suptitle(f"{name}, N = {len(X_train)}: samples (top), nearest training images (bottom)")
    path = figures / f"neural_{_slug(name)}_{len(X_train)}.png"
    fig.savefig(path, dpi=FIGURE_DPI)
    return {"model": name, "n_train": len(X_train), "fit_seconds": fit_seconds,
            "sample_seconds": sample_seconds, "bits_seconds": bits_seconds,
            "bits_per_dim": bits_per_dimension(log_density, X_test.shape[1]),
            "train_steps": getattr(model, "n_train_steps_", ""), "figure": path.name,
            **_memorization(samples, X_train)}


def study(X, X_test, image_shape, settings, figures, progress):
    """The rows of every training-set size, each model then the reference."""
    rows = []
    for n_train in settings.sizes:
        for name in MODELS:
            rows.append(measure(name, X[:n_train], X_test, image_shape, settings, figures))
            if progress:
                row = rows[-1]
                print(f"N = {n_train}, {name}: fit {row['fit_seconds']:.0f} s, sample "
                      f"{row['sample_seconds']:.0f} s, memorized {row['memorized']:.2f} / "
                      f"{row['memorized_subspace']:.2f}, {row['bits_per_dim']:.2f} bits/dim",
                      flush=True)
        rows.append({"model": REFERENCE, "n_train": n_train, **_memorization(X_test, X[:n_train])})
    return rows


def memorization_curve(rows, path):
    """Memorized share (pixels, subspace) against N, one line per model and the reference."""
    fig = Figure(figsize=(9, 3.6))
    FigureCanvasAgg(fig)
    axes = fig.subplots(1, 2, sharey=True)
    for ax, key, title in zip(axes, ("memorized", "memorized_subspace"),
                              ("pixel-space ratio", "subspace ratio")):
        for name in (*MODELS, REFERENCE):
            points = [(r["n_train"], r[key]) for r in rows if r["model"] == name]
            ax.plot(*zip(*points), marker="o", linestyle="--" if name == REFERENCE else "-",
                    label=name)
        ax.set_xscale("log")
        ax.set_xlabel("training images N")
        ax.set_title(f"memorized share, {title}")
    axes[0].set_ylabel("share of samples with d1/d2 < 1/3")
    axes[1].legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=FIGURE_DPI)


# --------------------------------------------------------------------------------------------
# The CPU budget run
# --------------------------------------------------------------------------------------------


class _LoadSampler:
    """The 1-minute load average every LOAD_INTERVAL_S seconds, in a background thread."""

    def __init__(self):
        self.samples, self._stop = [], threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self):
        while not self._stop.wait(LOAD_INTERVAL_S):
            self.samples.append(os.getloadavg()[0])

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()


def budget_run(mnist_folder, n_train, seed, output_dir):
    """Train the default NeuralScore on ``n_train`` MNIST images once; write its page and grid."""
    X = load_mnist(mnist_folder, n_samples=n_train, random_state=seed)
    model = NeuralScore(image_shape=MNIST_IMAGE_SHAPE, random_state=seed, progress=False)
    load_before, cpu_start, start = os.getloadavg(), time.process_time(), time.perf_counter()
    with _LoadSampler() as load:
        model.fit(X)
    fit_seconds, cpu_seconds = time.perf_counter() - start, time.process_time() - cpu_start
    load_after = os.getloadavg()
    samples = model.sample(64, random_state=seed)
    fig = _sample_grid(samples)
    fig.savefig(output_dir / "figures" / "neural_budget_samples.png", dpi=FIGURE_DPI)
    memorized = _memorization(samples, X)
    during = load.samples or [load_after[0]]
    lines = [
        "## The CPU budget run\n",
        f"`NeuralScore(image_shape=(28, 28), random_state={seed})` with its defaults on "
        f"{n_train:,} MNIST training images, measured on {run.environment()}:\n",
        "| fit wall time | CPU time of the process | optimizer steps | best step | "
        "load average before / during (mean, max) / after | memorized (pixels, subspace) |",
        "| --- | --- | --- | --- | --- | --- |",
        f"| {fit_seconds / 60:.1f} min | {cpu_seconds / 60:.1f} min | {model.n_train_steps_} | "
        f"{model.best_step_} | {load_before[0]:.2f} / {np.mean(during):.2f}, "
        f"{np.max(during):.2f} / {load_after[0]:.2f} | {memorized['memorized']:.2f}, "
        f"{memorized['memorized_subspace']:.2f} |\n",
        "![64 samples of the budget run](figures/neural_budget_samples.png)\n",
    ]
    (output_dir / "neural_budget.md").write_text("\n".join(lines))
    return fit_seconds


def _sample_grid(samples, columns=8):
    rows = -(-len(samples) // columns)
    fig = Figure(figsize=(columns, rows))
    FigureCanvasAgg(fig)
    for k, image in enumerate(samples):
        ax = fig.add_subplot(rows, columns, k + 1)
        ax.imshow(image.reshape(MNIST_IMAGE_SHAPE), cmap="gray", vmin=0.0, vmax=1.0)
        ax.axis("off")
    fig.subplots_adjust(0, 0, 1, 1, 0.05, 0.05)
    return fig


# --------------------------------------------------------------------------------------------
# Output
# --------------------------------------------------------------------------------------------

_CSV_COLUMNS = ("model", "n_train", "memorized", "memorized_subspace", "median_ratio",
                "bits_per_dim", "train_steps", "fit_seconds", "sample_seconds", "bits_seconds",
                "figure")
_HEADERS = {"model": "model", "memorized": "memorized (pixels)",
            "memorized_subspace": "memorized (subspace)", "median_ratio": "median d1/d2",
            "bits_per_dim": "bits/dim", "train_steps": "optimizer steps",
            "fit_seconds": "fit (s)", "sample_seconds": "sample (s)",
            "bits_seconds": "bits/dim (s)"}


def _sections(rows, settings):
    parts = []
    for n_train in settings.sizes:
        parts.append(f"### N = {n_train}\n")
        parts.append(run._markdown_table([r for r in rows if r["n_train"] == n_train],
                                         _HEADERS) + "\n")
        parts.extend(f"![{r['model']}, N = {n_train}](figures/{r['figure']})\n"
                     for r in rows if r["n_train"] == n_train and r.get("figure"))
    return parts


def write_markdown(rows, settings, output_dir, *, command, seconds):
    parts = [
        "# Neural score models: a memorization study\n",
        f"Produced by `{command}` in {seconds:.0f} s on {run.environment()}. Data: "
        f"{settings.dataset}, nested training sets of N images, {settings.n_test} fresh test "
        f"images; {settings.n_samples} samples per row; bits/dim of {settings.n_bits} test "
        f"images. The networks train for at most {settings.max_steps} optimizer steps (the "
        f"U-Net with {settings.width} channels at its first level, the kernel-attention "
        f"network with at most {settings.n_centers} keys) and sample by Heun's method in "
        f"{settings.n_steps} steps; EmpiricalScore stops at sigma_min = {SIGMA_MIN}. See "
        "`benchmarks/bench_neural.py` and `benchmarks/README.md`.\n",
        "## Memorization against N\n",
        "![memorization against N](figures/neural_memorization_curve.png)\n",
        *_sections(rows, settings),
    ]
    for extra in (output_dir / "neural_budget.md", NOTES):
        if extra.exists():
            parts.append(extra.read_text())
    (output_dir / "neural.md").write_text("\n".join(parts))


# --------------------------------------------------------------------------------------------
# Command line
# --------------------------------------------------------------------------------------------

_DEFAULT = Settings(dataset="mnist", sizes=(100, 300, 1000, 3000), n_test=1000, n_samples=64,
                    n_bits=16, n_steps=32, max_steps=1000, width=32, n_centers=512, seed=0)
_QUICK = Settings(dataset="digits", sizes=(40, 80), n_test=100, n_samples=8, n_bits=4,
                  n_steps=4, max_steps=10, width=8, n_centers=16, seed=0)


def _parse(argv):
    parser = image_study.study_parser(
        __doc__.split("\n\n")[0], _DEFAULT, _QUICK,
        ("n_test", "n_samples", "n_bits", "n_steps", "max_steps", "width", "n_centers", "seed"))
    parser.add_argument("--budget", action="store_true",
                        help="the CPU budget run of the default NeuralScore instead")
    parser.add_argument("--budget-size", type=int, default=10_000)
    args = parser.parse_args(argv)
    args.settings = image_study.chosen_settings(args, _DEFAULT, _QUICK)
    return args


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    args = _parse(argv)
    settings, start = args.settings, time.perf_counter()
    figures = args.output_dir / "figures"
    figures.mkdir(parents=True, exist_ok=True)
    if args.budget:
        seconds = budget_run(args.mnist, args.budget_size, settings.seed, args.output_dir)
        print(f"fit in {seconds / 60:.1f} min\n" + (args.output_dir / "neural_budget.md").read_text())
        return 0
    X, X_test, image_shape = load_data(settings, args.mnist)
    rows = study(X, X_test, image_shape, settings, figures, not args.no_progress)
    memorization_curve(rows, figures / "neural_memorization_curve.png")
    run.write_csv(rows, args.output_dir / "neural.csv", columns=_CSV_COLUMNS)
    write_markdown(rows, settings, args.output_dir,
                   command="python benchmarks/bench_neural.py " + shlex.join(argv),
                   seconds=time.perf_counter() - start)
    print((args.output_dir / "neural.md").read_text())
    return 0


if __name__ == "__main__":
    sys.exit(main())
