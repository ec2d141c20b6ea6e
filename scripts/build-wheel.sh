#!/usr/bin/env bash
# Builds the self-contained wheel of attnir (docs/design/deployment.md): the
# compiler inside (LLVM, MLIR and lld linked statically into
# libAttnIRCAPI.so), libomp and compiler-rt's builtins beside it, tagged
# manylinux after a check of every ELF file's dependencies and glibc
# symbol versions (scripts/wheel.py). Needs build/ (scripts/build.sh).
#   --out DIR              where the wheel goes (default dist/)
#   --python-include DIRS  also a wheel for another CPython, from its
#   --python-version X.Y   headers alone (';'-separated include folders)
# Prints the wheels' paths, one per line, last.
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=dist
CROSS_INC=""
CROSS_VER=""
while [ $# -gt 0 ]; do
  case "$1" in
    --out) OUT="$2"; shift 2 ;;
    --python-include) CROSS_INC="$2"; shift 2 ;;
    --python-version) CROSS_VER="$2"; shift 2 ;;
    *) echo "build-wheel.sh: unknown argument $1" >&2; exit 2 ;;
  esac
done
mkdir -p "$OUT"
OUT=$(cd "$OUT" && pwd)

ninja -C build AttnIRCAPISelfContained >/dev/null
LIB="$PWD/build/self-contained/libAttnIRCAPI.so"

TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
python3 -m pip wheel -q --no-deps --no-build-isolation -w "$TMP" ./python \
  -C cmake.define.ATTNIR_CAPI_LIBRARY="$LIB" -C build-dir=build/wheel-py \
  2>&1 | grep -v "WARNING: Running pip as" || true
WHEEL=$(python3 scripts/wheel.py tag "$TMP"/attnir-*.whl)
mv "$WHEEL" "$OUT/"
WHEEL="$OUT/$(basename "$WHEEL")"

if [ -n "$CROSS_INC" ]; then
  TAG="cp${CROSS_VER/./}"
  cmake -G Ninja -S python -B "build/wheel-$TAG" \
    -DATTNIR_CAPI_LIBRARY="$LIB" -DATTNIR_PY_CROSS_INCLUDE="$CROSS_INC" \
    -DATTNIR_PY_CROSS_VERSION="$CROSS_VER" \
    -Dnanobind_ROOT="$(python3 -m nanobind --cmake_dir)" >/dev/null
  ninja -C "build/wheel-$TAG" >/dev/null
  # Installed, so that its run path is the package's ($ORIGIN).
  cmake --install "build/wheel-$TAG" --prefix "$TMP/$TAG" >/dev/null
  EXT=$(ls "$TMP/$TAG"/attnir/_attnir.cpython-*.so)
  python3 scripts/wheel.py swap-extension "$WHEEL" "$EXT" "$TAG" >/dev/null
fi
ls "$OUT"/attnir-*.whl
