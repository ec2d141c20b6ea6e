#!/usr/bin/env python3
"""Tile-option sweep for the CPU defaults (docs/benchmarks/cpu-tuning.md).

For each --cpu-options configuration and dtype, GFLOP/s of dense and causal
attention at D = 64 and 128 (B = 1, H = 8, N = M = --n) from the best of
--reps runs of `attnc run --bench`, as one markdown table on stdout. The
runs go in rounds (every configuration once per round), so a drift of the
machine's speed over minutes moves every configuration alike.

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


def gflops(attnc, path, n, d, options):
    out = subprocess.run(
        [attnc, "run", str(path), "--shape", f"q=1x8x{n}x{d}", "--bench",
         "--json", "--cpu-options", options],
        check=True, capture_output=True, text=True).stdout
    return json.loads(out.strip().splitlines()[-1])["gflops"]


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--configs", nargs="+", default=["key-block=64", "key-block=128"])
    ap.add_argument("--dtypes", default="f32,bf16")
    ap.add_argument("--n", type=int, default=4096)
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--attnc", default=str(REPO / "build" / "bin" / "attnc"))
    ap.add_argument("--patterns", default="dense,causal")
    ap.add_argument("--ds", default="64,128", help="head dims")
    a = ap.parse_args()
    cols = [(p, int(d)) for p in a.patterns.split(",") for d in a.ds.split(",")]
    print("| dtype | --cpu-options | " +
          " | ".join(f"{p} D={d}" for p, d in cols) + " |")
    print("|---|---|" + "---|" * len(cols))
    with tempfile.TemporaryDirectory() as tmp:
        rows = [(dtype, cfg) for dtype in a.dtypes.split(",") for cfg in a.configs]
        best = {}
        for _ in range(a.reps):
            for dtype, cfg in rows:
                for p, d in cols:
                    g = gflops(a.attnc, spec(p, d, dtype, tmp), a.n, d, cfg)
                    key = (dtype, cfg, p, d)
                    best[key] = max(best.get(key, 0.0), g)
        for dtype, cfg in rows:
            print(f"| {dtype} | {cfg or '(defaults)'} | " +
                  " | ".join(f"{best[(dtype, cfg, p, d)]:.0f}" for p, d in cols) + " |")


if __name__ == "__main__":
    main()
