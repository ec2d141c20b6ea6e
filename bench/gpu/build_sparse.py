#!/usr/bin/env python3
"""Here (no GPU needed): compiles the block-sparse specs bench/gpu/sparse.py
checks and times into bench/gpu/bundles/sparse_*.bundle (carry the folder to
the GPU machine). Both CUDA kernels (Hopper: the sm_90a default; mma.sync:
chip=sm_90), D = 64 and 128, list block sizes from 16 x 32 to 256 x 128,
i32 and i64 lists, with and without a causal mask, and the causal kernel
the sparse timings are compared with.

usage: python3 bench/gpu/build_sparse.py [--attnc build/bin/attnc]
"""
import argparse
import os
import subprocess

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
OUT = os.path.join(ROOT, "bench", "gpu", "bundles")


def list_spec(name, d, bq, bk, causal, itype="i32", lse=False):
    t = f"tensor<?x?x?x{d}xbf16>"
    ki, kc = f"tensor<?x?x?x?x{itype}>", f"tensor<?x?x?x{itype}>"
    res = f"{t}, tensor<?x?x?xf32>" if lse else t
    outs = "%o, %lse" if lse else "%o"
    mask = " mask(#attn.causal)" if causal else ""
    return (f"func.func @{name}(%q: {t}, %k: {t}, %v: {t}, %kv_indices: {ki}, "
            f"%kv_counts: {kc}) -> ({res}) {{\n"
            f"  {outs} = attn.attention %q, %k, %v blocks(%kv_indices, %kv_counts) "
            f"block_size({bq}, {bk}){mask} : ({t}, {t}, {t}, {ki}, {kc}) -> ({res})\n"
            f"  return {outs} : {res}\n}}\n")


def causal_spec(name, d):
    t = f"tensor<?x?x?x{d}xbf16>"
    return (f"func.func @{name}(%q: {t}, %k: {t}, %v: {t}) -> {t} {{\n"
            f"  %o = attn.attention %q, %k, %v mask(#attn.causal) : ({t}, {t}, {t}) -> {t}\n"
            f"  return %o : {t}\n}}\n")


def mask_spec(name, d, mask):
    t = f"tensor<?x?x?x{d}xbf16>"
    return (f"func.func @{name}(%q: {t}, %k: {t}, %v: {t}) -> {t} {{\n"
            f"  %o = attn.attention %q, %k, %v mask({mask}) : ({t}, {t}, {t}) -> {t}\n"
            f"  return %o : {t}\n}}\n")


def doc_spec(name, d):
    t, i = f"tensor<?x?x?x{d}xbf16>", "tensor<?x?xi32>"
    return (f"func.func @{name}(%q: {t}, %k: {t}, %v: {t}, %q_doc: {i}, %k_doc: {i}) -> {t} {{\n"
            f"  %o = attn.attention %q, %k, %v segments(%q_doc, %k_doc) "
            f"mask(#attn.all_of<[#attn.causal, #attn.segments]>) : ({t}, {t}, {t}, {i}, {i}) -> {t}\n"
            f"  return %o : {t}\n}}\n")


# The mask zoo (issue 14): name -> mask; checked on both kernels at D = 64
# and 128 by sparse.py against its own element rules.
ZOO = {
    "sink_window": "#attn.all_of<[#attn.causal, #attn.any_of<[#attn.window<255, 0>, #attn.sink<4>]>]>",
    "prefix_lm": "#attn.prefix<100>",
    "dilated": "#attn.dilated<2, 128>",
    "chunked": "#attn.all_of<[#attn.chunked<128>, #attn.causal]>",
    "global": "#attn.global<40>",
    "not_window": "#attn.not<#attn.window<100, 100>>",
}

# name -> (spec, cuda options)
SPECS = {
    "sparse_hop_d128_128x128_causal": (list_spec("f", 128, 128, 128, True), ""),
    "sparse_hop_d128_128x128": (list_spec("f", 128, 128, 128, False, lse=True), ""),
    "sparse_hop_d128_256x128_causal": (list_spec("f", 128, 256, 128, True), ""),
    "sparse_hop_d64_64x64_causal_i64": (list_spec("f", 64, 64, 64, True, "i64"), ""),
    "sparse_sync_d128_128x128_causal": (list_spec("f", 128, 128, 128, True), "chip=sm_90"),
    "sparse_sync_d64_64x64": (list_spec("f", 64, 64, 64, False, lse=True), "chip=sm_90"),
    "sparse_sync_d64_16x32_causal": (list_spec("f", 64, 16, 32, True), ""),
    "sparse_sync_d128_32x16_i64": (list_spec("f", 128, 32, 16, False, "i64"), ""),
    "sparse_causal_d128": (causal_spec("f", 128), ""),
    # Timed next to FlexAttention (N = 16384, D = 128).
    "zoo_time_sink_window": (mask_spec("f", 128, "#attn.all_of<[#attn.causal, #attn.any_of<[#attn.window<1023, 0>, #attn.sink<4>]>]>"), ""),
    "zoo_time_prefix_lm": (mask_spec("f", 128, "#attn.prefix<2048>"), ""),
}
SPECS["zoo_time_document"] = (doc_spec("f", 128), "")
for _d in (64, 128):
    SPECS[f"doc_hop_d{_d}"] = (doc_spec("f", _d), "")
    SPECS[f"doc_sync_d{_d}"] = (doc_spec("f", _d), "chip=sm_90")
for _name, _mask in ZOO.items():
    for _d in (64, 128):
        SPECS[f"zoo_hop_d{_d}_{_name}"] = (mask_spec("f", _d, _mask), "")
        SPECS[f"zoo_sync_d{_d}_{_name}"] = (mask_spec("f", _d, _mask), "chip=sm_90")


def build_all(specs):
    """Writes each spec next to its bundle and compiles it for CUDA:
    specs = {name: (text, cuda options)}."""
    ap = argparse.ArgumentParser()
    ap.add_argument("--attnc", default=os.path.join(ROOT, "build", "bin", "attnc"))
    args = ap.parse_args()
    os.makedirs(OUT, exist_ok=True)
    for name, (text, opts) in specs.items():
        src = os.path.join(OUT, name + ".mlir")
        with open(src, "w") as f:
            f.write(text)
        cmd = [args.attnc, "compile", src, "--target", "cuda", "--emit", "bundle",
               "-o", os.path.join(OUT, name + ".bundle")]
        if opts:
            cmd += ["--cuda-options", opts]
        subprocess.run(cmd, check=True)
        print("built", name, opts)


if __name__ == "__main__":
    build_all(SPECS)
