"""Kernels against attnir.reference and the independent formula, on ragged
shapes: N = 1, N = 77, M != N (both ways, causal rows with no key), GQA/MQA,
Dv != D, f32/bf16/f16, scale, lse."""
import re
import numpy as np
import pytest

import attnir
from conftest import (EXAMPLE_KEEP, EXAMPLES, keep_bh_of, mask_of, naive_attention, rand,
                      rel_err, tolerance)

try:
    import ml_dtypes
    BF16 = ml_dtypes.bfloat16
except ImportError:  # pragma: no cover
    BF16 = None

SHAPES = [  # B, Hq, Hkv, N, M
    (1, 1, 1, 1, 1),
    (1, 2, 2, 1, 200),     # one query row (decode)
    (2, 3, 3, 77, 77),     # ragged N
    (1, 4, 2, 77, 130),    # GQA, cross M > N
    (1, 4, 1, 130, 50),    # MQA, N > M: causal rows i < 80 see no key
    (1, 2, 2, 200, 1),
    # Decoding with GQA: up to 8 query heads of a KV head per task
    # (AttnTile.cpp, buildHeadGroups): groups of 4, of 10 (8 + 2), MQA.
    (2, 12, 3, 3, 300),
    (1, 20, 2, 1, 129),
    (1, 8, 1, 16, 257),
]
SHAPE_IDS = ["x".join(map(str, s)) for s in SHAPES]

# (id, spec, causal, scale, lse, D, Dv, dtype name)
def _example_case(path):
    """(id, spec, causal, scale, lse, D, Dv, dtype) read off an example spec:
    its q type gives D and the dtype; a rank-3 f32 result is the lse."""
    text = path.read_text()
    d, dtype = re.search(r"%q: tensor<\?x\?x\?x(\d+)x(\w+)>", text).groups()
    # The results: between the signature's "->" and its body.
    lse = "tensor<?x?x?xf32>" in text.split("->", 1)[1].split("{", 1)[0]
    causal, window = mask_of(text)
    if path.stem in EXAMPLE_KEEP:
        causal = EXAMPLE_KEEP[path.stem]  # a keep(N, M) rule
    return (path.stem, text, window if window else causal, None, lse, int(d), int(d), dtype)


SPECS = [_example_case(p) for p in EXAMPLES]
SPECS += [
    ("dense", attnir.patterns.dense(), False, None, False, 64, 64, "f32"),
    ("causal_lse", attnir.patterns.causal(lse=True), True, None, True, 64, 64, "f32"),
    ("dense_scale_lse", attnir.patterns.dense(scale=0.3, lse=True), False, 0.3, True, 64, 64, "f32"),
    ("dense_d32_dv40", attnir.patterns.dense(head_dim=32, dv=40), False, None, False, 32, 40, "f32"),
    ("causal_dv96", attnir.patterns.causal(dv=96, lse=True), True, None, True, 64, 96, "f32"),
    ("causal_f16", attnir.patterns.causal(dtype="f16", lse=True), True, None, True, 64, 64, "f16"),
    ("dense_f16_d128", attnir.patterns.dense(head_dim=128, dtype="f16"), False, None, False, 128, 128, "f16"),
    ("causal_bf16", attnir.patterns.causal(dtype="bf16"), True, None, False, 64, 64, "bf16"),
    ("dense_bf16_lse", attnir.patterns.dense(dtype="bf16", lse=True), False, None, True, 64, 64, "bf16"),
    ("window_3_2", attnir.patterns.sliding_window(left=3, right=2), (3, 2), None, False, 64, 64, "f32"),
    ("window_40_0_lse", attnir.patterns.sliding_window(left=40, right=0, lse=True), (40, 0), None, True, 64, 64, "f32"),
]


def _np_dtype(name):
    if name == "bf16":
        if BF16 is None:
            pytest.skip("ml_dtypes not installed: no bf16 numpy arrays")
        return BF16
    return {"f32": np.float32, "f16": np.float16}[name]


@pytest.mark.parametrize("shape", SHAPES, ids=SHAPE_IDS)
@pytest.mark.parametrize("case", SPECS, ids=[c[0] for c in SPECS])
def test_kernel_matches_reference(compiled, case, shape):
    name, spec, causal, scale, lse, D, Dv, dt = case
    dtype = _np_dtype(dt)
    B, Hq, Hkv, N, M = shape
    q = rand((B, Hq, N, D), dtype, 1)
    k = rand((B, Hkv, M, D), dtype, 2)
    v = rand((B, Hkv, M, Dv), dtype, 3)
    kernel = compiled(spec)
    got = kernel(q, k, v)
    ref = attnir.reference(spec, q, k, v)
    window = causal if isinstance(causal, tuple) else None  # (left, right)
    keep = keep_bh_of(causal, N, M) if callable(causal) else None
    causal = causal is True
    nv = naive_attention(q, k, v, causal, scale, window=window, keep_bh=keep)
    if lse:
        (out, l), (rout, rl) = got, ref
        assert l.dtype == np.float32 and l.shape == (B, Hq, N)
        assert rel_err(rl, nv[1]) < 1e-12
    else:
        out, rout = got, ref
    assert out.dtype == np.dtype(dtype) and out.shape == (B, Hq, N, Dv)
    assert rel_err(rout, nv[0]) < 1e-12        # the two references agree
    tol = tolerance(dt, q, k, scale)
    assert rel_err(out, rout) <= tol, (rel_err(out, rout), tol)
    assert rel_err(out, nv[0]) <= tol
    if lse:
        # lse is f32 whatever the inputs: f32 rounding plus the logits' rounding
        assert rel_err(l, rl) <= tolerance("f32", q, k, scale)
    if causal and N > M:
        assert (np.asarray(out[:, :, :N - M]).astype(np.float64) == 0).all()
        if lse:
            assert (l[:, :, :N - M] == -np.inf).all()


def test_large_logits(compiled):
    # logits ~1e3: the tolerance's second term matters (docs/numerics.md)
    spec = attnir.patterns.causal(lse=True)
    q, k, v = rand((1, 2, 64, 64), scale=12.0, seed=4), rand((1, 2, 64, 64), scale=12.0, seed=5), rand((1, 2, 64, 64), seed=6)
    out, l = compiled(spec)(q, k, v)
    rout, rl = attnir.reference(spec, q, k, v)
    tol = tolerance("f32", q, k)
    assert rel_err(out, rout) <= tol and rel_err(l, rl) <= tol


def test_pass_options_do_not_change_results(compiled):
    spec = attnir.patterns.causal()
    q, k, v = rand((1, 2, 77, 64), seed=7), rand((1, 2, 90, 64), seed=8), rand((1, 2, 90, 64), seed=9)
    a = compiled(spec)(q, k, v)
    b = compiled(spec, query_tile=16)(q, k, v)
    tol = tolerance("f32", q, k)
    assert rel_err(b, a) <= 2 * tol
    assert rel_err(b, attnir.reference(spec, q, k, v)) <= tol


def test_issue15_case8_finite_within_documented_bounds():
    """docs/numerics.md, overflow: with M * max|v| and D * max|q| * max|k|
    below float32's range the outputs are finite and accurate, even where a
    row's unnormalised sum would be near the range (v at 0.9 * FLT_MAX / M:
    the accumulated sum stays below FLT_MAX because it never exceeds
    M * max|v|) and where logits are ~1e37 (a one-hot softmax)."""
    spec = attnir.patterns.causal(head_dim=64, lse=True)
    kernel = attnir.compile(spec)
    rng = np.random.default_rng(8)
    B, H, N, M, D = 1, 2, 77, 100, 64
    fmax = float(np.finfo(np.float32).max)
    q = rng.standard_normal((B, H, N, D)).astype(np.float32)
    k = rng.standard_normal((B, H, M, D)).astype(np.float32)
    v = (rng.uniform(-1, 1, (B, H, M, D)) * 0.9 * fmax / M).astype(np.float32)
    out, lse = kernel(q, k, v)
    ref, ref_lse = attnir.reference(spec, q, k, v)
    assert np.isfinite(out).all()
    assert rel_err(out, ref) < 1e-5
    # Logits near the range: |q| = |k| = c with D * c^2 = 2^126.
    c = np.float32(np.sqrt(2.0 ** 126 / D))
    qb = (np.sign(q) * c).astype(np.float32)
    kb = (np.sign(k) * c).astype(np.float32)
    vb = rng.standard_normal((B, H, M, D)).astype(np.float32)
    out, lse = kernel(qb, kb, vb)
    ref, ref_lse = attnir.reference(spec, qb, kb, vb)
    assert np.isfinite(out).all() and not np.isnan(lse).any()
    assert rel_err(out, ref) < 1e-5


@pytest.mark.parametrize("n,dv", [(5, 64), (130, 64), (130, 40)])
def test_values_near_float_max_with_one_key(compiled, n, dv):
    """docs/numerics.md's value bound, M * max|v| < FLT_MAX, at M = 1: v up
    to 3.4e38, past bf16's largest finite value (3.39e38), which f32 on AMX
    tiles (bf16 pieces; Dv = 40 packs V per element) must not round to
    infinity. One key: the output is v exactly (its weight is exp(0) = 1,
    and the pieces sum to v)."""
    spec = attnir.patterns.dense(dv=dv)
    q, k = rand((1, 2, n, 64), seed=11), rand((1, 2, 1, 64), seed=12)
    big = np.float32(3.4e38)
    v = np.tile(np.array([big, -big, np.float32(3.39e38), 1.0], np.float32), 16)[:dv]
    v = np.broadcast_to(v, (1, 2, 1, dv)).copy()
    out = np.asarray(compiled(spec)(q, k, v))
    assert np.isfinite(out).all()
    assert (out == np.broadcast_to(v, out.shape)).all()


GROUP_SPECS = [  # id, spec, dtype
    ("causal", attnir.patterns.causal(lse=True), "f32"),
    ("window_dv40", attnir.patterns.sliding_window(left=70, right=5, dv=40), "f32"),
    ("dense_bf16", attnir.patterns.dense(dtype="bf16", lse=True), "bf16"),
    ("causal_bf16_d63", attnir.patterns.causal(head_dim=63, dtype="bf16"), "bf16"),
]


@pytest.mark.parametrize("shape", [(2, 4, 2, 301, 290), (1, 2, 1, 77, 400), (1, 3, 3, 130, 50)],
                         ids=["gqa_ragged", "cross", "no_key_rows"])
@pytest.mark.parametrize("case", GROUP_SPECS, ids=[c[0] for c in GROUP_SPECS])
def test_tile_groups_match_reference(compiled, case, shape):
    """Tasks of 3 query tiles that visit each key block together
    (tile-group, forced on for any K/V size; the last group partial): the
    same results as one tile per task and the float64 reference."""
    name, spec, dt = case
    dtype = _np_dtype(dt)
    B, Hq, Hkv, N, M = shape
    D = int(spec.split("%q: tensor<?x?x?x")[1].split("x")[0])
    Dv = int(spec.split("%v: tensor<?x?x?x")[1].split("x")[0])
    q, k, v = rand((B, Hq, N, D), dtype, 41), rand((B, Hkv, M, D), dtype, 42), rand((B, Hkv, M, Dv), dtype, 43)
    grouped = compiled(spec, tile_group=3, tile_group_bytes=0, query_tile=16)(q, k, v)
    single = compiled(spec, tile_group=1, query_tile=16)(q, k, v)
    ref = attnir.reference(spec, q, k, v)
    if isinstance(ref, tuple):
        (grouped, gl), (single, sl), (ref, rl) = grouped, single, ref
        assert np.array_equal(gl, sl)
        assert rel_err(gl, rl) <= tolerance("f32", q, k)
    # Each row's arithmetic is the same in a group: identical bits.
    assert np.array_equal(np.asarray(grouped).view(np.uint8), np.asarray(single).view(np.uint8))
    assert rel_err(grouped, ref) <= tolerance(dt, q, k)
