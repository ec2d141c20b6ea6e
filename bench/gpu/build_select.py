#!/usr/bin/env python3
"""Here (no GPU needed): compiles the selection programs bench/gpu/selection.py
checks and times into bench/gpu/bundles/select_*.bundle (carry the folder
to the GPU machine): the selection examples in bf16 (topk_blocks, longheads,
dhsa, segment_pool_cross, pointer, seer_block_sparse, and the per-token and
token-level lists of moba, sea_topk, recycled_topk, dare_topk_retrieval and
nsa, which run a warp per query row), check programs that also return the
selected list (topk and threshold, both kernels, i32 and i64, GQA sharing,
feature maps), and the
SeerAttention setting (D = 128, blocks of 128, top 10 % of the blocks) as a
whole step and as its selection alone, with AttnIR's causal kernel.

usage: python3 bench/gpu/build_select.py [--attnc build/bin/attnc]
"""
import os
import re

from build_bundles import gates_like_outputs
from build_sparse import build_all

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def bf16(text):
    """An f32 example in bf16 (scores stay f32)."""
    return re.sub(r"(tensor<(?:[?\d]+x){3}\d+x)f32>", r"\1bf16>", text)


def program(name, d, bq, bk, policy, forced, width, itype="i32", share="",
            returns_list=True, attend=True, fmap=""):
    """pool(q), pool(k) by mean -> causal block scores -> select -> causal
    block-sparse attention; returns the output[, the list]."""
    t, s = f"tensor<?x?x?x{d}xbf16>", "tensor<?x?x?x?xf32>"
    i, c = f"tensor<?x?x?x{width}x{itype}>", f"tensor<?x?x?x{itype}>"
    rets, tys = [], []
    if attend:
        rets, tys = ["%o"], [t]
    if returns_list:
        rets += ["%idx", "%cnt"]
        tys += [i, c]
    shared = f" share({share})" if share else ""
    shared += f" feature_map({fmap})" if fmap else ""
    body = (f"func.func @{name}(%q: {t}, %k: {t}, %v: {t}) -> ({', '.join(tys)}) {{\n"
            f"  %qp = attn.pool %q block({bq}) kind(mean) : {t} -> {t}\n"
            f"  %kp = attn.pool %k block({bk}) kind(mean) : {t} -> {t}\n"
            f"  %s = attn.block_scores %qp, %kp causal(%q, %k) block_size({bq}, {bk}){shared}"
            f" : ({t}, {t}, {t}, {t}) -> {s}\n"
            f"  %idx, %cnt = attn.select %s {policy} {forced} : {s} -> ({i}, {c})\n")
    if attend:
        body += (f"  %o = attn.attention %q, %k, %v blocks(%idx, %cnt) block_size({bq}, {bk})"
                 f" mask(#attn.causal) : ({t}, {t}, {t}, {i}, {c}) -> {t}\n")
    return body + f"  return {', '.join(rets)} : {', '.join(tys)}\n}}\n"


def causal(d):
    t = f"tensor<?x?x?x{d}xbf16>"
    return (f"func.func @f(%q: {t}, %k: {t}, %v: {t}) -> {t} {{\n"
            f"  %o = attn.attention %q, %k, %v mask(#attn.causal) : ({t}, {t}, {t}) -> {t}\n"
            f"  return %o : {t}\n}}\n")


def with_list(text):
    """An example that also returns its selection (%idx, %cnt), so checks
    compare the selected ids, not only the output."""
    tys = re.search(r"attn\.select [^:]*:\s*\S+ -> \((tensor<[^>]*>), (tensor<[^>]*>)\)", text,
                    re.S).groups()
    ret = re.search(r"return %o : (tensor<[^>]*>)", text)
    text = text.replace(ret.group(0), f"return %o, %idx, %cnt : {ret.group(1)}, {tys[0]}, {tys[1]}")
    return re.sub(r"\) -> (tensor<[^>]*>) \{", rf") -> (\1, {tys[0]}, {tys[1]}) {{", text, count=1)


def merge_program(d, masks):
    """Two attentions over `masks`, merged; returns the out and the lse."""
    t, l = f"tensor<?x?x?x{d}xbf16>", "tensor<?x?x?xf32>"
    parts = "".join(
        f"  %o{p}, %l{p} = attn.attention %q, %k, %v mask({m}) : ({t}, {t}, {t}) -> ({t}, {l})\n"
        for p, m in enumerate(masks))
    return (f"func.func @f(%q: {t}, %k: {t}, %v: {t}) -> ({t}, {l}) {{\n{parts}"
            f"  %o, %lse = attn.merge %o0, %l0, %o1, %l1 : ({t}, {l}, {t}, {l}) -> ({t}, {l})\n"
            f"  return %o, %lse : {t}, {l}\n}}\n")


def specs():
    out = {}
    for ex in ("topk_blocks", "longheads", "dhsa", "segment_pool_cross", "pointer",
               "seer_block_sparse", "moba", "sea_topk", "recycled_topk",
               "dare_topk_retrieval", "nsa", "dsa_indexer", "split_kv_merge"):
        with open(os.path.join(ROOT, "examples", ex + ".mlir")) as f:
            out["select_example_" + ex] = (gates_like_outputs(bf16(f.read()), "bf16"), "")
    # topk above 16 cuts by the warp radix select by default; the `_argmax`
    # twins cut by k arg-max passes (select-radix=0): the examples whose
    # topk is above 16, and a block list with a real cut (20 of up to 63
    # blocks of 16).
    for ex in ("sea_topk", "recycled_topk", "dare_topk_retrieval", "dsa_indexer"):
        out[f"select_example_{ex}_argmax"] = (out["select_example_" + ex][0], "select-radix=0")
    # Token-level lists (64 of up to 1234 keys): the radix and the arg-max
    # cuts must pick the same ids (selection.py compares them).
    for ex in ("sea_topk", "dare_topk_retrieval"):
        listed = with_list(out["select_example_" + ex][0])
        out[f"select_list_{ex}"] = (listed, "")
        out[f"select_list_{ex}_argmax"] = (listed, "select-radix=0")
    out["select_check_topk20"] = (program("f", 64, 16, 16, "topk(20)", "first(1) local(1)", 22), "")
    out["select_check_topk20_argmax"] = (program("f", 64, 16, 16, "topk(20)", "first(1) local(1)",
                                                 22), "select-radix=0")
    out["select_check_topk_hop"] = (program("f", 64, 64, 64, "topk(3)", "first(1) local(1)", 5), "")
    out["select_check_topk_sync"] = (program("f", 64, 64, 64, "topk(3)", "first(1) local(1)", 5),
                                     "chip=sm_90")
    out["select_check_threshold_i64"] = (program("f", 128, 128, 128, "threshold(0.5)", "local(2)",
                                                 "?", "i64", share="max"), "")
    out["select_check_share_sum_last"] = (program("f", 64, 64, 128, "topk(2)", "first(1) last(1)", 4,
                                                  share="sum"), "")
    # local(n)'s start by ballots from the row's end (several chunks when
    # the local blocks reach past 32 positions; every legal block forced).
    out["select_check_local3"] = (program("f", 64, 16, 32, "topk(2)", "first(1) local(3)", 6), "")
    out["select_check_local40"] = (program("f", 64, 16, 16, "topk(1)", "local(40)", 41), "")
    out["select_check_local_all"] = (program("f", 64, 16, 32, "threshold(0.5)", "local(1048576)",
                                             "?"), "")
    out["select_check_elu1_share_max"] = (program("f", 64, 64, 64, "topk(3)", "local(1)", 4,
                                                  share="max", fmap="elu1"), "")
    # The SeerAttention setting: 128 x 128 blocks, 256 key blocks at N =
    # 32768, 24 + first + diagonal = 26 kept (about 10 %).
    out["select_seer"] = (program("f", 128, 128, 128, "topk(24)", "first(1) local(1)", 26,
                                  returns_list=False), "")
    out["select_seer_selection"] = (program("f", 128, 128, 128, "topk(24)", "first(1) local(1)", 26,
                                            attend=False), "")
    out["select_causal_d128"] = (causal(128), "")
    # Long pooled sums in f32 (selection.py's long_pool_check): the pool
    # adds in f64 and rounds once.
    x = "tensor<?x?x?x64xf32>"
    out["select_pool_long"] = (
        f"func.func @pool_long(%x: {x}) -> ({x}, {x}, {x}) {{\n"
        + "".join(f"  %{k} = attn.pool %x block(131072) kind({k}) : {x} -> {x}\n"
                  for k in ("mean", "sum", "mean_sqrt"))
        + f"  return %mean, %sum, %mean_sqrt : {x}, {x}, {x}\n}}\n", "")
    # attn.merge's bandwidth (bench/gpu/merge.py): two bf16 pairs.
    o, l = "tensor<?x?x?x128xbf16>", "tensor<?x?x?xf32>"
    out["merge_bw"] = (f"func.func @merge_bw(%a: {o}, %la: {l}, %b: {o}, %lb: {l}) -> ({o}, {l}) {{\n"
                       f"  %o, %lse = attn.merge %a, %la, %b, %lb : ({o}, {l}, {o}, {l}) -> ({o}, {l})\n"
                       f"  return %o, %lse : {o}, {l}\n}}\n", "")
    # attn.merge fused into the second attention's epilogue (fuse-merge,
    # the default) beside the merge as a step of its own: split-KV returning
    # the merged lse too, on the Hopper kernel and on mma.sync (chip=sm_90),
    # at D = 64 and 128; and halves of a diagonal window, which leave rows
    # past M empty in both parts (zeros and -inf, never NaN).
    halves = ("#attn.key_part<0, 2>", "#attn.key_part<1, 2>")
    diag = tuple(f"#attn.all_of<[{h}, #attn.window<0, 0>]>" for h in halves)
    for d in (64, 128):
        for suffix, options in (("", ""), ("_sync", "chip=sm_90"), ("_unfused", "fuse-merge=0")):
            out[f"select_merge_d{d}{suffix}"] = (merge_program(d, halves), options)
    # (merge_fused.py checks these: lse -inf where the reference has it.)
    out["merge_empty_rows"] = (merge_program(64, diag), "")
    out["merge_empty_rows_sync"] = (merge_program(64, diag), "chip=sm_90")
    # The attention half alone, on the selected list passed at run time.
    t, i, c = "tensor<?x?x?x128xbf16>", "tensor<?x?x?x26xi32>", "tensor<?x?x?xi32>"
    out["select_seer_attend"] = (
        f"func.func @f(%q: {t}, %k: {t}, %v: {t}, %idx: {i}, %cnt: {c}) -> {t} {{\n"
        f"  %o = attn.attention %q, %k, %v blocks(%idx, %cnt) block_size(128, 128)"
        f" mask(#attn.causal) : ({t}, {t}, {t}, {i}, {c}) -> {t}\n"
        f"  return %o : {t}\n}}\n", "")
    return out


if __name__ == "__main__":
    build_all(specs())
