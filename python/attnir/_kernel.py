"""Kernel: a compiled spec, callable on arrays."""
import os
from typing import NamedTuple, Optional, Tuple

import numpy as np

from . import _arrays, _dtypes
from ._arrays import NUMPY, TORCH
from ._native import ext

_FROM_NUMPY = _dtypes.FROM_NUMPY
STAGES = ("spec", "tiled", "vectorized", "bufferized", "parallel", "llvm")
CUDA_STAGES = ("spec", "nvgpu", "nvvm", "ptx")


class Arg(NamedTuple):
    """One argument of an entry: its name in the spec, element type ('f32',
    'bf16', 'f16', 'f64') and shape (None for a dynamic dimension)."""
    name: str
    dtype: str
    shape: Tuple[Optional[int], ...]

    def __str__(self):
        dims = ",".join("?" if d is None else str(d) for d in self.shape)
        return f"{self.name}: {self.dtype}[{dims}]"


class Signature(NamedTuple):
    """The arguments of one entry."""
    entry: str
    inputs: Tuple[Arg, ...]
    outputs: Tuple[Arg, ...]

    def __str__(self):
        ins = ", ".join(map(str, self.inputs))
        outs = ", ".join(map(str, self.outputs))
        return f"{self.entry}({ins}) -> ({outs})"


class _Entry:
    """What a call needs to know about an entry, computed once."""
    __slots__ = ("index", "sig", "n_in", "n_out", "in_names", "out_names",
                 "out_codes", "out_storage", "shapes", "label")

    def __init__(self, native, index, name):
        ins, outs = native.signature(index)

        def args(lst):
            return tuple(Arg(n, d, tuple(None if x < 0 else x for x in s))
                         for n, d, s in lst)

        self.index = index
        self.sig = Signature(name, args(ins), args(outs))
        self.n_in, self.n_out = len(ins), len(outs)
        self.in_names = tuple(a.name for a in self.sig.inputs)
        self.out_names = tuple(a.name for a in self.sig.outputs)
        self.out_codes = tuple(_dtypes.CODE[a.dtype] for a in self.sig.outputs)
        self.out_storage = tuple(_dtypes.storage(c) for c in self.out_codes)
        self.shapes = {}  # (input shapes and dtypes) -> output shapes
        self.label = f"{name}()"

    def output_shapes(self, native, key, tensors):
        """The output shapes for inputs of signature `key` (their shapes and
        dtypes), memoized: asking the C API costs microseconds per call."""
        shapes = self.shapes.get(key)
        if shapes is None:
            shapes = native.output_shapes(self.index, tensors)
            if len(self.shapes) > 256:
                self.shapes.clear()
            self.shapes[key] = shapes
        return shapes


class Kernel:
    """A compiled spec. Call it on arrays: ``kernel(q, k, v)``.

    The kernel runs its default entry (the one named at compile/load time, or
    the spec's first function); ``kernel["name"]`` is the same kernel bound to
    another entry.
    """

    def __init__(self, native, entry=None, source=None):
        self._native = native
        self._source = source  # (spec, target, options) when known
        self._ir_native = None
        names = tuple(native.entries())
        if not names:
            raise ValueError("the kernel has no entries")
        if entry is None:
            entry = names[0]
        elif entry not in names:
            raise ValueError(f"no entry named '{entry}' (the kernel has "
                             f"{', '.join(names)})")
        self._names = names
        self.target = native.target()
        # Resolved once: a CUDA call's host time counts (see _cuda.py).
        self._cuda_call = None
        if self.target == "cuda":
            from ._cuda import call
            self._cuda_call = call
        self._entries = {}  # shared with the views kernel[name]
        self.entry = entry
        self._e = self._info(entry)

    def _info(self, name):
        e = self._entries.get(name)
        if e is None:
            e = self._entries[name] = _Entry(self._native, self._names.index(name), name)
        return e

    # -- threads -----------------------------------------------------------
    @property
    def threads(self):
        """Threads of this kernel's CPU calls: 0 (the default) uses every
        core (or OMP_NUM_THREADS); n > 0 runs each call on n threads. Shared
        by every entry of the kernel. CUDA kernels take only 0."""
        return self._native.get_threads()

    @threads.setter
    def threads(self, n):
        if isinstance(n, bool) or not isinstance(n, int):
            raise TypeError(f"threads must be an int, got {type(n).__name__}")
        self._native.set_threads(n)

    # -- introspection -----------------------------------------------------
    @property
    def entries(self):
        """The names of the kernel's entries (the spec's functions), in order."""
        return self._names

    @property
    def signature(self):
        """The Signature of this kernel's entry."""
        return self._e.sig

    @property
    def signatures(self):
        """{entry name: Signature} for every entry."""
        return {n: self._info(n).sig for n in self._names}

    def __getitem__(self, entry):
        k = Kernel.__new__(Kernel)
        k.__dict__.update(self.__dict__)
        if entry not in self._names:
            raise KeyError(f"no entry named '{entry}' (the kernel has "
                           f"{', '.join(self._names)})")
        k.entry = entry
        k._e = self._info(entry)
        return k

    def __repr__(self):
        return f"<attnir.Kernel {self._e.sig}>"

    def ir(self, stage):
        """The IR after a pipeline stage: one of 'spec', 'tiled', 'vectorized',
        'bufferized', 'parallel', 'llvm'. A kernel that came from a file (or
        the cache) keeps no IR; if its spec is known, it is compiled again (once)
        to answer."""
        stages = CUDA_STAGES if self.target == "cuda" else STAGES
        if stage not in stages:
            raise ValueError(f"unknown stage '{stage}': use one of {', '.join(stages)}")
        try:
            return (self._ir_native or self._native).ir(stage)
        except ValueError:
            if (self._source is None or self._ir_native is not None
                    or not ext().has_compiler()):
                raise
        from . import _compile_native
        self._ir_native = _compile_native(*self._source)
        return self._ir_native.ir(stage)

    def save(self, path):
        """Writes the compiled kernel to `path` (load it with attnir.load)."""
        self._native.save(os.fspath(path))

    # -- calls --------------------------------------------------------------
    def reference(self, *arrays):
        """float64 results of this entry on `arrays` (host numpy arrays or
        DLPack producers), from the op graph the kernel records: the same
        reference as attnir.reference, in runtime-only builds too."""
        from . import _reference
        e = self._e
        if len(arrays) != e.n_in:
            raise TypeError(f"{e.label} takes {e.n_in} arrays "
                            f"({', '.join(e.in_names)}), got {len(arrays)}")
        tensors = _reference.host_tensors(arrays)
        return _reference.decode(lambda: self._native.reference(e.index, tensors))

    def output_shapes(self, *arrays):
        """The output shapes for these inputs (nothing is run)."""
        e = self._e
        tensors, _, _, _ = self._inputs(e, arrays)
        return tuple(tuple(s) for s in self._native.output_shapes(e.index, tensors))

    def _inputs(self, e, arrays):
        """(tensors for the C call, arrays to keep alive, result kind, memo key).

        Contiguous numpy arrays go as (array, dtype) (the extension reads
        data, shape and strides from the array); everything else as
        (data_ptr, dtype, shape, strides-in-elements)."""
        if len(arrays) != e.n_in:
            raise TypeError(f"{e.label} takes {e.n_in} arrays "
                            f"({', '.join(e.in_names)}), got {len(arrays)}")
        tensors = []
        key = []
        keep = []
        kind = NUMPY
        for a, name in zip(arrays, e.in_names):
            if type(a) is np.ndarray:
                code = _FROM_NUMPY.get(a.dtype)
                if code is not None and a.flags.c_contiguous:
                    tensors.append((a, code))
                    key.append((code, a.shape))
                    continue
            else:
                a, code, k = _arrays.to_numpy(a, name)
                if k == TORCH:
                    kind = TORCH
            if code is None:
                raise _arrays.dtype_error(name, a)
            ai = a.__array_interface__
            strides = ai["strides"]
            if strides is not None:
                isz = a.itemsize
                if any(s < 0 or s % isz for s in strides):
                    a = np.ascontiguousarray(a)  # negative/odd strides: copy here
                    ai = a.__array_interface__
                    strides = None
                else:
                    strides = tuple(s // isz for s in strides)
            keep.append(a)
            tensors.append((ai["data"][0], code, ai["shape"], strides))
            key.append((code, ai["shape"]))
        return tensors, keep, kind, tuple(key)

    def _outputs(self, e, out, shapes):
        outs = out if isinstance(out, (tuple, list)) else (out,)
        if len(outs) != e.n_out:
            raise ValueError(f"out: {e.label} has {e.n_out} outputs "
                             f"({', '.join(e.out_names)}), got {len(outs)}")
        tensors, keep = [], []
        for i, (o, shape, code) in enumerate(zip(outs, shapes, e.out_codes)):
            what = "out" if e.n_out == 1 else f"out[{i}]"
            what = f"{what} ('{e.out_names[i]}')"
            try:
                a, c, kind = _arrays.to_numpy(o, what)
            except TypeError as err:
                raise ValueError(str(err)) from None
            if c != code:
                raise ValueError(f"{what} has dtype {a.dtype}, the output is "
                                 f"{_dtypes.NAME[code]}")
            if tuple(a.shape) != tuple(shape):
                raise ValueError(f"{what} has shape {tuple(a.shape)}, the output "
                                 f"has shape {tuple(shape)}")
            if not a.flags.c_contiguous:
                raise ValueError(f"{what} must be C-contiguous")
            if kind == NUMPY and not a.flags.writeable:
                raise ValueError(f"{what} is read-only")
            keep.append(a)
            tensors.append((a, code))
        return tensors, keep

    def __call__(self, *arrays, out=None):
        """Runs the entry. Returns one array for one output, a tuple for
        several; torch tensors in give torch tensors out. With `out=`, writes
        into the given contiguous array(s) and returns them."""
        e = self._e
        if self._cuda_call is not None:
            return self._cuda_call(self._native, e, arrays, out)
        tensors, keep, kind, key = self._inputs(e, arrays)
        shapes = e.output_shapes(self._native, key, tensors)
        if out is not None:
            out_tensors, out_keep = self._outputs(e, out, shapes)
            self._native.run(e.index, tensors, out_tensors)
            return out
        res = [np.empty(s, st) for s, st in zip(shapes, e.out_storage)]
        self._native.run(e.index, tensors, list(zip(res, e.out_codes)))
        if kind == TORCH:
            res = [_arrays.to_torch(r, c) for r, c in zip(res, e.out_codes)]
        return res[0] if len(res) == 1 else tuple(res)


def load(path, entry=None, *, threads=None):
    """A kernel saved by Kernel.save (or `attnc compile --emit bundle`);
    `threads` as Kernel.threads."""
    from ._errors import LoadError
    path = os.fspath(path)
    if not os.path.exists(path):
        raise FileNotFoundError(path)
    x = ext()
    try:
        native = x.load(path)
    except x.LoadFailure as e:
        raise LoadError(str(e)) from None
    k = Kernel(native, entry)
    if threads is not None:
        k.threads = threads
    return k
