#!/usr/bin/env python3
"""CPU routing benchmark (issue 21): balanced k-means routing of every head
(C = 16 centroids, chunks of N / C, causal on original positions;
bench/routing_specs.py) against AttnIR's causal attention at the same
shape and against the same pattern written eagerly in numpy (argmax of
q . mu, a stable argsort, gathers, a dense masked softmax per chunk, a
scatter), f32, D = 64, B = 1, N = 16384, in one process through the attnir
package. Eager PyTorch is the issue's comparison; no CPU build of torch is
reachable from this machine (PyPI's wheel needs the CUDA libraries), so
the eager version is numpy's (its matmuls are OpenBLAS sgemm). Checks the
program against the float64 reference on a ragged shape first. Writes
docs/benchmarks/routing-cpu.json and prints a markdown table.

usage: python3 bench/cpu_routing.py [--n 16384] [--heads 4] [--reps 3]
"""
import argparse
import json
import os

import numpy as np

import attnir
from cpu_sparse import median_ms
from routing_specs import causal_spec, routing_spec

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def eager_numpy(q, k, v, mu):
    """The same pattern eagerly (N a multiple of C)."""
    B, H, N, D = q.shape
    C = mu.shape[1]
    w = N // C
    out = np.empty_like(q)
    for b in range(B):
        for h in range(H):
            bucket = (q[b, h] @ mu[h].T).argmax(-1)
            perm = np.argsort(bucket, kind="stable")
            qs, ks, vs = q[b, h][perm], k[b, h][perm], v[b, h][perm]
            for c in range(C):
                sl = slice(c * w, (c + 1) * w)
                pos = perm[sl]
                s = (qs[sl] @ ks[sl].T) / np.sqrt(D)
                s = np.where(pos[None, :] <= pos[:, None], s, -np.inf)
                p = np.exp(s - s.max(-1, keepdims=True))
                out[b, h, pos] = (p / p.sum(-1, keepdims=True)) @ vs[sl]
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=16384)
    ap.add_argument("--heads", type=int, default=4)
    ap.add_argument("--reps", type=int, default=3)
    args = ap.parse_args()
    N, H, D, C = args.n, args.heads, 64, 16
    rng = np.random.default_rng(0)
    q, k, v = (rng.standard_normal((1, H, N, D)).astype(np.float32) for _ in range(3))
    mu = rng.standard_normal((H, C, D)).astype(np.float32)
    routing = attnir.compile(routing_spec(D, C), cache=False)
    causal = attnir.compile(causal_spec(D), cache=False)
    n = 1000  # the check: against the reference on a ragged shape
    small = (q[:, :, :n], k[:, :, :n], v[:, :, :n], mu)
    ref = routing.reference(*small)
    err = float(np.abs(routing(*small) - ref).max() / np.abs(ref).max())
    t_route = median_ms(lambda: routing(q, k, v, mu), args.reps)
    t_causal = median_ms(lambda: causal(q, k, v), args.reps)
    t_eager = median_ms(lambda: eager_numpy(q, k, v, mu), args.reps)
    diff = float(np.abs(routing(q, k, v, mu) - eager_numpy(q, k, v, mu)).max())
    cpu = ""
    if os.path.exists("/proc/cpuinfo"):
        cpu = open("/proc/cpuinfo").read().split("model name")[1].split("\n")[0].strip(": \t")
    row = dict(pattern=f"k-means routing, C = {C}, causal on original positions",
               B=1, H=H, N=N, D=D, attnir_ms=t_route, causal_ms=t_causal,
               share_of_causal=t_route / t_causal, eager_numpy_ms=t_eager,
               vs_eager=t_eager / t_route, max_abs_diff_vs_eager=diff,
               max_rel_err_vs_reference=err, cpu=cpu, cores=os.cpu_count())
    print(json.dumps(row), flush=True)
    with open(os.path.join(REPO, "docs", "benchmarks", "routing-cpu.json"), "w") as f:
        json.dump(row, f, indent=1)
    print(f"\n{cpu}, {os.cpu_count()} cores\n")
    print("| pattern | AttnIR ms | AttnIR causal ms | share of causal | eager numpy ms | vs eager |")
    print("|---|---|---|---|---|---|")
    print(f"| {row['pattern']} (B=1, H={H}, N={N}, D={D}) | {t_route:.0f} | {t_causal:.0f} | "
          f"{t_route / t_causal:.3f} | {t_eager:.0f} | {t_eager / t_route:.1f}x |")


if __name__ == "__main__":
    main()
