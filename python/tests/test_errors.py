"""Every error path: messages name what is wrong."""
import re

import numpy as np
import pytest

import attnir
from conftest import rand

SPEC = attnir.patterns.causal(lse=True)


def qkv(N=7, M=9, Hq=4, Hkv=2, D=64, dtype=np.float32):
    return rand((1, Hq, N, D), dtype, 1), rand((1, Hkv, M, D), dtype, 2), rand((1, Hkv, M, D), dtype, 3)


def test_bad_spec_is_compile_error_with_line_and_column(native):
    bad = SPEC.replace("attn.attention %q, %k, %v", "attn.attention %q, %k, %nope")
    with pytest.raises(attnir.CompileError) as e:
        attnir.compile(bad)
    assert re.search(r"\d+:\d+", str(e.value)), str(e.value)
    with pytest.raises(attnir.CompileError, match=r"\d+:\d+"):
        attnir.compile("func.func @f(%q: tensor<?xf32>) {\n  garbage\n}\n")
    assert issubclass(attnir.CompileError, Exception)


def test_unknown_target_and_option(native):
    with pytest.raises(attnir.CompileError):
        attnir.compile(SPEC, target="tpu")
    with pytest.raises(attnir.CompileError):
        attnir.compile(SPEC, no_such_option=3)


def test_spec_type(native):
    with pytest.raises(TypeError, match="spec"):
        attnir.compile(b"bytes")


def test_wrong_dtype_is_type_error_naming_the_argument(compiled):
    kernel = compiled(SPEC)
    q, k, v = qkv()
    with pytest.raises(TypeError, match="'k'"):
        kernel(q, k.astype(np.float64), v)
    with pytest.raises(TypeError, match="'v'"):
        kernel(q, k, v.astype(np.float16))
    with pytest.raises(TypeError, match="'q'"):
        kernel(q.astype(np.int32), k, v)
    with pytest.raises(TypeError, match="'q'"):
        kernel(q.tolist(), k, v)


def test_wrong_shape_or_rank_is_value_error_naming_the_argument(compiled):
    kernel = compiled(SPEC)
    q, k, v = qkv()
    with pytest.raises(ValueError, match="'k'"):
        kernel(q, k[0], v)                       # rank 3
    with pytest.raises(ValueError, match="'q'"):
        kernel(rand((1, 4, 7, 32)), k, v)        # D = 32, the spec says 64
    with pytest.raises(ValueError, match="'v'"):
        kernel(q, k, rand((1, 2, 8, 64)))        # M of v != M of k
    with pytest.raises(ValueError):
        kernel(rand((1, 3, 7, 64)), k, v)        # Hq = 3 not a multiple of Hkv = 2


def test_wrong_number_of_arguments(compiled):
    kernel = compiled(SPEC)
    q, k, v = qkv()
    with pytest.raises(TypeError, match=r"takes 3 arrays \(q, k, v\), got 2"):
        kernel(q, k)
    with pytest.raises(TypeError, match="got 4"):
        kernel(q, k, v, v)


def test_out_errors_name_out(compiled):
    kernel = compiled(SPEC)
    q, k, v = qkv()
    o = np.empty((1, 4, 7, 64), np.float32)
    l = np.empty((1, 4, 7), np.float32)
    cases = [
        (o,),                                             # one of two
        (np.empty((1, 4, 8, 64), np.float32), l),         # shape
        (np.zeros((1, 4, 7, 64), np.float64), l),         # dtype
        (np.empty((1, 4, 64, 7), np.float32).transpose(0, 1, 3, 2), l),  # strided
        (o, [0.0] * 7),                                   # not an array
    ]
    for out in cases:
        with pytest.raises(ValueError, match=r"out"):
            kernel(q, k, v, out=out)
    ro = o.copy()
    ro.flags.writeable = False
    with pytest.raises(ValueError, match="read-only"):
        kernel(q, k, v, out=(ro, l))
    with pytest.raises(ValueError, match="out"):
        compiled(attnir.patterns.dense())(q, k, v, out=np.empty((1, 4, 7, 63), np.float32))


def test_out_aliasing_an_input(compiled):
    kernel = compiled(attnir.patterns.dense())
    q, k, v = qkv(N=9, Hq=2)
    with pytest.raises(ValueError):
        kernel(q, k, v, out=v)


def test_unknown_entry(compiled, native):
    with pytest.raises(ValueError, match="no entry named 'nope'"):
        attnir.compile(SPEC, entry="nope")
    with pytest.raises(KeyError, match="nope"):
        compiled(SPEC)["nope"]


def test_ir_unknown_stage(compiled):
    with pytest.raises(ValueError, match="stage"):
        compiled(SPEC).ir("assembly")


def test_load_errors(native, tmp_path):
    with pytest.raises(FileNotFoundError):
        attnir.load(tmp_path / "missing.attnir")
    junk = tmp_path / "junk.attnir"
    junk.write_bytes(b"not a kernel" * 10)
    with pytest.raises(attnir.LoadError):
        attnir.load(junk)


ISSUE15_SPECS = {
    # case 1: a returned constant crashed the interpreter
    "case1_constant": """func.func @f() -> tensor<1x1x1x64xf32> {
  %c = arith.constant dense<1.0> : tensor<1x1x1x64xf32>
  return %c : tensor<1x1x1x64xf32>
}""",
    # case 3: one result returned twice
    "case3_twice": """func.func @f(%q: tensor<?x?x?x64xf32>) -> (tensor<?x?x?x64xf32>, tensor<?x?x?x64xf32>) {
  %o = attn.attention %q, %q, %q : (tensor<?x?x?x64xf32>, tensor<?x?x?x64xf32>, tensor<?x?x?x64xf32>) -> tensor<?x?x?x64xf32>
  return %o, %o : tensor<?x?x?x64xf32>, tensor<?x?x?x64xf32>
}""",
    # case 4: a spec that calls itself
    "case4_self_call": """func.func @f(%q: tensor<?x?x?x64xf32>) -> tensor<?x?x?x64xf32> {
  %r = func.call @f(%q) : (tensor<?x?x?x64xf32>) -> tensor<?x?x?x64xf32>
  return %r : tensor<?x?x?x64xf32>
}""",
}


@pytest.mark.parametrize("case", sorted(ISSUE15_SPECS))
def test_issue15_specs_are_compile_errors(native, case):
    """Issue 15, cases 1, 3 and 4: a located CompileError, never a crash."""
    with pytest.raises(attnir.CompileError, match=r"spec:\d+:\d+: error: "):
        attnir.compile(ISSUE15_SPECS[case], cache=False)
