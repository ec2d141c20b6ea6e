"""Runtime block lists from Python (shared/patterns.md A1): numpy int32/int64
lists per query head, per KV head or shared, with duplicates and unused
slots, against an independent numpy formula; bad ids raise; a torch
BlockMask's kv_indices / kv_num_blocks pass straight through (where torch
is installed)."""
import numpy as np
import pytest

from conftest import REPO, naive_attention, rand, rel_err

BLOCK_SPARSE = (REPO / "examples" / "block_sparse.mlir").read_text()


def spec(bq, bk, heads="?", itype="i32", mask=""):
    t = "tensor<?x?x?x64xf32>"
    kv = f"tensor<?x{heads}x?x?x{itype}>"
    kc = f"tensor<?x{heads}x?x{itype}>"
    return f"""
func.func @f(%q: {t}, %k: {t}, %v: {t}, %kv_indices: {kv}, %kv_counts: {kc}) -> {t} {{
  %o = attn.attention %q, %k, %v blocks(%kv_indices, %kv_counts) block_size({bq}, {bk}) {mask}
       : ({t}, {t}, {t}, {kv}, {kc}) -> {t}
  return %o : {t}
}}"""


def random_lists(B, H, nqb, nkb, K, seed, dtype=np.int32):
    """Random lists: each block with probability 1/2, shuffled, one duplicate,
    unused slots -1."""
    rng = np.random.default_rng(seed)
    idx = np.full((B, H, nqb, K), -1, dtype=dtype)
    cnt = np.zeros((B, H, nqb), dtype=dtype)
    for b in range(B):
        for h in range(H):
            for r in range(nqb):
                ids = [j for j in range(nkb) if rng.random() < 0.5]
                if ids:
                    ids.append(ids[0])
                rng.shuffle(ids)
                ids = ids[:K]
                idx[b, h, r, :len(ids)] = ids
                cnt[b, h, r] = len(ids)
    return idx, cnt


def list_keep(idx, cnt, bq, bk, N, M, Hq, Hkv):
    """keep_bh for naive_attention, straight from the lists."""
    H = idx.shape[1]

    def keep(b, h):
        lh = 0 if H == 1 else (h if H == Hq else h // (Hq // Hkv))
        out = np.zeros((N, M), bool)
        for i in range(N):
            r = i // bq
            for j in idx[b, lh, r, :cnt[b, lh, r]]:
                out[i, j * bk:(j + 1) * bk] = True
        return out
    return keep


CASES = [  # bq, bk, B, Hq, Hkv, list heads, N, M, itype
    (64, 64, 1, 2, 2, "Hq", 300, 300, np.int32),
    (16, 32, 2, 4, 2, "Hkv", 77, 133, np.int64),
    (128, 16, 1, 3, 1, "1", 200, 50, np.int32),
]


@pytest.mark.parametrize("case", CASES, ids=[f"{c[0]}x{c[1]}_{c[5]}" for c in CASES])
def test_block_list_matches_formula(compiled, case):
    bq, bk, B, Hq, Hkv, heads, N, M, itype = case
    H = {"Hq": Hq, "Hkv": Hkv, "1": 1}[heads]
    nqb, nkb = -(-N // bq), -(-M // bk)
    kern = compiled(spec(bq, bk, itype="i64" if itype == np.int64 else "i32"))
    q, k, v = rand((B, Hq, N, 64), seed=1), rand((B, Hkv, M, 64), seed=2), rand((B, Hkv, M, 64), seed=3)
    idx, cnt = random_lists(B, H, nqb, nkb, nkb + 1, seed=4, dtype=itype)
    out = kern(q, k, v, idx, cnt)
    ref, _ = naive_attention(q, k, v, keep_bh=list_keep(idx, cnt, bq, bk, N, M, Hq, Hkv))
    assert rel_err(out, ref) < 1e-5


def test_every_block_is_dense_and_none_is_zero(compiled):
    kern = compiled(BLOCK_SPARSE)
    q, k, v = rand((1, 2, 150, 64), seed=5), rand((1, 2, 150, 64), seed=6), rand((1, 2, 150, 64), seed=7)
    idx = np.broadcast_to(np.array([2, 1, 0, 1], np.int32), (1, 2, 3, 4)).copy()
    full = kern(q, k, v, idx, np.full((1, 2, 3), 4, np.int32))
    dense, _ = naive_attention(q, k, v)
    assert rel_err(full, dense) < 1e-5
    none = kern(q, k, v, idx, np.zeros((1, 2, 3), np.int32))
    assert not none.any()


def test_bad_lists_raise(compiled):
    kern = compiled(BLOCK_SPARSE)
    q = rand((1, 2, 150, 64))
    idx = np.zeros((1, 2, 3, 2), np.int32)
    cnt = np.ones((1, 2, 3), np.int32)
    idx[0, 1, 2, 0] = 3  # ceil(150 / 64) = 3 key blocks: 3 is past the end
    with pytest.raises(ValueError, match=r"kv_indices'\[0, 1, 2, 0\] is block 3, outside \[0, 3\)"):
        kern(q, q, q, idx, cnt)
    idx[0, 1, 2, 0] = 0
    cnt[0, 0, 1] = 3
    with pytest.raises(ValueError, match=r"kv_counts'\[0, 0, 1\] is 3; counts must be in \[0, 2\]"):
        kern(q, q, q, idx, cnt)
    with pytest.raises(TypeError, match="kv_indices. has dtype f32 but @block_sparse expects i32"):
        kern(q, q, q, idx.astype(np.float32), cnt)
    with pytest.raises(ValueError, match="q_blocks"):
        kern(q, q, q, idx[:, :, :2], cnt[:, :, :2])


def test_torch_block_mask_passes_through(compiled):
    """A BlockMask built from block lists (BlockMask.from_kv_blocks, as a
    selection step makes one): its kv_indices / kv_num_blocks go straight
    in. (create_block_mask splits full blocks into full_kv_indices /
    full_kv_num_blocks: pass the two lists concatenated.)"""
    torch = pytest.importorskip("torch")
    flex = pytest.importorskip("torch.nn.attention.flex_attention")
    B, H, N, nb = 1, 2, 300, 3
    idx, cnt = random_lists(B, H, nb, nb, nb, seed=11)
    ids = torch.from_numpy(np.where(idx < 0, 0, idx))
    bm = flex.BlockMask.from_kv_blocks(torch.from_numpy(cnt), ids, BLOCK_SIZE=128,
                                       seq_lengths=(N, N))
    kern = compiled(spec(128, 128))
    q, k, v = (torch.from_numpy(rand((B, H, N, 64), seed=s)) for s in (8, 9, 10))
    out = kern(q, k, v, bm.kv_indices, bm.kv_num_blocks)
    ref, _ = naive_attention(q.numpy(), k.numpy(), v.numpy(),
                             keep_bh=list_keep(idx, cnt, 128, 128, N, N, H, H))
    assert rel_err(out.numpy(), ref) < 1e-5
