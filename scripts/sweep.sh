#!/usr/bin/env bash
# Property sweeps beyond CI's fixed seeds (issue 15): random valid specs
# compiled and checked against the float64 reference.
#   bash scripts/sweep.sh [CASES] [SEED] [FAMILY]
# FAMILY: attention (default: python/tests/sweep.py, every mask and
# combinator, parameters up to the 2^40 bound, block lists, document ids,
# ragged N and M, GQA, f32/f16, D 32-128, also against an independent numpy
# oracle), programs (program_sweep.py: pool -> block_scores -> select ->
# attention), linear (linear_sweep.py: attn.linear's option sets) or
# retrieval (retrieval_sweep.py: attn.landmark and routing programs).
# Default 2000 cases and a fresh seed. Needs the installed attnir package
# (scripts/setup.sh). Each failure is printed with the spec that
# reproduces it; exit status 1 if any.
set -euo pipefail
cd "$(dirname "$0")/../python/tests"
CASES=${1:-2000}
SEED=${2:-$(date +%s)}
case "${3:-attention}" in
  attention) SCRIPT=sweep.py ;;
  programs) SCRIPT=program_sweep.py ;;
  linear) SCRIPT=linear_sweep.py ;;
  retrieval) SCRIPT=retrieval_sweep.py ;;
  *) echo "sweep.sh: FAMILY is attention, programs, linear or retrieval, not '$3'" >&2; exit 2 ;;
esac
python3 "$SCRIPT" --seed "$SEED" --cases "$CASES"
