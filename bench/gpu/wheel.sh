#!/usr/bin/env bash
# On the GPU machine (no LLVM/MLIR there): installs the self-contained wheel
# that bench/gpu/build_wheel.sh left in bench/gpu/wheels/attnir/ into an
# empty folder and runs python/tests/wheel_check.py --cuda with it: a fresh
# spec compiled for the CPU and for the GPU from the wheel alone, checked
# against float64, the time from spec text to first GPU result, and the
# libraries the process mapped. Writes wheel-gpu.json into --out DIR.
set -euo pipefail
cd "$(dirname "$0")/../.."
OUT=.
[ "${1:-}" = "--out" ] && OUT="$2"
SITE=$(mktemp -d)
python3 -m pip install -q --no-deps --no-index --target "$SITE" \
  bench/gpu/wheels/attnir/attnir-*.whl
ROOT=$PWD
(cd "$SITE" && PYTHONPATH="$SITE" python3 -c "
import time; t = time.perf_counter(); import attnir
print(f'import attnir: {time.perf_counter() - t:.3f} s')")
(cd "$SITE" && PYTHONPATH="$SITE" python3 "$ROOT/python/tests/wheel_check.py" \
   --cuda --site "$SITE") | tee "$OUT/wheel-gpu.json"
