#!/usr/bin/env python3
"""On the GPU machine: where a short tile's time goes, from the phase
stamps of the trace_* bundles (build_sparse_tiles.py; `--cuda-options
trace-tiles=1`). Each tile's record holds the clock64 stamps of its phases
(the producer lane's: tile start, Q copy issued, first and last step's
copies issued; consumer thread 0's: tile start, Q arrived, first K arrived,
first scores' softmax done, key loop done, last P V done, epilogue done;
warpgroup 1's start, first softmax, loop and epilogue done), the global
timer at the consumers' tile start, its step count and SM; the kernel
writes it over the first words of the tile's first output row when the
block ends, so the output of a trace build is not attention. Bundles run
with bf16, D = 128, N = M = 16384, B = 2, H = 16 (4096 tiles): lists of
exactly 2 random blocks per tile, chunked<256> (the same 2 blocks per tile
from the mask) and causal. Reports per-phase medians in nanoseconds and
the gap between one tile's end and the next tile's start on the same SM.
Writes tile-trace.json into --out.

  PYTHONPATH=<runtime-only site> python3 bench/gpu/tile_trace.py --out DIR
"""
import argparse
import json
import os
import statistics

BUNDLES = os.path.join(os.path.dirname(os.path.abspath(__file__)), "bundles")
EVENTS = ["producer_start", "q_issued", "first_step_issued", "last_step_issued",
          "consumer_start", "q_arrived", "first_scores", "loop_done",
          "last_pv_done", "epilogue_done", "group1_epilogue_done", "start_global_ns",
          "first_k_arrived", "group1_start", "group1_first_scores", "group1_loop_done",
          "steps", "tile_row", "tile_head", "sm"]
LAUNCHES = 4


def run(name, launches):
    """The records of the last of `launches` calls of bundle `name`."""
    import torch
    import attnir
    B, H, N, D, BS, K = 2, 16, 16384, 128, 128, 2
    nb = N // BS
    gen = torch.Generator().manual_seed(1)
    q, k, v = (torch.randn(B, H, N, D, generator=gen).to(torch.bfloat16).cuda()
               for _ in range(3))
    kern = attnir.load(os.path.join(BUNDLES, name + ".bundle"))
    if "list" in name:
        idx = torch.stack([torch.randperm(nb, generator=gen)[:K]
                           for _ in range(B * H * nb)]).view(B, H, nb, K)
        idx, cnt = idx.to(torch.int32).cuda(), torch.full((B, H, nb), K, dtype=torch.int32).cuda()
        call = lambda: kern(q, k, v, idx, cnt)
    else:
        call = lambda: kern(q, k, v)
    for _ in range(launches):
        out = call()
    torch.cuda.synchronize()
    # Each tile's record: the first words of its first output row.
    words = out.view(torch.int64)[:, :, ::BS, :len(EVENTS)].reshape(-1, len(EVENTS))
    tiles = []
    for rec in words.cpu().tolist():
        t = dict(zip(EVENTS, rec))
        if t["tile_row"] == 0:
            continue
        tiles.append(t)
    return tiles


def analyse(tiles):
    """Per-phase medians in ns over the launch's tiles."""
    by_sm = {}
    for t in tiles:
        by_sm.setdefault(t["sm"], []).append(t)
    # cycles per ns from each SM's consecutive tiles (clock64 vs globaltimer)
    ratios, gaps, spans = [], [], []
    for sm, ts in by_sm.items():
        ts.sort(key=lambda t: t["consumer_start"])
        for a, b in zip(ts, ts[1:]):
            dg = b["start_global_ns"] - a["start_global_ns"]
            if dg > 0:
                ratios.append((b["consumer_start"] - a["consumer_start"]) / dg)
            end = max(a["epilogue_done"], a["group1_epilogue_done"])
            gaps.append(b["consumer_start"] - end)
            spans.append(b["consumer_start"] - a["consumer_start"])
    ghz = statistics.median(ratios) if ratios else 1.0
    phases = {
        "producer: start -> Q copy issued": ("producer_start", "q_issued"),
        "producer: Q issued -> first step's copies issued": ("q_issued", "first_step_issued"),
        "producer: first -> last step's copies issued": ("first_step_issued", "last_step_issued"),
        "consumer: start -> Q arrived": ("consumer_start", "q_arrived"),
        "consumer: Q arrived -> first K arrived": ("q_arrived", "first_k_arrived"),
        "consumer: first K arrived -> first scores + softmax": ("first_k_arrived", "first_scores"),
        "consumer: first softmax -> key loop done": ("first_scores", "loop_done"),
        "consumer: loop done -> last P V done": ("loop_done", "last_pv_done"),
        "consumer: last P V -> epilogue done": ("last_pv_done", "epilogue_done"),
        "consumer: start -> epilogue done (tile)": ("consumer_start", "epilogue_done"),
        "producer start -> consumer start": ("producer_start", "consumer_start"),
        "group 1 - group 0: consumer start": ("consumer_start", "group1_start"),
        "group 1 - group 0: first scores + softmax": ("first_scores", "group1_first_scores"),
        "group 1 - group 0: key loop done": ("loop_done", "group1_loop_done"),
        "group 1 - group 0: epilogue done": ("epilogue_done", "group1_epilogue_done"),
    }
    out = {"cycles_per_ns": ghz, "tiles": len(tiles)}
    for label, (a, b) in phases.items():
        d = [t[b] - t[a] for t in tiles]
        out[label] = statistics.median(d) / ghz
    # One step of the key loop (tiles of more than one step).
    per_step = [(t["loop_done"] - t["first_scores"]) / (t["steps"] - 1)
                for t in tiles if t["steps"] > 1]
    if per_step:
        out["consumer: one key-loop step"] = statistics.median(per_step) / ghz
    out["steps per tile (median)"] = statistics.median(t["steps"] for t in tiles)
    if gaps:
        out["tile end -> next tile's consumer start, same SM"] = statistics.median(gaps) / ghz
        out["consumer start -> next consumer start, same SM"] = statistics.median(spans) / ghz
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", default=".")
    args = ap.parse_args()
    names = sorted(f[:-len(".bundle")] for f in os.listdir(BUNDLES)
                   if f.startswith("trace_") and f.endswith(".bundle"))
    report = {}
    for name in names:
        tiles = run(name, LAUNCHES)
        res = analyse(tiles)
        report[name] = res
        print(f"== {name} ({res['tiles']} tiles, {res['cycles_per_ns']:.2f} cycles/ns)",
              flush=True)
        for key, val in res.items():
            if key not in ("tiles", "cycles_per_ns"):
                print(f"  {key:55s} {val:8.0f}", flush=True)
    with open(os.path.join(args.out, "tile-trace.json"), "w") as f:
        json.dump(report, f, indent=1)


if __name__ == "__main__":
    main()
