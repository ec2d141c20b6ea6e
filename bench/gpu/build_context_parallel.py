#!/usr/bin/env python3
"""Here (no GPU needed): compiles the programs bench/gpu/context_parallel.py
runs on several H200s into bench/gpu/bundles/cp_*.bundle (carry the folder):
the ring's per-device programs (attnir.distributed.ring_spec: dense, causal,
block-list and merge entries) in bf16 with D = 128 and blocks of 128, and
causal attention for the head (all-to-all) schedule and the single-GPU
anchor.

usage: python3 bench/gpu/build_context_parallel.py [--attnc build/bin/attnc]
"""
import os
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(ROOT, "python"))
from attnir.distributed._specs import ring_spec  # noqa: E402  (pure Python)
from attnir.patterns import causal  # noqa: E402
from build_sparse import build_all  # noqa: E402

SPECS = {
    "cp_ring_bf16_d128": (ring_spec(128, "bf16", block_size=(128, 128)), ""),
    "cp_causal_bf16_d128": (causal(head_dim=128, dtype="bf16"), ""),
}

if __name__ == "__main__":
    build_all(SPECS)
