"""Document masking from Python (#attn.segments): int32/int64 document ids
by role, against an independent numpy formula; ids out of order raise."""
import numpy as np
import pytest

from conftest import REPO, naive_attention, rand, rel_err

DOCUMENT = (REPO / "examples" / "document_mask.mlir").read_text()


def packed(n, starts):
    return np.searchsorted(np.array(starts), np.arange(n), side="right")


@pytest.mark.parametrize("N,M", [(300, 300), (77, 200), (200, 50)])
def test_document_mask_matches_formula(compiled, N, M):
    kern = compiled(DOCUMENT)
    q, k, v = rand((2, 4, N, 64), seed=1), rand((2, 2, M, 64), seed=2), rand((2, 2, M, 64), seed=3)
    kd = np.stack([packed(M, [M // 3, M // 2]), packed(M, [7])]).astype(np.int32)
    pos = np.clip(np.arange(N) + M - N, 0, None)
    qd = kd[:, pos].copy()
    out = kern(q, k, v, qd, kd)
    i, j = np.arange(N)[:, None], np.arange(M)[None, :]
    causal = j <= i + M - N
    ref, _ = naive_attention(q, k, v, keep_bh=lambda b, h: causal & (qd[b][:, None] == kd[b][None, :]))
    assert rel_err(out, ref) < 1e-5


def test_unsorted_document_ids_raise(compiled):
    kern = compiled(DOCUMENT)
    q = rand((1, 2, 64, 64))
    qd = np.zeros((1, 64), np.int32)
    kd = np.zeros((1, 64), np.int32)
    kd[0, 10:20] = 3
    with pytest.raises(ValueError, match=r"argument 'k_doc'\[0, 20\] is 0, less than the 3 before it"):
        kern(q, q, q, qd, kd)


def test_block_list_documents_and_lse_nine_arguments(compiled, tmp_path):
    """7 inputs and 2 outputs: entries take any number of arguments (the
    runtime calls the kernel's packed entry), also from a saved bundle."""
    t, ti, tc, td = ("tensor<?x?x?x64xf32>", "tensor<?x?x?x?xi32>", "tensor<?x?x?xi32>",
                     "tensor<?x?xi32>")
    spec = f"""func.func @many(%q: {t}, %k: {t}, %v: {t}, %kv_indices: {ti}, %kv_counts: {tc},
                               %q_doc: {td}, %k_doc: {td}) -> ({t}, tensor<?x?x?xf32>) {{
  %o, %lse = attn.attention %q, %k, %v blocks(%kv_indices, %kv_counts) block_size(64, 64)
       segments(%q_doc, %k_doc) mask(#attn.all_of<[#attn.causal, #attn.segments]>)
       : ({t}, {t}, {t}, {ti}, {tc}, {td}, {td}) -> ({t}, tensor<?x?x?xf32>)
  return %o, %lse : {t}, tensor<?x?x?xf32>
}}"""
    import attnir
    kern = compiled(spec)
    path = tmp_path / "many.bundle"
    kern.save(path)
    loaded = attnir.load(path)
    q = rand((1, 2, 130, 64), seed=4)
    idx = np.array([[[[0, 1, 2], [2, 1, 0], [0, 2, 1]]]], np.int32).repeat(2, 1)
    cnt = np.array([[[3, 2, 1]]], np.int32).repeat(2, 1)
    doc = np.zeros((1, 130), np.int32)
    doc[0, 70:] = 1
    ref = attnir.reference(spec, q, q, q, idx, cnt, doc, doc)
    for k in (kern, loaded):
        out, lse = k(q, q, q, idx, cnt, doc, doc)
        assert rel_err(out, ref[0]) < 1e-5 and rel_err(lse, ref[1]) < 1e-5
