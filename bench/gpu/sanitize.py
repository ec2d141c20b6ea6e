#!/usr/bin/env python3
"""On the GPU machine (bench/gpu/sanitize.sh builds attnir-run first): every
bundle of bench/gpu/bundles/san/manifest.json (bench/gpu/build_sanitize.py)
once plain with --check (the float64 reference from the op graph the bundle
records), then under compute-sanitizer memcheck and racecheck. Writes
sanitize.json to $OUT (or .) and prints one line per run.

usage: [SAN_ONLY=substring,...] [SAN_KERNELS=hopper,sync,argmax] [SAN_TOOLS=check,memcheck]
       [SAN_SHARD=i/n] [SAN_JOBS=4] [SAN_DIR=bench/gpu/bundles/sweep] python3 bench/gpu/sanitize.py ATTNIR_RUN
SAN_SHARD runs every n-th bundle from the i-th (a long sweep split over calls
of the device's 10-minute limit); SAN_JOBS runs that many tools at once (the
GPU is shared; one process's launches do not see another's memory, so
memcheck's verdicts stay per run). sanitize.json is rewritten after each run,
so a run cut off by a time limit keeps what finished.
"""
import json
import os
import threading
from concurrent.futures import ThreadPoolExecutor
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
# SAN_DIR: another directory in this form, e.g. build_sweep.py's bundles/sweep.
SAN = os.environ.get("SAN_DIR") or os.path.join(HERE, "bundles", "san")


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


def tools_for(e, attnir_run, base, n):
    # Outputs per bundle (n) and tool, so that parallel runs never share a file.
    def outs(tool):
        return ["-o"] + [f"/tmp/san_out{n}_{tool}_{i}.npy" for i in range(e["outputs"])]
    tools = {
        "check": [attnir_run, "--check"] + base + outs("check"),
        "memcheck": ["compute-sanitizer", "--tool", "memcheck", "--error-exitcode", "9",
                     "--leak-check", "full", attnir_run] + base + outs("memcheck"),
        "racecheck": ["compute-sanitizer", "--tool", "racecheck", "--error-exitcode", "9",
                      attnir_run] + base + outs("racecheck"),
    }
    if not e.get("check", True):  # invalid inputs: only memory safety
        tools = {"memcheck": tools["memcheck"]}
    picked = [s for s in os.environ.get("SAN_TOOLS", "").split(",") if s]
    if picked:  # e.g. SAN_TOOLS=check,memcheck
        tools = {t: c for t, c in tools.items() if t in picked}
    return tools


def main():
    attnir_run = sys.argv[1]
    out_dir = os.environ.get("OUT", ".")
    rows = []
    lock = threading.Lock()
    # Substrings of example names, comma-separated; empty: every example.
    only = [s for s in os.environ.get("SAN_ONLY", "").split(",") if s]
    kernels = [s for s in os.environ.get("SAN_KERNELS", "").split(",") if s]
    shard, shards = (int(x) for x in os.environ.get("SAN_SHARD", "0/1").split("/"))
    entries = [e for e in json.load(open(os.path.join(SAN, "manifest.json")))
               if (not only or any(s in e["example"] for s in only))
               and (not kernels or e["kernel"] in kernels)][shard::shards]
    jobs = []
    for n, e in enumerate(entries):
        base = [os.path.join(SAN, e["bundle"])] + [os.path.join(SAN, p) for p in e["inputs"]]
        for tool, cmd in tools_for(e, attnir_run, base, n).items():
            jobs.append((e, tool, cmd))

    def one(job):
        e, tool, cmd = job
        rc, text, secs = run(cmd)
        row = dict(example=e["example"], kernel=e["kernel"], tool=tool, rc=rc,
                   clean=rc == 0, summary=summary(text), seconds=round(secs, 1))
        if rc != 0:
            row["log"] = text[-3000:]
        with lock:
            rows.append(row)
            json.dump(rows, open(os.path.join(out_dir, "sanitize.json"), "w"), indent=1)
            print(f"{e['example']:18s} {e['kernel']:6s} {tool:9s} rc={rc} "
                  f"{row['summary']} ({secs:.1f} s)", flush=True)

    with ThreadPoolExecutor(int(os.environ.get("SAN_JOBS", "1"))) as pool:
        list(pool.map(one, jobs))
    json.dump(rows, open(os.path.join(out_dir, "sanitize.json"), "w"), indent=1)
    bad = [r for r in rows if not r["clean"]]
    print(f"{len(rows)} runs, {len(bad)} not clean")


if __name__ == "__main__":
    main()
