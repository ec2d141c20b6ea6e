#!/usr/bin/env python3
"""Here (no GPU needed): the property sweep (python/tests/sweep.py) for the
CUDA kernels. Draws random *valid* attention specs the way the CPU sweep
does (every mask and combinator, parameters from 0 to the 2^40 bound,
runtime block lists of every head layout, block size 16-128, i32 and i64,
document ids, ragged N and M from 1, GQA, D 32-128), in f16 (the kernels
compute on tensor cores; .npy has no bf16 and attnir-run reads .npy), and
compiles each for both CUDA kernels (Hopper: sm_90a; mma.sync: chip=sm_90).
Writes bench/gpu/bundles/sweep/: the specs, bundles, inputs as .npy and a
manifest.json in bench/gpu/sanitize.py's form, so on the GPU machine

    SAN_DIR=bench/gpu/bundles/sweep SAN_TOOLS=check bash bench/gpu/sanitize.sh

runs each bundle with `attnir-run --check` (the float64 reference from the
op graph the bundle records; f16's tolerance). The CPU sweep also checks
that reference against its own numpy oracle, so a pass here ties the GPU
kernels to an independent evaluation of the masks.

A valid case the CUDA target refuses is a failure too: it is listed in
manifest.json's sibling refused.json and makes this script exit 1.

--family programs: python/tests/program_sweep.py's random selection
programs (pool -> block_scores -> select -> attention) into
bundles/sweep-programs; --family linear: linear_sweep.py's attn.linear
option sets (gates, decays, delta rule, momentum, feature maps, states) into
bundles/sweep-linear; --family retrieval: retrieval_sweep.py's landmark and
routing programs into bundles/sweep-retrieval.

usage: python3 bench/gpu/build_sweep.py [--family attention|programs|linear|retrieval]
       [--cases 150] [--seed 1] [--attnc build/bin/attnc]
"""
import argparse
import json
import os
import shutil
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
OUT = os.path.join(ROOT, "bench", "gpu", "bundles", "sweep")
KERNELS = {"hopper": "", "sync": "chip=sm_90"}
sys.path.insert(0, os.path.join(ROOT, "python", "tests"))


def draw(seed, cases, family):
    """The CPU sweeps' cases of a family (python/tests/sweep_families.py) and
    their inputs, in f16."""
    from sweep_families import FAMILIES
    random_case, spec_of, inputs_of = FAMILIES[family]
    rng = np.random.default_rng(seed)
    out = []
    for n in range(cases):
        c = dict(random_case(rng), dtype="f16")
        out.append((f"{family[:4]}{n:04d}", spec_of(c), inputs_of(c, rng)))
    return out


def compile_one(attnc, name, kernel, opts):
    bundle = f"{name}_{kernel}.bundle"
    cmd = [attnc, "compile", os.path.join(OUT, name + ".mlir"), "--target", "cuda",
           "--emit", "bundle", "-o", os.path.join(OUT, bundle)]
    if opts:
        cmd += ["--cuda-options", opts]
    r = subprocess.run(cmd, capture_output=True, text=True)
    return bundle, r.returncode, r.stderr.strip()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--attnc", default=os.path.join(ROOT, "build", "bin", "attnc"))
    ap.add_argument("--cases", type=int, default=150)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--family", choices=["attention", "programs", "linear", "retrieval"],
                    default="attention")  # sweep_families.FAMILIES
    args = ap.parse_args()
    global OUT
    if args.family != "attention":
        OUT += "-" + args.family
    shutil.rmtree(OUT, ignore_errors=True)
    os.makedirs(OUT)
    jobs = []
    inputs = {}
    for name, spec, arrs in draw(args.seed, args.cases, args.family):
        open(os.path.join(OUT, name + ".mlir"), "w").write(spec)
        inputs[name] = []
        for i, a in enumerate(arrs):
            inputs[name].append(f"{name}.in{i}.npy")
            np.save(os.path.join(OUT, inputs[name][-1]), a)
        jobs += [(name, kernel, opts) for kernel, opts in KERNELS.items()]
    with ThreadPoolExecutor(args.jobs) as pool:
        done = list(pool.map(lambda j: (j, compile_one(args.attnc, *j)), jobs))
    manifest, refused = [], []
    for (name, kernel, _), (bundle, rc, err) in done:
        if rc != 0:
            refused.append(dict(example=name, kernel=kernel, error=err[-2000:]))
            continue
        spec = open(os.path.join(OUT, name + ".mlir")).read()
        outputs = spec.split("->", 1)[1].split("{", 1)[0].count("tensor<")
        manifest.append(dict(example=name, kernel=kernel, bundle=bundle,
                             inputs=inputs[name], outputs=outputs))
    json.dump(manifest, open(os.path.join(OUT, "manifest.json"), "w"), indent=1)
    json.dump(refused, open(os.path.join(OUT, "refused.json"), "w"), indent=1)
    print(f"{len(manifest)} bundles in {OUT} (seed {args.seed}, {args.cases} cases); "
          f"{len(refused)} refused")
    for r in refused[:10]:
        print(f"refused {r['example']} {r['kernel']}: {r['error'][:300]}")
    sys.exit(1 if refused else 0)


if __name__ == "__main__":
    main()
