#!/usr/bin/env python3
"""On the GPU machine: attn.scan's CUDA kernel (a block per (b, h) row, a
thread per (feature, piece of the row)) checked against the float64
reference its bundle records, on ragged shapes; identity 5 (Aaren's scan
equals causal softmax attention of the repeated query) and identity 7
(RAT with chunks of one token is causal attention) against torch's SDPA
on the same inputs; then Aaren timed against SDPA's causal attention
of the repeated query (the same result by another algorithm) in the same
process.

Bundles: python3 bench/gpu/build_scan.py here (carry bench/gpu/bundles).
  PYTHONPATH=<runtime-only site> python3 bench/gpu/scan.py --out DIR
"""
import json
import os

import torch
import torch.nn.functional as F

from linear import load, rel
from sparse import run_report, time_ms

dev = "cuda"
CHECKS = ["scan_aaren_f32_d64", "scan_aaren_bf16_d64", "scan_aaren_bf16_d128",
          "scan_cumsum_f32", "scan_recurrence_f32", "scan_rat_bf16", "scan_rat1_bf16",
          "ntk_prefix_bf16", "hybrid_window_linear_bf16", "titans_memory_bf16"]


def inputs(kern, B, H, N, seed):
    g = torch.Generator(device=dev).manual_seed(seed)
    out = []
    for a in kern.signature.inputs:
        dt = {"f32": torch.float32, "bf16": torch.bfloat16}[a.dtype]
        if a.name == "query":
            x = 0.3 * torch.randn((H, a.shape[1], 1), generator=g, device=dev)
        elif a.name in ("Z", "s"):  # NTK's per-head prefix state and normaliser
            x = 0.1 * torch.randn((H,) + tuple(a.shape[1:]), generator=g, device=dev)
        elif a.name in ("alpha", "theta", "eta"):  # Titans' gates, attnc's ranges
            lo, hi = {"alpha": (0.0, 0.5), "theta": (0.1, 0.9), "eta": (0.5, 1.0)}[a.name]
            x = lo + (hi - lo) * torch.rand((B, H, N), generator=g, device=dev)
        elif a.name == "a":  # the recurrence's per-token factor
            x = 0.8 + 0.2 * torch.rand((B, H, N), generator=g, device=dev)
        else:
            shape = (B, H, N) + tuple(a.shape[3:])
            x = torch.randn(shape, generator=g, device=dev)
        out.append(x.to(dt).contiguous())
    return out


def sdpa_repeated(query, k, v):
    """Causal attention of the query repeated at every position (scale 1)."""
    q = query[None, :, None, :, 0].expand(k.shape[0], -1, k.shape[2], -1).to(k.dtype)
    return F.scaled_dot_product_attention(q, k, v, is_causal=True, scale=1.0)


def check(report):
    rows = []
    for name in CHECKS:
        kern = load(name)
        for B, H, N in [(2, 3, 77), (1, 2, 1), (1, 4, 1000), (1, 2, 4099)]:
            args = inputs(kern, B, H, N, seed=N)
            got = kern(*args)
            ref = kern.reference(*(a.cpu() for a in args))
            err = rel(got, ref)
            tol = 1e-4 if "f32" in name else 2e-2
            ok = err < tol and bool(torch.isfinite(got).all())
            row = dict(bundle=name, shape=f"{B}x{H}x{N}", max_rel_err=err, ok=ok)
            if "aaren" in name:
                # Identity 5 against torch's SDPA (f32 math in both).
                q, k, v = args
                ident = rel(got.float(), sdpa_repeated(q, k.float(), v.float()))
                row["vs_sdpa"] = ident
                row["ok"] = ok = ok and ident < tol
            if name == "scan_rat1_bf16":
                # Identity 7: RAT with chunks of one token is causal attention.
                q, k, v, _ = args
                ident = rel(got.float(), F.scaled_dot_product_attention(
                    q.float(), k.float(), v.float(), is_causal=True))
                row["vs_sdpa"] = ident
                row["ok"] = ok = ok and ident < tol
            rows.append(row)
            print(f"check {name} {B}x{H}x{N} err={err:.2e} "
                  f"{row.get('vs_sdpa', '')} {'ok' if ok else 'FAILED'}")
    report["correctness"] += rows


def timed(report, reps):
    out = []
    for name, D in (("scan_aaren_bf16_d64", 64), ("scan_aaren_bf16_d128", 128)):
        kern = load(name)
        for B, H, N in [(4, 16, 4096), (1, 16, 16384)]:
            query, k, v = inputs(kern, B, H, N, seed=1)
            row = dict(program=name, shape=f"{B}x{H}x{N}x{D}",
                       attnir_scan_ms=time_ms(lambda: kern(query, k, v), reps),
                       sdpa_causal_repeated_ms=time_ms(
                           lambda: sdpa_repeated(query, k, v), reps))
            out.append(row)
            print(json.dumps(row))
    report["scan"] = out


if __name__ == "__main__":
    run_report("scan.json", [check], timed)
