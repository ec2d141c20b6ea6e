#!/usr/bin/env python3
"""CPU block-sparse benchmark: examples/block_sparse.mlir (64 x 64 blocks,
D = 64, f32) at N = M = 8192 with runtime block lists holding 100, 50, 25,
10 and 5 % of the blocks (random per head, a fresh list per density), next
to examples/dense.mlir at the same shape, in one process. Useful GFLOP/s
count the listed pairs only (4 D per pair); the ratio to dense shows
whether run time follows the visited blocks. Writes --out (default
docs/benchmarks/sparse-cpu.json) and prints a markdown table.

usage: python3 bench/cpu_sparse.py [--n 8192] [--heads 4] [--reps 5] [--out JSON]
"""
import argparse
import json
import os
import platform
import statistics
import time

import numpy as np

import attnir

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def median_ms(fn, reps):
    fn()
    ts = []
    for _ in range(reps):
        t0 = time.perf_counter()
        fn()
        ts.append((time.perf_counter() - t0) * 1e3)
    return statistics.median(ts)


def lists(H, nb, density, rng):
    K = nb
    idx = np.full((1, H, nb, K), -1, np.int32)
    cnt = np.zeros((1, H, nb), np.int32)
    for h in range(H):
        for r in range(nb):
            ids = np.flatnonzero(rng.random(nb) < density) if density < 1 else np.arange(nb)
            rng.shuffle(ids)
            idx[0, h, r, :len(ids)] = ids
            cnt[0, h, r] = len(ids)
    return idx, cnt


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=8192)
    ap.add_argument("--heads", type=int, default=4)
    ap.add_argument("--reps", type=int, default=5)
    ap.add_argument("--out", default=os.path.join(REPO, "docs", "benchmarks", "sparse-cpu.json"),
                    help="where the JSON goes (default docs/benchmarks/sparse-cpu.json)")
    args = ap.parse_args()
    N, H, D, BS = args.n, args.heads, 64, 64
    nb = -(-N // BS)
    rng = np.random.default_rng(0)
    q, k, v = (rng.standard_normal((1, H, N, D)).astype(np.float32) for _ in range(3))
    sparse = attnir.compile(open(os.path.join(REPO, "examples/block_sparse.mlir")).read())
    dense = attnir.compile(open(os.path.join(REPO, "examples/dense.mlir")).read())
    t_dense = median_ms(lambda: dense(q, k, v), args.reps)
    g_dense = 4 * D * H * N * N / t_dense / 1e6
    rows = [dict(pattern="dense (examples/dense.mlir)", density=1.0, ms=t_dense,
                 gflops=g_dense, vs_dense=1.0)]
    for density in (1.0, 0.5, 0.25, 0.1, 0.05):
        idx, cnt = lists(H, nb, density, rng)
        t = median_ms(lambda: sparse(q, k, v, idx, cnt), args.reps)
        pairs = 0
        for h in range(H):  # full blocks except the ragged last one
            for r in range(nb):
                rows_r = min(BS, N - r * BS)
                for j in idx[0, h, r, :cnt[0, h, r]]:
                    pairs += rows_r * min(BS, N - j * BS)
        g = 4 * D * pairs / t / 1e6
        rows.append(dict(pattern=f"block list {density:.0%}", density=density, ms=t,
                         gflops=g, vs_dense=g / g_dense,
                         listed=float(cnt.sum()) / (H * nb * nb)))
    report = dict(cpu=platform.processor() or platform.machine(),
                  model=open("/proc/cpuinfo").read().split("model name")[1].split("\n")[0].strip(": \t"),
                  cores=os.cpu_count(), N=N, H=H, D=D, block=BS, rows=rows)
    with open(args.out, "w") as f:
        json.dump(report, f, indent=1)
    print(f"{report['model']}, {report['cores']} cores; B=1, H={H}, N=M={N}, D={D}, f32, 64x64 blocks")
    print("| pattern | listed blocks | ms | useful GFLOP/s | vs dense |")
    print("|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['pattern']} | {r.get('listed', 1.0):.1%} | {r['ms']:.1f} | {r['gflops']:.1f} | {r['vs_dense']:.2f} |")


if __name__ == "__main__":
    main()
