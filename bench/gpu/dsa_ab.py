#!/usr/bin/env python3
"""On the GPU machine: DSA's step from several builds in one process, for
A/B measurements of a change: every bench/gpu/bundles/dsa_d128*.bundle
(build dsa_d128.bundle with bench/gpu/build_dsa.py, then copy the previous
build's as dsa_d128_prev.bundle). Each bundle's outputs are compared with
the previous build's (equal ids give equal outputs) and with float64 at
small shapes; then two rounds of timings (CUDA events, CUPTI per kernel)
at N = 8192 and 32768. Writes dsa-ab.json into the directory given.

  PYTHONPATH=<runtime-only site> python3 bench/gpu/dsa_ab.py OUTDIR
"""
import glob
import json
import os
import sys

import torch
import attnir
from dsa import inputs, rel, HERE
from rules import kernel_ms
from sparse import time_ms


names = sorted(os.path.basename(p)[:-7] for p in glob.glob(os.path.join(HERE, "bundles", "dsa_d128*.bundle"))
               if "causal" not in p)
kerns = {n: attnir.load(os.path.join(HERE, "bundles", n + ".bundle")) for n in names}
out = dict(device=torch.cuda.get_device_name(), checks=[], rows=[])
base = kerns["dsa_d128_prev"]
for B, N in [(1, 77), (2, 300), (1, 2100), (1, 4096)]:
    args = inputs(B, N, seed=N)
    ref = torch.as_tensor(base.reference(*(a.cpu() for a in args))) if N < 4096 else None
    want = base(*args)
    for n, k in kerns.items():
        got = k(*args)
        same = bool(torch.equal(got, want))
        err = rel(got.cpu(), ref) if ref is not None else None
        out["checks"].append(dict(name=n, shape=f"{B}x{N}", err=err, equal_to_base=same))
        print("check", n, B, N, err, "equal" if same else "DIFFERENT", flush=True)
# The indexer's matrix itself, where the entry returns it (its tiles past
# the diagonal are written -inf): -inf exactly where float64's is.
idx_path = os.path.join(HERE, "bundles", "index_only.bundle")
if os.path.exists(idx_path):
    kidx = attnir.load(idx_path)
    for B, N in [(1, 77), (2, 300), (1, 2100)]:
        q, k, v, qi, ki, w = inputs(B, N, seed=N)
        got = kidx(qi, ki, w).double().cpu()
        ref = torch.as_tensor(kidx.reference(qi.cpu(), ki.cpu(), w.cpu())).double()
        fin = torch.isfinite(ref)
        same_inf = bool(torch.equal(fin, torch.isfinite(got)) and (got[~fin] == float("-inf")).all())
        err = float((got[fin] - ref[fin]).abs().max() / ref[fin].abs().max())
        ok = same_inf and err < 1e-3
        out["checks"].append(dict(name="index_only", shape=f"{B}x{N}", err=err, same_inf=same_inf, ok=ok))
        print("check index_only", B, N, err, "ok" if ok else "FAILED", flush=True)
for rnd in range(2):
    for N in (8192, 32768):
        args = inputs(1, N, seed=1)
        for n, k in kerns.items():
            ks = kernel_ms(lambda: k(*args), 3)
            row = dict(round=rnd, name=n, N=N, ms=time_ms(lambda: k(*args), 10), kernels_ms=ks)
            out["rows"].append(row)
            print(json.dumps(row), flush=True)
with open(os.path.join(sys.argv[1] if len(sys.argv) > 1 else ".", "dsa-ab.json"), "w") as f:
    json.dump(out, f, indent=1)
