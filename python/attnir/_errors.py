"""The exceptions of the attnir package."""


class CompileError(Exception):
    """A spec did not compile. ``str(e)`` is the compiler's diagnostics, each
    with its ``line:column`` in the spec text."""


class LoadError(Exception):
    """A saved kernel could not be loaded (corrupt or truncated file, another
    CPU's code, another version)."""
