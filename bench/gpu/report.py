#!/usr/bin/env python3
"""Writes docs/benchmarks/gpu.md from the gpu.json that bench/gpu/run.py
made on the GPU machine, followed by the profile analysis kept in
bench/gpu/analysis.md (written from the ncu reports of bench/gpu/profile.sh).
No torch needed:  python3 bench/gpu/report.py gpu.json docs/benchmarks/gpu.md"""
import json
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))


def write_md(report, path):
    L = []
    L.append("# GPU benchmark: AttnIR on CUDA against SDPA and FlexAttention\n")
    L.append(f"Date {report['date']}, device {report['device']}, torch {report['torch']}, "
             f"CUDA {report['cuda']}, attnir {report['attnir']}. Bundles compiled on "
             f"`{report.get('first_result', {}).get('compile_host', '?')}` by "
             "`python3 bench/gpu/build_bundles.py`, run on the GPU machine by "
             "`bash bench/gpu/run.sh --n 4096,16384 --tune` (runtime-only package, no LLVM "
             "there), which writes this file; profile by `bash bench/gpu/profile.sh`.\n")
    if report.get("note"):
        L.append(report["note"] + "\n")
    L.append("## Timings (bf16, B=8, H=16; TFLOP/s, causal counts half the dense FLOPs)\n")
    L.append("Each figure is the median of 50 calls timed by CUDA events after a warm-up, "
             "alternating two input sets of 3 x 64 MiB or more (beyond the 50 MB L2), all "
             "methods in one process. AttnIR runs its default kernel for Hopper (chip=sm_90a: "
             "the Hopper kernel, TMA + wgmma); the mma.sync kernel's figures are in the tuning "
             "table (`chip=sm_90`).\n")
    L.append("| N | D | mask | AttnIR | SDPA flash | SDPA cuDNN | Flex | AttnIR / Flex | causal / dense time |")
    L.append("|---|---|---|---|---|---|---|---|---|")
    dense_ms = {}
    for r in report.get("timings", []):
        if r["mask"] == "dense" and "ms" in r["attnir"]:
            dense_ms[(r["N"], r["D"])] = r["attnir"]["ms"]
    for r in report.get("timings", []):
        def tf(m):
            x = r.get(m, {})
            return f"{x['tflops']:.0f}" if "tflops" in x else "err"
        ratio = (f"{r['attnir']['tflops'] / r['flex']['tflops']:.2f}"
                 if "tflops" in r["attnir"] and "tflops" in r["flex"] else "-")
        cd = (f"{r['attnir']['ms'] / dense_ms[(r['N'], r['D'])]:.2f}"
              if r["mask"] == "causal" and (r["N"], r["D"]) in dense_ms and "ms" in r["attnir"] else "")
        L.append(f"| {r['N']} | {r['D']} | {r['mask']} | {tf('attnir')} | {tf('sdpa-flash')} | "
                 f"{tf('sdpa-cudnn')} | {tf('flex')} | {ratio} | {cd} |")
    # The bars, read off this run.
    t = {(r["N"], r["D"], r["mask"]): r for r in report.get("timings", [])}
    bars = []
    for (n, d, m), r in sorted(t.items()):
        if n != 4096 or "tflops" not in r["attnir"] or "tflops" not in r["flex"]:
            continue
        x = r["attnir"]["tflops"] / r["flex"]["tflops"]
        bars.append(f"- N=4096, D={d}, {m}: {x:.2f}x FlexAttention (bar >= 0.5): "
                    f"{'met' if x >= 0.5 else 'MISSED'}")
        if m == "causal" and (n, d, "dense") in t:
            y = r["attnir"]["ms"] / t[(n, d, "dense")]["attnir"]["ms"]
            bars.append(f"- N=4096, D={d}: causal takes {y:.2f} of the dense time (bar <= 0.6): "
                        f"{'met' if y <= 0.6 else 'MISSED'}")
    if bars:
        L.append("\n## Bars\n")
        L.extend(bars)
    if report.get("tuning"):
        L.append("\n## Tuning (N=4096, B=8, H=16): pass options of the same specs\n")
        L.append("| D | mask | options | ms | TFLOP/s |")
        L.append("|---|---|---|---|---|")
        for r in report["tuning"]:
            L.append(f"| {r['D']} | {r['mask']} | `{r['options']}` | {r['ms']:.3f} | {r['tflops']:.0f} |")
    fr = report.get("first_result")
    if fr:
        L.append(f"\nSpec text to first GPU result (bar < 3 s: "
                 f"{'met' if fr['total_s'] < 3 else 'MISSED'}): {fr['total_s']:.3f} s = compile "
                 f"{fr['compile_s']:.3f} s (attnc, ptxas included) + load and first call "
                 f"{fr['load_and_first_call_s'] * 1e3:.1f} ms in a fresh process on the GPU "
                 "machine (after torch's CUDA initialisation).\n")
    cr = report.get("c_runtime")
    if cr:
        L.append("C runtime without Python (`attnir-run` from the runtime-only CMake build, "
                 "bench/gpu/c_runtime_check.py): "
                 + (f"`{cr['bundle']}` on q/k/v {cr['shapes']}: max rel err "
                    f"{cr['max_rel_err']:.1e}, {cr['timing']}" if cr.get("ok") else
                    f"FAILED: {cr.get('error')}") + "\n")
    rc = report.get("runtime_checks")
    if rc:
        L.append(f"## Runtime checks on the driver: {sum(r['ok'] for r in rc)} of {len(rc)} as expected\n")
        L.append("| case | expected | got | message |")
        L.append("|---|---|---|---|")
        for r in rc:
            L.append(f"| {r['case']} | {r['expected']} | {r['got']} | {r['message'].replace('|', '/')} |")
        L.append("")
    c = report.get("correctness", [])
    bad = [r for r in c if not r["ok"]]
    L.append(f"## Correctness: {len(c) - len(bad)} of {len(c)} runs within 1e-2 of float64\n")
    L.append("| spec | shape | B | Hq | Hkv | N | M | D | max rel err |")
    L.append("|---|---|---|---|---|---|---|---|---|")
    for r in c:
        L.append(f"| {r['spec']} | {r['shape']} | {r['B']} | {r['Hq']} | {r['Hkv']} | {r['N']} | "
                 f"{r['M']} | {r['D']} | {r['max_rel_err']:.1e}{'' if r['ok'] else ' FAILED ' + r['error']} |")
    analysis = os.path.join(HERE, "analysis.md")
    if os.path.exists(analysis):
        with open(analysis) as fh:
            L.append("\n" + fh.read())
    # Sections other benchmarks added below the mark (sanitizer runs, rule
    # regions) stay; read them before the file is truncated.
    tail = ""
    if os.path.exists(path):
        with open(path) as fh:
            old = fh.read()
        i = old.find(KEEP_MARK)
        tail = "\n" + old[i:] if i >= 0 else ""
    with open(path, "w") as fh:
        fh.write("\n".join(L) + "\n" + tail)


KEEP_MARK = "<!-- Sections below come from other benchmarks; regenerating the table above keeps them. -->"



if __name__ == "__main__":
    with open(sys.argv[1]) as fh:
        write_md(json.load(fh), sys.argv[2])
