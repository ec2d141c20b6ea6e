#!/usr/bin/env bash
# Installs every dependency of AttnIR on Debian 12 (bookworm): LLVM/MLIR 22
# from Debian's security suite, the build tools, GoogleTest, and the Python
# packages the tests and benchmarks use. Safe to run again.
set -euo pipefail

SUDO=""
if [ "$(id -u)" != 0 ]; then SUDO="sudo"; fi

PKGS="llvm-22-dev libmlir-22-dev mlir-22-tools llvm-22-tools clang-22 lld-22
      libomp-22-dev ninja-build ccache cmake libgtest-dev python3-pip"
missing=""
for p in $PKGS; do
  dpkg -s "$p" >/dev/null 2>&1 || missing="$missing $p"
done
if [ -n "$missing" ]; then
  echo "== installing Debian packages:$missing"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq $missing >/dev/null
fi

if ! python3 -c "import numpy" >/dev/null 2>&1; then
  echo "== installing Python packages (numpy)"
  python3 -m pip install -q numpy 2>&1 | grep -v "WARNING: Running pip as" || true
fi
