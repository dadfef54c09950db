#!/usr/bin/env python
r"""WPOKernelScore on MNIST, beside GaussianMixture and a cross-validated KDE.

For each training size :math:`N` (a seeded subset of the 60,000 training images), on a fixed
subset of the 10,000 test images, every row is fitted in a subprocess of its own (so that its
peak memory is its own) and measured:

* held-out bits per dimension of the dequantized images :math:`(P + U)/256`,
  :math:`-(\bar\ell - 784 \log 256) / (784 \log 2)` with :math:`\bar\ell` the mean
  log-likelihood in nats;
* fit time, peak resident memory of the process, time to draw 1,000 exact samples;
* memorization of 1,000 samples against the training set, in pixel space
  (:func:`~wpokernel.diagnostics.memorization_ratio`) and with the high-dimensional measure
  (:func:`~wpokernel.diagnostics.subspace_memorization_ratio`), beside the same shares for
  fresh test images;
* the nearest-training-image grid of the samples.

Rows: ``WPOKernelScore()`` (defaults), ``GaussianMixture(diag, k on validation)`` (the number
of components of best likelihood on a validation fifth among 10, 20, 50, 100, 200, refitted
on all the training images) and ``EmpiricalScore(bandwidth=CV)`` (3-fold cross-validated
bandwidth, on at most 5,000 images).

Run ``python benchmarks/bench_wpo_mnist.py --help``; ``--quick`` is a smoke run. The images
are read from ``--data`` (a folder with the four IDX files), never downloaded.
"""

import argparse
import json
import resource
import shlex
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

_ROWS = ("WPOKernelScore()", "GaussianMixture(diag, k on validation)",
         "EmpiricalScore(bandwidth=CV)")
_COMPONENTS = (10, 20, 50, 100, 200)
_BANDWIDTHS = np.geomspace(0.05, 2.0, 10)
_MAX_KDE_TRAIN = 5000
_N_SAMPLES = 1000
_LOG_256 = np.log(256.0)


def bits_per_dimension(mean_log_likelihood, n_features):
    """Bits per dimension of dequantized 8-bit data from a mean log-likelihood in nats."""
    return -(mean_log_likelihood - n_features * _LOG_256) / (n_features * np.log(2.0))


def _fit(row, X, seed, wpo_options):
    """The fitted model of ``row`` and what was chosen."""
    from sklearn.mixture import GaussianMixture
    from sklearn.model_selection import GridSearchCV

    from wpokernel import EmpiricalScore, WPOKernelScore

    if row == _ROWS[0]:
        model = WPOKernelScore(random_state=seed, progress=False, **wpo_options).fit(X)
        return model, (f"rank {model.rank_}, {model.n_neighbors_} neighbours, floor "
                       f"{model.floor_} ({model.floor_shrinkage_}), steps {model.n_train_steps_}, "
                       f"best {model.best_step_}")
    if row == _ROWS[1]:
        rng = np.random.default_rng(seed)
        validation = rng.random(len(X)) < 0.2
        candidates = [k for k in _COMPONENTS if 20 * k <= (~validation).sum()] or [_COMPONENTS[0]]
        scores = [GaussianMixture(k, covariance_type="diag", random_state=seed)
                  .fit(X[~validation]).score(X[validation]) for k in candidates]
        k = candidates[int(np.argmax(scores))]
        return GaussianMixture(k, covariance_type="diag", random_state=seed).fit(X), f"k={k}"
    X = X[:_MAX_KDE_TRAIN]
    search = GridSearchCV(EmpiricalScore(progress=False), {"bandwidth": _BANDWIDTHS}, cv=3).fit(X)
    return search.best_estimator_, f"bandwidth={search.best_params_['bandwidth']:.3g}"


def _draw(model, n, seed):
    samples = model.sample(n) if hasattr(model, "weights_") else model.sample(n, random_state=seed)
    return samples[0] if isinstance(samples, tuple) else samples


def measure(row, n_train, n_test, data, seed, figure, wpo_options=None):
    """Fit and measure one row (run in its own process); return the result as a dict."""
    from wpokernel.datasets import MNIST_IMAGE_SHAPE, load_mnist
    from wpokernel.diagnostics import memorization_ratio, subspace_memorization_ratio
    from wpokernel.plotting import plot_nearest_training_images

    X = load_mnist(data, n_samples=n_train, random_state=seed)
    X_test = load_mnist(data, split="test", n_samples=n_test, random_state=seed)
    start = time.perf_counter()
    model, chosen = _fit(row, X, seed, wpo_options or {})
    fit_seconds = time.perf_counter() - start
    start = time.perf_counter()
    samples = _draw(model, _N_SAMPLES, seed)
    sample_seconds = time.perf_counter() - start
    log_likelihood = float(np.mean(model.score_samples(X_test)))
    fresh = X_test[:_N_SAMPLES]
    result = {
        "row": row, "n_train": n_train, "chosen": chosen, "fit_seconds": fit_seconds,
        "sample_seconds": sample_seconds, "bits_per_dim": bits_per_dimension(log_likelihood, 784),
        "peak_gib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20,
        "memorized": memorization_ratio(samples, X)[0],
        "memorized_test": memorization_ratio(fresh, X)[0],
        "memorized_subspace": subspace_memorization_ratio(samples, X)[0],
        "memorized_subspace_test": subspace_memorization_ratio(fresh, X)[0],
        "figure": str(figure),
    }
    fig = plot_nearest_training_images(samples, X, MNIST_IMAGE_SHAPE, n_images=10,
                                       random_state=seed)
    fig.suptitle(f"{row}, N = {n_train}: samples (top), nearest training images (bottom)")
    fig.savefig(figure, dpi=80)
    return result


def _table(results):
    header = ("N", "row", "bits/dim", "fit (s)", "peak (GiB)", "sample 1000 (s)", "memorized",
              "memorized (subspace)", "chosen")
    lines = ["| " + " | ".join(header) + " |", "|" + " --- |" * len(header)]
    for r in results:
        lines.append(
            f"| {r['n_train']} | {r['row']} | {r['bits_per_dim']:.3f} | {r['fit_seconds']:.0f} | "
            f"{r['peak_gib']:.2f} | {r['sample_seconds']:.2f} | {r['memorized']:.3f} "
            f"(test {r['memorized_test']:.3f}) | {r['memorized_subspace']:.3f} (test "
            f"{r['memorized_subspace_test']:.3f}) | {r['chosen']} |")
    return "\n".join(lines)


def _page(results, command, n_test):
    """The benchmark page: how it was run, the table, every nearest-image grid."""
    sys.path.insert(0, str(Path(__file__).parent))
    import run

    grids = [f"![{r['row']}, N = {r['n_train']}](figures/{Path(r['figure']).name})"
             for r in results]
    return "\n\n".join([
        "# WPOKernelScore on MNIST",
        f"Produced by `{command}` on {run.environment()}; {n_test} test images, "
        f"{_N_SAMPLES} samples per row, every row fitted in a process of its own (peak: "
        "the resident memory of that process). Bits per dimension of the dequantized test "
        "images (lower is better); memorized: share of samples whose nearest training image "
        "is closer than a third of the second nearest, in pixel space and in the leading "
        "principal subspace, beside the same share for fresh test images.",
        _table(results), *grids]) + "\n"


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, default=Path(__file__).resolve().parents[2]
                        / "shared" / "data" / "mnist", help="folder of the MNIST IDX files")
    parser.add_argument("--sizes", type=int, nargs="+", default=[5000, 20000])
    parser.add_argument("--n-test", type=int, default=2000)
    parser.add_argument("--rows", nargs="+", default=list(_ROWS), choices=_ROWS)
    parser.add_argument("--output-dir", type=Path, default=Path("docs/benchmarks"))
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--quick", action="store_true", help="300 images, 200 test images")
    parser.add_argument("--wpo-max-steps", type=int, default=None,
                        help="training steps of WPOKernelScore (default: its own)")
    parser.add_argument("--_one", help=argparse.SUPPRESS)  # a row, in its own process
    args = parser.parse_args(argv)
    if args._one:
        row, n_train, figure, wpo_options = json.loads(args._one)
        print(json.dumps(measure(row, n_train, args.n_test, args.data, args.seed, figure,
                                 wpo_options)))
        return 0
    if args.quick:
        args.sizes, args.n_test = [300], 200
    (args.output_dir / "figures").mkdir(parents=True, exist_ok=True)
    results = []
    for n_train in args.sizes:
        for row in args.rows:
            figure = args.output_dir / "figures" / f"wpo_mnist_{row.split('(')[0]}_{n_train}.png"
            wpo_options = {} if args.wpo_max_steps is None else {"max_steps": args.wpo_max_steps}
            one = json.dumps([row, n_train, str(figure), wpo_options])
            output = subprocess.run([sys.executable, __file__, "--_one", one, "--data",
                                     str(args.data), "--n-test", str(args.n_test), "--seed",
                                     str(args.seed)], capture_output=True, text=True)
            if output.returncode:
                raise RuntimeError(f"{row} at N = {n_train} failed:\n{output.stderr}")
            results.append(json.loads(output.stdout.strip().splitlines()[-1]))
            print(_table(results[-1:]).splitlines()[-1], flush=True)
    command = "python benchmarks/bench_wpo_mnist.py " + shlex.join(argv or sys.argv[1:])
    (args.output_dir / "wpo_mnist.md").write_text(_page(results, command, args.n_test))
    print(_table(results))
    return 0


if __name__ == "__main__":
    sys.exit(main())
