#!/usr/bin/env python3
"""Here (no GPU needed): what bench/gpu/sanitize.sh runs under
compute-sanitizer on the GPU machine (issue 15, deliverable 6).

Every example in examples/, in f16 (the CUDA kernels compute on tensor
cores; .npy has no bf16, and attnir-run reads .npy), for both CUDA kernels
(Hopper: sm_90a, the default; mma.sync: chip=sm_90), with ragged inputs:
B = 2, Hq = 4, Hkv = 2 (GQA), N = 200, M = 333 (cross), random block lists
(64 x 64, per query head, duplicates, unused slots) and packed document ids.
Writes bench/gpu/bundles/san/: <example>_<kernel>.bundle, the inputs as
.npy, and manifest.json (bundle, inputs, number of outputs).

usage: [SAN_ONLY=substring,...] [SAN_ATTR=3,33] python3 bench/gpu/build_sanitize.py
       [--attnc build/bin/attnc]
(SAN_ONLY: only the examples whose names hold one of the substrings, for a
quick run on one family. SAN_ATTR: also each integer attribute of each
example set to each of these values, one at a time (scripts/
attribute_sweep.py's cases), on the Hopper kernel with the example's own
inputs; a variant the compiler refuses is left out.)
"""
import argparse
import json
import os
import re
import shutil
import subprocess
import sys

import numpy as np

from build_bundles import float_variant, gates_like_outputs, lacks_a_cuda_kernel

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
OUT = os.path.join(ROOT, "bench", "gpu", "bundles", "san")
KERNELS = {"hopper": "", "sync": "chip=sm_90"}
# topk above 16 cuts by the warp radix select by default (issue 16); the
# `argmax` kernel (k arg-max passes, select-radix=0) on the examples that
# keep more than 16 ids per row, the only ones whose selection it changes.
ARGMAX = ("argmax", "select-radix=0")
# attn.landmark with topk by blocks, each block's entries padded to whole
# groups of 64 (landmark-split=2: the units kernel stages one block per
# group), beside the default form.
ONE_BLOCK = ("one_block", "landmark-split=2")


def kernels_for(text):
    wide = any(int(k) > 16 for k in re.findall(r"topk\((\d+)\)", text))
    landmark = "attn.landmark" in text and "topk(" in text
    return (list(KERNELS.items()) + ([ARGMAX] if wide else []) +
            ([ONE_BLOCK] if landmark else []))
B, HQ, HKV, N, M, D = 2, 4, 2, 200, 333, 64


def f16_variant(text):
    return float_variant(text, "f16")


def signature_args(text):
    """The text between the entry's parentheses."""
    return re.search(r"func\.func @\w+\((.*?)\)\s*->", text, re.S).group(1)


def arg_names(text):
    return re.findall(r"%(\w+):", signature_args(text))


def arg_dtypes(text):
    """Each argument's numpy dtype from the signature (f16 variants keep some
    operands f32, e.g. rank-3 gates and tables)."""
    found = re.findall(r"%\w+:\s*tensor<[^>]*?x?(f16|f32|i32|i64)>", signature_args(text))
    assert len(found) == len(arg_names(text)), "an argument of unknown type"
    types = {"f16": np.float16, "f32": np.float32, "i32": np.int32, "i64": np.int64}
    return [types[t] for t in found]


def inputs_for(names, rng, M=M):
    arrays = {}
    arrays["q"] = rng.standard_normal((B, HQ, N, D)).astype(np.float16)
    # Routing: shared QK (Reformer) and k-means centroids [H, C = 8, D].
    arrays["qk"] = rng.standard_normal((B, HQ, N, D)).astype(np.float16)
    arrays["centroids"] = rng.standard_normal((HQ, 8, D)).astype(np.float16)
    # DARE's retrieval heads (one per sequence): [B, 1, N|M, D].
    arrays["q_a"] = rng.standard_normal((B, 1, N, D)).astype(np.float16)
    arrays["k_a"] = rng.standard_normal((B, 1, M, D)).astype(np.float16)
    # DSA's lightning indexer: 4 heads of queries, one key set, head weights.
    arrays["qi"] = rng.standard_normal((B, 4, N, D)).astype(np.float16)
    arrays["ki"] = rng.standard_normal((B, M, D)).astype(np.float16)
    arrays["w"] = rng.standard_normal((B, N, 4)).astype(np.float16)
    # RAT's gate logits per feature, one per key.
    arrays["g"] = rng.standard_normal((B, HKV, M, D)).astype(np.float16)
    # Aaren's learned query per key head: [Hkv, D, 1].
    arrays["query"] = (0.2 * rng.standard_normal((HKV, D, 1))).astype(np.float16)
    # NTK's per-head prefix state Z [H, D, Dv] and normaliser root s [H, D, 1].
    arrays["Z"] = (0.1 * rng.standard_normal((HQ, D, D))).astype(np.float16)
    arrays["s"] = (0.1 * rng.standard_normal((HQ, D, 1))).astype(np.float16)
    # Landmark keys, one per block of 64.
    arrays["landmarks"] = rng.standard_normal((B, HKV, -(-N // 64), D)).astype(np.float16)
    arrays["k"] = rng.standard_normal((B, HKV, M, D)).astype(np.float16)
    arrays["v"] = rng.standard_normal((B, HKV, M, D)).astype(np.float16)
    # DARE's attention embeddings; NSA's gates in (0, 1).
    arrays["q_a"] = rng.standard_normal((B, 1, N, D)).astype(np.float16)
    arrays["k_a"] = rng.standard_normal((B, 1, M, D)).astype(np.float16)
    # DSA's indexer (f16 like the f16 variant makes them).
    arrays["qi"] = rng.standard_normal((B, 4, N, D)).astype(np.float16)
    arrays["ki"] = rng.standard_normal((B, M, D)).astype(np.float16)
    arrays["w"] = (0.1 * rng.uniform(0, 1, (B, N, 4))).astype(np.float16)
    for g in ("gc", "gs", "gw"):
        arrays[g] = rng.uniform(0, 1, (B, HQ, N)).astype(np.float16)
    nqb, nkb, K = -(-N // 64), -(-M // 64), 5
    idx = np.full((B, HQ, nqb, K), -1, np.int32)
    cnt = np.zeros((B, HQ, nqb), np.int32)
    for b in range(B):
        for h in range(HQ):
            for r in range(nqb):
                ids = list(rng.integers(0, nkb, size=int(rng.integers(0, K))))
                if ids:
                    ids.append(ids[0])  # a duplicate counts once
                idx[b, h, r, :len(ids)] = ids
                cnt[b, h, r] = len(ids)
    arrays["kv_indices"], arrays["kv_counts"] = idx, cnt
    # T5's relative position bias table (a rule operand, f32 [H, 32]).
    arrays["table"] = rng.standard_normal((HQ, 32)).astype(np.float32)
    # A per-head bias (a rule operand, f32 [H]).
    arrays["bias"] = rng.standard_normal((HQ,)).astype(np.float32)
    arrays["q_doc"] = np.sort(rng.integers(0, 5, (B, N))).astype(np.int32)
    arrays["k_doc"] = np.sort(rng.integers(0, 5, (B, M))).astype(np.int32)
    # SeerAttention's gate weights (per head; f16 like the f16 variant makes them).
    arrays["wq"] = (0.2 * rng.standard_normal((HQ, 64, 32))).astype(np.float16)
    arrays["wk"] = (0.2 * rng.standard_normal((HKV, 192, 32))).astype(np.float16)
    return [arrays[n] for n in names]


def invalid_runs(case, example, inputs):
    """Manifest rows running `example`'s bundles on invalid inputs: memory
    safety only (memcheck), no --check."""
    return [dict(example=case, kernel=kernel, bundle=f"{example}_{kernel}.bundle",
                 inputs=[f"{example}.{n}.npy" for n in inputs], outputs=1, check=False)
            for kernel in KERNELS]


def batch_one_runs(example, names, paths):
    """Manifest rows running `example`'s bundles on its inputs' first batch
    row: with B = 1 the parts of attn.split_heads / join_heads are runs of
    their parents' memory (no copy kernels; runtime HeadViews), B = 2 copies.
    Inputs [B, ...] are cut to [1, ...]; per-head tables ([H, ...]) stay."""
    cut = []
    for n, path in zip(names, paths):
        a = np.load(os.path.join(OUT, path))
        if n in ("q", "k", "v", "qk"):
            path = path.replace(".npy", ".b1.npy")
            np.save(os.path.join(OUT, path), a[:1].copy())
        cut.append(path)
    return [dict(example=example + "_b1", kernel=kernel, bundle=f"{example}_{kernel}.bundle",
                 inputs=cut, outputs=1) for kernel in KERNELS]


def landmark_run(attnc, rng, name, text, n, d=D, dv=D):
    """A landmark spec on its own shapes (N = n, GQA), checked."""
    spec = os.path.join(OUT, name + ".mlir")
    open(spec, "w").write(text)
    shapes = {"q": (1, HQ, n, d), "k": (1, HKV, n, d), "v": (1, HKV, n, dv),
              "landmarks": (1, HKV, -(-n // 64), d)}
    paths = []
    for a, shape in shapes.items():
        paths.append(f"{name}.{a}.npy")
        np.save(os.path.join(OUT, paths[-1]), rng.standard_normal(shape).astype(np.float16))
    rows = []
    for kernel, opts in kernels_for(text):
        bundle = f"{name}_{kernel}.bundle"
        cmd = [attnc, "compile", spec, "--target", "cuda", "--emit", "bundle",
               "-o", os.path.join(OUT, bundle)]
        if opts:
            cmd += ["--cuda-options", opts]
        subprocess.run(cmd, check=True)
        rows.append(dict(example=name, kernel=kernel, bundle=bundle, inputs=paths, outputs=2))
    return rows


def landmark_extras(attnc, rng):
    """Landmark retrieval past its top 4 (N = 200 has at most 4 earlier
    blocks, so every block is kept): N = 1000, 16 blocks, GQA; and values
    wider than the keys (D = 32, Dv = 64: the units kernel's global-store
    form), top 2."""
    from build_landmark import landmark
    raw = open(os.path.join(ROOT, "examples", "landmark.mlir")).read()
    return (landmark_run(attnc, rng, "landmark_long", f16_variant(raw), 1000) +
            landmark_run(attnc, rng, "landmark_wide_values", landmark("f16", 32, 64, 2),
                         1000, 32, 64))


def variant_inputs(attnc, variant, spec, paths):
    """Inputs that fit the variant: an attribute may change an operand's
    shape (a block size, a pooled length), and the runtime refuses the
    example's own inputs then (a clear error, but no kernel runs). attnc
    run draws them by role at the shape of the example's first input
    (--save-inputs); where it cannot, the example's."""
    names = [os.path.basename(p).split(".")[-2] for p in paths]
    first = np.load(os.path.join(OUT, paths[0]))
    shape = ["--shape", f"{names[0]}=" + "x".join(map(str, first.shape))]
    tmp = os.path.join(OUT, variant + ".inputs")
    try:
        r = subprocess.run([attnc, "run", spec, "--seed", "15", "--save-inputs", tmp] + shape,
                           capture_output=True, text=True)
        if r.returncode != 0 or not all(os.path.exists(os.path.join(tmp, n + ".npy"))
                                        for n in names):
            return paths
        out = []
        for n, p in zip(names, paths):
            mine = np.load(os.path.join(tmp, n + ".npy"))
            if mine.shape == np.load(os.path.join(OUT, p)).shape:
                out.append(p)  # the example's own: nothing changed
                continue
            out.append(f"{variant}.{n}.npy")
            np.save(os.path.join(OUT, out[-1]), mine)
        return out
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def attribute_variants(attnc, name, text, paths, n_out):
    """SAN_ATTR's variants of one example: its bundles and manifest rows."""
    values = [int(v) for v in os.environ.get("SAN_ATTR", "").split(",") if v]
    if not values:
        return []
    sys.path.insert(0, os.path.join(ROOT, "scripts"))
    from attribute_sweep import cases
    rows = []
    for start, end, line in cases(text):
        for v in values:
            if text[start:end] == str(v):
                continue
            variant = f"{name}@{start}={v}"
            spec = os.path.join(OUT, variant + ".mlir")
            open(spec, "w").write(text[:start] + str(v) + text[end:])
            bundle = variant + "_hopper.bundle"
            r = subprocess.run([attnc, "compile", spec, "--target", "cuda", "--emit", "bundle",
                                "-o", os.path.join(OUT, bundle)], capture_output=True, text=True)
            if r.returncode != 0:
                os.remove(spec)
                continue  # refused by a verifier: nothing to run
            rows.append(dict(example=variant, kernel="hopper", bundle=bundle,
                             inputs=variant_inputs(attnc, variant, spec, paths),
                             outputs=n_out, attribute=f"{line[:70]}: {text[start:end]} -> {v}"))
    return rows


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--attnc", default=os.path.join(ROOT, "build", "bin", "attnc"))
    args = ap.parse_args()
    os.makedirs(OUT, exist_ok=True)
    rng = np.random.default_rng(15)
    manifest = []
    only = [x for x in os.environ.get("SAN_ONLY", "").split(",") if x]
    for f in sorted(os.listdir(os.path.join(ROOT, "examples"))):
        if not f.endswith(".mlir"):
            continue
        name = f[:-5]
        if only and not any(x in name for x in only):
            continue
        raw = open(os.path.join(ROOT, "examples", f)).read()
        if lacks_a_cuda_kernel(raw):
            continue
        text = gates_like_outputs(f16_variant(raw), "f16")
        spec = os.path.join(OUT, name + ".mlir")
        open(spec, "w").write(text)
        names = arg_names(text)
        paths = []
        # Pooled keys of the queries' own sequence (NSA): M = N.
        own = "self-attention only" in raw
        for n, a, dt in zip(names, inputs_for(names, rng, N if own else M),
                            arg_dtypes(text)):
            a = a.astype(dt)
            paths.append(f"{name}.{n}.npy")
            np.save(os.path.join(OUT, paths[-1]), a)
        # Results: the tensor types between the signature's "->" and "{".
        n_out = text.split("->", 1)[1].split("{", 1)[0].count("tensor<")
        for kernel, opts in kernels_for(text):
            bundle = f"{name}_{kernel}.bundle"
            cmd = [args.attnc, "compile", spec, "--target", "cuda", "--emit", "bundle",
                   "-o", os.path.join(OUT, bundle)]
            if opts:
                cmd += ["--cuda-options", opts]
            subprocess.run(cmd, check=True)
            manifest.append(dict(example=name, kernel=kernel, bundle=bundle,
                                 inputs=paths, outputs=n_out))
        if "attn.split_heads" in raw:
            manifest += batch_one_runs(name, names, paths)
        manifest += attribute_variants(args.attnc, name, text, paths, n_out)
    if any("landmark" in x for x in only):
        manifest += landmark_extras(args.attnc, rng)
    if only:
        json.dump(manifest, open(os.path.join(OUT, "manifest.json"), "w"), indent=1)
        print(f"{len(manifest)} bundles in {OUT} (SAN_ONLY)")
        return
    # Bad lists on the GPU: ids out of range (negative, past the last block)
    # and counts past K. The CPU refuses them; the kernels skip such entries
    # and must read nothing out of bounds (memcheck), so no --check here.
    idx = np.load(os.path.join(OUT, "block_sparse.kv_indices.npy"))
    cnt = np.load(os.path.join(OUT, "block_sparse.kv_counts.npy"))
    idx.flat[::3] = 9999
    idx.flat[1::7] = -5
    cnt.flat[::2] = idx.shape[-1] + 3
    cnt.flat[1::5] = -2
    np.save(os.path.join(OUT, "block_sparse.bad_indices.npy"), idx)
    np.save(os.path.join(OUT, "block_sparse.bad_counts.npy"), cnt)
    manifest += invalid_runs("block_sparse_bad_ids", "block_sparse",
                             ("q", "k", "v", "bad_indices", "bad_counts"))
    # Document ids out of order (the CPU refuses them; the GPU assumes the
    # order for its binary search): wrong rows are allowed, wild reads not.
    qd = np.load(os.path.join(OUT, "document_mask.q_doc.npy"))[:, ::-1].copy()
    np.save(os.path.join(OUT, "document_mask.bad_q_doc.npy"), qd)
    manifest += invalid_runs("document_unordered_ids", "document_mask",
                             ("q", "k", "v", "bad_q_doc", "k_doc"))
    manifest += landmark_extras(args.attnc, rng)
    json.dump(manifest, open(os.path.join(OUT, "manifest.json"), "w"), indent=1)
    print(f"{len(manifest)} bundles in {OUT}")


if __name__ == "__main__":
    main()
