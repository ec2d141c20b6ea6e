"""AttnIR from Python: compile attention specs to CPU kernels and call them on
numpy arrays or torch tensors.

    import attnir, numpy as np
    spec = attnir.patterns.causal(head_dim=64)   # MLIR text
    kernel = attnir.compile(spec)                # cached on disk
    out = kernel(q, k, v)                        # q [B,H,N,64] float32, ...
    ref = attnir.reference(spec, q, k, v)        # float64 numpy

See docs/python.md.
"""
import os

from . import patterns
from ._cache import cache_dir
from ._errors import CompileError, LoadError
from ._kernel import Arg, Kernel, Signature, load
from ._native import ext as _ext
from ._reference import reference

__version__ = "0.1.0"

__all__ = ["compile", "load", "reference", "patterns", "Kernel", "Signature",
           "Arg", "CompileError", "LoadError", "version", "has_compiler",
           "cache_dir", "workspace_stats", "from_block_mask"]


def from_block_mask(block_mask):
    """(kv_indices, kv_counts) of a FlexAttention BlockMask for a block-list
    spec (needs torch; attnir.torch.from_block_mask says how)."""
    from .torch import from_block_mask as convert
    return convert(block_mask)


def version():
    """The C library's version: "attnir <v> (LLVM <v>)" or "... (runtime only)"."""
    return _ext().version()


def workspace_stats():
    """The CPU kernels' workspace (shared by every kernel of the process):
    {"system_allocations": blocks taken from the system so far,
    "bytes_held": bytes it holds, in use or kept for the next call}. A warm
    kernel's calls leave system_allocations unchanged."""
    allocations, held = _ext().workspace_stats()
    return {"system_allocations": allocations, "bytes_held": held}


def has_compiler():
    """True if this build can compile specs (False: runtime only, which still
    loads saved and cached kernels)."""
    return _ext().has_compiler()


def _options_string(options):
    parts = []
    for name in sorted(options):
        value = options[name]
        if isinstance(value, bool):
            value = "true" if value else "false"
        elif isinstance(value, (list, tuple)):
            value = ",".join(str(v) for v in value)
        parts.append(f"{name.replace('_', '-')}={value}")
    return " ".join(parts) or None


def _compile_native(spec, target, options):
    x = _ext()
    try:
        return x.compile(spec, target, options)
    except x.CompileFailure as e:
        raise CompileError(str(e)) from None


def _load_native(path):
    x = _ext()
    return x.load(path)


def compile(spec, target="cpu", entry=None, *, cache=True, threads=None,
            **options):
    """Compiles `spec` (MLIR text, or an os.PathLike to a .mlir file) for
    `target` and returns a Kernel bound to `entry` (default: the spec's first
    function). `threads`: the CPU threads of its calls (Kernel.threads;
    default every core).

    Keyword options are pass options: ``query_tile=48`` is "query-tile=48".
    Kernels are cached on disk (see cache_dir(); ``cache=False`` or
    ATTNIR_CACHE=0 skips the cache). Raises CompileError with the
    diagnostics (line:column) when the spec does not compile.
    """
    if isinstance(spec, os.PathLike):
        with open(spec) as f:
            spec = f.read()
    if not isinstance(spec, str):
        raise TypeError(f"spec must be MLIR text (str) or a path, got {type(spec).__name__}")
    if not isinstance(target, str):
        raise TypeError(f"target must be a str, got {type(target).__name__}")
    opts = _options_string(options)
    if target == "cuda":
        from ._ptxas import ensure_ptxas
        ensure_ptxas()
    source = (spec, target, opts)
    if cache:
        from . import _cache
        native = _cache.lookup_or_compile(
            spec, target, opts, version(),
            lambda: _compile_native(*source), _load_native)
    else:
        native = _compile_native(*source)
    k = Kernel(native, entry, source=source)
    if threads is not None:
        k.threads = threads
    return k
