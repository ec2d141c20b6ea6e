#!/usr/bin/env bash
# Configures and builds AttnIR into build/ (Release, Ninja, clang-22 + lld,
# ccache when present).
set -euo pipefail
cd "$(dirname "$0")/.."
LLVM_PREFIX=$(llvm-config-22 --prefix)
if [ ! -f build/build.ninja ]; then
  cmake -G Ninja -S . -B build \
    -DMLIR_DIR="$LLVM_PREFIX/lib/cmake/mlir" \
    -DCMAKE_C_COMPILER=clang-22 -DCMAKE_CXX_COMPILER=clang++-22 >/dev/null
fi
ninja -C build
