//===- Toolchain.cpp - what a CPU kernel is linked and JIT-ed against -----===//

#include "attnir/Driver/Toolchain.h"

#ifndef ATTNIR_LLVM_LIBDIR
#error "ATTNIR_LLVM_LIBDIR must name the LLVM library directory (libomp.so)"
#endif
#ifndef ATTNIR_LLD
#error "ATTNIR_LLD must name the ld.lld executable"
#endif
#ifndef ATTNIR_RT_BUILTINS
#error "ATTNIR_RT_BUILTINS must name compiler-rt's builtins archive"
#endif

namespace attnir {

static Toolchain &current() {
  static Toolchain t = [] {
    Toolchain d;
    d.libDir = ATTNIR_LLVM_LIBDIR;
    d.openmp = d.libDir + "/libomp.so";
    d.builtins = ATTNIR_RT_BUILTINS;
    d.jitLibraries = {d.libDir + "/libomp.so",
                      d.libDir + "/libmlir_c_runner_utils.so"};
    d.linker = ATTNIR_LLD;
    return d;
  }();
  return t;
}

const Toolchain &toolchain() { return current(); }

void setToolchain(Toolchain t) { current() = std::move(t); }

} // namespace attnir
