"""Where CUDA compiles find ptxas when the machine has no CUDA toolkit.

The compiler looks for ptxas in ATTNIR_PTXAS, CUDA_HOME/bin, PATH and
/usr/local/cuda/bin, then in ATTNIR_PTXAS_FALLBACK (findPtxas in
lib/Driver/CudaCompiler.cpp: the one place that order lives). A Python
environment may have NVIDIA's pip package of ptxas (nvidia-cuda-nvcc*,
which torch environments often carry): it is named as that last resort, so
a toolkit's own ptxas always wins. Without any, bundles hold PTX and the
driver compiles it at load time.
"""
import glob
import os


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
    """Names the pip package's ptxas as the compiler's last resort (unless
    the caller named one)."""
    if "ATTNIR_PTXAS_FALLBACK" not in os.environ:
        found = wheel_ptxas()
        if found:
            os.environ["ATTNIR_PTXAS_FALLBACK"] = found
