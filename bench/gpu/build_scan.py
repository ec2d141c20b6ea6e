#!/usr/bin/env python3
"""Here (no GPU needed): compiles the attn.scan programs bench/gpu/scan.py
checks and times into bench/gpu/bundles/scan_*.bundle (carry the folder):
examples/aaren_scan.mlir in f32 and with bf16 k, v (D = 64, and D = 128
for the timings), a cumulative sum (one value per token) and the linear
recurrence h_t = a_t h_{t-1} + b_t as a two-component scan, and
examples/rat.mlir in bf16 with chunks of 16 and of 1 token.

usage: python3 bench/gpu/build_scan.py [--attnc build/bin/attnc]
"""
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
from build_sparse import build_all  # noqa: E402

AAREN = open(os.path.join(ROOT, "examples", "aaren_scan.mlir")).read()
RAT = open(os.path.join(ROOT, "examples", "rat.mlir")).read().replace("x64xf32>", "x64xbf16>")


def aaren(dtype, d):
    text = AAREN.replace("x64x1xf32", f"x{d}x1xf32").replace("x64xf32", f"x{d}x{dtype}")
    return text.replace("x64x", f"x{d}x")


def test_spec(name):
    """A spec of python/tests/test_scan.py (the module's constants)."""
    text = open(os.path.join(ROOT, "python", "tests", "test_scan.py")).read()
    start = text.index(name + ' = """') + len(name) + 6
    return text[start:text.index('"""', start)]


SPECS = {
    "scan_aaren_f32_d64": (aaren("f32", 64), ""),
    "scan_aaren_bf16_d64": (aaren("bf16", 64), ""),
    "scan_aaren_bf16_d128": (aaren("bf16", 128), ""),
    "scan_cumsum_f32": (test_spec("CUMSUM").replace("OUT", "f32"), ""),
    "scan_recurrence_f32": (test_spec("RECURRENCE"), ""),
    # RAT (bf16: its attention runs on tensor cores), and with chunks of one
    # token, which is causal attention (identity 7).
    "scan_rat_bf16": (RAT, ""),
    "scan_rat1_bf16": (RAT.replace("segment(16)", "segment(1)")
                       .replace("arith.constant 16 : index", "arith.constant 1 : index"), ""),
    # A window attention merged with a linear branch through its lse.
    "hybrid_window_linear_bf16": (open(os.path.join(
        ROOT, "examples", "hybrid_window_linear.mlir")).read().replace("x64xf32>", "x64xbf16>"),
        ""),
    # Titans' linear memory (the momentum rule of attn.linear).
    "titans_memory_bf16": (open(os.path.join(
        ROOT, "examples", "titans_memory.mlir")).read().replace("x64xf32>", "x64xbf16>"), ""),
    # NTK-Attention's prefix: attention, two projections, a merge with an
    # unnormalised term.
    "ntk_prefix_bf16": (open(os.path.join(ROOT, "examples", "ntk_prefix.mlir")).read()
                        .replace("x?x64xf32>", "x?x64xbf16>"),
                        ""),
}

if __name__ == "__main__":
    build_all(SPECS)
