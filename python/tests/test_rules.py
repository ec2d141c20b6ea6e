"""Rule regions (attn.attention's mask_rule and score_rule): the examples
against numpy oracles written here (soft-capping, ALiBi, T5's bucketed
bias), a region equal bit for bit to the built-in mask it restates, and
bad inputs as errors (reads out of bounds, a rule the verifier refuses)."""
import numpy as np
import pytest

import attnir
from conftest import REPO, rand, rel_err

EX = REPO / "examples"


def softmax_attention(q, k, v, logits, keep):
    """out[b, h] = softmax(logits(b, h, S) where keep) v, float64; GQA by
    head groups; rows with no kept key are zero."""
    q, k, v = (x.astype(np.float64) for x in (q, k, v))
    B, H, N, D = q.shape
    Hk, M = k.shape[1], k.shape[2]
    out = np.zeros((B, H, N, v.shape[3]))
    for b in range(B):
        for h in range(H):
            g = h // (H // Hk)
            S = logits(b, h, q[b, h] @ k[b, g].T / np.sqrt(D))
            S = np.where(keep(b, h), S, -np.inf)
            mx = S.max(axis=1, keepdims=True)
            mx = np.where(np.isfinite(mx), mx, 0)
            P = np.exp(S - mx)
            z = P.sum(axis=1, keepdims=True)
            out[b, h] = np.where(z > 0, (P @ v[b, g]) / np.where(z > 0, z, 1), 0)
    return out


def causal(N, M):
    i, j = np.arange(N)[:, None], np.arange(M)[None, :]
    return j <= i + M - N


def qkv(B, H, Hk, N, M, seed=0, dtype=np.float32):
    return (rand((B, H, N, 64), dtype, seed), rand((B, Hk, M, 64), dtype, seed + 1),
            rand((B, Hk, M, 64), dtype, seed + 2))


SHAPES = [(2, 3, 3, 77, 91), (1, 6, 2, 130, 77), (1, 2, 1, 91, 33)]


@pytest.mark.parametrize("B,H,Hk,N,M", SHAPES)
def test_softcap(native, B, H, Hk, N, M):
    q, k, v = qkv(B, H, Hk, N, M, seed=N)
    q *= 8  # logits near the cap, where tanh bends
    out = attnir.compile(EX / "softcap.mlir")(q, k, v)
    exp = softmax_attention(q, k, v, lambda b, h, s: 50 * np.tanh(s / 50),
                            lambda b, h: causal(N, M))
    assert rel_err(out, exp) < 1e-5
    plain = softmax_attention(q, k, v, lambda b, h, s: s, lambda b, h: causal(N, M))
    assert rel_err(plain, exp) > 1e-2  # the rule matters at these logits


@pytest.mark.parametrize("B,H,Hk,N,M", SHAPES)
def test_alibi(native, B, H, Hk, N, M):
    q, k, v = qkv(B, H, Hk, N, M, seed=M)
    out = attnir.compile(EX / "alibi.mlir")(q, k, v)
    i, j = np.arange(N)[:, None], np.arange(M)[None, :]
    slope = lambda h: 2.0 ** (-8.0 * (h + 1) / H)
    exp = softmax_attention(q, k, v, lambda b, h, s: s - slope(h) * (i + M - N - j),
                            lambda b, h: causal(N, M))
    assert rel_err(out, exp) < 1e-5


@pytest.mark.parametrize("B,H,Hk,N,M", SHAPES)
def test_head_bias(native, B, H, Hk, N, M):
    # s + bias[h]: the softmax is unchanged and lse moves by bias[h] (in
    # natural log), on every row that keeps a key.
    q, k, v = qkv(B, H, Hk, N, M, seed=3)
    bias = rand((H,), np.float32, 11) * 4
    out, lse = attnir.compile(EX / "head_bias.mlir")(q, k, v, bias)
    exp = softmax_attention(q, k, v, lambda b, h, s: s, lambda b, h: causal(N, M))
    assert rel_err(out, exp) < 1e-5
    keep = causal(N, M)
    for b in range(B):
        for h in range(H):
            g = h // (H // Hk)
            S = q[b, h].astype(np.float64) @ k[b, g].astype(np.float64).T / 8.0 + bias[h]
            S = np.where(keep, S, -np.inf)
            with np.errstate(divide="ignore"):
                want = np.log(np.exp(S - S.max(1, keepdims=True)).sum(1)) + S.max(1)
            rows = keep.any(1)
            np.testing.assert_allclose(np.asarray(lse)[b, h][rows], want[rows], rtol=1e-5,
                                       atol=1e-5)
            assert np.all(np.isneginf(np.asarray(lse)[b, h][~rows]))


def t5_bucket(rel):
    """T5's bidirectional bucket of j - i (32 buckets, max distance 128):
    the log-spaced part as thresholds 8 * 2^(k / 2), exact in float64."""
    n = np.abs(rel)
    large = 8 + sum((n >= 8 * 2.0 ** (kk / 2)).astype(np.int64) for kk in range(1, 8))
    return np.where(rel > 0, 16, 0) + np.where(n < 8, n, np.minimum(large, 15))


@pytest.mark.parametrize("B,H,Hk,N,M", SHAPES)
def test_t5_bias(native, B, H, Hk, N, M):
    q, k, v = qkv(B, H, Hk, N, M, seed=7)
    table = rand((H, 32), seed=9, scale=2.0)
    out = attnir.compile(EX / "t5_bias.mlir")(q, k, v, table)
    bucket = t5_bucket(np.arange(M)[None, :] - np.arange(N)[:, None])
    exp = softmax_attention(q, k, v, lambda b, h, s: s + table[h][bucket],
                            lambda b, h: np.ones((N, M), bool))
    assert rel_err(out, exp) < 1e-5
    if N >= 130:  # exact, logarithmic and capped buckets on both sides
        assert {0, 7, 8, 14, 15, 17, 23, 24, 28} <= set(bucket.ravel().tolist())


def sorted_docs(B, L, rng, docs=5):
    ids = np.sort(rng.integers(0, docs, size=(B, L)), axis=1)
    return ids.astype(np.int32)


@pytest.mark.parametrize("B,H,Hk,N", [(2, 4, 2, 300), (1, 3, 3, 77), (1, 2, 1, 1000)])
def test_document_region_is_the_document_mask_bit_for_bit(native, B, H, Hk, N):
    rng = np.random.default_rng(N)
    q, k, v = qkv(B, H, Hk, N, N, seed=3)
    docs = sorted_docs(B, N, rng)
    region = attnir.compile(EX / "document_region.mlir")(q, k, v, docs, docs)
    builtin = attnir.compile(EX / "document_mask.mlir")(q, k, v, docs, docs)
    assert np.array_equal(region, builtin)
    keep = lambda b, h: causal(N, N) & (docs[b][:, None] == docs[b][None, :])
    assert rel_err(region, softmax_attention(q, k, v, lambda b, h, s: s, keep)) < 1e-5


def test_mask_region_with_unsorted_ids(native):
    """A region makes no promise about the ids (unlike #attn.segments): any
    ids work, here a random pairing of 3 labels."""
    B, H, N, M = 1, 2, 150, 170
    rng = np.random.default_rng(1)
    q, k, v = qkv(B, H, H, N, M, seed=5)
    qd = rng.integers(0, 3, size=(B, N)).astype(np.int32)
    kd = rng.integers(0, 3, size=(B, M)).astype(np.int32)
    out = attnir.compile(EX / "document_region.mlir")(q, k, v, qd, kd)
    keep = lambda b, h: causal(N, M) & (qd[b][:, None] == kd[b][None, :])
    assert rel_err(out, softmax_attention(q, k, v, lambda b, h, s: s, keep)) < 1e-5


def test_f16_inputs_with_a_score_rule(native):
    """The rule sees the f32 logit whatever the input dtype."""
    text = (EX / "softcap.mlir").read_text().replace("x64xf32>", "x64xf16>")
    q, k, v = (x.astype(np.float16) for x in qkv(1, 2, 2, 77, 77, seed=4))
    out = attnir.compile(text)(q, k, v)
    assert out.dtype == np.float16
    exp = softmax_attention(q, k, v, lambda b, h, s: 50 * np.tanh(s / 50),
                            lambda b, h: causal(77, 77))
    assert rel_err(out, exp) < 2e-3


SHIFTED_BIAS = """
func.func @shifted(%q: tensor<?x?x?x64xf32>, %k: tensor<?x?x?x64xf32>,
                   %v: tensor<?x?x?x64xf32>, %t: tensor<?xf32>)
    -> tensor<?x?x?x64xf32> {
  %o = attn.attention %q, %k, %v rules(%t) score_rule {
  ^bb0(%s: f32, %b: index, %h: index, %i: index, %j: index, %tt: tensor<?xf32>):
    %c5 = arith.constant 5 : index
    %x = arith.addi %j, %c5 : index
    %w = tensor.extract %tt[%x] : tensor<?xf32>
    %r = arith.addf %s, %w : f32
    attn.yield %r : f32
  } : (tensor<?x?x?x64xf32>, tensor<?x?x?x64xf32>, tensor<?x?x?x64xf32>,
       tensor<?xf32>) -> tensor<?x?x?x64xf32>
  return %o : tensor<?x?x?x64xf32>
}"""


def test_reads_out_of_bounds_are_clamped_and_reported(native):
    """The rule reads t[j + 5]: in bounds with M + 5 entries, past the end
    with M. The kernel clamps (no crash, no stray read); the reference
    refuses, so a check reports the bug."""
    q, k, v = qkv(1, 2, 2, 40, 40)
    kern = attnir.compile(SHIFTED_BIAS)
    t = rand((45,), seed=2)
    out = kern(q, k, v, t)
    exp = softmax_attention(q, k, v, lambda b, h, s: s + t[5:][None, :],
                            lambda b, h: np.ones((40, 40), bool))
    assert rel_err(out, exp) < 1e-5
    short = t[:40].copy()
    assert np.isfinite(kern(q, k, v, short)).all()
    with pytest.raises(Exception, match="out of bounds"):
        attnir.reference(SHIFTED_BIAS, q, k, v, short)


def test_rule_operand_shapes_are_checked(native):
    """t5_bias indexes its table by the query head: a table with fewer rows
    than heads is a shape error before anything runs."""
    q, k, v = qkv(1, 4, 4, 40, 40)
    with pytest.raises(ValueError, match="table.*Hq"):
        attnir.compile(EX / "t5_bias.mlir")(q, k, v, rand((2, 32)))


@pytest.mark.parametrize("body,why", [
    ("%r = func.call @g() : () -> f32\n attn.yield %r : f32",
     "may not appear in score_rule"),
    ("attn.yield %i : index", "must yield 'f32'"),
])
def test_bad_rules_are_errors(native, body, why):
    spec = ("func.func private @g() -> f32\n"
            "func.func @f(%q: tensor<?x?x?x64xf32>, %k: tensor<?x?x?x64xf32>,"
            " %v: tensor<?x?x?x64xf32>) -> tensor<?x?x?x64xf32> {\n"
            " %o = attn.attention %q, %k, %v score_rule {\n"
            " ^bb0(%s: f32, %b: index, %h: index, %i: index, %j: index):\n"
            f" {body}\n"
            " } : (tensor<?x?x?x64xf32>, tensor<?x?x?x64xf32>,"
            " tensor<?x?x?x64xf32>) -> tensor<?x?x?x64xf32>\n"
            " return %o : tensor<?x?x?x64xf32>\n}")
    with pytest.raises(Exception, match=why):
        attnir.compile(spec, cache=False)


def test_tutorial_python_snippet(native, tmp_path, monkeypatch):
    """docs/tutorials/new-sparsity-pattern.md's Python runs as written."""
    import re
    text = (REPO / "docs" / "tutorials" / "new-sparsity-pattern.md").read_text()
    spec = re.search(r"```mlir\n(// tutorial: local_documents\n.*?)```", text, re.S).group(1)
    snippet = re.search(r"```python\n(.*?)```", text, re.S).group(1)
    (tmp_path / "local_documents.mlir").write_text(spec)
    monkeypatch.chdir(tmp_path)
    env = {}
    exec(snippet, env)
    assert rel_err(env["out"], env["ref"]) < 1e-5


NARROW = """
func.func @narrow(%q: tensor<?x?x?x64xf32>, %k: tensor<?x?x?x64xf32>,
                  %v: tensor<?x?x?x64xf32>) -> tensor<?x?x?x64xf32> {
  %o = attn.attention %q, %k, %v mask(#attn.causal) score_rule {
  ^bb0(%s: f32, %b: index, %h: index, %i: index, %j: index):
    %a = arith.truncf %s : f32 to TYPE
    %c = arith.addf %a, %a : TYPE
    %r = arith.extf %c : TYPE to f32
    attn.yield %r : f32
  } : (tensor<?x?x?x64xf32>, tensor<?x?x?x64xf32>, tensor<?x?x?x64xf32>)
      -> tensor<?x?x?x64xf32>
  return %o : tensor<?x?x?x64xf32>
}"""


@pytest.mark.parametrize("narrow", ["bf16", "f16"])
def test_narrow_float_rules_round_like_the_kernel(native, narrow):
    """A rule computing in bf16 / f16: the reference rounds each result to
    the type as the kernel does (unrounded, bf16 differed by 7e-3). What
    remains is a logit on a rounding boundary, rounded from f32 in the
    kernel and from double in the reference: one ulp of the narrow type."""
    q, k, v = qkv(1, 2, 2, 70, 70, seed=8)
    kern = attnir.compile(NARROW.replace("TYPE", narrow), cache=False)
    assert rel_err(kern(q, k, v), kern.reference(q, k, v)) < 1e-3


BANDED_CHUNKS = """
func.func @banded(%q: tensor<?x?x?x64xf32>, %k: tensor<?x?x?x64xf32>,
                  %v: tensor<?x?x?x64xf32>, %w: tensor<?xf32>) -> tensor<?x?x?x64xf32> {
  %o = attn.attention %q, %k, %v rules(%w) mask_rule {
  ^bb0(%b: index, %h: index, %i: index, %j: index, %t: tensor<?xf32>):
    %c37 = arith.constant 37 : index
    %c1 = arith.constant 1 : index
    %z = arith.constant 0.0 : f32
    %ci = arith.divsi %i, %c37 : index
    %cj = arith.divsi %j, %c37 : index
    %d = arith.subi %ci, %cj : index
    %near = arith.cmpi sle, %d, %c1 : index
    %past = arith.cmpi sle, %j, %i : index
    %band = arith.andi %near, %past : i1
    %hm = arith.minsi %h, %c1 : index
    %wt = tensor.extract %t[%hm] : tensor<?xf32>
    %pos = arith.cmpf ogt, %wt, %z : f32
    %any = arith.ori %band, %pos : i1
    %r = arith.select %past, %any, %band : i1
    attn.yield %r : i1
  } : (tensor<?x?x?x64xf32>, tensor<?x?x?x64xf32>, tensor<?x?x?x64xf32>,
       tensor<?xf32>) -> tensor<?x?x?x64xf32>
  return %o : tensor<?x?x?x64xf32>
}"""


@pytest.mark.parametrize("N,w", [(300, (-1.0, -1.0)), (333, (-1.0, 2.0)), (77, (3.0, -2.0))])
def test_interval_block_rule_is_sound(native, N, w):
    """The block rule a region gets on intervals (divisions, differences,
    min, comparisons of ints and floats, and/or/select) skips and fills
    blocks only where the element rule agrees: equal to numpy's mask."""
    q, k, v = qkv(1, 3, 3, N, N, seed=N)
    t = np.array(w, np.float32)
    out = attnir.compile(BANDED_CHUNKS, cache=False)(q, k, v, t)
    i, j = np.arange(N)[:, None], np.arange(N)[None, :]
    band = (i // 37 - j // 37 <= 1) & (j <= i)
    keep = lambda b, h: np.where(j <= i, band | (t[min(h, 1)] > 0), band)
    assert rel_err(out, softmax_attention(q, k, v, lambda b, h, s: s, keep)) < 1e-5


UNSIGNED_CHUNKS = """
func.func @unsigned(%q: tensor<?x?x?x64xf32>, %k: tensor<?x?x?x64xf32>,
                    %v: tensor<?x?x?x64xf32>, %w: tensor<?xi32>) -> tensor<?x?x?x64xf32> {
  %o = attn.attention %q, %k, %v rules(%w) mask_rule {
  ^bb0(%b: index, %h: index, %i: index, %j: index, %t: tensor<?xi32>):
    %c0 = arith.constant 0 : index
    %c1 = arith.constant 1 : index
    %c2 = arith.constant 2 : index
    %c3 = arith.constant 3 : index
    %c10 = arith.constant 10 : index
    %c20 = arith.constant 20 : index
    %wt = tensor.extract %t[%c0] : tensor<?xi32>
    %wi = arith.index_castui %wt : i32 to index
    %wd = arith.maxui %wi, %c1 : index
    %ci = arith.divui %i, %wd : index
    %cj = arith.divui %j, %wd : index
    %chunk = arith.cmpi eq, %ci, %cj : index
    %odd = arith.remui %h, %c2 : index
    %routed = arith.cmpi ult, %odd, %c1 : index
    %d = arith.subi %i, %j : index
    %du = arith.divui %d, %c3 : index
    %near = arith.cmpi ult, %du, %c20 : index
    %j3 = arith.muli %j, %c3 : index
    %i3 = arith.muli %i, %c3 : index
    %i3p = arith.addi %i3, %c10 : index
    %past = arith.cmpi ule, %j3, %i3p : index
    %inchunk = arith.andi %chunk, %past : i1
    %r = arith.select %routed, %inchunk, %near : i1
    attn.yield %r : i1
  } : (tensor<?x?x?x64xf32>, tensor<?x?x?x64xf32>, tensor<?x?x?x64xf32>,
       tensor<?xi32>) -> tensor<?x?x?x64xf32>
  return %o : tensor<?x?x?x64xf32>
}"""


@pytest.mark.parametrize("N,w", [(300, 64), (333, 37), (200, 0), (130, 1000)])
def test_interval_block_rule_with_unsigned_ops(native, N, w):
    """Unsigned index arithmetic (divui by a divisor read at run time,
    remui, ult/ule, muli, index_castui, maxui) and an unsigned quotient of a
    difference that may be negative (the whole range there): the block rule
    on intervals skips and fills blocks only where the element rule agrees."""
    q, k, v = qkv(1, 4, 2, N, N, seed=N + w)
    t = np.array([w], np.int32)
    out = attnir.compile(UNSIGNED_CHUNKS, cache=False)(q, k, v, t)
    i, j = np.arange(N)[:, None], np.arange(N)[None, :]
    ww = max(w, 1)
    chunk = i // ww == j // ww
    d = (i - j).astype(np.int64).astype(np.uint64)
    near = d // np.uint64(3) < 20
    keep = lambda b, h: chunk & (3 * j <= 3 * i + 10) if h % 2 == 0 else near
    assert rel_err(out, softmax_attention(q, k, v, lambda b, h, s: s, keep)) < 1e-5
