#!/usr/bin/env python3
"""On the GPU machine: attn.merge's bandwidth (issue 17's bar: >= 80 % of
the device's copy bandwidth, measured in the same run). The bundle
bench/gpu/bundles/merge_bw.bundle (bench/gpu/build_select.py) merges two
(out, lse) pairs, bf16 out [B, H, N, D]; it reads both pairs and writes one:
bytes = 3 x out + 3 x lse. The copy: torch's device-to-device copy of a
tensor of the same total bytes (read + write), in the same process.

  PYTHONPATH=<runtime-only site> python3 bench/gpu/merge.py --out DIR
"""
import json
import os

import numpy as np
import torch

import attnir
from sparse import run_report, time_ms

HERE = os.path.dirname(os.path.abspath(__file__))
dev = "cuda"
SHAPES = [(16, 16, 4096, 128), (4, 16, 16384, 128), (1, 32, 32768, 128)]


def rel_err(got, ref):
    """Max error over finite reference entries, relative to their max, and
    whether the infinities sit in the same places (and no NaN)."""
    err, same_inf = 0.0, True
    for g, r in zip(got, ref):
        g, r = g.double().cpu().numpy(), np.asarray(r, np.float64)
        fin = np.isfinite(r)
        same_inf &= bool(np.array_equal(np.isinf(g), np.isinf(r))) and not np.isnan(g).any()
        if fin.any():
            err = max(err, float(np.abs(g[fin] - r[fin]).max() / (np.abs(r[fin]).max() or 1)))
    return err, same_inf


def check(report):
    kern = attnir.load(os.path.join(HERE, "bundles", "merge_bw.bundle"))
    rows = []
    for B, H, N, D in [(2, 3, 77, 128), (1, 2, 1, 128)]:
        a, b = (torch.randn(B, H, N, D, device=dev, dtype=torch.bfloat16) for _ in range(2))
        la, lb = (torch.randn(B, H, N, device=dev) for _ in range(2))
        la[0, 0, 0] = lb[0, 0, 0] = -float("inf")  # a row no part kept
        got = [t.cpu() for t in kern(a, la, b, lb)]
        ref = kern.reference(a.cpu(), la.cpu(), b.cpu(), lb.cpu())
        err, same_inf = rel_err(got, ref)
        ok = err < 1e-2 and same_inf
        rows.append(dict(bundle="merge_bw", shape=f"{B}x{H}x{N}x{D}", max_rel_err=err, ok=ok))
        print(f"check merge_bw {B}x{H}x{N}x{D} err={err:.2e} {'ok' if ok else 'FAILED'}")
    report["correctness"] += rows


def timed(report, reps):
    kern = attnir.load(os.path.join(HERE, "bundles", "merge_bw.bundle"))
    out = []
    for B, H, N, D in SHAPES:
        a, b = (torch.randn(B, H, N, D, device=dev, dtype=torch.bfloat16) for _ in range(2))
        la, lb = (torch.randn(B, H, N, device=dev) for _ in range(2))
        o, l = torch.empty_like(a), torch.empty_like(la)
        t_merge = time_ms(lambda: kern(a, la, b, lb, out=(o, l)), reps)
        moved = 3 * a.numel() * 2 + 3 * la.numel() * 4
        src = torch.empty(moved // 2, dtype=torch.uint8, device=dev)
        dst = torch.empty_like(src)
        t_copy = time_ms(lambda: dst.copy_(src), reps)  # reads + writes moved bytes
        row = dict(shape=f"{B}x{H}x{N}x{D}", merge_ms=t_merge, copy_ms=t_copy,
                   merge_gbs=moved / t_merge / 1e6, copy_gbs=moved / t_copy / 1e6,
                   ratio=t_copy / t_merge)
        out.append(row)
        print(json.dumps(row))
    report["merge"] = out


if __name__ == "__main__":
    run_report("merge.json", [check], timed)
