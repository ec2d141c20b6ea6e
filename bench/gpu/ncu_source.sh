#!/usr/bin/env bash
# On the GPU machine, after run.sh built the package: source-level Nsight
# Compute (warp-stall sampling per SASS instruction) of the kernels matching
# REGEX, in their second launches under one of the profile_*.py drivers.
# Writes $OUT/details.txt (sections), $OUT/src.csv (per instruction) and
# $OUT/summary.txt (bench/gpu/ncu_summary.py: stall reasons, opcodes, top
# instructions).
#   OUT=DIR bash bench/gpu/ncu_source.sh 'routing__s0(_c0)?$' profile_routing.py default
set -euo pipefail
cd "$(dirname "$0")"
REGEX=$1; shift
SITE=${ATTNIR_SITE:-/tmp/attnir-site}
OUT=${OUT:-.}
PYTHONPATH=$SITE ncu --launch-skip 2 --launch-count 2 -k "regex:$REGEX" \
  --section SourceCounters --section WarpStateStats --section SpeedOfLight \
  --section Occupancy --section LaunchStats -o "$OUT/rep" python3 "$@" > "$OUT/ncu.log" 2>&1
ncu -i "$OUT/rep.ncu-rep" --page source --csv --print-source sass > "$OUT/src.csv" 2>&1
ncu -i "$OUT/rep.ncu-rep" > "$OUT/details.txt" 2>&1
rm -f "$OUT/rep.ncu-rep"
python3 ncu_summary.py "$OUT/src.csv" > "$OUT/summary.txt"
