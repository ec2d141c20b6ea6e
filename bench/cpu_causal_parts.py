#!/usr/bin/env python3
"""Causal attention's CPU time split into its parts (docs/benchmarks/cpu.md,
"Where causal's time goes").

A query tile of R rows (128 on AMX at D <= 64) over key blocks of K keys
(64) costs the per-call and per-tile work that does not depend on how many
blocks it visits (F: the K/V pack, the query pack, the epilogue), plus one
visit per key block: v for a full block, m * v for a masked one. Three
masks that every tile visits alike measure them (no threads idle on
unequal tiles):

  chunked<2K>                  2 full visits per tile
  chunked<4K>                  4 full visits per tile
  all_of(chunked<2K>, causal)  the causal diagonal: 2 masked visits

so v = (t4 - t2) / (2 T), F = t2 - 2 T v, m = (t_diag - F) / (2 T v) with
T tiles. Where a tile is at most one key block (R <= K, K a multiple of R:
AVX-512 without AMX, 32 rows on 128-key blocks), chunked<2K> and
chunked<4K> still give every tile 2 and 4 full visits, and the diagonal
is all_of(chunked<K>, causal): one masked visit per tile, so m =
(t_diag - F) / (T v). Dense and causal in the same rounds give the ratio the bar is on
(causal <= 0.55 of dense) and check the model: causal = F + its full
visits + its masked ones. Best of --reps rounds, every spec once a round.

  python3 bench/cpu_causal_parts.py --heads 1,8 --n 1024 --threads 1
"""
import argparse
import json
import pathlib
import subprocess
import tempfile

REPO = pathlib.Path(__file__).resolve().parent.parent
BASE = (REPO / "examples" / "chunked.mlir").read_text()
CHUNKED = "mask(#attn.all_of<[#attn.chunked<128>, #attn.causal]>)"


def specs(tmp, d, keys, diagonal_chunk):
    text = BASE.replace("x64x", f"x{d}x").replace("x64xf32>", f"x{d}xf32>")
    out = {}
    for name, mask in (("two", f"mask(#attn.chunked<{2 * keys}>)"),
                       ("four", f"mask(#attn.chunked<{4 * keys}>)"),
                       ("diagonal", f"mask(#attn.all_of<[#attn.chunked<{diagonal_chunk}>, #attn.causal]>)")):
        path = pathlib.Path(tmp) / f"{name}.mlir"
        path.write_text(text.replace(CHUNKED, mask))
        out[name] = path
    for name in ("dense", "causal"):
        path = pathlib.Path(tmp) / f"{name}.mlir"
        path.write_text((REPO / "examples" / f"{name}.mlir").read_text()
                        .replace("x64x", f"x{d}x").replace("x64xf32>", f"x{d}xf32>"))
        out[name] = path
    return out


def run_ms(attnc, path, shape, threads):
    cmd = [attnc, "run", str(path), "--shape", shape, "--bench", "--json", "--check",
           "--threads", str(threads)]
    row = json.loads(subprocess.run(cmd, check=True, capture_output=True, text=True)
                     .stdout.strip().splitlines()[-1])
    if not row.get("ok", True):
        raise SystemExit(f"check failed: {' '.join(cmd)}: {row}")
    return float(row["ms"])


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--attnc", default=str(REPO / "build" / "bin" / "attnc"))
    ap.add_argument("--n", type=int, default=1024)
    ap.add_argument("--d", type=int, default=64)
    ap.add_argument("--heads", default="8")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--reps", type=int, default=5)
    ap.add_argument("--rows", type=int, default=128, help="the query tile (128: AMX, D <= 64)")
    ap.add_argument("--keys", type=int, default=64, help="the key block")
    args = ap.parse_args()
    R, K, N = args.rows, args.keys, args.n
    # A tile of two key blocks (AMX), or a tile within one block.
    wide = 2 * K == R
    if not (wide or (R <= K and K % R == 0)) or N % max(R, K):
        raise SystemExit("the masks assume a tile of two key blocks or a tile within one, "
                         "and N a multiple of both")
    diag_visits = 2 if wide else 1  # masked visits per tile on the diagonal
    print(f"| H | dense ms | causal ms | causal / dense | v (us per full visit) | F ms | F / dense "
          f"| m (masked visit / full) | model causal ms |")
    print("|---|---|---|---|---|---|---|---|---|")
    with tempfile.TemporaryDirectory() as tmp:
        paths = specs(tmp, args.d, K, diag_visits * K)
        for H in map(int, args.heads.split(",")):
            shape = f"q=1x{H}x{N}x{args.d}"
            best = {}
            for _ in range(args.reps):
                for name, path in paths.items():
                    best[name] = min(best.get(name, 1e9), run_ms(args.attnc, path, shape, args.threads))
            T = H * N // R
            v = (best["four"] - best["two"]) / (2 * T)
            F = best["two"] - 2 * T * v
            m = (best["diagonal"] - F) / (diag_visits * T * v)
            # Causal: tile t visits its t R / K full blocks below the
            # diagonal (2 t with two blocks a tile) and diag_visits masked
            # ones.
            tiles = N // R
            full = H * sum(t * R // K for t in range(tiles))
            model = F + full * v + diag_visits * T * m * v
            d, c = best["dense"], best["causal"]
            print(f"| {H} | {d:.3f} | {c:.3f} | {c / d:.3f} | {v * 1e3:.2f} | {F:.3f} | "
                  f"{F / d:.3f} | {m:.3f} | {model:.3f} |")


if __name__ == "__main__":
    main()
