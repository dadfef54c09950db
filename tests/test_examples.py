"""Every example runs and checks itself against its dense reference."""

import importlib.util
from pathlib import Path

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"


def _load(name):
    spec = importlib.util.spec_from_file_location(name, EXAMPLES / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_score_example_matches_dense_reference():
    assert _load("score_of_a_gaussian_mixture").main(n=300) < 1e-12
