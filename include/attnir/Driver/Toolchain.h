//===- Toolchain.h - what a CPU kernel is linked and JIT-ed against -*- C++ -*-===//
//
// A CPU kernel needs three things besides the compiler: the OpenMP runtime
// (libomp), compiler-rt's builtins (bf16 conversions Debian 12's libgcc
// lacks) and a linker for bundles. The compiler built against Debian's LLVM
// takes them from that installation (paths fixed at build time, ld.lld run
// as a program). The self-contained library of the wheel carries libomp and
// the builtins beside itself and links with lld inside the process; it
// installs its toolchain when it is loaded (lib/CAPI/SelfContained.cpp).
//
//===----------------------------------------------------------------------===//

#ifndef ATTNIR_DRIVER_TOOLCHAIN_H
#define ATTNIR_DRIVER_TOOLCHAIN_H

#include "attnir/Driver/ToolRun.h"
#include <string>
#include <vector>

namespace attnir {

struct Toolchain {
  /// The folder holding the OpenMP runtime, the bundles' run path.
  std::string libDir;
  /// The OpenMP runtime's shared library, linked into every bundle (its
  /// soname, libomp.so.5, becomes the bundle's dependency).
  std::string openmp;
  /// compiler-rt's builtins archive, linked into every bundle.
  std::string builtins;
  /// Shared libraries the JIT resolves the kernels' calls against.
  std::vector<std::string> jitLibraries;
  /// The ld.lld program, or a name for messages when `inProcessLinker` is
  /// set.
  std::string linker;
  InProcessTool inProcessLinker = nullptr;
};

/// The toolchain in use: the installed one unless another was set.
const Toolchain &toolchain();

/// Replaces the toolchain (the self-contained library does, at load time).
void setToolchain(Toolchain t);

} // namespace attnir

#endif // ATTNIR_DRIVER_TOOLCHAIN_H
