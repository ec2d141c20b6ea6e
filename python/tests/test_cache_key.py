"""Cache folder selection and keys (pure Python)."""
import os

import attnir
from attnir import _cache


def test_cache_dir_selection(monkeypatch, tmp_path):
    monkeypatch.delenv("ATTNIR_CACHE", raising=False)
    monkeypatch.delenv("ATTNIR_CACHE_DIR", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert attnir.cache_dir() == str(tmp_path / "xdg" / "attnir")
    monkeypatch.delenv("XDG_CACHE_HOME")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert attnir.cache_dir() == str(tmp_path / "home" / ".cache" / "attnir")
    monkeypatch.setenv("ATTNIR_CACHE_DIR", str(tmp_path / "mine"))
    assert attnir.cache_dir() == str(tmp_path / "mine")
    monkeypatch.setenv("ATTNIR_CACHE_DIR", "")
    assert attnir.cache_dir() is None
    monkeypatch.setenv("ATTNIR_CACHE_DIR", str(tmp_path / "mine"))
    for off in ("0", "false", "off", "no"):
        monkeypatch.setenv("ATTNIR_CACHE", off)
        assert attnir.cache_dir() is None
    monkeypatch.setenv("ATTNIR_CACHE", "1")
    assert attnir.cache_dir() == str(tmp_path / "mine")


def test_key_depends_on_every_part():
    base = ("spec", "cpu", "query-tile=48", "attnir 1 (LLVM 22)", "avx2 fma")
    k0 = _cache.key(*base)
    assert len(k0) == 64 and k0 == _cache.key(*base)
    for i in range(len(base)):
        changed = list(base)
        changed[i] = changed[i].replace(" (", "x (") if i == 3 else changed[i] + "x"
        assert _cache.key(*changed) != k0, i
    # no ambiguity from concatenation
    assert _cache.key("ab", "c", None, "v", "f") != _cache.key("a", "bc", None, "v", "f")
    assert _cache.key("s", "cpu", None, "v", "f") == _cache.key("s", "cpu", "", "v", "f")


def test_full_and_runtime_only_builds_share_keys():
    a = _cache.key("s", "cpu", None, "attnir 0.1.0 (LLVM 22.1.8)", "f")
    assert a == _cache.key("s", "cpu", None, "attnir 0.1.0 (runtime only)", "f")
    assert a != _cache.key("s", "cpu", None, "attnir 0.2.0 (LLVM 22.1.8)", "f")
    # the source id is part of the release: another build's kernels are not this one's
    b = _cache.key("s", "cpu", None, "attnir 0.1.0+g1234 (LLVM 22.1.8)", "f")
    assert b == _cache.key("s", "cpu", None, "attnir 0.1.0+g1234 (runtime only)", "f")
    assert b != a != _cache.key("s", "cpu", None, "attnir 0.1.0+g1234.m5678 (LLVM 22.1.8)", "f")


def test_options_string_is_sorted_and_dashed():
    assert attnir._options_string({}) is None
    s = attnir._options_string({"query_tile": 48, "key_block": 64, "flag": True})
    assert s == "flag=true key-block=64 query-tile=48"
    assert s == attnir._options_string({"key_block": 64, "flag": True, "query_tile": 48})


def test_cpu_flags_read_once():
    f = _cache.cpu_flags()
    assert isinstance(f, str) and f
    if os.path.exists("/proc/cpuinfo"):
        with open("/proc/cpuinfo") as fh:
            line = next((l for l in fh if l.startswith("flags")), None)
        if line:
            assert sorted(line.split(":", 1)[1].split())[0] in f
