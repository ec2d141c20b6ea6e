#!/usr/bin/env python3
"""On the GPU machine: the C runtime path without Python bindings. Builds the
runtime-only CMake project (attnir-run), runs a CUDA bundle on .npy inputs
(f16, ragged GQA shape) through attnir-run, and compares its .npy output with
the float64 reference. Prints one JSON line."""
import json
import os
import subprocess
import sys
import tempfile
import time

import numpy as np

import attnir

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))


def main():
    build = os.environ.get("ATTNIR_RT_BUILD", "/tmp/attnir-rt")
    t0 = time.time()
    subprocess.run(["cmake", "-S", ROOT, "-B", build, "-G", "Ninja", "-DATTNIR_RUNTIME_ONLY=ON",
                    "-DCMAKE_BUILD_TYPE=Release"], check=True, capture_output=True)
    subprocess.run(["ninja", "-C", build, "attnir-run"], check=True, capture_output=True)
    built_s = time.time() - t0
    name = "f16_causal_d64"
    rng = np.random.default_rng(3)
    shapes = [(2, 8, 777, 64), (2, 2, 1200, 64), (2, 2, 1200, 64)]
    arrays = [rng.standard_normal(s).astype(np.float16) for s in shapes]
    with tempfile.TemporaryDirectory() as d:
        paths = []
        for n, a in zip("qkv", arrays):
            paths.append(os.path.join(d, n + ".npy"))
            np.save(paths[-1], a)
        out = os.path.join(d, "o.npy")
        r = subprocess.run([os.path.join(build, "bin", "attnir-run"),
                            os.path.join(HERE, "bundles", name + ".bundle"), "--bench",
                            *paths, "-o", out], capture_output=True, text=True)
        if r.returncode:
            print(json.dumps(dict(ok=False, error=r.stderr.strip()[-300:])))
            return
        got = np.load(out).astype(np.float64)
    ref = attnir.reference(attnir.load(os.path.join(HERE, "bundles", name + ".bundle")),
                           *arrays)
    err = float(np.abs(got - ref).max() / np.abs(ref).max())
    print(json.dumps(dict(ok=err <= 1e-2, bundle=name, shapes=[list(s) for s in shapes],
                          max_rel_err=err, timing=r.stdout.strip(), build_s=round(built_s, 1))))


if __name__ == "__main__":
    sys.exit(main())
