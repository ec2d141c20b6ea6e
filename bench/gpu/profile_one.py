#!/usr/bin/env python3
"""Forward calls for ncu (bench/gpu/profile.sh): AttnIR's bench_<mask>_d<D>
bundle and, for comparison, SDPA's flash and cuDNN backends, bf16, B=8,
H=16, N=4096 (two calls each; profile.sh picks one by kernel name)."""
import os
import sys

import torch
import torch.nn.functional as F

import attnir

mask, D = sys.argv[1], int(sys.argv[2])
B, H, N = 8, 16, 4096
q, k, v = (torch.randn(B, H, N, D, device="cuda", dtype=torch.bfloat16) for _ in range(3))
kern = attnir.load(os.path.join(os.path.dirname(__file__), "bundles", f"bench_{mask}_d{D}.bundle"))
for _ in range(2):
    kern(q, k, v)
from torch.nn.attention import SDPBackend, sdpa_kernel
for backend in (SDPBackend.FLASH_ATTENTION, SDPBackend.CUDNN_ATTENTION):
    with sdpa_kernel(backend):
        for _ in range(2):
            F.scaled_dot_product_attention(q, k, v, is_causal=mask == "causal")
torch.cuda.synchronize()
