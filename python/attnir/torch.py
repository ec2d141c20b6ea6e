"""Compiled kernels as torch operators, and FlexAttention's BlockMask.

    import attnir, attnir.torch
    kernel = attnir.compile(spec, target="cuda")
    op = attnir.torch.custom_op(kernel)         # torch.ops.attnir.<entry>
    f = torch.compile(lambda q, k, v: op(q, k, v), fullgraph=True)

`custom_op` registers a kernel's entry with torch.library: a CPU or CUDA
implementation (the kernel's target) and a fake one that computes the output
shapes from the entry's shape relations (attnir_output_dim_source), on
symbolic sizes too, so torch.compile traces through it without a graph
break and with dynamic shapes. A call allocates its outputs from torch's
allocator on the inputs' device and queues the kernel on torch's current
stream; nothing waits on the device, so CUDA graphs capture it (the
runtime's workspace of a program is sized on the first call: warm up before
capturing, as for any torch code).

`from_block_mask` turns a FlexAttention BlockMask into the (kv_indices,
kv_counts) pair a block-list spec takes (docs/python.md, "coming from
FlexAttention").
"""
import keyword
import re

import torch

from . import _dtypes

_LIB = None
_REGISTERED = {}  # op name -> kernel (a name is registered once)

_TORCH_DTYPE = {_dtypes.F32: torch.float32, _dtypes.BF16: torch.bfloat16,
                _dtypes.F16: torch.float16, _dtypes.F64: torch.float64,
                _dtypes.I32: torch.int32, _dtypes.I64: torch.int64}


def _library():
    global _LIB
    if _LIB is None:
        _LIB = torch.library.Library("attnir", "FRAGMENT")
        # The operators' closures keep their kernels alive until torch's
        # registry goes, after the extension's exit-time leak report.
        from ._native import ext
        ext().set_leak_warnings(False)
    return _LIB


def _identifier(name, i, taken):
    """A schema argument name for a spec argument (MLIR allows names Python
    and torch's schema parser do not)."""
    n = re.sub(r"\W", "_", name)
    if not n or n[0].isdigit() or keyword.iskeyword(n) or n in taken \
            or n in ("self", "out"):
        n = f"arg{i}"
    taken.add(n)
    return n


def _schema(name, e):
    taken = set()
    params = ", ".join(f"Tensor {_identifier(n, i, taken)}"
                       for i, n in enumerate(e.in_names))
    rets = "Tensor" if e.n_out == 1 else \
        "(" + ", ".join(["Tensor"] * e.n_out) + ")"
    return f"{name}({params}) -> {rets}"


def _fake_shapes(native, e, args):
    """The output shapes for (possibly symbolic) input sizes."""
    shapes = []
    for o, rank in enumerate(len(a.shape) for a in e.sig.outputs):
        shape = []
        for d in range(rank):
            size, inp, dim, divisor = native.output_dim_source(e.index, o, d)
            if size >= 0:
                shape.append(size)
            else:
                s = args[inp].shape[dim]
                shape.append(s if divisor == 1 else (s + divisor - 1) // divisor)
        shapes.append(shape)
    return shapes


def custom_op(kernel, name=None):
    """Registers `kernel`'s entry as torch.ops.attnir.<name> (default: the
    entry's name) and returns that operator. A name already registered for
    another kernel is an error; the same kernel again returns its operator."""
    e = kernel._e
    name = name or e.sig.entry
    if not re.fullmatch(r"[A-Za-z_]\w*", name):
        raise ValueError(f"operator name '{name}' is not an identifier")
    if name in _REGISTERED:
        if _REGISTERED[name] is not kernel:
            raise ValueError(f"torch.ops.attnir.{name} is registered for "
                             "another kernel; pass name=")
        return getattr(torch.ops.attnir, name)
    lib = _library()
    lib.define(_schema(name, e))
    native = kernel._native

    def impl(*args):
        return kernel(*args)

    def fake(*args):
        outs = [args[0].new_empty(s, dtype=_TORCH_DTYPE[c])
                for s, c in zip(_fake_shapes(native, e, args), e.out_codes)]
        return outs[0] if len(outs) == 1 else tuple(outs)

    lib.impl(name, impl, "CUDA" if kernel.target == "cuda" else "CPU")
    torch.library.register_fake(f"attnir::{name}", fake, lib=lib)
    _REGISTERED[name] = kernel
    return getattr(torch.ops.attnir, name)


def from_block_mask(block_mask):
    """(kv_indices, kv_counts) of a FlexAttention BlockMask, for a spec's
    `blocks(%kv_indices, %kv_counts)` with block_size equal to the mask's
    BLOCK_SIZE. Without full blocks (the `full_*` pair) its `kv_indices` and
    `kv_num_blocks` are returned as they are (same layout). With them, each
    row lists its full blocks then its partial ones: AttnIR applies the
    spec's mask to every listed block, so give the spec the mask_mod's rule
    (e.g. #attn.causal) when the BlockMask has partial blocks. Runs on the
    mask's device without synchronising."""
    idx, cnt = block_mask.kv_indices, block_mask.kv_num_blocks
    full_idx = getattr(block_mask, "full_kv_indices", None)
    full_cnt = getattr(block_mask, "full_kv_num_blocks", None)
    if full_idx is None or full_cnt is None:
        return idx, cnt
    kf, kp = full_idx.shape[-1], idx.shape[-1]
    pos = torch.arange(kf + kp, device=idx.device, dtype=torch.int64)
    fc = full_cnt.to(torch.int64).unsqueeze(-1)
    from_full = torch.gather(full_idx, -1, pos.clamp(max=kf - 1).expand(
        *full_idx.shape[:-1], kf + kp)) if kf else None
    part_pos = (pos - fc).clamp(0, max(kp - 1, 0))
    from_part = torch.gather(idx, -1, part_pos.expand(*idx.shape[:-1], kf + kp))
    merged = from_part if from_full is None else \
        torch.where(pos < fc, from_full, from_part)
    counts = (full_cnt + cnt).to(torch.int32)
    return merged.to(torch.int32).contiguous(), counts.contiguous()
