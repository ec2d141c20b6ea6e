"""Runs inside a fresh virtual environment that has only the self-contained
wheel (and numpy): scripts/test-wheel.sh here, bench/gpu/wheel.sh on the GPU
machine. Not collected by pytest (it needs that environment).

It compiles a fresh spec (nothing cached) for the CPU (a bundle: lld links
it inside the process), checks it against a numpy float64 oracle at a
ragged GQA cross shape, and then reads /proc/self/maps:
every LLVM/MLIR/lld/OpenMP library in the process must be a file of the
installed package. --cuda also compiles for the GPU; with a GPU it runs there
and reports the time from spec text to first result.

Prints one JSON object; exits non-zero when a check fails.
"""
import json
import os
import re
import sys
import time

import numpy as np

SPEC = """
func.func @{name}(%q: tensor<?x?x?x64x{t}>, %k: tensor<?x?x?x64x{t}>,
                  %v: tensor<?x?x?x64x{t}>) -> tensor<?x?x?x64x{t}> {{
  %o = attn.attention %q, %k, %v mask(#attn.causal)
      : (tensor<?x?x?x64x{t}>, tensor<?x?x?x64x{t}>, tensor<?x?x?x64x{t}>)
      -> tensor<?x?x?x64x{t}>
  return %o : tensor<?x?x?x64x{t}>
}}
"""
# Names the toolchain's libraries could have, from the package or a system.
TOOLCHAIN = re.compile(r"LLVM|MLIR|lld|libomp|clang_rt|AttnIR", re.I)


def oracle(q, k, v):
    """Causal (bottom-right) attention in float64, GQA by head groups."""
    q, k, v = (x.astype(np.float64) for x in (q, k, v))
    b, h, n, d = q.shape
    hk, m = k.shape[1], k.shape[2]
    k = np.repeat(k, h // hk, axis=1)
    v = np.repeat(v, h // hk, axis=1)
    s = q @ k.transpose(0, 1, 3, 2) / np.sqrt(d)
    i = np.arange(n)[:, None] + (m - n)
    s = np.where(np.arange(m)[None, :] <= i, s, -np.inf)
    s -= s.max(-1, keepdims=True)
    p = np.exp(s)
    return (p / p.sum(-1, keepdims=True)) @ v


def check_cpu(attnir, report):
    rng = np.random.default_rng(int(time.time()))
    q = rng.standard_normal((2, 4, 77, 64)).astype(np.float32)
    k = rng.standard_normal((2, 2, 131, 64)).astype(np.float32)
    v = rng.standard_normal((2, 2, 131, 64)).astype(np.float32)
    want = oracle(q, k, v)
    t0 = time.perf_counter()
    kern = attnir.compile(SPEC.format(name=f"fresh_{os.getpid()}", t="f32"),
                          cache=False)
    got = kern(q, k, v)
    secs = time.perf_counter() - t0
    err = float(np.abs(got - want).max() / np.abs(want).max())
    report["cpu"] = {"spec_to_result_s": round(secs, 3), "max_rel_err": err}
    assert err < 1e-5, f"CPU result off by {err}"


def check_cuda(attnir, report):
    try:
        import torch
        gpu = torch.cuda.is_available()
    except ImportError:
        torch, gpu = None, False
    name = f"fresh_cuda_{os.getpid()}"
    t0 = time.perf_counter()
    kern = attnir.compile(SPEC.format(name=name, t="bf16"), target="cuda",
                          cache=False)
    entry = {"compile_s": round(time.perf_counter() - t0, 3),
             "ptx_bytes": len(kern.ir("ptx"))}
    if gpu:
        g = torch.Generator(device="cuda").manual_seed(int(time.time()))
        shape_q, shape_kv = (2, 4, 333, 64), (2, 2, 1000, 64)
        q = torch.randn(shape_q, device="cuda", generator=g).bfloat16()
        k = torch.randn(shape_kv, device="cuda", generator=g).bfloat16()
        v = torch.randn(shape_kv, device="cuda", generator=g).bfloat16()
        torch.cuda.synchronize()
        kern = None
        t0 = time.perf_counter()
        kern = attnir.compile(SPEC.format(name=name + "_gpu", t="bf16"),
                              target="cuda", cache=False)
        out = kern(q, k, v)
        torch.cuda.synchronize()
        entry["spec_to_first_result_s"] = round(time.perf_counter() - t0, 3)
        want = oracle(*(x.float().cpu().numpy() for x in (q, k, v)))
        err = float(np.abs(out.float().cpu().numpy() - want).max()
                    / np.abs(want).max())
        entry["max_rel_err"] = err
        assert err < 2e-2, f"GPU result off by {err}"
    report["cuda"] = entry


def check_maps(attnir, report):
    pkg = os.path.dirname(os.path.realpath(attnir.__file__))
    mapped = set()
    with open("/proc/self/maps") as f:
        for line in f:
            parts = line.split()
            if len(parts) >= 6 and parts[5].startswith("/"):
                mapped.add(parts[5])
    tool = sorted(p for p in mapped if TOOLCHAIN.search(os.path.basename(p)))
    outside = [p for p in tool
               if not os.path.realpath(p).startswith(pkg + os.sep)]
    report["toolchain_libraries"] = tool
    assert any(p.endswith("/libAttnIRCAPI.so") for p in tool), tool
    assert not outside, f"loaded from outside the wheel: {outside}"


def main():
    import attnir
    report = {"attnir": os.path.dirname(attnir.__file__),
              "python": sys.version.split()[0]}
    # --site DIR: the package was installed there (pip --target) instead of
    # into the running environment.
    site = sys.argv[sys.argv.index("--site") + 1] if "--site" in sys.argv \
        else sys.prefix
    assert os.path.realpath(attnir.__file__).startswith(
        os.path.realpath(site) + os.sep), f"attnir is not the one in {site}"
    check_cpu(attnir, report)
    if "--cuda" in sys.argv:
        check_cuda(attnir, report)
    check_maps(attnir, report)
    print(json.dumps(report, indent=1))


if __name__ == "__main__":
    main()
