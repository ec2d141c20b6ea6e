#!/usr/bin/env python3
"""On the GPU machine: what a short tile costs. Block lists of exactly k
distinct 128-key blocks per 128-row query tile (no mask, bf16, D = 128,
N = M = 16384), k = 1 .. 128, in two layouts (k random blocks in random
order; k consecutive blocks starting at the tile's own row), on
  - one wave: B = H = 1, 128 tiles on 132 SMs, so the time is one tile's
    latency plus the launch;
  - a full grid: B = 2, H = 16, 4096 tiles, about 31 per SM;
for each short_list_* variant of build_sparse_tiles.py. A fit t = a + b k per tile
(the full grid's time x SMs / tiles) separates a tile's fixed cost from a
block's. Each variant is first checked against the float64 reference.
Writes sparse-short.json into --out.

  PYTHONPATH=<runtime-only site> python3 bench/gpu/sparse_short.py --out DIR
"""
import itertools
import json
import os

import torch

import attnir
from sparse import BUNDLES, dev, device_ms, random_lists, reference, run_report, time_ms

VARIANTS = sorted(f[len("short_list_"):-len(".bundle")] for f in os.listdir(BUNDLES)
                  if f.startswith("short_list_") and f.endswith(".bundle"))
KS = (1, 2, 4, 8, 16, 32, 64, 128)
SMS = 132


def load(variant):
    return attnir.load(os.path.join(BUNDLES, f"short_list_{variant}.bundle"))


def correctness(report):
    gen = torch.Generator().manual_seed(3)
    for variant in VARIANTS:
        kern = load(variant)
        B, H, N, M = 1, 4, 1000, 777
        q = torch.randn(B, H, N, 128, device=dev, dtype=torch.bfloat16)
        k = torch.randn(B, H, M, 128, device=dev, dtype=torch.bfloat16)
        v = torch.randn(B, H, M, 128, device=dev, dtype=torch.bfloat16)
        nqb, nkb = -(-N // 128), -(-M // 128)
        idx, cnt = random_lists(B, H, nqb, nkb, nkb + 2, 0.5, torch.int32, gen, junk=True)
        out = kern(q, k, v, idx.to(dev), cnt.to(dev)).double()
        ref = reference(q, k, v, idx, cnt, 128, 128, False, 128 ** -0.5)[0]
        err = ((out - ref).abs().max() / ref.abs().max()).item()
        report["correctness"].append(dict(variant=variant, max_rel_err=err, ok=err <= 1e-2))
        print(f"check {variant} err={err:.2e} {'ok' if err <= 1e-2 else 'FAILED'}", flush=True)


def lists(B, H, nb, k, layout, gen):
    idx = torch.empty((B, H, nb, k), dtype=torch.int32)
    for r in range(nb):
        if layout == "random":
            idx[:, :, r, :] = torch.stack([torch.randperm(nb, generator=gen)[:k]
                                           for _ in range(B * H)]).view(B, H, k)
        else:
            idx[:, :, r, :] = (torch.arange(k, dtype=torch.int32) + r) % nb
    return idx.to(dev), torch.full((B, H, nb), k, dtype=torch.int32, device=dev)


def timings(report, reps):
    N, D, BS = 16384, 128, 128
    nb = N // BS
    gen = torch.Generator().manual_seed(1)
    rows = []
    for B, H in ((1, 1), (2, 16)):
        q, k_, v = (torch.randn(B, H, N, D, device=dev, dtype=torch.bfloat16) for _ in range(3))
        tiles = B * H * nb
        for layout in ("random", "consecutive"):
            made = {kk: lists(B, H, nb, kk, layout, gen) for kk in KS}
            for variant in VARIANTS:
                kern = load(variant)
                for kk in KS:
                    idx, cnt = made[kk]
                    ms = time_ms(lambda: kern(q, k_, v, idx, cnt), reps)
                    dev_ms = device_ms(lambda: kern(q, k_, v, idx, cnt), reps)
                    row = dict(variant=variant, B=B, H=H, layout=layout, k=kk, ms=ms,
                               kernel_ms=dev_ms,
                               us_per_tile_per_sm=ms * 1e3 * min(SMS, tiles) / tiles,
                               kernel_us_per_tile_per_sm=dev_ms * 1e3 * min(SMS, tiles) / tiles,
                               tflops=4 * D * BS * BS * kk * tiles / ms / 1e9)
                    rows.append(row)
                    print(json.dumps(row), flush=True)
    # The same k blocks per tile from a mask instead of a list
    # (chunked<128 k>: a tile's chunk, all full; nothing to read per step).
    for B, H in ((2, 16),):
        q, k_, v = (torch.randn(B, H, N, D, device=dev, dtype=torch.bfloat16) for _ in range(3))
        tiles = B * H * nb
        for kk in KS:
            path = os.path.join(BUNDLES, f"short_chunk_{kk}.bundle")
            if not os.path.exists(path):
                continue
            kern = attnir.load(path)
            ms = time_ms(lambda: kern(q, k_, v), reps)
            dev_ms = device_ms(lambda: kern(q, k_, v), reps)
            row = dict(variant="default", B=B, H=H, layout="chunked mask", k=kk, ms=ms,
                       kernel_ms=dev_ms,
                       us_per_tile_per_sm=ms * 1e3 * min(SMS, tiles) / tiles,
                       kernel_us_per_tile_per_sm=dev_ms * 1e3 * min(SMS, tiles) / tiles,
                       tflops=4 * D * BS * BS * kk * tiles / ms / 1e9)
            rows.append(row)
            print(json.dumps(row), flush=True)
    # Fit a + b k over k <= 16 on the full grid, by events and by device time.
    fits = []
    for variant, layout, key in itertools.product(
            VARIANTS, ("random", "consecutive", "chunked mask"),
            ("us_per_tile_per_sm", "kernel_us_per_tile_per_sm")):
        pts = [(r["k"], r[key]) for r in rows
               if r["variant"] == variant and r["layout"] == layout and r["B"] == 2
               and r["k"] <= 16]
        n = len(pts)
        if n < 2:
            continue
        mx = sum(p[0] for p in pts) / n
        my = sum(p[1] for p in pts) / n
        b = sum((x - mx) * (y - my) for x, y in pts) / sum((x - mx) ** 2 for x, _ in pts)
        fits.append(dict(variant=variant, layout=layout, time=key, fixed_us=my - b * mx,
                         per_block_us=b))
        print(json.dumps(fits[-1]), flush=True)
    report["timings"] = rows
    report["fits"] = fits


if __name__ == "__main__":
    run_report("sparse-short.json", [correctness], timings)
