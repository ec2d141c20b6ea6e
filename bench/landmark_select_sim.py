#!/usr/bin/env python3
"""Here (numpy only): how many insertion iterations the landmark picks
kernel's warps run per query tile (LandmarkSelect.cpp), simulated on the
kernel's layout: a warp's 16 rows, a row's 64-landmark chunk spread over 4
lanes (lane l holds columns 2 l + 8 (j / 2) + j % 2, j < 16), a lane's two
rows in one instruction stream, so a chunk costs the warp as many
iterations as its busiest lane has marked logits. Bounds compared:

  two-pass  each lane's best ceil(K / 4) over the whole row, merged over
            the row's 4 lanes (the row's final floor), then a picks pass;
  running   the same from the chunks seen so far (one pass);
  lists     the row's 4 lanes' lists so far merged with each lane's best
            ceil(K / 4) of the chunk (one pass; the kept form).

Random rows (independent normal logits), tiles uniform over a row of
`--blocks` landmarks.   python3 bench/landmark_select_sim.py [--topk 4]
"""
import argparse

import numpy as np

COLS = np.array([[2 * l + 8 * (j // 2) + j % 2 for j in range(16)] for l in range(4)])


def kth(x, k):
    """The k-th largest along the last axis (-inf when fewer)."""
    s = -np.sort(-x, axis=-1)
    return s[..., k - 1] if s.shape[-1] >= k else np.full(s.shape[:-1], -np.inf)


def tile_iterations(X, K, per, bound):
    """X: [16 rows, chunks * 64] logits (-inf past the tile)."""
    chunks = X.shape[1] // 64
    lanes = np.stack([X[:, (COLS + 64 * c)] for c in range(chunks)], 1)  # [16, ch, 4, 16]
    lists = np.full((16, 4, K), -np.inf)
    final = kth(np.sort(lanes.transpose(0, 2, 1, 3).reshape(16, 4, -1), -1)[..., ::-1][..., :per]
                .reshape(16, -1), K)
    best = np.full((16, 4, per), -np.inf)
    iters = 0
    for c in range(chunks):
        vals = lanes[:, c]  # [16, 4, 16]
        top = -np.sort(-vals, -1)[..., :per]
        best = -np.sort(-np.concatenate([best, top], -1), -1)[..., :per]
        if bound == "two-pass":
            T = final
        elif bound == "running":
            T = kth(best.reshape(16, -1), K)
        else:
            T = kth(np.concatenate([lists, top], -1).reshape(16, -1), K)
        T = np.maximum(T, -3.4e38)[:, None, None]
        b = np.maximum(T, lists[..., -1:])
        marks = vals >= b
        iters += np.maximum(marks[:8].sum(-1), marks[8:].sum(-1)).max()
        lists = -np.sort(-np.concatenate([lists, np.where(marks, vals, -np.inf)], -1), -1)[..., :K]
    return iters


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--topk", type=int, default=4)
    ap.add_argument("--blocks", type=int, default=512)
    ap.add_argument("--tiles", type=int, default=400)
    a = ap.parse_args()
    per = (a.topk + 3) // 4
    rng = np.random.default_rng(0)
    tiles = rng.integers(1, a.blocks, a.tiles)
    print(f"top {a.topk}, tiles uniform below {a.blocks} blocks: insertion iterations per tile")
    for bound in ("two-pass", "running", "lists"):
        rng2 = np.random.default_rng(1)
        total = 0
        for t in tiles:
            ch = -(-t // 64)
            X = rng2.standard_normal((16, ch * 64))
            X[:, t:] = -np.inf
            total += tile_iterations(X, a.topk, per, bound)
        print(f"  {bound:9s} {total / len(tiles):6.2f}")


if __name__ == "__main__":
    main()
