#!/usr/bin/env bash
# On the GPU machine: several of bench/gpu's suites in one command (the
# device lends ~10 minutes per command and gives the machine back after a
# short idle, so a regression pass over main batches them). Builds the
# runtime-only package once (run.sh), then runs each named suite with its
# own time limit, its output in $OUT/<suite>/ and its log in
# $OUT/<suite>.log; a suite that fails or runs out of time is reported and
# the next one still runs. Bundles: the matching bench/gpu/build_*.py here
# first (carry bench/gpu/bundles).
#
#   SUITE_SECONDS=240 OUT=DIR bash bench/gpu/suites.sh run landmark routing
#
# Suites: run (run.py: every example against its float64 reference, dense
# and causal against cuDNN), sparse, routing, landmark, dsa, selection,
# linear, scan, rules, merge, merge_fused (each bench/gpu/<suite>.py).
# Extra arguments per suite through <SUITE>_ARGS (RUN_ARGS=--skip-timing),
# its own limit through <SUITE>_SECONDS.
set -uo pipefail
cd "$(dirname "$0")/../.."
OUT=${OUT:-.}
SITE=${ATTNIR_SITE:-/tmp/attnir-site}
LIMIT=${SUITE_SECONDS:-300}
# run.sh builds the package when it is missing; --help only prints usage.
bash bench/gpu/run.sh --help > "$OUT/site.log" 2>&1 || {
  echo "runtime-only package failed to build: $OUT/site.log"; exit 1; }
status=0
for suite in "$@"; do
  dir="$OUT/$suite"
  mkdir -p "$dir"
  up="$(echo "$suite" | tr a-z A-Z)"
  var="${up}_ARGS" lim="${up}_SECONDS"
  t0=$(date +%s)
  # shellcheck disable=SC2086
  PYTHONPATH=$SITE:bench/gpu timeout "${!lim:-$LIMIT}" python3 "bench/gpu/$suite.py" \
    --out "$dir" ${!var:-} > "$OUT/$suite.log" 2>&1
  rc=$?
  echo "$suite: rc=$rc in $(( $(date +%s) - t0 )) s$([[ $rc == 124 ]] && echo ' (time limit)')"
  [[ $rc == 0 ]] || status=1
done
exit $status
