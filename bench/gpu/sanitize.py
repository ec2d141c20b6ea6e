#!/usr/bin/env python3
"""On the GPU machine (bench/gpu/sanitize.sh builds attnir-run first): every
bundle of bench/gpu/bundles/san/manifest.json (bench/gpu/build_sanitize.py)
once plain with --check (the float64 reference from the op graph the bundle
records), then under compute-sanitizer memcheck and racecheck. Writes
sanitize.json to $OUT (or .) and prints one line per run.

usage: [SAN_ONLY=substring,...] [SAN_KERNELS=hopper,sync,argmax] [SAN_TOOLS=check,memcheck]
       python3 bench/gpu/sanitize.py ATTNIR_RUN
"""
import json
import os
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
SAN = os.path.join(HERE, "bundles", "san")


def run(cmd, timeout=300):
    t0 = time.time()
    try:
        r = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
        return r.returncode, (r.stdout + r.stderr), time.time() - t0
    except subprocess.TimeoutExpired:
        return -1, "timeout", time.time() - t0


def summary(text):
    for line in text.splitlines():
        if "ERROR SUMMARY" in line or "RACECHECK SUMMARY" in line or line.startswith("check:"):
            return line.strip()
    return text.strip().splitlines()[-1][:200] if text.strip() else ""


def main():
    attnir_run = sys.argv[1]
    out_dir = os.environ.get("OUT", ".")
    rows = []
    # Substrings of example names, comma-separated; empty: every example.
    only = [s for s in os.environ.get("SAN_ONLY", "").split(",") if s]
    kernels = [s for s in os.environ.get("SAN_KERNELS", "").split(",") if s]
    for e in json.load(open(os.path.join(SAN, "manifest.json"))):
        if only and not any(s in e["example"] for s in only):
            continue
        if kernels and e["kernel"] not in kernels:
            continue
        base = [os.path.join(SAN, e["bundle"])] + [os.path.join(SAN, p) for p in e["inputs"]]
        outs = ["-o"] + [f"/tmp/san_out{i}.npy" for i in range(e["outputs"])]
        tools = {
            "check": [attnir_run, "--check"] + base + outs,
            "memcheck": ["compute-sanitizer", "--tool", "memcheck", "--error-exitcode", "9",
                         "--leak-check", "full", attnir_run] + base + outs,
            "racecheck": ["compute-sanitizer", "--tool", "racecheck", "--error-exitcode", "9",
                          attnir_run] + base + outs,
        }
        if not e.get("check", True):  # invalid inputs: only memory safety
            tools = {"memcheck": tools["memcheck"]}
        picked = [s for s in os.environ.get("SAN_TOOLS", "").split(",") if s]
        if picked:  # e.g. SAN_TOOLS=check,memcheck
            tools = {t: c for t, c in tools.items() if t in picked}
        for tool, cmd in tools.items():
            rc, text, secs = run(cmd)
            row = dict(example=e["example"], kernel=e["kernel"], tool=tool, rc=rc,
                       clean=rc == 0, summary=summary(text), seconds=round(secs, 1))
            if rc != 0:
                row["log"] = text[-3000:]
            rows.append(row)
            print(f"{e['example']:18s} {e['kernel']:6s} {tool:9s} rc={rc} "
                  f"{row['summary']} ({secs:.1f} s)", flush=True)
    json.dump(rows, open(os.path.join(out_dir, "sanitize.json"), "w"), indent=1)
    bad = [r for r in rows if not r["clean"]]
    print(f"{len(rows)} runs, {len(bad)} not clean")


if __name__ == "__main__":
    main()
