#!/usr/bin/env bash
# Property sweeps beyond CI's fixed seed (issue 15): random valid specs
# (every mask and combinator, parameters up to the 2^40 bound, block lists,
# document ids, ragged N and M, GQA, f32/f16, D 32-128) compiled and checked
# against the float64 reference and an independent numpy oracle.
#   bash scripts/sweep.sh [CASES] [SEED]     (default 2000 cases, a fresh seed)
# Needs the installed attnir package (scripts/setup.sh). Each failure is
# printed with the spec that reproduces it; exit status 1 if any.
set -euo pipefail
cd "$(dirname "$0")/.."
CASES=${1:-2000}
SEED=${2:-$(date +%s)}
python3 python/tests/sweep.py --seed "$SEED" --cases "$CASES"
