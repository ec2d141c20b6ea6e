#!/usr/bin/env python3
"""Here (no GPU needed): compiles the specs bench/gpu/run.py needs into CUDA
bundles under bench/gpu/bundles/ (gitignored; carry it to the GPU machine),
and records how long each compile took (text of the spec to the bundle on
disk, process start included) in bench/gpu/bundles/compile_times.json.

Specs: every example in examples/ in bf16 (the CUDA target computes on
tensor cores: f32 examples are rewritten to bf16 inputs and outputs, lse
stays f32), and the timing specs dense/causal x D = 64/128 in bf16.

usage: python3 bench/gpu/build_bundles.py [--attnc build/bin/attnc]
"""
import argparse
import json
import os
import re
import subprocess
import time

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
OUT = os.path.join(ROOT, "bench", "gpu", "bundles")



def lacks_a_cuda_kernel(text):
    """Examples run.py does not check: linear recurrences (attn.linear),
    whose gates and states bench/gpu/linear.py draws by role and checks
    (bench/gpu/build_linear.py builds them). Skipped, and said so."""
    if "attn.linear" in text:
        print("skipping an example with attn.linear (bench/gpu/linear.py checks those)")
        return True
    return False


def gates_like_outputs(text, dtype):
    """NSA's rank-3 gates are broadcast onto the outputs (linalg.broadcast
    needs one element type): the gates in the outputs' dtype too."""
    if "linalg.broadcast" not in text:
        return text
    return text.replace("tensor<?x?x?xf32>", f"tensor<?x?x?x{dtype}>")


def float_variant(text, dtype):
    """q/k/v/out element types to `dtype`: only types with a static head dim
    (`x64xf32>`); the rank-3 lse (`?xf32>`) stays f32. With rule regions
    only rank-4 types (q, k, v, also as region arguments) and routing
    centroids [H, C, D]: rule tables keep their dtype."""
    if "rules(" in text:
        text = re.sub(r"(tensor<(?:[?\d]+x){3}\d+x)(?:f32|f16|bf16)>",
                      rf"\1{dtype}>", text)
        # attn.route's centroids [H, C, D] (static C and D) follow q.
        return re.sub(r"(tensor<[?\d]+x\d+x\d+x)(?:f32|f16|bf16)>",
                      rf"\1{dtype}>", text)
    return re.sub(r"x(\d+)x(?:f32|f16|bf16)>", rf"x\1x{dtype}>", text)


def bf16_variant(text):
    return float_variant(text, "bf16")


def timing_spec(name, d, causal):
    t = f"tensor<?x?x?x{d}xbf16>"
    mask = " mask(#attn.causal)" if causal else ""
    return (f"func.func @{name}(%q: {t}, %k: {t}, %v: {t}) -> {t} {{\n"
            f"  %o = attn.attention %q, %k, %v{mask} : ({t}, {t}, {t}) -> {t}\n"
            f"  return %o : {t}\n}}\n")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--attnc", default=os.path.join(ROOT, "build", "bin", "attnc"))
    ap.add_argument("--cuda-options", default="")
    args = ap.parse_args()
    os.makedirs(OUT, exist_ok=True)
    specs = {}
    for f in sorted(os.listdir(os.path.join(ROOT, "examples"))):
        if f.endswith(".mlir"):
            with open(os.path.join(ROOT, "examples", f)) as fh:
                text = fh.read()
            if lacks_a_cuda_kernel(text):
                continue
            specs["example_" + f[:-5]] = gates_like_outputs(bf16_variant(text), "bf16")
    for d in (64, 128):
        for causal in (False, True):
            name = f"{'causal' if causal else 'dense'}_d{d}"
            specs["bench_" + name] = timing_spec(name, d, causal)
    # Head dims and masks the examples do not cover (checked, not timed).
    def spec(name, d, dv, dt, mask="", scale="", lse=False):
        t = lambda x: f"tensor<?x?x?x{x}x{dt}>"
        res = f"{t(dv)}, tensor<?x?x?xf32>" if lse else t(dv)
        outs = "%o, %lse" if lse else "%o"
        return (f"func.func @{name}(%q: {t(d)}, %k: {t(d)}, %v: {t(dv)}) -> ({res}) {{\n"
                f"  {outs} = attn.attention %q, %k, %v{mask}{scale} : ({t(d)}, {t(d)}, {t(dv)}) -> ({res})\n"
                f"  return {outs} : {res}\n}}\n")
    specs["extra_d32_dv64_window"] = spec("w", 32, 64, "bf16", " mask(#attn.window<64, 32>)", " scale(0.05)")
    specs["extra_d48_causal_lse_f16"] = spec("c", 48, 48, "f16", " mask(#attn.causal)", lse=True)
    specs["extra_d16_dense"] = spec("d", 16, 16, "bf16")
    specs["extra_d96_dv128_causal"] = spec("c", 96, 128, "bf16", " mask(#attn.causal)")
    # f16 (checked, not timed): a different mma.sync operand type.
    for d in (64, 128):
        specs[f"f16_causal_d{d}"] = timing_spec(f"causal_d{d}", d, True).replace("bf16", "f16")
    # Tuning variants of the timing specs (run.py --tune times them all).
    # The mma.sync kernel (chip=sm_90, sm_80's instructions): its own knobs.
    tune = {64: ["chip=sm_90", "chip=sm_90 m-tiles=1", "chip=sm_90 m-tiles=2 stages=2",
                 "chip=sm_90 m-tiles=2 warps=8"],
            128: ["chip=sm_90", "chip=sm_90 m-tiles=1", "chip=sm_90 m-tiles=2 key-block=32",
                  "chip=sm_90 m-tiles=2 key-block=64", "chip=sm_90 m-tiles=2 stages=1"]}
    variants = {}
    for d, opts in tune.items():
        for causal in (False, True):
            kind = "causal" if causal else "dense"
            for i, o in enumerate(opts):
                variants[f"tune_{kind}_d{d}_{i}"] = (timing_spec(f"{kind}_d{d}", d, causal), o)
    times = {}
    for name, (text, o) in variants.items():
        spec_path = os.path.join(OUT, name + ".mlir")
        with open(spec_path, "w") as fh:
            fh.write(text)
        subprocess.run([args.attnc, "compile", spec_path, "--target", "cuda", "--emit", "bundle",
                        "--cuda-options", o, "-o", os.path.join(OUT, name + ".bundle")],
                       check=True)
        with open(os.path.join(OUT, name + ".options"), "w") as fh:
            fh.write(o)
    # Runtime checks (run.py): a cubin for another GPU must be refused with a
    # message; a PTX bundle (made where no ptxas is) must be JIT-compiled.
    causal = timing_spec("causal_d64", 64, True)
    for name, opts, env in (("rt_sm80_causal_d64", "chip=sm_80", {}),
                            ("rt_ptx_causal_d64", "", {"ATTNIR_PTXAS": "/nonexistent"})):
        spec_path = os.path.join(OUT, name + ".mlir")
        with open(spec_path, "w") as fh:
            fh.write(causal)
        cmd = [args.attnc, "compile", spec_path, "--target", "cuda", "--emit", "bundle",
               "-o", os.path.join(OUT, name + ".bundle")]
        subprocess.run(cmd + (["--cuda-options", opts] if opts else []), check=True,
                       env=dict(os.environ, **env))
    # Hopper (sm_90a): TMA + mbarriers + warp specialisation + wgmma;
    # checked like the others, timed in the tuning table.
    hop = "chip=sm_90a mma=wgmma"
    for d in (64, 128):
        for causal in (False, True):
            kind = "causal" if causal else "dense"
            for tag, o in (("w8", hop + " warps=8"), ("w4", hop + " warps=4"),
                           ("w8pp0", hop + " warps=8 ping-pong=0"),
                           ("w8k64", hop + " warps=8 key-block=64"),
                           ("w8s3", hop + " warps=8 stages=3" + (" key-block=64" if d == 128 else ""))):
                variants[f"tune_{kind}_d{d}_h{tag}"] = (timing_spec(f"{kind}_d{d}", d, causal), o)
        # D = 64: three consumer warpgroups (192 query rows, 160 registers).
        for causal in (False, True):
            kind = "causal" if causal else "dense"
            for tag, o in (("w12", hop + " warps=12"), ("w12s3", hop + " warps=12 stages=3")):
                if d == 64:
                    variants[f"tune_{kind}_d{d}_h{tag}"] = (timing_spec(f"{kind}_d{d}", d, causal), o)
    for name, o, text in (("sync_causal_d128", "chip=sm_90", timing_spec("causal_d128", 128, True)),
                          ("sync_dense_d64", "chip=sm_90", timing_spec("dense_d64", 64, False)),
                          ("sync_window_d64_kb48", "chip=sm_90 key-block=48", specs["example_sliding_window"]),
                          ("wgmma_causal_d64", hop + " warps=8", timing_spec("causal_d64", 64, True)),
                          ("wgmma_dense_d128", hop + " warps=8", timing_spec("dense_d128", 128, False)),
                          ("wgmma_causal_d128_w4", hop + " warps=4", timing_spec("causal_d128", 128, True)),
                          ("wgmma_causal_d64_w12", hop + " warps=12", timing_spec("causal_d64", 64, True)),
                          ("wgmma_causal_d128_f16", hop + " warps=8",
                           timing_spec("causal_d128", 128, True).replace("bf16", "f16")),
                          ("wgmma_window_lse", hop + " warps=8 key-block=64",
                           spec("w", 64, 128, "bf16", " mask(#attn.window<100, 37>)", " scale(0.07)", lse=True)),
                          ("wgmma_cab", hop + " warps=8", specs["example_cab_causal_cross"])):
        spec_path = os.path.join(OUT, name + ".mlir")
        with open(spec_path, "w") as fh:
            fh.write(text)
        subprocess.run([args.attnc, "compile", spec_path, "--target", "cuda", "--emit", "bundle",
                        "--cuda-options", o, "-o", os.path.join(OUT, name + ".bundle")], check=True)
    for name, (text, o) in variants.items():
        if "_h" not in name:
            continue
        spec_path = os.path.join(OUT, name + ".mlir")
        with open(spec_path, "w") as fh:
            fh.write(text)
        subprocess.run([args.attnc, "compile", spec_path, "--target", "cuda", "--emit", "bundle",
                        "--cuda-options", o, "-o", os.path.join(OUT, name + ".bundle")], check=True)
        with open(os.path.join(OUT, name + ".options"), "w") as fh:
            fh.write(o)
    for name, text in specs.items():
        spec_path = os.path.join(OUT, name + ".mlir")
        with open(spec_path, "w") as fh:
            fh.write(text)
        cmd = [args.attnc, "compile", spec_path, "--target", "cuda", "--emit", "bundle",
               "-o", os.path.join(OUT, name + ".bundle")]
        if args.cuda_options:
            cmd += ["--cuda-options", args.cuda_options]
        t0 = time.perf_counter()
        subprocess.run(cmd, check=True)
        times[name] = time.perf_counter() - t0
        print(f"{name:32s} {times[name] * 1e3:7.0f} ms")
    with open(os.path.join(OUT, "compile_times.json"), "w") as fh:
        json.dump({"compile_s": times, "host": os.uname().nodename}, fh, indent=1)


if __name__ == "__main__":
    main()
