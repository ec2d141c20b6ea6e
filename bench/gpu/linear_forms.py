#!/usr/bin/env python3
"""On the GPU machine: each chunked attn.linear program of the issue's
timing set in its three forms against fla in one process, at the issue's
shapes (docs/benchmarks/linear-gpu.md, "The state pass in registers"):
the runtime's pick (default bundle), the fused kernels alone
(`_nosplit`, linear-split=0) and the state + output passes alone
(`_split`, linear-split=2), with CUPTI times per kernel at 4 x 16 x 16384.

  python3 bench/gpu/build_linear.py             # here: the bundles
  PYTHONPATH=$SITE:$FLA python3 linear_forms.py --out DIR   # there
  LINEAR_FORMS=plain,gla ...                    # a subset
"""
import argparse
import json
import os

from linear import SHAPES, fla_call, fla_ops, inputs, load
from rules import kernel_ms
from sparse import time_ms


def outputs(fn, args):
    o = fn(*args)
    return o if isinstance(o, tuple) else (o,)


def rel_diff(got, ref):
    return max(((x.float() - y.float()).abs().max() / y.float().abs().max()).item()
               for x, y in zip(got, ref))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", default=".")
    ap.add_argument("--rounds", type=int, default=2)
    opts = ap.parse_args()
    ops = fla_ops()
    rows = []
    for prog in os.environ.get("LINEAR_FORMS", "plain,loggate,gla,gdr").split(","):
        name = f"linear_{prog}_bf16_d128"
        forms = {"default": load(name), "fused": load(name + "_nosplit"),
                 "split": load(name + "_split")}
        for B, H, N in SHAPES:
            args = inputs(forms["default"], B, H, N, seed=1)
            fused = outputs(forms["fused"], args)
            diff = max(rel_diff(outputs(forms[f], args), fused) for f in ("default", "split"))
            fla = fla_call(name, ops, args) if ops else None
            for rnd in range(opts.rounds):
                t = {f: time_ms(lambda fn=fn: fn(*args), 20) for f, fn in forms.items()}
                if fla:
                    t["fla"] = time_ms(fla, 20)
                row = dict(program=prog, shape=f"{B}x{H}x{N}", round=rnd,
                           **{f + "_ms": round(v, 3) for f, v in t.items()},
                           rel_diff_vs_fused=diff)
                if fla:
                    row.update({f"fla_over_{f}": round(t["fla"] / t[f], 3) for f in forms})
                rows.append(row)
                print(json.dumps(row), flush=True)
            if (B, H, N) == (4, 16, 16384):
                per = {"split": kernel_ms(lambda: forms["split"](*args), 10)}
                if fla:
                    per["fla"] = kernel_ms(fla, 10)
                for f, ks in per.items():
                    row = dict(program=prog, shape=f"{B}x{H}x{N}", form=f + " kernels",
                               kernels={k[:50]: round(v, 4) for k, v in ks.items()})
                    rows.append(row)
                    print(json.dumps(row), flush=True)
    with open(os.path.join(opts.out, "linear_forms.json"), "w") as f:
        json.dump(rows, f, indent=1)


if __name__ == "__main__":
    main()
