#!/usr/bin/env python3
"""Attribute extremes sweep (docs/fuzzing.md): every integer attribute of
every example, one at a time, set to each of a few values, through attnc.

Where the mutation sweep draws random edits, this one is systematic: each
number in an op's attribute list (block(64), topk(4), local(1),
window<256, 0>, ...) is replaced by each value of --values, the rest of
the example untouched. Modes: `run` (the CPU, `attnc run --check` at
attnc's default shapes), `compile` (the CPU to an object) and `cuda` (the
example in bf16, as bench/gpu/build_select.py converts it, to PTX). A case
fails when attnc crashes, asserts, fails its check, or takes longer than
--slow seconds (a builder that unrolls by an attribute, a loop bounded by
one; default 20 s to compile, 60 s to run, whose time includes the random
inputs and the float64 reference: a pooling block of 2^20 makes attnc's
default key length 2^20 rows); an error message with a non-zero exit is the expected outcome for
values the verifiers refuse. Failing inputs are kept in --out.

  python3 scripts/attribute_sweep.py run|compile|cuda [--values 0,1,3,33,65536,1048576]
      [--slow S] [--out DIR]
"""
import argparse
import glob
import os
import re
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BAD = ("Stack dump", "LLVM ERROR", "Assertion", "UNREACHABLE", "PLEASE submit", "Segmentation",
       "Sanitizer")
# A number inside an attribute's brackets: after '(', '<' or ', ' and
# before ')', '>' or ','; tensor dims (after 'x') and comments are skipped.
NUMBER = re.compile(r"(?<=[(<, ])(\d+)(?=[)>,])")


def cases(text):
    """(start, end) of each attribute number on the example's op lines."""
    for m in NUMBER.finditer(text):
        line_start = text.rfind("\n", 0, m.start()) + 1
        line = text[line_start:text.find("\n", m.start())]
        before = text[line_start:m.start()]
        if line.lstrip().startswith("//") or before.rstrip().endswith("x") or \
                "tensor<" in before[-12:]:
            continue
        yield m.start(), m.end(), line.strip()


def command(mode, attnc, spec):
    if mode == "run":
        return [attnc, "run", spec, "--check", "--threads", "1"]
    if mode == "compile":
        return [attnc, "compile", spec, "--emit", "obj", "-o", os.devnull]
    return [attnc, "compile", spec, "--target", "cuda", "--emit", "ptx", "-o", os.devnull]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("mode", choices=["run", "compile", "cuda"])
    ap.add_argument("--values", default="0,1,3,33,65536,1048576")
    ap.add_argument("--slow", type=float, help="seconds (default: 60 for run, else 20)")
    ap.add_argument("--out", default=os.path.join(ROOT, "build", "attribute-sweep"))
    ap.add_argument("--attnc", default=os.path.join(ROOT, "build", "bin", "attnc"))
    args = ap.parse_args()
    values = [int(v) for v in args.values.split(",")]
    if args.slow is None:
        args.slow = 60.0 if args.mode == "run" else 20.0
    os.makedirs(args.out, exist_ok=True)
    if args.mode == "cuda":
        sys.path.insert(0, os.path.join(ROOT, "bench", "gpu"))
        from build_bundles import gates_like_outputs
        from build_select import bf16
    spec = os.path.join(args.out, f"case-{os.getpid()}.mlir")
    runs = failures = 0
    for path in sorted(glob.glob(os.path.join(ROOT, "examples", "*.mlir"))):
        text = open(path).read()
        if args.mode == "cuda":
            text = gates_like_outputs(bf16(text), "bf16")
        name = os.path.basename(path)
        for start, end, line in cases(text):
            for v in values:
                mutated = text[:start] + str(v) + text[end:]
                with open(spec, "w") as f:
                    f.write(mutated)
                t0 = time.time()
                try:
                    r = subprocess.run(command(args.mode, args.attnc, spec), capture_output=True,
                                       text=True, timeout=max(60.0, 3 * args.slow))
                    rc, err = r.returncode, r.stderr + r.stdout
                except subprocess.TimeoutExpired:
                    rc, err = "timeout", ""
                took = time.time() - t0
                runs += 1
                failed = rc == "timeout" or rc < 0 or took > args.slow or \
                    any(s in err for s in BAD) or (args.mode == "run" and "FAILED" in err)
                if failed:
                    failures += 1
                    keep = os.path.join(args.out, f"fail-{name[:-5]}-{start}-{v}.mlir")
                    with open(keep, "w") as f:
                        f.write(mutated)
                    print(f"FAIL {name} '{line[:80]}' {text[start:end]} -> {v}: rc={rc} "
                          f"{took:.1f} s {err.strip().splitlines()[-1:] if err.strip() else ''}",
                          flush=True)
    os.remove(spec)
    print(f"{args.mode}: {runs} cases, {failures} failures")
    sys.exit(1 if failures else 0)


if __name__ == "__main__":
    main()
