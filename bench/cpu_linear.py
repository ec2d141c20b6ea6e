#!/usr/bin/env python3
"""CPU benchmark of attn.linear (issue 17's CPU bars), one run on one
machine: AttnIR's chunked lowering (examples/lightning_decay.mlir through
the attnir package, median of timed calls) at N = 4k, 16k, 64k against a
numpy token loop (heads batched, S = lambda S + k v^T; out = q S) at 4k
and 16k and AttnIR's causal softmax attention at the same shapes
(B = 1, H = 8, D = Dv = 64, f32, every core). Writes
docs/benchmarks/linear-cpu.md and linear-cpu.json.

  python3 bench/cpu_linear.py [--quick]
"""
import argparse, json, os, platform, statistics, time

import numpy as np

import attnir

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
B, H, D = 1, 8, 64


def median_ms(fn, reps):
    fn()
    ts = []
    for _ in range(reps):
        t = time.perf_counter()
        fn()
        ts.append((time.perf_counter() - t) * 1e3)
    return statistics.median(ts)


def numpy_loop(q, k, v, lam):
    S = np.zeros((H, D, D), np.float32)
    out = np.empty_like(v)
    for t in range(q.shape[2]):
        S = lam[:, None, None] * S + k[0, :, t, :, None] * v[0, :, t, None, :]
        out[0, :, t] = np.einsum("hd,hde->he", q[0, :, t], S)
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true")
    args = ap.parse_args()
    lengths = [4096, 16384] if args.quick else [4096, 16384, 65536]
    linear = attnir.compile(open(os.path.join(REPO, "examples/lightning_decay.mlir")).read())
    causal = attnir.compile(open(os.path.join(REPO, "examples/causal.mlir")).read())
    rng = np.random.default_rng(0)
    rows = []
    for N in lengths:
        q, k, v = (0.3 * rng.standard_normal((B, H, N, D)).astype(np.float32) for _ in range(3))
        lam = rng.uniform(0.9, 1.0, H).astype(np.float32)
        row = dict(N=N, attnir_linear_ms=median_ms(lambda: linear(q, k, v, lam), 5))
        if N <= 16384:
            row["numpy_loop_ms"] = median_ms(lambda: numpy_loop(q, k, v, lam), 1)
            row["vs_numpy"] = row["numpy_loop_ms"] / row["attnir_linear_ms"]
            row["attnir_causal_softmax_ms"] = median_ms(lambda: causal(q, k, v), 3)
        rows.append(row)
        print(json.dumps(row), flush=True)
    by = {r["N"]: r for r in rows}
    growth = by[65536]["attnir_linear_ms"] / by[16384]["attnir_linear_ms"] if 65536 in by else None
    report = dict(cpu=platform.processor() or platform.machine(), cores=os.cpu_count(),
                  rows=rows, growth_64k_over_16k=growth)
    out = os.path.join(REPO, "docs", "benchmarks")
    json.dump(report, open(os.path.join(out, "linear-cpu.json"), "w"), indent=1)
    with open(os.path.join(out, "linear-cpu.md"), "w") as f:
        f.write("# attn.linear on the CPU (issue 17)\n\n"
                f"B = {B}, H = {H}, D = Dv = {D}, f32, per-head decay "
                "(examples/lightning_decay.mlir, chunks of 64), "
                f"{os.cpu_count()} cores, median ms.\n\n"
                "| N | AttnIR linear | numpy token loop | x numpy | AttnIR causal softmax |\n"
                "|---|---|---|---|---|\n")
        for r in rows:
            f.write(f"| {r['N']} | {r['attnir_linear_ms']:.1f} | "
                    f"{r.get('numpy_loop_ms', float('nan')):.1f} | {r.get('vs_numpy', float('nan')):.1f} | "
                    f"{r.get('attnir_causal_softmax_ms', float('nan')):.1f} |\n")
        if growth:
            f.write(f"\n64k / 16k: {growth:.2f} (bar <= 4.4: linear in N).\n")
        f.write("\nReproduce: `python3 bench/cpu_linear.py` (the attnir package "
                "installed: `pip install ./python`).\n")


if __name__ == "__main__":
    main()
