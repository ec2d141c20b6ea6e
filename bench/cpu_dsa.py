#!/usr/bin/env python3
"""CPU benchmark of DeepSeek Sparse Attention (examples/dsa_indexer.mlir):
the whole entry (lightning indexer, top-2048 per query, attention over the
selected keys), its two halves (the same program returning the lists; the
attention alone on those lists passed at run time) and causal attention
(examples/causal.mlir) on the same q, k, v, all in one process, for one KV
head (DSA's MQA) and for as many KV heads as query heads. Median of --reps
runs after a warm-up. Writes docs/benchmarks/dsa-cpu.json and prints a
markdown table.

usage: python3 bench/cpu_dsa.py [--n 4096] [--heads 8] [--reps 3]
"""
import argparse
import json
import os
import platform

import numpy as np

import attnir
from cpu_select import selection_only
from cpu_sparse import median_ms

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
T = "tensor<?x?x?x64xf32>"
I, C = "tensor<?x1x?x2048xi32>", "tensor<?x1x?xi32>"

# The attention half of dsa_indexer, on lists given at run time.
ATTEND = f"""func.func @attend(%q: {T}, %k: {T}, %v: {T}, %idx: {I}, %cnt: {C}) -> {T} {{
  %o = attn.attention %q, %k, %v blocks(%idx, %cnt) block_size(1, 1)
         mask(#attn.causal) : ({T}, {T}, {T}, {I}, {C}) -> {T}
  return %o : {T}
}}"""


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=4096)
    ap.add_argument("--heads", type=int, default=8)
    ap.add_argument("--reps", type=int, default=3)
    args = ap.parse_args()
    N, H, D = args.n, args.heads, 64
    example = open(os.path.join(REPO, "examples", "dsa_indexer.mlir")).read()
    whole = attnir.compile(example)
    select = attnir.compile(selection_only(example, I, C))
    attend = attnir.compile(ATTEND)
    causal = attnir.compile(open(os.path.join(REPO, "examples", "causal.mlir")).read())
    rng = np.random.default_rng(0)
    qi = rng.standard_normal((1, 4, N, 64)).astype(np.float32)
    ki = rng.standard_normal((1, N, 64)).astype(np.float32)
    w = rng.standard_normal((1, N, 4)).astype(np.float32)
    rows = []
    for hkv in (1, H):
        q = rng.standard_normal((1, H, N, D)).astype(np.float32)
        k, v = (rng.standard_normal((1, hkv, N, D)).astype(np.float32) for _ in range(2))
        idx, cnt = select(q, k, v, qi, ki, w)
        # The halves compose to the whole step (same lists, same output).
        assert np.array_equal(np.asarray(whole(q, k, v, qi, ki, w)),
                              np.asarray(attend(q, k, v, idx, cnt)))
        t = {
            "whole": median_ms(lambda: whole(q, k, v, qi, ki, w), args.reps),
            "select": median_ms(lambda: select(q, k, v, qi, ki, w), args.reps),
            "attend": median_ms(lambda: attend(q, k, v, idx, cnt), args.reps),
            "causal": median_ms(lambda: causal(q, k, v), args.reps),
        }
        rows.append({"hkv": hkv, **t})
    res = {"shape": {"B": 1, "H": H, "N": N, "D": D, "HI": 4, "DI": 64, "topk": 2048},
           "machine": platform.processor() or platform.machine(),
           "cpus": os.cpu_count(), "rows": rows}
    out = os.path.join(REPO, "docs", "benchmarks", "dsa-cpu.json")
    with open(out, "w") as f:
        json.dump(res, f, indent=1)
    print(f"B = 1, H = {H}, N = M = {N}, D = 64, f32; indexer HI = 4, DI = 64; top 2048\n")
    print("| KV heads | whole entry ms | selection alone ms | attention alone ms "
          "| causal ms | whole / causal |")
    print("|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['hkv']} | {r['whole']:.1f} | {r['select']:.1f} | {r['attend']:.1f} "
              f"| {r['causal']:.1f} | {r['whole'] / r['causal']:.2f} |")


if __name__ == "__main__":
    main()
