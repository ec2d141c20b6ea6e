# lit configuration: FileCheck tests of attn-opt (test/Dialect, test/Conversion,
# test/Pipelines), attnc error tests (test/attnc) and integration tests that
# compile and run every example against the float64 reference
# (test/Integration).
import os
import shutil

import lit.formats
from lit.llvm import llvm_config

config.name = "AttnIR"
config.test_format = lit.formats.ShTest(not llvm_config.use_lit_shell)
config.suffixes = [".mlir", ".test"]
config.test_source_root = os.path.dirname(__file__)
config.test_exec_root = os.path.join(config.attnir_obj_root, "test")
config.excludes = ["Inputs", "fuzz", "CMakeLists.txt", "lit.cfg.py", "lit.site.cfg.py"]
config.substitutions.append(("%examples", os.path.join(config.attnir_src_root, "examples")))
config.substitutions.append(("%attnir_src", config.attnir_src_root))
config.substitutions.append(("%attnir_obj", config.attnir_obj_root))
config.substitutions.append(("%inputs", os.path.join(config.test_source_root, "Inputs")))

llvm_config.use_default_substitutions()
tool_dirs = [config.attnir_tools_dir, config.llvm_tools_dir]
llvm_config.add_tool_substitutions(["attn-opt", "attnc"], tool_dirs)
llvm_config.with_environment("PATH", config.llvm_tools_dir, append_path=True)

# The runtime-only build test configures a second, small CMake build; it is
# on by default and can be skipped with ATTNIR_SKIP_RUNTIME_ONLY=1.
if not os.environ.get("ATTNIR_SKIP_RUNTIME_ONLY"):
    config.available_features.add("runtime-only-build")
config.environment["PATH"] = os.pathsep.join(
    [config.attnir_tools_dir, config.llvm_tools_dir, os.environ.get("PATH", "")])

# The CUDA toolkit (libdevice for math, ptxas): GPU tests need it; MLIR finds
# it through CUDA_HOME, which lit does not pass on by itself.
cuda_home = os.environ.get("CUDA_HOME", "/usr/local/cuda")
if os.path.exists(os.path.join(cuda_home, "nvvm", "libdevice")):
    config.available_features.add("cuda-toolkit")
    config.environment["CUDA_HOME"] = cuda_home
# ptxas (CUDA toolkit) checks GPU code allocation when present.
ptxas = shutil.which("ptxas") or ("/usr/local/cuda/bin/ptxas" if os.path.exists("/usr/local/cuda/bin/ptxas") else None)
if ptxas:
    config.available_features.add("ptxas")
    config.substitutions.append(("%ptxas", ptxas))

# AMX tiles with bf16 on this CPU (Linux's flags; the kernel hands out the
# tile state): tests that run the AMX paths need them.
try:
    with open("/proc/cpuinfo") as cpuinfo:
        flags = next((l.split(":", 1)[1].split() for l in cpuinfo
                      if l.startswith("flags")), [])
    if "amx_tile" in flags and "amx_bf16" in flags:
        config.available_features.add("cpu-amx")
except OSError:
    pass

# A CUDA driver on this machine (GPU tests could run; the no-driver error
# tests are skipped).
import ctypes
try:
    ctypes.CDLL("libcuda.so.1")  # what the runtime opens (not a stub)
    config.available_features.add("cuda-driver")
except OSError:
    pass
