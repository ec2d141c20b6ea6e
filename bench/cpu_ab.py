#!/usr/bin/env python3
"""A/B of two attnc binaries on the CPU, in rounds (the 2-core VMs drift
10-30 % over minutes: every binary and pattern once per round, best of
--reps rounds), each run checked against the float64 reference.

  python3 bench/cpu_ab.py --a /tmp/attnc-old --b build/bin/attnc \\
      --patterns causal,sliding_window --n 1024 --ds 64,128 --reps 5

Prints ms per (pattern, D) for A and B and the ratio B / A (below 1: B
is faster). Patterns are examples/<name>.mlir with 64 replaced by D.
"""
import argparse
import json
import pathlib
import subprocess
import tempfile

REPO = pathlib.Path(__file__).resolve().parent.parent


def spec(pattern, d, dtype, tmp):
    text = (REPO / "examples" / f"{pattern}.mlir").read_text()
    text = text.replace("x64x", f"x{d}x").replace("x64xf32>", f"x{d}x{dtype}>")
    if dtype != "f32":
        text = text.replace("xf32>", f"x{dtype}>")
    path = pathlib.Path(tmp) / f"{pattern}_{d}_{dtype}.mlir"
    path.write_text(text)
    return path


def run_ms(attnc, path, n, d, threads):
    cmd = [attnc, "run", str(path), "--shape", f"q=1x8x{n}x{d}", "--bench", "--json",
           "--check"]
    if threads:
        cmd += ["--threads", str(threads)]
    out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
    row = json.loads(out.strip().splitlines()[-1])
    if not row.get("ok", True):
        raise SystemExit(f"check failed: {' '.join(cmd)}: {row}")
    return float(row["ms"])


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--a", required=True)
    ap.add_argument("--b", required=True)
    ap.add_argument("--patterns", default="causal")
    ap.add_argument("--n", type=int, default=1024)
    ap.add_argument("--ds", default="64")
    ap.add_argument("--dtypes", default="f32")
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--threads", type=int, default=0)
    a = ap.parse_args()
    best = {}
    with tempfile.TemporaryDirectory() as tmp:
        cases = [(p, int(d), t) for p in a.patterns.split(",") for d in a.ds.split(",")
                 for t in a.dtypes.split(",")]
        for r in range(a.reps):
            for case in cases:
                path = spec(*case, tmp)
                for side, binary in (("a", a.a), ("b", a.b)):
                    ms = run_ms(binary, path, a.n, case[1], a.threads)
                    key = case + (side,)
                    best[key] = min(best.get(key, ms), ms)
            print(f"round {r + 1}/{a.reps} done", flush=True)
    print(f"| pattern | D | dtype | N | A ms | B ms | B / A |")
    print("|---|---|---|---|---|---|---|")
    for p, d, t in cases:
        ma, mb = best[(p, d, t, "a")], best[(p, d, t, "b")]
        print(f"| {p} | {d} | {t} | {a.n} | {ma:.2f} | {mb:.2f} | {mb / ma:.3f} |")


if __name__ == "__main__":
    main()
