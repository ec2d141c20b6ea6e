//===- CAPIRuntimeOnly.cpp - compiler entry points of a runtime-only build ===//
//
// Built instead of CAPICompiler.cpp when ATTNIR_RUNTIME_ONLY=ON: kernels are
// compiled elsewhere (`attnc compile --emit bundle`) and loaded here.
//
//===----------------------------------------------------------------------===//

#include "KernelHandle.h"
#include "Release.h"

extern "C" {

const char *attnir_version(void) {
  static const std::string v = attnir::capi::release() + " (runtime only)";
  return v.c_str();
}

int attnir_has_compiler(void) { return 0; }

attnir_kernel_t *attnir_compile(const char *, size_t, const char *,
                                const char *) {
  attnir::capi::setError("this is a runtime-only build of AttnIR: compile "
                         "with `attnc compile --emit bundle` and load the "
                         "bundle");
  return nullptr;
}

attnir_results_t *attnir_reference(const char *, size_t, const char *,
                                   const attnir_tensor_t *, int32_t) {
  attnir::capi::setError("runtime-only build: the float64 reference needs "
                         "the compiler build");
  return nullptr;
}

const char *attnir_ir(attnir_kernel_t *, const char *) {
  attnir::capi::setError("runtime-only build: no IR");
  return nullptr;
}

} // extern "C"
