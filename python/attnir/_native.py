"""The compiled extension, imported on first use so that the pure-Python parts
(reference, patterns, cache keys) work without it."""

_ext = None
_error = None


def ext():
    global _ext, _error
    if _ext is None:
        if _error is not None:
            raise _error
        try:
            from . import _attnir
        except ImportError as e:  # pragma: no cover - depends on the install
            _error = ImportError(
                "attnir's compiled extension (attnir._attnir) is not available: "
                f"{e}. Install the package with `pip install ./python` from the "
                "AttnIR source tree (see docs/python.md).")
            raise _error from e
        import numpy
        _attnir._register_ndarray(numpy.ndarray)  # enables (array, dtype) tensors
        _ext = _attnir
    return _ext
