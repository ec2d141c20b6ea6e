#!/usr/bin/env python3
"""Here (no GPU needed): compiles DSA's whole step for bench/gpu/dsa.py into
bench/gpu/bundles/dsa_*.bundle (carry the folder): examples/dsa_indexer.mlir
in bf16 (q, k, v, qi; ki and the head weights w stay f32) with D = 128
query heads over one KV head: the lightning indexer (4 heads of 64),
top-2048 keys per query by the warp radix select, attention over them); and
AttnIR's causal attention at the same shape (MQA) for scale; and the
indexer alone returning its matrix (index_only, which bench/gpu/dsa_ab.py
checks against float64).

usage: python3 bench/gpu/build_dsa.py [--attnc build/bin/attnc]
"""
import os

from build_select import ROOT, bf16
from build_sparse import build_all

T = "tensor<?x?x?x128xbf16>"
DSA = bf16(open(os.path.join(ROOT, "examples", "dsa_indexer.mlir")).read()).replace(
    "tensor<?x?x?x64xbf16>", T)
CAUSAL = (f"func.func @f(%q: {T}, %k: {T}, %v: {T}) -> {T} {{\n"
          f"  %o = attn.attention %q, %k, %v mask(#attn.causal) : ({T}, {T}, {T}) -> {T}\n"
          f"  return %o : {T}\n}}\n")

INDEX_ONLY = """func.func @index_only(%qi: tensor<?x4x?x64xbf16>, %ki: tensor<?x?x64xf32>,
                          %w: tensor<?x?x4xf32>) -> tensor<?x1x?x?xf32> {
  %s = attn.index_scores %qi, %ki, %w causal
       : (tensor<?x4x?x64xbf16>, tensor<?x?x64xf32>, tensor<?x?x4xf32>) -> tensor<?x1x?x?xf32>
  return %s : tensor<?x1x?x?xf32>
}
"""

if __name__ == "__main__":
    build_all({"dsa_d128": (DSA, ""), "dsa_causal_d128": (CAUSAL, ""),
               "index_only": (INDEX_ONLY, "")})
