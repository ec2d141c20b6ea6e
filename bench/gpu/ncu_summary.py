#!/usr/bin/env python3
"""Summarises `ncu --page source --csv --print-source sass` output (one
block per kernel): stall reasons, stall samples and executed instructions
by opcode, and the instructions with the most stall samples.

  python3 bench/gpu/ncu_summary.py src.csv [top]
"""
import collections
import csv
import io
import sys


def samples(row):
    return float(row.get("Warp Stall Sampling (All Samples)") or 0)


def opcode(source):
    words = source.split()
    if not words:
        return ""
    op = words[1] if words[0].startswith("@") and len(words) > 1 else words[0]
    return op.split(".")[0]


def summarise(name, rows, top):
    total = sum(samples(r) for r in rows) or 1.0
    executed = sum(float(r.get("Instructions Executed") or 0) for r in rows) or 1.0
    print(f"== {name} samples {total:.0f} warp instructions {executed:.0f}")
    reasons = collections.Counter()
    for r in rows:
        for k, v in r.items():
            if k and k.startswith("stall_") and "Not Issued" not in k and v:
                try:
                    reasons[k[6:]] += float(v)
                except ValueError:
                    pass
    n = sum(reasons.values()) or 1.0
    print(" reasons %:", ", ".join(f"{k} {100 * v / n:.1f}" for k, v in reasons.most_common(9)))
    stalls, counts = collections.Counter(), collections.Counter()
    for r in rows:
        op = opcode(r["Source"] or "")
        stalls[op] += samples(r)
        counts[op] += float(r.get("Instructions Executed") or 0)
    print(" stalls by opcode %:",
          ", ".join(f"{k} {100 * v / total:.1f}" for k, v in stalls.most_common(10)))
    print(" instructions by opcode %:",
          ", ".join(f"{k} {100 * v / executed:.1f}" for k, v in counts.most_common(10)))
    for r in sorted(rows, key=samples, reverse=True)[:top]:
        why = {k[6:]: float(v) for k, v in r.items()
               if k and k.startswith("stall_") and "Not Issued" not in k and v not in ("", "0")}
        main = max(why, key=why.get) if why else ""
        print(f"  {100 * samples(r) / total:5.1f}%  executed {r['Instructions Executed']:>8}  "
              f"{main:12s} {r['Source'][:80]}")


def main():
    top = int(sys.argv[2]) if len(sys.argv) > 2 else 14
    for part in open(sys.argv[1]).read().split('"Kernel Name",')[1:]:
        name, rest = part.split("\n", 1)
        summarise(name.strip(", "), list(csv.DictReader(io.StringIO(rest))), top)


if __name__ == "__main__":
    main()
