#!/usr/bin/env bash
# The self-contained wheel for the GPU machine, whose Python is 3.12 (3.11
# here): scripts/build-wheel.sh builds it for this Python and again for
# CPython 3.12 from the headers of Ubuntu 24.04's libpython3.12-dev
# (downloaded once into bench/gpu/wheels/py312/; the extension needs nothing
# else of that Python). Leaves only the 3.12 wheel in
# bench/gpu/wheels/attnir/ (carried with `carry: ["bench/gpu/wheels"]`; about
# 30 MB) for bench/gpu/wheel.py.
set -euo pipefail
cd "$(dirname "$0")/../.."
DEB=libpython3.12-dev_3.12.3-1ubuntu0.17_amd64.deb
PY=bench/gpu/wheels/py312
if [ ! -f "$PY/usr/include/python3.12/Python.h" ]; then
  mkdir -p "$PY"
  curl -sSf -o "$PY/$DEB" \
    "https://archive.ubuntu.com/ubuntu/pool/main/p/python3.12/$DEB"
  dpkg-deb -x "$PY/$DEB" "$PY"
fi
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
INC="$PWD/$PY/usr/include/python3.12;$PWD/$PY/usr/include"
bash scripts/build-wheel.sh --out "$TMP" --python-include "$INC" \
  --python-version 3.12 >/dev/null
rm -rf bench/gpu/wheels/attnir
mkdir -p bench/gpu/wheels/attnir
mv "$TMP"/attnir-*-cp312-*.whl bench/gpu/wheels/attnir/
ls -la bench/gpu/wheels/attnir/
