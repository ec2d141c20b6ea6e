"""Element types: numpy dtypes <-> the C API's codes <-> spec names."""
import numpy as np

try:  # bf16 numpy arrays come from ml_dtypes (optional)
    import ml_dtypes as _ml_dtypes
    bfloat16 = np.dtype(_ml_dtypes.bfloat16)
except ImportError:  # pragma: no cover - depends on the environment
    _ml_dtypes = None
    bfloat16 = None

F32, BF16, F16, F64, I32, I64 = 0, 1, 2, 3, 4, 5

#: spec name -> C API code
CODE = {"f32": F32, "bf16": BF16, "f16": F16, "f64": F64, "i32": I32, "i64": I64}
#: C API code -> spec name
NAME = {v: k for k, v in CODE.items()}

#: numpy dtype -> C API code
FROM_NUMPY = {np.dtype(np.float32): F32, np.dtype(np.float16): F16,
              np.dtype(np.float64): F64, np.dtype(np.int32): I32,
              np.dtype(np.int64): I64}
if bfloat16 is not None:
    FROM_NUMPY[bfloat16] = BF16

#: accepted spellings of element types in patterns and elsewhere
ALIASES = {"f32": "f32", "float32": "f32", "bf16": "bf16", "bfloat16": "bf16",
           "f16": "f16", "float16": "f16", "half": "f16", "f64": "f64",
           "float64": "f64", "i32": "i32", "int32": "i32", "i64": "i64",
           "int64": "i64"}


def spec_name(dtype):
    """'f32' / 'bf16' / 'f16' / 'f64' for a name or numpy dtype."""
    if isinstance(dtype, str) and dtype in ALIASES:
        return ALIASES[dtype]
    try:
        return NAME[FROM_NUMPY[np.dtype(dtype)]]
    except (TypeError, KeyError):
        raise TypeError(f"unsupported element type {dtype!r}: use f32, bf16, f16"
                        " (or float32, bfloat16, float16)") from None


def storage(code):
    """The numpy dtype that holds elements of C API type `code`. bf16 without
    ml_dtypes is held as uint16 bit patterns (only reachable from torch)."""
    if code == F32:
        return np.dtype(np.float32)
    if code == F16:
        return np.dtype(np.float16)
    if code == F64:
        return np.dtype(np.float64)
    if code == I32:
        return np.dtype(np.int32)
    if code == I64:
        return np.dtype(np.int64)
    if code == BF16:
        return bfloat16 if bfloat16 is not None else np.dtype(np.uint16)
    raise ValueError(f"unknown dtype code {code}")
