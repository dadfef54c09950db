r"""What every gallery script shares: its command line, figure files and dense references.

Each script runs as ``python examples/NAME.py [--fast] [--output-dir DIR] [--no-progress]``;
``--fast`` shrinks the data and the step counts so that it runs in a few seconds (the test of
the gallery uses it). The dense references evaluate a Gaussian mixture

.. math::

    \log p(x) = \operatorname{logsumexp}_j \big(\log w_j + \log N(x;\, z_j,\, C_j)\big)

one component at a time with :func:`scipy.stats.multivariate_normal`, from explicit
:math:`d \times d` covariance matrices: no softmax reduction, Woodbury identity or Cholesky
factor of the package is involved, so it checks the reduction engine independently.
"""

import argparse
from pathlib import Path

import numpy as np
from scipy.special import logsumexp
from scipy.stats import multivariate_normal

from wpokernel.reductions import Diagonal, DiagonalLowRank, Full, Isotropic, LowRank, ScaledLowRank

# Small PNGs for the documentation: about 80 pixels per inch is sharp enough on screen.
FIGURE_DPI = 80
DEFAULT_OUTPUT_DIR = Path("figures")


def parse_args(doc):
    """Parse ``--fast``, ``--output-dir`` and ``--no-progress`` (help: ``doc``'s first line)."""
    parser = argparse.ArgumentParser(description=doc.strip().splitlines()[0])
    parser.add_argument("--fast", action="store_true",
                        help="small data and few steps: runs in a few seconds")
    parser.add_argument("--output-dir", type=Path, default=DEFAULT_OUTPUT_DIR,
                        help=f"folder of the PNG figures (default: {DEFAULT_OUTPUT_DIR})")
    parser.add_argument("--no-progress", dest="progress", action="store_false",
                        help="hide the progress bars")
    return parser.parse_args()


def save(fig, output_dir, name):
    """Write ``fig`` as ``output_dir / name`` and print the path."""
    output_dir = Path(output_dir)
    output_dir.mkdir(parents=True, exist_ok=True)
    path = output_dir / name
    fig.savefig(path, dpi=FIGURE_DPI)
    print(f"wrote {path}")
    return path


def check(label, error, tolerance):
    """Print a reference error and stop the script with exit code 1 if it exceeds ``tolerance``."""
    print(f"{label}: {error:.2e}")
    if not error <= tolerance:
        raise SystemExit(f"Expected {label} <= {tolerance:g}, got {error:.3e}.")


def relative_error(value, reference):
    r""":math:`\max_i |v_i - r_i| / \max_i |r_i|`."""
    value, reference = np.asarray(value, dtype=float), np.asarray(reference, dtype=float)
    return float(np.abs(value - reference).max() / np.abs(reference).max())


def dense_covariances(structure, n_centers, n_features):
    """The covariance matrices of a structure of :mod:`wpokernel.reductions`, (N, d, d)."""
    if not isinstance(structure, (Isotropic, Diagonal, DiagonalLowRank, ScaledLowRank, LowRank,
                                  Full)):
        raise TypeError(
            f"Expected a covariance structure of wpokernel.reductions, got {structure!r}."
        )
    eye = np.eye(n_features)
    added = structure.added_variance
    if isinstance(structure, Isotropic):
        variance = np.broadcast_to(np.asarray(structure.variance, float), (n_centers,))
        return (variance + added)[:, None, None] * eye
    if isinstance(structure, Diagonal):
        return np.einsum("nd,de->nde", np.asarray(structure.variances, float) + added, eye)
    if isinstance(structure, (DiagonalLowRank, ScaledLowRank)):
        variance = np.broadcast_to(np.asarray(structure.variance, float), (n_centers,))
        # A profile (d,) shared by every center, or one per center (N, d).
        floor = variance[:, None] * np.asarray(structure.profile, float) + added
        factors = np.asarray(structure.factors, float)  # (N, d, r)
        if isinstance(structure, ScaledLowRank):  # fixed factors times their column scales
            factors = factors * np.asarray(structure.column_scales, float)[:, None, :]
        return np.einsum("nd,de->nde", floor, eye) + factors @ factors.transpose(0, 2, 1)
    if isinstance(structure, LowRank):
        variance = np.broadcast_to(np.asarray(structure.variance, float), (n_centers,))
        factors = np.asarray(structure.factors, float)  # (N, d, r)
        return (variance + added)[:, None, None] * eye + factors @ factors.transpose(0, 2, 1)
    return np.asarray(structure.covariances, float) + added * eye


def dense_log_density(field, x, t=0.0):
    r"""Reference :math:`\log \eta(x, t)` of a :class:`~wpokernel.GaussianMixtureField`."""
    centers = np.asarray(field.centers, float)
    n_centers, n_features = centers.shape
    covariances = dense_covariances(field.covariance_at(t), n_centers, n_features)
    log_weights = np.asarray(field.log_weights, float)
    log_terms = np.stack([
        log_weights[j] + multivariate_normal(centers[j], covariances[j]).logpdf(x)
        for j in range(n_centers)
    ])  # (N, M)
    return logsumexp(log_terms.reshape(n_centers, -1), axis=0)
