#!/usr/bin/env python3
"""Here (no GPU needed): the tile variants bench/gpu/sparse_tiles.py times
for block lists and causal attention (bf16, D = 128, 128 x 128 lists):
consumer warps, key block, copy stages, blocks per SM (ctas-per-sm) and
the persistent grid (persistent=1). Also the lists without a mask that
bench/gpu/sparse_short.py times (short_list_*: default, persistent, two
blocks per SM), and chunked<128 k> masks (short_chunk_k: each tile visits
its chunk's k blocks, all full, with no list to read).
Bundles go to bench/gpu/bundles/tiles_*.bundle and short_*.bundle.

usage: python3 bench/gpu/build_sparse_tiles.py [--attnc build/bin/attnc]
"""
from build_sparse import build_all, causal_spec, list_spec, mask_spec

# variant -> cuda options ("" is the default the compiler picks)
VARIANTS = {
    "default": "",
    "persistent": "persistent=1",
    "w4_k128_s2": "warps=4 key-block=128 stages=2",
    "w4_k64_ctas2": "warps=4 key-block=64 stages=2 ctas-per-sm=2",
    "w4_k128_s1_ctas2": "warps=4 key-block=128 stages=1 ctas-per-sm=2",
    # Without the ping-pong turns (each warpgroup issues its MMAs when
    # ready): on short tiles the second warpgroup's turn lags the first's
    # by 0.8-1.4 us per tile (tile_trace.py).
    "pp0": "ping-pong=0",
    "persistent_pp0": "persistent=1 ping-pong=0",
    "k64": "key-block=64",
}

SPECS = {}
for _v, _opts in VARIANTS.items():
    SPECS[f"tiles_list_{_v}"] = (list_spec("f", 128, 128, 128, True), _opts)
    SPECS[f"tiles_causal_{_v}"] = (causal_spec("f", 128), _opts)
    if _v in ("default", "persistent", "w4_k64_ctas2"):
        SPECS[f"short_list_{_v}"] = (list_spec("f", 128, 128, 128, False), _opts)

for _k in (1, 2, 4, 8, 16):
    SPECS[f"short_chunk_{_k}"] = (mask_spec("f", 128, f"#attn.chunked<{128 * _k}>"), "")

# Measuring builds for bench/gpu/tile_trace.py: each tile's phase stamps.
for _v, _opts in (("default", ""), ("persistent", "persistent=1")):
    _t = (_opts + " trace-tiles=1").strip()
    SPECS[f"trace_list_{_v}"] = (list_spec("f", 128, 128, 128, False), _t)
    SPECS[f"trace_chunk2_{_v}"] = (mask_spec("f", 128, "#attn.chunked<256>"), _t)
    SPECS[f"trace_causal_{_v}"] = (causal_spec("f", 128), _t)

if __name__ == "__main__":
    build_all(SPECS)
