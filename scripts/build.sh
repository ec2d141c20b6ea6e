#!/usr/bin/env bash
# Configures and builds AttnIR into build/ (Release, Ninja, clang-22 + lld,
# ccache when present).
#   --sanitize: into build-san/ instead, with AddressSanitizer and
#   UndefinedBehaviorSanitizer (docs/build.md), for scripts/test.sh --sanitize.
set -euo pipefail
cd "$(dirname "$0")/.."
LLVM_PREFIX=$(llvm-config-22 --prefix)
DIR=build
EXTRA=()
if [ "${1:-}" = "--sanitize" ]; then
  DIR=build-san
  # The shared ASan runtime (the C API library links with --no-undefined),
  # found through an rpath; UB aborts the test; vptr and function checks
  # need RTTI, which LLVM is built without.
  RT=$(clang-22 -print-runtime-dir)
  SAN="-fsanitize=address,undefined -fno-sanitize=vptr,function"
  SAN="$SAN -fno-sanitize-recover=undefined -fno-omit-frame-pointer -shared-libasan"
  # Coverage for the libFuzzer targets (tools/fuzz), which this build adds.
  SAN="$SAN -fsanitize=fuzzer-no-link"
  EXTRA=(-DCMAKE_BUILD_TYPE=RelWithDebInfo -DATTNIR_FUZZERS=ON
         "-DCMAKE_C_FLAGS=$SAN"
         "-DCMAKE_CXX_FLAGS=$SAN -include $PWD/cmake/asan-llvm-shim.h"
         "-DCMAKE_EXE_LINKER_FLAGS=$SAN -Wl,-rpath,$RT"
         "-DCMAKE_SHARED_LINKER_FLAGS=$SAN -Wl,-rpath,$RT")
fi
if [ ! -f "$DIR/build.ninja" ]; then
  cmake -G Ninja -S . -B "$DIR" \
    -DMLIR_DIR="$LLVM_PREFIX/lib/cmake/mlir" \
    -DCMAKE_C_COMPILER=clang-22 -DCMAKE_CXX_COMPILER=clang++-22 \
    "${EXTRA[@]}" >/dev/null
fi
ninja -C "$DIR"
