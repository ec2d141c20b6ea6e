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
    if not isinstance(x, torch.Tensor):
        if hasattr(x, "__dlpack__"):
            x = torch.from_dlpack(x)
        else:
            raise TypeError(f"argument '{name}' must be a CUDA tensor (torch or "
                            f"DLPack), got {type(x).__name__}")
    if x.device.type != "cuda":
        raise ValueError(f"argument '{name}' is on {x.device}; this kernel runs "
                         f"on CUDA (pass {name}.cuda())")
    if x.requires_grad:
        x = x.detach()
    return x


_CODES = None


def _code(torch, t, name):
    global _CODES
    if _CODES is None:
        _CODES = {torch.float32: _dtypes.F32, torch.bfloat16: _dtypes.BF16,
                  torch.float16: _dtypes.F16, torch.float64: _dtypes.F64,
                  torch.int32: _dtypes.I32, torch.int64: _dtypes.I64}
    code = _CODES.get(t.dtype)
    if code is None:
        raise TypeError(f"argument '{name}' has dtype {t.dtype}; attnir takes "
                        "bfloat16, float16, int32, int64 (the spec fixes which)")
    return code


_TORCH_DTYPE = None


def call(native, e, arrays, out):
    global _TORCH_DTYPE
    torch = _torch()
    if _TORCH_DTYPE is None:
        _TORCH_DTYPE = {_dtypes.F32: torch.float32, _dtypes.BF16: torch.bfloat16,
                        _dtypes.F16: torch.float16, _dtypes.F64: torch.float64,
                        _dtypes.I32: torch.int32, _dtypes.I64: torch.int64}
    if len(arrays) != e.n_in:
        raise TypeError(f"{e.label} takes {e.n_in} arrays "
                        f"({', '.join(e.in_names)}), got {len(arrays)}")
    ts = [_as_cuda_tensor(torch, a, n) for a, n in zip(arrays, e.in_names)]
    device = ts[0].device
    for t, n in zip(ts, e.in_names):
        if t.device != device:
            raise ValueError(f"argument '{n}' is on {t.device}, "
                             f"'{e.in_names[0]}' on {device}: use one device")
    tensors = [(t.data_ptr(), _code(torch, t, n), tuple(t.shape), tuple(t.stride()))
               for t, n in zip(ts, e.in_names)]
    shapes = native.output_shapes(e.index, tensors)
    if out is None:
        res = [torch.empty(tuple(s), dtype=_TORCH_DTYPE[c], device=device)
               for s, c in zip(shapes, e.out_codes)]
    else:
        res = list(out) if isinstance(out, (tuple, list)) else [out]
        if len(res) != e.n_out:
            raise ValueError(f"out: {e.label} has {e.n_out} outputs "
                             f"({', '.join(e.out_names)}), got {len(res)}")
        res = [_as_cuda_tensor(torch, r, f"out ('{n}')")
               for r, n in zip(res, e.out_names)]
    outs = [(r.data_ptr(), _code(torch, r, n), tuple(r.shape), tuple(r.stride()))
            for r, n in zip(res, e.out_names)]
    with torch.cuda.device(device):
        stream = torch.cuda.current_stream(device).cuda_stream
        native.run(e.index, tensors, outs, stream)
    if out is not None:
        return out
    return res[0] if len(res) == 1 else tuple(res)
