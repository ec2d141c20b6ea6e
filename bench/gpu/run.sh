#!/usr/bin/env bash
# On the GPU machine: builds the runtime-only attnir package (no LLVM/MLIR;
# C++ compiler, CMake, ninja, nanobind, scikit-build-core) into
# /tmp/attnir-site, then runs bench/gpu/run.py on the bundles that
# bench/gpu/build_bundles.py made (carry bench/gpu/bundles).
#   bash bench/gpu/run.sh [run.py options]     (results in $OUT or .)
set -euo pipefail
cd "$(dirname "$0")/../.."
SITE=${ATTNIR_SITE:-/tmp/attnir-site}
if [[ ! -d $SITE/attnir ]]; then
  t0=$(date +%s)
  # The system's C++ compiler: scikit-build-core would otherwise pass on
  # Python's build-time CC/CXX, which need not exist or be C++ drivers here.
  CXX=${CXX:-$(command -v c++ || command -v g++)}
  CC=${CC:-$(command -v cc || command -v gcc)}
  python3 -m pip install -q --no-deps --no-build-isolation --target "$SITE" \
    -C cmake.define.ATTNIR_RUNTIME_ONLY=ON -C cmake.define.CMAKE_CXX_COMPILER="$CXX" \
    -C cmake.define.CMAKE_C_COMPILER="$CC" -C build-dir=/tmp/attnir-pybuild ./python
  ldd "$SITE"/attnir/libAttnIRCAPI.so | grep -q 'libstdc++' ||
    echo "note: this toolchain links libstdc++ statically (fine: the C API exports only attnir_*)"
  echo "runtime-only package built in $(( $(date +%s) - t0 )) s"
fi
PYTHONPATH=$SITE python3 bench/gpu/run.py "$@"
