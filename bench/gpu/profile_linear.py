#!/usr/bin/env python3
"""On the GPU machine: one call of a chunked attn.linear bundle at a given
shape, for ncu (docs/benchmarks/linear-gpu.md's profile):

  ncu --launch-skip 1 --launch-count 1 -k regex:linear__s0 --section SpeedOfLight \
      --section Occupancy --section WarpStateStats --section LaunchStats \
      python3 bench/gpu/profile_linear.py linear_loggate_bf16_d128 4 16 16384
"""
import sys

import torch

from linear import inputs, load

name, B, H, N = sys.argv[1], *map(int, sys.argv[2:5])
kern = load(name)
args = inputs(kern, B, H, N, seed=1)
for _ in range(2):
    kern(*args)
torch.cuda.synchronize()
