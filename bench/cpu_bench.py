#!/usr/bin/env python3
"""CPU benchmark, one run on one machine: AttnIR (`attnc run --bench --json`) vs numpy naive
attention, torch SDPA, onnxruntime's MultiHeadAttention and the OpenBLAS sgemm ceiling, fp32 and
bf16 inputs.  Writes docs/benchmarks/cpu.md and cpu.json.
Usage: python3 bench/cpu_bench.py [--quick] [--attnc PATH] [--dtypes f32,bf16]

torch, onnxruntime and onnx are benchmark dependencies, never test ones: when this Python lacks
them, the benchmark makes its own virtual environment bench/.venv (system site-packages visible,
so numpy is this one's) and installs them there from PyPI (about 4 GB with torch's CUDA
libraries: the CPU wheel index is not reachable from every machine); --no-venv skips them.

GFLOP/s are of useful work (dense 4*B*H*N*M*D, causal 4*B*H*D*N*(N+1)/2, M=N), computed here
from every tool's median time so the columns are comparable.  Conventions follow
/work/shared/anchors/cpu_anchors.py: 2 threads, each library in a child process, wait for a
quiet machine before each measurement and record the CPU other processes used meanwhile.
numpy/torch run without OPENBLAS_CORETYPE: the environment may force Haswell kernels, which
halves sgemm on AVX-512 machines, and the ceiling must be OpenBLAS at its best.
"""
import argparse, json, os, platform, shlex, statistics, subprocess, sys, tempfile, time

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
B, H, THREADS = 1, 8, 2
NUMPY_MAX_N = 4096  # numpy's naive attention materialises N x N scores per head
SPECS = {"dense": "examples/dense.mlir", "causal": "examples/causal.mlir",
         "decode": "examples/dense.mlir"}  # decode: one query row against M keys
# bf16 inputs: pattern "dense-bf16" is dense attention on bf16 q, k, v (bf16 out).


def base(pat):
    """The attention pattern of a configuration name ("causal-bf16" -> "causal")."""
    return pat.split("-")[0]


def dtype_of(pat):
    return pat.split("-")[1] if "-" in pat else "f32"
HZ = os.sysconf("SC_CLK_TCK")


def log(msg):
    print(msg, file=sys.stderr, flush=True)


def useful_flops(pat, N, D):
    """For "decode", N is the number of keys M and one query row attends them all."""
    if pat == "decode":
        return 4 * B * H * N * D
    return 4 * B * H * D * (N * (N + 1) // 2) if base(pat) == "causal" else 4 * B * H * N * N * D


def kv_bytes(M, D):
    """What decoding reads: K and V in fp32."""
    return 2 * B * H * M * D * 4


def q_len(pat, N):
    return 1 if pat == "decode" else N


def busy_ticks():  # all CPUs: user nice system irq softirq steal
    v = [int(x) for x in open("/proc/stat").readline().split()[1:9]]
    return v[0] + v[1] + v[2] + v[5] + v[6] + v[7]


def own_ticks():  # this process, all threads: utime + stime
    s = open("/proc/self/stat").read()
    f = s[s.rindex(")") + 2:].split()
    return int(f[11]) + int(f[12])


def other_cores(b0, o0, w0, own=None):
    own = own_ticks() - o0 if own is None else own
    return round(max(((busy_ticks() - b0) - own) / HZ / (time.perf_counter() - w0), 0.0), 2)


def wait_quiet(max_wait, thresh=0.25, need=3):
    """Block until other processes used < thresh cores in `need` consecutive 1-s samples (a
    build has short gaps between compile jobs), at most max_wait s; the last sample is kept."""
    t0, quiet, said, o = time.time(), 0, -1e9, None
    while quiet < need and time.time() - t0 < max_wait:
        snap = busy_ticks(), own_ticks(), time.perf_counter()
        time.sleep(1.0)
        o = other_cores(*snap)
        quiet = quiet + 1 if o < thresh else 0
        if o >= thresh and time.time() - said > 30:
            said = time.time()
            log(f"  [busy: other processes use {o:.2f} cores; waiting up to {max_wait:.0f} s]")
    return dict(other_cores_before=o, waited_s=round(time.time() - t0, 1))


def timeit(fn, min_runs=5, max_runs=30, target_s=2.0):
    fn()  # warm-up: first touch, thread pool start-up, BLAS buffers
    times, snap = [], (busy_ticks(), own_ticks(), time.perf_counter())
    while len(times) < min_runs or (len(times) < max_runs and sum(times) < target_s):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return dict(ms=1e3 * statistics.median(times), min_ms=1e3 * min(times), runs=len(times),
                other_cores=other_cores(*snap))


# ---- child processes (numpy: sgemm + naive attention; torch: SDPA) ----
def bench_cfgs(lib, cfgs, make, max_wait):
    rows = []
    for pat, N, D in cfgs:
        fn = make(pat, N, D)
        if fn is None:  # not measured by this library (numpy's naive attention at large N)
            continue
        w = wait_quiet(max_wait)  # after make(): data generation is not part of the quiet window
        rows.append(dict(timeit(fn), **w, pattern=pat, N=N, D=D))
        log(f"  {lib} {pat} N={N} D={D}: {useful_flops(pat, N, D) / rows[-1]['ms'] / 1e6:.0f} GFLOP/s")
    return rows


def openblas_corename():
    """Kernel set OpenBLAS picked at run time (DYNAMIC_ARCH builds; OPENBLAS_CORETYPE overrides it)."""
    import ctypes
    libs = {ln.split()[-1] for ln in open("/proc/self/maps") if "openblas" in ln.lower() and ".so" in ln}
    for p in libs:
        for sym in ("scipy_openblas_get_corename64_", "openblas_get_corename64_", "openblas_get_corename"):
            fn = getattr(ctypes.CDLL(p), sym, None)
            if fn is not None:
                fn.restype = ctypes.c_char_p
                return fn().decode()
    return "?"


def naive_attention(np, rng):
    """numpy's naive attention per configuration (None: not measured)."""
    def make(pat, N, D):
        if pat == "decode" or N > NUMPY_MAX_N or dtype_of(pat) != "f32":
            return None
        q, k, v = (rng.standard_normal((B, H, N, D), dtype=np.float32) for _ in range(3))
        q = q * np.float32(D ** -0.5)
        madd = np.triu(np.full((N, N), -np.inf, np.float32), 1) if pat == "causal" else None
        o = np.empty_like(q)

        def run():  # per head, so only one N x N score matrix is live
            for bi in range(B):
                for h in range(H):
                    s = q[bi, h] @ k[bi, h].T
                    if madd is not None:
                        s += madd
                    s -= s.max(axis=-1, keepdims=True)
                    np.exp(s, out=s)
                    s /= s.sum(axis=-1, keepdims=True)
                    np.matmul(s, v[bi, h], out=o[bi, h])
        return run
    return make


def child_numpy(cfgs, max_wait, ceilings=True):
    import numpy as np
    rng = np.random.default_rng(0)
    n = 4096 if ceilings else 64  # without the ceilings the product only loads OpenBLAS
    a, b = (rng.standard_normal((n, n), dtype=np.float32) for _ in range(2))
    c = a @ b  # also loads OpenBLAS, so that its core name can be read
    info = dict(numpy=np.__version__, openblas_core=openblas_corename())
    try:  # numpy >= 1.25
        info["blas"] = np.show_config(mode="dicts")["Build Dependencies"]["blas"]
    except Exception as e:
        info["blas"] = dict(name="BLAS", version="?", error=repr(e))
    try:
        import threadpoolctl
        info["threadpoolctl"] = threadpoolctl.threadpool_info()
    except ImportError:
        pass
    if not ceilings:
        return dict(info=info, rows=bench_cfgs("numpy", cfgs, naive_attention(np, rng), max_wait))
    w = wait_quiet(max_wait)
    sgemm = dict(timeit(lambda: np.matmul(a, b, out=c)), **w)
    sgemm["gflops"] = 2 * n ** 3 / sgemm["ms"] / 1e6
    log(f"  sgemm 4096^3: {sgemm['gflops']:.0f} GFLOP/s (OpenBLAS core {info['openblas_core']})")
    src = np.ones(1 << 27, np.float32)  # 512 MiB: far past every cache
    dst = np.empty_like(src)
    w = wait_quiet(max_wait)
    copy = dict(timeit(lambda: np.copyto(dst, src)), **w)
    copy["gbs"] = 2 * src.nbytes / copy["ms"] / 1e6  # read + write
    log(f"  copy 512 MiB: {copy['gbs']:.1f} GB/s (read + write)")
    del src, dst

    rows = bench_cfgs("numpy", cfgs, naive_attention(np, rng), max_wait)
    return dict(info=info, sgemm=sgemm, copy=copy, rows=rows)


def child_torch(cfgs, max_wait):
    import torch
    import torch.nn.functional as F
    torch.set_num_threads(THREADS)
    def make(pat, N, D):
        dt = torch.bfloat16 if dtype_of(pat) == "bf16" else torch.float32
        q, k, v = (torch.randn(B, H, n, D, dtype=dt) for n in (q_len(pat, N), N, N))

        def run():
            with torch.inference_mode():
                F.scaled_dot_product_attention(q, k, v, is_causal=(base(pat) == "causal"))
        return run
    rows = bench_cfgs("torch", cfgs, make, max_wait)
    return dict(info=dict(torch=torch.__version__, threads=torch.get_num_threads()), rows=rows)


def run_child(kind, cfgs, env, max_wait, python=None):
    fd, tmp = tempfile.mkstemp(suffix=".json")
    os.close(fd)
    rc = subprocess.run([python or sys.executable, os.path.abspath(__file__), "--child", kind, "--child-out", tmp,
                         "--child-cfgs", json.dumps(cfgs), "--max-wait", str(max_wait)], env=env).returncode
    try:
        return json.load(open(tmp))
    except ValueError:
        return dict(error=f"{kind} child process failed (rc={rc}), see its stderr", rows=[])
    finally:
        os.unlink(tmp)


# ---- AttnIR through the attnc CLI, one process per configuration ----
def spec_for(pat, D, tmpdir):
    """The example specs hard-code D=64 in their types; other D use a patched copy."""
    src = os.path.join(REPO, SPECS[base(pat)])
    text = open(src).read()
    dt = dtype_of(pat)
    if D == 64 and dt == "f32":
        return src
    if "x64xf32" not in text:
        raise RuntimeError(f"{src}: no 'x64xf32' to replace for D={D}")
    dst = os.path.join(tmpdir, f"{pat}_d{D}.mlir")
    open(dst, "w").write(text.replace("x64xf32", f"x{D}x{dt}"))
    return dst


def run_attnc(attnc, spec, N, D, env, extra, timeout, n_q=None, check=True):
    shape = {t: f"{B}x{H}x{n_q if (t == 'q' and n_q) else N}x{D}" for t in "qkv"}
    cmd = [attnc, "run", spec] + [a for t in "qkv" for a in ("--shape", f"{t}={shape[t]}")] + \
        ["--bench", "--json"] + (["--check"] if check else []) + extra
    snap, t0 = (busy_ticks(), own_ticks(), time.perf_counter()), os.times()
    try:
        cp = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=timeout)
    except subprocess.TimeoutExpired:
        return dict(error=f"timed out after {timeout} s", cmd=shlex.join(cmd))
    t1 = os.times()
    child = (t1.children_user + t1.children_system - t0.children_user - t0.children_system) * HZ
    objs = []
    for ln in cp.stdout.splitlines():  # one JSON object per line; tolerate other output
        try:
            objs.append(json.loads(ln))
        except ValueError:
            pass
    objs = [o for o in objs if isinstance(o, dict) and o.get("ms")]
    if not objs:  # rc 2 (failed --check) still prints a result line: ok=false is reported from it
        return dict(error=f"rc={cp.returncode}, no JSON result line with ms; stderr: "
                          f"{cp.stderr.strip()[-400:]!r}", cmd=shlex.join(cmd))
    return dict(objs[0], rc=cp.returncode, other_cores=other_cores(*snap, own=child), cmd=shlex.join(cmd))


def machine_info():
    kv = dict(ln.split(":", 1) for ln in open("/proc/cpuinfo").read().split("\n\n")[0].splitlines() if ":" in ln)
    kv = {k.strip(): v.strip() for k, v in kv.items()}
    flags = kv.get("flags", "").split()
    return dict(date_utc=time.strftime("%Y-%m-%d %H:%M:%SZ", time.gmtime()), nproc=os.cpu_count(),
                cpu=kv.get("model name", "?"), avx512f="avx512f" in flags,
                avx512_flags=[f for f in flags if f.startswith("avx512")],
                platform=platform.platform(), python=platform.python_version())


def fma_peak(env, tmpdir):
    """The fp32 FMA ceiling (bench/cpu_peak.c: independent FMA chains on the widest vectors
    -march=native gives, THREADS threads), built with the first C compiler found."""
    import shutil
    cc = next((c for c in ("clang-22", "clang", "cc", "gcc") if shutil.which(c)), None)
    if cc is None:
        return dict(error="no C compiler (clang-22, clang, cc, gcc) on PATH")
    exe = os.path.join(tmpdir, "cpu_peak")
    if not os.path.exists(exe):
        cp = subprocess.run([cc, "-O2", "-march=native", "-fopenmp", os.path.join(REPO, "bench/cpu_peak.c"),
                             "-o", exe], capture_output=True, text=True)
        if cp.returncode:
            return dict(error=f"{cc} failed: {cp.stderr.strip()[-300:]!r}")
    cp = subprocess.run([exe], capture_output=True, text=True, env=env)
    try:
        return dict(json.loads(cp.stdout.strip().splitlines()[-1]), compiler=cc)
    except (ValueError, IndexError):
        return dict(error=f"cpu_peak rc={cp.returncode}: {cp.stderr.strip()[-300:]!r}")


def child_ort(cfgs, max_wait):
    """onnxruntime's com.microsoft MultiHeadAttention (unidirectional=1 for causal), [B, N, H*D]
    inputs; each configuration's session is checked against numpy at N=64 first."""
    import numpy as np
    import onnxruntime as ort
    from onnx import TensorProto, helper
    so = ort.SessionOptions()
    so.intra_op_num_threads, so.inter_op_num_threads = THREADS, 1
    rng = np.random.default_rng(0)

    def session(pat, D):
        ios = [helper.make_tensor_value_info(n, TensorProto.FLOAT, [B, "M" if n in "kv" else "N", H * D])
               for n in "qkvo"]
        node = helper.make_node("MultiHeadAttention", ["q", "k", "v"], ["o"], domain="com.microsoft",
                                num_heads=H, unidirectional=int(pat == "causal"))
        model = helper.make_model(helper.make_graph([node], "mha", ios[:3], ios[3:]),
                                  opset_imports=[helper.make_opsetid("", 17),
                                                 helper.make_opsetid("com.microsoft", 1)])
        return ort.InferenceSession(model.SerializeToString(), so, providers=["CPUExecutionProvider"])

    def check(sess, pat, D, n=64):
        x = {c: rng.standard_normal((B, n, H * D), dtype=np.float32) for c in "qkv"}
        got = sess.run(None, x)[0].reshape(B, n, H, D).transpose(0, 2, 1, 3)
        q, k, v = (x[c].reshape(B, n, H, D).transpose(0, 2, 1, 3).astype(np.float64) for c in "qkv")
        s = q @ k.transpose(0, 1, 3, 2) / np.sqrt(D)
        if pat == "causal":  # decode is checked as dense
            s = s + np.triu(np.full((n, n), -np.inf), 1)
        p = np.exp(s - s.max(-1, keepdims=True))
        want = (p / p.sum(-1, keepdims=True)) @ v
        err = float(np.abs(got - want).max() / np.abs(want).max())
        if err > 1e-4:
            raise RuntimeError(f"onnxruntime {pat} D={D} differs from numpy by {err:.1e}")

    def make(pat, N, D):
        if dtype_of(pat) != "f32":  # MultiHeadAttention has no bf16 CPU kernel
            return None
        sess = session(pat, D)
        check(sess, pat, D)
        x = {c: rng.standard_normal((B, q_len(pat, N) if c == "q" else N, H * D), dtype=np.float32)
             for c in "qkv"}
        return lambda: sess.run(None, x)
    rows = bench_cfgs("onnxruntime", cfgs, make, max_wait)
    return dict(info=dict(onnxruntime=ort.__version__, threads=THREADS), rows=rows)


BASELINES = "import torch, onnxruntime, onnx"


def baseline_python(no_venv):
    """A Python with torch, onnxruntime and onnx: this one, or bench/.venv (made and filled
    from PyPI when missing), or None with --no-venv."""
    ok = lambda py: subprocess.run([py, "-c", BASELINES], capture_output=True).returncode == 0
    if ok(sys.executable):
        return sys.executable
    if no_venv:
        return None
    venv = os.path.join(REPO, "bench", ".venv")
    py = os.path.join(venv, "bin", "python")
    if not os.path.exists(py):
        log(f"== making {venv} for the baselines (torch, onnxruntime)")
        subprocess.run([sys.executable, "-m", "venv", "--system-site-packages", venv], check=True)
    if not ok(py):
        log("== installing torch, onnxruntime and onnx into bench/.venv (PyPI; a few minutes)")
        subprocess.run([py, "-m", "pip", "install", "-q", "torch", "onnxruntime", "onnx"], check=True)
    return py if ok(py) else None


def fmt_readings(values):
    return " and ".join(f"{v:.0f}" if v and v >= 100 else f"{v:.1f}" if v else "?" for v in (values or []))


def write_md(path, res):
    m, ni = res["machine"], res["numpy"].get("info", {})
    libs = [c for c in ("torch", "onnxruntime") if c in res]
    names = dict(torch="torch SDPA", onnxruntime="onnxruntime MHA")
    cols = ["attnir", "numpy"] + libs + ["sgemm"]
    hdr = ["pattern", "N", "D", "AttnIR GFLOP/s", "numpy naive GFLOP/s"] + \
        [f"{names[c]} GFLOP/s" for c in libs] + ["sgemm GFLOP/s", "AttnIR/numpy"] + \
        (["AttnIR/best library"] if libs else []) + ["AttnIR/sgemm", "AttnIR/FMA peak", "AttnIR max_rel_err"]
    peak = res.get("fma_peak")
    peak_isa = next((r.get("isa") for r in res.get("fma_peak_readings", []) if r.get("isa")), "?")
    rounds = res.get("rounds", 1)
    versions = ", ".join(f"{c} {res[c].get('info', {}).get(c, '?')}" for c in libs) or \
        "torch and onnxruntime: not measured (--no-venv or --attnir-only; columns omitted)"
    out = ["# CPU benchmark: AttnIR vs numpy, torch, onnxruntime and the OpenBLAS sgemm ceiling", "",
           f"Forward attention, fp32, B={B}, H={H}, M=N, {THREADS} threads; every figure from one run on one "
           "machine. GFLOP/s of useful work (dense 4·B·H·N·M·D, causal 4·B·H·D·N(N+1)/2) from each tool's "
           "median time (numpy/torch/onnxruntime: warm-up, then median of >= 5 runs; AttnIR: `ms` of `attnc run <spec> "
           "--bench --json --check`, whose check against attnc's float64 reference gives max_rel_err; "
           f"{rounds} round{'s' if rounds != 1 else ''} over all configurations, every tool measured again in each, "
           "the fastest round of each tool counts; "
           "D=128 from copies of `examples/*.mlir` with 64 replaced by 128). torch: "
           "`F.scaled_dot_product_attention(is_causal=...)`; onnxruntime: the com.microsoft "
           "MultiHeadAttention contrib op (`unidirectional=1` for causal) on [B, N, H·D], checked against "
           "numpy first. The libraries ran in bench/.venv when this Python lacks them. numpy, torch and "
           f"onnxruntime ran with `OPENBLAS_CORETYPE` removed (environment value: `{res['env_OPENBLAS_CORETYPE']}`; forcing "
           f"Haswell halves sgemm on AVX-512 machines) and `OMP_NUM_THREADS=OPENBLAS_NUM_THREADS={THREADS}`. "
           "sgemm: numpy float32 matmul 4096x4096x4096, measured before and after the rows; the higher "
           f"reading counts ({fmt_readings(res['numpy'].get('sgemm_readings'))} GFLOP/s). FMA peak: bench/cpu_peak.c, "
           f"independent fp32 FMA chains on {peak_isa} vectors in {THREADS} threads, before and after the rows, the "
           f"higher counts ({fmt_readings([r.get('fma_gflops') for r in res.get('fma_peak_readings', [])])} GFLOP/s): "
           "no attention kernel can pass it, since its products are FMAs and its softmax shares their vector ports; "
           f"the same program times AttnIR's register tile ({next((r.get('tile') for r in res.get('fma_peak_readings', []) if r.get('tile')), '?')} "
           f"vectors, D = 128) on L1-resident data: {fmt_readings([r.get('tile_gflops') for r in res.get('fma_peak_readings', [])])} "
           "GFLOP/s, what the products reach without cache misses or softmax. "
           "The tools take turns "
           "per configuration (numpy, torch, onnxruntime, AttnIR within the same minute), so a drift of the "
           "machine's speed moves all of a row's figures together. Min times and machine load: `cpu.json` "
           "beside this file.",
           "", f"Command: `{res['command']}`", "",
           f"Date: {m['date_utc']}. Machine: {m['cpu']}, {m['nproc']} cores, avx512f: "
           f"{'yes' if m['avx512f'] else 'no'} ({' '.join(m.get('avx512_flags', []))}). numpy {ni.get('numpy', '?')}, "
           f"{ni.get('blas', {}).get('name', 'BLAS')} "
           f"{ni.get('blas', {}).get('version', '?')} (run-time core: {ni.get('openblas_core', '?')}). {versions}.",
           "", "| " + " | ".join(hdr) + " |", "|" + "---|" * len(hdr)]
    busy = False
    for t in res["table"]:
        if t["pattern"] == "decode" or dtype_of(t["pattern"]) != "f32":
            continue
        cells = [t["pattern"], str(t["N"]), str(t["D"])]
        for c in cols:
            flag = "*" if (t.get(c + "_other_cores") or 0) > 0.3 else ""
            busy |= bool(flag)
            cells.append(("—" if t[c] is None else f"{t[c]:.0f}") + flag)
        ratios = [("attnir_over_numpy", ".2f")] + ([("attnir_over_best_library", ".2f")] if libs else []) + \
            [("attnir_over_sgemm", ".2f"), ("attnir_over_fma_peak", ".2f"), ("attnir_max_rel_err", ".1e")]
        cells += ["—" if t.get(c) is None else f"{t[c]:{f}}" for c, f in ratios]
        out.append("| " + " | ".join(cells) + " |")
    decode = [t for t in res["table"] if t["pattern"] == "decode"]
    copy = res["numpy"].get("copy", {}).get("gbs")
    if decode:
        out += ["", "## Decode: one query row against M keys", "",
                "GB/s of K and V read (fp32) from each tool's median time, against the copy bandwidth "
                f"measured in the same run (numpy copy of 512 MiB, read + write, before and after the rows: "
                f"{fmt_readings(res['numpy'].get('copy_readings'))} GB/s; the higher, {copy or 0:.1f}, counts).", "",
                "| M | D | AttnIR GB/s | " + " | ".join(f"{names[c]} GB/s" for c in libs) +
                (" | " if libs else "") + "AttnIR / copy bandwidth | AttnIR max_rel_err |",
                "|" + "---|" * (5 + len(libs))]
        for t in decode:
            gbs = {c: t[c] * 1e9 / useful_flops("decode", t["N"], t["D"]) * kv_bytes(t["N"], t["D"]) / 1e9
                   if t[c] else None for c in ["attnir"] + libs}
            cells = [str(t["N"]), str(t["D"])] + ["—" if gbs[c] is None else f"{gbs[c]:.1f}"
                                                  for c in ["attnir"] + libs]
            cells.append("—" if not (gbs["attnir"] and copy) else f"{gbs['attnir'] / copy:.2f}")
            cells.append("—" if t.get("attnir_max_rel_err") is None else f"{t['attnir_max_rel_err']:.1e}")
            out.append("| " + " | ".join(cells) + " |")
    out += bf16_section(res, libs)
    out += bars_section(res, libs)
    if busy:
        out += ["", "\\* other processes used more than 0.3 cores during this measurement."]
    errs = [f"- AttnIR {t['pattern']} N={t['N']} D={t['D']}: {t['attnir_error']}" for t in res["table"]
            if t["attnir_error"]] + [f"- {k}: {res[k]['error']}" for k in ("numpy", "torch", "onnxruntime")
                                     if res.get(k, {}).get("error")]
    tail = kept_sections(path)  # read before the file is truncated
    open(path, "w").write("\n".join(out + (["", "Errors:"] + errs if errs else []) + [""]) + tail)


def bf16_section(res, libs):
    """bf16 inputs against AttnIR's own fp32 rows of the same run, and torch SDPA on bf16."""
    rows = [t for t in res["table"] if dtype_of(t["pattern"]) == "bf16"]
    if not rows:
        return []
    f32 = {(t["pattern"], t["N"], t["D"]): t for t in res["table"]}
    torch = "torch" in libs
    out = ["", "## bf16 inputs", "",
           "q, k, v and out in bf16 (the specs above with f32 replaced by bf16); GFLOP/s as above. "
           "AttnIR multiplies bf16 on AMX tiles where the CPU has AMX-BF16, else reduces bf16 "
           "pairs with AVX512-BF16's vdpbf16ps where it has that (docs/design/cpu-lowering.md, "
           "\"AMX tiles\", \"bf16 pairs\"), else widens to f32; its fp32 column is "
           "the table above. onnxruntime's MultiHeadAttention has no bf16 CPU kernel."
           + (" torch: SDPA on bfloat16 tensors." if torch else ""), "",
           "| pattern | N | D | AttnIR bf16 GFLOP/s | AttnIR fp32 GFLOP/s | bf16 / fp32 | " +
           ("torch SDPA bf16 GFLOP/s | AttnIR/torch | " if torch else "") + "AttnIR max_rel_err |",
           "|" + "---|" * (7 + 2 * torch)]
    for t in rows:
        g = t["attnir"]
        f = f32.get((base(t["pattern"]), t["N"], t["D"]), {}).get("attnir")
        fmt = lambda x, spec: "—" if x is None else f"{x:{spec}}"
        cells = [base(t["pattern"]), str(t["N"]), str(t["D"]), fmt(g, ".0f"), fmt(f, ".0f"),
                 fmt(g / f if g and f else None, ".2f")]
        if torch:
            cells += [fmt(t["torch"], ".0f"), fmt(g / t["torch"] if g and t["torch"] else None, ".2f")]
        cells.append(fmt(t.get("attnir_max_rel_err"), ".1e"))
        out.append("| " + " | ".join(cells) + " |")
    return out


def bars_section(res, libs):
    """Issue 19's bars, read off this run's rows (the fastest round of each tool)."""
    tab = {(t["pattern"], t["N"], t["D"]): t for t in res["table"]}
    ms = lambda t, c: useful_flops(t["pattern"], t["N"], t["D"]) / t[c] / 1e6 if t and t.get(c) else None
    out, f = [], lambda x: "—" if x is None else f"{x:.2f}"
    def line(name, bar, vals, ok):
        if not vals:
            return
        miss = [k for k, v in vals if v is None or not ok(v)]
        out.append(f"- {name} ({bar}): " + ", ".join(f"{k} {f(v)}" for k, v in vals) +
                   (" — met" if not miss else f" — missed at {len(miss)} of {len(vals)}"))
    f32 = [t for t in res["table"] if t["pattern"] in ("dense", "causal")]
    if libs:
        line("fp32 vs the better of torch and onnxruntime", ">= 1.1",
             [(f"{t['pattern']} {t['N']}/{t['D']}", t["attnir_over_best_library"]) for t in f32],
             lambda v: v >= 1.1)
    line("fp32 vs sgemm at N = 4096", ">= 0.8",
         [(f"{t['pattern']} D={t['D']}", t["attnir_over_sgemm"]) for t in f32 if t["N"] == 4096],
         lambda v: v >= 0.8)
    pairs = [(k, tab[k], tab.get(("causal",) + k[1:])) for k in tab if k[0] == "dense"]
    line("causal time / dense time, from the table's rows", "<= 0.55",
         [(f"{N}/{D}", ms(c, "attnir") / ms(d, "attnir") if ms(c, "attnir") and ms(d, "attnir") else None)
          for (_, N, D), d, c in pairs], lambda v: v <= 0.55)
    pairs = res.get("attnir_pairs", [])
    if pairs:
        def best(N, D, p):
            return min((r[f"{p}_ms"] for r in pairs if (r["N"], r["D"]) == (N, D) and r.get(f"{p}_ms")), default=None)
        keys = sorted({(r["D"], r["N"]) for r in pairs})
        line("the same, AttnIR's dense and causal back to back in each round (best of rounds)", "<= 0.55",
             [(f"{N}/{D}", best(N, D, "causal") / best(N, D, "dense") if best(N, D, "causal") and best(N, D, "dense")
               else None) for D, N in keys], lambda v: v <= 0.55)
    one = [r for r in res.get("attnir_one_thread", []) if r.get("ms")]
    if one:
        k = (one[0]["pattern"], one[0]["N"], one[0]["D"])
        two = ms(tab.get(k), "attnir")
        line(f"{THREADS} threads / one thread ({k[0]} {k[1]}/{k[2]})", ">= 1.8",
             [("speed-up", min(r["ms"] for r in one) / two if two else None)], lambda v: v >= 1.8)
    bf = [(t, tab.get((base(t["pattern"]), t["N"], t["D"]))) for t in res["table"] if dtype_of(t["pattern"]) == "bf16"]
    if bf:
        line("bf16 / fp32 throughput", ">= 1.5 with AVX512-BF16 or AMX",
             [(f"{base(b['pattern'])} {b['N']}/{b['D']}", b["attnir"] / f32r["attnir"]
               if b["attnir"] and f32r and f32r["attnir"] else None) for b, f32r in bf], lambda v: v >= 1.5)
    copy = res["numpy"].get("copy", {}).get("gbs")
    dec = [t for t in res["table"] if t["pattern"] == "decode"]
    if dec and copy:
        line("decode GB/s / copy bandwidth", ">= 0.7",
             [(f"M={t['N']}/{t['D']}", t["attnir"] * 1e9 / useful_flops("decode", t["N"], t["D"])
               * kv_bytes(t["N"], t["D"]) / 1e9 / copy if t["attnir"] else None) for t in dec], lambda v: v >= 0.7)
    if not out:
        return []
    return ["", "## Issue 19's bars on this run", "",
            "Computed from the rows above (N/D); the thread-scaling line times AttnIR with `--threads 1` on "
            "the first dense row in every round."
            "", ""] + out


KEEP_MARK = "<!-- Sections below come from other benchmarks; regenerating the table above keeps them. -->"


def kept_sections(path):
    """What follows KEEP_MARK in the file being rewritten (other benchmarks'
    rows, e.g. bench/cpu_rules.py's), kept as it is."""
    try:
        old = open(path).read()
    except OSError:
        return ""
    i = old.find(KEEP_MARK)
    return "\n" + old[i:] if i >= 0 else ""


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--attnc", default=os.path.join(REPO, "build/bin/attnc"))
    ap.add_argument("--attnc-args", default="",
                    help="extra arguments for `attnc run`, e.g. '--cpu-options \"rows=4\"'")
    ap.add_argument("--skip-attnc", action="store_true", help="measure the baselines only")
    ap.add_argument("--quick", action="store_true", help="N=1024 (smoke test)")
    ap.add_argument("--attnir-only", action="store_true",
                    help="AttnIR's rows, the back-to-back pairs and the ceilings only (no numpy/torch/onnxruntime rows)")
    ap.add_argument("--no-venv", action="store_true",
                    help="do not make bench/.venv for torch/onnxruntime when this Python lacks them")
    ap.add_argument("--sizes", default="4096", help="comma-separated N (M=N)")
    ap.add_argument("--dims", default="64,128", help="comma-separated head dims D")
    ap.add_argument("--dtypes", default="f32,bf16", help="input types of the attention rows: f32, bf16")
    ap.add_argument("--decode", default="4096,65536",
                    help="comma-separated M of the decode rows (one query row); '' for none")
    ap.add_argument("--rounds", type=int, default=2,
                    help="measure every configuration this many times (all tools, interleaved); the best counts")
    ap.add_argument("--max-wait", type=float, default=300, help="max s to wait for a quiet machine, per measurement")
    ap.add_argument("--timeout", type=float, default=900, help="max s per attnc invocation")
    ap.add_argument("--out-md", default=os.path.join(REPO, "docs/benchmarks/cpu.md"))
    ap.add_argument("--out-json", default=os.path.join(REPO, "docs/benchmarks/cpu.json"))
    for hidden in ("--child", "--child-out", "--child-cfgs"):
        ap.add_argument(hidden, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        child = dict(numpy=child_numpy, torch=child_torch, onnxruntime=child_ort,
                     numpy_rows=lambda c, w: child_numpy(c, w, ceilings=False))[args.child]
        res = child(json.loads(args.child_cfgs), args.max_wait)
        with open(args.child_out, "w") as f:
            return json.dump(res, f)
    attnc = os.path.abspath(args.attnc)
    if not args.skip_attnc and not (os.path.isfile(attnc) and os.access(attnc, os.X_OK)):
        sys.exit(f"error: attnc not found or not executable: {attnc}\n  build it (cmake --build build "
                 "--target attnc), pass --attnc PATH, or --skip-attnc to measure only the baselines")
    sizes = [1024] if args.quick else [int(x) for x in args.sizes.split(",")]
    dts = [d for d in args.dtypes.split(",") if d]
    if not set(dts) <= {"f32", "bf16"}:
        sys.exit(f"error: --dtypes takes f32 and bf16, got {args.dtypes!r}")
    # The rows a bar compares run back to back: dense and causal of one (N, D), f32 and bf16
    cfgs = [(p if dt == "f32" else f"{p}-{dt}", N, int(D)) for D in args.dims.split(",")
            for N in sizes for p in ("dense", "causal") for dt in dts]
    cfgs += [("decode", M, int(D)) for D in args.dims.split(",")
             for M in ([] if args.quick else [int(x) for x in args.decode.split(",") if x])]
    env = {k: v for k, v in os.environ.items() if k != "OPENBLAS_CORETYPE"}
    env.update(OMP_NUM_THREADS=str(THREADS), OPENBLAS_NUM_THREADS=str(THREADS), MKL_NUM_THREADS=str(THREADS))
    res = dict(rounds=args.rounds, command=shlex.join(["python3", os.path.relpath(os.path.abspath(__file__), REPO)] + sys.argv[1:]),
               machine=machine_info(), B=B, H=H, threads=THREADS, attnc=attnc,
               env_OPENBLAS_CORETYPE=os.environ.get("OPENBLAS_CORETYPE", "unset"),
               flops="dense 4*B*H*N*M*D; causal 4*B*H*D*N*(N+1)/2")
    # Tools interleaved per configuration: this 2-core VM's speed drifts by 10-30 % over minutes,
    # so every tool measures a configuration within the same minute; the ceilings (sgemm, copy)
    # run before and after, and the higher reading of each counts (the stricter bar).
    with tempfile.TemporaryDirectory(prefix="attnc_bench_") as tmpdir:
        log("== numpy: sgemm ceiling and copy bandwidth (before); FMA peak")
        res["numpy"] = run_child("numpy", [], env, args.max_wait)
        wait_quiet(args.max_wait)
        peaks = [fma_peak(env, tmpdir)]
        log(f"  FMA peak: {peaks[0].get('fma_gflops') or peaks[0].get('error')}")
        py = None if args.attnir_only else baseline_python(args.no_venv)
        libs = ["torch", "onnxruntime"] if py else []
        if not py:
            log("== torch/onnxruntime not measured (--no-venv or --attnir-only): their columns omitted")
        for lib in libs:
            res[lib] = dict(rows=[])
        res["attnir"] = []
        # Every round measures every configuration again and the best time of each tool counts:
        # on a VM whose speed drifts for minutes, one slow moment no longer decides a row.
        for rnd in range(args.rounds):
            for cfg in cfgs:
                pat, N, D = cfg
                log(f"== round {rnd + 1}/{args.rounds}: {pat} N={N} D={D}")
                got = {} if args.attnir_only else run_child("numpy_rows", [cfg], env, args.max_wait)
                res["numpy"].setdefault("rows", []).extend(dict(r, round=rnd) for r in got.get("rows", []))
                for lib in libs:
                    got = run_child(lib, [cfg], env, args.max_wait, py)
                    res[lib]["rows"].extend(dict(r, round=rnd) for r in got.get("rows", []))
                    res[lib].setdefault("info", got.get("info"))
                    if got.get("error"):
                        res[lib]["error"] = got["error"]
                if args.skip_attnc:
                    continue
                w = wait_quiet(args.max_wait)
                r = run_attnc(attnc, spec_for(pat, D, tmpdir), N, D, env, shlex.split(args.attnc_args),
                              args.timeout, n_q=q_len(pat, N))
                res["attnir"].append(dict(r, **w, pattern=pat, N=N, D=D, round=rnd))
                mine = r.get("ms") and useful_flops(pat, N, D) / r["ms"] / 1e6
                log(f"  attnc {pat} N={N} D={D}: " + (r.get("error") or f"{mine:.0f} GFLOP/s"))
                if mine and r.get("gflops") and abs(r["gflops"] / mine - 1) > 0.02:
                    log(f"  warning: attnc reports {r['gflops']:.1f} GFLOP/s; flop formulas disagree?")
                if pat == "causal":  # the causal bar: AttnIR's dense and causal back to back, same minute
                    pair = {}
                    for p in ("dense", "causal"):
                        w = wait_quiet(args.max_wait)
                        pr = run_attnc(attnc, spec_for(p, D, tmpdir), N, D, env, shlex.split(args.attnc_args),
                                       args.timeout, check=False)
                        pair[p] = pr.get("ms")
                    res.setdefault("attnir_pairs", []).append(dict(N=N, D=D, round=rnd, **{f"{p}_ms": pair[p] for p in pair}))
                    if pair["dense"] and pair["causal"]:
                        log(f"  back to back: causal / dense {pair['causal'] / pair['dense']:.3f}")
            # The thread-scaling bar: AttnIR alone on one thread, on the first f32 dense row
            one = next(((p, N, D) for p, N, D in cfgs if p == "dense"), None)
            if one and not args.skip_attnc:
                w = wait_quiet(args.max_wait)
                r = run_attnc(attnc, spec_for(one[0], one[2], tmpdir), one[1], one[2], env,
                              shlex.split(args.attnc_args) + ["--threads", "1"], args.timeout)
                res.setdefault("attnir_one_thread", []).append(dict(r, **w, pattern=one[0], N=one[1], D=one[2],
                                                                    round=rnd))
                log(f"  attnc {one[0]} N={one[1]} D={one[2]} on one thread: {r.get('error') or r.get('ms')} ms")
        log("== numpy: sgemm ceiling and copy bandwidth (after); FMA peak")
        after = run_child("numpy", [], env, args.max_wait)
        wait_quiet(args.max_wait)
        peaks.append(fma_peak(env, tmpdir))
    for key, rate in (("sgemm", "gflops"), ("copy", "gbs")):
        first, last = res["numpy"].get(key) or {}, after.get(key) or {}
        res["numpy"][key + "_readings"] = [first.get(rate), last.get(rate)]
        if (last.get(rate) or 0) > (first.get(rate) or 0):
            res["numpy"][key] = last
    res["fma_peak_readings"] = peaks
    res["fma_peak"] = max((p.get("fma_gflops") or 0 for p in peaks), default=0) or None
    res["tile_peak"] = max((p.get("tile_gflops") or 0 for p in peaks), default=0) or None

    def pick(rows, key):  # the fastest round of one configuration, if it has a time
        timed = [r for r in rows if (r["pattern"], r["N"], r["D"]) == key and r.get("ms")]
        return min(timed, key=lambda r: r["ms"], default={})
    sg = res["numpy"].get("sgemm") or {}
    res["table"] = []
    def display(key):  # the tables list dense rows, then causal, then decode, each by D and N
        pat, N, D = key
        return (dtype_of(pat) if pat != "decode" else "~", ("dense", "causal", "decode").index(base(pat)), D, N)
    for key in sorted(cfgs, key=display):
        t = dict(zip(("pattern", "N", "D"), key), sgemm=sg.get("gflops"), sgemm_other_cores=sg.get("other_cores"))
        for c, rows in (("attnir", res["attnir"]), ("numpy", res["numpy"]["rows"]),
                        ("torch", res.get("torch", {}).get("rows", [])),
                        ("onnxruntime", res.get("onnxruntime", {}).get("rows", []))):
            r = pick(rows, key)
            t[c] = useful_flops(*key) / r["ms"] / 1e6 if r else None
            t[c + "_other_cores"] = r.get("other_cores")
        runs = [r for r in res["attnir"] if (r["pattern"], r["N"], r["D"]) == key]
        errs = [r.get("max_rel_err") for r in runs if r.get("max_rel_err") is not None]
        t.update(attnir_max_rel_err=max(errs, default=None), attnir_ok=all(r.get("ok") for r in runs) if runs else None,
                 attnir_error=next((r["error"] for r in runs if r.get("error")), None))
        if t["attnir_ok"] is False and not t["attnir_error"]:
            t["attnir_error"] = f"attnc reports ok=false (max_rel_err={t['attnir_max_rel_err']})"
        t["fma_peak"] = res["fma_peak"]
        for c in ("numpy", "sgemm", "fma_peak"):
            t["attnir_over_" + c] = t["attnir"] / t[c] if t["attnir"] and t[c] else None
        best = max([t[c] for c in ("torch", "onnxruntime") if t[c]], default=None)
        t["attnir_over_best_library"] = t["attnir"] / best if t["attnir"] and best else None
        res["table"].append(t)
    for p in (args.out_md, args.out_json):
        os.makedirs(os.path.dirname(os.path.abspath(p)), exist_ok=True)
    json.dump(res, open(args.out_json, "w"), indent=1)
    write_md(args.out_md, res)
    log(open(args.out_md).read() + f"\nwrote {args.out_md} and {args.out_json}")
    return 1 if res["numpy"].get("error") or (not args.skip_attnc and any(t["attnir_error"] for t in res["table"])) else 0


if __name__ == "__main__":
    sys.exit(main())
