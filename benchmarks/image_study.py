"""The command line the MNIST memorization studies share (``bench_local_score.py``,
``bench_neural.py``): the data set, the nested sizes, integer settings with their default and
quick values, the MNIST folder and the output folder."""

import argparse
from dataclasses import replace
from pathlib import Path


def study_parser(description, default, quick, int_settings):
    """A parser for a study's settings: ``--quick``, ``--dataset``, ``--sizes``, one ``--name``
    per name in ``int_settings`` (its help shows both values), ``--mnist``, ``--output-dir``
    and ``--no-progress``; the caller may add its own options before parsing."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--quick", action="store_true",
                        help="smoke run on 8x8 digits with small sizes")
    parser.add_argument("--dataset", choices=("mnist", "digits"))
    parser.add_argument("--sizes", type=int, nargs="+")
    for name in int_settings:
        parser.add_argument(f"--{name.replace('_', '-')}", type=int,
                            help=f"default {getattr(default, name)} (quick: "
                                 f"{getattr(quick, name)})")
    parser.add_argument("--mnist", type=Path, default=Path("../shared/data/mnist"))
    parser.add_argument("--output-dir", type=Path, default=Path("docs/benchmarks"))
    parser.add_argument("--no-progress", action="store_true")
    return parser


def chosen_settings(args, default, quick):
    """The quick or the default settings, with every setting the command line gave."""
    given = {name: tuple(value) if isinstance(value, list) else value
             for name, value in ((name, getattr(args, name)) for name in vars(default))
             if value is not None}
    return replace(quick if args.quick else default, **given)
