#!/usr/bin/env bash
# One command from a fresh clone: install, build, run every test (GoogleTest
# unit tests, lit: FileCheck, attnc error and integration tests).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
bash scripts/build.sh
cd build && ctest --output-on-failure -j1
