"""On the GPU machine, under ncu: the routing program's attention kernel
with gathered rows against the same kernel on pre-permuted copies (TMA),
both `warps=4 key-block=64 ctas-per-sm=3` (bundles from
bench/gpu/build_routing.py), at the timing shape of routing.py (bf16, B =
1, H = 32, N = 16384, D = 64, C = 16). Each program runs twice (ncu
profiles the second launch of the kernels it names).

  ncu --launch-skip 1 --launch-count 1 -k regex:'routing__s(1|4)$' \\
      --set full python3 bench/gpu/profile_routing.py [variant ...]
"""
import os
import sys

import torch

import attnir

HERE = os.path.dirname(os.path.abspath(__file__))
BUNDLES = os.path.join(HERE, "bundles")

variants = sys.argv[1:] or ["w4_k64_ctas3"]
B, H, N, D, C = 1, 32, 16384, 64, 16
gen = torch.Generator(device="cuda").manual_seed(1)
q, k, v = (torch.randn(B, H, N, D, device="cuda", generator=gen, dtype=torch.bfloat16)
           for _ in range(3))
mu = torch.randn(H, C, D, device="cuda", generator=gen, dtype=torch.bfloat16)
for name in variants:
    # "default": the program as build_routing.py builds it by default.
    suffix = "" if name == "default" else "_" + name
    kern = attnir.load(os.path.join(BUNDLES, f"routing_bench_c16_chunks{suffix}.bundle"))
    for _ in range(2):
        kern(q, k, v, mu)
    torch.cuda.synchronize()
