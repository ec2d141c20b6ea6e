#!/usr/bin/env python3
"""On the GPU machine (torch, CUDA; no LLVM/MLIR): rule regions (issue 18,
bundles from bench/gpu/build_rules.py) through the runtime-only attnir
package, in one process next to FlexAttention.

  1. correctness of every rules_* bundle (both kernels, D = 64 and 128) on
     ragged, GQA, cross and decoding shapes against the float64 reference
     each bundle carries (it interprets the regions), bf16 tolerance;
  2. timings (bf16, B = 2, H = 16, N = 16384, D = 128): ALiBi and softcap
     causal against FlexAttention with the same score_mod (compiled) and
     against AttnIR's own causal kernel; the document region against the
     built-in document mask (6 packed documents); TFLOP/s count kept pairs;
  3. the block-map cost (bf16, B = 1, H = 32, N = 32768, D = 128): a
     region reading a per-head block table, its map kernel and its
     attention kernel timed apart (torch.profiler, CUPTI), against
     FlexAttention's create_block_mask for the same rule;
  4. writes rules.json into --out.

  PYTHONPATH=<runtime-only site> python3 bench/gpu/rules.py --out DIR
"""
import json
import os

import numpy as np
import torch

import attnir
from sparse import random_docs, run_report, time_ms

HERE = os.path.dirname(os.path.abspath(__file__))
BUNDLES = os.path.join(HERE, "bundles")
dev = "cuda"
NAMES = ["softcap", "alibi", "t5_bias", "document_region"]


def load(name):
    return attnir.load(os.path.join(BUNDLES, name + ".bundle"))


def kernel_ms(fn, reps, names=None):
    """Mean device time per call of each kernel named in `names`, or of
    every kernel `fn` launches without names (CUPTI sees the runtime's
    driver-API launches too)."""
    from torch.profiler import ProfilerActivity, profile
    fn()
    torch.cuda.synchronize()
    with profile(activities=[ProfilerActivity.CUDA]) as prof:
        for _ in range(reps):
            fn()
        torch.cuda.synchronize()
    out = {n: 0.0 for n in names or []}
    for e in prof.key_averages():
        if (names is None and e.device_time_total > 0) or e.key in out:
            out[e.key] = out.get(e.key, 0.0) + e.device_time_total / 1e3 / reps
    return out


def rel(got, ref):
    got = got.double().cpu().numpy()
    ref = np.asarray(ref, np.float64)
    return float(np.abs(got - ref).max() / (np.abs(ref).max() or 1.0))


def inputs(name, B, Hq, Hkv, N, M, d, gen):
    q = torch.randn(B, Hq, N, d, generator=gen).to(torch.bfloat16)
    k = torch.randn(B, Hkv, M, d, generator=gen).to(torch.bfloat16)
    v = torch.randn(B, Hkv, M, d, generator=gen).to(torch.bfloat16)
    if name == "softcap":
        q = (q.float() * 6).to(torch.bfloat16)  # logits near the cap
    args = [q, k, v]
    if name == "t5_bias":
        args.append(2 * torch.randn(Hq, 32, generator=gen))
    if name == "document_region":
        qd, kd = random_docs(B, M, N, gen)
        args += [qd, kd]
    return args


def check(rows, kern, bundle, sname, shape, args, host_args=None):
    """One call of `kern` against the float64 reference of its inputs."""
    try:
        got = kern(*(a.to(dev) for a in args))
        err = rel(got, kern.reference(*(host_args or args)))
        ok, msg = err <= 1e-2 and bool(torch.isfinite(got).all()), ""
    except Exception as e:  # noqa: BLE001 - reported
        err, msg, ok = float("inf"), f"{type(e).__name__}: {e}", False
    B, Hq, Hkv, N, M = shape
    rows.append(dict(bundle=bundle, shape=sname, B=B, Hq=Hq, Hkv=Hkv, N=N, M=M,
                     max_rel_err=err, ok=ok, error=msg))
    print(f"check {bundle:34s} {sname:12s} err={err:.2e} "
          f"{'ok' if ok else 'FAILED ' + msg}", flush=True)


def correctness(report):
    rows = []
    shapes = [("ragged", 2, 4, 2, 300, 300), ("cross N<M", 1, 4, 4, 200, 333),
              ("cross N>M", 1, 6, 2, 333, 129), ("decode N=1", 2, 4, 4, 1, 700)]
    gen = torch.Generator().manual_seed(0)
    for kind in ("hop", "sync"):
        for d in (64, 128):
            for name in NAMES:
                bundle = f"rules_{kind}_d{d}_{name}"
                kern = load(bundle)
                for sname, *shape in shapes:
                    check(rows, kern, bundle, sname, shape, inputs(name, *shape, d, gen))
    # The block-table region (a per-head table, its map by the region).
    kern = load("rules_block_table_d128")
    for sname, B, Hq, Hkv, N, M in shapes:
        args = inputs("block_table", B, Hq, Hkv, N, M, 128, gen)
        args.append((torch.rand(Hq, -(-N // 128), -(-M // 128), generator=gen) < 0.5)
                    .to(torch.int32))
        check(rows, kern, "rules_block_table_d128", sname, (B, Hq, Hkv, N, M), args)
    # Rules on the warp-per-row kernel (a per-token list of 8-key blocks).
    kern = load("rules_row_d64")
    for sname, B, Hq, Hkv, N, M in shapes:
        args = inputs("row_rules", B, Hq, Hkv, N, M, 64, gen)
        nkb, K = -(-M // 8), 12
        idx = torch.randint(0, nkb, (B, Hq, N, K), generator=gen, dtype=torch.int32)
        idx[..., -1] = idx[..., 0]  # a duplicate counts once
        cnt = torch.randint(0, K + 1, (B, Hq, N), generator=gen, dtype=torch.int32)
        check(rows, kern, "rules_row_d64", sname, (B, Hq, Hkv, N, M), args + [idx, cnt])
    # Reuse: the same kernel called again with operands changed in place,
    # the same values again, then other shapes; each call against the
    # reference of what it was given (a stale map would differ).
    kern = load("rules_hop_d128_document_region")
    B, Hq, Hkv, N, M = 2, 4, 2, 700, 700
    args = inputs("document_region", B, Hq, Hkv, N, M, 128, gen)
    dargs = [a.to(dev) for a in args]
    for step in ("first", "same", "docs changed in place", "same again", "back",
                 "other shape"):
        if step == "docs changed in place":
            new_q, new_k = random_docs(B, M, N, gen)
            args[3].copy_(new_q), args[4].copy_(new_k)
            dargs[3].copy_(new_q), dargs[4].copy_(new_k)
        if step == "back":
            args[3].copy_(args[3].flip(1)), args[4].copy_(args[4].flip(1))
            dargs[3].copy_(args[3]), dargs[4].copy_(args[4])
        if step == "other shape":
            N = M = 650
            args = inputs("document_region", B, Hq, Hkv, N, M, 128, gen)
            dargs = [a.to(dev) for a in args]
        check(rows, kern, "rules_hop_d128_document_region", "reuse: " + step,
              (B, Hq, Hkv, N, M), dargs, args)
    report["correctness"] += rows


def timings(report, reps):
    from torch.nn.attention.flex_attention import create_block_mask, flex_attention
    flex = torch.compile(flex_attention, dynamic=False)
    B, H, N, D = 2, 16, 16384, 128
    q, k, v = (torch.randn(B, H, N, D, device=dev, dtype=torch.bfloat16) for _ in range(3))
    causal_flops = 4 * D * N * (N + 1) / 2 * B * H
    slopes = torch.tensor([2.0 ** (-8.0 * (h + 1) / H) for h in range(H)], device=dev)

    def causal(b, h, qi, kj):
        return qi >= kj

    def softcap(score, b, h, qi, kj):
        return 50 * torch.tanh(score / 50)

    def alibi(score, b, h, qi, kj):
        return score - slopes[h] * (qi - kj)

    bm = create_block_mask(causal, None, None, N, N, device=dev)
    rows = []
    own = load("rules_causal_d128")
    t_c = time_ms(lambda: own(q, k, v), reps)
    t_fc = time_ms(lambda: flex(q, k, v, block_mask=bm), reps)
    rows.append(dict(pattern="causal (no rule)", attnir_ms=t_c,
                     attnir_tflops=causal_flops / t_c / 1e9, flex_ms=t_fc,
                     flex_tflops=causal_flops / t_fc / 1e9, vs_flex=t_fc / t_c))
    print(json.dumps(rows[-1]), flush=True)
    for name, mod in (("alibi", alibi), ("softcap", softcap)):
        kern = load(f"rules_hop_d128_{name}")
        t_a = time_ms(lambda: kern(q, k, v), reps)
        t_f = time_ms(lambda: flex(q, k, v, score_mod=mod, block_mask=bm), reps)
        diff = (kern(q, k, v).float()
                - flex(q, k, v, score_mod=mod, block_mask=bm).float()).abs().max().item()
        rows.append(dict(pattern=f"{name} causal", attnir_ms=t_a,
                         attnir_tflops=causal_flops / t_a / 1e9, flex_ms=t_f,
                         flex_tflops=causal_flops / t_f / 1e9, vs_flex=t_f / t_a,
                         vs_own_causal=t_c / t_a, max_abs_diff_vs_flex=diff))
        print(json.dumps(rows[-1]), flush=True)
    # The document rule as a region and as #attn.segments, 6 documents.
    qd, kd = random_docs(1, N, N, torch.Generator().manual_seed(3), docs=6)
    qd_d, kd_d = qd.expand(B, N).contiguous().to(dev), kd.expand(B, N).contiguous().to(dev)
    doc = kd[0].to(dev)

    def document(b, h, qi, kj):
        return (qi >= kj) & (doc[qi] == doc[kj])

    i = torch.arange(N, device=dev)[:, None]
    flops = 4 * D * document(0, 0, i, torch.arange(N, device=dev)[None, :]).sum().item() * B * H
    region, builtin = load("rules_hop_d128_document_region"), load("rules_document_d128")
    t_r = time_ms(lambda: region(q, k, v, qd_d, kd_d), reps)
    t_b = time_ms(lambda: builtin(q, k, v, qd_d, kd_d), reps)
    dbm = create_block_mask(document, None, None, N, N, device=dev)
    t_f = time_ms(lambda: flex(q, k, v, block_mask=dbm), reps)
    same = torch.equal(region(q, k, v, qd_d, kd_d), builtin(q, k, v, qd_d, kd_d))
    rows.append(dict(pattern="document region (6 documents)", attnir_ms=t_r,
                     attnir_tflops=flops / t_r / 1e9, builtin_ms=t_b,
                     builtin_tflops=flops / t_b / 1e9, region_vs_builtin=t_b / t_r,
                     flex_ms=t_f, flex_tflops=flops / t_f / 1e9, vs_flex=t_f / t_r,
                     identical_to_builtin=same))
    print(json.dumps(rows[-1]), flush=True)
    names = ["document_region__s0_c0", "document_region__s0_c1", "document_region__s0",
             "document_region__s1"]
    parts = kernel_ms(lambda: region(q, k, v, qd_d, kd_d), reps, names)
    rows[-1].update(map_ms=sum(parts[n] for n in names[:3]),
                    attention_ms=parts["document_region__s1"])
    print(json.dumps(parts), flush=True)
    report["timings"] = rows
    block_map_cost(report, reps, flex, create_block_mask)


def block_map_cost(report, reps, flex, create_block_mask):
    """The map of a data-dependent region against create_block_mask."""
    B, H, N, D, blk = 1, 32, 32768, 128, 128
    gen = torch.Generator().manual_seed(5)
    q, k, v = (torch.randn(B, H, N, D, device=dev, dtype=torch.bfloat16) for _ in range(3))
    table = block_table(H, N // blk, gen).to(dev)
    kern = load("rules_block_table_d128")

    def table_mask(b, h, qi, kj):
        return (qi >= kj) & (table[h, qi // blk, kj // blk] != 0)

    t_all = time_ms(lambda: kern(q, k, v, table), reps)
    names = ["block_table__s0_c0", "block_table__s0", "block_table__s1"]
    # The table unchanged from call to call: the map is built once.
    kept_map = kernel_ms(lambda: kern(q, k, v, table), reps, names)
    # One entry of the table changed before every call: rebuilt each time.

    def changed():
        table[0, -1, 1] ^= 1
        return kern(q, k, v, table)
    rebuilt = kernel_ms(changed, reps, names)
    t_cbm = time_ms(lambda: create_block_mask(table_mask, None, H, N, N, device=dev, _compile=True), reps)
    bm = create_block_mask(table_mask, None, H, N, N, device=dev, _compile=True)
    t_flex = time_ms(lambda: flex(q, k, v, block_mask=bm), reps)
    diff = (kern(q, k, v, table).float() - flex(q, k, v, block_mask=bm).float()).abs().max().item()
    kept = (torch.tril(torch.ones(blk, blk, device=dev)).sum() * table.diagonal(dim1=1, dim2=2).sum()
            + blk * blk * (torch.tril(table, -1).sum())).item()
    flops = 4 * D * kept * B
    attention = rebuilt["block_table__s1"]
    row = dict(pattern="block-table region (B=1, H=32, N=32768)", attnir_ms=t_all,
               attnir_tflops=flops / t_all / 1e9,
               map_ms=rebuilt["block_table__s0"], snapshot_ms=rebuilt["block_table__s0_c0"],
               attention_ms=attention,
               map_share=(rebuilt["block_table__s0"] + rebuilt["block_table__s0_c0"]) / attention,
               map_unchanged_ms=kept_map["block_table__s0"],
               snapshot_unchanged_ms=kept_map["block_table__s0_c0"],
               map_unchanged_share=(kept_map["block_table__s0"]
                                    + kept_map["block_table__s0_c0"]) / attention,
               create_block_mask_ms=t_cbm, flex_ms=t_flex,
               flex_tflops=flops / t_flex / 1e9,
               create_block_mask_share=t_cbm / t_flex, vs_flex=(t_flex + t_cbm) / t_all,
               max_abs_diff_vs_flex=diff,
               density=float(kept / (N * (N + 1) / 2 * H)))
    print(json.dumps(row), flush=True)
    report["block_map"] = [row]


if __name__ == "__main__":
    run_report("rules.json", [correctness], timings)
