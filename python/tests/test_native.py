"""The extension's own surface (attnir._attnir): a thin layer over the C API.
Tensors are (data_ptr, dtype, shape, strides-or-None) or (ndarray, dtype)."""
import numpy as np
import pytest

import attnir


@pytest.fixture(scope="module")
def nk(native):
    return native.compile(attnir.patterns.causal(lse=True), "cpu", None)


def t(a, code=0, strides=None):
    return (a.__array_interface__["data"][0], code, a.shape, strides)


def test_surface(native, nk):
    assert native.version().startswith("attnir ")
    assert isinstance(native.has_compiler(), bool)
    assert nk.entries() == ["causal"]
    ins, outs = nk.signature("causal")
    assert ins[0] == ("q", "f32", [-1, -1, -1, 64])
    assert [o[1] for o in outs] == ["f32", "f32"] and outs[1][2] == [-1, -1, -1]
    assert nk.signature(0) == (ins, outs)
    assert issubclass(native.CompileFailure, RuntimeError)
    assert issubclass(native.LoadFailure, RuntimeError)


def test_run_both_tensor_forms(nk):
    rng = np.random.default_rng(0)
    q, k, v = (rng.standard_normal(s).astype(np.float32) for s in
               [(1, 2, 9, 64), (1, 2, 11, 64), (1, 2, 11, 64)])
    assert nk.output_shapes("causal", [t(q), t(k), t(v)]) == [(1, 2, 9, 64), (1, 2, 9)]
    o1, l1 = np.empty((1, 2, 9, 64), np.float32), np.empty((1, 2, 9), np.float32)
    nk.run("causal", [t(q), t(k), t(v)], [t(o1), t(l1)])
    o2, l2 = np.empty_like(o1), np.empty_like(l1)
    nk.run(0, [(q, 0), (k, 0), (v, 0)], [(o2, 0), (l2, 0)])
    np.testing.assert_array_equal(o1, o2)
    np.testing.assert_array_equal(l1, l2)
    # explicit element strides: q stored [B, N, H, D]
    qs = np.ascontiguousarray(q.transpose(0, 2, 1, 3))
    o3 = np.empty_like(o1)
    nk.run(0, [(qs.__array_interface__["data"][0], 0, (1, 2, 9, 64), (9 * 2 * 64, 64, 2 * 64, 1)),
               t(k), t(v)], [t(o3), t(l2)])
    np.testing.assert_array_equal(o3, o1)
    # an ndarray view in the (array, dtype) form: strides read from it
    o4 = np.empty_like(o1)
    nk.run(0, [(qs.transpose(0, 2, 1, 3), 0), (k, 0), (v, 0)], [(o4, 0), (l2, 0)])
    np.testing.assert_array_equal(o4, o1)


def test_error_mapping(native, nk):
    q = np.zeros((1, 2, 9, 64), np.float32)
    k = np.zeros((1, 2, 11, 64), np.float32)
    o, l = np.empty((1, 2, 9, 64), np.float32), np.empty((1, 2, 9), np.float32)
    with pytest.raises(TypeError, match="'k'"):
        nk.run(0, [t(q), t(k, 3), t(k)], [t(o), t(l)])       # dtype code f64
    with pytest.raises(ValueError, match="'v'"):
        nk.run(0, [t(q), t(k), t(k[:, :, :5])], [t(o), t(l)])
    with pytest.raises(ValueError):
        nk.run(0, [t(q), t(k)], [t(o), t(l)])                 # count
    with pytest.raises(ValueError, match="no entry"):
        nk.run("nope", [], [])
    with pytest.raises(ValueError, match="out of range"):
        nk.signature(5)
    with pytest.raises(TypeError):
        nk.run(0, [(1, 2, 3)], [])                            # malformed tensor
    with pytest.raises(TypeError, match="ndarray"):
        nk.run(0, [([1.0], 0)], [])
    with pytest.raises(native.CompileFailure, match=r"\d+:\d+"):
        native.compile("func.func @f(", "cpu", None)
    with pytest.raises(native.LoadFailure):
        native.load("/nonexistent/kernel.attnir")
    with pytest.raises(OSError):
        nk.save("/nonexistent/dir/kernel.attnir")
