#!/usr/bin/env python3
"""On the GPU machine (torch, CUDA; no LLVM/MLIR): block-sparse attention
from runtime block lists (bundles from bench/gpu/build_sparse.py), through
the runtime-only attnir package, in one process next to FlexAttention.

  1. correctness of every sparse_* bundle on ragged, GQA and cross shapes,
     lists per query head, per KV head and shared, with duplicates, unused
     slots, ids out of range and counts above K (the GPU skips such entries
     and clamps counts, never reading out of bounds), against a float64
     reference computed here from the list;
  2. timings (bf16, B = 2, H = 16, N = 16384, D = 128): random per-head
     128 x 128 lists holding about 50, 25, 10 and 5 % of the causal blocks
     (the diagonal block always), against FlexAttention given the same
     blocks (off-diagonal ones as full blocks, its best case) and against
     AttnIR's own causal kernel; TFLOP/s count kept pairs only;
  3. writes sparse.json into --out.

  bash bench/gpu/run.sh ... is not needed: PYTHONPATH=<runtime-only site>
  python3 bench/gpu/sparse.py --out DIR
"""
import argparse
import json
import os
import re
import sys

import torch

import attnir

HERE = os.path.dirname(os.path.abspath(__file__))
BUNDLES = os.path.join(HERE, "bundles")
dev = "cuda"


def spec_info(text):
    d = int(re.search(r"%q: tensor<\?x\?x\?x(\d+)xbf16>", text).group(1))
    bq, bk = map(int, re.search(r"block_size\((\d+), (\d+)\)", text).groups())
    itype = torch.int64 if "xi64>" in text else torch.int32
    return d, bq, bk, "mask(#attn.causal)" in text, itype, "tensor<?x?x?xf32>" in text


def random_lists(B, H, nqb, nkb, K, density, itype, gen, causal_rows=None,
                 junk=False):
    """Random lists on the GPU machine's CPU: each block with probability
    `density` (only blocks <= causal_rows(qb) when given, the diagonal one
    always), shuffled; with `junk`, a duplicate, an id out of range and a
    negative id per list, and unused slots hold garbage."""
    idx = torch.full((B, H, nqb, K), -7, dtype=itype)
    cnt = torch.zeros((B, H, nqb), dtype=itype)
    for b in range(B):
        for h in range(H):
            for r in range(nqb):
                top = nkb if causal_rows is None else min(nkb, causal_rows(r) + 1)
                keep = torch.rand(top, generator=gen) < density
                if causal_rows is not None and top > 0:
                    keep[top - 1] = True
                ids = torch.nonzero(keep).flatten()
                if junk and ids.numel():
                    ids = torch.cat([ids, ids[:1], torch.tensor([nkb + 3, -2])])
                    ids = ids[torch.randperm(ids.numel(), generator=gen)]
                n = min(K, ids.numel())
                idx[b, h, r, :n] = ids[:n]
                cnt[b, h, r] = n
    return idx, cnt


def reference(q, k, v, idx, cnt, bq, bk, causal, scale):
    """float64 on the GPU: the keep matrix from the list (ids out of range
    ignored, counts clamped to K), then a masked softmax; rows with no key
    give zeros and lse = -inf."""
    B, Hq, N, D = q.shape
    Hkv, M = k.shape[1], k.shape[2]
    H, nqb, K = idx.shape[1], idx.shape[2], idx.shape[3]
    nkb = -(-M // bk)
    c = cnt.clamp(0, K).to(dev)
    slot = torch.arange(K, device=dev)
    ids = idx.to(dev).long()
    valid = (slot < c[..., None]) & (ids >= 0) & (ids < nkb)
    blk = torch.zeros(B, H, nqb, nkb + 1, dtype=torch.bool, device=dev)
    blk.scatter_(3, torch.where(valid, ids, nkb), True)
    blk = blk[..., :nkb]
    heads = torch.arange(Hq, device=dev)
    lh = torch.zeros_like(heads) if H == 1 else (heads if H == Hq else heads // (Hq // Hkv))
    blk = blk[:, lh]                                            # B, Hq, nqb, nkb
    qi, kj = torch.arange(N, device=dev), torch.arange(M, device=dev)
    keep = blk[:, :, (qi // bq)][:, :, :, (kj // bk)]           # B, Hq, N, M
    if causal:
        keep = keep & (kj[None, :] <= qi[:, None] + (M - N))
    kk = k.double().repeat_interleave(Hq // Hkv, 1)
    vv = v.double().repeat_interleave(Hq // Hkv, 1)
    s = (q.double() @ kk.transpose(-1, -2)) * scale
    s = s.masked_fill(~keep, float("-inf"))
    lse = torch.logsumexp(s, -1)
    p = torch.exp(s - torch.where(torch.isinf(lse), 0.0, lse)[..., None])
    p = torch.nan_to_num(p, nan=0.0)
    return p @ vv, lse


def zoo_keep(name, N, M):
    """The zoo's element rules, written here from shared/patterns.md A2."""
    i = torch.arange(N, device=dev)[:, None]
    j = torch.arange(M, device=dev)[None, :]
    d = i + (M - N) - j  # distance to the bottom-right diagonal
    causal = d >= 0
    return {
        "sink_window": causal & ((d <= 255) | (j < 4)),
        "prefix_lm": (j < 100) | causal,
        "dilated": (d % 2 == 0) & (d.abs() <= 256),
        "chunked": causal & (i // 128 == j // 128),
        "global": (j < 40) | (i < 40),
        "not_window": d.abs() > 100,
    }[name]


def masked_reference(q, k, v, keep, scale):
    Hq, Hkv = q.shape[1], k.shape[1]
    kk = k.double().repeat_interleave(Hq // Hkv, 1)
    vv = v.double().repeat_interleave(Hq // Hkv, 1)
    s = ((q.double() @ kk.transpose(-1, -2)) * scale).masked_fill(~keep, float("-inf"))
    lse = torch.logsumexp(s, -1)
    p = torch.nan_to_num(torch.exp(s - torch.where(torch.isinf(lse), 0.0, lse)[..., None]), nan=0.0)
    return p @ vv


def record(rows, name, sname, dims, compute):
    """One check: compute() -> (got, ref) as double tensors; a failure is a
    result, not a crash."""
    try:
        got, ref = compute()
        den = ref.abs().max().item() or 1.0
        err, msg = (got - ref).abs().max().item() / den, ""
    except Exception as e:
        err, msg = float("nan"), str(e)[:200]
    ok = err <= 1e-2
    rows.append(dict(bundle=name, shape=sname, **dims, max_rel_err=err, ok=ok, error=msg))
    print(f"check {name:36s} {sname:18s} err={err:.2e} {'ok' if ok else 'FAILED ' + msg}",
          flush=True)


def zoo_correctness(report):
    rows = []
    shapes = [("ragged", 2, 4, 4, 1000, 1000), ("gqa cross N<M", 1, 8, 2, 333, 1234),
              ("cross N>M", 1, 4, 2, 700, 129), ("decode N=1", 2, 4, 4, 1, 2049)]
    for f in sorted(os.listdir(BUNDLES)):
        if not (f.startswith("zoo_") and f.endswith(".bundle")) or f.startswith("zoo_time"):
            continue
        name = f[:-7]
        d = int(re.search(r"_d(\d+)_", name).group(1))
        mask = name.split(f"_d{d}_", 1)[1]
        kern = attnir.load(os.path.join(BUNDLES, f))
        for sname, B, Hq, Hkv, N, M in shapes:
            q = torch.randn(B, Hq, N, d, device=dev, dtype=torch.bfloat16)
            k = torch.randn(B, Hkv, M, d, device=dev, dtype=torch.bfloat16)
            v = torch.randn(B, Hkv, M, d, device=dev, dtype=torch.bfloat16)
            record(rows, name, sname, dict(B=B, Hq=Hq, Hkv=Hkv, N=N, M=M),
                   lambda: (kern(q, k, v).double(),
                            masked_reference(q, k, v, zoo_keep(mask, N, M), d ** -0.5)))
    report["correctness"] += rows


def random_docs(B, M, N, gen, docs=None):
    """Packed documents: k_doc [B, M] with `docs` (or 1-6 random) documents,
    q_doc [B, N] aligned with the last N keys."""
    kd = torch.zeros(B, M, dtype=torch.int32)
    for b in range(B):
        n = docs if docs else int(torch.randint(1, 7, (1,), generator=gen))
        starts = torch.sort(torch.randint(1, max(M, 2), (n - 1,), generator=gen)).values
        kd[b] = torch.searchsorted(starts, torch.arange(M), right=True).to(torch.int32)
    pos = (torch.arange(N) + (M - N)).clamp(min=0)
    return kd[:, pos].contiguous(), kd


def doc_correctness(report):
    rows = []
    shapes = [("ragged", 2, 4, 4, 1000, 1000), ("gqa cross N<M", 1, 8, 2, 333, 1234),
              ("cross N>M", 1, 4, 2, 700, 129), ("decode N=1", 2, 4, 4, 1, 2049)]
    gen = torch.Generator().manual_seed(2)
    for f in sorted(os.listdir(BUNDLES)):
        if not (f.startswith("doc_") and f.endswith(".bundle")):
            continue
        name = f[:-7]
        d = int(re.search(r"_d(\d+)", name).group(1))
        kern = attnir.load(os.path.join(BUNDLES, f))
        for sname, B, Hq, Hkv, N, M in shapes:
            q = torch.randn(B, Hq, N, d, device=dev, dtype=torch.bfloat16)
            k = torch.randn(B, Hkv, M, d, device=dev, dtype=torch.bfloat16)
            v = torch.randn(B, Hkv, M, d, device=dev, dtype=torch.bfloat16)
            qd, kd = random_docs(B, M, N, gen)
            i = torch.arange(N, device=dev)[:, None]
            j = torch.arange(M, device=dev)[None, :]
            keep = (j <= i + (M - N))[None, None] & (
                qd.to(dev)[:, None, :, None] == kd.to(dev)[:, None, None, :])
            record(rows, name, sname, dict(B=B, Hq=Hq, Hkv=Hkv, N=N, M=M),
                   lambda: (kern(q, k, v, qd.to(dev), kd.to(dev)).double(),
                            masked_reference(q, k, v, keep, d ** -0.5)))
    report["correctness"] += rows


def blockmask_passthrough(report):
    """A torch BlockMask's kv_indices / kv_num_blocks straight into the
    kernel, against the float64 reference of the list and against the
    compiled flex_attention with that BlockMask (no mask_mod). Eager
    flex_attention is not a reference here: it ignores the block mask and
    applies only mask_mod (dense attention)."""
    from torch.nn.attention.flex_attention import BlockMask, flex_attention
    flex = torch.compile(flex_attention, dynamic=False)
    rows = []
    gen = torch.Generator().manual_seed(5)
    for B, H, N in ((2, 4, 1000), (1, 8, 2048)):
        nb = -(-N // 128)
        idx, cnt = random_lists(B, H, nb, nb, nb, 0.5, torch.int32, gen)
        bm = BlockMask.from_kv_blocks(cnt.to(dev), idx.clamp(min=0).to(dev),
                                      BLOCK_SIZE=128, seq_lengths=(N, N))
        kern = attnir.load(os.path.join(BUNDLES, "sparse_hop_d128_128x128.bundle"))
        q, k, v = (torch.randn(B, H, N, 128, device=dev, dtype=torch.bfloat16)
                   for _ in range(3))
        ref = lambda: reference(q, k, v, idx, cnt, 128, 128, False, 128 ** -0.5)[0]
        record(rows, "blockmask_passthrough", f"B={B} H={H} N={N}",
               dict(B=B, Hq=H, Hkv=H, N=N, M=N),
               lambda: (kern(q, k, v, bm.kv_indices, bm.kv_num_blocks)[0].double(), ref()))
        record(rows, "flex_same_blockmask", f"B={B} H={H} N={N}",
               dict(B=B, Hq=H, Hkv=H, N=N, M=N),
               lambda: (flex(q, k, v, block_mask=bm).double(), ref()))
    report["correctness"] += rows


def correctness(report):
    rows = []
    shapes = [  # name, B, Hq, Hkv, N, M, list heads
        ("ragged", 2, 4, 4, 1000, 1000, "Hq"),
        ("gqa per-kv-head", 1, 8, 2, 333, 517, "Hkv"),
        ("cross N>M shared", 1, 4, 2, 700, 129, "1"),
        ("decode N=1", 2, 4, 4, 1, 2049, "Hq"),
    ]
    gen = torch.Generator().manual_seed(0)
    for f in sorted(os.listdir(BUNDLES)):
        if not (f.startswith("sparse_") and f.endswith(".bundle")) or "causal_d" in f:
            continue
        name = f[:-7]
        text = open(os.path.join(BUNDLES, name + ".mlir")).read()
        d, bq, bk, causal, itype, lse = spec_info(text)
        kern = attnir.load(os.path.join(BUNDLES, f))
        for sname, B, Hq, Hkv, N, M, heads in shapes:
            for junk in (False, True):
                H = {"Hq": Hq, "Hkv": Hkv, "1": 1}[heads]
                nqb, nkb = -(-N // bq), -(-M // bk)
                q = torch.randn(B, Hq, N, d, device=dev, dtype=torch.bfloat16)
                k = torch.randn(B, Hkv, M, d, device=dev, dtype=torch.bfloat16)
                v = torch.randn(B, Hkv, M, d, device=dev, dtype=torch.bfloat16)
                idx, cnt = random_lists(B, H, nqb, nkb, nkb + 3, 0.5, itype, gen,
                                        junk=junk)
                if junk:
                    cnt[0, 0, 0] = nkb + 100  # above K: clamped on the GPU
                try:
                    got = kern(q, k, v, idx.to(dev), cnt.to(dev))
                    torch.cuda.synchronize()
                    got = got if isinstance(got, tuple) else (got,)
                    ref = reference(q, k, v, idx, cnt, bq, bk, causal, d ** -0.5)
                    errs = []
                    for g, r in zip(got, ref):
                        g, fin = g.double(), torch.isfinite(r)
                        same_inf = torch.equal(fin, torch.isfinite(g)) and torch.equal(g[~fin], r[~fin])
                        den = r[fin].abs().max().item() if fin.any() else 1.0
                        errs.append((g[fin] - r[fin]).abs().max().item() / max(den, 1e-30)
                                    if same_inf and fin.any() else (0.0 if same_inf else float("inf")))
                    err, msg = max(errs), ""
                except Exception as e:  # a failure is a result
                    err, msg = float("nan"), str(e)[:200]
                ok = err <= 1e-2
                rows.append(dict(bundle=name, shape=sname, junk=junk, B=B, Hq=Hq, Hkv=Hkv,
                                 N=N, M=M, list_heads=heads, max_rel_err=err, ok=ok, error=msg))
                print(f"check {name:36s} {sname:18s} junk={int(junk)} err={err:.2e} "
                      f"{'ok' if ok else 'FAILED ' + msg}", flush=True)
    report["correctness"] = rows


def time_ms(fn, reps=20):
    for _ in range(3):
        fn()
    torch.cuda.synchronize()
    ts = []
    for _ in range(reps):
        a, b = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        a.record()
        fn()
        b.record()
        torch.cuda.synchronize()
        ts.append(a.elapsed_time(b))
    ts.sort()
    return ts[len(ts) // 2]


def stream_ms(fn, reps=20):
    """Mean time per call of `reps` calls issued back to back between two
    events (no sync between calls): the host runs ahead, so per-call host
    work hides behind the previous call's kernels, as in a model's loop.
    time_ms sees that host work on each call."""
    for _ in range(3):
        fn()
    torch.cuda.synchronize()
    a, b = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
    a.record()
    for _ in range(reps):
        fn()
    b.record()
    torch.cuda.synchronize()
    return a.elapsed_time(b) / reps


def host_us(fn, reps=20):
    """Host time of one call in microseconds (the launches only; the GPU
    catches up after)."""
    import time
    fn()
    torch.cuda.synchronize()
    ts = []
    for _ in range(reps):
        t0 = time.perf_counter()
        fn()
        ts.append(time.perf_counter() - t0)
        torch.cuda.synchronize()
    ts.sort()
    return ts[len(ts) // 2] * 1e6


def timeline(fn):
    """One call's kernels as CUPTI saw them: name, start and end in us from
    the first kernel's start, and the idle time between them."""
    from torch.autograd import DeviceType
    from torch.profiler import ProfilerActivity, profile
    fn()
    torch.cuda.synchronize()
    with profile(activities=[ProfilerActivity.CUDA]) as prof:
        fn()
        torch.cuda.synchronize()
    ks = sorted((e for e in prof.events() if e.device_type == DeviceType.CUDA),
                key=lambda e: e.time_range.start)
    if not ks:
        return {}
    t0 = ks[0].time_range.start
    rows = [dict(name=e.name, start_us=e.time_range.start - t0, end_us=e.time_range.end - t0)
            for e in ks]
    idle = sum(max(0.0, b["start_us"] - a["end_us"]) for a, b in zip(rows, rows[1:]))
    return dict(kernels=rows, span_us=rows[-1]["end_us"], idle_us=idle)


def device_ms(fn, reps):
    """CUPTI's time of the kernels one call of `fn` launches, in ms (no host
    time between them, which an event pair around the call also sees)."""
    from rules import kernel_ms
    return sum(kernel_ms(fn, reps).values())


def timings(report, reps):
    from torch.nn.attention.flex_attention import BlockMask, flex_attention
    flex = torch.compile(flex_attention, dynamic=False)
    B, H, N, D, BS = 2, 16, 16384, 128, 128
    nb = N // BS
    causal_pairs = N * (N + 1) / 2
    kern = attnir.load(os.path.join(BUNDLES, "sparse_hop_d128_128x128_causal.bundle"))
    kern_sync = attnir.load(os.path.join(BUNDLES, "sparse_sync_d128_128x128_causal.bundle"))
    kern_causal = attnir.load(os.path.join(BUNDLES, "sparse_causal_d128.bundle"))
    q, k, v = (torch.randn(B, H, N, D, device=dev, dtype=torch.bfloat16) for _ in range(3))

    def causal_mod(b, h, qi, kj):
        return qi >= kj

    # Device time by CUPTI beside the event pair's: the pair also sees the
    # call's host time, since the GPU idles until the launch.
    rows = []
    ms = time_ms(lambda: kern_causal(q, k, v), reps)
    causal_tflops = 4 * D * causal_pairs * B * H / ms / 1e9
    causal_dev = device_ms(lambda: kern_causal(q, k, v), reps)
    causal_dev_tflops = 4 * D * causal_pairs * B * H / causal_dev / 1e9
    rows.append(dict(pattern="causal (AttnIR's own)", density=1.0, attnir_ms=ms,
                     attnir_tflops=causal_tflops, attnir_kernel_ms=causal_dev))
    print(f"causal D=128: {ms:.3f} ms {causal_tflops:.0f} TFLOP/s "
          f"(kernel {causal_dev:.3f} ms)", flush=True)
    gen = torch.Generator().manual_seed(1)
    for density in (0.5, 0.25, 0.1, 0.05):
        idx, cnt = random_lists(B, H, nb, nb, nb, density, torch.int32, gen,
                                causal_rows=lambda r: r)
        # Kept pairs: off-diagonal blocks whole, the diagonal block half.
        blocks = cnt.sum().item()
        pairs = (blocks - B * H * nb) * BS * BS + B * H * nb * BS * (BS + 1) / 2
        flops = 4 * D * pairs
        idx_d, cnt_d = idx.to(dev), cnt.to(dev)
        # Flex: the diagonal block partial (causal mask_mod), the rest full.
        diag = torch.arange(nb)[None, None, :, None]
        is_full = (idx < diag) & (torch.arange(nb)[None, None, None, :] < cnt[..., None])
        full_cnt = is_full.sum(-1).to(torch.int32)
        full_idx = torch.sort(torch.where(is_full, idx, nb), -1).values.clamp(max=nb - 1).to(torch.int32)
        part_cnt = torch.ones_like(cnt)
        part_idx = torch.arange(nb, dtype=torch.int32)[None, None, :, None].expand(B, H, nb, nb).contiguous()
        bm = BlockMask.from_kv_blocks(part_cnt.to(dev), part_idx.to(dev), full_cnt.to(dev),
                                      full_idx.to(dev), BLOCK_SIZE=BS, mask_mod=causal_mod)
        t_a = time_ms(lambda: kern(q, k, v, idx_d, cnt_d), reps)
        t_s = time_ms(lambda: kern_sync(q, k, v, idx_d, cnt_d), reps)
        t_f = time_ms(lambda: flex(q, k, v, block_mask=bm), reps)
        d_a = device_ms(lambda: kern(q, k, v, idx_d, cnt_d), reps)
        d_f = device_ms(lambda: flex(q, k, v, block_mask=bm), reps)
        # Same answer as Flex (bf16 against bf16: a loose bound).
        diff = (kern(q, k, v, idx_d, cnt_d).float() - flex(q, k, v, block_mask=bm).float()).abs().max().item()
        row = dict(pattern=f"block list {density:.0%} of causal blocks", density=density,
                   frac_all_blocks=blocks / (B * H * nb * nb),
                   attnir_ms=t_a, attnir_tflops=flops / t_a / 1e9,
                   attnir_sync_ms=t_s, attnir_sync_tflops=flops / t_s / 1e9,
                   flex_ms=t_f, flex_tflops=flops / t_f / 1e9,
                   vs_flex=t_f / t_a, vs_own_causal=(flops / t_a / 1e9) / causal_tflops,
                   attnir_kernel_ms=d_a, flex_kernel_ms=d_f,
                   kernel_vs_own_causal=(flops / d_a / 1e9) / causal_dev_tflops,
                   max_abs_diff_vs_flex=diff)
        rows.append(row)
        print(json.dumps(row), flush=True)
    # The zoo at the same shape: sink + window 1024 and prefix-LM 2048.
    from torch.nn.attention.flex_attention import create_block_mask

    def sink_window(b, h, qi, kj):
        return (qi >= kj) & ((qi - kj < 1024) | (kj < 4))

    def prefix_lm(b, h, qi, kj):
        return (kj < 2048) | (qi >= kj)

    for name, mod, bundle in (("sink + window 1024", sink_window, "zoo_time_sink_window"),
                              ("prefix-LM 2048", prefix_lm, "zoo_time_prefix_lm")):
        kz = attnir.load(os.path.join(BUNDLES, bundle + ".bundle"))
        bm = create_block_mask(mod, None, None, N, N, device=dev, BLOCK_SIZE=BS)
        i = torch.arange(N, device=dev)[:, None]
        pairs = mod(0, 0, i, torch.arange(N, device=dev)[None, :]).sum().item() * B * H
        flops = 4 * D * pairs
        t_a = time_ms(lambda: kz(q, k, v), reps)
        t_f = time_ms(lambda: flex(q, k, v, block_mask=bm), reps)
        diff = (kz(q, k, v).float() - flex(q, k, v, block_mask=bm).float()).abs().max().item()
        row = dict(pattern=name, attnir_ms=t_a, attnir_tflops=flops / t_a / 1e9,
                   flex_ms=t_f, flex_tflops=flops / t_f / 1e9, vs_flex=t_f / t_a,
                   max_abs_diff_vs_flex=diff)
        rows.append(row)
        print(json.dumps(row), flush=True)
    # Document masking: 6 packed documents, causal within each.
    qd, kd = random_docs(1, N, N, torch.Generator().manual_seed(3), docs=6)
    doc = kd[0].to(dev)

    def document(b, h, qi, kj):
        return (qi >= kj) & (doc[qi] == doc[kj])

    kz = attnir.load(os.path.join(BUNDLES, "zoo_time_document.bundle"))
    qd_d, kd_d = qd.expand(B, N).contiguous().to(dev), kd.expand(B, N).contiguous().to(dev)
    bm = create_block_mask(document, None, None, N, N, device=dev, BLOCK_SIZE=BS)
    i = torch.arange(N, device=dev)[:, None]
    pairs = document(0, 0, i, torch.arange(N, device=dev)[None, :]).sum().item() * B * H
    flops = 4 * D * pairs
    t_a = time_ms(lambda: kz(q, k, v, qd_d, kd_d), reps)
    t_f = time_ms(lambda: flex(q, k, v, block_mask=bm), reps)
    diff = (kz(q, k, v, qd_d, kd_d).float() - flex(q, k, v, block_mask=bm).float()).abs().max().item()
    row = dict(pattern="document (6 documents)", attnir_ms=t_a, attnir_tflops=flops / t_a / 1e9,
               flex_ms=t_f, flex_tflops=flops / t_f / 1e9, vs_flex=t_f / t_a,
               max_abs_diff_vs_flex=diff)
    rows.append(row)
    print(json.dumps(row), flush=True)
    report["timings"] = rows


def run_report(filename, checks, timed):
    """The GPU scripts' driver: each check adds to report["correctness"],
    then the timings (unless --skip-timings); writes `filename` into --out;
    exits non-zero when a check failed."""
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", default=".")
    ap.add_argument("--reps", type=int, default=20)
    ap.add_argument("--skip-timings", action="store_true")
    args = ap.parse_args()
    report = dict(device=torch.cuda.get_device_name(), torch=torch.__version__,
                  correctness=[])
    for check in checks:
        check(report)
    if not args.skip_timings:
        timed(report, args.reps)
    with open(os.path.join(args.out, filename), "w") as f:
        json.dump(report, f, indent=1)
    bad = [r for r in report["correctness"] if not r["ok"]]
    print(f"{len(report['correctness']) - len(bad)}/{len(report['correctness'])} checks ok")
    sys.exit(1 if bad else 0)


if __name__ == "__main__":
    run_report("sparse.json", [correctness, zoo_correctness, doc_correctness,
                               blockmask_passthrough], timings)
