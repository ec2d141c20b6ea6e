#!/usr/bin/env python3
"""Here (no GPU needed): compiles the rule-region examples (softcap, alibi,
t5_bias, document_region; issue 18) in bf16 at D = 64 and 128 for both CUDA
kernels (Hopper: the sm_90a default; mma.sync: chip=sm_90), and the built-in
causal and document-mask kernels they are timed against, into
bench/gpu/bundles/rules_*.bundle. bench/gpu/rules.py checks and times them.

usage: python3 bench/gpu/build_rules.py [--attnc build/bin/attnc]
"""
import os

from build_sparse import build_all, causal_spec, doc_spec

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
EXAMPLES = ["softcap", "alibi", "t5_bias", "document_region"]


def example(name, d):
    """examples/NAME.mlir in bf16 at head dim d (rule scalars stay f32)."""
    with open(os.path.join(ROOT, "examples", name + ".mlir")) as f:
        return f.read().replace("x64xf32>", f"x{d}xbf16>")


SPECS = {}
for _d in (64, 128):
    for _name in EXAMPLES:
        SPECS[f"rules_hop_d{_d}_{_name}"] = (example(_name, _d), "")
        SPECS[f"rules_sync_d{_d}_{_name}"] = (example(_name, _d), "chip=sm_90")
SPECS["rules_causal_d128"] = (causal_spec("f", 128), "")


def block_table_spec(d, block=128):
    """A data-dependent region: causal, and table[h, i / block, j / block] != 0
    for an i32 per-head block table (the block-map cost benchmark)."""
    t, i = f"tensor<?x?x?x{d}xbf16>", "tensor<?x?x?xi32>"
    return (f"func.func @block_table(%q: {t}, %k: {t}, %v: {t}, %table: {i}) -> {t} {{\n"
            f"  %o = attn.attention %q, %k, %v rules(%table) mask(#attn.causal) mask_rule {{\n"
            f"  ^bb0(%b: index, %h: index, %i: index, %j: index, %tb: {i}):\n"
            f"    %c = arith.constant {block} : index\n"
            f"    %qb = arith.divsi %i, %c : index\n"
            f"    %kb = arith.divsi %j, %c : index\n"
            f"    %x = tensor.extract %tb[%h, %qb, %kb] : {i}\n"
            f"    %z = arith.constant 0 : i32\n"
            f"    %keep = arith.cmpi ne, %x, %z : i32\n"
            f"    attn.yield %keep : i1\n"
            f"  }} : ({t}, {t}, {t}, {i}) -> {t}\n"
            f"  return %o : {t}\n}}\n")


SPECS["rules_block_table_d128"] = (block_table_spec(128), "")


def row_rules_spec(d):
    """Rules on the warp-per-row kernel: a per-query-token list of 8-key
    blocks (block_size(1, 8)), causal, a mask rule dropping every third
    key of odd heads, a tanh softcap score rule."""
    t, l3, l4 = f"tensor<?x?x?x{d}xbf16>", "tensor<?x?x?xi32>", "tensor<?x?x?x?xi32>"
    return (f"func.func @row_rules(%q: {t}, %k: {t}, %v: {t}, %idx: {l4}, %cnt: {l3}) -> {t} {{\n"
            f"  %o = attn.attention %q, %k, %v blocks(%idx, %cnt) block_size(1, 8) mask(#attn.causal)\n"
            f"       mask_rule {{\n"
            f"  ^bb0(%b: index, %h: index, %i: index, %j: index):\n"
            f"    %c2 = arith.constant 2 : index\n"
            f"    %c3 = arith.constant 3 : index\n"
            f"    %c0 = arith.constant 0 : index\n"
            f"    %hodd = arith.remui %h, %c2 : index\n"
            f"    %jm = arith.remui %j, %c3 : index\n"
            f"    %even = arith.cmpi eq, %hodd, %c0 : index\n"
            f"    %keepj = arith.cmpi ne, %jm, %c0 : index\n"
            f"    %keep = arith.ori %even, %keepj : i1\n"
            f"    attn.yield %keep : i1\n"
            f"  }} score_rule {{\n"
            f"  ^bb0(%s: f32, %b: index, %h: index, %i: index, %j: index):\n"
            f"    %c = arith.constant 5.0 : f32\n"
            f"    %x = arith.divf %s, %c : f32\n"
            f"    %y = math.tanh %x : f32\n"
            f"    %z = arith.mulf %y, %c : f32\n"
            f"    attn.yield %z : f32\n"
            f"  }} : ({t}, {t}, {t}, {l4}, {l3}) -> {t}\n"
            f"  return %o : {t}\n}}\n")


SPECS["rules_row_d64"] = (row_rules_spec(64), "")
SPECS["rules_document_d128"] = (doc_spec("f", 128), "")

if __name__ == "__main__":
    build_all(SPECS)
