"""Landmark Attention (attn.landmark; issue 21): examples/landmark.mlir and
its variants against a numpy oracle of the grouped softmax written here,
top-k with k >= the number of blocks equal to no top-k, and a needle
planted in one block of a 32768-token sequence retrieved by top-4."""
import numpy as np
import pytest

import attnir
from conftest import REPO, rand, rel_err

EX = REPO / "examples"


def grouped_softmax(q, k, v, lk, block, topk=None):
    """out, lse of the grouped softmax in float64 (AttnRouteOps.td)."""
    q, k, v, lk = (x.astype(np.float64) for x in (q, k, v, lk))
    B, H, N, D = q.shape
    Hk = k.shape[1]
    out = np.zeros((B, H, N, v.shape[3]))
    lse = np.zeros((B, H, N))
    scale = 1 / np.sqrt(D)
    for b in range(B):
        for h in range(H):
            g = h // (H // Hk)
            S = q[b, h] @ k[b, g].T * scale          # [N, N]
            A = q[b, h] @ lk[b, g].T * scale         # [N, blocks]
            for i in range(N):
                c = i // block
                logits = list(S[i, c * block:i + 1])
                values = list(v[b, g, c * block:i + 1])
                order = np.argsort(-A[i, :c], kind="stable")
                for beta in (order if topk is None else order[:topk]):
                    s = S[i, beta * block:(beta + 1) * block]
                    p = np.exp(s - s.max())
                    logits.append(A[i, beta])
                    values.append(p @ v[b, g, beta * block:(beta + 1) * block] / p.sum())
                logits = np.array(logits)
                w = np.exp(logits - logits.max())
                out[b, h, i] = w @ np.array(values) / w.sum()
                lse[b, h, i] = logits.max() + np.log(w.sum())
    return out, lse


def spec(topk="topk(4)", block=64):
    text = (EX / "landmark.mlir").read_text()
    return text.replace("block(64) topk(4)", f"block({block}) {topk}".strip())


# The CPU's vector rows (16 lanes here, 8 with lanes=8) where D is a
# multiple of the lanes, scalar loops where it is not (D = 40).
@pytest.mark.parametrize("B,H,Hk,N,block,topk,D,options", [
    (2, 4, 4, 300, 32, 4, 64, {}), (1, 6, 2, 333, 16, 3, 64, {}),
    (1, 2, 1, 200, 16, None, 64, {}), (1, 2, 2, 129, 64, 0, 64, {}),
    (1, 3, 1, 77, 5, 2, 64, {}), (1, 4, 2, 401, 20, 3, 64, {"lanes": 8}),
    (1, 2, 1, 333, 24, 5, 40, {}), (1, 2, 2, 1111, 64, 4, 128, {}),
    # Blocks over 256 keys go in pieces of 256 (LandmarkVectorBlock.cpp).
    (1, 2, 1, 1500, 300, 2, 64, {}), (1, 2, 2, 1400, 600, None, 64, {"lanes": 8})])
def test_against_numpy(native, B, H, Hk, N, block, topk, D, options):
    q = rand((B, H, N, D), seed=N)
    k, v = rand((B, Hk, N, D), seed=N + 1), rand((B, Hk, N, D), seed=N + 2)
    lk = rand((B, Hk, -(-N // block), D), seed=N + 3)
    text = spec("" if topk is None else f"topk({topk})", block).replace("x64x", f"x{D}x")
    kernel = attnir.compile(text, **options)
    out, lse = kernel(q, k, v, lk)
    exp_out, exp_lse = grouped_softmax(q, k, v, lk, block, topk)
    assert rel_err(out, exp_out) < 1e-5
    assert np.abs(lse - exp_lse).max() < 1e-4
    if topk:  # retrieval matters: the grouped softmax of all blocks differs
        all_out, _ = grouped_softmax(q, k, v, lk, block)
        assert rel_err(all_out, exp_out) > 1e-3


def test_topk_of_all_blocks_is_the_grouped_softmax(native):
    q, k, v = (rand((1, 2, 500, 64), seed=s) for s in range(3))
    lk = rand((1, 2, 8, 64), seed=4)
    every = attnir.compile(spec(""))(q, k, v, lk)
    top = attnir.compile(spec("topk(8)"))(q, k, v, lk)
    assert all(np.array_equal(a, b) for a, b in zip(every, top))


def test_needle_is_retrieved_at_32k(native):
    N, D, block = 32768, 64, 64
    rng = np.random.default_rng(7)
    q = (0.1 * rng.standard_normal((1, 1, N, D))).astype(np.float32)
    k = (0.1 * rng.standard_normal((1, 1, N, D))).astype(np.float32)
    v = rng.standard_normal((1, 1, N, D)).astype(np.float32)
    lk = (0.1 * rng.standard_normal((1, 1, N // block, D))).astype(np.float32)
    u = rng.standard_normal(D).astype(np.float32)
    u /= np.linalg.norm(u)
    needle = 100 * block + 17          # in block 100 of 512
    q[0, 0, -1] = 12 * u               # the last query looks for it
    k[0, 0, needle] = 12 * u           # (logit 144 / 8 = 18)
    lk[0, 0, 100] = 12 * u             # its block's landmark says so
    out, _ = attnir.compile(spec("topk(4)"))(q, k, v, lk)
    assert np.abs(out[0, 0, -1] - v[0, 0, needle]).max() < 2e-2
    # Without the landmark pointing at it, the block is not retrieved.
    lk[0, 0, 100] = 0
    out, _ = attnir.compile(spec("topk(4)"))(q, k, v, lk)
    assert np.abs(out[0, 0, -1] - v[0, 0, needle]).max() > 0.1


@pytest.mark.parametrize("options", [{}, {"lanes": 8}])
def test_tied_logits_take_the_lower_blocks(native, options):
    # Every landmark the same: every logit ties, so top-3 is the three
    # lowest earlier blocks (the oracle's stable order), across lanes and
    # chunks of the vector selection.
    N, block = 1500, 16
    q, k, v = (rand((1, 2, N, 64), seed=s) for s in (11, 12, 13))
    lk = np.repeat(rand((1, 2, 1, 64), seed=14), -(-N // block), axis=2)
    out, lse = attnir.compile(spec("topk(3)", block), **options)(q, k, v, lk)
    exp_out, exp_lse = grouped_softmax(q, k, v, lk, block, 3)
    assert rel_err(out, exp_out) < 1e-5
    assert np.abs(lse - exp_lse).max() < 1e-4
