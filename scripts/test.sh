#!/usr/bin/env bash
# One command from a fresh clone: install, build, run every test (GoogleTest
# unit tests, lit: FileCheck, attnc error and integration tests, pytest).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
bash scripts/build.sh
(cd build && ctest --output-on-failure -j1)
# The Python package as installed by setup.sh (run outside python/ so that
# the installed package, not the source folder, is imported).
(cd build && ATTNIR_REQUIRE_EXT=1 python3 -m pytest -q ../python/tests)
