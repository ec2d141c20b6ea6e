#!/usr/bin/env python3
"""On the GPU machine: the host time of one call of a CUDA bundle, split
into its Python and C parts. The kernel is a block list of one block per
tile at B = H = 1 (microseconds on the GPU), so back-to-back calls without
a sync are bound by the host: mean wall time per call over 500 calls.
Before the timings, the call path's checks: the result against the float64
reference (inputs that require grad, out=, a side stream, a fresh thread)
and its errors (a host tensor, a numpy array, a wrong dtype).
Writes host-overhead.json into --out.

  PYTHONPATH=<runtime-only site> python3 bench/gpu/host_overhead.py --out DIR
"""
import argparse
import json
import os
import threading
import time

import numpy as np

import torch

import attnir
from attnir import _cuda
from sparse import BUNDLES, dev, random_lists, reference


def checks(kern):
    """Each (name, ok) of the call path."""
    gen = torch.Generator().manual_seed(7)
    B, H, N, M = 1, 2, 700, 555
    q = torch.randn(B, H, N, 128, device=dev, dtype=torch.bfloat16)
    k = torch.randn(B, H, M, 128, device=dev, dtype=torch.bfloat16)
    v = torch.randn(B, H, M, 128, device=dev, dtype=torch.bfloat16)
    nqb, nkb = -(-N // 128), -(-M // 128)
    idx, cnt = random_lists(B, H, nqb, nkb, nkb, 0.6, torch.int32, gen)
    ref = reference(q, k, v, idx, cnt, 128, 128, False, 128 ** -0.5)[0]
    idx, cnt = idx.to(dev), cnt.to(dev)

    def close(out):
        return ((out.double() - ref).abs().max() / ref.abs().max()).item() <= 1e-2

    res = []
    res.append(("plain call", close(kern(q, k, v, idx, cnt))))
    qg = q.clone().requires_grad_(True)
    res.append(("q requires grad", close(kern(qg, k, v, idx, cnt))))
    o = torch.empty_like(q)
    res.append(("out=", kern(q, k, v, idx, cnt, out=o) is o and close(o)))
    side = torch.cuda.Stream()
    with torch.cuda.stream(side):
        o2 = kern(q, k, v, idx, cnt)
    side.synchronize()
    res.append(("side stream", close(o2)))
    got = {}
    t = threading.Thread(target=lambda: got.update(o=kern(q, k, v, idx, cnt)))
    t.start()
    t.join()
    torch.cuda.synchronize()
    res.append(("fresh thread", close(got["o"])))
    for name, fn, exc in (
            ("host tensor", lambda: kern(q.cpu(), k, v, idx, cnt), ValueError),
            ("numpy array (DLPack on the host)", lambda: kern(np.zeros((1, 1, 1, 128)), k, v, idx, cnt), ValueError),
            ("a list", lambda: kern([0.0], k, v, idx, cnt), TypeError),
            ("wrong dtype", lambda: kern(q.half(), k.half(), v.half(), idx, cnt), TypeError),
            ("too few arrays", lambda: kern(q, k, v), TypeError)):
        try:
            fn()
            res.append((name + " refused", False))
        except exc as e:
            res.append((name + " refused", bool(str(e))))
    return res


def per_call_us(fn, n=500):
    for _ in range(20):
        fn()
    torch.cuda.synchronize()
    t = time.perf_counter()
    for _ in range(n):
        fn()
    host = (time.perf_counter() - t) / n * 1e6
    torch.cuda.synchronize()
    wall = (time.perf_counter() - t) / n * 1e6
    return host, wall


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", default=".")
    args = ap.parse_args()
    kern = attnir.load(os.path.join(BUNDLES, "short_list_default.bundle"))
    results = checks(kern)
    for name, ok in results:
        print(f"check {name}: {'ok' if ok else 'FAILED'}", flush=True)
    B, H, N, D = 1, 1, 16384, 128
    nb = N // 128
    q, k, v = (torch.randn(B, H, N, D, device=dev, dtype=torch.bfloat16) for _ in range(3))
    idx = torch.arange(nb, dtype=torch.int32, device=dev).view(1, 1, nb, 1).contiguous()
    cnt = torch.ones(1, 1, nb, dtype=torch.int32, device=dev)
    arrays = (q, k, v, idx, cnt)
    e = kern._e
    native = kern._native
    out = torch.empty_like(q)
    outs = [(out.data_ptr(), _cuda._code(torch, out, "o"), tuple(out.shape), tuple(out.stride()))]
    stream = torch.cuda.current_stream(dev).cuda_stream
    a, b2 = torch.randn(16, device=dev), torch.randn(16, device=dev)

    def marshal():
        return [(t.data_ptr(), _cuda._code(torch, t, n), tuple(t.shape), tuple(t.stride()))
                for t, n in zip(arrays, e.in_names)]

    tensors = marshal()

    def device_ctx():
        with torch.cuda.device(q.device):
            torch.cuda.current_stream(q.device).cuda_stream

    parts = {
        "full call kern(q, k, v, idx, cnt)": lambda: kern(*arrays),
        "full call with out=": lambda: kern(*arrays, out=out),
        "native.run alone (prepared tuples)": lambda: native.run(e.index, tensors, outs, stream),
        "native.output_shapes alone": lambda: native.output_shapes(e.index, tensors),
        "marshalling the 5 inputs (data_ptr, shape, stride)": marshal,
        "torch.empty of the output": lambda: torch.empty((B, H, N, D), dtype=torch.bfloat16, device=dev),
        "with torch.cuda.device + current_stream": device_ctx,
        "baseline: torch.add of 16 floats": lambda: torch.add(a, b2),
    }
    # A/B: the call path of an earlier _cuda.py (HOST_BEFORE=path), same process.
    if os.environ.get("HOST_BEFORE"):
        import importlib.util
        spec = importlib.util.spec_from_file_location("attnir._cuda_before",
                                                      os.environ["HOST_BEFORE"])
        before = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(before)
        parts["full call, the earlier call path"] = lambda: before.call(native, e, arrays, None)
        parts["full call again (this call path)"] = lambda: kern(*arrays)
    rows = []
    for name, fn in parts.items():
        host, wall = per_call_us(fn)
        rows.append(dict(part=name, host_us=host, wall_us=wall))
        print(f"{name:55s} host {host:7.1f} us  wall {wall:7.1f} us", flush=True)
    with open(os.path.join(args.out, "host-overhead.json"), "w") as f:
        json.dump(dict(device=torch.cuda.get_device_name(), rows=rows,
                       checks=[dict(name=n, ok=o) for n, o in results]), f, indent=1)
    bad = [n for n, o in results if not o]
    print(f"{len(results) - len(bad)}/{len(results)} checks ok")
    if bad:
        raise SystemExit(1)


if __name__ == "__main__":
    main()
