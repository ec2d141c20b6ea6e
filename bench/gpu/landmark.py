#!/usr/bin/env python3
"""On the GPU machine (torch, CUDA; no LLVM/MLIR): Landmark Attention's
retrieval (attn.landmark, issue 21; bundles from bench/gpu/build_landmark.py)
through the runtime-only attnir package, in one process with an eager-PyTorch
version of the same pattern.

  1. correctness: every bundle on ragged, GQA, short and long shapes against
     the float64 reference it carries (bf16/f16 tolerance; out and lse), the
     eager version against the same reference, and a needle planted in one
     block of a 32768-token row retrieved by top-4;
  2. timings (bf16, B = 1, H = 8, N = 32768, D = 64, l = 64, top 4 of 512
     blocks): AttnIR's landmark retrieval against AttnIR's causal attention
     and the eager version, on independent random rows (every row of a tile
     picks its own blocks: the worst case) and on rows whose block shares a
     topic (neighbouring queries pick the same blocks);
  3. writes landmark.json into --out.

  PYTHONPATH=<runtime-only site> python3 bench/gpu/landmark.py --out DIR
"""
import glob
import json
import math
import os

import numpy as np
import torch

import attnir
from rules import kernel_ms, rel
from sparse import host_us, run_report, stream_ms, time_ms, timeline

HERE = os.path.dirname(os.path.abspath(__file__))
BUNDLES = os.path.join(HERE, "bundles")
dev = "cuda"
BLOCKS = {"landmark_row_bf16_b32": 32}
DIMS = {"landmark_f16_k8_d128": (128, 128), "landmark_bf16_k1_dv32": (64, 32),
        "landmark_bf16_k2_d32_dv64": (32, 64), "landmark_one_f16_k8_d128": (128, 128)}
TYPES = {"landmark_f16_k8_d128": torch.float16, "landmark_row_f32_k4": torch.float32,
         "landmark_one_f16_k8_d128": torch.float16}
TOPK = {"landmark_bf16_all": None, "landmark_f16_k8_d128": 8, "landmark_bf16_k1_dv32": 1,
        "landmark_bf16_k2_d32_dv64": 2, "landmark_one_f16_k8_d128": 8, "landmark_one_bf16_k3": 3}


def load(name):
    return attnir.load(os.path.join(BUNDLES, name + ".bundle"))


def record(rows, bundle, sname, ok, err, msg=""):
    rows.append(dict(bundle=bundle, shape=sname, max_rel_err=err, ok=ok, error=msg))
    print(f"check {bundle:28s} {sname:16s} err={err:.2e} "
          f"{'ok' if ok else 'FAILED ' + msg}", flush=True)


def inputs(B, H, Hk, N, d, dv, block, dtype, gen):
    r = lambda *s: torch.randn(*s, generator=gen).to(dtype)  # noqa: E731
    return [r(B, H, N, d), r(B, Hk, N, d), r(B, Hk, N, dv), r(B, Hk, -(-N // block), d)]


def eager_landmark(q, k, v, lk, block=64, topk=4, rows=2048):
    """The same pattern in eager PyTorch (float32 math; N a multiple of the
    block): landmark logits, top-k of the earlier blocks, the retrieved
    blocks' keys and values gathered, each block's own softmax, the local
    block causal, one softmax over local tokens and units; rows in chunks."""
    B, H, N, D = q.shape
    Hk, nb = k.shape[1], N // block
    g = H // Hk
    kb = k.repeat_interleave(g, 1).float().view(B, H, nb, block, D)
    vb = v.repeat_interleave(g, 1).float().view(B, H, nb, block, v.shape[3])
    lkf = lk.repeat_interleave(g, 1).float()
    scale = 1 / math.sqrt(D)
    out = torch.empty(B, H, N, v.shape[3], device=q.device, dtype=q.dtype)
    lse = torch.empty(B, H, N, device=q.device)
    for r0 in range(0, N, rows):
        qi = q[:, :, r0:r0 + rows].float()
        i = torch.arange(r0, r0 + qi.shape[2], device=q.device)
        c = i // block
        a = torch.einsum("bhnd,bhkd->bhnk", qi, lkf) * scale
        a = a.masked_fill(torch.arange(nb, device=q.device) >= c[:, None], -math.inf)
        kk = min(topk, nb) if topk else nb
        av, ids = a.topk(kk, dim=-1)                       # [B, H, n, kk]
        legal = torch.isfinite(av)
        idx = ids.clamp(min=0)
        gk = torch.gather(kb, 2, idx.reshape(B, H, -1, 1, 1).expand(-1, -1, -1, block, D))
        gv = torch.gather(vb, 2, idx.reshape(B, H, -1, 1, 1).expand(-1, -1, -1, block, vb.shape[4]))
        gk = gk.view(B, H, -1, kk, block, D)
        gv = gv.view(B, H, -1, kk, block, vb.shape[4])
        s = torch.einsum("bhnd,bhnkjd->bhnkj", qi, gk) * scale
        unit = torch.einsum("bhnkj,bhnkje->bhnke", torch.softmax(s, -1), gv)
        lkeys, lvals = kb[:, :, c], vb[:, :, c]            # [B, H, n, block, D]
        ls = torch.einsum("bhnd,bhnjd->bhnj", qi, lkeys) * scale
        ls = ls.masked_fill(torch.arange(block, device=q.device) > (i % block)[:, None], -math.inf)
        logits = torch.cat([ls, av.masked_fill(~legal, -math.inf)], -1)
        w = torch.softmax(logits, -1)
        o = (torch.einsum("bhnj,bhnje->bhne", w[..., :block], lvals)
             + torch.einsum("bhnk,bhnke->bhne", w[..., block:], unit))
        out[:, :, r0:r0 + rows] = o.to(q.dtype)
        lse[:, :, r0:r0 + rows] = torch.logsumexp(logits, -1)
    return out, lse


def check_out(rows, bundle, sname, got, ref, tol):
    """out and lse against the reference; a row past the bound is a near tie
    of two landmark logits (f32 tensor-core sums against float64) when at
    most one row in a thousand is over it."""
    out, lse = got[0].double().cpu().numpy(), got[1].double().cpu().numpy()
    rout, rlse = np.asarray(ref[0], np.float64), np.asarray(ref[1], np.float64)
    err = float(np.abs(out - rout).max() / (np.abs(rout).max() or 1.0))
    lerr = float(np.abs(lse - rlse).max())
    over = (np.abs(out - rout).max(-1) > tol * (np.abs(rout).max() or 1.0)) | \
           (np.abs(lse - rlse) > 10 * tol)
    n_over, total = int(over.sum()), over.size
    finite = bool(np.isfinite(out).all() and np.isfinite(lse).all())
    ok = finite and (n_over == 0 or n_over <= total // 1000)
    msg = "" if n_over == 0 else f"{n_over} of {total} rows over the bound (near ties)"
    record(rows, bundle, sname, ok, max(err, lerr / 10), msg if ok else msg or "not finite")


def correctness(report):
    rows = []
    gen = torch.Generator().manual_seed(0)
    shapes = [("ragged", 2, 4, 4, 300), ("GQA", 1, 6, 2, 1000), ("short", 1, 2, 1, 77),
              ("long", 1, 4, 4, 4100), ("many blocks", 1, 2, 1, 16411)]
    names = sorted(f[:-7] for f in os.listdir(BUNDLES)
                   if f.startswith("landmark_") and f.endswith(".bundle")
                   and "causal" not in f)
    for name in names:
        kern = load(name)
        d, dv = DIMS.get(name, (64, 64))
        dtype = TYPES.get(name, torch.bfloat16)
        tol = 1e-5 if dtype == torch.float32 else 1e-2
        for sname, B, H, Hk, N in shapes:
            args = inputs(B, H, Hk, N, d, dv, BLOCKS.get(name, 64), dtype, gen)
            try:
                got = kern(*(a.to(dev) for a in args))
                check_out(rows, name, sname, got, kern.reference(*args), 10 * tol if
                          dtype == torch.float32 else tol)
            except Exception as e:  # noqa: BLE001 - reported
                record(rows, name, sname, False, float("inf"), f"{type(e).__name__}: {e}")
    # Exact ties: small-integer queries and landmarks give logits that tie
    # across many blocks; the picks must follow the reference's order
    # (logit descending, block ascending).
    for name in names:
        kern = load(name)
        d, dv = DIMS.get(name, (64, 64))
        dtype = TYPES.get(name, torch.bfloat16)
        q, k, v, lk = inputs(1, 2, 1, 2000, d, dv, BLOCKS.get(name, 64), dtype, gen)
        q = torch.randint(0, 2, q.shape, generator=gen).to(dtype)
        lk = torch.zeros_like(lk)
        lk[..., :4] = torch.randint(-1, 2, lk[..., :4].shape, generator=gen).to(dtype)
        try:
            got = kern(*(a.to(dev) for a in (q, k, v, lk)))
            check_out(rows, name, "exact ties", got, kern.reference(q, k, v, lk),
                      1e-4 if dtype == torch.float32 else 1e-2)
        except Exception as e:  # noqa: BLE001 - reported
            record(rows, name, "exact ties", False, float("inf"), f"{type(e).__name__}: {e}")
    # Calls of one shape in a row: the counts the program leaves at 0 for
    # the next call (its table persists; nothing clears it in between).
    kern = load("landmark_bf16_k4")
    for rep in range(3):
        args = inputs(2, 4, 2, 3000, 64, 64, 64, torch.bfloat16, gen)
        try:
            got = kern(*(a.to(dev) for a in args))
            check_out(rows, "landmark_bf16_k4", f"same shape #{rep}", got,
                      kern.reference(*args), 1e-2)
        except Exception as e:  # noqa: BLE001 - reported
            record(rows, "landmark_bf16_k4", f"same shape #{rep}", False, float("inf"),
                   f"{type(e).__name__}: {e}")
    # Replays: the runtime replays a program's launches as a CUDA graph
    # when a call repeats the previous call's launches (same buffers and
    # shapes); new data in the same buffers must give new results.
    q, k, v, lk = (a.to(dev) for a in inputs(1, 4, 2, 3000, 64, 64, 64, torch.bfloat16, gen))
    out = torch.empty_like(q), torch.empty(q.shape[:3], device=dev, dtype=torch.float32)
    for rep in range(4):
        q.normal_(generator=None)
        lk.normal_(generator=None)
        try:
            got = kern(q, k, v, lk, out=out)
            check_out(rows, "landmark_bf16_k4", f"replay #{rep}", got,
                      kern.reference(*(a.cpu() for a in (q, k, v, lk))), 1e-2)
        except Exception as e:  # noqa: BLE001 - reported
            record(rows, "landmark_bf16_k4", f"replay #{rep}", False, float("inf"),
                   f"{type(e).__name__}: {e}")
    # torch.cuda.graph around a call whose launches the runtime replays as
    # its own graph (warmed up on the capturing stream and buffers): inside
    # a capture it launches the kernels themselves; torch's graph replayed
    # on new data in the same buffers.
    try:
        side = torch.cuda.Stream()
        side.wait_stream(torch.cuda.current_stream())
        with torch.cuda.stream(side):
            for _ in range(3):
                kern(q, k, v, lk, out=out)
        torch.cuda.current_stream().wait_stream(side)
        graph = torch.cuda.CUDAGraph()
        with torch.cuda.graph(graph, stream=side):
            kern(q, k, v, lk, out=out)
        for rep in range(2):
            q.normal_()
            lk.normal_()
            graph.replay()
            torch.cuda.synchronize()
            check_out(rows, "landmark_bf16_k4", f"torch.cuda.graph #{rep}", out,
                      kern.reference(*(a.cpu() for a in (q, k, v, lk))), 1e-2)
    except Exception as e:  # noqa: BLE001 - reported
        record(rows, "landmark_bf16_k4", "torch.cuda.graph", False, float("inf"),
               f"{type(e).__name__}: {e}")
    # The eager version computes the same thing.
    args = inputs(1, 4, 2, 2048, 64, 64, 64, torch.bfloat16, gen)
    try:
        got = eager_landmark(*(a.to(dev) for a in args))
        check_out(rows, "eager torch", "GQA 2048", got, kern.reference(*args), 1e-2)
    except Exception as e:  # noqa: BLE001 - reported
        record(rows, "eager torch", "GQA 2048", False, float("inf"), f"{type(e).__name__}: {e}")
    # A needle: query i of block 400 holds one block's landmark direction;
    # that block's values are 3, every other value ~N(0, 1).
    N, i, needle = 32768, 400 * 64 + 17, 123
    q, k, v, lk = inputs(1, 1, 1, N, 64, 64, 64, torch.bfloat16, gen)
    lk[0, 0, needle] = (q[0, 0, i].float() * 4).to(torch.bfloat16)
    v[0, 0, needle * 64:(needle + 1) * 64] = 3
    try:
        out, _ = kern(*(a.to(dev) for a in (q, k, v, lk)))
        got = out[0, 0, i].float().cpu()
        ok = bool((got - 3).abs().max() < 0.1)
        record(rows, "landmark_bf16_k4", "needle 32768", ok, float((got - 3).abs().max()),
               "" if ok else "the needle block was not retrieved")
    except Exception as e:  # noqa: BLE001 - reported
        record(rows, "landmark_bf16_k4", "needle 32768", False, float("inf"),
               f"{type(e).__name__}: {e}")
    report["correctness"] += rows


def timings(report, reps):
    B, H, N, D = 1, 8, 32768, 64
    gen = torch.Generator(device=dev).manual_seed(1)
    rnd = lambda *s: torch.randn(*s, device=dev, generator=gen)  # noqa: E731
    k, v = (rnd(B, H, N, D).to(torch.bfloat16) for _ in range(2))
    lk = rnd(B, H, N // 64, D).to(torch.bfloat16)
    q_random = rnd(B, H, N, D).to(torch.bfloat16)
    # Rows of a block share a topic: q_i = 2 t_c + n_i.
    topic = rnd(B, H, N // 64, 1, D).expand(-1, -1, -1, 64, -1).reshape(B, H, N, D)
    q_topic = (2 * topic + rnd(B, H, N, D)).to(torch.bfloat16)
    lm, lm_all, causal = load("landmark_bf16_k4"), load("landmark_bf16_all"), \
        load("landmark_causal_d64")
    lm_tiles = load("landmark_tiles_k4")
    # A/B against other builds of the same spec (optional):
    # bundles/landmark_prev_k4.bundle, a copy of landmark_bf16_k4.bundle
    # made before rebuilding, and bundles/landmark_var_*.bundle, variants
    # built by hand; each timed in this process, with its kernels.
    others = {os.path.basename(p)[:-len(".bundle")]: attnir.load(p)
              for p in sorted(glob.glob(os.path.join(BUNDLES, "landmark_prev_k4.bundle")) +
                              glob.glob(os.path.join(BUNDLES, "landmark_var_*.bundle")))}
    t_c = time_ms(lambda: causal(q_random, k, v), reps)
    # Back to back (host work hidden behind the previous call), both sides.
    t_c_stream = stream_ms(lambda: causal(q_random, k, v), reps)
    report["timings"] = []
    for data, q in (("independent random rows", q_random), ("rows of a block share a topic", q_topic)):
        t = time_ms(lambda: lm(q, k, v, lk), reps)
        t_e = time_ms(lambda: eager_landmark(q, k, v, lk), max(3, reps // 4))
        got, exp = lm(q, k, v, lk), eager_landmark(q, k, v, lk)
        diff_rows = ((got[0].float() - exp[0].float()).abs().amax(-1) > 5e-2).float().mean().item()
        # How many blocks a tile stages: the union of its rows' picks.
        a = torch.einsum("bhnd,bhkd->bhnk", q.float(), lk.float())
        i = torch.arange(N, device=dev)
        a = a.masked_fill(torch.arange(N // 64, device=dev) >= (i // 64)[:, None], -math.inf)
        ids = a.topk(4, -1).indices.view(B, H, N // 64, 64 * 4)
        legal = a.topk(4, -1).values.isfinite().view(B, H, N // 64, 64 * 4)
        ids = torch.where(legal, ids, -1)
        union = torch.tensor([len(set(x.tolist()) - {-1}) for x in ids[0, 0]], dtype=torch.float)
        parts = kernel_ms(lambda: lm(q, k, v, lk), reps,
                          ["landmark__s0"] + [f"landmark__s0_c{i}" for i in range(5)])
        t_tiles = time_ms(lambda: lm_tiles(q, k, v, lk), reps)
        row = dict(pattern="landmark retrieval, l = 64, top 4 of 512 blocks", data=data,
                   B=B, H=H, N=N, D=D, attnir_ms=t, causal_ms=t_c, share_of_causal=t / t_c,
                   by_query_tiles_ms=t_tiles,
                   other_builds={name: dict(ms=time_ms(lambda: f(q, k, v, lk), reps),
                                            kernels_ms=kernel_ms(lambda: f(q, k, v, lk), reps,
                                                                 list(parts)),
                                            max_abs_diff_from_main=float(
                                                (f(q, k, v, lk)[0].float() - got[0].float())
                                                .abs().max()))
                                 for name, f in others.items()},
                   stream_ms=stream_ms(lambda: lm(q, k, v, lk), reps),
                   causal_stream_ms=t_c_stream,
                   host_us_per_call=host_us(lambda: lm(q, k, v, lk), reps),
                   causal_host_us_per_call=host_us(lambda: causal(q, k, v), reps),
                   timeline=timeline(lambda: lm(q, k, v, lk)),
                   eager_torch_ms=t_e, vs_eager=t_e / t, rows_differing_from_eager=diff_rows,
                   mean_blocks_staged_per_tile=union.mean().item(), kernels_ms=parts)
        print(json.dumps(row), flush=True)
        report["timings"].append(row)
    t_all = time_ms(lambda: lm_all(q_random, k, v, lk), reps)
    row = dict(pattern="grouped softmax over every earlier block (no topk)", B=B, H=H, N=N, D=D,
               attnir_ms=t_all, causal_ms=t_c, share_of_causal=t_all / t_c)
    print(json.dumps(row), flush=True)
    report["timings"].append(row)


if __name__ == "__main__":
    run_report("landmark.json", [correctness], timings)
