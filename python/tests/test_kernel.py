"""Kernel objects: entries, signatures, IR, save/load, threads and the GIL."""
import sys
import threading
import time

import numpy as np
import pytest

import attnir
from conftest import rand

TWO = attnir.patterns.dense(name="plain") + attnir.patterns.causal(name="masked", lse=True, dv=32)


def test_entries_and_signatures(compiled):
    kernel = compiled(TWO)
    assert kernel.entries == ("plain", "masked")
    assert kernel.entry == "plain"
    sig = kernel.signature
    assert sig.entry == "plain"
    assert [a.name for a in sig.inputs] == ["q", "k", "v"]
    assert sig.inputs[0] == attnir.Arg("q", "f32", (None, None, None, 64))
    assert len(sig.outputs) == 1 and sig.outputs[0].dtype == "f32"
    m = kernel.signatures["masked"]
    assert m.inputs[2].shape == (None, None, None, 32)
    assert [o.shape for o in m.outputs] == [(None, None, None, 32), (None, None, None)]
    assert "masked(q: f32[?,?,?,64]" in str(m)


def test_entry_selection(compiled):
    kernel = compiled(TWO)
    q, k, v = rand((1, 2, 5, 64), seed=1), rand((1, 2, 6, 64), seed=2), rand((1, 2, 6, 32), seed=3)
    out, lse = kernel["masked"](q, k, v)
    ref_out, ref_lse = attnir.reference(TWO, q, k, v, entry="masked")
    assert np.abs(out - ref_out).max() < 1e-5 and lse.shape == (1, 2, 5)
    bound = attnir.compile(TWO, entry="masked")
    assert bound.entry == "masked"
    np.testing.assert_array_equal(bound(q, k, v)[0], out)
    v64 = rand((1, 2, 6, 64), seed=4)
    assert kernel(q, k, v64).shape == (1, 2, 5, 64)  # default entry: plain


def test_ir_stages(native):
    kernel = attnir.compile(attnir.patterns.causal(), cache=False)
    assert "attn.attention" in kernel.ir("spec")
    assert "attn.kv_block_update" in kernel.ir("tiled")
    assert "omp." in kernel.ir("parallel")
    assert "llvm." in kernel.ir("llvm")
    for stage in ("vectorized", "bufferized"):
        assert kernel.ir(stage)


def test_save_load_and_ir_of_loaded(native, tmp_path):
    spec = attnir.patterns.causal(lse=True)
    kernel = attnir.compile(spec, cache=False)
    path = tmp_path / "k.attnir"
    kernel.save(path)
    loaded = attnir.load(path)
    q, k, v = rand((2, 2, 33, 64), seed=1), rand((2, 2, 40, 64), seed=2), rand((2, 2, 40, 64), seed=3)
    for a, b in zip(kernel(q, k, v), loaded(q, k, v)):
        np.testing.assert_array_equal(a, b)
    assert loaded.signature == kernel.signature
    with pytest.raises(ValueError):
        loaded.ir("tiled")  # a loaded kernel has no IR and no spec to rebuild it
    # a cache hit is a loaded kernel too, but it knows its spec: IR on demand
    attnir.compile(spec)
    hit = attnir.compile(spec)
    assert "attn.kv_block_update" in hit.ir("tiled")


def test_version_and_compiler(native):
    assert attnir.version().startswith("attnir ")
    assert attnir.has_compiler() in (True, False)


def test_threads_share_a_kernel(compiled):
    kernel = compiled(attnir.patterns.causal())
    inputs = [(rand((1, 2, n, 64), seed=n), rand((1, 2, n + 3, 64), seed=n + 1),
               rand((1, 2, n + 3, 64), seed=n + 2)) for n in (17, 40, 77, 100)]
    expected = [kernel(*x) for x in inputs]
    results = [None] * 8
    errors = []

    def work(i):
        try:
            for _ in range(5):
                results[i] = kernel(*inputs[i % 4])
        except Exception as e:  # pragma: no cover
            errors.append(e)
    threads = [threading.Thread(target=work, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    for i in range(8):
        np.testing.assert_array_equal(results[i], expected[i % 4])


def test_gil_released_during_the_call(compiled):
    # With a long switch interval the interpreter never takes the GIL from the
    # main thread by itself: the spinning thread runs during the call only if
    # the call releases the GIL. The kernel runs on one thread, leaving a
    # core to the spinner; on a loaded machine the OS may still not run it
    # during one call, so the best of three calls counts (a call holding the
    # GIL gives 0 ticks every time).
    kernel = compiled(attnir.patterns.dense())
    kernel.threads = 1
    q, k, v = rand((1, 4, 600, 64), seed=1), rand((1, 4, 600, 64), seed=2), rand((1, 4, 600, 64), seed=3)
    kernel(q, k, v)
    ticks = [0]
    stop = threading.Event()

    def spin():
        while not stop.is_set():
            ticks[0] += 1
    old = sys.getswitchinterval()
    sys.setswitchinterval(0.2)
    during = 0
    try:
        t = threading.Thread(target=spin)
        t.start()
        for _ in range(3):
            time.sleep(0.01)      # the spinner takes the GIL and gives it back
            before = ticks[0]
            kernel(q, k, v)
            during = max(during, ticks[0] - before)
        stop.set()
        t.join()
    finally:
        sys.setswitchinterval(old)
    assert during > 100, during
