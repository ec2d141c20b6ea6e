"""The on-disk kernel cache: hits, concurrency, corruption, switches."""
import os
import subprocess
import sys
import textwrap
import time
import uuid

import numpy as np
import pytest

import attnir
from attnir import _cache
from conftest import REPO, rand


def unique_spec(**kw):
    """A spec no earlier test compiled (the comment changes the key)."""
    return f"// {uuid.uuid4().hex}\n" + attnir.patterns.causal(**kw)


def kernels_in(d):
    return sorted(p for p in os.listdir(d) if p.endswith(".attnir"))


@pytest.fixture
def cache(tmp_path, monkeypatch, native):
    d = tmp_path / "cache"
    monkeypatch.setenv("ATTNIR_CACHE_DIR", str(d))
    monkeypatch.delenv("ATTNIR_CACHE", raising=False)
    calls = []
    real = attnir._compile_native

    def counting(*a):
        calls.append(a)
        return real(*a)
    monkeypatch.setattr(attnir, "_compile_native", counting)
    return d, calls


def check(kernel, spec):
    q, k, v = rand((1, 2, 33, 64), seed=1), rand((1, 2, 40, 64), seed=2), rand((1, 2, 40, 64), seed=3)
    assert np.abs(kernel(q, k, v) - attnir.reference(spec, q, k, v)).max() < 1e-4


def test_hit_does_not_recompile(cache):
    d, calls = cache
    spec = unique_spec()
    t0 = time.perf_counter()
    k1 = attnir.compile(spec)
    fresh = time.perf_counter() - t0
    assert len(calls) == 1
    files = kernels_in(d)
    assert len(files) == 1
    mtime = os.stat(d / files[0]).st_mtime_ns
    t0 = time.perf_counter()
    k2 = attnir.compile(spec)
    hit = time.perf_counter() - t0
    assert len(calls) == 1, "the second compile recompiled"
    assert kernels_in(d) == files and os.stat(d / files[0]).st_mtime_ns == mtime
    assert hit < fresh, (hit, fresh)
    check(k1, spec)
    check(k2, spec)
    assert not [p for p in os.listdir(d) if p.endswith(".tmp") or p.startswith(".tmp-")]


def test_key_parts_make_new_entries(cache):
    d, calls = cache
    spec = unique_spec()
    attnir.compile(spec)
    attnir.compile(spec, query_tile=16)
    attnir.compile(spec, query_tile=16)          # hit
    attnir.compile(spec, entry="causal")         # the entry is not in the key
    assert len(calls) == 2 and len(kernels_in(d)) == 2


def test_cache_off(cache, monkeypatch):
    d, calls = cache
    spec = unique_spec()
    monkeypatch.setenv("ATTNIR_CACHE", "0")
    attnir.compile(spec)
    attnir.compile(spec)
    assert len(calls) == 2 and not d.exists()
    monkeypatch.delenv("ATTNIR_CACHE")
    monkeypatch.setenv("ATTNIR_CACHE_DIR", "")
    attnir.compile(spec)
    assert len(calls) == 3 and not d.exists()
    monkeypatch.setenv("ATTNIR_CACHE_DIR", str(d))
    attnir.compile(spec, cache=False)
    assert len(calls) == 4 and not d.exists()


@pytest.mark.parametrize("damage", ["truncate", "flip", "empty"])
def test_corrupt_entry_is_rebuilt(cache, damage):
    d, calls = cache
    spec = unique_spec()
    attnir.compile(spec)
    (name,) = kernels_in(d)
    path = d / name
    good = path.read_bytes()
    if damage == "truncate":
        path.write_bytes(good[: len(good) // 2])
    elif damage == "flip":
        bad = bytearray(good)
        bad[len(bad) // 2] ^= 0xFF
        path.write_bytes(bytes(bad))
    else:
        path.write_bytes(b"")
    corrupt = _cache.stats["corrupt"]
    kernel = attnir.compile(spec)
    assert len(calls) == 2, "the damaged entry was not recompiled"
    assert _cache.stats["corrupt"] == corrupt + 1
    assert kernels_in(d) == [name] and path.stat().st_size == len(good)
    check(kernel, spec)
    attnir.compile(spec)
    assert len(calls) == 2


def test_two_processes_compile_the_same_spec(cache, tmp_path):
    d, _ = cache
    spec = unique_spec(lse=True)
    spec_file = tmp_path / "spec.mlir"
    spec_file.write_text(spec)
    script = textwrap.dedent(f"""
        import pathlib, sys, numpy as np, attnir
        from attnir import _cache
        spec = pathlib.Path({str(spec_file)!r}).read_text()
        k = attnir.compile(spec)
        rng = np.random.default_rng(0)
        q, kk, v = (rng.standard_normal(s).astype(np.float32) for s in
                    [(1, 2, 50, 64), (1, 2, 60, 64), (1, 2, 60, 64)])
        out, lse = k(q, kk, v)
        ro, rl = attnir.reference(spec, q, kk, v)
        err = np.abs(out - ro).max()
        print(_cache.stats["hits"], _cache.stats["misses"], err)
        sys.exit(0 if err < 1e-4 else 1)
    """)
    env = dict(os.environ, ATTNIR_CACHE_DIR=str(d))
    procs = [subprocess.Popen([sys.executable, "-c", script], env=env, cwd=str(tmp_path),
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for _ in range(3)]
    outs = [p.communicate(timeout=300) for p in procs]
    for p, (o, e) in zip(procs, outs):
        assert p.returncode == 0, e
    stats = [tuple(map(float, o.split()[:2])) for o, _ in outs]
    assert sum(m for _, m in stats) == 1   # one compiled, the others waited and loaded
    assert len(kernels_in(d)) == 1
    assert not [p for p in os.listdir(d) if p.startswith(".tmp-")]


def test_default_location_under_xdg(native, tmp_path, monkeypatch):
    monkeypatch.delenv("ATTNIR_CACHE_DIR", raising=False)
    monkeypatch.delenv("ATTNIR_CACHE", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    attnir.compile(unique_spec())
    assert len(kernels_in(tmp_path / "attnir")) == 1


def test_unwritable_cache_warns_and_compiles(native, tmp_path, monkeypatch):
    blocker = tmp_path / "file"
    blocker.write_text("a file where the cache folder should be")
    monkeypatch.setenv("ATTNIR_CACHE_DIR", str(blocker / "cache"))
    with pytest.warns(RuntimeWarning, match="cache"):
        kernel = attnir.compile(unique_spec())
    assert kernel.entries == ("causal",)


def test_issue15_case7_entry_tied_to_its_key(cache):
    """A valid bundle of another spec copied into a cache entry (with or
    without its tag) is not used: it counts as corrupt and is rebuilt."""
    d, calls = cache
    dense = "// " + uuid.uuid4().hex + "\n" + attnir.patterns.dense()
    causal = unique_spec()
    attnir.compile(dense)
    attnir.compile(causal)
    assert len(calls) == 2
    paths = {name: d / name for name in kernels_in(d)}
    key_dense = _cache.key(dense, "cpu", "", attnir.version())
    key_causal = _cache.key(causal, "cpu", "", attnir.version())
    src, dst = paths[key_dense + ".attnir"], paths[key_causal + ".attnir"]
    for with_tag in (False, True):
        dst.write_bytes(src.read_bytes())  # the dense kernel under causal's key
        if with_tag:
            (d / (key_causal + ".tag")).write_bytes((d / (key_dense + ".tag")).read_bytes())
        corrupt = _cache.stats["corrupt"]
        kernel = attnir.compile(causal)
        assert _cache.stats["corrupt"] == corrupt + 1
        check(kernel, causal)  # the causal kernel, rebuilt
    assert len(calls) == 4
