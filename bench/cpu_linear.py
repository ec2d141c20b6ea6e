#!/usr/bin/env python3
"""CPU benchmark of attn.linear (issue 17's CPU bars), one run on one
machine: AttnIR's chunked lowering (examples/lightning_decay.mlir through
the attnir package, median of timed calls) and the gated delta rule
(examples/gated_delta_rule.mlir: log gates, beta, l2norm) at N = 4k, 16k,
64k against numpy token loops (heads batched; S = lambda S + k v^T,
out = q S; the delta rule's u = beta (v - S^T k), S = g S + k u^T) at 4k
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


def l2norm(x):
    return x / np.sqrt((x * x).sum(-1, keepdims=True) + 1e-6)


def numpy_delta_loop(q, k, v, g, beta):
    """The gated delta rule token by token (fla's convention, scale 1/8)."""
    S = np.zeros((H, D, D), np.float32)
    out = np.empty_like(v)
    for t in range(q.shape[2]):
        qt, kt = l2norm(q[0, :, t]), l2norm(k[0, :, t])
        S = np.exp(g[0, :, t])[:, None, None] * S
        u = beta[0, :, t, None] * (v[0, :, t] - np.einsum("hd,hde->he", kt, S))
        S = S + kt[:, :, None] * u[:, None, :]
        out[0, :, t] = 0.125 * np.einsum("hd,hde->he", qt, S)
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true")
    args = ap.parse_args()
    lengths = [4096, 16384] if args.quick else [4096, 16384, 65536]
    linear = attnir.compile(open(os.path.join(REPO, "examples/lightning_decay.mlir")).read())
    causal = attnir.compile(open(os.path.join(REPO, "examples/causal.mlir")).read())
    delta = attnir.compile(open(os.path.join(REPO, "examples/gated_delta_rule.mlir")).read())
    rng = np.random.default_rng(0)
    rows = []
    for N in lengths:
        q, k, v = (0.3 * rng.standard_normal((B, H, N, D)).astype(np.float32) for _ in range(3))
        lam = rng.uniform(0.9, 1.0, H).astype(np.float32)
        g = np.log(rng.uniform(0.5, 1.0, (B, H, N))).astype(np.float32)
        beta = rng.uniform(0.1, 0.9, (B, H, N)).astype(np.float32)
        row = dict(N=N, attnir_linear_ms=median_ms(lambda: linear(q, k, v, lam), 5),
                   attnir_delta_ms=median_ms(lambda: delta(q, k, v, g, beta), 5))
        if N <= 16384:
            row["numpy_loop_ms"] = median_ms(lambda: numpy_loop(q, k, v, lam), 1)
            row["vs_numpy"] = row["numpy_loop_ms"] / row["attnir_linear_ms"]
            got = np.asarray(delta(q, k, v, g, beta))
            want = numpy_delta_loop(q, k, v, g, beta)
            row["delta_max_rel_err_vs_loop"] = float(np.abs(got - want).max() / np.abs(want).max())
            row["numpy_delta_loop_ms"] = median_ms(lambda: numpy_delta_loop(q, k, v, g, beta), 1)
            row["delta_vs_numpy"] = row["numpy_delta_loop_ms"] / row["attnir_delta_ms"]
            row["attnir_causal_softmax_ms"] = median_ms(lambda: causal(q, k, v), 3)
        rows.append(row)
        print(json.dumps(row), flush=True)
    by = {r["N"]: r for r in rows}
    growth = by[65536]["attnir_linear_ms"] / by[16384]["attnir_linear_ms"] if 65536 in by else None
    dgrowth = by[65536]["attnir_delta_ms"] / by[16384]["attnir_delta_ms"] if 65536 in by else None
    report = dict(cpu=platform.processor() or platform.machine(), cores=os.cpu_count(),
                  rows=rows, growth_64k_over_16k=growth, delta_growth_64k_over_16k=dgrowth)
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
        f.write("\nThe gated delta rule (examples/gated_delta_rule.mlir: log gates, beta, "
                "l2norm; token by token in vector bodies), same shapes and inputs, beta = "
                "U[0.1, 0.9), g = log U[0.5, 1); max_rel_err against the numpy loop:\n\n"
                "| N | AttnIR delta rule | numpy token loop | x numpy | max_rel_err |\n"
                "|---|---|---|---|---|\n")
        for r in rows:
            f.write(f"| {r['N']} | {r['attnir_delta_ms']:.1f} | "
                    f"{r.get('numpy_delta_loop_ms', float('nan')):.1f} | "
                    f"{r.get('delta_vs_numpy', float('nan')):.1f} | "
                    f"{r.get('delta_max_rel_err_vs_loop', float('nan')):.1e} |\n")
        if dgrowth:
            f.write(f"\n64k / 16k: {dgrowth:.2f} (bar <= 4.4).\n")
        f.write("\nReproduce: `python3 bench/cpu_linear.py` (the attnir package "
                "installed: `pip install ./python`).\n")


if __name__ == "__main__":
    main()
