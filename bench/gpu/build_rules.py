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
SPECS["rules_document_d128"] = (doc_spec("f", 128), "")

if __name__ == "__main__":
    build_all(SPECS)
