#!/usr/bin/env bash
# One command from a fresh clone: install, build, run every test (GoogleTest
# unit tests, lit: FileCheck, attnc error and integration tests, pytest, the
# self-contained wheel in a fresh virtual environment).
#   --sanitize: the C++ suite (unit tests and lit) again, built with ASan and
#   UBSan into build-san/ (docs/build.md); .ci/run runs both.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
if [ "${1:-}" = "--sanitize" ]; then
  bash scripts/build.sh --sanitize
  (cd build-san && ctest --output-on-failure -j2)
  exit 0
fi
bash scripts/build.sh
(cd build && ctest --output-on-failure -j1)
# The Python package as installed by setup.sh (run outside python/ so that
# the installed package, not the source folder, is imported).
(cd build && ATTNIR_REQUIRE_EXT=1 python3 -m pytest -q ../python/tests)
# The self-contained wheel in a fresh virtual environment (issue 20).
bash scripts/test-wheel.sh
