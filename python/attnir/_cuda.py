"""Calls of CUDA kernels on torch CUDA tensors.

The tensors' device pointers go to the C API as they are (no copy), the
outputs are allocated by torch on the inputs' device, and the kernel is
queued on torch's current stream of that device, so it orders with the
caller's other torch work like any torch op. Other DLPack producers on CUDA
are accepted through torch.from_dlpack.
"""
import sys

from . import _dtypes


def _torch():
    torch = sys.modules.get("torch")
    if torch is None:
        raise TypeError("CUDA kernels take torch CUDA tensors (import torch)")
    return torch


def _as_cuda_tensor(torch, x, name):
    # The common case first and cheaply: a call's host time is what a short
    # kernel costs (docs/benchmarks/python.md, "Host time of a CUDA call").
    if not isinstance(x, torch.Tensor):
        if hasattr(x, "__dlpack__"):
            x = torch.from_dlpack(x)
        else:
            raise TypeError(f"argument '{name}' must be a CUDA tensor (torch or "
                            f"DLPack), got {type(x).__name__}")
    if not x.is_cuda:
        raise ValueError(f"argument '{name}' is on {x.device}; this kernel runs "
                         f"on CUDA (pass {name}.cuda())")
    if x.requires_grad:
        x = x.detach()
    return x


_CODES = None


def _code(torch, t, name):
    if _CODES is None:
        _tables(torch)
    code = _CODES.get(t.dtype)
    if code is None:
        raise TypeError(f"argument '{name}' has dtype {t.dtype}; attnir takes "
                        "bfloat16, float16, int32, int64 (the spec fixes which)")
    return code


_TORCH_DTYPE = None
_RAW_STREAM = None


def _stream_of(torch, index):
    """The raw CUstream of torch's current stream on device `index` (torch's
    own fast accessor where it has one: current_stream() builds a Stream
    object, a few microseconds per call)."""
    global _RAW_STREAM
    if _RAW_STREAM is None:
        raw = getattr(torch._C, "_cuda_getCurrentRawStream", None)
        _RAW_STREAM = raw if raw is not None else (
            lambda i: torch.cuda.current_stream(i).cuda_stream)
    return _RAW_STREAM(index)


_GET_DEVICE = None


def _current_device(torch):
    """The thread's current CUDA device (torch's raw accessor where it has
    one: torch.cuda.current_device() costs twice as much)."""
    global _GET_DEVICE
    if _GET_DEVICE is None:
        _GET_DEVICE = getattr(torch._C, "_cuda_getDevice", None) or torch.cuda.current_device
    return _GET_DEVICE()


def _tables(torch):
    """torch dtype -> code (_CODES) and its inverse (_TORCH_DTYPE)."""
    global _CODES, _TORCH_DTYPE
    _CODES = {torch.float32: _dtypes.F32, torch.bfloat16: _dtypes.BF16,
              torch.float16: _dtypes.F16, torch.float64: _dtypes.F64,
              torch.int32: _dtypes.I32, torch.int64: _dtypes.I64}
    _TORCH_DTYPE = {c: t for t, c in _CODES.items()}


def call(native, e, arrays, out):
    # One pass over the inputs (check, then the C API's tuple), output shapes
    # from the entry's cache: each piece of this path costs microseconds on
    # every call (docs/benchmarks/python.md, "Host time of a CUDA call").
    torch = _torch()
    if _TORCH_DTYPE is None:
        _tables(torch)
    if len(arrays) != e.n_in:
        raise TypeError(f"{e.label} takes {e.n_in} arrays "
                        f"({', '.join(e.in_names)}), got {len(arrays)}")
    Tensor, codes = torch.Tensor, _CODES
    tensors, key, index, first = [], [], None, None
    for a, n in zip(arrays, e.in_names):
        t = a if type(a) is Tensor and a.is_cuda and not a.requires_grad \
            else _as_cuda_tensor(torch, a, n)
        i = t.get_device()
        if index is None:
            index, first = i, t
        elif i != index:
            raise ValueError(f"argument '{n}' is on {t.device}, "
                             f"'{e.in_names[0]}' on {first.device}: use one device")
        code = codes.get(t.dtype)
        if code is None:
            code = _code(torch, t, n)  # raises
        shape = tuple(t.shape)
        tensors.append((t.data_ptr(), code, shape, t.stride()))
        key.append((shape, code))
    shapes = e.output_shapes(native, tuple(key), tensors)
    if out is None:
        device = first.device
        res = [torch.empty(s, dtype=_TORCH_DTYPE[c], device=device)
               for s, c in zip(shapes, e.out_codes)]
    else:
        res = list(out) if isinstance(out, (tuple, list)) else [out]
        if len(res) != e.n_out:
            raise ValueError(f"out: {e.label} has {e.n_out} outputs "
                             f"({', '.join(e.out_names)}), got {len(res)}")
        res = [_as_cuda_tensor(torch, r, f"out ('{n}')")
               for r, n in zip(res, e.out_names)]
    outs = [(r.data_ptr(), _code(torch, r, n), tuple(r.shape), r.stride())
            for r, n in zip(res, e.out_names)]
    # The kernel runs in the current CUDA context: the device's, switched to
    # only when the thread is on another device.
    if _current_device(torch) == index:
        native.run(e.index, tensors, outs, _stream_of(torch, index))
    else:
        with torch.cuda.device(index):
            native.run(e.index, tensors, outs, _stream_of(torch, index))
    if out is not None:
        return out
    return res[0] if len(res) == 1 else tuple(res)
