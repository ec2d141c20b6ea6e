#!/usr/bin/env python3
"""Forward calls for ncu on the block-list kernels (bench/gpu/profile_sparse.sh):
one random causal 128 x 128 list at the given share of the causal blocks
(bench/gpu/sparse.py's lists) through bundles/tiles_list_<variant>.bundle,
then the variant's causal kernel, bf16, B = 2, H = 16, N = 16384, D = 128.

usage: python3 bench/gpu/profile_sparse.py VARIANT DENSITY
"""
import os
import sys

import torch

import attnir
from sparse import BUNDLES, random_lists

variant, density = sys.argv[1], float(sys.argv[2])
B, H, N, D, BS = 2, 16, 16384, 128, 128
nb = N // BS
q, k, v = (torch.randn(B, H, N, D, device="cuda", dtype=torch.bfloat16) for _ in range(3))
idx, cnt = random_lists(B, H, nb, nb, nb, density, torch.int32,
                        torch.Generator().manual_seed(1), causal_rows=lambda r: r)
idx, cnt = idx.cuda(), cnt.cuda()
kern = attnir.load(os.path.join(BUNDLES, f"tiles_list_{variant}.bundle"))
kc = attnir.load(os.path.join(BUNDLES, f"tiles_causal_{variant}.bundle"))
for _ in range(2):
    kern(q, k, v, idx, cnt)
for _ in range(2):
    kc(q, k, v)
torch.cuda.synchronize()
