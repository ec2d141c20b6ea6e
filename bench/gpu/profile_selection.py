#!/usr/bin/env python3
"""On the GPU machine: per-kernel times of the SeerAttention-setting
selection program (select_seer_selection.bundle) and the whole step, from
the CUDA profiler (CUPTI sees the driver-API launches).

  PYTHONPATH=<runtime-only site> python3 bench/gpu/profile_selection.py
"""
import os

import torch
from torch.profiler import ProfilerActivity, profile

import attnir

HERE = os.path.dirname(os.path.abspath(__file__))
B, H, N, D = 1, 32, 32768, 128
q, k, v = (torch.randn(B, H, N, D, device="cuda", dtype=torch.bfloat16) for _ in range(3))
for name in ("select_seer_selection", "select_seer"):
    kern = attnir.load(os.path.join(HERE, "bundles", name + ".bundle"))
    for _ in range(3):
        kern(q, k, v)
    torch.cuda.synchronize()
    with profile(activities=[ProfilerActivity.CUDA]) as prof:
        for _ in range(10):
            kern(q, k, v)
        torch.cuda.synchronize()
    print(name)
    print(prof.key_averages().table(sort_by="cuda_time_total", row_limit=10))
