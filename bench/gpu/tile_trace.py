#!/usr/bin/env python3
"""On the GPU machine: where a short tile's time goes, from the phase
stamps of the trace_* bundles (build_sparse_tiles.py; `--cuda-options
trace-tiles=1`). Each launch prints, for every tile run on SMs 0-3, the
clock64 stamps of its phases (the producer lane's: tile start, Q copy
issued, first and last step's copies issued; consumer thread 0's: tile
start, Q arrived, first K arrived, first scores' softmax done, key loop
done, last P V done, epilogue done; warpgroup 1's start, first softmax,
loop and epilogue done) and the global timer at the consumers' tile
start. (A block on SMs 0-3 prints when it ends, which delays the next
block there: in a block-per-tile kernel the gap between tiles is not
real.) A child process runs one bundle (bf16, D = 128,
N = M = 16384, B = 2, H = 16; lists of exactly 2 random blocks per tile, or
chunked<256>: the same 2 blocks per tile from the mask) and this process
reads its printf lines: per-phase medians in nanoseconds, and the gap
between one tile's end and the next tile's start on the same SM.
Writes tile-trace.json into --out.

  PYTHONPATH=<runtime-only site> python3 bench/gpu/tile_trace.py --out DIR
"""
import argparse
import json
import os
import re
import statistics
import subprocess
import sys

BUNDLES = os.path.join(os.path.dirname(os.path.abspath(__file__)), "bundles")
EVENTS = ["producer_start", "q_issued", "first_step_issued", "last_step_issued",
          "consumer_start", "q_arrived", "first_scores", "loop_done",
          "last_pv_done", "epilogue_done", "group1_epilogue_done", "start_global_ns",
          "first_k_arrived", "group1_start", "group1_first_scores", "group1_loop_done"]
LINE = re.compile(r"attn-trace sm=(\d+) block=(\d+),(\d+),(\d+) tile=(\d+)((?: \d+)+)")
LAUNCHES = 4


def child(name):
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
    for _ in range(LAUNCHES):
        call()
        torch.cuda.synchronize()
        sys.stdout.flush()
        print("attn-trace-launch-end", flush=True)


def parse(text):
    launches, cur = [], []
    for line in text.splitlines():
        if line.startswith("attn-trace-launch-end"):
            launches.append(cur)
            cur = []
            continue
        m = LINE.search(line)
        if m:
            vals = [int(x) for x in m.group(6).split()]
            cur.append(dict(sm=int(m.group(1)), block=tuple(int(m.group(i)) for i in (2, 3, 4)),
                            tile=int(m.group(5)), **dict(zip(EVENTS, vals))))
    return launches


def analyse(tiles, persistent):
    """Per-phase medians (clock cycles and ns) over the launch's tiles."""
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
    if gaps:
        out["tile end -> next tile's consumer start, same SM"] = statistics.median(gaps) / ghz
        out["consumer start -> next consumer start, same SM"] = statistics.median(spans) / ghz
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", default=".")
    ap.add_argument("--child")
    args = ap.parse_args()
    if args.child:
        child(args.child)
        return
    names = sorted(f[:-len(".bundle")] for f in os.listdir(BUNDLES)
                   if f.startswith("trace_") and f.endswith(".bundle"))
    report = {}
    for name in names:
        r = subprocess.run([sys.executable, __file__, "--child", name],
                           capture_output=True, text=True, timeout=300)
        launches = parse(r.stdout)
        if r.returncode != 0 or len(launches) != LAUNCHES or not launches[-1]:
            print(f"{name}: FAILED rc={r.returncode} launches={len(launches)}\n"
                  f"{r.stderr[-2000:]}", flush=True)
            report[name] = {"error": r.stderr[-2000:]}
            continue
        res = analyse(launches[-1], "persistent" in name)
        report[name] = res
        print(f"== {name} ({res['tiles']} tiles on SMs 0-3, "
              f"{res['cycles_per_ns']:.2f} cycles/ns)", flush=True)
        for key, val in res.items():
            if key not in ("tiles", "cycles_per_ns"):
                print(f"  {key:55s} {val:8.0f} ns", flush=True)
    with open(os.path.join(args.out, "tile-trace.json"), "w") as f:
        json.dump(report, f, indent=1)


if __name__ == "__main__":
    main()
