#!/usr/bin/env bash
# Installs every dependency of AttnIR on Debian 12 (bookworm): LLVM/MLIR 22
# from Debian's security suite, the build tools, GoogleTest, and the Python
# packages the tests and benchmarks use. Safe to run again.
set -euo pipefail

SUDO=""
if [ "$(id -u)" != 0 ]; then SUDO="sudo"; fi

PKGS="llvm-22-dev libmlir-22-dev mlir-22-tools llvm-22-tools clang-22 lld-22
      liblld-22-dev libomp-22-dev libclang-rt-22-dev ninja-build ccache cmake libgtest-dev python3-pip
      python3-venv openmpi-bin libopenmpi-dev"
missing=""
for p in $PKGS; do
  dpkg -s "$p" >/dev/null 2>&1 || missing="$missing $p"
done
if [ -n "$missing" ]; then
  echo "== installing Debian packages:$missing"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq $missing >/dev/null
fi

pip_install() {
  python3 -m pip install -q "$@" 2>&1 | grep -v "WARNING: Running pip as" || true
}
# mpi4py (over Debian's OpenMPI) runs the context-parallel tests on 2 and 4
# processes (python/tests/test_distributed.py).
if ! python3 -c "import numpy, nanobind, scikit_build_core, pytest, ml_dtypes, mpi4py" >/dev/null 2>&1; then
  echo "== installing Python packages"
  pip_install numpy nanobind scikit-build-core pytest ml_dtypes mpi4py
fi

# The Python package `attnir` from this source tree (it builds the C API it
# needs in python/build/; incremental on a second run).
echo "== installing the attnir Python package (pip install ./python)"
python3 -m pip install -q "$(dirname "$0")/../python" 2>&1 | grep -v "WARNING: Running pip as" || true
python3 -c "import attnir" || { echo "setup: 'import attnir' failed" >&2; exit 1; }
