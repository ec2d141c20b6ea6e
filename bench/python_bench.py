#!/usr/bin/env python3
"""Python binding overheads: the cost of calling a kernel through `attnir`
against a bare C call of attnir_run (ctypes on libAttnIRCAPI.so, arguments
prepared once), the time of attnir.compile on a cache hit, and of a fresh
compile. Writes docs/benchmarks/python.md.

Usage: python3 bench/python_bench.py [--quick] [--out docs/benchmarks/python.md]

The call is the tiniest problem (B = H = N = M = 1, D = 64, dense f32), so
the kernel's own work is a few hundred nanoseconds and what is measured is
the path to it. Targets: wrapper overhead < 20 us, cache hit < 50 ms, fresh
compile < 1 s. Call timings are the fastest of interleaved batches (the
cost on a quiet machine), compile timings medians of single runs, all in this
process; run it on a quiet machine (2 cores are shared with anything else).
"""
import argparse
import ctypes
import datetime
import os
import platform
import statistics
import sys
import tempfile
import time
import uuid

import numpy as np

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


class Tensor(ctypes.Structure):  # attnir_tensor_t
    _fields_ = [("data", ctypes.c_void_p), ("dtype", ctypes.c_int),
                ("rank", ctypes.c_int32), ("shape", ctypes.POINTER(ctypes.c_int64)),
                ("strides", ctypes.POINTER(ctypes.c_int64))]


def per_call(fns, batch, repeats):
    """For each function, the fastest of `repeats` batches (mean time of one
    call in a batch, seconds). The functions' batches are interleaved so that
    a burst of load from elsewhere hits all of them alike; the minimum is the
    cost on a quiet machine."""
    for fn in fns:
        fn()
    best = [float("inf")] * len(fns)
    for _ in range(repeats):
        for i, fn in enumerate(fns):
            t0 = time.perf_counter()
            for _ in range(batch):
                fn()
            best[i] = min(best[i], (time.perf_counter() - t0) / batch)
    return best


class NoRun:
    """The extension kernel with its C call removed: what is left of
    kernel(...) is the wrapper's own work."""

    def __init__(self, native):
        self._n = native

    def run(self, *args):
        pass

    def output_shapes(self, *args):
        return self._n.output_shapes(*args)


def single(fn, repeats):
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def c_api(lib_path):
    lib = ctypes.CDLL(lib_path)
    lib.attnir_compile.restype = ctypes.c_void_p
    lib.attnir_compile.argtypes = [ctypes.c_char_p, ctypes.c_size_t, ctypes.c_char_p, ctypes.c_char_p]
    lib.attnir_run.restype = ctypes.c_int
    lib.attnir_run.argtypes = [ctypes.c_void_p, ctypes.c_int32, ctypes.POINTER(Tensor), ctypes.c_int32,
                               ctypes.POINTER(Tensor), ctypes.c_int32]
    lib.attnir_last_error.restype = ctypes.c_char_p
    lib.attnir_kernel_free.argtypes = [ctypes.c_void_p]
    return lib


def cpu_name():
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="fewer repeats")
    ap.add_argument("--out", default=os.path.join(REPO, "docs", "benchmarks", "python.md"))
    args = ap.parse_args()
    cache = tempfile.mkdtemp(prefix="attnir-bench-cache-")
    os.environ["ATTNIR_CACHE_DIR"] = cache
    os.environ.pop("ATTNIR_CACHE", None)
    import attnir
    from attnir import _native

    batch, reps = (2000, 5) if args.quick else (20000, 9)
    spec = attnir.patterns.dense(head_dim=64)
    kernel = attnir.compile(spec)
    rng = np.random.default_rng(0)
    q, k, v = (rng.standard_normal((1, 1, 1, 64)).astype(np.float32) for _ in range(3))
    o = np.empty((1, 1, 1, 64), np.float32)

    # -- the bare C call: ctypes, arguments prepared once --------------------
    lib_path = os.path.join(os.path.dirname(_native.ext().__file__), "libAttnIRCAPI.so")
    lib = c_api(lib_path)
    text = spec.encode()
    handle = lib.attnir_compile(text, len(text), b"cpu", None)
    if not handle:
        sys.exit(f"attnir_compile: {lib.attnir_last_error().decode()}")
    shape = (ctypes.c_int64 * 4)(1, 1, 1, 64)
    ins = (Tensor * 3)(*[Tensor(x.ctypes.data, 0, 4, shape, None) for x in (q, k, v)])
    outs = (Tensor * 1)(Tensor(o.ctypes.data, 0, 4, shape, None))
    run = lib.attnir_run
    rc = run(handle, 0, ins, 3, outs, 1)
    if rc != 0:
        sys.exit(f"attnir_run: {lib.attnir_last_error().decode()}")
    ref = kernel(q, k, v)
    assert np.array_equal(o, ref)

    qt = np.repeat(q, 2, axis=-1)[..., ::2]  # a strided view (stride 2 along D), same values
    assert not qt.flags.c_contiguous and np.array_equal(qt, q)
    stub = attnir.Kernel.__new__(attnir.Kernel)
    stub.__dict__.update(kernel.__dict__)
    stub._native = NoRun(kernel._native)
    t_c, t_py, t_py_out, t_py_strided, t_wrap = per_call([
        lambda: run(handle, 0, ins, 3, outs, 1),
        lambda: kernel(q, k, v),
        lambda: kernel(q, k, v, out=o),
        lambda: kernel(qt, k, v),
        lambda: stub(q, k, v),
    ], batch, reps)
    lib.attnir_kernel_free(handle)

    # -- compiles ----------------------------------------------------------------
    n_compile = 3 if args.quick else 7
    attnir.compile(spec)                                   # make sure the entry exists
    t_hit = single(lambda: attnir.compile(spec), 5 * n_compile)
    t_fresh = single(lambda: attnir.compile(spec, cache=False), n_compile)
    t_miss = single(lambda: attnir.compile(f"// {uuid.uuid4().hex}\n{spec}"), n_compile)

    overhead = t_py - t_c
    rows = [
        ("bare C call (ctypes, `attnir_run`, prepared arguments)", t_c * 1e6, "us", None),
        ("`kernel(q, k, v)` (allocates the output)", t_py * 1e6, "us", None),
        ("`kernel(q, k, v, out=o)`", t_py_out * 1e6, "us", None),
        ("`kernel(q_strided, k, v)` (C copies q)", t_py_strided * 1e6, "us", None),
        ("**wrapper overhead** = `kernel(q, k, v)` - bare C", overhead * 1e6, "us", 20),
        ("wrapper alone (`kernel(q, k, v)` with the C call stubbed out)", t_wrap * 1e6, "us", None),
        ("**`attnir.compile` cache hit**", t_hit * 1e3, "ms", 50),
        ("**fresh compile** (`cache=False`)", t_fresh * 1e3, "ms", 1000),
        ("cache miss (compile + atomic save)", t_miss * 1e3, "ms", None),
    ]
    cmd = "python3 bench/python_bench.py" + (" --quick" if args.quick else "")
    lines = [
        "# Python binding overheads",
        "",
        f"Written by `{cmd}` on {datetime.date.today().isoformat()}.",
        "",
        f"- machine: {cpu_name()}, {os.cpu_count()} cores; Python {platform.python_version()}, "
        f"numpy {np.__version__}; {attnir.version()}; load average at start "
        f"{os.getloadavg()[0]:.2f}; OMP_NUM_THREADS={os.environ.get('OMP_NUM_THREADS', 'unset')}",
        "- problem: dense f32, B = H = N = M = 1, D = 64 (`attnir.patterns.dense()`): the kernel's "
        "own work is negligible, so the call times are the path to it",
        f"- calls: fastest of {reps} interleaved batches of {batch} calls; compiles: median of "
        f"{5 * n_compile} hits, {n_compile} fresh compiles, {n_compile} misses",
        "",
        "| measure | time | target | met |",
        "|---|---:|---:|:---:|",
    ]
    for name, value, unit, target in rows:
        tgt = f"< {target} {unit}" if target else ""
        met = ("yes" if value < target else "**no**") if target else ""
        lines.append(f"| {name} | {value:.2f} {unit} | {tgt} | {met} |")
    lines += [
        "",
        "The wrapper's work per call: a dtype lookup and a contiguity check per "
        "array (contiguous numpy arrays go to the extension as `(array, dtype)` "
        "and it reads data, shape and strides from the array itself; other "
        "arrays as `(data_ptr, dtype, shape, strides)`), the output shapes "
        "(memoized per input shapes and dtypes), allocating the output, and one C "
        "call with the GIL released. The bare C call's own time is the C "
        "runtime's (argument checks, descriptors, the OpenMP region), not "
        "Python's.",
        "",
    ]
    os.makedirs(os.path.dirname(args.out), exist_ok=True)
    with open(args.out, "w") as f:
        f.write("\n".join(lines))
    print("\n".join(lines))


if __name__ == "__main__":
    main()
