#!/usr/bin/env bash
# On the GPU machine: installs the self-contained wheel (bench/gpu/build_wheel.sh
# here; carry bench/gpu/wheels/attnir) into an empty folder and runs
# bench/gpu/torch_op.py with it. Usage: bash bench/gpu/torch_op.sh --out DIR
set -euo pipefail
cd "$(dirname "$0")"
OUT=.
[ "${1:-}" = "--out" ] && OUT="$2"
SITE=$(mktemp -d)
python3 -m pip install -q --no-deps --no-index --target "$SITE" wheels/attnir/attnir-*.whl
PYTHONPATH="$SITE" python3 -W ignore torch_op.py --out "$OUT"
