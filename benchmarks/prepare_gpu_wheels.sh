#!/usr/bin/env bash
# Build, on a machine with network, the wheels that benchmarks/gpu_check.sh installs on a GPU
# machine without one:
#   bash benchmarks/prepare_gpu_wheels.sh [FOLDER]      (default .gpu_wheels, ignored by git)
# pykeops and keopscore at the versions installed here: PyPI ships them as source archives,
# which pip could only build there by downloading setuptools, so they are built here into
# pure-Python wheels (they compile their kernels at run time, with the GPU machine's nvcc).
# Beside them the pure-Python packages that the package, its tests and its benchmarks import
# and that a Python holding only torch, CuPy, scikit-learn, SciPy and pytest may lack.
set -euo pipefail
cd "$(dirname "$0")/.."
dest="${1:-.gpu_wheels}"
PYTHON="${PYTHON:-python}"

version() {
    "$PYTHON" -c "import importlib.metadata as m, sys; print(m.version(sys.argv[1]))" "$1"
}

requirements=()
for package in pykeops keopscore pybind11 tqdm pytest-timeout; do
    requirements+=("$package==$(version "$package")")
done
mkdir -p "$dest"
"$PYTHON" -m pip wheel --no-deps --wheel-dir "$dest" "${requirements[@]}"
echo "wheels in $dest:"
ls -l "$dest"
