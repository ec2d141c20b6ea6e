#!/usr/bin/env python3
"""CPU selection benchmark (the selection issue's CPU bar): the whole
top-k block step of examples/topk_blocks.mlir (pool, score, select and
attend in one entry) at B = 1, H = 4, N = M = 16384, D = 64, f32, next to
causal attention (examples/causal.mlir) on the same q, k, v in one process,
and its two halves: the selection alone (the same program returning the
block list) and the attention alone on that list passed as a runtime list.
Writes docs/benchmarks/select-cpu.json and prints a markdown table.

usage: python3 bench/cpu_select.py [--n 16384] [--heads 4] [--reps 3]
"""
import argparse
import json
import os
import re

import numpy as np

import attnir
from cpu_sparse import median_ms

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
T = "tensor<?x?x?x64xf32>"
I, C = "tensor<?x?x?x10xi32>", "tensor<?x?x?xi32>"

# The attention half of topk_blocks, on a list given at run time.
ATTEND = f"""func.func @attend(%q: {T}, %k: {T}, %v: {T}, %idx: {I}, %cnt: {C}) -> {T} {{
  %o = attn.attention %q, %k, %v blocks(%idx, %cnt) block_size(64, 64)
         mask(#attn.causal) : ({T}, {T}, {T}, {I}, {C}) -> {T}
  return %o : {T}
}}"""


def selection_only(example, idx_type=I, cnt_type=C):
    """A selection program without its attention (topk_blocks,
    dsa_indexer): it returns the list (%idx, %cnt) instead, with the same
    arguments."""
    text = re.sub(r"\s*%o = attn\.attention.*?-> tensor<\?x\?x\?x64xf32>\n", "\n", example,
                  flags=re.S)
    text = re.sub(r"\)\s*-> tensor<\?x\?x\?x64xf32> \{", f") -> ({idx_type}, {cnt_type}) {{",
                  text)
    return text.replace(f"return %o : {T}", f"return %idx, %cnt : {idx_type}, {cnt_type}")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=16384)
    ap.add_argument("--heads", type=int, default=4)
    ap.add_argument("--reps", type=int, default=3)
    args = ap.parse_args()
    N, H, D = args.n, args.heads, 64
    rng = np.random.default_rng(0)
    q, k, v = (rng.standard_normal((1, H, N, D)).astype(np.float32) for _ in range(3))
    example = open(os.path.join(REPO, "examples", "topk_blocks.mlir")).read()
    whole = attnir.compile(example)
    select = attnir.compile(selection_only(example))
    attend = attnir.compile(ATTEND)
    causal = attnir.compile(open(os.path.join(REPO, "examples", "causal.mlir")).read())

    idx, cnt = select(q, k, v)
    # The halves compose to the whole step (same list, same output).
    assert np.array_equal(np.asarray(whole(q, k, v)), np.asarray(attend(q, k, v, idx, cnt)))
    t = {
        "causal": median_ms(lambda: causal(q, k, v), args.reps),
        "whole": median_ms(lambda: whole(q, k, v), args.reps),
        "select": median_ms(lambda: select(q, k, v), args.reps),
        "attend": median_ms(lambda: attend(q, k, v, idx, cnt), args.reps),
    }
    kept = float(np.asarray(cnt).sum()) / (H * (-(-N // 64)) * (-(-N // 64) + 1) / 2)
    rows = [
        dict(step="causal attention (examples/causal.mlir)", ms=t["causal"], vs_causal=1.0),
        dict(step="topk_blocks, whole step (one entry)", ms=t["whole"],
             vs_causal=t["whole"] / t["causal"]),
        dict(step="  selection alone (pool + score + select)", ms=t["select"],
             vs_causal=t["select"] / t["causal"], of_whole=t["select"] / t["whole"]),
        dict(step="  attention alone on the selected list", ms=t["attend"],
             vs_causal=t["attend"] / t["causal"], of_whole=t["attend"] / t["whole"]),
    ]
    model = open("/proc/cpuinfo").read().split("model name")[1].split("\n")[0].strip(": \t")
    report = dict(model=model, cores=os.cpu_count(), N=N, H=H, D=D, block=64, topk=8,
                  kept_of_causal_blocks=kept, rows=rows)
    with open(os.path.join(REPO, "docs", "benchmarks", "select-cpu.json"), "w") as f:
        json.dump(report, f, indent=1)
    print(f"{model}, {os.cpu_count()} cores; B=1, H={H}, N=M={N}, D={D}, f32; "
          f"blocks of 64, top 8 + first + diagonal ({kept:.1%} of the causal blocks kept)")
    print("| step | ms | vs causal | share of the whole step |")
    print("|---|---|---|---|")
    for r in rows:
        share = f"{r['of_whole']:.1%}" if "of_whole" in r else ""
        print(f"| {r['step']} | {r['ms']:.1f} | {r['vs_causal']:.3f} | {share} |")


if __name__ == "__main__":
    main()
