"""target="cuda" without a GPU: compiling, inspecting, saving and loading
work anywhere (the CUDA toolkit's ptxas makes a cubin; without it the
bundle holds PTX); calls fail with clear exceptions, never a crash. The
numerics on a GPU are checked by bench/gpu/run.py (docs/benchmarks/gpu.md)."""
import ctypes
import sys

import numpy as np
import pytest

SPEC = """
func.func @causal(%q: tensor<?x?x?x64xbf16>, %k: tensor<?x?x?x64xbf16>,
                  %v: tensor<?x?x?x64xbf16>) -> (tensor<?x?x?x64xbf16>, tensor<?x?x?xf32>) {
  %o, %lse = attn.attention %q, %k, %v mask(#attn.causal)
      : (tensor<?x?x?x64xbf16>, tensor<?x?x?x64xbf16>, tensor<?x?x?x64xbf16>)
      -> (tensor<?x?x?x64xbf16>, tensor<?x?x?xf32>)
  return %o, %lse : tensor<?x?x?x64xbf16>, tensor<?x?x?xf32>
}
"""


@pytest.fixture
def kernel(native):
    import attnir
    return attnir.compile(SPEC, target="cuda", cache=False)


def test_compile_for_cuda(kernel):
    assert kernel.target == "cuda"
    sig = kernel.signature
    assert [a.name for a in sig.inputs] == ["q", "k", "v"]
    assert [a.dtype for a in sig.outputs] == ["bf16", "f32"]
    ptx = kernel.ir("ptx")
    # The default chip (sm_90a) gets the Hopper kernel: TMA + wgmma.
    assert ".target sm_90a" in ptx
    assert "wgmma.mma_async.sync.aligned.m64n128k16.f32.bf16.bf16" in ptx
    assert "cp.async.bulk.tensor.4d" in ptx
    assert "nvvm.wgmma.mma_async" in kernel.ir("nvgpu")
    with pytest.raises(ValueError, match="unknown stage 'tiled'"):
        kernel.ir("tiled")


def test_options_and_errors(native):
    import attnir
    k = attnir.compile(SPEC, target="cuda", cache=False, chip="sm_80", warps=2)
    assert ".target sm_80" in k.ir("ptx")
    assert "mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32" in k.ir("ptx")
    assert "nvvm.mma.sync" in k.ir("nvgpu")
    with pytest.raises(attnir.CompileError, match="warps=13 out of range"):
        attnir.compile(SPEC, target="cuda", cache=False, warps=13)
    with pytest.raises(attnir.CompileError, match="needs f16 or bf16 inputs"):
        attnir.compile(SPEC.replace("bf16", "f32"), target="cuda", cache=False)


def test_save_load_and_cache(kernel, tmp_path, native):
    import attnir
    kernel.save(tmp_path / "k.bundle")
    k2 = attnir.load(tmp_path / "k.bundle")
    assert k2.target == "cuda" and k2.signature == kernel.signature
    # The disk cache keys on the target: the CPU kernel of the same spec is
    # another entry.
    a = attnir.compile(SPEC, target="cuda")
    b = attnir.compile(SPEC, target="cuda")
    assert a.target == b.target == "cuda"


def test_calls_need_cuda_tensors(kernel):
    q = np.zeros((1, 2, 3, 64), np.float16)
    if "torch" not in sys.modules:
        with pytest.raises(TypeError, match="torch CUDA tensors"):
            kernel(q, q, q)


def _has_driver():
    try:
        ctypes.CDLL("libcuda.so.1")  # what the runtime opens
        return True
    except OSError:
        return False


@pytest.mark.skipif(_has_driver(), reason="a CUDA driver is present")
def test_no_driver_is_an_error(native):
    """Through the C API directly: device pointers to a kernel on a machine
    without a driver fail with a message."""
    import attnir
    from attnir._native import ext
    k = attnir.compile(SPEC, target="cuda", cache=False)
    buf = np.zeros((1, 1, 4, 64), np.float16)
    t = (buf.ctypes.data, 1, (1, 1, 4, 64), None)
    with pytest.raises(ValueError, match="CUDA driver"):
        k._native.run(0, [t, t, t], [(np.zeros((1, 1, 4, 64), np.float16).ctypes.data, 1, (1, 1, 4, 64), None),
                                     (np.zeros((1, 1, 4), np.float32).ctypes.data, 0, (1, 1, 4), None)], 0)


def _bf16_exact(x):
    """float32 values that bf16 represents exactly (the low half cut)."""
    return (x.view(np.uint32) & np.uint32(0xFFFF0000)).view(np.float32)


BLOCK_TABLE = """
func.func @block_table(%q: tensor<?x?x?x64xDT>, %k: tensor<?x?x?x64xDT>,
                       %v: tensor<?x?x?x64xDT>, %t: tensor<?x?x?xi32>) -> tensor<?x?x?x64xDT> {
  %o = attn.attention %q, %k, %v rules(%t) mask(#attn.causal) mask_rule {
  ^bb0(%b: index, %h: index, %i: index, %j: index, %tb: tensor<?x?x?xi32>):
    %c = arith.constant 128 : index
    %qb = arith.divsi %i, %c : index
    %kb = arith.divsi %j, %c : index
    %x = tensor.extract %tb[%h, %qb, %kb] : tensor<?x?x?xi32>
    %z = arith.constant 0 : i32
    %keep = arith.cmpi ne, %x, %z : i32
    attn.yield %keep : i1
  } : (tensor<?x?x?x64xDT>, tensor<?x?x?x64xDT>, tensor<?x?x?x64xDT>,
       tensor<?x?x?xi32>) -> tensor<?x?x?x64xDT>
  return %o : tensor<?x?x?x64xDT>
}
"""


@pytest.mark.parametrize("B,H,Hk,N,M", [(2, 4, 2, 300, 300), (1, 2, 2, 200, 333),
                                        (1, 3, 1, 333, 129), (2, 2, 2, 1, 700)])
def test_rule_block_maps_keep_the_reference(native, tmp_path, B, H, Hk, N, M):
    # On the CUDA target a mask_rule gets a block map made before the
    # attention (attn.rule_blocks, a full_marked list): the program a bundle
    # carries then has two ops. Its float64 reference must be the spec's, for
    # a head-free rule (one map for all heads) and a per-head block table.
    import attnir
    from conftest import REPO
    rng = np.random.default_rng(B * 1000 + N)
    f = lambda *s: _bf16_exact(rng.standard_normal(s).astype(np.float32))
    q, k, v = f(B, H, N, 64), f(B, Hk, M, 64), f(B, Hk, M, 64)
    doc = (REPO / "examples" / "document_region.mlir").read_text()
    docs = [np.sort(rng.integers(0, 4, (B, n))).astype(np.int32) for n in (N, M)]
    table = (rng.random((H, -(-N // 128), -(-M // 128))) < 0.5).astype(np.int32)
    for spec, extra in ((doc, docs), (BLOCK_TABLE.replace("DT", "f32"), [table])):
        gpu = attnir.compile(spec.replace("x64xf32>", "x64xbf16>"), target="cuda",
                             cache=False)
        gpu.save(tmp_path / "k.bundle")
        assert b"rule_blocks" in (tmp_path / "k.bundle").read_bytes()
        cpu = attnir.compile(spec, cache=False)
        want = np.asarray(cpu.reference(q, k, v, *extra))
        got = np.asarray(gpu.reference(q, k, v, *extra))
        np.testing.assert_array_equal(got, want)


def test_rules_on_a_per_token_list_compile_for_cuda(native):
    # Lists of 8-key blocks per query token run a warp per query row; the
    # rule regions run there too (numerics: bench/gpu/rules.py on the H200).
    import attnir
    spec = """
func.func @row(%q: tensor<?x?x?x64xbf16>, %k: tensor<?x?x?x64xbf16>, %v: tensor<?x?x?x64xbf16>,
               %idx: tensor<?x?x?x?xi32>, %cnt: tensor<?x?x?xi32>) -> tensor<?x?x?x64xbf16> {
  %o = attn.attention %q, %k, %v blocks(%idx, %cnt) block_size(1, 8) mask(#attn.causal)
       score_rule {
  ^bb0(%s: f32, %b: index, %h: index, %i: index, %j: index):
    %c = arith.constant 5.0 : f32
    %x = arith.divf %s, %c : f32
    %y = math.tanh %x : f32
    %z = arith.mulf %y, %c : f32
    attn.yield %z : f32
  } : (tensor<?x?x?x64xbf16>, tensor<?x?x?x64xbf16>, tensor<?x?x?x64xbf16>,
       tensor<?x?x?x?xi32>, tensor<?x?x?xi32>) -> tensor<?x?x?x64xbf16>
  return %o : tensor<?x?x?x64xbf16>
}
"""
    k = attnir.compile(spec, target="cuda", cache=False)
    assert "tanh.approx.f32" in k.ir("ptx")


def test_ptxas_from_nvidia_pip_package(tmp_path, monkeypatch):
    """The ptxas of an nvidia-cuda-nvcc pip package is named as the
    compiler's last resort (ATTNIR_PTXAS_FALLBACK; the compiler's own search,
    unit-tested in C++, lets a toolkit's ptxas win); a caller's choice
    stands."""
    from attnir import _ptxas
    tool = tmp_path / "nvidia" / "cuda_nvcc" / "bin" / "ptxas"
    tool.parent.mkdir(parents=True)
    tool.write_text("#!/bin/sh\nexit 1\n")
    tool.chmod(0o755)
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.delitem(sys.modules, "nvidia", raising=False)
    assert _ptxas.wheel_ptxas() == str(tool)
    # Recorded first, so that teardown restores the variable as it was
    # (ensure_ptxas sets it behind monkeypatch's back).
    monkeypatch.setenv("ATTNIR_PTXAS_FALLBACK", "recorded")
    monkeypatch.delenv("ATTNIR_PTXAS_FALLBACK")
    _ptxas.ensure_ptxas()
    import os
    assert os.environ["ATTNIR_PTXAS_FALLBACK"] == str(tool)
    monkeypatch.setenv("ATTNIR_PTXAS_FALLBACK", "/opt/mine/ptxas")
    _ptxas.ensure_ptxas()
    assert os.environ["ATTNIR_PTXAS_FALLBACK"] == "/opt/mine/ptxas"
