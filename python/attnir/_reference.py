"""The float64 reference: the C library's (lib/Reference), the one
`attnc run --check` uses, written once from shared/patterns.md.

It interprets the op graph the compiler records for each entry. Compiler
builds read it from spec text; every build, runtime-only included, reads it
from a Kernel (compiled, loaded from a bundle or from the cache), so
``attnir.reference(kernel, ...)`` and ``kernel.reference(...)`` work where no
compiler is linked. Inputs are widened exactly to float64 (bf16/f16 values
are representable), so the reference sees the numbers the kernel sees.
"""
import os

import numpy as np

from ._arrays import to_numpy


def reference(spec, *arrays, entry=None):
    """float64 results of `entry` (default: the first function) of `spec` on
    `arrays`: one array for one result, a tuple for several.

    `spec` is spec text, a path (os.PathLike) to a .mlir file, or a Kernel
    (then `entry` defaults to the kernel's). Arrays are numpy arrays or
    DLPack producers (torch tensors included)."""
    from ._kernel import Kernel
    if isinstance(spec, Kernel):
        return (spec if entry is None else spec[entry]).reference(*arrays)
    if isinstance(spec, os.PathLike):
        with open(spec) as f:
            spec = f.read()
    if not isinstance(spec, str):
        raise TypeError(f"spec must be MLIR text, a path or a Kernel, got "
                        f"{type(spec).__name__}")
    from ._native import ext
    native = ext()
    if native.has_compiler():
        tensors = host_tensors(arrays)
        return decode(lambda: native.reference(spec, entry, tensors))
    # Runtime-only: the kernel of this spec (from the disk cache) carries the
    # op graph; without it there is nothing to read the spec with.
    from . import compile as _compile
    from ._errors import CompileError
    try:
        kernel = _compile(spec, entry=entry)
    except CompileError:
        raise RuntimeError(
            "this runtime-only build cannot read spec text: pass a Kernel "
            "(attnir.load of a bundle) to attnir.reference, or compile the "
            "spec once with a compiler build so that it is cached") from None
    return kernel.reference(*arrays)


def host_tensors(arrays):
    """(array, dtype code) per argument, on the host."""
    tensors = []
    for i, a in enumerate(arrays):
        arr, code, _ = to_numpy(a, f"#{i}")
        if code is None:
            raise TypeError(f"argument #{i} has dtype {arr.dtype}, which attnir "
                            "does not take")
        tensors.append((arr, code))
    return tensors


def decode(call):
    """Runs `call` (a native reference) and turns its (bytes, shape) list into
    arrays, with Python's exception types for its errors."""
    try:
        res = call()
    except ValueError as e:
        msg = str(e)
        if "inputs, got" in msg or "arguments, got" in msg:
            raise TypeError(msg.replace(" inputs, got", " arrays, got")) from None
        if "unsupported op" in msg or "is not an op AttnIR compiles" in msg:
            raise NotImplementedError(msg) from None
        raise
    out = tuple(np.frombuffer(data, dtype=np.float64).reshape(shape).copy()
                for data, shape in res)
    return out[0] if len(out) == 1 else out
