#!/usr/bin/env python3
"""CPU routing and landmark benchmark (issue 21), f32, D = 64, B = 1, in
one process through the attnir package; each program is first checked
against the float64 reference on a ragged shape.

Routing (N = 16384): balanced k-means routing of every head, C = 16
centroids, chunks of N / C, causal on original positions
(bench/routing_specs.py: attn.route chunks(16), so the causal rule is the
built-in one; the same pattern with the rule as a region on perm is timed
beside it), against AttnIR's causal attention at the same shape and the
same pattern written eagerly in numpy (argmax of q . mu, a stable argsort,
gathers, a dense masked softmax per chunk, a scatter) and in eager PyTorch
(the issue's comparison; bench/gpu/routing.py's eager_routing on CPU
tensors: einsum, a stable sort, gathers, SDPA over the chunks with the
causal mask on positions, a scatter). torch is a benchmark dependency:
when this Python lacks it the script reruns itself in bench/.venv (made
and filled by bench/cpu_bench.py's baseline_python; --no-torch skips it).

Landmark (N = 32768): examples/landmark.mlir (blocks of 64, top-4
retrieval) against AttnIR's causal attention, a vectorised numpy version
and eager PyTorch (bench/gpu/landmark.py's eager_landmark on CPU tensors). Writes docs/benchmarks/routing-cpu.json, prints markdown tables.

usage: python3 bench/cpu_routing.py [--n 16384] [--heads 4] [--reps 3]
                                   [--landmark-n 32768] [--landmark-heads 1] [--no-torch]
"""
import argparse
import json
import os
import sys

import numpy as np

import attnir
from cpu_sparse import median_ms
from routing_specs import causal_spec, routing_chunked_spec, routing_spec

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def torch_eager():
    """(torch, eager_routing, eager_landmark) from bench/gpu's scripts (they
    run on CPU tensors too), or None without torch."""
    try:
        import torch
    except ImportError:
        return None
    sys.path.insert(0, os.path.join(REPO, "bench", "gpu"))
    from landmark import eager_landmark
    from routing import eager_routing
    return torch, eager_routing, eager_landmark


def rerun_with_torch():
    """This script again in a Python with torch (bench/.venv) when this one
    lacks it; returns only when none can be had."""
    if os.environ.get("ATTNIR_CPU_ROUTING_RERUN"):
        return
    from cpu_bench import baseline_python
    py = baseline_python(False)
    if py and os.path.abspath(py) != os.path.abspath(sys.executable):
        os.environ["ATTNIR_CPU_ROUTING_RERUN"] = "1"
        os.execv(py, [py] + sys.argv)


def torch_ms(fn, arrays, reps):
    """Median ms of fn on torch views of numpy arrays, and its result."""
    t = [TORCH[0].from_numpy(a) for a in arrays]
    with TORCH[0].no_grad():
        ms = median_ms(lambda: fn(*t), reps)
        out = fn(*t)
    return ms, (out[0] if isinstance(out, tuple) else out).numpy()


TORCH = None


def eager_numpy(q, k, v, mu):
    """The same pattern eagerly (N a multiple of C)."""
    B, H, N, D = q.shape
    C = mu.shape[1]
    w = N // C
    out = np.empty_like(q)
    for b in range(B):
        for h in range(H):
            bucket = (q[b, h] @ mu[h].T).argmax(-1)
            perm = np.argsort(bucket, kind="stable")
            qs, ks, vs = q[b, h][perm], k[b, h][perm], v[b, h][perm]
            for c in range(C):
                sl = slice(c * w, (c + 1) * w)
                pos = perm[sl]
                s = (qs[sl] @ ks[sl].T) / np.sqrt(D)
                s = np.where(pos[None, :] <= pos[:, None], s, -np.inf)
                p = np.exp(s - s.max(-1, keepdims=True))
                out[b, h, pos] = (p / p.sum(-1, keepdims=True)) @ vs[sl]
    return out


def eager_landmark(q, k, v, lk, block=64, topk=4, rows=1024):
    """Landmark retrieval eagerly in numpy, a slab of query rows at a time."""
    B, H, N, D = q.shape
    out = np.empty_like(q)
    scale = 1 / np.sqrt(D)
    kb = k.reshape(B, H, -1, block, D) if N % block == 0 else None
    vb = v.reshape(B, H, -1, block, D)
    for b in range(B):
        for h in range(H):
            for r0 in range(0, N, rows):
                i = np.arange(r0, min(N, r0 + rows))
                c = i // block
                A = (q[b, h, i] @ lk[b, h].T) * scale            # [r, nb]
                A = np.where(np.arange(A.shape[1])[None] < c[:, None], A, -np.inf)
                top = np.argsort(-A, axis=1, kind="stable")[:, :topk]
                a = np.take_along_axis(A, top, 1)               # [r, K]
                S = np.einsum("rd,rktd->rkt", q[b, h, i], kb[b, h][top]) * scale
                P = np.exp(S - S.max(-1, keepdims=True))
                units = np.einsum("rkt,rktd->rkd", P / P.sum(-1, keepdims=True), vb[b, h][top])
                loc = np.arange(block)[None] + (c * block)[:, None]   # [r, block]
                Sl = np.einsum("rd,rtd->rt", q[b, h, i], k[b, h][loc]) * scale
                Sl = np.where(loc <= i[:, None], Sl, -np.inf)
                logits = np.concatenate([Sl, np.where(np.isfinite(a), a, -np.inf)], 1)
                m = logits.max(1, keepdims=True)
                w = np.exp(logits - m)
                vals = np.concatenate([v[b, h][loc], units], 1)
                out[b, h, i] = np.einsum("rt,rtd->rd", w, vals) / w.sum(1, keepdims=True)
    return out


def landmark(args, causal):
    N, H, D, block = args.landmark_n, args.landmark_heads, 64, 64
    rng = np.random.default_rng(1)
    q, k, v = (rng.standard_normal((1, H, N, D)).astype(np.float32) for _ in range(3))
    lk = rng.standard_normal((1, H, N // block, D)).astype(np.float32)
    kern = attnir.compile(open(os.path.join(REPO, "examples", "landmark.mlir")).read(),
                          cache=False)
    n = 1000
    small = (q[:, :, :n], k[:, :, :n], v[:, :, :n], lk[:, :, :-(-n // block)])
    ref = kern.reference(*small)[0]
    err = float(np.abs(kern(*small)[0] - ref).max() / np.abs(ref).max())
    t_lm = median_ms(lambda: kern(q, k, v, lk), args.reps)
    t_causal = median_ms(lambda: causal(q, k, v), args.reps)
    t_eager = median_ms(lambda: eager_landmark(q, k, v, lk), args.reps)
    got = kern(q, k, v, lk)[0]
    diff = float(np.abs(got - eager_landmark(q, k, v, lk)).max())
    row = dict(pattern=f"landmark retrieval, l = {block}, top-4 of {N // block} blocks",
               B=1, H=H, N=N, D=D, attnir_ms=t_lm, causal_ms=t_causal,
               share_of_causal=t_lm / t_causal, eager_numpy_ms=t_eager,
               vs_eager=t_eager / t_lm, max_abs_diff_vs_eager=diff,
               max_rel_err_vs_reference=err)
    if TORCH:
        t_t, out_t = torch_ms(TORCH[2], (q, k, v, lk), args.reps)
        row.update(eager_torch_ms=t_t, vs_eager_torch=t_t / t_lm,
                   max_abs_diff_vs_eager_torch=float(np.abs(got - out_t).max()))
    return row


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=16384)
    ap.add_argument("--heads", type=int, default=4)
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--landmark-n", type=int, default=32768)
    ap.add_argument("--landmark-heads", type=int, default=1)
    ap.add_argument("--no-torch", action="store_true", help="no eager PyTorch column")
    args = ap.parse_args()
    global TORCH
    if not args.no_torch:
        TORCH = torch_eager()
        if TORCH is None:
            rerun_with_torch()
            print("torch not available: no eager PyTorch column", flush=True)
    N, H, D, C = args.n, args.heads, 64, 16
    rng = np.random.default_rng(0)
    q, k, v = (rng.standard_normal((1, H, N, D)).astype(np.float32) for _ in range(3))
    mu = rng.standard_normal((H, C, D)).astype(np.float32)
    routing = attnir.compile(routing_chunked_spec(D, C), cache=False)
    region = attnir.compile(routing_spec(D, C), cache=False)
    causal = attnir.compile(causal_spec(D), cache=False)
    n = 1000  # the check: against the reference on a ragged shape
    small = (q[:, :, :n], k[:, :, :n], v[:, :, :n], mu)
    ref = routing.reference(*small)
    err = float(np.abs(routing(*small) - ref).max() / np.abs(ref).max())
    t_route = median_ms(lambda: routing(q, k, v, mu), args.reps)
    t_causal = median_ms(lambda: causal(q, k, v), args.reps)
    t_region = median_ms(lambda: region(q, k, v, mu), args.reps)
    t_eager = median_ms(lambda: eager_numpy(q, k, v, mu), args.reps)
    diff = float(np.abs(routing(q, k, v, mu) - eager_numpy(q, k, v, mu)).max())
    cpu = ""
    if os.path.exists("/proc/cpuinfo"):
        cpu = open("/proc/cpuinfo").read().split("model name")[1].split("\n")[0].strip(": \t")
    row = dict(pattern=f"k-means routing, C = {C}, causal on original positions",
               B=1, H=H, N=N, D=D, attnir_ms=t_route, causal_ms=t_causal,
               share_of_causal=t_route / t_causal, eager_numpy_ms=t_eager,
               vs_eager=t_eager / t_route, max_abs_diff_vs_eager=diff,
               region_ms=t_region, region_share_of_causal=t_region / t_causal,
               max_rel_err_vs_reference=err, cpu=cpu, cores=os.cpu_count())
    if TORCH:
        t_t, out_t = torch_ms(lambda *a: TORCH[1](*a, C), (q, k, v, mu), args.reps)
        got = routing(q, k, v, mu)
        # Buckets from float32 dots on either side: a token on a tie may go
        # elsewhere, so rows are compared, not elements.
        row.update(eager_torch_ms=t_t, vs_eager_torch=t_t / t_route,
                   rows_differing_from_eager_torch=float(
                       (np.abs(got - out_t).max(-1) > 1e-3).mean()),
                   torch=TORCH[0].__version__, torch_threads=TORCH[0].get_num_threads())
    print(json.dumps(row), flush=True)
    lm = landmark(args, causal)
    print(json.dumps(lm), flush=True)
    with open(os.path.join(REPO, "docs", "benchmarks", "routing-cpu.json"), "w") as f:
        json.dump(dict(routing=row, landmark=lm), f, indent=1)
    print(f"\n{cpu}, {os.cpu_count()} cores\n")
    print("| pattern | AttnIR ms | AttnIR causal ms | share of causal | eager numpy ms | "
          "vs numpy | eager PyTorch ms | vs PyTorch |")
    print("|---|---|---|---|---|---|---|---|")
    for r in (row, lm):
        t = r.get("eager_torch_ms")
        torch_cols = f"{t:.0f} | {t / r['attnir_ms']:.1f}x" if t else "- | -"
        print(f"| {r['pattern']} (B=1, H={r['H']}, N={r['N']}, D={r['D']}) | {r['attnir_ms']:.0f} | "
              f"{r['causal_ms']:.0f} | {r['share_of_causal']:.3f} | {r['eager_numpy_ms']:.0f} | "
              f"{r['vs_eager']:.1f}x | {torch_cols} |")


if __name__ == "__main__":
    main()
