"""Reading and writing the data files of the command line: ``.npy``, ``.npz`` and ``.csv``.

Every reader returns a finite float64 array of shape ``(n_samples, n_features)`` or raises a
``ValueError`` that names the file and the problem; ``.npy`` and ``.npz`` files are read with
``allow_pickle=False``, so a data file can never run code.
"""

import warnings
from pathlib import Path

import numpy as np

__all__ = ["DATA_SUFFIXES", "OUTPUT_SUFFIXES", "check_output_path", "read_data", "write_data"]

DATA_SUFFIXES = (".npy", ".npz", ".csv")
OUTPUT_SUFFIXES = (".npy", ".csv")


def _numbers(line):
    return [float(v) for v in line.split(",")]


def _first_bad_cell(lines, skip):
    """'row R, column C' (1-based, as a spreadsheet counts) of the first cell that is not a
    number, or of the first row whose length differs from the first row's."""
    width = None
    for i, line in enumerate(lines[skip:], start=skip + 1):
        cells = line.split(",")
        width = len(cells) if width is None else width
        if len(cells) != width:
            return f"row {i} has {len(cells)} values where row {skip + 1} has {width}"
        for j, cell in enumerate(cells, start=1):
            try:
                float(cell)
            except ValueError:
                return f"row {i}, column {j} holds {cell.strip()!r}, not a number"
    return None


def _read_csv(path):
    """Comma-separated numbers; a first line that is not numeric is taken as a header."""
    with open(path, encoding="utf-8") as file:
        lines = [line for line in file.read().splitlines() if line.strip()]
    if not lines:
        raise ValueError("the file is empty")
    try:
        _numbers(lines[0])
        skip = 0
    except ValueError:
        skip = 1
    if len(lines) == skip:
        raise ValueError("the file has a header and no rows of numbers")
    problem = _first_bad_cell(lines, skip)
    if problem is not None:
        raise ValueError(problem)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # numpy warns, with a source line, where it should raise
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


def check_output_path(path, suffixes=OUTPUT_SUFFIXES, *, force=False):
    """Check, before any work, that ``path`` can be written: a known suffix, an existing
    folder, not a folder itself, and not an existing file unless ``force``.

    Returns
    -------
    pathlib.Path
    """
    path = Path(path)
    if path.suffix not in suffixes:
        raise ValueError(f"Expected an output file ending in {' or '.join(suffixes)}, "
                         f"got {str(path)!r}.")
    if path.is_dir():
        raise ValueError(f"Expected an output file, got the existing folder {str(path)!r}.")
    if not path.parent.is_dir():
        raise ValueError(f"Expected an existing folder for the output {str(path)!r}; "
                         f"{str(path.parent)!r} does not exist.")
    if path.exists() and not force:
        raise ValueError(f"The output file {str(path)!r} exists already; pass --force to "
                         "overwrite it.")
    return path


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
