#!/usr/bin/env python3
"""Mutation sweep of the examples through attnc (docs/fuzzing.md).

Each case mutates one example (a number, a dtype, a tensor dim, a line
taken from another example, a dropped line or a swapped #attn attribute;
one to three at a time) and runs it through attnc: `cuda` compiles for the
CUDA target to PTX (the pipeline libFuzzer's fuzz-pipeline does not
cover), `run` runs it on the CPU with --check against float64. A case
fails when attnc crashes, asserts, times out (60 s) or reports a failed
check; an error message with a non-zero exit is the expected outcome for
most mutations. Failing inputs are kept in OUT/.

  python3 scripts/mutation_sweep.py cuda|run [--seconds S] [--seed N] [--out DIR]
"""
import argparse
import glob
import hashlib
import os
import random
import re
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
NUMS = ["0", "1", "2", "3", "4", "7", "8", "15", "16", "17", "31", "32", "33", "48", "63",
        "64", "65", "96", "100", "127", "128", "129", "256", "1024", "4096", "65536", "-1",
        "1000000000"]
DTYPES = ["f32", "bf16", "f16", "i32", "i64", "f64", "i8", "i1"]
BAD = ("Stack dump", "LLVM ERROR", "Assertion", "UNREACHABLE", "PLEASE submit", "Segmentation",
       "FAILED", "Sanitizer")


def mutate(text, texts, rng):
    for _ in range(rng.randint(1, 3)):
        k = rng.random()
        if k < 0.35:
            ms = list(re.finditer(r"(?<![\w%#@])\d+(?![\w])", text))
            if ms:
                m = rng.choice(ms)
                text = text[:m.start()] + rng.choice(NUMS) + text[m.end():]
        elif k < 0.5:
            ms = list(re.finditer(r"\b(f32|bf16|f16|i32|i64)\b", text))
            if ms:
                m = rng.choice(ms)
                text = text[:m.start()] + rng.choice(DTYPES) + text[m.end():]
        elif k < 0.6:
            ms = list(re.finditer(r"(?<=x)(\?|\d+)(?=x)", text))
            if ms:
                m = rng.choice(ms)
                text = text[:m.start()] + rng.choice(["?", "1", "16", "32", "64", "128", "96", "17"]) \
                    + text[m.end():]
        elif k < 0.75:
            lines, other = text.splitlines(), rng.choice(texts).splitlines()
            lines[rng.randrange(len(lines))] = rng.choice(other)
            text = "\n".join(lines)
        elif k < 0.85:
            lines = text.splitlines()
            if len(lines) > 2:
                del lines[rng.randrange(len(lines))]
            text = "\n".join(lines)
        else:
            attr = r"#attn\.\w+(?:<[^<>]*>)?"
            mine, theirs = re.findall(attr, text), re.findall(attr, rng.choice(texts))
            if mine and theirs:
                text = text.replace(rng.choice(mine), rng.choice(theirs), 1)
    return text


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("mode", choices=["cuda", "run"])
    ap.add_argument("--seconds", type=float, default=600)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--out", default=os.path.join(ROOT, "build", "mutation-sweep"))
    ap.add_argument("--attnc", default=os.path.join(ROOT, "build", "bin", "attnc"))
    args = ap.parse_args()
    rng = random.Random(args.seed)
    texts = [open(f).read() for f in sorted(glob.glob(os.path.join(ROOT, "examples", "*.mlir")))]
    os.makedirs(args.out, exist_ok=True)
    spec = os.path.join(args.out, f"case-{os.getpid()}.mlir")
    runs = accepted = failures = 0
    start = time.time()
    while time.time() - start < args.seconds:
        text = mutate(rng.choice(texts), texts, rng)
        with open(spec, "w") as f:
            f.write(text)
        if args.mode == "cuda":
            cmd = [args.attnc, "compile", spec, "--target", "cuda", "--emit", "ptx", "-o", os.devnull]
        else:
            cmd = [args.attnc, "run", spec, "--check", "--seed", str(rng.randrange(1000)),
                   "--threads", "1"]
        try:
            r = subprocess.run(cmd, capture_output=True, text=True, timeout=60)
            rc, err = r.returncode, r.stderr
        except subprocess.TimeoutExpired:
            rc, err = -1, "timeout"
        runs += 1
        accepted += rc == 0
        if rc < 0 or any(s in err for s in BAD):
            failures += 1
            name = hashlib.md5(text.encode()).hexdigest()[:10]
            with open(os.path.join(args.out, f"fail-{name}.mlir"), "w") as f:
                f.write(text)
            print("FAIL", name, rc, " | ".join(err.strip().splitlines()[:3])[:300], flush=True)
    os.remove(spec)
    print(f"{args.mode}: {runs} cases, {accepted} accepted, {failures} failures")
    sys.exit(1 if failures else 0)


if __name__ == "__main__":
    main()
