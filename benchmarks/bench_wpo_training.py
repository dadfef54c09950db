#!/usr/bin/env python
r"""WPOKernelScore's training step beside the authors' formulation, in one run.

The peer is :mod:`wpo_authors` (a Cholesky-factor network of the center, dense precisions
:math:`L L^\top + 0.01 I`, a :math:`B \times K \times d \times d` product, Adam). Both train
on the same data with the same loss (implicit score matching at points that are not
centers), the same batch :math:`B = 64` and the same number of centers :math:`K = 1000`; the
package runs ``WPOKernelScore(objective="ism", batch_size=64, n_centers=1000)`` with its other
defaults. The two are interleaved: the package fits, then the peer trains, for each data set.

Measured:

* the wall time of one optimizer step (minibatch draw, loss, backward pass, Adam update):
  for the package, the time between the starts of consecutive steps of its own training loop,
  early stopping switched off so that exactly ``steps`` steps run; the median over the steps;
* the held-out implicit score-matching loss
  :math:`J = \frac1n \sum_i [\tfrac12 |\nabla \log \pi(x_i)|^2 + \Delta \log \pi(x_i)]`
  on test points, in the data's units, for both models from their closed-form mixtures:
  the package's at its initialization (step 0) and after ``steps`` steps, the peer's at
  its random initialization and after its ``steps`` steps; lower is better;
* the first step at which the package's and the peer's held-out loss reach the peer's final
  one, from held-out measurements every ``--eval-every`` steps;
* the set-up time (everything in the package's fit but the training steps).

Data: ``2spirals`` at :math:`d = 2` (4,000 points) and standard normal data at :math:`d = 64`
(4,000 points, whose true score is :math:`-x`, so :math:`J^\star = -d/2 = -32`), a quarter
held out. Run ``python benchmarks/bench_wpo_training.py --help``; ``--quick`` is a smoke run.
"""

import argparse
import sys
import time
from pathlib import Path
from unittest import mock

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
import wpo_authors  # noqa: E402  (a sibling module of this script)

# (data, dimension, the peer's steps): the peer runs until its held-out loss flattens where
# its step allows (1,000 steps at d = 2; at d = 64 a step takes seconds).
_CASES = (("2spirals", 2, 1000), ("random", 64, 100))
N_CENTERS = 1000
_BATCH_SIZE = wpo_authors.DEFAULT_BATCH_SIZE


def mixture_ism_loss(field, X):
    r"""Held-out :math:`J` of a :class:`~wpokernel.mixture.GaussianMixtureField` at ``X``."""
    score = field.score(X)
    return float(np.mean(0.5 * (score * score).sum(1) + field.laplacian_log_density(X)))


def _data(name, n_features, n_samples, seed):
    if name == "random":
        X = np.random.default_rng(seed).normal(size=(n_samples, n_features))
    else:
        from wpokernel.datasets import make_toy

        X = make_toy(name, n_samples, random_state=seed)
    cut = n_samples * 3 // 4
    return X[:cut], X[cut:]


class _StepClock:
    """Wraps the package's training driver: records the start of every step, no early stop."""

    def __init__(self, train):
        self._train, self.starts = train, []

    def __call__(self, model, step_loss, **options):
        def timed_loss(step):
            self.starts.append(time.perf_counter())
            return step_loss(step)

        # Every measurement "improves" and the only one after step 0 is at the last step:
        # exactly max_steps steps run and the last state is kept.
        scores = iter(range(options["max_steps"] + 2))
        options["validate"] = lambda: float(next(scores))
        options["validation_interval"] = max(options["max_steps"], 1)
        result = self._train(model, timed_loss, **options)
        self.starts.append(time.perf_counter())
        return result


def package_run(X_train, X_test, steps, n_centers, seed):
    """Fit the package with ``steps`` ISM steps; its step times, losses and set-up time."""
    from wpokernel import WPOKernelScore
    from wpokernel.estimators import wpo

    options = dict(objective="ism", batch_size=_BATCH_SIZE, n_centers=n_centers,
                   random_state=seed, progress=False)
    start = time.perf_counter()
    initial = WPOKernelScore(max_steps=0, **options).fit(X_train)
    setup_seconds = time.perf_counter() - start
    clock = _StepClock(wpo.train)
    with mock.patch.object(wpo, "train", clock):
        trained = WPOKernelScore(max_steps=steps, **options).fit(X_train)
    return dict(
        step_seconds=np.diff(clock.starts), setup_seconds=setup_seconds,
        initial_loss=mixture_ism_loss(initial.density_field(), X_test),
        final_loss=mixture_ism_loss(trained.density_field(), X_test),
        structure=f"{trained.structure_}, rank {trained.rank_}",
    )


def authors_run(X_train, X_test, steps, eval_every, n_centers, seed):
    """Train the peer for ``steps`` steps; its step times and held-out losses."""
    centers, points = wpo_authors.split_centers(X_train, n_centers, random_state=seed)
    model = wpo_authors.build_model(centers, seed=seed)  # float32, as published
    curve = [(0, wpo_authors.heldout_ism_loss(model, X_test))]
    step_seconds = []
    for done in range(0, steps, eval_every):
        chunk = min(eval_every, steps - done)
        run = wpo_authors.train(model, points, chunk, seed=seed + done)
        step_seconds.extend(run.step_seconds)
        curve.append((done + chunk, wpo_authors.heldout_ism_loss(model, X_test)))
    return dict(step_seconds=np.asarray(step_seconds), curve=curve, initial_loss=curve[0][1], final_loss=curve[-1][1])


def run_benchmark(cases, steps, authors_steps, eval_every, n_samples, n_centers, seed):
    rows = []
    for name, n_features, case_authors_steps in cases:
        X_train, X_test = _data(name, n_features, n_samples, seed)
        ours = package_run(X_train, X_test, steps, n_centers, seed)
        theirs = authors_run(X_train, X_test, authors_steps or case_authors_steps,
                             min(eval_every, authors_steps or case_authors_steps), n_centers, seed)
        target = theirs["final_loss"]
        reached = next((s for s, loss in theirs["curve"] if loss <= target), None)
        rows.append(dict(data=name, n_features=n_features, ours=ours, theirs=theirs,
                         speedup=np.median(theirs["step_seconds"]) / np.median(ours["step_seconds"]),
                         authors_steps_to_final=reached,
                         package_steps_to_final=0 if ours["initial_loss"] <= target else
                         (steps if ours["final_loss"] <= target else None)))
        _print_row(rows[-1])
    return rows


def _steps_text(value):
    return "not reached" if value is None else str(value)


def _print_row(row):
    ours, theirs = row["ours"], row["theirs"]
    print(f"{row['data']} d={row['n_features']}: step {np.median(ours['step_seconds']) * 1e3:.2f} "
          f"ms vs {np.median(theirs['step_seconds']) * 1e3:.2f} ms ({row['speedup']:.1f}x); "
          f"held-out ISM package {ours['initial_loss']:.4g} -> {ours['final_loss']:.4g}, "
          f"authors {theirs['initial_loss']:.4g} -> {theirs['final_loss']:.4g}", flush=True)


def write_markdown(rows, path, *, command, steps, n_centers):
    lines = [
        "# WPOKernelScore training against the authors' formulation",
        "",
        f"Produced by `{command}` ({torch.get_num_threads()} torch threads). Same loss "
        f"(implicit score matching at non-center points), batch {_BATCH_SIZE}, "
        f"K = {n_centers} centers; the package ran {steps} steps, the peer as many as its "
        "curve below shows. Step times are medians; held-out ISM is in data units, lower is "
        "better. See the script's docstring for what each column measures.",
        "",
        "| data | package structure | package step (ms) | authors' step (ms) | speed-up "
        "| package set-up (s) | held-out ISM, package: init → trained | authors: init → trained "
        "| steps to authors' final: package / authors |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for row in rows:
        ours, theirs = row["ours"], row["theirs"]
        lines.append(
            f"| {row['data']} (d = {row['n_features']}) | {ours['structure']} "
            f"| {np.median(ours['step_seconds']) * 1e3:.2f} "
            f"| {np.median(theirs['step_seconds']) * 1e3:.2f} | {row['speedup']:.1f}x "
            f"| {ours['setup_seconds']:.1f} "
            f"| {ours['initial_loss']:.4g} → {ours['final_loss']:.4g} "
            f"| {theirs['initial_loss']:.4g} → {theirs['final_loss']:.4g} "
            f"| {_steps_text(row['package_steps_to_final'])} / "
            f"{_steps_text(row['authors_steps_to_final'])} |")
    lines += ["", "The peer's held-out curve (step: loss):", ""]
    for row in rows:
        curve = ", ".join(f"{s}: {loss:.4g}" for s, loss in row["theirs"]["curve"])
        lines.append(f"- {row['data']} (d = {row['n_features']}): {curve}")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(lines) + "\n")


def _parse(argv):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true",
                        help="smoke run: 5 steps, 100 centers, d = 2 and 8")
    parser.add_argument("--steps", type=int, default=100, help="package steps (default 100)")
    parser.add_argument("--authors-steps", type=int, default=None,
                        help="peer steps (default 1000 at d = 2, 100 at d = 64)")
    parser.add_argument("--eval-every", type=int, default=25)
    parser.add_argument("--n-samples", type=int, default=4000)
    parser.add_argument("--threads", type=int, default=1, help="torch threads (default 1)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--output", type=Path, default=Path("docs/benchmarks/wpo_training.md"))
    return parser.parse_args(argv)


def main(argv=None):
    args = _parse(argv)
    torch.set_num_threads(args.threads)
    cases, steps, n_samples, n_centers = _CASES, args.steps, args.n_samples, N_CENTERS
    if args.quick:
        cases, steps, n_samples, n_centers = (("2spirals", 2, 5), ("random", 8, 5)), 5, 600, 100
    rows = run_benchmark(cases, steps, args.authors_steps, args.eval_every, n_samples, n_centers,
                         args.seed)
    command = "python benchmarks/bench_wpo_training.py " + " ".join(argv or sys.argv[1:])
    write_markdown(rows, args.output, command=command.strip(), steps=steps, n_centers=n_centers)
    print(f"wrote {args.output}")
    return rows


if __name__ == "__main__":
    main()
