#!/usr/bin/env python3
"""CPU benchmark of attn.scan (issue 17: scan throughput against a
sequential loop), one run on one machine: examples/aaren_scan.mlir through
the attnir package (B = 1, H = 8, D = 64, f32, every core) with the
chunked lowering (scan-chunk = 256, the default) against the same program
compiled with one chunk per row (scan-chunk = N: a sequential walk of each
row, the loop a hand-written RNN form would run), against a numpy loop over
the tokens (heads and features vectorised: Aaren's recurrent update) and
AttnIR's own causal softmax attention of the repeated query, at N = 4k,
16k, 64k. Writes docs/benchmarks/scan-cpu.json and prints the table of
docs/benchmarks/scan.md.

  python3 bench/cpu_scan.py [--quick]
"""
import argparse, json, os, platform

import numpy as np

import attnir
from cpu_linear import median_ms  # noqa: E402  (one timing rule for the CPU benches)

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
B, H, D = 1, 8, 64
T = "tensor<?x?x?x64xf32>"
CAUSAL = f"""
func.func @f(%q: {T}, %k: {T}, %v: {T}) -> {T} {{
  %o = attn.attention %q, %k, %v mask(#attn.causal) scale(1.0) : ({T}, {T}, {T}) -> {T}
  return %o : {T}
}}"""


def numpy_loop(query, k, v):
    """Aaren's recurrent form: (m, u, w) updated token by token."""
    s = np.einsum("bhnd,hd->bhn", k, query[:, :, 0])
    m = np.full((B, H), -np.inf, np.float32)
    u = np.zeros((B, H), np.float32)
    w = np.zeros((B, H, D), np.float32)
    out = np.empty_like(v)
    for t in range(k.shape[2]):
        mt = np.maximum(m, s[:, :, t])
        a, c = np.exp(m - mt), np.exp(s[:, :, t] - mt)
        u = u * a + c
        w = w * a[..., None] + c[..., None] * v[:, :, t]
        m = mt
        out[:, :, t] = w / u[..., None]
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true")
    args = ap.parse_args()
    lengths = [4096, 16384] if args.quick else [4096, 16384, 65536]
    text = open(os.path.join(REPO, "examples/aaren_scan.mlir")).read()
    chunked = attnir.compile(text)
    causal = attnir.compile(CAUSAL)
    rng = np.random.default_rng(0)
    rows = []
    for N in lengths:
        query = (0.3 * rng.standard_normal((H, D, 1))).astype(np.float32)
        k, v = (rng.standard_normal((B, H, N, D)).astype(np.float32) for _ in range(2))
        one_chunk = attnir.compile(text, scan_chunk=N)
        got = chunked(query, k, v)
        err = float(np.abs(got - numpy_loop(query, k, v)).max() / np.abs(got).max())
        row = dict(N=N, max_rel_diff_vs_numpy=err,
                   attnir_scan_ms=median_ms(lambda: chunked(query, k, v), 5),
                   attnir_one_chunk_per_row_ms=median_ms(lambda: one_chunk(query, k, v), 3))
        row["chunked_vs_one_chunk"] = row["attnir_one_chunk_per_row_ms"] / row["attnir_scan_ms"]
        if N <= 16384:
            row["numpy_loop_ms"] = median_ms(lambda: numpy_loop(query, k, v), 1)
            row["vs_numpy"] = row["numpy_loop_ms"] / row["attnir_scan_ms"]
            q = np.ascontiguousarray(np.broadcast_to(query[None, :, None, :, 0], k.shape))
            row["attnir_causal_softmax_ms"] = median_ms(lambda: causal(q, k, v), 3)
        rows.append(row)
        print(json.dumps(row), flush=True)
    # One (b, h) row: the chunks are then the only parallelism there is.
    N = lengths[-1]
    query = (0.3 * rng.standard_normal((1, D, 1))).astype(np.float32)
    k, v = (rng.standard_normal((1, 1, N, D)).astype(np.float32) for _ in range(2))
    one_chunk = attnir.compile(text, scan_chunk=N)
    single = dict(B=1, H=1, N=N, attnir_scan_ms=median_ms(lambda: chunked(query, k, v), 5),
                  attnir_one_chunk_per_row_ms=median_ms(lambda: one_chunk(query, k, v), 5))
    single["chunked_vs_one_chunk"] = (single["attnir_one_chunk_per_row_ms"]
                                      / single["attnir_scan_ms"])
    print(json.dumps(single), flush=True)
    by = {r["N"]: r for r in rows}
    report = dict(cpu=platform.processor() or platform.machine(), cores=os.cpu_count(),
                  rows=rows, single_row=single)
    if 65536 in by:
        report["growth_64k_over_16k"] = by[65536]["attnir_scan_ms"] / by[16384]["attnir_scan_ms"]
    with open(os.path.join(REPO, "docs/benchmarks/scan-cpu.json"), "w") as f:
        json.dump(report, f, indent=1)
    print("| N | AttnIR scan ms | one chunk per row ms | chunked speed-up | numpy loop ms | "
          "vs numpy | AttnIR causal softmax ms |")
    print("|---|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['N']} | {r['attnir_scan_ms']:.1f} | {r['attnir_one_chunk_per_row_ms']:.1f} | "
              f"{r['chunked_vs_one_chunk']:.1f}x | {r.get('numpy_loop_ms', float('nan')):.0f} | "
              f"{r.get('vs_numpy', float('nan')):.0f}x | "
              f"{r.get('attnir_causal_softmax_ms', float('nan')):.0f} |")
    print(f"one row (B = H = 1, N = {N}): chunked {single['attnir_scan_ms']:.1f} ms, one chunk "
          f"{single['attnir_one_chunk_per_row_ms']:.1f} ms "
          f"({single['chunked_vs_one_chunk']:.2f}x)")


if __name__ == "__main__":
    main()
