"""Command-line interface: ``wpokernel demo [options]``.

Errors are reported as one line on standard error with exit code 2, never a traceback.
"""

import argparse
import sys
from pathlib import Path

from wpokernel.datasets import TOY_NAMES

__all__ = ["build_parser", "main"]

_EXIT_ERROR = 2
# Shell convention for a process stopped by SIGINT (128 + 2).
_EXIT_INTERRUPTED = 130
# Memorization ratios need two training points and energy distances two points per sample.
_MIN_POINTS = 2


def _int_at_least(minimum):
    """Return an argparse ``type`` that accepts ints >= ``minimum``."""

    def parse(text):
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"Expected an int, got {text!r}") from None
        if value < minimum:
            raise argparse.ArgumentTypeError(f"Expected an int >= {minimum}, got {value}")
        return value

    return parse


def build_parser():
    """Return the argument parser of the ``wpokernel`` command."""
    parser = argparse.ArgumentParser(
        prog="wpokernel", description="Kernel score-based generative models."
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    demo = commands.add_parser(
        "demo",
        help="compare a memorizing and a smoothed empirical score model on a 2-D toy",
        description="Fit EmpiricalScore() and an EmpiricalScore with a cross-validated bandwidth "
        "to a 2-D toy, "
        "sample both, save the samples and a figure, and print memorization and "
        "quality diagnostics.",
    )
    demo.add_argument("--dataset", choices=TOY_NAMES, default="2spirals", metavar="NAME",
                      help="toy data set, one of %(choices)s (default: %(default)s)")
    demo.add_argument("--n-train", type=_int_at_least(_MIN_POINTS), default=1000, metavar="N",
                      help="number of training points (default: %(default)s)")
    demo.add_argument("--n-samples", type=_int_at_least(_MIN_POINTS), default=1000, metavar="N",
                      help="number of test points and of samples per model "
                      "(default: %(default)s)")
    demo.add_argument("--output", type=Path, default=Path("wpokernel_demo"), metavar="DIR",
                      help="output folder (default: %(default)s)")
    demo.add_argument("--seed", type=_int_at_least(0), default=0, metavar="S",
                      help="random seed (default: %(default)s)")
    demo.add_argument("--no-progress", action="store_true", help="hide progress bars")
    return parser


def _run_demo(args):
    # Imported here so that `--help` and argument errors do not wait for the estimators.
    from wpokernel.demo import run_demo

    run_demo(args.dataset, n_train=args.n_train, n_samples=args.n_samples,
             output_dir=args.output, seed=args.seed, progress=not args.no_progress)


def main(argv=None):
    """Run the ``wpokernel`` command with ``argv`` (default: ``sys.argv[1:]``).

    Returns
    -------
    exit_code : int
        0 on success, 2 on an error, 130 when interrupted. Bad arguments exit with code 2
        through :mod:`argparse`.
    """
    args = build_parser().parse_args(argv)
    try:
        _run_demo(args)
    except KeyboardInterrupt:
        print("wpokernel: interrupted", file=sys.stderr)
        return _EXIT_INTERRUPTED
    except Exception as exc:  # the command line reports errors; it does not show tracebacks
        message = " ".join(str(exc).split()) or type(exc).__name__
        print(f"wpokernel: error: {message}", file=sys.stderr)
        return _EXIT_ERROR
    return 0


if __name__ == "__main__":
    sys.exit(main())
