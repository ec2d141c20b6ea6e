#!/usr/bin/env python3
"""CPU rule-region benchmark (issue 18): the score-rule examples (softcap,
alibi, t5_bias) next to examples/causal.mlir and examples/dense.mlir, and
examples/document_region.mlir next to examples/document_mask.mlir (6
packed documents), f32, D = 64, B = 1, H = 8, N = M = 4096, in one process
through the attnir package. GFLOP/s count kept pairs (4 D per pair); the
ratios say what a rule costs against the same pattern without one. Checks
each result against the float64 reference on a smaller shape first.
Writes docs/benchmarks/rules-cpu.json and prints a markdown table.

usage: python3 bench/cpu_rules.py [--n 4096] [--heads 8] [--reps 5]
"""
import argparse
import json
import os
import platform

import numpy as np

import attnir
from cpu_sparse import median_ms

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def kernel(name):
    # No disk cache: its key is the release, not the compiler build.
    return attnir.compile(open(os.path.join(REPO, "examples", name + ".mlir")).read(),
                          cache=False)


def docs(N, n, rng):
    starts = np.sort(rng.choice(np.arange(1, N), n - 1, replace=False))
    return np.searchsorted(starts, np.arange(N), side="right").astype(np.int32)[None]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=4096)
    ap.add_argument("--heads", type=int, default=8)
    ap.add_argument("--reps", type=int, default=5)
    args = ap.parse_args()
    N, H, D = args.n, args.heads, 64
    rng = np.random.default_rng(0)
    q, k, v = (rng.standard_normal((1, H, N, D)).astype(np.float32) for _ in range(3))
    table = rng.standard_normal((H, 32)).astype(np.float32)
    doc = docs(N, 6, rng)
    causal_pairs = N * (N + 1) / 2
    same = doc[0][:, None] == doc[0][None, :]
    doc_pairs = np.tril(same).sum()
    cases = [  # name, kernel, extra args, kept pairs, baseline
        ("causal", "causal", [], causal_pairs, None),
        ("dense", "dense", [], N * N, None),
        ("softcap (causal)", "softcap", [], causal_pairs, "causal"),
        ("alibi (causal)", "alibi", [], causal_pairs, "causal"),
        ("t5_bias (dense)", "t5_bias", [table], N * N, "dense"),
        ("document_mask (built-in)", "document_mask", [doc, doc], doc_pairs, None),
        ("document_region", "document_region", [doc, doc], doc_pairs,
         "document_mask (built-in)"),
    ]
    rows, ms_of = [], {}
    for name, spec, extra, pairs, base in cases:
        kern = kernel(spec)
        n = 300  # the check: against the reference on a ragged shape
        small = [q[:, :, :n], k[:, :, :n - 23], v[:, :, :n - 23]]
        small += [e[:, :n - 23] if e is doc else e for e in extra]
        if spec.startswith("document"):
            small[-2] = doc[:, :n]
            small[-1] = doc[:, :n]
            small[1], small[2] = k[:, :, :n], v[:, :, :n]
        got, ref = kern(*small), kern.reference(*small)
        err = float(np.abs(got - ref).max() / np.abs(ref).max())
        ms = median_ms(lambda: kern(q, k, v, *extra), args.reps)
        ms_of[name] = ms
        row = dict(pattern=name, N=N, H=H, D=D, ms=ms,
                   gflops=4 * D * pairs * H / ms / 1e6, max_rel_err=err,
                   vs_base=(ms_of[base] / ms) if base else None, base=base)
        rows.append(row)
        print(json.dumps(row), flush=True)
    out = dict(machine=platform.processor() or platform.machine(),
               cpu=open("/proc/cpuinfo").read().split("model name")[1].split("\n")[0].strip(": \t")
               if os.path.exists("/proc/cpuinfo") else "", cores=os.cpu_count(), rows=rows)
    with open(os.path.join(REPO, "docs", "benchmarks", "rules-cpu.json"), "w") as f:
        json.dump(out, f, indent=1)
    print(f"\n{out['cpu']}, {out['cores']} cores\n")
    print("| pattern | ms | GFLOP/s | time of the same pattern without the rule / with | max rel err |")
    print("|---|---|---|---|---|")
    for r in rows:
        vs = f"{r['vs_base']:.2f} (vs {r['base']})" if r["base"] else ""
        print(f"| {r['pattern']} | {r['ms']:.1f} | {r['gflops']:.0f} | {vs} | {r['max_rel_err']:.1e} |")


if __name__ == "__main__":
    main()
