"""attn.merge (shared/patterns.md A10) and #attn.key_part: attention over
any partition of the keys, merged, equals attention over all keys
(identity 6), checked against numpy (sharing nothing with lib/Reference)
in the reference and compiled for the CPU; rows no part keeps merge to
zeros and lse -inf."""
import pathlib

import numpy as np
import pytest

import attnir
from conftest import naive_attention, rand, rel_err

T = "tensor<?x?x?x64xf32>"
L = "tensor<?x?x?xf32>"


def split_spec(parts, mask=""):
    """Attention over each of `parts` key parts (with `mask` too), merged."""
    lines, pairs = [], []
    for p in range(parts):
        m = f"#attn.key_part<{p}, {parts}>"
        if mask:
            m = f"#attn.all_of<[{mask}, {m}]>"
        lines.append(f"  %o{p}, %l{p} = attn.attention %q, %k, %v mask({m}) : ({T}, {T}, {T}) -> ({T}, {L})")
        pairs += [f"%o{p}", f"%l{p}"]
    types = ", ".join([T, L] * parts)
    lines.append(f"  %o, %lse = attn.merge {', '.join(pairs)} : ({types}) -> ({T}, {L})")
    return (f"func.func @f(%q: {T}, %k: {T}, %v: {T}) -> ({T}, {L}) {{\n" + "\n".join(lines) +
            f"\n  return %o, %lse : {T}, {L}\n}}")


def qkv(B, Hq, Hkv, N, M, seed):
    return (rand((B, Hq, N, 64), seed=seed), rand((B, Hkv, M, 64), seed=seed + 1),
            rand((B, Hkv, M, 64), seed=seed + 2))


@pytest.mark.parametrize("parts", [1, 2, 3, 7])
@pytest.mark.parametrize("shape", [(2, 4, 2, 77, 91), (1, 3, 3, 130, 5), (1, 2, 1, 1, 1)],
                         ids=lambda s: "x".join(map(str, s)))
def test_merged_parts_are_dense_attention(compiled, parts, shape):
    q, k, v = qkv(*shape, seed=parts + sum(shape))
    want, want_lse = naive_attention(q, k, v)
    ref_o, ref_lse = attnir.reference(split_spec(parts), q, k, v)
    assert rel_err(ref_o, want) < 1e-12 and rel_err(ref_lse, want_lse) < 1e-12
    got_o, got_lse = compiled(split_spec(parts))(q, k, v)
    assert rel_err(got_o, want) < 1e-5
    assert rel_err(got_lse, want_lse) < 1e-5


@pytest.mark.parametrize("parts", [2, 3])
def test_causal_split_is_causal(compiled, parts):
    """A causal split leaves some rows with no key in a part (lse -inf
    there); the merge is still causal attention."""
    q, k, v = qkv(1, 4, 2, 200, 150, seed=3)
    want, want_lse = naive_attention(q, k, v, causal=True)
    got_o, got_lse = compiled(split_spec(parts, "#attn.causal"))(q, k, v)
    assert rel_err(got_o, want) < 1e-5
    assert rel_err(got_lse, want_lse) < 1e-5
    # N > M: the first 50 rows see no key at all: zeros, -inf.
    assert np.all(np.asarray(got_o)[:, :, :50] == 0)
    assert np.all(np.isneginf(np.asarray(got_lse)[:, :, :50]))


def test_merge_of_given_parts():
    """The merge alone on given (out, lse): numpy's formula, -inf parts
    weigh nothing, all -inf is zeros."""
    spec = f"""func.func @m(%a: {T}, %la: {L}, %b: {T}, %lb: {L}) -> ({T}, {L}) {{
  %o, %l = attn.merge %a, %la, %b, %lb : ({T}, {L}, {T}, {L}) -> ({T}, {L})
  return %o, %l : {T}, {L}
}}"""
    rng = np.random.default_rng(4)
    a, b = rand((1, 2, 5, 64), seed=5), rand((1, 2, 5, 64), seed=6)
    la, lb = rng.normal(size=(2, 1, 2, 5)).astype(np.float32)
    la[0, 0, 1] = -np.inf
    la[0, 1, 2] = lb[0, 1, 2] = -np.inf
    out, lse = attnir.reference(spec, a, la, b, lb)
    ld = np.logaddexp(la.astype(np.float64), lb.astype(np.float64))
    with np.errstate(invalid="ignore"):  # -inf - -inf where no part kept a key
        wa = np.where(np.isneginf(ld), 0, np.exp(la - ld))[..., None]
        wb = np.where(np.isneginf(ld), 0, np.exp(lb - ld))[..., None]
    assert rel_err(lse, ld) < 1e-12
    assert rel_err(out, wa * a + wb * b) < 1e-12
    assert np.all(np.asarray(out)[0, 1, 2] == 0)
    kern = attnir.compile(spec, cache=False)
    got_o, got_l = kern(a, la, b, lb)
    assert rel_err(got_o, out) < 1e-6 and rel_err(got_l, lse) < 1e-6


def test_split_compiles_for_cuda(native):
    """Two attention steps and a merge step (numerics on the H200:
    bench/gpu/selection.py)."""
    assert attnir.compile(split_spec(2).replace("x64xf32>", "x64xbf16>"), target="cuda",
                          cache=False)


def test_unnormalized_terms():
    """unnormalized(num, den): out = (sum e^lse o + num) / (sum e^lse + den),
    lse = log of that; a zero den is no term; only terms: num / den."""
    spec = f"""func.func @m(%a: {T}, %la: {L}, %n: {T}, %d: {L}) -> ({T}, {L}) {{
  %o, %l = attn.merge %a, %la unnormalized(%n, %d) : ({T}, {L}, {T}, {L}) -> ({T}, {L})
  return %o, %l : {T}, {L}
}}"""
    rng = np.random.default_rng(8)
    a, n = rand((2, 3, 7, 64), seed=9), rand((2, 3, 7, 64), seed=10)
    la = rng.normal(size=(2, 3, 7)).astype(np.float32)
    d = rng.uniform(0.1, 3.0, (2, 3, 7)).astype(np.float32)
    d[0, 0, 3] = 0.0           # no term on this row
    la[1, 2, 4] = -np.inf      # only the term on this one
    e = np.exp(la.astype(np.float64))
    den = e + d
    # A term whose den is 0 is no term (its num is read as 0 there).
    want_o = (e[..., None] * a + np.where(d[..., None] > 0, n, 0)) / den[..., None]
    want_l = np.log(den)
    out, lse = attnir.reference(spec, a, la, n, d)
    assert rel_err(out, want_o) < 1e-12 and rel_err(lse, want_l) < 1e-12
    got_o, got_l = attnir.compile(spec, cache=False)(a, la, n, d)
    assert rel_err(got_o, want_o) < 1e-5 and rel_err(got_l, want_l) < 1e-5


NTK = (pathlib.Path(__file__).resolve().parents[2] / "examples" / "ntk_prefix.mlir").read_text()


def ntk_oracle(q, k, v, Z, s):
    """out_i = (sum_j<=i e^{s_ij} v_j + phi(q_i) Z) / (sum e^{s_ij} + phi(q_i) k_z)."""
    q, k, v, Z, s = (x.astype(np.float64) for x in (q, k, v, Z, s))
    phi = np.where(q > 0, q + 1, np.exp(q))
    N, M = q.shape[2], k.shape[2]
    S = np.einsum("bhid,bhjd->bhij", q, k) / 8.0
    S = np.where(np.arange(M)[None, :] <= np.arange(N)[:, None] + M - N, S, -np.inf)
    E = np.exp(S)
    num = np.einsum("bhij,bhjd->bhid", E, v) + np.einsum("bhid,hde->bhie", phi, Z)
    den = E.sum(-1) + np.einsum("bhid,hd->bhi", phi, s[:, :, 0] ** 2)
    return num / den[..., None]


@pytest.mark.parametrize("shape", [(2, 3, 77, 91), (1, 2, 130, 33), (1, 1, 1, 1)])
def test_ntk_prefix(compiled, shape):
    B, H, N, M = shape
    q = rand((B, H, N, 64), seed=N)
    k, v = rand((B, H, M, 64), seed=N + 1), rand((B, H, M, 64), seed=N + 2)
    Z = rand((H, 64, 64), seed=N + 3, scale=0.1)
    s = rand((H, 64, 1), seed=N + 4, scale=0.3)
    want = ntk_oracle(q, k, v, Z, s)
    assert rel_err(attnir.reference(NTK, q, k, v, Z, s), want) < 1e-12
    assert rel_err(compiled(NTK)(q, k, v, Z, s), want) < 1e-5


def test_ntk_without_prefix_is_causal_attention(compiled):
    """Z = 0 and k_z = 0: the term has no weight (den = 0, log den = -inf)."""
    q, k, v = (rand((1, 2, 100, 64), seed=60 + i) for i in range(3))
    Z, s = np.zeros((2, 64, 64), np.float32), np.zeros((2, 64, 1), np.float32)
    got = compiled(NTK)(q, k, v, Z, s)
    out = naive_attention(q, k, v, causal=True)
    assert rel_err(got, out[0] if isinstance(out, tuple) else out) < 1e-5
