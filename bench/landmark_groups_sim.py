#!/usr/bin/env python3
"""The by-blocks landmark program's grouping (LandmarkBlocks.cpp: scan,
scatter, units groups) modelled in numpy, without a GPU: for random and
adversarial picks at ragged N and K, with and without one-block groups
(landmark-split=2), checks that every pick lands in one slot of the
entries' N x perRow slots, no two picks share a slot, and (one-block
groups) every group of 64 slots holds one block's entries; prints the
groups and block stagings per head that the units kernel runs.

usage: python3 bench/landmark_groups_sim.py
"""
import numpy as np

L = 64  # the landmark block and the units group


def picks_of(n, k, rng, mode):
    """Each row's picks among the blocks before its own (-1: none)."""
    nb = -(-n // L)
    out = np.full((n, k), -1, dtype=np.int64)
    for i in range(n):
        c = i // L
        kept = min(k, c)
        if kept == 0:
            continue
        if mode == "random":
            out[i, :kept] = rng.choice(c, kept, replace=False)
        elif mode == "latest":  # many blocks with one or two entries
            out[i, :kept] = np.arange(c - kept, c)
        else:  # "first": every row the same earliest blocks
            out[i, :kept] = np.arange(kept)
    return out, nb


def program(picks, nb, k, one_block):
    n = picks.shape[0]
    per_row = k + 1 if one_block else k
    count = np.zeros(nb, dtype=np.int64)
    rank = np.full(picks.shape, -1, dtype=np.int64)
    for i in range(n):  # _c1's atomics, in some order
        for s in range(k):
            b = picks[i, s]
            if b >= 0:
                rank[i, s] = count[b]
                count[b] += 1
    slots = -(-count // L) * L if one_block else count  # _c2
    start = np.concatenate([[0], np.cumsum(slots)[:-1]])
    end, used = start + count, int(slots.sum())
    entries = np.full((n * per_row, 2), -1, dtype=np.int64)
    for i in range(n):  # _c3
        for s in range(k):
            b = picks[i, s]
            if b >= 0:
                p = start[b] + rank[i, s]
                assert p < n * per_row, "entry past the entries' slots"
                assert entries[p, 0] < 0, "two picks in one slot"
                entries[p] = (i * k + s, b)
    groups, stagings = 0, 0
    for g in range(-(-n // L) * per_row):  # _c4's grid
        p0 = g * L
        if p0 >= used:
            continue
        groups += 1
        if one_block:
            beta = entries[p0, 1]
            assert beta >= 0, "a group's first slot is empty"
            live = entries[p0:min(p0 + L, end[beta]), 1]
            assert (live == beta).all(), "a group holds another block's entries"
            stagings += 1
        else:
            live = entries[p0:min(p0 + L, used), 1]
            stagings += len(np.unique(live))
    placed = sorted(entries[entries[:, 0] >= 0, 0].tolist())
    want = sorted((i * k + s) for i in range(n) for s in range(k) if picks[i, s] >= 0)
    assert placed == want, "picks lost or duplicated"
    return groups, stagings


def main():
    rng = np.random.default_rng(0)
    for n, k in ((1, 4), (65, 1), (100, 3), (1000, 4), (4100, 8), (16411, 1)):
        for mode in ("random", "latest", "first"):
            picks, nb = picks_of(n, k, rng, mode)
            for one in (False, True):
                program(picks, nb, k, one)
    print("checks passed: every pick in one slot, one-block groups hold one block")
    picks, nb = picks_of(32768, 4, rng, "random")
    for one in (False, True):
        g, st = program(picks, nb, 4, one)
        print(f"N = 32768, K = 4, random rows, {'one-block groups' if one else 'consecutive entries'}: "
              f"{g} groups, {st} block stagings per head")


if __name__ == "__main__":
    main()
