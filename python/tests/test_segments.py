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
