#!/usr/bin/env python3
"""On the GPU machine: where a program's host time goes. Times the CUDA
driver calls a call makes (through ctypes on libcuda: context and pointer
queries, tensor-map encoding, launches of an empty kernel with few and many
parameters) and the routing program's and the causal kernel's calls at a
size whose kernels take microseconds, each both back to back and as the
first call after a synchronize (what a benchmark's event pair around one
call sees). Writes host-parts.json into --out.

  PYTHONPATH=<runtime-only site> python3 bench/gpu/host_parts.py --out DIR
"""
import argparse
import ctypes
import json
import os
import time

import torch

import attnir
from attnir import _cuda

HERE = os.path.dirname(os.path.abspath(__file__))
BUNDLES = os.path.join(HERE, "bundles")
dev = "cuda"

EMPTY_PTX = """
.version 8.0
.target sm_90
.address_size 64
.visible .entry empty() { ret; }
.visible .entry many(%s) { ret; }
""" % ", ".join(f".param .u64 p{i}" for i in range(64))


def per_us(fn, n=2000):
    for _ in range(50):
        fn()
    t = time.perf_counter()
    for _ in range(n):
        fn()
    return (time.perf_counter() - t) / n * 1e6


def after_sync_us(fn, n=200):
    """Median host time of one call issued right after a synchronize."""
    fn()
    ts = []
    for _ in range(n):
        torch.cuda.synchronize()
        t = time.perf_counter()
        fn()
        ts.append(time.perf_counter() - t)
    torch.cuda.synchronize()
    ts.sort()
    return ts[len(ts) // 2] * 1e6


def event_us(fn, n=200):
    """Median event time around one call after a synchronize."""
    fn()
    ts = []
    for _ in range(n):
        torch.cuda.synchronize()
        a, b = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        a.record()
        fn()
        b.record()
        torch.cuda.synchronize()
        ts.append(a.elapsed_time(b) * 1e3)
    ts.sort()
    return ts[len(ts) // 2]


def driver_parts(rows):
    cu = ctypes.CDLL("libcuda.so.1")
    x = torch.randn(1, 32, 16384, 64, device=dev, dtype=torch.bfloat16)
    torch.cuda.synchronize()
    ctx = ctypes.c_void_p()
    memtype = ctypes.c_uint()
    ptr = ctypes.c_uint64(x.data_ptr())
    devh = ctypes.c_int()
    sms = ctypes.c_int()
    assert cu.cuCtxGetCurrent(ctypes.byref(ctx)) == 0 and ctx.value
    stream = ctypes.c_void_p(torch.cuda.current_stream().cuda_stream)

    def ptr_attr():
        cu.cuPointerGetAttribute(ctypes.byref(memtype), 2, ptr)

    def sm_count():
        cu.cuCtxGetDevice(ctypes.byref(devh))
        cu.cuDeviceGetAttribute(ctypes.byref(sms), 16, devh)

    tmap = (ctypes.c_uint64 * 16)()
    dims = (ctypes.c_uint64 * 4)(64, 16384, 32, 1)
    strides = (ctypes.c_uint64 * 3)(128, 128 * 16384, 128 * 16384 * 32)
    box = (ctypes.c_uint * 4)(64, 128, 1, 1)
    unit = (ctypes.c_uint * 4)(1, 1, 1, 1)

    def encode():
        cu.cuTensorMapEncodeTiled(tmap, 9, 4, ctypes.c_void_p(x.data_ptr()), dims, strides,
                                  box, unit, 0, 3, 3, 0)

    mod = ctypes.c_void_p()
    src = EMPTY_PTX.encode() + b"\0"
    assert cu.cuModuleLoadData(ctypes.byref(mod), src) == 0
    empty, many = ctypes.c_void_p(), ctypes.c_void_p()
    assert cu.cuModuleGetFunction(ctypes.byref(empty), mod, b"empty") == 0
    assert cu.cuModuleGetFunction(ctypes.byref(many), mod, b"many") == 0
    words = (ctypes.c_uint64 * 64)()
    params = (ctypes.c_void_p * 64)(*[ctypes.addressof(words) + 8 * i for i in range(64)])

    def launch_empty():
        cu.cuLaunchKernel(empty, 1, 1, 1, 32, 1, 1, 0, stream, None, None)

    def launch_many():
        cu.cuLaunchKernel(many, 1, 1, 1, 32, 1, 1, 0, stream, params, None)

    def get_ctx():
        cu.cuCtxGetCurrent(ctypes.byref(ctx))

    for name, fn in (("ctypes: cuCtxGetCurrent", get_ctx),
                     ("ctypes: cuPointerGetAttribute (memory type)", ptr_attr),
                     ("ctypes: cuCtxGetDevice + cuDeviceGetAttribute", sm_count),
                     ("ctypes: cuTensorMapEncodeTiled", encode),
                     ("ctypes: cuLaunchKernel, no parameters", launch_empty),
                     ("ctypes: cuLaunchKernel, 64 parameters", launch_many)):
        b2b = per_us(fn)
        torch.cuda.synchronize()
        first = after_sync_us(fn)
        rows.append(dict(part=name, back_to_back_us=b2b, after_sync_us=first))
        print(f"{name:55s} {b2b:7.2f} us back to back, {first:7.2f} after a sync", flush=True)
    torch.cuda.synchronize()
    cu.cuModuleUnload(mod)


def call_parts(rows):
    B, H, N, D, C = 1, 1, 256, 64, 16
    q, k, v = (torch.randn(B, H, N, D, device=dev, dtype=torch.bfloat16) for _ in range(3))
    mu = torch.randn(H, C, D, device=dev, dtype=torch.bfloat16)
    for label, name, arrays in (("routing program (3 kernels)", "routing_bench_c16_chunks",
                                 (q, k, v, mu)),
                                ("causal (1 kernel)", "routing_causal_d64", (q, k, v))):
        kern = attnir.load(os.path.join(BUNDLES, name + ".bundle"))
        e, native = kern._e, kern._native
        tensors = [(t.data_ptr(), _cuda._code(torch, t, n), tuple(t.shape), tuple(t.stride()))
                   for t, n in zip(arrays, e.in_names)]
        kern(*arrays)  # sets up the call path's dtype table
        outs_t = [torch.empty(tuple(s), dtype=_cuda._TORCH_DTYPE[c], device=dev)
                  for s, c in zip(native.output_shapes(e.index, tensors), e.out_codes)]
        outs = [(t.data_ptr(), c, tuple(t.shape), tuple(t.stride()))
                for t, c in zip(outs_t, e.out_codes)]
        stream = torch.cuda.current_stream().cuda_stream
        for part, fn in ((f"{label}: kern(...)", lambda: kern(*arrays)),
                         (f"{label}: native.run (prepared tuples)",
                          lambda: native.run(e.index, tensors, outs, stream))):
            b2b = per_us(fn, 500)
            torch.cuda.synchronize()
            first = after_sync_us(fn)
            ev = event_us(fn)
            rows.append(dict(part=part, back_to_back_us=b2b, after_sync_us=first, event_us=ev))
            print(f"{part:55s} {b2b:7.2f} us back to back, {first:7.2f} after a sync, "
                  f"events {ev:7.2f}", flush=True)


def python_parts(rows):
    """The pieces of _cuda.call for the routing program, each alone."""
    B, H, N, D, C = 1, 1, 256, 64, 16
    q, k, v = (torch.randn(B, H, N, D, device=dev, dtype=torch.bfloat16) for _ in range(3))
    mu = torch.randn(H, C, D, device=dev, dtype=torch.bfloat16)
    arrays = (q, k, v, mu)
    kern = attnir.load(os.path.join(BUNDLES, "routing_bench_c16_chunks.bundle"))
    e, native = kern._e, kern._native
    kern(*arrays)
    tensors = [(t.data_ptr(), _cuda._code(torch, t, n), tuple(t.shape), tuple(t.stride()))
               for t, n in zip(arrays, e.in_names)]
    device = q.device
    parts = {
        "py: _as_cuda_tensor x4": lambda: [_cuda._as_cuda_tensor(torch, a, n)
                                           for a, n in zip(arrays, e.in_names)],
        "py: get_device x4": lambda: [t.get_device() for t in arrays],
        "py: (data_ptr, code, shape, stride) x4": lambda: [
            (t.data_ptr(), _cuda._code(torch, t, n), tuple(t.shape), tuple(t.stride()))
            for t, n in zip(arrays, e.in_names)],
        "py: native.output_shapes": lambda: native.output_shapes(e.index, tensors),
        "py: torch.empty of the output (device object)": lambda: torch.empty(
            (B, H, N, D), dtype=torch.bfloat16, device=device),
        "py: torch.empty of the output (device index)": lambda: torch.empty(
            (B, H, N, D), dtype=torch.bfloat16, device=0),
        "py: torch.cuda.current_device()": torch.cuda.current_device,
        "py: torch._C._cuda_getDevice()": torch._C._cuda_getDevice,
        "py: _stream_of": lambda: _cuda._stream_of(torch, 0),
        "py: empty lambda": lambda: None,
    }
    for name, fn in parts.items():
        b2b = per_us(fn)
        rows.append(dict(part=name, back_to_back_us=b2b))
        print(f"{name:55s} {b2b:7.2f} us", flush=True)


def bench_shape(rows):
    """The routing benchmark's shape (routing.py): one call between events
    after a sync, and back to back, for the program and causal."""
    from sparse import stream_ms, time_ms
    B, H, N, D, C = 1, 32, 16384, 64, 16
    gen = torch.Generator(device=dev).manual_seed(1)
    q, k, v = (torch.randn(B, H, N, D, device=dev, generator=gen, dtype=torch.bfloat16)
               for _ in range(3))
    mu = torch.randn(H, C, D, device=dev, generator=gen, dtype=torch.bfloat16)
    routing = attnir.load(os.path.join(BUNDLES, "routing_bench_c16_chunks.bundle"))
    causal = attnir.load(os.path.join(BUNDLES, "routing_causal_d64.bundle"))
    r = dict(part="bench shape B=1 H=32 N=16384 D=64 C=16",
             routing_event_ms=time_ms(lambda: routing(q, k, v, mu), 50),
             causal_event_ms=time_ms(lambda: causal(q, k, v), 50),
             routing_stream_ms=stream_ms(lambda: routing(q, k, v, mu), 50),
             causal_stream_ms=stream_ms(lambda: causal(q, k, v), 50))
    r["event_share"] = r["routing_event_ms"] / r["causal_event_ms"]
    r["stream_share"] = r["routing_stream_ms"] / r["causal_stream_ms"]
    rows.append(r)
    print(json.dumps(r), flush=True)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", default=".")
    ap.add_argument("--name", default="host-parts")
    args = ap.parse_args()
    torch.zeros(1, device=dev)
    rows = []
    driver_parts(rows)
    call_parts(rows)
    python_parts(rows)
    bench_shape(rows)
    with open(os.path.join(args.out, args.name + ".json"), "w") as f:
        json.dump(dict(device=torch.cuda.get_device_name(), rows=rows), f, indent=1)


if __name__ == "__main__":
    main()
