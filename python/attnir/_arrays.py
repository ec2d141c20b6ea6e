"""Arrays in and out: numpy arrays, torch CPU tensors and other DLPack
producers, all seen as numpy arrays without copying.

torch is never imported here: a torch tensor can only reach us if the caller
imported torch, and then ``sys.modules['torch']`` is used.
"""
import sys

import numpy as np

from . import _dtypes

NUMPY, TORCH, DLPACK = 0, 1, 2


def _is_torch(x):
    return type(x).__module__.split(".", 1)[0] == "torch" and "torch" in sys.modules


def to_numpy(x, name):
    """(numpy view of x, C API dtype code or None, kind). No copy is made."""
    if isinstance(x, np.ndarray):
        return x, _dtypes.FROM_NUMPY.get(x.dtype), NUMPY
    if _is_torch(x):
        return _from_torch(x, name)
    if hasattr(x, "__dlpack__"):
        try:
            a = np.from_dlpack(x)
        except (BufferError, RuntimeError, TypeError, ValueError) as e:
            raise ValueError(f"argument '{name}' cannot be read through DLPack "
                             f"({e}); attnir needs CPU memory") from None
        return a, _dtypes.FROM_NUMPY.get(a.dtype), DLPACK
    raise TypeError(f"argument '{name}' must be a numpy array or a DLPack tensor "
                    f"(torch, ...), got {type(x).__name__}")


def _from_torch(t, name):
    torch = sys.modules["torch"]
    if t.device.type != "cpu":
        raise ValueError(f"argument '{name}' is on device {t.device}; attnir runs "
                         f"on the CPU (pass {name}.cpu())")
    if t.requires_grad:
        t = t.detach()
    if t.dtype == torch.bfloat16:  # numpy's DLPack has no bf16: go through int16
        a = np.from_dlpack(t.view(torch.int16))
        a = a.view(_dtypes.storage(_dtypes.BF16))
        return a, _dtypes.BF16, TORCH
    a = np.from_dlpack(t)
    return a, _dtypes.FROM_NUMPY.get(a.dtype), TORCH


def to_torch(a, code):
    """A torch tensor sharing a's memory."""
    torch = sys.modules["torch"]
    if code == _dtypes.BF16:
        return torch.from_numpy(a.view(np.int16)).view(torch.bfloat16)
    return torch.from_dlpack(a)


def dtype_error(name, a):
    kinds = "float32, bfloat16 (ml_dtypes), float16, int32, int64"
    return TypeError(f"argument '{name}' has dtype {a.dtype}; attnir takes {kinds}"
                     " (the spec fixes which)")
