//===- BundleCompiler.cpp - spec to a loadable bundle ---------------------===//
//
// The path shared by `attnc compile --emit bundle`, the C API and Python:
// LLVM-dialect module -> object file (host target machine, -O3) -> shared
// object linked by lld against libomp (the OpenMP runtime the kernels call).
// The runtime then needs only dlopen, so runtime-only builds can run it.
//
//===----------------------------------------------------------------------===//

#include "attnir/Driver/BundleCompiler.h"
#include "attnir/Driver/CpuJit.h"
#include "attnir/Driver/Signature.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "llvm/Support/FileSystem.h"
#include "llvm/Support/FileUtilities.h"
#include "llvm/Support/MemoryBuffer.h"
#include "llvm/Support/Program.h"
#include "llvm/Support/raw_ostream.h"

#ifndef ATTNIR_LLD
#error "ATTNIR_LLD must name the ld.lld executable"
#endif

using namespace mlir;

namespace attnir {

bool compileToBundle(ModuleOp spec, const attn::CPUPipelineOptions &options,
                     Bundle &bundle, std::string &error) {
  bundle = Bundle();
  bundle.features = hostFeatures();
  std::vector<SpecEntry> entries;
  if (!collectEntries(spec, "", entries, error))
    return false;
  for (SpecEntry &e : entries)
    bundle.entries.push_back(std::move(e.abi));

  OwningOpRef<ModuleOp> lowered = cast<ModuleOp>(spec->clone());
  if (!lowerForCPU(*lowered, options)) {
    error = "lowering failed";
    return false;
  }
  llvm::SmallString<128> objPath, soPath;
  if (llvm::sys::fs::createTemporaryFile("attnir-kernel", "o", objPath) ||
      llvm::sys::fs::createTemporaryFile("attnir-kernel", "so", soPath)) {
    error = "cannot create temporary files";
    return false;
  }
  llvm::FileRemover removeObj(objPath), removeSo(soPath);
  {
    std::error_code ec;
    llvm::raw_fd_ostream os(objPath, ec, llvm::sys::fs::OF_None);
    if (ec) {
      error = "cannot write '" + objPath.str().str() + "': " + ec.message();
      return false;
    }
    if (!emitLLVM(*lowered, EmitKind::Object, os, error))
      return false;
  }
  std::string libdir = ATTNIR_LLVM_LIBDIR;
  llvm::SmallVector<llvm::StringRef> args = {
      ATTNIR_LLD, "-shared", "--no-undefined-version", "-o", soPath, objPath,
      "-L", libdir, "-lomp", "-rpath", libdir, ATTNIR_RT_BUILTINS};
  std::string msg;
  int rc = llvm::sys::ExecuteAndWait(ATTNIR_LLD, args, std::nullopt, {}, 0, 0,
                                     &msg);
  if (rc != 0) {
    error = "linking the kernel failed (" ATTNIR_LLD "): " +
            (msg.empty() ? "exit code " + std::to_string(rc) : msg);
    return false;
  }
  auto so = llvm::MemoryBuffer::getFile(soPath, /*IsText=*/false);
  if (!so) {
    error = "cannot read the linked kernel: " + so.getError().message();
    return false;
  }
  bundle.object = (*so)->getBuffer().str();
  return true;
}

} // namespace attnir
