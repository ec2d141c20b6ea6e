"""On the GPU machine, under ncu: landmark retrieval by blocks
(bench/gpu/bundles/landmark_bf16_k4.bundle from bench/gpu/build_landmark.py)
at the timing shape of landmark.py (bf16, B = 1, H = 8, N = 32768, D = 64,
top 4, independent random rows). The program runs twice (ncu profiles the
second launch of the kernels it names).

  ncu --launch-skip 1 --launch-count 2 -k regex:'landmark__s0_c(1|4)$' \\
      --section SpeedOfLight --section Occupancy --section WarpStateStats \\
      python3 bench/gpu/profile_landmark.py [bundle]
"""
import os
import sys

import torch

import attnir

HERE = os.path.dirname(os.path.abspath(__file__))
name = sys.argv[1] if len(sys.argv) > 1 else "landmark_bf16_k4"
kern = attnir.load(os.path.join(HERE, "bundles", name + ".bundle"))
B, H, N, D = 1, 8, 32768, 64
gen = torch.Generator(device="cuda").manual_seed(1)
q, k, v = (torch.randn(B, H, N, D, device="cuda", generator=gen, dtype=torch.bfloat16)
           for _ in range(3))
lk = torch.randn(B, H, N // 64, D, device="cuda", generator=gen, dtype=torch.bfloat16)
for _ in range(2):
    kern(q, k, v, lk)
torch.cuda.synchronize()
