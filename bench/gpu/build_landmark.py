#!/usr/bin/env python3
"""Here (no GPU needed): compiles attn.landmark (examples/landmark.mlir,
issue 21) for CUDA into bench/gpu/bundles/landmark_*.bundle: the tiled
kernel's forms (bf16 top 4 by blocks and by query tiles, every block, f16
top 8 at D = Dv = 128, bf16 Dv = 32, bf16 D = 32 with Dv = 64) and the row kernel's (f32; block 32), with the causal attention
the benchmark compares against. bench/gpu/landmark.py checks and times them.

usage: python3 bench/gpu/build_landmark.py [--attnc build/bin/attnc]
"""
import os
import re
import sys

from build_sparse import build_all

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(ROOT, "bench"))
from routing_specs import causal_spec  # noqa: E402


def landmark(elt="bf16", d=64, dv=64, topk=4, block=64):
    with open(os.path.join(ROOT, "examples", "landmark.mlir")) as f:
        text = f.read()
    # q, k and landmarks carry D, v and out Dv (in that order of appearance
    # in each type list: v is the third operand, out the first result).
    text = text.replace("x64xf32>", f"x{d}x{elt}>")
    text = re.sub(r"(%v: tensor<\?x\?x\?x)\d+x\w+>", rf"\g<1>{dv}x{elt}>", text)
    text = text.replace(f"tensor<?x?x?x{d}x{elt}>, tensor<?x?x?x{d}x{elt}>,\n         tensor",
                        f"tensor<?x?x?x{d}x{elt}>, tensor<?x?x?x{dv}x{elt}>,\n         tensor")
    text = re.sub(r"-> \(tensor<\?x\?x\?x\d+x\w+>, tensor<\?x\?x\?xf32>\)",
                  f"-> (tensor<?x?x?x{dv}x{elt}>, tensor<?x?x?xf32>)", text)
    text = re.sub(r"return %o, %lse : tensor<\?x\?x\?x\d+x\w+>",
                  f"return %o, %lse : tensor<?x?x?x{dv}x{elt}>", text)
    text = text.replace("block(64)", f"block({block})")
    text = text.replace(" topk(4)", f" topk({topk})" if topk else "")
    return text


SPECS = {
    "landmark_bf16_k4": (landmark(), ""),
    "landmark_bf16_all": (landmark(topk=None), ""),
    "landmark_f16_k8_d128": (landmark("f16", 128, 128, 8), ""),
    "landmark_bf16_k1_dv32": (landmark(dv=32, topk=1), ""),
    # Dv > D + 8: the units kernel's global-store form (units wider than
    # the query rows they would be written over).
    "landmark_bf16_k2_d32_dv64": (landmark(d=32, dv=64, topk=2), ""),
    # K not a multiple of 4: the selection's bound from 4 lanes' maxima
    # (K = 3) and from their two best (K = 6); part of a row's lanes store.
    "landmark_bf16_k3": (landmark(topk=3), ""),
    "landmark_bf16_k6": (landmark(topk=6), ""),
    "landmark_sync_k4": (landmark(), "chip=sm_90"),
    # By query tiles (the fused kernel), against the by-blocks default.
    "landmark_tiles_k4": (landmark(), "landmark-split=0"),
    # The row kernel: f32, and a block size the tiles do not take.
    "landmark_row_f32_k4": (landmark("f32"), ""),
    "landmark_row_bf16_b32": (landmark(block=32), ""),
    "landmark_causal_d64": (causal_spec(64, "bf16"), ""),
    # One-block groups (landmark-split=2: each block's entries padded to
    # whole groups of 64, a units block stages one block): timed against
    # the default in one process (landmark.py's landmark_var_*), and
    # checked at K = 3 and at f16 D = Dv = 128 top 8.
    "landmark_var_one_block": (landmark(), "landmark-split=2"),
    "landmark_one_bf16_k3": (landmark(topk=3), "landmark-split=2"),
    "landmark_one_f16_k8_d128": (landmark("f16", 128, 128, 8), "landmark-split=2"),
}

if __name__ == "__main__":
    build_all(SPECS)
