"""The runtime-only package (no LLVM/MLIR: -DATTNIR_RUNTIME_ONLY=ON) loads a
kernel saved by the full package and runs it, and refuses to compile.

Builds the runtime-only variant with pip into a temporary folder (about half
a minute: a handful of C++ files), then runs a child Python against it.
Set ATTNIR_SKIP_RUNTIME_ONLY=1 to skip."""
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest

from conftest import REPO


@pytest.mark.skipif(os.environ.get("ATTNIR_SKIP_RUNTIME_ONLY") == "1",
                    reason="ATTNIR_SKIP_RUNTIME_ONLY=1")
def test_runtime_only_package_runs_a_saved_kernel(native, tmp_path):
    import attnir

    spec = attnir.patterns.causal(head_dim=64)
    kernel = attnir.compile(spec, cache=False)
    bundle = tmp_path / "causal.bundle"
    kernel.save(str(bundle))
    rng = np.random.default_rng(7)
    q, k, v = (rng.standard_normal((1, 2, 33, 64)).astype(np.float32) for _ in range(3))
    for name, a in zip("qkv", (q, k, v)):
        np.save(tmp_path / f"{name}.npy", a)
    expected = kernel(q, k, v)
    # A mask tree over document ids, which only the C reference knows.
    doc_text = (REPO / "examples" / "document_mask.mlir").read_text()
    attnir.compile(doc_text, cache=False).save(str(tmp_path / "doc.bundle"))
    qd = np.sort(rng.integers(0, 4, size=(1, 33))).astype(np.int32)
    np.save(tmp_path / "qd.npy", qd)
    doc_ref = attnir.reference(doc_text, q, k, v, qd, qd)

    target = tmp_path / "site"
    build = subprocess.run(
        [sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--target", str(target),
         "-C", "cmake.define.ATTNIR_RUNTIME_ONLY=ON",
         "-C", f"build-dir={tmp_path / 'build'}", str(REPO / "python")],
        capture_output=True, text=True, timeout=900)
    assert build.returncode == 0, build.stderr[-3000:]

    child = textwrap.dedent(f"""
        import numpy as np, attnir
        assert "runtime only" in attnir.version(), attnir.version()
        print("version:", attnir.version())
        k = attnir.load({str(bundle)!r})
        q, kk, v = (np.load({str(tmp_path)!r} + "/" + n + ".npy") for n in "qkv")
        np.save({str(tmp_path / "out.npy")!r}, k(q, kk, v))
        # The reference runs from the op graph the bundle records.
        doc = attnir.load({str(tmp_path / "doc.bundle")!r})
        qd = np.load({str(tmp_path / "qd.npy")!r})
        np.save({str(tmp_path / "ref.npy")!r}, attnir.reference(doc, q, kk, v, qd, qd))
        try:
            attnir.reference({doc_text!r}, q, kk, v, qd, qd)
        except RuntimeError as e:
            print("reference of text refused:", e)
        try:
            attnir.compile({spec!r}, cache=False)
        except attnir.CompileError as e:
            print("compile refused:", e)
    """)
    # An empty cache: another test may have cached document_mask.mlir,
    # which would let the runtime-only reference read its text.
    env = dict(os.environ, PYTHONPATH=str(target),
               ATTNIR_CACHE_DIR=str(tmp_path / "empty-cache"))
    run = subprocess.run([sys.executable, "-c", child], capture_output=True, text=True,
                         env=env, cwd=str(tmp_path), timeout=300)
    assert run.returncode == 0, run.stderr[-3000:]
    assert "compile refused: " in run.stdout and "runtime-only" in run.stdout
    # Built from the same tree, both builds name the same release and source
    # id, so the runtime-only build finds what the full build cached.
    from attnir import _cache
    child_version = run.stdout.split("version: ", 1)[1].splitlines()[0]
    assert _cache.release(child_version) == _cache.release(attnir.version()), \
        (child_version, attnir.version())
    assert "reference of text refused: " in run.stdout and "cannot read spec text" in run.stdout
    got = np.load(tmp_path / "out.npy")
    np.testing.assert_array_equal(got, expected)
    np.testing.assert_array_equal(np.load(tmp_path / "ref.npy"), doc_ref)
    # The runtime-only extension must not pull in LLVM or MLIR.
    libs = [p for p in target.joinpath("attnir").iterdir() if p.suffix == ".so"]
    ldd = subprocess.run(["ldd", *map(str, libs)], capture_output=True, text=True).stdout
    assert "libMLIR" not in ldd and "libLLVM" not in ldd, ldd


def test_loads_a_bundle_written_by_attnc(native, tmp_path):
    """attnir.load reads what `attnc compile --emit bundle` writes."""
    import attnir

    attnc = REPO / "build" / "bin" / "attnc"
    if not attnc.exists():
        pytest.skip(f"{attnc} not built (bash scripts/build.sh)")
    bundle = tmp_path / "dense.bundle"
    subprocess.run([str(attnc), "compile", str(REPO / "examples" / "dense.mlir"),
                    "--emit", "bundle", "-o", str(bundle)], check=True, timeout=300)
    kernel = attnir.load(str(bundle))
    rng = np.random.default_rng(11)
    q = rng.standard_normal((2, 4, 19, 64)).astype(np.float32)
    k, v = (rng.standard_normal((2, 2, 23, 64)).astype(np.float32) for _ in range(2))
    out = kernel(q, k, v)
    ref = attnir.reference(open(REPO / "examples" / "dense.mlir").read(), q, k, v)
    assert np.abs(out - ref).max() <= 1e-5 * np.abs(ref).max()
