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
