"""Property sweeps of selection programs: random valid pool -> block_scores
-> select -> attention chains, compiled and checked against the reference.

sweep.py draws single attention ops; the selection programs (SeerAttention,
MoBA, NSA's selected branch) were checked only on the examples' parameters.
Each case here draws:
- block sizes bq in {1, 16, 32, 64, 128} (1: the queries themselves score,
  as in MoBA) and bk in {1, 16, 32, 64, 128} (1: each key is scored, as in
  DSA's token selection), independent of the kernel's tile;
- pool kinds for q and k (every kind: mean, max, min, sum, mean_sqrt,
  first, last);
- block_scores with or without causal(q, k), an explicit scale or not,
  GQA sharing (sum, max: one list per KV head) or per query head;
- select by topk(k) (k from 0 past the number of blocks) or threshold(tau),
  plus first(f), local(l), last(t) forced blocks; i32 or i64 ids;
- the attention's own mask (sweep.py's random trees, no document ids) or
  none, and an lse output or not;
- ragged N and M from 1 (M = N when the scores are causal), B 1-2, GQA
  ratios 1-3, D 32-128, f32 or f16.
It checks the compiled kernel against attnir.reference (the op graph's
float64 semantics: pool, scores, selection and attention in float64), at
the dtype's tolerance. The selection is discontinuous: a near tie between
the last kept block's score and the next one's (f32 or f16 arithmetic
against float64) could pick a different block and fail a case that is
right up to rounding; none has so far (docs/fuzzing.md, "Property sweeps",
has the runs and the one real failure they found).

python/tests/test_sweep.py runs a fixed seed in CI; `python3
program_sweep.py --seed S --cases N` prints every failure with its spec;
bench/gpu/build_sweep.py --family programs builds the same cases for the GPU.
"""
import math
import sys

import numpy as np

import sweep
from sweep import NP_DTYPE, mask_text, random_mask, reads_docs, rel

POOL_KINDS = ("mean", "max", "min", "sum", "mean_sqrt", "first", "last")


def random_program(rng):
    c = sweep.random_heads(rng)
    c["bq"] = int(rng.choice([1, 16, 32, 64, 128]))
    c["bk"] = int(rng.choice([1, 16, 16, 32, 64, 128]))
    c["qkind"] = str(rng.choice(POOL_KINDS))
    c["kkind"] = str(rng.choice(POOL_KINDS))
    c["causal"] = bool(rng.random() < 0.6)
    c["N"] = int(rng.choice([1, rng.integers(1, 40), rng.integers(40, 400)]))
    c["M"] = c["N"] if c["causal"] or rng.random() < 0.3 else int(rng.integers(1, 400))
    c["scale"] = float(rng.choice([0.5, 0.03125])) if rng.random() < 0.2 else None
    c["share"] = str(rng.choice(["sum", "max"])) if rng.random() < 0.3 else None
    nkb = -(-c["M"] // c["bk"])
    if rng.random() < 0.7:
        c["topk"] = int(rng.choice([0, 1, 2, rng.integers(0, nkb + 3)]))
    else:
        c["threshold"] = float(rng.choice([1.0, 0.5, 0.9, rng.uniform(0.01, 1.0)]))
    for f in ("first", "local", "last"):
        c[f] = int(rng.choice([0, 0, 1, 2, rng.integers(0, nkb + 2)]))
    c["itype"] = str(rng.choice(["i32", "i64"]))
    c["mask"] = None
    if rng.random() < 0.6:
        m = random_mask(rng, max(c["N"], c["M"]))
        if not reads_docs(m):
            c["mask"] = m
    c["lse"] = bool(rng.random() < 0.3)
    return c


def program_of(c):
    D, dt, it = c["D"], c["dtype"], c["itype"]
    t = f"tensor<?x?x?x{D}x{dt}>"
    lines = []
    q_scored, k_scored = "%q", "%k"
    if c["bq"] > 1:
        lines.append(f"  %qp = attn.pool %q block({c['bq']}) kind({c['qkind']}) : {t} -> {t}")
        q_scored = "%qp"
    if c["bk"] > 1:
        lines.append(f"  %kp = attn.pool %k block({c['bk']}) kind({c['kkind']}) : {t} -> {t}")
        k_scored = "%kp"
    opts, operands, types = "", [q_scored, k_scored], [t, t]
    if c["causal"]:
        opts += f" causal(%q, %k) block_size({c['bq']}, {c['bk']})"
        types += [t, t]
    if c["scale"] is not None:
        opts += f" scale({c['scale']})"
    if c["share"]:
        opts += f" share({c['share']})"
    st = "tensor<?x?x?x?xf32>"
    lines.append(f"  %s = attn.block_scores {', '.join(operands)}{opts}"
                 f" : ({', '.join(types)}) -> {st}")
    sel = f" topk({c['topk']})" if "topk" in c else f" threshold({c['threshold']})"
    for f in ("first", "local", "last"):
        if c[f]:
            sel += f" {f}({c[f]})"
    K = (c["topk"] + c["first"] + c["local"] + c["last"]) if "topk" in c else "?"
    idx_t, cnt_t = f"tensor<?x?x?x{K}x{it}>", f"tensor<?x?x?x{it}>"
    lines.append(f"  %idx, %cnt = attn.select %s{sel} : {st} -> ({idx_t}, {cnt_t})")
    mask = f" mask({mask_text(c['mask'])})" if c["mask"] is not None else ""
    lse = "tensor<?x?x?xf32>"
    results = f"({t}, {lse})" if c["lse"] else t
    outs = "%o, %l" if c["lse"] else "%o"
    lines.append(f"  {outs} = attn.attention %q, %k, %v blocks(%idx, %cnt)"
                 f" block_size({c['bq']}, {c['bk']}){mask}"
                 f" : ({t}, {t}, {t}, {idx_t}, {cnt_t}) -> {results}")
    ret = f"%o, %l : {t}, {lse}" if c["lse"] else f"%o : {t}"
    return (f"func.func @f(%q: {t}, %k: {t}, %v: {t}) -> {results} {{\n"
            + "\n".join(lines) + f"\n  return {ret}\n}}\n")


def inputs_of(c, rng):
    B, Hq, Hkv, N, M, D = c["B"], c["Hq"], c["Hkv"], c["N"], c["M"], c["D"]
    dt = NP_DTYPE[c["dtype"]]
    return [rng.standard_normal(s).astype(dt)
            for s in ((B, Hq, N, D), (B, Hkv, M, D), (B, Hkv, M, D))]


def check_program(c, rng, reference_case=None):
    """None when the case holds, else a message with the spec (see
    sweep.check_family)."""
    def judge(got, want, arrs):
        scale = c["scale"] if c["scale"] is not None else 1 / math.sqrt(c["D"])
        tol = sweep.tolerance(c, arrs, scale)
        err = max(rel(g, w) for g, w in zip(got, want))
        if err > tol:
            shapes = {k: c[k] for k in ("B", "Hq", "Hkv", "N", "M")}
            return f"kernel vs reference {err:.2e} (tol {tol:.1e}), shapes {shapes}"
        return None
    return sweep.check_family(c, rng, program_of, inputs_of, judge, reference_case)


def run(seed, cases, out=sys.stdout):
    return sweep.run(seed, cases, out, random_program, check_program)


if __name__ == "__main__":
    sweep.main("program sweep", run)
