#!/usr/bin/env python
r"""Memorization study of the local score machines: do LS and ELS samples copy MNIST?

For training sets of :math:`N` MNIST images (default 100, 300 and 1,000, nested), each row
fits a model, draws ``n_samples`` images and measures them against the training images
:math:`z^{(n)}` and fresh test images :math:`y_m`:

* **memorized (pixels)**: :math:`\frac1n \sum_k \mathbf 1[d_1/d_2 < 1/3]`, with :math:`d_1,
  d_2` the distances of a sample to its two nearest training images
  (:func:`wpokernel.diagnostics.memorization_ratio`); **memorized (subspace)**: the same test
  in the leading principal subspace, which sees a training image plus noise
  (:func:`~wpokernel.diagnostics.subspace_memorization_ratio`); **median d1/d2**;
* **denoising error** at noise :math:`\sigma` (units of the data's spread :math:`\rho`):
  :math:`\frac{1}{m d} \sum_m \lVert D(y_m + \sigma\rho\,\varepsilon_m) - y_m\rVert^2 / \rho^2`
  on ``n_denoise`` test images, with the model's denoiser
  :math:`D(x) = x + (\sigma\rho)^2 \nabla \log \eta(x, t)` at :math:`t = \sigma^2/\beta^2`
  (Tweedie's formula, from ``score_function``);
* fit and sampling times, and the calibrated patch-size schedule of the machines.

Rows: ``EmpiricalScore(sigma_min=0.01)`` (the memorizing empirical score, sampled exactly),
the LS machine ``LocalScoreMachine()`` and the ELS machine on the CPU,
``LocalScoreMachine(translation_radius=r)`` (default :math:`r = 1`, calibrated over
:data:`ELS_SIZES`); both machines sample by the reverse SDE in ``n_steps`` steps and stop
where the empirical score does, at ``sigma_min = 0.01``. The rows ``"LS, P >= 9"`` and
``"ELS, P >= 9"`` raise the calibrated patch sizes to at least :data:`FLOOR` (the calibration
picks single pixels at low noise). A reference row measures the fresh test images themselves.

Cost rows: the LS machine's time for 64 images at its default 100 steps on the largest
training set, and one score evaluation (one sampler step) of 64 images by the ELS machine at
patch size 5, with the blocked NumPy engine and with KeOps (``--backends``), at radius
:math:`r` on the largest training set and with full translation equivariance
(``translation_radius=None``) on the smallest; KeOps compiles before it is timed.

Writes ``local_score.csv``, ``local_score.md`` and the nearest-training-image grids
``figures/local_score_<model>_<N>.png`` into ``--output-dir`` (default ``docs/benchmarks``);
the page includes ``benchmarks/local_score_notes.md``, what the measured grids show. MNIST
is read from ``--mnist`` (default ``../shared/data/mnist``); ``--quick`` is a smoke run of
a few seconds on scikit-learn's 8x8 digits, which needs no files.
"""

import shlex
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from wpokernel import EmpiricalScore, LocalScoreMachine
from wpokernel.datasets import (
    DIGITS_IMAGE_SHAPE,
    MNIST_IMAGE_SHAPE,
    load_digits_continuous,
    load_mnist,
)
from wpokernel.diagnostics import memorization_ratio, subspace_memorization_ratio
from wpokernel.plotting import plot_nearest_training_images

sys.path.insert(0, str(Path(__file__).parent))
import image_study  # noqa: E402
import run  # noqa: E402

#: Candidate patch sizes of the ELS calibration: its cost grows as P^2 times (2r + 1)^2.
ELS_SIZES = [1, 3, 5, 7, 9, 11]
#: Smallest patch size of the floored rows: the calibration picks 1 x 1 patches at low noise,
#: where a held-out image is nearly known from its own pixels, and their samples are speckled.
FLOOR = 9
SIGMA_MIN = 0.01
DENOISE_LEVELS = (0.1, 0.3, 1.0, 3.0)
COST_PATCH_SIZE = 5
COST_IMAGES = 64
LS_TARGET_SECONDS = 120.0
REFERENCE = "fresh test images (reference)"
N_GRID_IMAGES = 10
FIGURE_DPI = 80
NOTES = Path(__file__).parent / "local_score_notes.md"


@dataclass(frozen=True)
class Settings:
    """What one run measures; the test images are drawn with ``seed + 1``."""

    dataset: str
    sizes: tuple
    n_test: int
    n_samples: int
    n_steps: int
    n_denoise: int
    translation_radius: int
    backends: tuple
    models: tuple
    seed: int


# --------------------------------------------------------------------------------------------
# Data and models
# --------------------------------------------------------------------------------------------


def load_data(settings, mnist_folder):
    """(training images of the largest size, test images, image shape)."""
    largest = max(settings.sizes)
    if settings.dataset == "digits":
        X = load_digits_continuous(random_state=settings.seed)
        order = np.random.default_rng(settings.seed).permutation(len(X))
        return X[order[:largest]], X[order[largest:largest + settings.n_test]], DIGITS_IMAGE_SHAPE
    X = load_mnist(mnist_folder, n_samples=largest, random_state=settings.seed)
    X_test = load_mnist(mnist_folder, split="test", n_samples=settings.n_test,
                        random_state=settings.seed + 1)
    return X, X_test, MNIST_IMAGE_SHAPE


def _machine(name, settings, image_shape):
    """The calibrated machine of row ``name`` ("LS" or "ELS"), unfitted."""
    common = {"image_shape": image_shape, "n_steps": settings.n_steps, "sigma_min": SIGMA_MIN,
              "random_state": settings.seed, "progress": False}
    if name == "LS":
        return LocalScoreMachine(**common)
    return LocalScoreMachine(translation_radius=settings.translation_radius,
                             calibration_sizes=ELS_SIZES, **common)


def fit_model(name, settings, image_shape, X_train):
    """Row ``name`` fitted to ``X_train``: a machine with its calibrated schedule, or with the
    patch sizes of that schedule raised to at least :data:`FLOOR` (``"LS, P >= 9"``)."""
    if name == "EmpiricalScore":
        return EmpiricalScore(sigma_min=SIGMA_MIN, progress=False).fit(X_train)
    machine = _machine(name.split(",")[0], settings, image_shape).fit(X_train)
    if "," not in name:
        return machine
    schedule = machine.patch_schedule_.copy()
    schedule[:, 1] = np.maximum(schedule[:, 1], FLOOR)
    return machine.set_params(patch_size=schedule).fit(X_train)


#: Rows of the study; "--models" picks among them.
MODELS = ("EmpiricalScore", "LS", f"LS, P >= {FLOOR}", "ELS", f"ELS, P >= {FLOOR}")


def denoising_errors(model, X_test, seed):
    """Mean squared error per pixel of the model's denoiser at each of DENOISE_LEVELS, in
    units of the data's variance."""
    rng = np.random.default_rng(seed)
    rho, errors = model.scale_, []
    for sigma in DENOISE_LEVELS:
        noisy = X_test + sigma * rho * rng.standard_normal(X_test.shape)
        score = model.score_function(noisy, (sigma / model.beta) ** 2)
        denoised = noisy + (sigma * rho) ** 2 * score
        errors.append(float(np.mean((denoised - X_test) ** 2)) / rho**2)
    return errors


# --------------------------------------------------------------------------------------------
# Rows
# --------------------------------------------------------------------------------------------


def _memorization(samples, X_train):
    fraction, ratios = memorization_ratio(samples, X_train)
    return {"memorized": fraction, "memorized_subspace": subspace_memorization_ratio(
        samples, X_train)[0], "median_ratio": float(np.median(ratios))}


def _slug(name):
    """``"LS, P >= 9"`` -> ``"ls_p9"``: a file name."""
    return "".join(c for c in name.lower().replace(", p >= ", "_p") if c.isalnum() or c == "_")


def _timed(function, *args):
    """(wall seconds, CPU seconds of this process, result) of ``function(*args)``."""
    wall, cpu = time.perf_counter(), time.process_time()
    result = function(*args)
    return time.perf_counter() - wall, time.process_time() - cpu, result


def measure(name, X_train, X_test, image_shape, settings, figures):
    """Fit row ``name`` on ``X_train``, sample it and measure it; write its grid."""
    fit_seconds, _, model = _timed(fit_model, name, settings, image_shape, X_train)
    sample_seconds, sample_cpu, samples = _timed(model.sample, settings.n_samples, settings.seed)
    errors = denoising_errors(model, X_test[:settings.n_denoise], settings.seed)
    fig = plot_nearest_training_images(samples, X_train, image_shape, n_images=N_GRID_IMAGES,
                                       random_state=settings.seed)
    fig.suptitle(f"{name}, N = {len(X_train)}: samples (top), nearest training images (bottom)")
    path = figures / f"local_score_{_slug(name)}_{len(X_train)}.png"
    fig.savefig(path, dpi=FIGURE_DPI)
    schedule = getattr(model, "patch_schedule_", None)
    return {"model": name, "n_train": len(X_train), "fit_seconds": fit_seconds,
            "sample_seconds": sample_seconds, "sample_cpu_seconds": sample_cpu,
            "figure": path.name,
            "schedule": "" if schedule is None else " ".join(str(int(p)) for p in schedule[:, 1]),
            "levels": None if schedule is None else tuple(schedule[:, 0]),
            **_memorization(samples, X_train),
            **{f"error_{sigma:g}": e for sigma, e in zip(DENOISE_LEVELS, errors)}}


def study(X, X_test, image_shape, settings, figures, progress):
    """The rows of every training-set size, each model then the reference."""
    rows = []
    for n_train in settings.sizes:
        for name in settings.models:
            rows.append(measure(name, X[:n_train], X_test, image_shape, settings, figures))
            if progress:
                print(f"N = {n_train}, {name}: fit {rows[-1]['fit_seconds']:.1f} s, sample "
                      f"{rows[-1]['sample_seconds']:.1f} s", flush=True)
        rows.append({"model": REFERENCE, "n_train": n_train, **_memorization(X_test, X[:n_train])})
    return rows


# --------------------------------------------------------------------------------------------
# Costs
# --------------------------------------------------------------------------------------------


def ls_target_row(X, image_shape, settings):
    """The LS machine's time for COST_IMAGES images at its default 100 steps."""
    model = LocalScoreMachine(image_shape=image_shape, random_state=settings.seed,
                              progress=False).fit(X)
    seconds, cpu_seconds, _ = _timed(model.sample, COST_IMAGES, settings.seed)
    return {"machine": "LS", "translation_radius": "0", "n_train": str(len(X)),
            "backend": "auto", "what": f"sample {COST_IMAGES} images, {model.n_steps} steps",
            "seconds": seconds, "cpu_seconds": cpu_seconds}


def els_cost_rows(X, X_test, image_shape, settings):
    """One score evaluation of COST_IMAGES images by the ELS machine, per backend."""
    rows = []
    cases = [(settings.translation_radius, X), (None, X[:min(settings.sizes)])]
    queries = np.resize(X_test, (COST_IMAGES, X_test.shape[1]))
    for radius, X_train in cases:
        for backend in settings.backends:
            model = LocalScoreMachine(image_shape=image_shape, translation_radius=radius,
                                      patch_size=COST_PATCH_SIZE, backend=backend,
                                      progress=False).fit(X_train)
            model.score_function(queries[:2], 0.25)  # warm-up: KeOps compiles here
            seconds, cpu_seconds, _ = _timed(model.score_function, queries, 0.25)
            rows.append({"machine": "ELS", "translation_radius": str(radius),
                         "n_train": str(len(X_train)), "backend": backend, "seconds": seconds,
                         "cpu_seconds": cpu_seconds,
                         "what": f"one score evaluation of {COST_IMAGES} images, P = "
                                 f"{COST_PATCH_SIZE}"})
    return rows


# --------------------------------------------------------------------------------------------
# Output
# --------------------------------------------------------------------------------------------

_CSV_COLUMNS = ("model", "n_train", "memorized", "memorized_subspace", "median_ratio",
                *(f"error_{s:g}" for s in DENOISE_LEVELS), "schedule", "fit_seconds",
                "sample_seconds", "sample_cpu_seconds", "figure")
_STUDY_HEADERS = {"model": "model", "memorized": "memorized (pixels)",
                  "memorized_subspace": "memorized (subspace)", "median_ratio": "median d1/d2",
                  "schedule": "P_k", "fit_seconds": "fit (s)", "sample_seconds": "sample (s)",
                  "sample_cpu_seconds": "sample CPU (s)"}
_ERROR_HEADERS = {"model": "model", "n_train": "N",
                  **{f"error_{s:g}": f"σ = {s:g}" for s in DENOISE_LEVELS}}
_COST_HEADERS = {"machine": "machine", "translation_radius": "translation_radius",
                 "n_train": "N", "backend": "backend", "what": "what", "seconds": "wall (s)",
                 "cpu_seconds": "CPU (s)"}


def targets(rows, cost_rows, settings):
    """The measurable targets at the largest training set, for the rows the run has."""
    at = {row["model"]: row["memorized"] for row in rows if row["n_train"] == max(settings.sizes)}
    checks = [(f"{name} memorized within 0.05 of fresh test images'",
               f"{at[name]:.3g} vs {at[REFERENCE]:.3g}", abs(at[name] - at[REFERENCE]) <= 0.05)
              for name in MODELS[3:] if name in at]
    if "EmpiricalScore" in at:
        checks.append(("EmpiricalScore memorized above 0.9", f"{at['EmpiricalScore']:.3g}",
                       at["EmpiricalScore"] > 0.9))
    ls = next(row for row in cost_rows if row["machine"] == "LS")
    checks.append((f"LS: {COST_IMAGES} images in under {LS_TARGET_SECONDS:.0f} s",
                   f"{ls['seconds']:.1f} s wall, {ls['cpu_seconds']:.1f} s CPU",
                   ls["seconds"] < LS_TARGET_SECONDS))
    return checks


def _target_table(checks):
    lines = ["| target | measured | holds |", "| --- | --- | --- |"]
    return "\n".join(lines + [f"| {t} | {m} | {'yes' if ok else 'no'} |" for t, m, ok in checks])


def _study_sections(rows, settings):
    parts = []
    for n_train in settings.sizes:
        parts.append(f"### N = {n_train}\n")
        parts.append(run._markdown_table([r for r in rows if r["n_train"] == n_train],
                                         _STUDY_HEADERS) + "\n")
        parts.extend(f"![{r['model']}, N = {n_train}](figures/{r['figure']})\n"
                     for r in rows if r["n_train"] == n_train and r.get("figure"))
    parts.append(f"## Held-out denoising error\n\nPer pixel, in units of the data's variance, "
                 f"on {settings.n_denoise} test images; σ in units of the data's spread.\n")
    parts.append(run._markdown_table([{**r, "n_train": str(r["n_train"])} for r in rows
                                      if r["model"] != REFERENCE], _ERROR_HEADERS) + "\n")
    return parts


def write_markdown(rows, cost_rows, settings, path, *, command, seconds):
    levels = next(row["levels"] for row in rows if row.get("levels"))
    parts = [
        "# Local score machines: a memorization study\n",
        f"Produced by `{command}` in {seconds:.0f} s on {run.environment()}. Data: "
        f"{settings.dataset}, nested training sets of N images, {settings.n_test} fresh test "
        f"images; {settings.n_samples} samples per row, the machines by the reverse SDE in "
        f"{settings.n_steps} steps, all stopping at sigma_min = {SIGMA_MIN}. The ELS rows use "
        f"translation_radius={settings.translation_radius}. **P_k**: the patch sizes of the "
        f"schedule at the noise levels {', '.join(f'{s:.3g}' for s in levels)} (units of the "
        f"data's spread), calibrated, or raised to at least {FLOOR} in the rows 'P >= {FLOOR}'. "
        "**sample CPU (s)**: the CPU time of the process (its threads added), which another "
        "load on the machine inflates less than the wall time. See "
        "`benchmarks/bench_local_score.py` and `benchmarks/README.md`.\n",
        "## Targets\n", _target_table(targets(rows, cost_rows, settings)) + "\n",
        "## Memorization\n", *_study_sections(rows, settings),
        "## Cost\n", run._markdown_table(cost_rows, _COST_HEADERS) + "\n",
    ]
    if NOTES.exists():
        parts.append(NOTES.read_text())
    Path(path).write_text("\n".join(parts))


# --------------------------------------------------------------------------------------------
# Command line
# --------------------------------------------------------------------------------------------

_DEFAULT = Settings(dataset="mnist", sizes=(100, 300, 1000), n_test=1000, n_samples=64,
                    n_steps=50, n_denoise=32, translation_radius=1, backends=("numpy", "keops"),
                    models=MODELS, seed=0)
_QUICK = Settings(dataset="digits", sizes=(40, 80), n_test=100, n_samples=8, n_steps=5,
                  n_denoise=4, translation_radius=1, backends=("numpy",), models=MODELS[:-1],
                  seed=0)


def _parse(argv):
    parser = image_study.study_parser(
        __doc__.split("\n\n")[0], _DEFAULT, _QUICK,
        ("n_test", "n_samples", "n_steps", "n_denoise", "translation_radius", "seed"))
    parser.add_argument("--backends", nargs="+", choices=("numpy", "torch", "keops"))
    parser.add_argument("--models", nargs="+", choices=MODELS,
                        help=f"default: all (quick: all but {MODELS[-1]!r})")
    args = parser.parse_args(argv)
    args.settings = image_study.chosen_settings(args, _DEFAULT, _QUICK)
    return args


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    args = _parse(argv)
    settings, start = args.settings, time.perf_counter()
    X, X_test, image_shape = load_data(settings, args.mnist)
    figures = args.output_dir / "figures"
    figures.mkdir(parents=True, exist_ok=True)
    rows = study(X, X_test, image_shape, settings, figures, not args.no_progress)
    cost_rows = [ls_target_row(X, image_shape, settings),
                 *els_cost_rows(X, X_test, image_shape, settings)]
    run.write_csv(rows, args.output_dir / "local_score.csv", columns=_CSV_COLUMNS)
    write_markdown(rows, cost_rows, settings, args.output_dir / "local_score.md",
                   command="python benchmarks/bench_local_score.py " + shlex.join(argv),
                   seconds=time.perf_counter() - start)
    print((args.output_dir / "local_score.md").read_text())
    return 0


if __name__ == "__main__":
    sys.exit(main())
