"""Reading and writing the data files of the command line: ``.npy``, ``.npz`` and ``.csv``.

Every reader returns a finite float64 array of shape ``(n_samples, n_features)`` or raises a
``ValueError`` that names the file and the problem; ``.npy`` and ``.npz`` files are read with
``allow_pickle=False``, so a data file can never run code.
"""

from pathlib import Path

import numpy as np

__all__ = ["DATA_SUFFIXES", "read_data", "write_data"]

DATA_SUFFIXES = (".npy", ".npz", ".csv")


def _read_csv(path):
    """Comma-separated numbers; a first line that is not numeric is taken as a header."""
    with open(path, encoding="utf-8") as file:
        first = file.readline()
    try:
        [float(v) for v in first.split(",")]
        skip = 0
    except ValueError:
        skip = 1
    return np.loadtxt(path, delimiter=",", skiprows=skip, ndmin=2, dtype=float)


def _read_npz(path):
    with np.load(path, allow_pickle=False) as archive:
        if len(archive.files) != 1:
            raise ValueError(f"Expected one array in {path}, got {len(archive.files)}: "
                             f"{archive.files}.")
        return archive[archive.files[0]]


def read_data(path):
    """Read a data matrix from ``path`` (see the module docstring)."""
    path = Path(path)
    if path.suffix not in DATA_SUFFIXES:
        raise ValueError(f"Expected a data file ending in {DATA_SUFFIXES}, got {str(path)!r}.")
    if not path.is_file():
        raise ValueError(f"Expected an existing data file, got {str(path)!r}.")
    try:
        reader = {".npy": lambda p: np.load(p, allow_pickle=False), ".npz": _read_npz,
                  ".csv": _read_csv}[path.suffix]
        data = np.asarray(reader(path))
        data = data.astype(float)
    except (OSError, ValueError, TypeError, EOFError) as exc:
        message = " ".join(str(exc).split())
        raise ValueError(f"Could not read numbers from {path}: {message}") from exc
    if data.ndim == 1:
        data = data[:, None]
    if data.ndim != 2 or data.shape[0] == 0 or data.shape[1] == 0:
        raise ValueError(f"Expected a 2-D array of shape (n_samples, n_features) in {path}, "
                         f"got shape {data.shape}.")
    if not np.all(np.isfinite(data)):
        raise ValueError(f"Expected finite numbers in {path}, got NaN or inf.")
    return data


def write_data(path, data):
    """Write an array to ``.npy`` or ``.csv``, chosen by the suffix of ``path``."""
    path = Path(path)
    if path.suffix == ".npy":
        np.save(path, data)
    elif path.suffix == ".csv":
        np.savetxt(path, data, delimiter=",", fmt="%.17g")
    else:
        raise ValueError(f"Expected an output file ending in .npy or .csv, got {str(path)!r}.")
    return path
