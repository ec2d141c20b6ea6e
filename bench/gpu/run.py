#!/usr/bin/env python3
"""On the GPU machine (torch, CUDA; no LLVM/MLIR): AttnIR's CUDA bundles
through the runtime-only attnir package, checked and timed in one process
next to torch SDPA (flash and cuDNN backends) and FlexAttention.

  1. correctness of every example spec (bf16 variants) and the timing specs
     on ragged, GQA, cross and N=1 shapes against the float64 reference
     (attnir.reference of the loaded kernel: the C reference over the op
     graph the bundle records, in this runtime-only build);
  2. spec text to first GPU result: the compile time measured where the
     bundle was built (bundles/compile_times.json) plus, in a fresh process
     here, load + first call;
  3. timings: bf16, B=8, H=16, N = 4096 and 16384, D = 64 and 128, dense and
     causal; CUDA events, median of >= 20 after warm-up, two input sets
     alternated (each larger than L2);
  4. writes gpu.json and gpu.md into --out.

Run it with bench/gpu/run.sh (builds the runtime-only package first).
"""
import argparse
import re
import datetime
import json
import os
import subprocess
import sys
import time

import numpy as np
import torch
import torch.nn.functional as F

import attnir

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from report import write_md  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
BUNDLES = os.path.join(HERE, "bundles")
dev = "cuda"


def rel_err(got, ref):
    got = np.asarray(got, dtype=np.float64)
    ref = np.asarray(ref, dtype=np.float64)
    if got.size == 0:
        return 0.0
    fin = np.isfinite(ref)
    if not np.array_equal(fin, np.isfinite(got)) or not np.array_equal(got[~fin], ref[~fin]):
        return float("inf")
    if not fin.any():
        return 0.0
    return float(np.abs(got[fin] - ref[fin]).max() / max(np.abs(ref[fin]).max(), 1e-30))


def spec_types(kernel):
    """(D, Dk, Dv) and the torch dtype of a kernel's q, k, v, from its
    signature."""
    q, k, v = kernel.signature.inputs[:3]
    dt = {"f16": torch.float16, "bf16": torch.bfloat16, "f32": torch.float32}[q.dtype]
    return [q.shape[3], k.shape[3], v.shape[3]], dt


FILTER = None  # --filter: a regex on bundle names (correctness and tuning)


def selected(name):
    return FILTER is None or re.search(FILTER, name) is not None


def correctness(report):
    rows = []
    shapes = [  # (name, B, Hq, Hkv, N, M)
        ("ragged", 2, 4, 4, 1000, 1000),
        ("ragged-small", 1, 3, 3, 77, 77),
        ("gqa", 2, 8, 2, 333, 333),
        ("cross N<M", 1, 4, 4, 100, 1234),
        ("cross N>M", 1, 4, 2, 300, 129),
        ("decode N=1", 3, 8, 1, 1, 2049),
        ("no keys M=0", 1, 2, 2, 5, 0),
        ("no queries N=0", 1, 2, 2, 0, 16),
    ]
    for f in sorted(os.listdir(BUNDLES)):
        # trace_*: measuring builds whose output is stamps (tile_trace.py).
        if (not f.endswith(".bundle") or f.startswith(("tune_", "rt_", "trace_"))
                or not selected(f)):
            continue
        name = f[:-7]
        spec = os.path.join(BUNDLES, name + ".mlir")
        if not os.path.exists(spec):
            continue  # another suite's bundle (build_routing.py's): its script checks it
        with open(spec) as fh:
            text = fh.read()
        if "blocks(" in text or name.startswith("sparse_"):
            continue  # block lists: bench/gpu/sparse.py checks them
        if "attn.linear" in text:
            continue  # recurrences (build_linear.py's): bench/gpu/linear.py checks them
        k = attnir.load(os.path.join(BUNDLES, f))
        if len(k.signature.inputs) != 3 or any(len(a.shape) != 4 for a in k.signature.inputs):
            continue  # other operands or layouts: their own scripts check them
        (d, _, dv), dt = spec_types(k)
        for sname, B, Hq, Hkv, N, M in shapes:
            torch.manual_seed(hash((name, sname)) % 2**31)
            q = torch.randn(B, Hq, N, d, device=dev, dtype=dt)
            kk = torch.randn(B, Hkv, M, d, device=dev, dtype=dt)
            v = torch.randn(B, Hkv, M, dv, device=dev, dtype=dt)
            try:
                got = k(q, kk, v)
                torch.cuda.synchronize()
                ref = attnir.reference(k, q.cpu(), kk.cpu(), v.cpu())
                got = got if isinstance(got, tuple) else (got,)
                ref = ref if isinstance(ref, tuple) else (ref,)
                err = max(rel_err(g.float().cpu().numpy(), r) for g, r in zip(got, ref))
                ok = err <= 1e-2
                msg = ""
            except Exception as e:  # a failure is a result, not a crash
                err, ok, msg = float("nan"), False, str(e)[:200]
            rows.append(dict(spec=name, shape=sname, B=B, Hq=Hq, Hkv=Hkv, N=N, M=M,
                             D=d, Dv=dv, max_rel_err=err, ok=ok, error=msg))
            print(f"check {name:30s} {sname:12s} err={err:.2e} {'ok' if ok else 'FAILED ' + msg}",
                  flush=True)
    report["correctness"] = rows


def runtime_checks(report):
    """What the runtime must refuse or honour on a real driver (CI has none):
    each case is (name, callable, expected exception type or None)."""
    k = attnir.load(os.path.join(BUNDLES, "example_cab_causal_cross.bundle"))

    def mk(*shape, dt=torch.bfloat16, device=dev):
        return torch.randn(*shape, device=device, dtype=dt)
    q, kk, v = mk(2, 8, 300, 64), mk(2, 2, 700, 64), mk(2, 2, 700, 64)

    def side_stream():
        s = torch.cuda.Stream()
        s.wait_stream(torch.cuda.current_stream())
        with torch.cuda.stream(s):
            o, lse = k(q, kk, v)
        s.synchronize()
        ref = attnir.reference(k, q.cpu(), kk.cpu(), v.cpu())
        err = rel_err(o.float().cpu().numpy(), ref[0])
        assert err <= 1e-2, err

    def out_arg():
        o = torch.empty(2, 8, 300, 64, device=dev, dtype=torch.bfloat16)
        lse = torch.empty(2, 8, 300, device=dev, dtype=torch.float32)
        k(q, kk, v, out=(o, lse))
        torch.cuda.synchronize()
        ref = attnir.reference(k, q.cpu(), kk.cpu(), v.cpu())
        assert rel_err(o.float().cpu().numpy(), ref[0]) <= 1e-2

    def ptx_bundle():
        kp = attnir.load(os.path.join(BUNDLES, "rt_ptx_causal_d64.bundle"))
        qq, k2, v2 = mk(1, 4, 200, 64), mk(1, 4, 250, 64), mk(1, 4, 250, 64)
        o = kp(qq, k2, v2)
        ref = attnir.reference(kp, qq.cpu(), k2.cpu(), v2.cpu())
        assert rel_err(o.float().cpu().numpy(), ref) <= 1e-2

    def other_chip():
        ko = attnir.load(os.path.join(BUNDLES, "rt_sm80_causal_d64.bundle"))
        ko(mk(1, 4, 20, 64), mk(1, 4, 20, 64), mk(1, 4, 20, 64))

    cases = [
        ("PTX bundle, JIT by the driver", ptx_bundle, None),
        ("cubin for sm_80 on this GPU", other_chip, ValueError),
        ("result on a side stream", side_stream, None),
        ("out= tensors", out_arg, None),
        ("host tensor", lambda: k(q.cpu(), kk, v), ValueError),
        ("non-contiguous k, v", lambda: k(q, kk[:, :, ::2], v[:, :, ::2]), ValueError),
        ("wrong dtype", lambda: k(q.half(), kk.half(), v.half()), TypeError),
        ("GQA heads 8 vs 3", lambda: k(q, mk(2, 3, 700, 64), mk(2, 3, 700, 64)), ValueError),
        ("k and v lengths differ", lambda: k(q, kk, mk(2, 2, 699, 64)), ValueError),
        ("misaligned view", lambda: k(mk(2 * 8 * 300 * 64 + 1)[1:].view(2, 8, 300, 64), kk, v),
         ValueError),
    ]
    rows = []
    for name, fn, want in cases:
        try:
            fn()
            got, msg = None, ""
        except Exception as e:  # noqa: BLE001 - the type is the result
            got, msg = type(e), str(e)[:160]
        ok = got is want or (want is not None and got is not None and issubclass(got, want))
        rows.append(dict(case=name, expected=want.__name__ if want else "success",
                         got=got.__name__ if got else "success", message=msg, ok=ok))
        print(f"runtime {name:28s} {'ok' if ok else 'FAILED'} {msg}", flush=True)
    report["runtime_checks"] = rows


def first_result(report):
    """A fresh process: import, load a bundle it never saw, first call."""
    child = (
        "import time, torch, attnir\n"
        "q = torch.randn(1, 16, 4096, 64, device='cuda', dtype=torch.bfloat16)\n"
        "torch.cuda.synchronize()\n"
        "t0 = time.perf_counter()\n"
        f"k = attnir.load({os.path.join(BUNDLES, 'example_sliding_window.bundle')!r})\n"
        "o = k(q, q, q); torch.cuda.synchronize()\n"
        "print(time.perf_counter() - t0)\n")
    t = float(subprocess.run([sys.executable, "-c", child], check=True, capture_output=True,
                             text=True).stdout.strip().splitlines()[-1])
    with open(os.path.join(BUNDLES, "compile_times.json")) as fh:
        ct = json.load(fh)
    c = ct["compile_s"]["example_sliding_window"]
    report["first_result"] = dict(compile_s=c, compile_host=ct.get("host"),
                                  load_and_first_call_s=t, total_s=c + t)
    print(f"spec to first result: compile {c:.2f} s + load and first call {t:.2f} s", flush=True)


def time_ms(fn, sets, reps):
    for s in sets:  # warm-up (and compilation, for Flex)
        fn(*s)
    torch.cuda.synchronize()
    ev = [(torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True))
          for _ in range(reps)]
    for i, (a, b) in enumerate(ev):
        a.record()
        fn(*sets[i % len(sets)])
        b.record()
    torch.cuda.synchronize()
    return float(np.median([a.elapsed_time(b) for a, b in ev]))


def timings(report, reps, ns):
    from torch.nn.attention import SDPBackend, sdpa_kernel
    from torch.nn.attention.flex_attention import create_block_mask, flex_attention
    flex = torch.compile(flex_attention, dynamic=False)

    def causal_mask(b, h, qi, ki):
        return qi >= ki

    rows = []
    B, H = 8, 16
    for N in ns:
        for D in (64, 128):
            sets = [tuple(torch.randn(B, H, N, D, device=dev, dtype=torch.bfloat16)
                          for _ in range(3)) for _ in range(2)]
            for causal in (False, True):
                kind = "causal" if causal else "dense"
                flops = 4 * B * H * N * N * D / (2 if causal else 1)
                kern = attnir.load(os.path.join(BUNDLES, f"bench_{kind}_d{D}.bundle"))
                methods = {"attnir": lambda q, k, v: kern(q, k, v)}

                def sdpa(be):
                    def f(q, k, v):
                        with sdpa_kernel(be):
                            return F.scaled_dot_product_attention(q, k, v, is_causal=causal)
                    return f
                methods["sdpa-flash"] = sdpa(SDPBackend.FLASH_ATTENTION)
                methods["sdpa-cudnn"] = sdpa(SDPBackend.CUDNN_ATTENTION)
                bm = create_block_mask(causal_mask, None, None, N, N) if causal else None
                methods["flex"] = lambda q, k, v: flex(q, k, v, block_mask=bm)
                row = dict(N=N, D=D, mask=kind, B=B, H=H)
                for m, fn in methods.items():
                    try:
                        ms = time_ms(fn, sets, reps)
                        row[m] = dict(ms=ms, tflops=flops / ms / 1e9)
                    except Exception as e:
                        row[m] = dict(error=str(e)[:200])
                rows.append(row)
                print(json.dumps(row), flush=True)
            del sets
            torch.cuda.empty_cache()
    report["timings"] = rows


def tune(report, reps):
    """Times every tune_* bundle (option variants of the timing specs) at
    N = 4096, B = 8, H = 16: the data behind the pass's defaults."""
    rows = []
    B, H, N = 8, 16, 4096
    sets = {}
    for f in sorted(os.listdir(BUNDLES)):
        if not (f.startswith("tune_") and f.endswith(".bundle")) or not selected(f):
            continue
        name = f[:-7]
        _, kind, dname, _ = name.split("_")
        D = int(dname[1:])
        if D not in sets:
            sets[D] = [tuple(torch.randn(B, H, N, D, device=dev, dtype=torch.bfloat16)
                             for _ in range(3)) for _ in range(2)]
        with open(os.path.join(BUNDLES, name + ".options")) as fh:
            opts = fh.read().strip()
        kern = attnir.load(os.path.join(BUNDLES, f))
        flops = 4 * B * H * N * N * D / (2 if kind == "causal" else 1)
        ms = time_ms(lambda q, k, v: kern(q, k, v), sets[D], reps)
        rows.append(dict(D=D, mask=kind, options=opts, ms=ms, tflops=flops / ms / 1e9))
        print(f"tune D={D} {kind:6s} {opts:28s} {ms:7.3f} ms {flops / ms / 1e9:6.1f} TFLOP/s",
              flush=True)
    report["tuning"] = rows


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", default=os.environ.get("OUT", "."))
    ap.add_argument("--reps", type=int, default=50)
    ap.add_argument("--n", default="4096,16384")
    ap.add_argument("--skip-timing", action="store_true")
    ap.add_argument("--tune", action="store_true")
    ap.add_argument("--skip-check", action="store_true")
    ap.add_argument("--filter", help="regex: check and tune only the bundles it matches")
    args = ap.parse_args()
    global FILTER
    FILTER = args.filter
    report = dict(date=datetime.date.today().isoformat(), device=torch.cuda.get_device_name(),
                  torch=torch.__version__, cuda=torch.version.cuda, attnir=attnir.version())
    if not args.skip_check:
        correctness(report)
        runtime_checks(report)
    first_result(report)
    # The C runtime (attnir-run from a runtime-only CMake build) on a bundle.
    r = subprocess.run([sys.executable, os.path.join(HERE, "c_runtime_check.py")],
                       capture_output=True, text=True)
    try:
        report["c_runtime"] = json.loads(r.stdout.strip().splitlines()[-1])
    except (ValueError, IndexError):
        report["c_runtime"] = dict(ok=False, error=(r.stderr or r.stdout)[-300:])
    print("C runtime:", report["c_runtime"], flush=True)
    if args.tune:
        tune(report, args.reps)
    if not args.skip_timing:
        timings(report, args.reps, [int(x) for x in args.n.split(",")])
    os.makedirs(args.out, exist_ok=True)
    with open(os.path.join(args.out, "gpu.json"), "w") as fh:
        json.dump(report, fh, indent=1)
    write_md(report, os.path.join(args.out, "gpu.md"))
    print(open(os.path.join(args.out, "gpu.md")).read())


if __name__ == "__main__":
    main()
