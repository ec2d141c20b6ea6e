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
SPECS["rules_document_d128"] = (doc_spec("f", 128), "")

if __name__ == "__main__":
    build_all(SPECS)
