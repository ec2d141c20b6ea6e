"""attn.scan (shared/patterns.md A9): the chunked lowerings equal the left
fold (numpy, written here, and the float64 reference) for chunk sizes 1, 7
and 256 on ragged N; identity 5: Aaren's scan (examples/aaren_scan.mlir)
equals causal softmax attention of its repeated query, computed by AttnIR's
own attention kernel; scans with one value per token (F = 1) and a
two-component linear recurrence with a value per token and per feature."""
import pathlib

import numpy as np
import pytest

import attnir
from conftest import rand, rel_err

AAREN = (pathlib.Path(__file__).resolve().parents[2] / "examples" /
         "aaren_scan.mlir").read_text()

T = "tensor<?x?x?x64xf32>"
CAUSAL_REPEATED = f"""
func.func @f(%q: {T}, %k: {T}, %v: {T}) -> {T} {{
  %o = attn.attention %q, %k, %v mask(#attn.causal) scale(1.0)
       : ({T}, {T}, {T}) -> {T}
  return %o : {T}
}}"""


def aaren_oracle(query, k, v):
    """Causal softmax attention of the one query per head, float64."""
    s = np.einsum("bhnd,hd->bhn", k.astype(np.float64), query[:, :, 0].astype(np.float64))
    out = np.zeros(v.shape)
    for t in range(k.shape[2]):
        w = np.exp(s[:, :, : t + 1] - s[:, :, : t + 1].max(-1, keepdims=True))
        out[:, :, t] = np.einsum("bhn,bhnd->bhd", w, v[:, :, : t + 1]) / w.sum(-1)[..., None]
    return out


def aaren_inputs(B, H, N, seed, dtype=np.float32):
    query = rand((H, 64, 1), seed=seed, scale=0.3)
    k = rand((B, H, N, 64), seed=seed + 1).astype(dtype)
    v = rand((B, H, N, 64), seed=seed + 2).astype(dtype)
    return query, k, v


@pytest.mark.parametrize("chunk", [1, 7, 256])
@pytest.mark.parametrize("N", [1, 77, 1000])
def test_aaren_is_causal_attention_of_the_repeated_query(compiled, chunk, N):
    query, k, v = aaren_inputs(2, 3, N, seed=N + chunk)
    want = aaren_oracle(query, k, v)
    assert rel_err(attnir.reference(AAREN, query, k, v), want) < 1e-12
    got = compiled(AAREN, scan_chunk=chunk)(query, k, v)
    assert rel_err(got, want) < 1e-5
    # Identity 5 through AttnIR's own attention: the scan and the attention
    # kernel agree without trusting the oracle.
    q = np.ascontiguousarray(np.broadcast_to(query[None, :, None, :, 0], k.shape))
    assert rel_err(got, compiled(CAUSAL_REPEATED)(q, k, v)) < 1e-5


def test_aaren_bf16_inputs(compiled):
    spec = AAREN.replace("tensor<?x?x?x64xf32>", "tensor<?x?x?x64xbf16>")
    import ml_dtypes  # noqa: F401  (numpy's bf16, installed with attnir)
    query, k, v = aaren_inputs(1, 2, 300, seed=5)
    kb, vb = (x.astype("bfloat16") for x in (k, v))
    want = aaren_oracle(query, kb.astype(np.float32), vb.astype(np.float32))
    got = compiled(spec, scan_chunk=64)(query, kb, vb)
    assert got.dtype.name == "bfloat16"
    assert rel_err(got.astype(np.float32), want) < 1e-2


CUMSUM = """
func.func @f(%x: tensor<?x?x?xf32>) -> tensor<?x?x?xOUT> {
  %y = attn.scan %x combine {
    ^bb0(%a: f32, %b: f32):
      %s = arith.addf %a, %b : f32
      attn.yield %s : f32
    } : (tensor<?x?x?xf32>) -> tensor<?x?x?xOUT>
  return %y : tensor<?x?x?xOUT>
}"""


@pytest.mark.parametrize("chunk", [1, 7, 256])
def test_cumulative_sum_one_value_per_token(compiled, chunk):
    x = rand((2, 3, 1001), seed=chunk)
    want = np.cumsum(x.astype(np.float64), axis=2)
    spec = CUMSUM.replace("OUT", "f32")
    assert rel_err(attnir.reference(spec, x), want) < 1e-12
    assert rel_err(compiled(spec, scan_chunk=chunk)(x), want) < 1e-5


# h_t = a_t h_{t-1} + b_t: the pair (a, b) with (a1, b1) (+) (a2, b2) =
# (a1 a2, a2 b1 + b2) is associative; a per token, b per feature (16).
RECURRENCE = """
func.func @f(%a: tensor<?x?x?xf32>, %b: tensor<?x?x?x16xf32>) -> tensor<?x?x?x16xf32> {
  %h = attn.scan %a, %b combine {
    ^bb0(%a1: f32, %b1: f32, %a2: f32, %b2: f32):
      %a12 = arith.mulf %a1, %a2 : f32
      %b12 = math.fma %a2, %b1, %b2 : f32
      attn.yield %a12, %b12 : f32, f32
    } result {
    ^bb0(%ah: f32, %bh: f32):
      attn.yield %bh : f32
    } : (tensor<?x?x?xf32>, tensor<?x?x?x16xf32>) -> tensor<?x?x?x16xf32>
  return %h : tensor<?x?x?x16xf32>
}"""


@pytest.mark.parametrize("chunk", [1, 16, 256])
def test_linear_recurrence_as_a_scan(compiled, chunk):
    rng = np.random.default_rng(chunk)
    B, H, N = 2, 2, 517
    a = rng.uniform(0.8, 1.0, (B, H, N)).astype(np.float32)
    b = rand((B, H, N, 16), seed=chunk + 1)
    want = np.zeros(b.shape)
    h = np.zeros((B, H, 16))
    for t in range(N):
        h = a[:, :, t, None] * h + b[:, :, t]
        want[:, :, t] = h
    assert rel_err(attnir.reference(RECURRENCE, a, b), want) < 1e-12
    assert rel_err(compiled(RECURRENCE, scan_chunk=chunk)(a, b), want) < 1e-5


def test_mismatched_lengths_are_refused(compiled):
    a = np.ones((1, 2, 10), np.float32)
    b = np.ones((1, 2, 11, 16), np.float32)
    with pytest.raises(Exception, match="N|length|shape|dimension"):
        compiled(RECURRENCE)(a, b)
    with pytest.raises(Exception):
        attnir.reference(RECURRENCE, a, b)


RAT = (pathlib.Path(__file__).resolve().parents[2] / "examples" / "rat.mlir").read_text()


def rat_spec(L):
    return (RAT.replace("segment(16)", f"segment({L})")
               .replace("arith.constant 16 : index", f"arith.constant {L} : index"))


def rat_oracle(q, k, v, g, L):
    """RAT in float64: the gated recurrence restarting per chunk, then
    softmax over the previous chunks' final states and the own state."""
    q, k, v, g = (x.astype(np.float64) for x in (q, k, v, g))
    f = 1 / (1 + np.exp(-g))
    kt, vt = k.copy(), v.copy()
    N = q.shape[2]
    for t in range(N):
        if t % L:
            kt[:, :, t] = f[:, :, t] * kt[:, :, t - 1] + (1 - f[:, :, t]) * k[:, :, t]
            vt[:, :, t] = f[:, :, t] * vt[:, :, t - 1] + (1 - f[:, :, t]) * v[:, :, t]
    i, j = np.arange(N)[:, None], np.arange(N)[None, :]
    keep = (i == j) | ((j % L == L - 1) & (j < i - i % L))
    s = np.einsum("bhid,bhjd->bhij", q, kt) / 8.0
    s = np.where(keep, s, -np.inf)
    p = np.exp(s - s.max(-1, keepdims=True))
    return np.einsum("bhij,bhjd->bhid", p / p.sum(-1, keepdims=True), vt)


@pytest.mark.parametrize("chunk", [1, 7, 256])
@pytest.mark.parametrize("N", [1, 77, 300])
def test_rat_is_its_oracle(compiled, chunk, N):
    q, k, v, g = (rand((2, 3, N, 64), seed=N + i) for i in range(4))
    want = rat_oracle(q, k, v, g, 16)
    assert rel_err(attnir.reference(RAT, q, k, v, g), want) < 1e-12
    assert rel_err(compiled(RAT, scan_chunk=chunk)(q, k, v, g), want) < 1e-5


def test_rat_with_chunks_of_one_is_causal_attention(compiled):
    """Identity 7: L = 1 leaves the keys and values as they are and the
    rule is causal."""
    q, k, v, g = (rand((1, 2, 130, 64), seed=40 + i) for i in range(4))
    got = compiled(rat_spec(1))(q, k, v, g)
    assert rel_err(got, compiled(CAUSAL_REPEATED.replace(" scale(1.0)", ""))(q, k, v)) < 1e-5
