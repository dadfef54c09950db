"""Every example runs and checks itself against its dense reference.

The gallery scripts run in their ``--fast`` mode; each one stops (``SystemExit``, a non-zero
exit code for a user) when one of its exact checks fails, and must write its figures. They run
in this process, through the ``main`` their ``__main__`` block calls, so that each does not
pay for importing torch again; ``--help`` runs one as a user does, in a subprocess.
"""

import importlib.util
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from matplotlib.image import imread

from wpokernel import GaussianMixtureField
from wpokernel.reductions import Diagonal, DiagonalLowRank, Full, Isotropic, LowRank

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"
# Figures each gallery script writes.
FIGURES = {
    "conditional_generation": {"conditional_generation.png"},
    "digits_nearest_neighbours": {"digits_wpo_nearest.png", "digits_empirical_nearest.png"},
    "interpolant_ode_vs_sde": {"interpolant_ode_vs_sde.png"},
    "local_score_machines": {"local_score_empirical_nearest.png", "local_score_ls_nearest.png",
                             "local_score_els_nearest.png"},
    "memorization_vs_generalization": {"memorization.png"},
    "schrodinger_bridge_between_datasets": {"schrodinger_bridge.png"},
    "score_difference_flow": {"score_difference_flow.png"},
    "swissroll6d_manifold": {"swissroll6d_wpo_pairs.png", "swissroll6d_kde_pairs.png"},
    "toy_gallery": {"toy_gallery.png"},
}
# Scripts without figures, tested by calling their main function.
SCRIPTS_WITHOUT_FIGURES = {"score_of_a_gaussian_mixture"}
# A fast run takes seconds; this only stops a hung one.
TIMEOUT_SECONDS = 300


def _load(name):
    spec = importlib.util.spec_from_file_location(name, EXAMPLES / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_score_example_matches_dense_reference():
    assert _load("score_of_a_gaussian_mixture").main(n=300) < 1e-12


def test_every_script_is_tested():
    scripts = {path.stem for path in EXAMPLES.glob("*.py") if not path.stem.startswith("_")}
    assert scripts == set(FIGURES) | SCRIPTS_WITHOUT_FIGURES


@pytest.mark.parametrize("name", sorted(FIGURES))
def test_example_runs_fast_and_writes_its_figures(name, tmp_path, monkeypatch):
    # As when the script is run: its own folder first on the path (for _gallery).
    monkeypatch.syspath_prepend(str(EXAMPLES))
    monkeypatch.chdir(tmp_path)
    _load(name).main(fast=True, output_dir=tmp_path / "figures", progress=False)
    written = {path.name for path in (tmp_path / "figures").iterdir()}
    assert written == FIGURES[name]
    for figure in written:
        image = imread(tmp_path / "figures" / figure)
        assert image.ndim == 3 and min(image.shape[:2]) > 100


def test_example_help_names_the_options():
    result = subprocess.run([sys.executable, str(EXAMPLES / "toy_gallery.py"), "--help"],
                            capture_output=True, text=True, timeout=TIMEOUT_SECONDS, check=False)
    assert result.returncode == 0
    assert all(option in result.stdout for option in ("--fast", "--output-dir", "--no-progress"))


# -----------------------------------------------------------------------------------------
# The shared helpers of the gallery
# -----------------------------------------------------------------------------------------


def _structures(rng, n_centers, n_features):
    factors = rng.normal(size=(n_centers, n_features, 2))
    matrices = factors @ factors.transpose(0, 2, 1) + 0.3 * np.eye(n_features)
    return [Isotropic(0.4, added_variance=0.1),
            Isotropic(rng.uniform(0.1, 1.0, n_centers)),
            Diagonal(rng.uniform(0.1, 1.0, (n_centers, n_features)), added_variance=0.2),
            LowRank(0.5, factors, added_variance=0.1),
            DiagonalLowRank(rng.uniform(0.1, 1.0, n_centers), rng.uniform(0.5, 2.0, n_features),
                            factors, added_variance=0.1),
            Full(matrices, added_variance=0.05)]


def test_dense_log_density_is_the_closed_form_of_one_isotropic_gaussian():
    gallery = _load("_gallery")
    x = np.array([[0.0, 0.0], [1.0, -2.0]])
    field = GaussianMixtureField(np.array([[1.0, 1.0]]), Isotropic(0.5), beta=2.0)
    variance = 0.5 + 2.0**2 * 0.25
    closed_form = -np.log(2 * np.pi * variance) - ((x - 1.0) ** 2).sum(1) / (2 * variance)
    np.testing.assert_allclose(gallery.dense_log_density(field, x, t=0.25), closed_form,
                               rtol=1e-12)


@pytest.mark.parametrize("index", range(6))
def test_dense_log_density_matches_the_engine_for_every_structure(index):
    gallery = _load("_gallery")
    rng = np.random.default_rng(index)
    centers, x = rng.normal(size=(4, 3)), rng.normal(size=(6, 3))
    structure = _structures(rng, 4, 3)[index]
    field = GaussianMixtureField(centers, structure, rng.normal(size=4), beta=1.5)
    np.testing.assert_allclose(gallery.dense_log_density(field, x, t=0.1),
                               field.log_density(x, t=0.1), rtol=1e-10)


def test_dense_covariances_rejects_other_objects():
    gallery = _load("_gallery")
    with pytest.raises(TypeError, match="Expected a covariance structure of wpokernel.reductions"):
        gallery.dense_covariances(np.eye(2), 1, 2)


def test_check_stops_the_script_above_the_tolerance(capsys):
    gallery = _load("_gallery")
    gallery.check("error", 1e-12, 1e-10)
    assert "error: 1.00e-12" in capsys.readouterr().out
    with pytest.raises(SystemExit, match=r"Expected error <= 1e-10, got 1\.000e-03\."):
        gallery.check("error", 1e-3, 1e-10)
    with pytest.raises(SystemExit, match="Expected error <= 1e-10, got nan"):
        gallery.check("error", float("nan"), 1e-10)


def test_relative_error_is_relative_to_the_largest_reference_entry():
    gallery = _load("_gallery")
    assert gallery.relative_error([1.0, 2.5], [1.0, 2.0]) == pytest.approx(0.25)
