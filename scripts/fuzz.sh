#!/usr/bin/env bash
# Runs the libFuzzer targets (tools/fuzz) for a long time, one after another.
#   bash scripts/fuzz.sh [--runs N | --seconds S] [TARGET...]
# Default: 1,000,000 executions of each target (the issue-15 bar), all six
# targets. Builds build-san/ first (scripts/build.sh --sanitize). Corpora
# grow in build-san/fuzz-corpus/<target>; a crash, leak or timeout is saved
# as test/fuzz/<target>/crash-<hash> (libFuzzer's artifact), where the
# bounded ctest of that target runs it from then on: commit it with the fix.
# Prints one summary line per target: executions, seconds, result.
set -euo pipefail
cd "$(dirname "$0")/.."
LIMIT=(-runs=1000000)
TARGETS=()
while [ $# -gt 0 ]; do
  case "$1" in
    --runs) LIMIT=(-runs="$2"); shift 2 ;;
    --seconds) LIMIT=(-max_total_time="$2"); shift 2 ;;
    *) TARGETS+=("$1"); shift ;;
  esac
done
[ ${#TARGETS[@]} -eq 0 ] && TARGETS=(fuzz-npy fuzz-bundle fuzz-spec fuzz-capi fuzz-pipeline fuzz-cuda)
bash scripts/build.sh --sanitize >/dev/null
BUNDLE=build-san/fuzz-causal.bundle
build-san/bin/attnc compile examples/causal.mlir --emit bundle -o "$BUNDLE"
export ATTNIR_FUZZ_BUNDLE=$PWD/$BUNDLE
export ASAN_OPTIONS=verify_asan_link_order=0
status=0
for t in "${TARGETS[@]}"; do
  corpus=build-san/fuzz-corpus/$t
  mkdir -p "$corpus"
  extra=()
  case "$t" in fuzz-spec|fuzz-pipeline|fuzz-cuda) extra=(examples) ;; esac
  log=build-san/fuzz-$t.log
  start=$(date +%s)
  if build-san/bin/"$t" "${LIMIT[@]}" -timeout=30 -rss_limit_mb=6000 \
       -print_final_stats=1 -dict=test/fuzz/attn.dict \
       -artifact_prefix="test/fuzz/$t/crash-" \
       "$corpus" "test/fuzz/$t" "${extra[@]}" >"$log" 2>&1; then
    result=clean
  else
    result="FOUND A CRASH (see $log and test/fuzz/$t/crash-*)"
    status=1
  fi
  runs=$(grep -o 'stat::number_of_executed_units: [0-9]*' "$log" | awk '{print $2}')
  echo "$t: ${runs:-?} executions in $(( $(date +%s) - start )) s, $result"
done
exit $status
