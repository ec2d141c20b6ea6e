#!/usr/bin/env python3
"""On the GPU machine (torch, CUDA; no LLVM/MLIR): content routing (issue
21, bundles from bench/gpu/build_routing.py) through the runtime-only
attnir package, in one process next to an eager-PyTorch version.

  1. correctness: the routing examples (both kernels) on ragged and GQA
     shapes against the float64 reference each bundle carries (bf16
     tolerance), and the bare routes' permutations and buckets equal to
     the reference's bit for bit (k-means C = 16, LSH 8 and 12 bits);
  2. timings (bf16, B = 1, H = 32, N = 16384, D = 64, every head routed
     over C = 16 balanced chunks, causal on original positions): AttnIR's
     routing program against AttnIR's causal attention and against the
     same pattern in eager PyTorch (argmax of q . mu, a stable sort,
     gathers, SDPA over the chunks with the causal mask on original
     positions, a scatter); each kernel's share by CUPTI;
  3. writes routing.json into --out.

  PYTHONPATH=<runtime-only site> python3 bench/gpu/routing.py --out DIR
"""
import json
import os

import numpy as np
import torch
import torch.nn.functional as F

import attnir
from rules import kernel_ms, rel
from sparse import host_us, run_report, stream_ms, time_ms, timeline

HERE = os.path.dirname(os.path.abspath(__file__))
BUNDLES = os.path.join(HERE, "bundles")
dev = "cuda"


def load(name):
    return attnir.load(os.path.join(BUNDLES, name + ".bundle"))


def bf16(*shape, gen):
    return torch.randn(*shape, generator=gen).to(torch.bfloat16)


def record(rows, bundle, sname, ok, err, msg=""):
    rows.append(dict(bundle=bundle, shape=sname, max_rel_err=err, ok=ok, error=msg))
    print(f"check {bundle:32s} {sname:14s} err={err:.2e} "
          f"{'ok' if ok else 'FAILED ' + msg}", flush=True)


def correctness(report):
    rows = []
    gen = torch.Generator().manual_seed(0)
    shapes = [("ragged", 2, 4, 4, 300), ("GQA", 1, 6, 2, 1000), ("short", 1, 2, 1, 77),
              ("long", 1, 4, 4, 4100)]
    for kind in ("hop", "sync"):
        for name in ("routing_kmeans", "routing_chunks", "routing_chunks_gtma",
                     "reformer_lsh", "reformer_lsh_gtma", "landmark", "landmark_all",
                     "hyper_lsh"):
            bundle = f"routing_{kind}_{name}"
            if not os.path.exists(os.path.join(BUNDLES, bundle + ".bundle")):
                continue
            kern = load(bundle)
            for sname, B, H, Hk, N in shapes:
                if name.startswith(("routing_kmeans", "routing_chunks")):
                    args = [bf16(B, H, N, 64, gen=gen), bf16(B, Hk, N, 64, gen=gen),
                            bf16(B, Hk, N, 64, gen=gen), bf16(H, 8, 64, gen=gen)]
                elif name.startswith("landmark"):
                    args = [bf16(B, H, N, 64, gen=gen), bf16(B, Hk, N, 64, gen=gen),
                            bf16(B, Hk, N, 64, gen=gen),
                            bf16(B, Hk, -(-N // 64), 64, gen=gen)]
                elif name == "hyper_lsh":  # its sample is drawn in the program
                    args = [bf16(B, H, N, 64, gen=gen), bf16(B, Hk, N, 64, gen=gen),
                            bf16(B, Hk, N, 64, gen=gen)]
                else:
                    args = [bf16(B, H, N, 64, gen=gen), bf16(B, Hk, N, 64, gen=gen)]
                try:
                    got = kern(*(a.to(dev) for a in args))
                    ref = kern.reference(*args)
                    if name.startswith("landmark"):  # (out, lse): compare out
                        got, ref = got[0], ref[0]
                    err = rel(got, ref)
                    record(rows, bundle, sname, err <= 1e-2 and bool(torch.isfinite(got).all()), err)
                except Exception as e:  # noqa: BLE001 - reported
                    record(rows, bundle, sname, False, float("inf"), f"{type(e).__name__}: {e}")
    for bundle, mu in (("routing_route_kmeans16", 16), ("routing_route_kmeans16_f32", 16),
                       ("routing_route_lsh8", 0),
                       ("routing_route_lsh12", 0), ("routing_route_kmeans16_chunks", 16),
                       ("routing_route_lsh8_chunks", 0)):
        kern = load(bundle)
        for sname, B, H, N in (("ragged", 2, 3, 333), ("long", 1, 4, 16411),
                               ("ties", 1, 3, 4099), ("scaled", 1, 2, 2053)):
            args = [bf16(B, H, N, 64, gen=gen)] + ([bf16(H, mu, 64, gen=gen)] if mu else [])
            if sname == "ties":
                # Small integers: many exact ties between centroids (and a
                # duplicated centroid), which the bucket kernel's float32
                # screen must hand to its float64 sums (ties to the lower c).
                args = [torch.randint(-2, 3, a.shape, generator=gen).to(torch.bfloat16)
                        for a in args]
                if mu:
                    args[1][:, 3] = args[1][:, 1]
            elif sname == "scaled":
                # Near the ends of float32's range (overflowing |x|^2, and
                # products below its normal range), plus a NaN token.
                args[0][:, 0] *= 1e30
                args[0][:, 1] *= 1e-30
                args[0][0, 0, 7, 5] = float("nan")
            if bundle.endswith("_f32"):
                args = [a.float() for a in args]
            try:
                perm, bucket = kern(*(a.to(dev) for a in args))
                rperm, rbucket = kern.reference(*args)
                same = (np.array_equal(perm.cpu().numpy(), rperm)
                        and np.array_equal(bucket.cpu().numpy(), rbucket))
                record(rows, bundle, sname + " (bits)", same, 0.0 if same else 1.0)
            except Exception as e:  # noqa: BLE001 - reported
                record(rows, bundle, sname, False, float("inf"), f"{type(e).__name__}: {e}")
    # attn.sample's rows and attn.gather's copies, bit for bit against the
    # reference (Philox on the device), rows given as input checked.
    kern = load("routing_sample_gather")
    for sname, B, Hx, H, M in (("ragged", 2, 2, 6, 1001), ("one row", 1, 1, 4, 1),
                               ("long", 1, 4, 8, 70001)):
        x = bf16(B, Hx, M, 64, gen=gen)
        y = bf16(B, H, 1, 64, gen=gen)
        try:
            (rws, got), (rrows, rgot) = kern(x.to(dev), y.to(dev)), kern.reference(x, y)
            same = (np.array_equal(rws.cpu().numpy(), rrows)
                    and np.array_equal(got.cpu().float().numpy(), rgot))
            record(rows, "routing_sample_gather", sname + " (bits)", same, 0.0 if same else 1.0)
        except Exception as e:  # noqa: BLE001 - reported
            record(rows, "routing_sample_gather", sname, False, float("inf"),
                   f"{type(e).__name__}: {e}")
    report["correctness"] += rows


def eager_routing(q, k, v, mu, C):
    """The same pattern in eager PyTorch (N a multiple of C)."""
    B, H, N, D = q.shape
    w = N // C
    bucket = torch.einsum("bhnd,hcd->bhnc", q.float(), mu.float()).argmax(-1)
    perm = torch.sort(bucket, dim=-1, stable=True).indices
    idx = perm[..., None].expand(B, H, N, D)
    qs, ks, vs = (x.gather(2, idx).view(B, H * C, w, D) for x in (q, k, v))
    pos = perm.view(B, H * C, w)
    mask = pos[..., :, None] >= pos[..., None, :]
    o = F.scaled_dot_product_attention(qs, ks, vs, attn_mask=mask)
    return torch.empty_like(q).scatter_(2, idx, o.view(B, H, N, D))


def timings(report, reps):
    B, H, N, D, C = 1, 32, 16384, 64, 16
    gen = torch.Generator(device=dev).manual_seed(1)
    q, k, v = (torch.randn(B, H, N, D, device=dev, generator=gen, dtype=torch.bfloat16)
               for _ in range(3))
    mu = torch.randn(H, C, D, device=dev, generator=gen, dtype=torch.bfloat16)
    routing, causal = load("routing_bench_c16_chunks"), load("routing_causal_d64")
    region = load("routing_bench_c16")
    t_route = time_ms(lambda: routing(q, k, v, mu), reps)
    t_causal = time_ms(lambda: causal(q, k, v), reps)
    t_eager = time_ms(lambda: eager_routing(q, k, v, mu, C), reps)
    # Back to back (no sync between calls; the host's launches hide behind
    # the previous call's kernels, as in a model): both sides of the ratio.
    s_route = stream_ms(lambda: routing(q, k, v, mu), reps)
    s_causal = stream_ms(lambda: causal(q, k, v), reps)
    got, exp = routing(q, k, v, mu), eager_routing(q, k, v, mu, C)
    # Buckets from float32 dots in torch: a token on a tie may go elsewhere.
    diff_rows = ((got.float() - exp.float()).abs().amax(-1) > 5e-2).float().mean().item()
    names = ["routing__s0_c0", "routing__s0", "routing__s1", "routing__s2", "routing__s3",
             "routing__s4", "routing__s5"]
    parts = kernel_ms(lambda: routing(q, k, v, mu), reps, names)
    row = dict(pattern=f"k-means routing, C = {C}, causal on original positions",
               B=B, H=H, N=N, D=D, attnir_ms=t_route, causal_ms=t_causal,
               share_of_causal=t_route / t_causal, eager_torch_ms=t_eager,
               vs_eager=t_eager / t_route, rows_differing_from_eager=diff_rows,
               stream_ms=s_route, causal_stream_ms=s_causal,
               stream_share_of_causal=s_route / s_causal,
               host_us_per_call=host_us(lambda: routing(q, k, v, mu), reps),
               timeline=timeline(lambda: routing(q, k, v, mu)),
               kernels_ms=parts)
    print(json.dumps(row), flush=True)
    report["timings"] = [row]
    # The same pattern with the causal rule as a region reading perm (the
    # route without chunks): what chunks(C) saves.
    t_region = time_ms(lambda: region(q, k, v, mu), reps)
    same = rel(routing(q, k, v, mu), region(q, k, v, mu).double().cpu().numpy())
    rparts = kernel_ms(lambda: region(q, k, v, mu), reps,
                       names[:5] + ["routing__s4_c0", "routing__s4", "routing__s5",
                                    "routing__s6"])
    rrow = dict(pattern=f"k-means routing, C = {C}, causal as a region on perm",
                B=B, H=H, N=N, D=D, attnir_ms=t_region, causal_ms=t_causal,
                share_of_causal=t_region / t_causal, vs_eager=t_eager / t_region,
                rel_diff_vs_chunks=same, kernels_ms=rparts)
    print(json.dumps(rrow), flush=True)
    report["timings"].append(rrow)
    # The attention step alone, on inputs in the routed order.
    bucket = torch.einsum("bhnd,hcd->bhnc", q.float(), mu.float()).argmax(-1)
    perm = torch.sort(bucket, dim=-1, stable=True).indices.to(torch.int32)
    idx = perm.long()[..., None].expand(B, H, N, D)
    qs, ks, vs = (x.gather(2, idx).contiguous() for x in (q, k, v))
    variants = []
    for name, args in (("routing_sorted_rule", (qs, ks, vs, perm)),
                       ("routing_sorted_norule", (qs, ks, vs)),
                       ("routing_sorted_causal", (qs, ks, vs)),
                       ("routing_sorted_index", (qs, ks, vs))):
        kern = load(name)
        t = time_ms(lambda: kern(*args), reps)
        parts = kernel_ms(lambda: kern(*args), reps,
                          ["sorted__s0_c0", "sorted__s0", "sorted__s1", "sorted"])
        variants.append(dict(variant=name, ms=t, share_of_causal=t / t_causal,
                             kernels_ms=parts))
        print(json.dumps(variants[-1]), flush=True)
    report["attention_variants"] = variants
    # The whole program with other attention kernel shapes (build_routing.py's
    # ATTENTION_VARIANTS), each beside the default in the same process.
    programs = []
    # ROUTING_VARIANTS=a,b: time only those (a quicker A/B).
    only = [x for x in os.environ.get("ROUTING_VARIANTS", "").split(",") if x]
    # "base": the program built from an older commit (an A/B of its kernels
    # in one process; bench/gpu/build_routing.py --base); "prev",
    # "screen1" and "w4_k64_ctas3_noprefetch": bundles of an earlier build
    # copied by hand under those names before rebuilding; "ffma", "match",
    # "wb1": the default built with a temporary switch (docs/benchmarks/
    # routing.md says which). Absent ones are skipped.
    for variant in ("persistent", "k64", "w12", "w4_k128_ctas2", "w4_k64_ctas2",
                    "w8_k64_ctas2", "nogather", "w4_k64_ctas2_nogather",
                    "w4_k64_ctas3", "w4_k64_ctas3_s3", "w4_k64_ctas3_nogather",
                    "w4_k64_ctas4_nogather", "w4_k64_ctas3_noprefetch", "gtma", "k128_gtma",
                    "prev", "base", "ffma", "match", "wb1", "screen1", "commit1"):
        if not os.path.exists(os.path.join(BUNDLES, f"routing_bench_c16_chunks_{variant}.bundle")):
            continue
        if only and variant not in only:
            continue
        kern = load(f"routing_bench_c16_chunks_{variant}")
        err = rel(kern(q, k, v, mu), routing(q, k, v, mu).double().cpu().numpy())
        t = time_ms(lambda: kern(q, k, v, mu), reps)
        t_default = time_ms(lambda: routing(q, k, v, mu), reps)
        s_variant = stream_ms(lambda: kern(q, k, v, mu), reps)
        s_default = stream_ms(lambda: routing(q, k, v, mu), reps)
        parts = kernel_ms(lambda: kern(q, k, v, mu), reps, names)
        programs.append(dict(variant=variant, ms=t, default_ms=t_default,
                             stream_ms=s_variant, default_stream_ms=s_default,
                             share_of_causal=t / t_causal, kernels_ms=parts,
                             rel_diff_vs_default=err))
        print(json.dumps(programs[-1]), flush=True)
    report["program_variants"] = programs
    report["example"] = example_timings(t_causal, s_causal, reps)
    # Landmark retrieval is timed by bench/gpu/landmark.py.


def example_timings(t_causal, s_causal, reps):
    """examples/routing_kmeans.mlir (half the heads routed over C = 8,
    half a local window, as separate groups of heads) at the benchmark's
    shape, against the causal kernel timed above; the same bundle with
    its head parts copied (no views); and, where build_routing.py found it,
    the example's earlier form (every head in one routed order, the split
    in the rule) in the same process."""
    B, H, N, D = 1, 32, 16384, 64
    gen = torch.Generator(device=dev).manual_seed(2)
    q, k, v = (torch.randn(B, H, N, D, device=dev, generator=gen, dtype=torch.bfloat16)
               for _ in range(3))
    mu = torch.randn(H, 8, D, device=dev, generator=gen, dtype=torch.bfloat16)
    rows = []
    # _copies: the same bundle without its head views (every part copied).
    for bundle in ("routing_hop_routing_kmeans", "routing_hop_routing_kmeans_copies",
                   "routing_hop_routing_kmeans_prev"):
        if not os.path.exists(os.path.join(BUNDLES, bundle + ".bundle")):
            continue
        kern = load(bundle)
        t, st = time_ms(lambda: kern(q, k, v, mu), reps), stream_ms(lambda: kern(q, k, v, mu), reps)
        rows.append(dict(bundle=bundle, B=B, H=H, N=N, D=D, ms=t, stream_ms=st,
                         share_of_causal=t / t_causal, stream_share_of_causal=st / s_causal,
                         kernels_ms=kernel_ms(lambda: kern(q, k, v, mu), reps)))
        if len(rows) >= 2:
            rows[-1]["rel_diff_vs_example"] = rel(load(rows[0]["bundle"])(q, k, v, mu),
                                                  kern(q, k, v, mu).double().cpu().numpy())
        print(json.dumps(rows[-1]), flush=True)
    return rows


if __name__ == "__main__":
    if os.environ.get("EXAMPLE_ONLY"):  # the example against causal, nothing else
        causal = load("routing_causal_d64")
        x = torch.randn(1, 32, 16384, 64, device=dev, dtype=torch.bfloat16)
        t_c, s_c = time_ms(lambda: causal(x, x, x), 20), stream_ms(lambda: causal(x, x, x), 20)
        print(json.dumps(dict(causal_ms=t_c, causal_stream_ms=s_c)), flush=True)
        example_timings(t_c, s_c, 20)
    else:
        run_report("routing.json", [correctness], timings)
