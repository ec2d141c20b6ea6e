"""bf16 inputs on AVX512-BF16 (attn-tile's bf16-dot=1, the default on such
CPUs): K, V and query tiles packed as bf16 pairs and reduced by vdpbf16ps,
P rounded to bf16 for P V. Against the float64 reference and the f32 path
(bf16-dot=0) on ragged shapes: odd D, Dv != D, GQA, M != N, causal rows
with no key, windows, score and element rules, runtime block lists, lse.
Skipped on CPUs without AVX512-BF16 (the option is refused there: see
test_refused_without_avx512bf16)."""
import pathlib

import numpy as np
import pytest

import attnir
from conftest import REPO, rand, rel_err, tolerance

try:
    import ml_dtypes
    BF16 = ml_dtypes.bfloat16
except ImportError:  # pragma: no cover
    BF16 = None


def host_has_bf16():
    try:
        text = pathlib.Path("/proc/cpuinfo").read_text()
    except OSError:
        return False
    return " avx512_bf16" in text and " avx512f" in text


needs_bf16 = pytest.mark.skipif(
    BF16 is None or not host_has_bf16(),
    reason="needs ml_dtypes and a CPU with AVX512-BF16")


def attention(D, Dv, mask="", lse=False):
    tq, tv = f"tensor<?x?x?x{D}xbf16>", f"tensor<?x?x?x{Dv}xbf16>"
    tl = "tensor<?x?x?xf32>"
    res = f"({tv}, {tl})" if lse else tv
    outs = "%o, %l" if lse else "%o"
    return f"""
func.func @f(%q: {tq}, %k: {tq}, %v: {tv}) -> {res} {{
  {outs} = attn.attention %q, %k, %v {mask}
       : ({tq}, {tq}, {tv}) -> {res}
  return {outs} : {res.strip('()')}
}}"""


SOFTCAP = (REPO / "examples" / "softcap.mlir").read_text().replace("xf32>", "xbf16>")
DOCUMENT = (REPO / "examples" / "document_mask.mlir").read_text().replace("xf32", "xbf16")

CASES = [  # id, spec, D, shape (B, Hq, Hkv, N, M)
    ("dense_d64", attention(64, 64), 64, (2, 3, 3, 77, 130)),
    ("causal_gqa_lse", attention(64, 64, "mask(#attn.causal)", lse=True), 64, (1, 4, 2, 130, 77)),
    ("dense_d63_dv40", attention(63, 40), 63, (1, 2, 1, 50, 201)),
    ("causal_d128", attention(128, 128, "mask(#attn.causal)"), 128, (1, 2, 2, 300, 300)),
    ("window_d32_scale", attention(32, 48, "mask(#attn.window<40, 3>) scale(0.3)"), 32, (1, 2, 2, 150, 150)),
    ("softcap", SOFTCAP, 64, (1, 2, 2, 99, 99)),
]


def _inputs(D, Dv, shape, seed):
    B, Hq, Hkv, N, M = shape
    return (rand((B, Hq, N, D), BF16, seed), rand((B, Hkv, M, D), BF16, seed + 1),
            rand((B, Hkv, M, Dv), BF16, seed + 2))


@needs_bf16
@pytest.mark.parametrize("case", CASES, ids=[c[0] for c in CASES])
def test_pairs_match_reference(compiled, case):
    name, spec, D, shape = case
    Dv = int(spec.split("%v: tensor<?x?x?x")[1].split("x")[0])
    q, k, v = _inputs(D, Dv, shape, 11)
    pairs = compiled(spec, bf16_dot=1)(q, k, v)
    f32 = compiled(spec, bf16_dot=0)(q, k, v)
    ref = attnir.reference(spec, q, k, v)
    if isinstance(ref, tuple):
        (pairs, lse), (f32, _), (ref, rlse) = pairs, f32, ref
        assert rel_err(lse, rlse) <= tolerance("bf16", q, k)
    tol = tolerance("bf16", q, k)
    assert pairs.dtype == BF16
    assert rel_err(pairs, ref) <= tol, rel_err(pairs, ref)
    assert rel_err(pairs, f32) <= tol
    if "causal" in name and shape[3] > shape[4]:  # rows with no key
        N, M = shape[3], shape[4]
        assert (np.asarray(pairs[:, :, :N - M]).astype(np.float64) == 0).all()


@needs_bf16
def test_pairs_with_segments(compiled):
    """Document ids (an element rule on operands) with ragged documents."""
    B, H, N = 2, 2, 133
    q, k, v = _inputs(64, 64, (B, H, H, N, N), 21)
    rng = np.random.default_rng(5)
    docs = np.sort(rng.integers(0, 4, (B, N)), axis=1).astype(np.int32)
    kern = compiled(DOCUMENT, bf16_dot=1)
    got = kern(q, k, v, docs, docs)
    ref = attnir.reference(DOCUMENT, q, k, v, docs, docs)
    assert rel_err(got, ref) <= tolerance("bf16", q, k)


@needs_bf16
def test_pairs_with_block_list(compiled):
    """A runtime block list whose blocks (64 keys) keep the pair form."""
    t = "tensor<?x?x?x64xbf16>"
    spec = f"""
func.func @f(%q: {t}, %k: {t}, %v: {t}, %kv_indices: tensor<?x?x?x?xi32>, %kv_counts: tensor<?x?x?xi32>) -> {t} {{
  %o = attn.attention %q, %k, %v blocks(%kv_indices, %kv_counts) block_size(64, 64)
       : ({t}, {t}, {t}, tensor<?x?x?x?xi32>, tensor<?x?x?xi32>) -> {t}
  return %o : {t}
}}"""
    B, H, N, M = 1, 2, 150, 250
    q, k, v = _inputs(64, 64, (B, H, H, N, M), 31)
    nqb, nkb = -(-N // 64), -(-M // 64)
    idx = np.full((B, H, nqb, nkb), -1, np.int32)
    cnt = np.zeros((B, H, nqb), np.int32)
    rng = np.random.default_rng(3)
    for h in range(H):
        for r in range(nqb):
            ids = rng.permutation(nkb)[: 1 + r % nkb]
            idx[0, h, r, :len(ids)] = ids
            cnt[0, h, r] = len(ids)
    got = compiled(spec, bf16_dot=1)(q, k, v, idx, cnt)
    ref = attnir.reference(spec, q, k, v, idx, cnt)
    assert rel_err(got, ref) <= tolerance("bf16", q, k)


def test_refused_without_avx512bf16():
    """bf16-dot=1 for a host without AVX512-BF16 is a clear error, never
    an illegal instruction; with it, the option compiles."""
    spec = attention(64, 64)
    if host_has_bf16():
        attnir.compile(spec, bf16_dot=1, cache=False)
    else:
        with pytest.raises(Exception, match="bf16-dot=1 needs a CPU with AVX512-BF16"):
            attnir.compile(spec, bf16_dot=1, cache=False)
