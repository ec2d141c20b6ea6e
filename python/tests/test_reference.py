"""attnir.reference (the C library's float64 reference over the op graph the
compiler records) against the independent formula and closed forms, from
spec text and from kernels."""
import numpy as np
import pytest

import attnir
from conftest import (EXAMPLE_KEEP, EXAMPLES, keep_bh_of, mask_of, naive_attention,
                      rand, rel_err)

SHAPES = [  # B, Hq, Hkv, N, M, D, Dv
    (1, 1, 1, 1, 1, 64, 64),
    (2, 3, 3, 77, 77, 64, 64),
    (1, 4, 2, 77, 130, 64, 64),   # GQA, M > N
    (1, 4, 1, 130, 50, 64, 64),   # MQA, N > M: causal rows i < 80 see no key
    (1, 2, 2, 5, 9, 32, 40),      # Dv != D
]


def inputs(B, Hq, Hkv, N, M, D, Dv, dtype=np.float32, seed=0):
    return (rand((B, Hq, N, D), dtype, seed), rand((B, Hkv, M, D), dtype, seed + 1),
            rand((B, Hkv, M, Dv), dtype, seed + 2))


@pytest.mark.parametrize("causal", [False, True])
@pytest.mark.parametrize("shape", SHAPES, ids=lambda s: "x".join(map(str, s)))
def test_reference_matches_naive(shape, causal):
    q, k, v = inputs(*shape)
    spec = attnir.patterns.attention("f", head_dim=shape[5], dv=shape[6],
                                     causal=causal, lse=True)
    out, lse = attnir.reference(spec, q, k, v)
    n_out, n_lse = naive_attention(q, k, v, causal)
    assert out.dtype == np.float64 and lse.dtype == np.float64
    assert rel_err(out, n_out) < 1e-12
    assert rel_err(lse, n_lse) < 1e-12


def test_examples_read_by_reference():
    assert EXAMPLES, "examples/*.mlir missing"
    q, k, v = inputs(1, 2, 2, 7, 9, 64, 64)
    for path in EXAMPLES:
        text = path.read_text()
        res = attnir.reference(text, q, k, v)
        out = res[0] if isinstance(res, tuple) else res  # specs with an lse result
        assert out.shape == (1, 2, 7, 64)
        again = attnir.reference(path, q, k, v)  # PathLike
        assert np.array_equal(out, again[0] if isinstance(again, tuple) else again)
        causal, window = mask_of(text)
        keep = keep_bh_of(EXAMPLE_KEEP.get(path.stem), 7, 9)
        if keep:
            causal, window = False, None
        exp, _ = naive_attention(q, k, v, causal=causal, window=window, keep_bh=keep)
        assert rel_err(out, exp) < 1e-12


def test_fully_masked_rows_zero_and_minus_inf():
    q, k, v = inputs(1, 1, 1, 10, 4, 64, 64)  # causal, N > M: rows 0..5 see nothing
    out, lse = attnir.reference(attnir.patterns.causal(lse=True), q, k, v)
    assert not np.isnan(out).any() and not np.isnan(lse).any()
    assert (out[0, 0, :6] == 0).all() and (lse[0, 0, :6] == -np.inf).all()
    assert np.isfinite(lse[0, 0, 6:]).all()


def test_identical_keys_give_mean_of_v():
    q = rand((1, 1, 3, 64))
    k = np.repeat(rand((1, 1, 1, 64), seed=5), 6, axis=2)
    v = rand((1, 1, 6, 64), seed=6)
    out = attnir.reference(attnir.patterns.dense(), q, k, v)
    np.testing.assert_allclose(out[0, 0], np.broadcast_to(v[0, 0].astype(np.float64).mean(0), (3, 64)), rtol=1e-12)


def test_scale_and_explicit_default():
    q, k, v = inputs(1, 2, 2, 6, 8, 64, 64)
    a = attnir.reference(attnir.patterns.dense(scale=0.125), q, k, v)
    b = attnir.reference(attnir.patterns.dense(), q, k, v)   # 1/sqrt(64) = 0.125
    np.testing.assert_array_equal(a, b)
    c = attnir.reference(attnir.patterns.dense(scale=0.5), q, k, v)
    assert rel_err(c, naive_attention(q, k, v, scale=0.5)[0]) < 1e-12


def test_gqa_head_mapping():
    q, k, v = inputs(1, 6, 2, 4, 5, 64, 64)
    out = attnir.reference(attnir.patterns.dense(), q, k, v)
    for h in range(6):  # head h reads KV head h // 3
        one = attnir.reference(attnir.patterns.dense(), q[:, h:h + 1], k[:, h // 3:h // 3 + 1], v[:, h // 3:h // 3 + 1])
        np.testing.assert_array_equal(out[:, h:h + 1], one)


def test_bf16_and_f16_inputs_widen_exactly():
    ml_dtypes = pytest.importorskip("ml_dtypes", reason="ml_dtypes not installed (bf16 numpy arrays)")
    q, k, v = inputs(1, 2, 2, 5, 7, 64, 64, dtype=ml_dtypes.bfloat16)
    got = attnir.reference(attnir.patterns.dense(dtype="bf16"), q, k, v)
    exp = naive_attention(q.astype(np.float64), k.astype(np.float64), v.astype(np.float64))[0]
    assert rel_err(got, exp) < 1e-12
    q, k, v = inputs(1, 2, 2, 5, 7, 64, 64, dtype=np.float16)
    got = attnir.reference(attnir.patterns.causal(dtype="f16"), q, k, v)
    assert rel_err(got, naive_attention(q, k, v, causal=True)[0]) < 1e-12


def test_reference_argument_errors():
    q, k, v = inputs(1, 2, 2, 5, 7, 64, 64)
    spec = attnir.patterns.dense()
    with pytest.raises(TypeError, match="takes 3 arrays"):
        attnir.reference(spec, q, k)
    with pytest.raises(ValueError, match="'k' must have rank 4"):
        attnir.reference(spec, q, k[0], v)
    with pytest.raises(ValueError, match="not a multiple"):
        attnir.reference(spec, rand((1, 3, 5, 64)), k, v)
    with pytest.raises(ValueError, match="no entry @nope"):
        attnir.reference(spec, q, k, v, entry="nope")


def test_reference_rejects_unknown_ops():
    spec = """func.func @f(%q: tensor<?x?x?x64xf32>) -> tensor<?x?x?x64xf32> {
  %0 = math.exp %q : tensor<?x?x?x64xf32>
  return %0 : tensor<?x?x?x64xf32>
}"""
    with pytest.raises(NotImplementedError, match="math.exp"):
        attnir.reference(spec, rand((1, 1, 1, 64)))


def test_reference_evaluates_upstream_elementwise_ops():
    """arith's float binary ops and linalg.broadcast combine branches
    (NSA's gated sum); the reference evaluates them."""
    spec = """func.func @f(%q: tensor<?x?x?x64xf32>, %g: tensor<?x?x?xf32>) -> tensor<?x?x?x64xf32> {
  %gb = linalg.broadcast ins(%g : tensor<?x?x?xf32>) outs(%q : tensor<?x?x?x64xf32>) dimensions = [3]
  %0 = arith.mulf %gb, %q : tensor<?x?x?x64xf32>
  %1 = arith.subf %0, %q : tensor<?x?x?x64xf32>
  %2 = arith.maximumf %1, %q : tensor<?x?x?x64xf32>
  return %2 : tensor<?x?x?x64xf32>
}"""
    q, g = rand((2, 3, 5, 64), seed=1), rand((2, 3, 5), seed=2)
    q64, g64 = q.astype(np.float64), g.astype(np.float64)[..., None]
    want = np.maximum(g64 * q64 - q64, q64)
    assert np.array_equal(np.asarray(attnir.reference(spec, q, g)), want)


def test_generic_and_pretty_forms():
    text = """// comment with attn.attention %x, %y, %z
func.func @a(%q: tensor<?x?x?x64xf32>, %k: tensor<?x?x?x64xf32>,
             %v: tensor<?x?x?x64xf32>) -> (tensor<?x?x?xf32>, tensor<?x?x?x64xf32>) {
  %r:2 = "attn.attention"(%q, %k, %v) <{mask = #attn.causal, operandSegmentSizes = array<i32: 1, 1, 1, 0, 0, 0, 0, 0>, scale = 1.250000e-01 : f64}> ({}, {}) : (tensor<?x?x?x64xf32>, tensor<?x?x?x64xf32>, tensor<?x?x?x64xf32>) -> (tensor<?x?x?x64xf32>, tensor<?x?x?xf32>)
  return %r#1, %r#0 : tensor<?x?x?xf32>, tensor<?x?x?x64xf32>
}
func.func @b(%q: tensor<?x?x?x64xf32>, %k: tensor<?x?x?x64xf32>, %v: tensor<?x?x?x64xf32>) -> tensor<?x?x?x64xf32> {
  %o = attn.attention %q, %k, %v scale(2.0)
       : (tensor<?x?x?x64xf32>, tensor<?x?x?x64xf32>, tensor<?x?x?x64xf32>) -> tensor<?x?x?x64xf32>
  func.return %o : tensor<?x?x?x64xf32>
}"""
    q, k, v = inputs(1, 1, 1, 3, 4, 64, 64)
    lse, out = attnir.reference(text, q, k, v)
    assert lse.shape == (1, 1, 3) and out.shape == (1, 1, 3, 64)
    n_out, n_lse = naive_attention(q, k, v, causal=True, scale=0.125)
    assert rel_err(out, n_out) < 1e-12 and rel_err(lse, n_lse) < 1e-12
    out_b = attnir.reference(text, q, k, v, entry="b")
    assert rel_err(out_b, naive_attention(q, k, v, scale=2.0)[0]) < 1e-12


def test_kernel_reference_equals_spec_reference(tmp_path):
    """A kernel, and a bundle loaded back, carry the op graph: their reference
    is the spec's, bit for bit (the same interpreter), for a mask tree that
    reads document ids."""
    text = (EXAMPLES[0].parent / "document_mask.mlir").read_text()
    kernel = attnir.compile(text, cache=False)
    rng = np.random.default_rng(3)
    q, k, v = inputs(2, 4, 2, 37, 45, 64, 64, seed=4)
    qd = np.sort(rng.integers(0, 3, size=(2, 37))).astype(np.int32)
    kd = np.sort(rng.integers(0, 3, size=(2, 45))).astype(np.int64).astype(np.int32)
    want = attnir.reference(text, q, k, v, qd, kd)
    np.testing.assert_array_equal(kernel.reference(q, k, v, qd, kd), want)
    np.testing.assert_array_equal(attnir.reference(kernel, q, k, v, qd, kd), want)
    kernel.save(str(tmp_path / "doc.bundle"))
    loaded = attnir.load(str(tmp_path / "doc.bundle"))
    np.testing.assert_array_equal(loaded.reference(q, k, v, qd, kd), want)
    with pytest.raises(ValueError, match="non-decreasing"):
        loaded.reference(q, k, v, qd[:, ::-1].copy(), kd)
    with pytest.raises(TypeError, match="takes 5 arrays"):
        loaded.reference(q, k, v)
