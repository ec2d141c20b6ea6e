#!/usr/bin/env python3
"""On the GPU machine: the tile variants of bench/gpu/build_sparse_tiles.py
(bf16, B = 2, H = 16, N = 16384, D = 128), each checked against a float64
reference on ragged and GQA shapes, then timed on causal attention and on
random causal 128 x 128 block lists at 50, 25, 10 and 5 % of the causal
blocks (the lists of bench/gpu/sparse.py, same seed), all in one process,
by CUDA events and by CUPTI's kernel time.
Writes sparse-tiles.json into --out.

  PYTHONPATH=<runtime-only site> python3 bench/gpu/sparse_tiles.py --out DIR
"""
import json
import os

import torch

import attnir
from sparse import BUNDLES, dev, device_ms, random_lists, reference, run_report, time_ms

# TILES_ONLY=a,b: only those variants (e.g. under compute-sanitizer).
VARIANTS = sorted({f[len("tiles_list_"):-len(".bundle")]
                   for f in os.listdir(BUNDLES)
                   if f.startswith("tiles_list_") and f.endswith(".bundle")})
if os.environ.get("TILES_ONLY"):
    VARIANTS = [v for v in VARIANTS if v in os.environ["TILES_ONLY"].split(",")]


def load(kind, variant):
    return attnir.load(os.path.join(BUNDLES, f"tiles_{kind}_{variant}.bundle"))


def correctness(report):
    gen = torch.Generator().manual_seed(5)
    shapes = [("ragged", 2, 4, 4, 1000, 1000), ("gqa cross", 1, 8, 2, 333, 517)]
    for variant in VARIANTS:
        kern, kc = load("list", variant), load("causal", variant)
        for sname, B, Hq, Hkv, N, M in shapes:
            q = torch.randn(B, Hq, N, 128, device=dev, dtype=torch.bfloat16)
            k = torch.randn(B, Hkv, M, 128, device=dev, dtype=torch.bfloat16)
            v = torch.randn(B, Hkv, M, 128, device=dev, dtype=torch.bfloat16)
            nqb, nkb = -(-N // 128), -(-M // 128)
            idx, cnt = random_lists(B, Hq, nqb, nkb, nkb + 2, 0.4, torch.int32, gen,
                                    junk=True)
            full = torch.arange(nkb, dtype=torch.int32).expand(B, Hq, nqb, nkb).contiguous()
            fcnt = torch.full((B, Hq, nqb), nkb, dtype=torch.int32)
            for what, got, (i, c) in (
                    ("list", lambda: kern(q, k, v, idx.to(dev), cnt.to(dev)), (idx, cnt)),
                    ("causal", lambda: kc(q, k, v), (full, fcnt))):
                out = got().double()
                ref = reference(q, k, v, i, c, 128, 128, True, 128 ** -0.5)[0]
                err = ((out - ref).abs().max() / ref.abs().max()).item()
                ok = err <= 1e-2
                report["correctness"].append(dict(variant=variant, kind=what, shape=sname,
                                                  max_rel_err=err, ok=ok))
                print(f"check {variant:16s} {what:6s} {sname:10s} err={err:.2e} "
                      f"{'ok' if ok else 'FAILED'}", flush=True)


def timings(report, reps):
    B, H, N, D, BS = 2, 16, 16384, 128, 128
    nb = N // BS
    q, k, v = (torch.randn(B, H, N, D, device=dev, dtype=torch.bfloat16) for _ in range(3))
    causal_flops = 4 * D * N * (N + 1) / 2 * B * H
    gen = torch.Generator().manual_seed(1)
    lists = []
    for density in (0.5, 0.25, 0.1, 0.05):
        idx, cnt = random_lists(B, H, nb, nb, nb, density, torch.int32, gen,
                                causal_rows=lambda r: r)
        blocks = cnt.sum().item()
        pairs = (blocks - B * H * nb) * BS * BS + B * H * nb * BS * (BS + 1) / 2
        lists.append((density, idx.to(dev), cnt.to(dev), 4 * D * pairs))
    rows = []
    base = None
    for variant in VARIANTS:
        kern, kc = load("list", variant), load("causal", variant)
        ms = time_ms(lambda: kc(q, k, v), reps)
        dev_ms = device_ms(lambda: kc(q, k, v), reps)
        row = dict(variant=variant, causal_ms=ms, causal_tflops=causal_flops / ms / 1e9,
                   causal_kernel_ms=dev_ms, causal_kernel_tflops=causal_flops / dev_ms / 1e9)
        if base is None:
            base = kc(q, k, v).float()
        row["causal_max_diff_vs_first"] = (kc(q, k, v).float() - base).abs().max().item()
        for density, idx, cnt, flops in lists:
            t = time_ms(lambda: kern(q, k, v, idx, cnt), reps)
            row[f"list{int(density * 100)}_ms"] = t
            row[f"list{int(density * 100)}_tflops"] = flops / t / 1e9
            dt = device_ms(lambda: kern(q, k, v, idx, cnt), reps)
            row[f"list{int(density * 100)}_kernel_ms"] = dt
            row[f"list{int(density * 100)}_kernel_tflops"] = flops / dt / 1e9
        rows.append(row)
        print(json.dumps(row), flush=True)
    report["timings"] = rows


if __name__ == "__main__":
    run_report("sparse-tiles.json", [correctness], timings)
