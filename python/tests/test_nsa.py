"""Native Sparse Attention (examples/nsa.mlir; shared/patterns.md Part B):
overlapping pooled blocks (attn.pool stride), the compressed mask
(#attn.compressed), block importance from the compressed probabilities
(attn.probs onto ... share(sum)), per-token selection and the gated sum of
three branches with upstream ops. A numpy oracle written from the paper's
definition (sharing nothing with lib/Reference) checks the reference and
the compiled CPU program; gates (0, 0, 1) must give the sliding window."""
import numpy as np
import pytest

import attnir
from conftest import naive_attention, rand, rel_err

T = "tensor<?x?x?x64xf32>"
G = "tensor<?x?x?xf32>"


def nsa_spec(topk=4, first=1, local=2, window=511):
    K = topk + first + local
    it, ct = f"tensor<?x?x?x{K}xi32>", "tensor<?x?x?xi32>"
    return f"""
func.func @nsa(%q: {T}, %k: {T}, %v: {T}, %gc: {G}, %gs: {G}, %gw: {G})
    -> ({T}, tensor<?x?x?x?xf32>, {it}, {ct}) {{
  %kc = attn.pool %k block(32) stride(16) kind(mean) : {T} -> {T}
  %vc = attn.pool %v block(32) stride(16) kind(mean) : {T} -> {T}
  %oc = attn.attention %q, %kc, %vc mask(#attn.compressed<32, 16>) : ({T}, {T}, {T}) -> {T}
  %imp = attn.probs %q, %kc mask(#attn.compressed<32, 16>) onto(64) pooled(32, 16)
         causal share(sum) : ({T}, {T}) -> tensor<?x?x?x?xf32>
  %idx, %cnt = attn.select %imp topk({topk}) first({first}) local({local})
       : tensor<?x?x?x?xf32> -> ({it}, {ct})
  %os = attn.attention %q, %k, %v blocks(%idx, %cnt) block_size(1, 64) mask(#attn.causal)
       : ({T}, {T}, {T}, {it}, {ct}) -> {T}
  %ow = attn.attention %q, %k, %v mask(#attn.window<{window}, 0>) : ({T}, {T}, {T}) -> {T}
  %gcb = linalg.broadcast ins(%gc : {G}) outs(%oc : {T}) dimensions = [3]
  %gsb = linalg.broadcast ins(%gs : {G}) outs(%os : {T}) dimensions = [3]
  %gwb = linalg.broadcast ins(%gw : {G}) outs(%ow : {T}) dimensions = [3]
  %c = arith.mulf %gcb, %oc : {T}
  %s = arith.mulf %gsb, %os : {T}
  %w = arith.mulf %gwb, %ow : {T}
  %cs = arith.addf %c, %s : {T}
  %o = arith.addf %cs, %w : {T}
  return %o, %imp, %idx, %cnt : {T}, tensor<?x?x?x?xf32>, {it}, {ct}
}}"""


def oracle(q, k, v, gc, gs, gw, topk=4, first=1, local=2, window=511,
           c=32, s=16, l=64):
    """NSA from its definition, in float64."""
    q, k, v = (np.asarray(a, np.float64) for a in (q, k, v))
    B, Hq, N, D = q.shape
    Hkv = k.shape[1]
    g = Hq // Hkv
    nc = -(-N // s)
    kc = np.stack([k[:, :, j * s:min(N, j * s + c)].mean(axis=2) for j in range(nc)], axis=2)
    vc = np.stack([v[:, :, j * s:min(N, j * s + c)].mean(axis=2) for j in range(nc)], axis=2)
    i = np.arange(N)[:, None]
    j = np.arange(nc)[None, :]
    cmask = j * s + c - 1 <= i                     # [N, nc]
    oc = np.zeros((B, Hq, N, D))
    nsel = -(-N // l)
    imp = np.zeros((B, Hkv, N, nsel))
    # overlap[j, t]: pooled key j covers positions [j s, j s + c) meeting block t.
    t = np.arange(nsel)[None, :]
    overlap = (j.T * s < (t + 1) * l) & (j.T * s + c > t * l)
    for b in range(B):
        for h in range(Hq):
            S = q[b, h] @ kc[b, h // g].T / np.sqrt(D)
            S = np.where(cmask, S, -np.inf)
            mx = S.max(axis=1, keepdims=True)
            rows = np.isfinite(mx[:, 0])
            P = np.zeros_like(S)
            P[rows] = np.exp(S[rows] - mx[rows])
            P[rows] /= P[rows].sum(axis=1, keepdims=True)
            oc[b, h] = P @ vc[b, h // g]
            imp[b, h // g] += P @ overlap
    imp = np.where(t * l > i, -np.inf, imp)
    K = topk + first + local
    idx = np.full((B, Hkv, N, K), -1, np.int64)
    cnt = np.zeros((B, Hkv, N), np.int64)
    for b in range(B):
        for h in range(Hkv):
            for r in range(N):
                row = imp[b, h, r]
                legal = [x for x in range(nsel) if np.isfinite(row[x])]
                chosen = {x for x in legal if x < first} | set(legal[::-1][:local])
                rest = sorted((x for x in legal if x not in chosen), key=lambda x: (-row[x], x))
                chosen |= set(rest[:topk])
                ids = sorted(chosen)
                idx[b, h, r, :len(ids)] = ids
                cnt[b, h, r] = len(ids)

    def keep_sel(b, h):
        blocks = np.zeros((N, N), bool)
        for r in range(N):
            for x in idx[b, h // g, r, :cnt[b, h // g, r]]:
                blocks[r, x * l:(x + 1) * l] = True
        return blocks

    os_, _ = naive_attention(q, k, v, causal=True, keep_bh=keep_sel)
    ow, _ = naive_attention(q, k, v, causal=True, window=(window, 0))
    gate = lambda x: np.asarray(x, np.float64)[..., None]
    out = gate(gc) * oc + gate(gs) * os_ + gate(gw) * ow
    return out, imp, idx, cnt


def inputs(B, Hq, Hkv, N, seed):
    q = rand((B, Hq, N, 64), seed=seed)
    k = rand((B, Hkv, N, 64), seed=seed + 1)
    v = rand((B, Hkv, N, 64), seed=seed + 2)
    rng = np.random.default_rng(seed + 3)
    gates = [rng.uniform(0.05, 0.95, (B, Hq, N)).astype(np.float32) for _ in range(3)]
    return [q, k, v] + gates


@pytest.mark.parametrize("shape", [(1, 4, 2, 1100), (2, 2, 2, 333), (1, 2, 1, 45)],
                         ids=lambda s: "x".join(map(str, s)))
def test_reference_matches_the_oracle(native, shape):
    args = inputs(*shape, seed=sum(shape))
    out, imp, idx, cnt = attnir.reference(nsa_spec(), *args)
    w_out, w_imp, w_idx, w_cnt = oracle(*args)
    assert np.array_equal(np.isinf(imp), np.isinf(w_imp))
    fin = np.isfinite(w_imp)
    assert rel_err(np.asarray(imp)[fin], w_imp[fin]) < 1e-12
    assert np.array_equal(np.asarray(cnt), w_cnt)
    assert np.array_equal(np.asarray(idx), w_idx), "selected blocks differ"
    assert rel_err(out, w_out) < 1e-12


@pytest.mark.parametrize("shape", [(1, 4, 2, 1100), (2, 2, 2, 333)],
                         ids=lambda s: "x".join(map(str, s)))
def test_compiled_matches_the_reference(compiled, shape):
    """The CPU program: the same blocks as the reference, outputs and
    importance within f32 tolerance."""
    kern = compiled(nsa_spec())
    args = inputs(*shape, seed=7 * sum(shape))
    got, want = kern(*args), kern.reference(*args)
    assert np.array_equal(np.asarray(got[2]), want[2]), "selected blocks differ"
    assert np.array_equal(np.asarray(got[3]), want[3])
    imp, w_imp = np.asarray(got[1]), want[1]
    assert np.array_equal(np.isinf(imp), np.isinf(w_imp))
    fin = np.isfinite(w_imp)
    assert rel_err(imp[fin], w_imp[fin]) < 1e-5
    assert rel_err(np.asarray(got[0]), want[0]) < 1e-5


def test_window_gate_alone_is_the_sliding_window(compiled):
    """Identity (issue 16): gates (0, 0, 1) give the window branch alone."""
    kern = compiled(nsa_spec(window=100))
    q, k, v, *_ = inputs(1, 4, 2, 700, seed=5)
    z, one = np.zeros((1, 4, 700), np.float32), np.ones((1, 4, 700), np.float32)
    out = np.asarray(kern(q, k, v, z, z, one)[0])
    want, _ = naive_attention(q, k, v, causal=True, window=(100, 0))
    assert rel_err(out, want) < 1e-5


def test_selecting_every_block_is_causal(compiled):
    """Identity: with top-n at least the number of blocks, the selected
    branch is causal attention."""
    kern = compiled(nsa_spec(topk=20))
    q, k, v, *_ = inputs(1, 2, 1, 900, seed=9)
    z, one = np.zeros((1, 2, 900), np.float32), np.ones((1, 2, 900), np.float32)
    out = np.asarray(kern(q, k, v, z, one, z)[0])
    want, _ = naive_attention(q, k, v, causal=True)
    assert rel_err(out, want) < 1e-5


def test_compiled_upstream_elementwise_ops(compiled):
    """The upstream ops a program may combine branches with, compiled for
    the CPU (convert-elementwise-to-linalg, linalg to parallel loops)."""
    spec = f"""func.func @f(%q: {T}, %g: {G}) -> {T} {{
  %gb = linalg.broadcast ins(%g : {G}) outs(%q : {T}) dimensions = [3]
  %0 = arith.mulf %gb, %q : {T}
  %1 = arith.subf %0, %q : {T}
  %2 = arith.maximumf %1, %q : {T}
  %3 = arith.divf %2, %gb : {T}
  %4 = arith.minimumf %3, %0 : {T}
  return %4 : {T}
}}"""
    q, g = rand((2, 3, 77, 64), seed=1), rand((2, 3, 77), seed=2)
    got = np.asarray(compiled(spec)(q, g))
    gb = g[..., None]
    want = np.minimum(np.maximum(gb * q - q, q) / gb, gb * q)
    assert rel_err(got, want) < 1e-6
    assert rel_err(got, compiled(spec).reference(q, g)) < 1e-6
