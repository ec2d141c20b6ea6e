#!/usr/bin/env python3
"""Tile-option sweep for the CPU defaults (docs/benchmarks/cpu-tuning.md).

For each --cpu-options configuration and dtype, GFLOP/s of dense and causal
attention at D = 64 and 128 (B = 1, H = 8, N = M = --n) from the best of
--reps runs of `attnc run --bench`, as one markdown table on stdout.

  python3 bench/cpu_tiles.py --configs "key-block=64" "key-block=128" \
      --dtypes f32,bf16
"""
import argparse
import json
import pathlib
import subprocess
import tempfile

REPO = pathlib.Path(__file__).resolve().parent.parent


def spec(pattern, d, dtype, tmp):
    text = (REPO / "examples" / f"{pattern}.mlir").read_text()
    text = text.replace("x64xf32>", f"x{d}x{dtype}>")
    path = pathlib.Path(tmp) / f"{pattern}_{d}_{dtype}.mlir"
    path.write_text(text)
    return path


def gflops(attnc, path, n, d, options, reps):
    best = 0.0
    for _ in range(reps):
        out = subprocess.run(
            [attnc, "run", str(path), "--shape", f"q=1x8x{n}x{d}", "--bench",
             "--json", "--cpu-options", options],
            check=True, capture_output=True, text=True).stdout
        best = max(best, json.loads(out.strip().splitlines()[-1])["gflops"])
    return best


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--configs", nargs="+", default=["key-block=64", "key-block=128"])
    ap.add_argument("--dtypes", default="f32,bf16")
    ap.add_argument("--n", type=int, default=4096)
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--attnc", default=str(REPO / "build" / "bin" / "attnc"))
    a = ap.parse_args()
    cols = [(p, d) for p in ("dense", "causal") for d in (64, 128)]
    print("| dtype | --cpu-options | " +
          " | ".join(f"{p} D={d}" for p, d in cols) + " |")
    print("|---|---|" + "---|" * len(cols))
    with tempfile.TemporaryDirectory() as tmp:
        for dtype in a.dtypes.split(","):
            for cfg in a.configs:
                row = [gflops(a.attnc, spec(p, d, dtype, tmp), a.n, d, cfg, a.reps)
                       for p, d in cols]
                print(f"| {dtype} | {cfg or '(defaults)'} | " +
                      " | ".join(f"{g:.0f}" for g in row) + " |", flush=True)


if __name__ == "__main__":
    main()
