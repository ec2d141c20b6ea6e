#!/usr/bin/env python3
"""On the GPU machine: runs the prototype cubins through the CUDA driver API
(ctypes), checks them against float64 attention on ragged shapes, and times
them next to torch SDPA. usage: python3 run_device.py"""
import ctypes
import json
import os
import sys

import torch

HERE = os.path.dirname(os.path.abspath(__file__))
cuda = ctypes.CDLL("libcuda.so.1")


def check(rc, what):
    if rc != 0:
        raise RuntimeError(f"{what} failed with CUresult {rc}")


def load(name):
    data = open(os.path.join(HERE, "cubins", f"{name}.cubin"), "rb").read()
    mod, fn = ctypes.c_void_p(), ctypes.c_void_p()
    check(cuda.cuModuleLoadData(ctypes.byref(mod), data), "cuModuleLoadData")
    check(cuda.cuModuleGetFunction(ctypes.byref(fn), mod, name.encode()), "cuModuleGetFunction")
    return fn


def memref_params(t):
    # allocated, aligned, offset, sizes[4], strides[4] (elements)
    return [t.data_ptr(), t.data_ptr(), 0, *t.shape, *t.stride()]


def launch(fn, q, k, v, o):
    vals = [ctypes.c_uint64(x) for t in (q, k, v, o) for x in memref_params(t)]
    ptrs = (ctypes.c_void_p * len(vals))(*[ctypes.cast(ctypes.byref(x), ctypes.c_void_p) for x in vals])
    B, H, N, D = q.shape
    stream = ctypes.c_void_p(torch.cuda.current_stream().cuda_stream)
    check(cuda.cuLaunchKernel(fn, (N + 63) // 64, H, B, 128, 1, 1, 0, stream, ptrs, None),
          "cuLaunchKernel")


def reference(q, k, v, causal):
    q, k, v = q.double(), k.double(), v.double()
    N, M = q.shape[2], k.shape[2]
    s = q @ k.transpose(-1, -2) / q.shape[-1] ** 0.5
    if causal:
        i = torch.arange(N, device=q.device)[:, None]
        j = torch.arange(M, device=q.device)[None, :]
        s = s.masked_fill(j > i + (M - N), float("-inf"))
    p = torch.softmax(s, dim=-1)
    return torch.nan_to_num(p) @ v


def time_ms(f, reps=20):
    for _ in range(3):
        f()
    ts = []
    for _ in range(reps):
        a, b = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        a.record()
        f()
        b.record()
        torch.cuda.synchronize()
        ts.append(a.elapsed_time(b))
    ts.sort()
    return ts[len(ts) // 2]


def main():
    torch.manual_seed(0)
    torch.zeros(1, device="cuda")  # creates torch's (primary) context, current here
    check(cuda.cuInit(0), "cuInit")
    fns = {c: load(c) for c in ("dense", "causal", "dense_d128", "causal_d128")}
    results = {"device": torch.cuda.get_device_name(), "torch": torch.__version__, "checks": [], "timings": []}
    def kname(causal, D):
        return ("causal" if causal else "dense") + ("" if D == 64 else f"_d{D}")

    for D in (64, 128):
      for causal in (False, True):
        for (B, H, N, M) in ((1, 2, 1000, 1000), (2, 3, 77, 77), (1, 1, 1, 1), (1, 2, 64, 64), (1, 2, 130, 300)):
            q = torch.randn(B, H, N, D, device="cuda", dtype=torch.float16)
            k = torch.randn(B, H, M, D, device="cuda", dtype=torch.float16)
            v = torch.randn(B, H, M, D, device="cuda", dtype=torch.float16)
            o = torch.zeros_like(q)
            launch(fns[kname(causal, D)], q, k, v, o)
            torch.cuda.synchronize()
            ref = reference(q, k, v, causal)
            err = ((o.double() - ref).abs().max() / ref.abs().max()).item()
            results["checks"].append(dict(causal=causal, D=D, shape=[B, H, N, M], max_rel_err=err, ok=err <= 1e-2))
            print("check", kname(causal, D), (B, H, N, M), f"{err:.2e}", flush=True)
    for D in (64, 128):
      for causal in (False, True):
        B, H, N = 8, 16, 4096
        q, k, v = (torch.randn(B, H, N, D, device="cuda", dtype=torch.float16) for _ in range(3))
        o = torch.empty_like(q)
        fn = fns[kname(causal, D)]
        ms = time_ms(lambda: launch(fn, q, k, v, o))
        flops = 4 * B * H * N * N * D * (0.5 if causal else 1.0)
        sdpa = time_ms(lambda: torch.nn.functional.scaled_dot_product_attention(q, k, v, is_causal=causal))
        flex_ms = None
        try:  # FlexAttention, compiled, in the same process (the anchor)
            from torch.nn.attention.flex_attention import create_block_mask, flex_attention
            flex = torch.compile(flex_attention)
            bm = None
            if causal:
                bm = create_block_mask(lambda b, h, qi, ki: qi >= ki, None, None, N, N)
            flex_ms = time_ms(lambda: flex(q, k, v, block_mask=bm))
        except Exception as e:  # noqa: BLE001 - report and go on
            print("flex unavailable:", e, flush=True)
        row = dict(causal=causal, B=B, H=H, N=N, D=D, dtype="f16", attnir_ms=ms,
                   attnir_tflops=flops / ms / 1e9, sdpa_ms=sdpa, sdpa_tflops=flops / sdpa / 1e9,
                   flex_ms=flex_ms, flex_tflops=flops / flex_ms / 1e9 if flex_ms else None)
        results["timings"].append(row)
        print("time", json.dumps(row), flush=True)
    out = os.environ.get("OUT", HERE)
    with open(os.path.join(out, "prototype_results.json"), "w") as f:
        json.dump(results, f, indent=1)
    if not all(c["ok"] for c in results["checks"]):
        sys.exit(1)


if __name__ == "__main__":
    main()
