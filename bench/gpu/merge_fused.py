#!/usr/bin/env python3
"""On the GPU machine: attn.merge fused into an attention kernel's epilogue
(attn-to-nvgpu fuse-merge=1, the default) against the merge as a step of
its own (fuse-merge=0). Bundles from bench/gpu/build_select.py:

  1. checks: halves of a diagonal window merged (rows past M are empty in
     both parts: zeros and lse -inf, never NaN) on the Hopper kernel and
     on mma.sync, against the float64 reference;
  2. split-KV at D = 128 (select_merge_d128 and its _unfused twin): the
     same inputs give the same outputs, CUDA-event medians of the whole
     entry and CUPTI times per kernel (the merge step is gone);
  3. writes merge_fused.json into --out.

  PYTHONPATH=<runtime-only site> python3 bench/gpu/merge_fused.py --out DIR
"""
import json
import os

import torch

import attnir
from merge import rel_err
from rules import kernel_ms
from sparse import run_report, time_ms

HERE = os.path.dirname(os.path.abspath(__file__))
dev = "cuda"
SHAPES = [(16, 16, 4096), (4, 16, 16384)]


def load(name):
    return attnir.load(os.path.join(HERE, "bundles", name + ".bundle"))


def check(report):
    rows = []
    for name in ("merge_empty_rows", "merge_empty_rows_sync"):
        kern = load(name)
        for B, H, N, M in [(1, 4, 300, 129), (2, 3, 77, 77), (1, 2, 1, 300)]:
            q, k, v = (torch.randn(B, H, n, 64, device=dev, dtype=torch.bfloat16)
                       for n in (N, M, M))
            got = kern(q, k, v)
            err, same_inf = rel_err(got, kern.reference(q.cpu(), k.cpu(), v.cpu()))
            ok = err < 2e-2 and same_inf
            rows.append(dict(bundle=name, shape=f"{B}x{H}x{N} M={M}", max_rel_err=err,
                             same_infinities=same_inf, ok=ok))
            print(f"check {name} {B}x{H}x{N} M={M} err={err:.2e} inf={same_inf} "
                  f"{'ok' if ok else 'FAILED'}", flush=True)
    report["correctness"] += rows


def timings(report, reps=20):
    report["timings"] = []
    fused, unfused = load("select_merge_d128"), load("select_merge_d128_unfused")
    for B, H, N in SHAPES:
        q, k, v = (torch.randn(B, H, N, 128, device=dev, dtype=torch.bfloat16) for _ in range(3))
        a, b = fused(q, k, v), unfused(q, k, v)
        diff = max(float((x.float() - y.float()).abs().max()) for x, y in zip(a, b))
        row = dict(shape=f"{B}x{H}x{N}", D=128, max_abs_diff=diff)
        for label, fn in (("fused", fused), ("unfused", unfused)):
            row[label + "_ms"] = round(time_ms(lambda fn=fn: fn(q, k, v), reps), 3)
            row[label + "_kernels"] = {n[:40]: round(t, 4) for n, t in
                                       kernel_ms(lambda fn=fn: fn(q, k, v), 10).items()}
        row["unfused_over_fused"] = round(row["unfused_ms"] / row["fused_ms"], 3)
        print(json.dumps(row), flush=True)
        report["timings"].append(row)


def main():
    run_report("merge_fused.json", [check], timings)


if __name__ == "__main__":
    main()
