"""Property sweeps (issue 15): random valid specs, compiled and checked.

Each case draws a mask tree (every mask of the zoo, combinators, parameters
from 0 to the 2^40 bound), an optional runtime block list (block sizes 16 to
128, per query head, per KV head or shared), optional document ids, shapes
(ragged N and M from 1, GQA ratios, cross lengths), a dtype and a head dim,
then checks two things:
- the kernel against attnir.reference (the dtype's tolerance);
- attnir.reference against this module's own numpy oracle (1e-12), which
  evaluates the mask tree independently of lib/Reference.

python/tests/test_sweep.py runs a fixed seed in CI; scripts/sweep.sh runs
thousands with fresh seeds. `python3 sweep.py --seed S --cases N` prints
every failure with the spec that reproduces it.
"""
import argparse
import math
import sys

import numpy as np

import attnir

MAX_PARAM = 2 ** 40
TOL = {"f32": 1e-5, "f16": 2e-3}
NP_DTYPE = {"f32": np.float32, "f16": np.float16}
LEAVES = ("causal", "window", "sink", "global", "prefix", "chunked", "dilated",
          "segments")


# -- mask trees: (kind, params, children) --------------------------------
def _param(rng, n, lo=0):
    """A parameter: small, near the lengths, or the bound."""
    return int(rng.choice([lo, lo + 1, rng.integers(lo, max(lo + 1, 2 * n + 2)),
                           rng.integers(lo, 8) + lo, MAX_PARAM]))


def random_mask(rng, n, depth=0):
    if depth < 2 and rng.random() < 0.35:
        kind = str(rng.choice(["all_of", "any_of", "not"]))
        if kind == "not":
            return (kind, (), [random_mask(rng, n, depth + 1)])
        return (kind, (), [random_mask(rng, n, depth + 1)
                           for _ in range(int(rng.integers(2, 4)))])
    kind = str(rng.choice(LEAVES))
    if kind == "window":
        return (kind, (_param(rng, n), _param(rng, n)), [])
    if kind in ("sink", "global", "prefix"):
        return (kind, (_param(rng, n),), [])
    if kind == "chunked":
        return (kind, (_param(rng, n, 1),), [])
    if kind == "dilated":
        s = min(_param(rng, n, 1), 64)
        w = min(_param(rng, n), MAX_PARAM // s)
        return (kind, (s, w), [])
    return (kind, (), [])


def mask_text(m):
    kind, params, kids = m
    if kind in ("all_of", "any_of"):
        return f"#attn.{kind}<[{', '.join(mask_text(k) for k in kids)}]>"
    if kind == "not":
        return f"#attn.not<{mask_text(kids[0])}>"
    return f"#attn.{kind}" + (f"<{', '.join(map(str, params))}>" if params else "")


def reads_docs(m):
    return m[0] == "segments" or any(reads_docs(k) for k in m[2])


def keep_matrix(m, N, M, qd, kd):
    """[N, M] bool of the mask tree for one batch (qd, kd: that batch's ids)."""
    i = np.arange(N, dtype=np.int64)[:, None]
    j = np.arange(M, dtype=np.int64)[None, :]
    d = M - N
    kind, p, kids = m
    if kind == "causal":
        return np.broadcast_to(j <= i + d, (N, M))
    if kind == "window":
        return (j >= i + d - p[0]) & (j <= i + d + p[1])
    if kind == "sink":
        return np.broadcast_to(j < p[0], (N, M))
    if kind == "global":
        return (j < p[0]) | (i < p[0])
    if kind == "prefix":
        return (j < p[0]) | (j <= i + d)
    if kind == "chunked":
        return (i // p[0]) == (j // p[0])
    if kind == "dilated":
        dist = i + d - j
        return (dist % p[0] == 0) & (np.abs(dist) <= p[0] * p[1])
    if kind == "segments":
        return qd[:, None] == kd[None, :]
    mats = [keep_matrix(k, N, M, qd, kd) for k in kids]
    if kind == "all_of":
        return np.logical_and.reduce(mats)
    if kind == "any_of":
        return np.logical_or.reduce(mats)
    return ~mats[0]


# -- one case ----------------------------------------------------------------
def random_heads(rng):
    """dtype, head dim, batch and (GQA) head counts of a case."""
    c = {}
    c["dtype"] = str(rng.choice(["f32", "f32", "f16"]))
    c["D"] = int(rng.choice([32, 64, 64, 128]))
    c["B"] = int(rng.integers(1, 3))
    c["Hkv"] = int(rng.integers(1, 3))
    c["Hq"] = c["Hkv"] * int(rng.integers(1, 4))
    return c


def random_case(rng):
    c = random_heads(rng)
    c["N"] = int(rng.choice([1, rng.integers(1, 20), rng.integers(20, 200)]))
    c["M"] = c["N"] if rng.random() < 0.4 else int(rng.integers(1, 200))
    c["mask"] = random_mask(rng, max(c["N"], c["M"])) if rng.random() < 0.9 else None
    if rng.random() < 0.35:
        c["bq"] = int(rng.choice([16, 32, 64, 128]))
        c["bk"] = int(rng.choice([16, 32, 64, 128]))
        c["list_heads"] = str(rng.choice(["1", "Hq", "Hkv"]))
        c["itype"] = str(rng.choice(["i32", "i64"]))
    c["docs"] = c["mask"] is not None and reads_docs(c["mask"])
    return c


def spec_of(c):
    t = f"tensor<?x?x?x{c['D']}x{c['dtype']}>"
    args = [f"%q: {t}", f"%k: {t}", f"%v: {t}"]
    types = [t, t, t]
    extra = ""
    if "bq" in c:
        it = c["itype"]
        args += [f"%kv_indices: tensor<?x?x?x?x{it}>", f"%kv_counts: tensor<?x?x?x{it}>"]
        types += [f"tensor<?x?x?x?x{it}>", f"tensor<?x?x?x{it}>"]
        extra += f" blocks(%kv_indices, %kv_counts) block_size({c['bq']}, {c['bk']})"
    if c["docs"]:
        args += ["%q_doc: tensor<?x?xi32>", "%k_doc: tensor<?x?xi32>"]
        types += ["tensor<?x?xi32>", "tensor<?x?xi32>"]
        extra += " segments(%q_doc, %k_doc)"
    if c["mask"] is not None:
        extra += f" mask({mask_text(c['mask'])})"
    lse = "tensor<?x?x?xf32>"
    return (f"func.func @f({', '.join(args)}) -> ({t}, {lse}) {{\n"
            f"  %o, %l = attn.attention %q, %k, %v{extra}\n"
            f"      : ({', '.join(types)}) -> ({t}, {lse})\n"
            f"  return %o, %l : {t}, {lse}\n}}\n")


def inputs_of(c, rng):
    B, Hq, Hkv, N, M, D = c["B"], c["Hq"], c["Hkv"], c["N"], c["M"], c["D"]
    dt = NP_DTYPE[c["dtype"]]
    arrs = [rng.standard_normal(s).astype(dt)
            for s in ((B, Hq, N, D), (B, Hkv, M, D), (B, Hkv, M, D))]
    keep_list = None
    if "bq" in c:
        nqb, nkb = -(-N // c["bq"]), -(-M // c["bk"])
        H = {"1": 1, "Hq": Hq, "Hkv": Hkv}[c["list_heads"]]
        K = int(rng.integers(1, nkb + 2))
        np_it = np.int32 if c["itype"] == "i32" else np.int64
        idx = np.full((B, H, nqb, K), -1, np_it)
        cnt = np.zeros((B, H, nqb), np_it)
        for b in range(B):
            for h in range(H):
                for r in range(nqb):
                    ids = rng.integers(0, nkb, size=int(rng.integers(0, K + 1)))
                    idx[b, h, r, :len(ids)] = ids
                    cnt[b, h, r] = len(ids)
        arrs += [idx, cnt]

        def keep_list(b, h):
            lh = 0 if H == 1 else (h if H == Hq else h // (Hq // Hkv))
            out = np.zeros((N, M), bool)
            for i in range(N):
                r = i // c["bq"]
                for j in idx[b, lh, r, :cnt[b, lh, r]]:
                    out[i, j * c["bk"]:(j + 1) * c["bk"]] = True
            return out
    qd = kd = None
    if c["docs"]:
        qd = np.sort(rng.integers(0, 4, size=(B, N))).astype(np.int32)
        kd = np.sort(rng.integers(0, 4, size=(B, M))).astype(np.int32)
        arrs += [qd, kd]
    return arrs, keep_list, qd, kd


def oracle(c, arrs, keep_list, qd, kd):
    """out [B, Hq, N, D] in float64 from this module's own mask evaluation."""
    q, k, v = (a.astype(np.float64) for a in arrs[:3])
    B, Hq, N, D = q.shape
    Hkv, M = k.shape[1], k.shape[2]
    out = np.zeros((B, Hq, N, D))
    for b in range(B):
        keep = (np.ones((N, M), bool) if c["mask"] is None else
                keep_matrix(c["mask"], N, M, None if qd is None else qd[b],
                            None if kd is None else kd[b]))
        for h in range(Hq):
            kh = keep & keep_list(b, h) if keep_list else keep
            s = q[b, h] @ k[b, h // (Hq // Hkv)].T / math.sqrt(D)
            s = np.where(kh, s, -np.inf)
            mx = s.max(axis=1, keepdims=True)
            p = np.where(kh, np.exp(s - np.where(np.isfinite(mx), mx, 0)), 0)
            z = p.sum(axis=1, keepdims=True)
            out[b, h] = np.where(z > 0, p @ v[b, h // (Hq // Hkv)] / np.where(z > 0, z, 1), 0)
    return out


def rel(a, b):
    """Max |a - b| over max |b| on the finite entries. An lse of a row with
    no keys is -inf on both sides (equal: no error); anything not finite on
    one side only, or NaN anywhere, is an infinite error (a plain a - b
    would make inf - inf a NaN that no tolerance comparison catches)."""
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    if np.isnan(a).any() or np.isnan(b).any():
        return math.inf
    same = a == b
    if (~same & ~(np.isfinite(a) & np.isfinite(b))).any():
        return math.inf
    with np.errstate(invalid="ignore"):
        diff = np.where(same, 0.0, a - b)
    scale = max(np.abs(np.where(np.isfinite(b), b, 0)).max(initial=0.0), 1e-30)
    return float(np.abs(diff).max(initial=0.0) / scale)


def tolerance(c, arrs, scale):
    """The dtype's tolerance plus f32 rounding of the largest logit that
    q (arrs[0]) and k (arrs[1]) can make at this scale."""
    q64, k64 = arrs[0].astype(np.float64), arrs[1].astype(np.float64)
    logit = np.abs(q64).max(initial=0) * np.abs(k64).max(initial=0) * scale * c["D"]
    return TOL[c["dtype"]] + 8 * 2.0 ** -23 * logit


def check_case(c, rng):
    """None when the case holds, else a message with the spec: the kernel
    against the reference, and the reference against this module's oracle."""
    masks = {}

    def inputs(c, rng):
        arrs, masks["list"], masks["qd"], masks["kd"] = inputs_of(c, rng)
        return arrs

    def judge(got, ref, arrs):
        want = oracle(c, arrs, masks["list"], masks["qd"], masks["kd"])
        tol = tolerance(c, arrs, 1 / math.sqrt(c["D"]))
        e_kernel, e_ref = max(rel(g, r) for g, r in zip(got, ref)), rel(ref[0], want)
        if e_kernel > tol or e_ref > 1e-12:
            shapes = {k: c[k] for k in ("B", "Hq", "Hkv", "N", "M")}
            return (f"kernel vs reference {e_kernel:.2e} (tol {tol:.1e}), reference vs "
                    f"oracle {e_ref:.2e}, shapes {shapes}")
        return None
    return check_family(c, rng, spec_of, inputs, judge)


def check_family(c, rng, spec_of, inputs_of, judge, reference_case=None, **options):
    """One case of a sweep family: compiles spec_of(c), runs it on
    inputs_of(c, rng) and hands its results and the reference's (each a
    tuple) to judge(got, want, inputs), which returns None or what is wrong. None
    when the case holds, else a message with the spec; a refusal of a
    valid case is a failure. The tests of the sweeps themselves pass
    another case as `reference_case`, whose reference then judges this
    case's kernel, so the check must fail."""
    spec = spec_of(c)
    arrs = inputs_of(c, rng)
    try:
        got = attnir.compile(spec, cache=False, **options)(*arrs)
        want = attnir.reference(spec_of(reference_case or c), *arrs)
    except Exception as e:
        return f"{type(e).__name__}: {e}\n{spec}"
    got = got if isinstance(got, tuple) else (got,)
    want = want if isinstance(want, tuple) else (want,)
    wrong = judge(got, want, arrs)
    return f"{wrong}\n{spec}" if wrong else None


def run(seed, cases, out=sys.stdout, draw_case=None, check=None):
    """Draws and checks `cases` cases (sweep.py's by default; program_sweep.py
    passes its own); returns the failures' messages, printing each."""
    draw_case, check = draw_case or random_case, check or check_case
    rng = np.random.default_rng(seed)
    failures = []
    for n in range(cases):
        c = draw_case(rng)
        msg = check(c, rng)
        if msg:
            failures.append(msg)
            print(f"FAIL case {n} (seed {seed}): {msg}", file=out, flush=True)
    return failures


def main(name, runner):
    ap = argparse.ArgumentParser()
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--cases", type=int, default=100)
    a = ap.parse_args()
    bad = runner(a.seed, a.cases)
    print(f"{name} seed {a.seed}: {a.cases} cases, {len(bad)} failures")
    sys.exit(1 if bad else 0)


if __name__ == "__main__":
    main("sweep", run)
