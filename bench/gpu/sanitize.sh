#!/usr/bin/env bash
# On the GPU machine: builds attnir-run (runtime only, no LLVM/MLIR) and runs
# every example bundle (bench/gpu/build_sanitize.py, carried in
# bench/gpu/bundles/san) plain with --check and under compute-sanitizer
# memcheck and racecheck (issue 15, deliverable 6). Results: $OUT/sanitize.json.
set -euo pipefail
cd "$(dirname "$0")/../.."
BUILD=${ATTNIR_RT_BUILD:-/tmp/attnir-rt}
cmake -S . -B "$BUILD" -G Ninja -DATTNIR_RUNTIME_ONLY=ON -DCMAKE_BUILD_TYPE=Release \
  -DCMAKE_CXX_COMPILER="$(command -v c++ || command -v g++)" \
  -DCMAKE_C_COMPILER="$(command -v cc || command -v gcc)" >/dev/null
ninja -C "$BUILD" attnir-run >/dev/null
python3 bench/gpu/sanitize.py "$BUILD/bin/attnir-run"
