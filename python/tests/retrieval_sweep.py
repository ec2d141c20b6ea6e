"""Property sweeps of the retrieval family: attn.landmark and routing
programs (attn.route -> permute -> attention -> inverse permute), random
valid parameters, compiled and checked against the reference.

Each case is one of:
- landmark: block l in {1, 2, 3, 16, 64, 100, 300}, topk from 0 past the
  number of blocks or none (the grouped softmax), an explicit scale or
  not, GQA, ragged N from 1, D and Dv drawn apart, f32 or f16; out and lse;
- route: buckets by nearest centroid (C from 1 to 9) or LSH (0 to 8 bits,
  any seed), with chunks(C') (balanced chunks, the attention masked by
  #attn.balanced<C'>, with or without causal) or without (the attention
  masked by chunked<c> on the sorted order, with or without causal); the
  entry returns the output and the permutation and buckets, which must
  equal the reference's exactly (issue 21: "routing permutations
  identical to the reference's").
python/tests/test_sweep.py runs a fixed seed in CI; `python3
retrieval_sweep.py --seed S --cases N` prints every failure with its spec.
"""
import sys

import numpy as np

import sweep
from sweep import NP_DTYPE, TOL, rel


def random_retrieval(rng):
    c = sweep.random_heads(rng)
    c["kind"] = str(rng.choice(["landmark", "route"]))
    if c["kind"] == "landmark":
        c["Dv"] = int(rng.choice([32, 64, 128]))
        c["block"] = int(rng.choice([1, 2, 3, 16, 64, 64, 100, 300]))
        c["N"] = int(rng.choice([1, rng.integers(1, 60), rng.integers(60, 700)]))
        nb = -(-c["N"] // c["block"])
        c["topk"] = (None if rng.random() < 0.25 else
                     int(rng.choice([0, 1, 2, 4, rng.integers(0, nb + 3)])))
    else:
        c["Hkv"] = c["Hq"]  # q, k and v permuted by one order
        c["N"] = int(rng.choice([1, rng.integers(1, 60), rng.integers(60, 500)]))
        if rng.random() < 0.5:
            c["C"] = int(rng.integers(1, 10))
        else:
            c["bits"], c["seed"] = int(rng.integers(0, 9)), int(rng.integers(0, 2 ** 40))
        c["chunks"] = int(rng.integers(1, 9)) if rng.random() < 0.5 else None
        c["chunk_len"] = int(rng.choice([1, 16, 64, 100, rng.integers(1, 300)]))
        c["causal"] = bool(rng.random() < 0.6)
    c["scale"] = float(rng.choice([0.5, 0.0625])) if rng.random() < 0.2 else None
    return c


def landmark_spec(c):
    dt, D, Dv = c["dtype"], c["D"], c["Dv"]
    tq, tv = f"tensor<?x?x?x{D}x{dt}>", f"tensor<?x?x?x{Dv}x{dt}>"
    lse = "tensor<?x?x?xf32>"
    opts = f" block({c['block']})"
    if c["topk"] is not None:
        opts += f" topk({c['topk']})"
    if c["scale"] is not None:
        opts += f" scale({c['scale']})"
    return (f"func.func @f(%q: {tq}, %k: {tq}, %v: {tv}, %landmarks: {tq}) -> ({tv}, {lse}) {{\n"
            f"  %o, %l = attn.landmark %q, %k, %v, %landmarks{opts}\n"
            f"      : ({tq}, {tq}, {tv}, {tq}) -> ({tv}, {lse})\n"
            f"  return %o, %l : {tv}, {lse}\n}}\n")


def route_spec(c):
    dt, D = c["dtype"], c["D"]
    t, it = f"tensor<?x?x?x{D}x{dt}>", "tensor<?x?x?xi32>"
    args = [f"%q: {t}", f"%k: {t}", f"%v: {t}"]
    how, how_types = "", [t]
    if "C" in c:
        mu = f"tensor<?x{c['C']}x{D}x{dt}>"
        args.append(f"%mu: {mu}")
        how, how_types = " centroids(%mu)", [t, mu]
    else:
        how = f" lsh({c['bits']}, {c['seed']})"
    if c["chunks"]:
        how += f" chunks({c['chunks']})"
        rule = f"#attn.balanced<{c['chunks']}>"
    else:
        rule = f"#attn.chunked<{c['chunk_len']}>"
    if c["causal"]:
        rule = f"#attn.all_of<[{rule}, #attn.causal]>"
    scale = f" scale({c['scale']})" if c["scale"] is not None else ""
    perm = lambda x, inv="": (  # noqa: E731
        f"attn.permute {x} by %perm{inv} : ({t}, {it}) -> {t}")
    return (f"func.func @f({', '.join(args)}) -> ({t}, {it}, {it}) {{\n"
            f"  %perm, %bucket = attn.route %q{how} : ({', '.join(how_types)}) -> ({it}, {it})\n"
            f"  %qs = {perm('%q')}\n  %ks = {perm('%k')}\n  %vs = {perm('%v')}\n"
            f"  %os = attn.attention %qs, %ks, %vs mask({rule}){scale}\n"
            f"      : ({t}, {t}, {t}) -> {t}\n"
            f"  %o = {perm('%os', ' inverse')}\n"
            f"  return %o, %perm, %bucket : {t}, {it}, {it}\n}}\n")


def retrieval_spec(c):
    return landmark_spec(c) if c["kind"] == "landmark" else route_spec(c)


def retrieval_inputs(c, rng):
    B, Hq, Hkv, N, D = c["B"], c["Hq"], c["Hkv"], c["N"], c["D"]
    dt = NP_DTYPE[c["dtype"]]
    Dv = c.get("Dv", D)
    shapes = [(B, Hq, N, D), (B, Hkv, N, D), (B, Hkv, N, Dv)]
    if c["kind"] == "landmark":
        shapes.append((B, Hkv, -(-N // c["block"]), D))
    elif "C" in c:
        shapes.append((Hq, c["C"], D))
    return [rng.standard_normal(s).astype(dt) for s in shapes]


def check_retrieval(c, rng, reference_case=None):
    """None when the case holds, else a message with the spec (see
    sweep.check_family)."""
    def judge(got, want, _):
        tol = TOL[c["dtype"]]
        landmark = c["kind"] == "landmark"
        err = max(rel(got[0], want[0]), rel(got[1], want[1]) if landmark else 0)
        # The order and the buckets are integers: equal, not close.
        exact = landmark or all(np.array_equal(np.asarray(g), np.asarray(w))
                                for g, w in zip(got[1:], want[1:]))
        if err > tol or not exact:
            shapes = {k: c[k] for k in ("B", "Hq", "Hkv", "N", "D")}
            return (f"kernel vs reference {err:.2e} (tol {tol:.0e}), order and buckets "
                    f"{'equal' if exact else 'DIFFER'}, shapes {shapes}")
        return None
    return sweep.check_family(c, rng, retrieval_spec, retrieval_inputs, judge, reference_case)


def run(seed, cases, out=sys.stdout):
    return sweep.run(seed, cases, out, random_retrieval, check_retrieval)


if __name__ == "__main__":
    sweep.main("retrieval sweep", run)
