#!/usr/bin/env python3
"""On the GPU machine: DeepSeek Sparse Attention's step (issue 16,
deliverable 6) as one AttnIR entry (bench/gpu/bundles/dsa_d128.bundle:
lightning indexer, top-2048 keys per query, attention over them) next to
the same step in eager torch (indexer scores by chunks of queries on
tensor cores, torch.topk, gathered keys, softmax), and AttnIR's causal
attention at the same shape. B = 1, H = 16 query heads over one KV head,
D = 128, bf16; indexer 4 heads of 64 (f32 keys and weights), N = 32768
(and 8192). AttnIR is checked against its float64 reference at small
shapes and against the torch step (same selections up to near ties) at
N = 4096 first.

  python3 bench/gpu/build_dsa.py   # here
  PYTHONPATH=<runtime-only site> python3 bench/gpu/dsa.py --out DIR   # there
"""
import json
import os

import torch

import attnir
from rules import kernel_ms
from sparse import run_report, time_ms

HERE = os.path.dirname(os.path.abspath(__file__))
dev = "cuda"
H, D, HI, DI, TOPK = 16, 128, 4, 64, 2048


def load(name):
    return attnir.load(os.path.join(HERE, "bundles", name + ".bundle"))


def inputs(B, N, seed):
    g = torch.Generator(device=dev).manual_seed(seed)
    r = lambda *s: torch.randn(s, generator=g, device=dev)  # noqa: E731
    q = (0.5 * r(B, H, N, D)).bfloat16()
    k, v = ((0.5 * r(B, 1, N, D)).bfloat16() for _ in range(2))
    qi = (0.5 * r(B, HI, N, DI)).bfloat16()
    ki = 0.5 * r(B, N, DI)
    w = torch.rand((B, N, HI), generator=g, device=dev) * DI ** -0.5
    return q, k, v, qi, ki, w


def torch_dsa(q, k, v, qi, ki, w, chunk=1024, stable=False):
    """The step in eager torch, a chunk of queries at a time (the index
    scores of a chunk: [HI, chunk, M] floats; its gathered keys: [chunk,
    2048, D]). relu makes many scores exactly 0: torch.topk breaks those
    ties its own way, `stable` (a stable descending sort) to the lower
    position as attn.select does, for the check."""
    B, _, N, _ = q.shape
    M = k.shape[2]
    out = torch.empty_like(q)
    cols = torch.arange(M, device=dev)
    bi = torch.arange(B, device=dev)[:, None, None]
    for t0 in range(0, N, chunk):
        t1 = min(N, t0 + chunk)
        logits = torch.einsum("bhtd,bsd->bhts", qi[:, :, t0:t1].float(), ki).relu_()
        scores = torch.einsum("bhts,bth->bts", logits, w[:, t0:t1])
        rows = torch.arange(t0, t1, device=dev)[:, None] + (M - N)
        scores.masked_fill_(cols[None, :] > rows, float("-inf"))
        if stable:
            vals, idx = scores.sort(dim=-1, descending=True, stable=True)
            vals, idx = vals[..., :min(TOPK, M)], idx[..., :min(TOPK, M)]
        else:
            vals, idx = scores.topk(min(TOPK, M), dim=-1)
        kg, vg = k[:, 0][bi, idx], v[:, 0][bi, idx]  # [B, c, K, D]
        s = torch.einsum("bhtd,btkd->bhtk", q[:, :, t0:t1], kg).float() * D ** -0.5
        s.masked_fill_((vals == float("-inf"))[:, None], float("-inf"))
        p = s.softmax(-1).to(q.dtype)
        out[:, :, t0:t1] = torch.einsum("bhtk,btkd->bhtd", p, vg)
    return out


def rel(a, b):
    a, b = a.double(), b.double()
    return float((a - b).abs().max() / b.abs().max())


def correctness(report):
    for name in ("dsa_d128",):
        kern = load(name)
        for B, N in [(1, 77), (2, 300), (1, 2100), (1, 2049)]:
            args = inputs(B, N, seed=N)
            got = kern(*args)
            ref = torch.as_tensor(kern.reference(*(a.cpu() for a in args)))
            err = rel(got.cpu(), ref)
            ok = err < 2e-2 and bool(torch.isfinite(got).all())
            report["correctness"].append(dict(check=f"{name} vs float64", shape=f"{B}x{N}",
                                              max_rel_err=err, ok=ok))
            print(f"check {name} {B}x{N} err={err:.2e} {'ok' if ok else 'FAILED'}", flush=True)
    kern = load("dsa_d128")
    args = inputs(1, 4096, seed=5)
    err = rel(kern(*args), torch_dsa(*args, stable=True))
    ok = err < 3e-2
    report["correctness"].append(dict(check="dsa_d128 vs eager torch", shape="1x4096",
                                      max_rel_err=err, ok=ok))
    print(f"check dsa_d128 vs torch 1x4096 err={err:.2e} {'ok' if ok else 'FAILED'}",
          flush=True)


def timings(report, reps):
    kern, causal = load("dsa_d128"), load("dsa_causal_d128")
    rows = []
    for N in (4096, 8192, 32768):
        args = inputs(1, N, seed=1)
        row = dict(shape=f"1x{H}x{N}x{D}", topk=TOPK,
                   torch_eager_ms=time_ms(lambda: torch_dsa(*args), max(3, reps // 4)),
                   attnir_causal_ms=time_ms(lambda: causal(*args[:3]), reps),
                   attnir_dsa_ms=time_ms(lambda: kern(*args), max(3, reps // 4)))
        row["torch_over_attnir"] = row["torch_eager_ms"] / row["attnir_dsa_ms"]
        row["kernels_ms"] = kernel_ms(lambda: kern(*args), 3)
        rows.append(row)
        print(json.dumps(row), flush=True)
    report["dsa"] = rows


if __name__ == "__main__":
    run_report("dsa.json", [correctness], timings)
