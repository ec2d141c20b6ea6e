#!/usr/bin/env python3
"""Writes the PTX (assembly = "...") or cubin (bin = "...") string of the first
gpu.binary in an MLIR file to a raw file: extract.py IN.mlir OUT."""
import sys

text = open(sys.argv[1]).read()
for key in ('assembly = "', 'bin = "'):
    start = text.find(key)
    if start >= 0:
        break
else:
    sys.exit("no gpu.binary object found")
i, out = start + len(key), bytearray()
while text[i] != '"':
    if text[i] == "\\":
        nxt = text[i + 1]
        if nxt in '\\"':
            out.append(ord(nxt))
            i += 2
        else:
            out.append(int(text[i + 1:i + 3], 16))
            i += 3
    else:
        out.extend(text[i].encode("latin-1"))
        i += 1
open(sys.argv[2], "wb").write(bytes(out))
