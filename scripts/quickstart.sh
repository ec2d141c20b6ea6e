#!/usr/bin/env bash
# One command from a fresh clone: install, build, then compile and run the
# shipped examples on random data, checked against the float64 reference and
# timed. Pass attnc flags to change the run, e.g. --shape q=1x8x4096x64.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
bash scripts/build.sh
for spec in examples/dense.mlir examples/causal.mlir; do
  ./build/bin/attnc run "$spec" --check --bench "$@"
done
