"""Where CUDA compiles find ptxas when the machine has no CUDA toolkit.

The compiler looks for ptxas in ATTNIR_PTXAS, CUDA_HOME/bin, PATH and
/usr/local/cuda/bin (lib/Driver/CudaCompiler.cpp). A Python environment may
instead have NVIDIA's pip package of it (nvidia-cuda-nvcc*, which torch
environments often carry): when none of those places has one, its ptxas is
named in ATTNIR_PTXAS. Without any, bundles hold PTX and the driver
compiles it at load time.
"""
import glob
import os
import shutil


def system_ptxas():
    """The ptxas the compiler finds by itself, or None."""
    named = os.environ.get("ATTNIR_PTXAS")
    if named:
        return named
    candidates = [shutil.which("ptxas"), "/usr/local/cuda/bin/ptxas"]
    home = os.environ.get("CUDA_HOME")
    if home:
        candidates.insert(0, os.path.join(home, "bin", "ptxas"))
    for c in candidates:
        if c and os.access(c, os.X_OK):
            return c
    return None


def wheel_ptxas():
    """ptxas from NVIDIA's pip packages (nvidia/<package>/bin/ptxas), or
    None."""
    try:
        import nvidia
    except ImportError:
        return None
    for root in getattr(nvidia, "__path__", []):
        for c in sorted(glob.glob(os.path.join(root, "*", "bin", "ptxas"))):
            if os.access(c, os.X_OK):
                return c
    return None


def ensure_ptxas():
    """Names the pip package's ptxas for the compiler when it would find
    none of its own."""
    if system_ptxas() is None:
        found = wheel_ptxas()
        if found:
            os.environ["ATTNIR_PTXAS"] = found
