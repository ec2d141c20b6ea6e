#!/usr/bin/env python3
"""Here (no GPU needed): compiles the routing examples (issue 21:
routing_kmeans, reformer_lsh) in bf16 for both CUDA kernels (Hopper, the
sm_90a default; mma.sync: chip=sm_90), the bare routes (their permutations
are compared bit for bit with the reference's), and the benchmark's
balanced k-means routing (C = 16, bench/routing_specs.py) with the causal
attention it is timed against, into bench/gpu/bundles/routing_*.bundle.
bench/gpu/routing.py checks and times them.

usage: python3 bench/gpu/build_routing.py [--attnc build/bin/attnc]
"""
import os
import re
import sys

from build_sparse import OUT as BUNDLES, build_all

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(ROOT, "bench"))
from routing_specs import (causal_spec, routing_chunked_spec, routing_spec,  # noqa: E402
                           sorted_attention_spec)


def example(name):
    with open(os.path.join(ROOT, "examples", name + ".mlir")) as f:
        return f.read().replace("x64xf32>", "x64xbf16>")


def route_spec(how, mu=""):
    t, p = "tensor<?x?x?x64xbf16>", "tensor<?x?x?xi32>"
    arg = f", %mu: tensor<?x{mu}x64xbf16>" if mu else ""
    types = t + (f", tensor<?x{mu}x64xbf16>" if mu else "")
    return (f"func.func @route(%x: {t}{arg}) -> ({p}, {p}) {{\n"
            f"  %p, %b = attn.route %x {how} : ({types}) -> ({p}, {p})\n"
            f"  return %p, %b : {p}, {p}\n}}\n")


SPECS = {}
for _name in ("routing_kmeans", "routing_chunks", "reformer_lsh", "landmark", "hyper_lsh"):
    SPECS[f"routing_hop_{_name}"] = (example(_name), "")
    SPECS[f"routing_sync_{_name}"] = (example(_name), "chip=sm_90")
# Rows gathered by one-row TMA boxes (gather-tma=1), checked like the rest.
for _name in ("routing_chunks", "reformer_lsh"):
    SPECS[f"routing_hop_{_name}_gtma"] = (example(_name), "gather-tma=1")
SPECS["routing_hop_landmark_all"] = (example("landmark").replace(" topk(4)", ""), "")
SPECS["routing_route_kmeans16"] = (route_spec("centroids(%mu)", 16), "")
# f32 rows: the bucket kernel's float32 fma screen (bf16/f16 rows use the
# tensor-core one).
SPECS["routing_route_kmeans16_f32"] = (route_spec("centroids(%mu)", 16).replace("bf16", "f32"), "")
SPECS["routing_route_lsh8"] = (route_spec("lsh(8, 7)"), "")
SPECS["routing_route_lsh12"] = (route_spec("lsh(12, 3)"), "")
SPECS["routing_route_kmeans16_chunks"] = (route_spec("centroids(%mu) chunks(16)", 16), "")
SPECS["routing_route_lsh8_chunks"] = (route_spec("lsh(8, 7) chunks(5)"), "")
SPECS["routing_sample_gather"] = ("""
func.func @f(%x: tensor<?x?x?x64xbf16>, %y: tensor<?x?x?x64xbf16>)
    -> (tensor<?x?x256xi32>, tensor<?x?x256x64xbf16>) {
  %r = attn.sample %x per %y count(256) seed(1099511627781)
      : (tensor<?x?x?x64xbf16>, tensor<?x?x?x64xbf16>) -> tensor<?x?x256xi32>
  %g = attn.gather %x at %r : (tensor<?x?x?x64xbf16>, tensor<?x?x256xi32>) -> tensor<?x?x256x64xbf16>
  return %r, %g : tensor<?x?x256xi32>, tensor<?x?x256x64xbf16>
}
""", "")
SPECS["routing_bench_c16"] = (routing_spec(64, 16, "bf16"), "")
SPECS["routing_bench_c16_chunks"] = (routing_chunked_spec(64, 16, "bf16"), "")
SPECS["routing_causal_d64"] = (causal_spec(64, "bf16"), "")
# The attention step alone: with the perm rule, without a rule, with the
# built-in causal rule in the routed order (what a cheap rule would cost).
SPECS["routing_sorted_rule"] = (sorted_attention_spec(64, 16, True, "bf16"), "")
SPECS["routing_sorted_norule"] = (sorted_attention_spec(64, 16, False, "bf16"), "")
SPECS["routing_sorted_causal"] = (sorted_attention_spec(64, 16, None, "bf16"), "")
SPECS["routing_sorted_index"] = (sorted_attention_spec(64, 16, True, "bf16", region="index"), "")

# The routing program with other shapes of the attention kernel (short
# tiles: 4.5 key blocks per query tile): timed by routing.py's variants.
ATTENTION_VARIANTS = {
    "persistent": "persistent=1",
    "k64": "key-block=64",
    "w12": "warps=12",
    "w4_k128_ctas2": "warps=4 key-block=128 stages=2 ctas-per-sm=2",
    "w4_k64_ctas2": "warps=4 key-block=64 stages=2 ctas-per-sm=2",
    # Two blocks per SM, each a ping-pong pair of consumer warpgroups on
    # 64-key blocks (104 registers each at D = 64: a few spilled words).
    "w8_k64_ctas2": "warps=8 key-block=64 stages=2 ctas-per-sm=2",
    # The permutes of q, k, v and of the result as steps of their own (the
    # default does them in the attention kernel's copies and stores).
    "nogather": "fuse-gather=0",
    # Three or four blocks per SM, each one consumer warpgroup on 64-key
    # blocks: more independent tiles to hide each tile's serial start and
    # epilogue under the others' MMAs.
    "w4_k64_ctas3": "warps=4 key-block=64 ctas-per-sm=3",
    "w4_k64_ctas3_s3": "warps=4 key-block=64 stages=3 ctas-per-sm=3",
    "w4_k64_ctas3_nogather": "warps=4 key-block=64 ctas-per-sm=3 fuse-gather=0",
    "w4_k64_ctas4_nogather": "warps=4 key-block=64 ctas-per-sm=4 fuse-gather=0",
    "w4_k64_ctas2_nogather": "warps=4 key-block=64 ctas-per-sm=2 fuse-gather=0",
    # Gathered rows by one-row TMA boxes from one producer warp.
    "gtma": "gather-tma=1",
    "k128_gtma": "warps=8 key-block=128 gather-tma=1",
}
for _v, _opts in ATTENTION_VARIANTS.items():
    SPECS[f"routing_bench_c16_chunks_{_v}"] = (routing_chunked_spec(64, 16, "bf16"), _opts)

def without_head_views(name, to):
    """`name`'s bundle with its steps' "view" words taken out: the same
    kernels, every attn.split_heads / join_heads part copied whatever B is
    (what the runtime did before HeadViews), for timing both in one process."""
    path = os.path.join(BUNDLES, name + ".bundle")
    data = open(path, "rb").read()
    body = data[:data.rindex(b"checksum ")]
    head, obj = body.split(b"\nobject ", 1)
    head = re.sub(rb" view (split|join) \d+ \d+ \d+", b"", head)
    body = head + b"\nobject " + obj
    h = 1469598103934665603
    for c in body:  # FNV-1a 64, as lib/Runtime/Bundle.cpp
        h = ((h ^ c) * 1099511628211) & 0xFFFFFFFFFFFFFFFF
    open(os.path.join(BUNDLES, to + ".bundle"), "wb").write(body + b"checksum %016x\n" % h)
    print(f"built {to} (copies)")


if __name__ == "__main__":
    build_all(SPECS)
    without_head_views("routing_hop_routing_kmeans", "routing_hop_routing_kmeans_copies")
