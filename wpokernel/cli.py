"""Command-line interface of wpokernel.

``wpokernel demo``; ``wpokernel fit DATA --model NAME [--param K=V ...] -o MODEL``;
``wpokernel sample MODEL -n N -o OUT``; ``wpokernel evaluate MODEL --train DATA --test DATA``;
``wpokernel score MODEL DATA``. DATA files are ``.npy``, ``.npz`` (one array) or ``.csv``;
MODEL files are the safe model files of :mod:`wpokernel.persistence`.

Errors are reported as one line on standard error with exit code 2, never a traceback.
"""

import argparse
import json
import sys
from pathlib import Path

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


class _ToyNames:
    """The names of :data:`wpokernel.datasets.TOY_NAMES`, read only when ``demo``'s arguments
    are parsed or its help is shown: importing the data sets loads scikit-learn and SciPy,
    which ``wpokernel --help`` must not wait for."""

    @staticmethod
    def _names():
        from wpokernel.datasets import TOY_NAMES

        return TOY_NAMES

    def __contains__(self, name):
        return name in self._names()

    def __iter__(self):
        return iter(self._names())


#: Model names of ``wpokernel fit --model`` -> estimator class names in wpokernel.estimators.
MODELS = {
    "wpo": "WPOKernelScore",
    "empirical": "EmpiricalScore",
    "interpolant": "StochasticInterpolant",
    "schrodinger": "SchrodingerBridge",
    "follmer": "FollmerBridge",
    "sdflow": "ScoreDifferenceFlow",
}


def _key_value(text):
    """Parse ``K=V``; ``V`` is read as JSON (numbers, true/false, null) or else as a string."""
    key, sep, value = text.partition("=")
    if not sep or not key.isidentifier():
        raise argparse.ArgumentTypeError(f"Expected K=V with a parameter name K, got {text!r}")
    try:
        return key, json.loads(value)
    except json.JSONDecodeError:
        return key, value


def _add_force(parser):
    parser.add_argument("--force", action="store_true", help="overwrite an existing output file")


def _add_seed_and_progress(parser):
    parser.add_argument("--seed", type=_int_at_least(0), default=None, metavar="S",
                        help="random seed (default: none)")
    parser.add_argument("--no-progress", action="store_true", help="hide progress bars")


def _add_model_commands(commands):
    fit = commands.add_parser("fit", help="fit a model to a data file and save it",
                              description="Fit a model to DATA (.npy, .npz or .csv, one row per "
                              "point) and write it to a safe model file.")
    fit.add_argument("data", type=Path, metavar="DATA", help="training data file")
    fit.add_argument("--model", choices=list(MODELS), default="wpo", metavar="NAME",
                     help="one of %(choices)s (default: %(default)s)")
    fit.add_argument("-p", "--param", type=_key_value, action="append", default=[],
                     metavar="K=V", help="hyper-parameter of the model, repeatable "
                     "(V as JSON: 0.5, true, null, or a string)")
    fit.add_argument("-o", "--output", type=Path, required=True, metavar="MODEL",
                     help="model file to write (.npz, appended when missing)")
    _add_force(fit)
    _add_seed_and_progress(fit)

    sample = commands.add_parser("sample", help="draw samples from a saved model",
                                 description="Draw N samples from MODEL and write them to OUT "
                                 "(.npy or .csv).")
    sample.add_argument("model", type=Path, metavar="MODEL", help="model file")
    sample.add_argument("-n", "--n-samples", type=_int_at_least(1), required=True, metavar="N")
    sample.add_argument("-o", "--output", type=Path, required=True, metavar="OUT",
                        help="output file (.npy or .csv)")
    sample.add_argument("--method", default=None, metavar="METHOD",
                        help="sampler of the model, e.g. exact, sde or ode (default: its own)")
    _add_force(sample)
    _add_seed_and_progress(sample)

    evaluate = commands.add_parser("evaluate", help="measure a saved model against data",
                                   description="Draw samples from MODEL and print memorization "
                                   "and quality diagnostics against the training and test data.")
    evaluate.add_argument("model", type=Path, metavar="MODEL", help="model file")
    evaluate.add_argument("--train", type=Path, required=True, metavar="DATA")
    evaluate.add_argument("--test", type=Path, required=True, metavar="DATA")
    evaluate.add_argument("--n-samples", type=_int_at_least(4), default=None, metavar="N",
                          help="samples to draw (default: as many as test points)")
    _add_seed_and_progress(evaluate)

    score = commands.add_parser("score", help="log-likelihood of data under a saved model",
                                description="Print the mean log-likelihood (nats) of the "
                                "points of DATA under MODEL; -o writes one value per point.")
    score.add_argument("model", type=Path, metavar="MODEL", help="model file")
    score.add_argument("data", type=Path, metavar="DATA", help="data file")
    score.add_argument("-o", "--output", type=Path, default=None, metavar="OUT",
                       help="write per-point log-densities (.npy or .csv)")
    _add_force(score)


def build_parser():
    """Return the argument parser of the ``wpokernel`` command."""
    parser = argparse.ArgumentParser(
        prog="wpokernel", description="Kernel score-based generative models."
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    _add_model_commands(commands)
    demo = commands.add_parser(
        "demo",
        help="compare a memorizing score model, a kernel density and WPOKernelScore on a 2-D toy",
        description="Fit EmpiricalScore(), an EmpiricalScore with a cross-validated bandwidth "
        "and WPOKernelScore() to a 2-D toy, sample all three, save the samples and a figure, "
        "and print memorization and quality diagnostics.",
    )
    demo.add_argument("--dataset", choices=_ToyNames(), default="2spirals", metavar="NAME",
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


# Commands import the package on first use so that `--help` and argument errors are instant.
def _run_demo(args):
    from wpokernel.demo import run_demo

    run_demo(args.dataset, n_train=args.n_train, n_samples=args.n_samples,
             output_dir=args.output, seed=args.seed, progress=not args.no_progress)


def _load_model(path, progress=None):
    from wpokernel import load

    model = load(path)
    if progress is not None and "progress" in model.get_params():
        model.set_params(progress=progress)
    return model


def _model_output(path):
    """The model file ``save`` writes for ``path``: ``.npz`` appended when missing."""
    return path if path.suffix == ".npz" else path.with_name(path.name + ".npz")


def _run_fit(args):
    from wpokernel._data_files import check_output_path, read_data

    output = check_output_path(_model_output(args.output), (".npz",), force=args.force)
    X = read_data(args.data)
    # Only now: the estimators bring torch and scikit-learn (seconds), and a bad path or
    # data file should be reported at once.
    from wpokernel import estimators

    cls = getattr(estimators, MODELS[args.model])
    model = cls()
    params = dict(args.param)
    if args.seed is not None and "random_state" in model.get_params():
        params.setdefault("random_state", args.seed)
    if "progress" in model.get_params():
        params.setdefault("progress", not args.no_progress)
    model.set_params(**params)
    model.fit(X)
    path = model.save(output)
    print(f"fitted {type(model).__name__} on {X.shape[0]} points of dimension {X.shape[1]}; "
          f"saved to {path}")


def _run_sample(args):
    from wpokernel._data_files import check_output_path, write_data

    check_output_path(args.output, force=args.force)
    model = _load_model(args.model, progress=not args.no_progress)
    kwargs = {} if args.method is None else {"method": args.method}
    samples = model.sample(args.n_samples, random_state=args.seed, **kwargs)
    path = write_data(args.output, samples)
    print(f"wrote {samples.shape[0]} samples of dimension {samples.shape[1]} to {path}")


def _run_evaluate(args):
    from wpokernel._data_files import read_data

    # The data files first, as in fit: the diagnostics and the model bring torch (seconds).
    X_train, X_test = read_data(args.train), read_data(args.test)
    from wpokernel.diagnostics import evaluate

    model = _load_model(args.model, progress=not args.no_progress)
    result = evaluate(model, X_train, X_test, n_samples=args.n_samples, random_state=args.seed)
    print(result.to_table())


def _run_score(args):
    from wpokernel._data_files import check_output_path, read_data, write_data

    if args.output is not None:
        check_output_path(args.output, force=args.force)
    X = read_data(args.data)  # before the model, as in fit
    model = _load_model(args.model)
    if not hasattr(model, "score_samples"):
        raise ValueError(f"Expected a model with a log-density, got {type(model).__name__}, "
                         "which has none.")
    log_density = model.score_samples(X)
    print(f"mean log-likelihood: {log_density.mean():.6g} nats over {len(log_density)} points")
    if args.output is not None:
        write_data(args.output, log_density)


_COMMANDS = {"demo": _run_demo, "fit": _run_fit, "sample": _run_sample,
             "evaluate": _run_evaluate, "score": _run_score}


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
        _COMMANDS[args.command](args)
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
