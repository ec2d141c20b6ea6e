#!/usr/bin/env bash
# The self-contained wheel, proven on this machine (issue 20): builds it
# (scripts/build-wheel.sh), installs it into a fresh virtual environment
# with numpy from the system's site-packages and no attnir there, and runs
# python/tests/wheel_check.py in it: a fresh spec compiled and checked
# against float64, a CUDA compile when ptxas is found, and no LLVM, MLIR,
# lld or OpenMP library loaded from outside the installed package.
set -euo pipefail
cd "$(dirname "$0")/.."
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
WHEEL=$(bash scripts/build-wheel.sh --out "$TMP/dist" | tail -1)
echo "== wheel: $(basename "$WHEEL") ($(du -m "$WHEEL" | cut -f1) MB)"
python3 -m venv --system-site-packages "$TMP/venv"
"$TMP/venv/bin/python" -m pip install -q --no-deps --no-index --ignore-installed "$WHEEL" \
  2>&1 | grep -v "WARNING: Running pip as" || true
CUDA=""
if command -v ptxas >/dev/null || [ -x /usr/local/cuda/bin/ptxas ]; then
  CUDA=--cuda
fi
# From an empty folder: neither the source tree nor the system's attnir.
(cd "$TMP" && "$TMP/venv/bin/python" "$OLDPWD/python/tests/wheel_check.py" $CUDA)
