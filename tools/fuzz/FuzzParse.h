//===- FuzzParse.h - fuzz bytes as a spec, diagnostics swallowed ----------===//

#ifndef ATTNIR_TOOLS_FUZZ_FUZZPARSE_H
#define ATTNIR_TOOLS_FUZZ_FUZZPARSE_H

#include "attnir/Driver/SpecLoader.h"
#include "mlir/IR/Diagnostics.h"
#include "llvm/Support/MemoryBuffer.h"

namespace attnir::fuzz {

/// One context for the whole run (as a long-lived tool keeps one).
inline mlir::MLIRContext *context() {
  static auto ctx = createContext();
  return ctx.get();
}

/// `data` parsed and verified as a spec (parseSpec), or null. Diagnostics
/// are the expected outcome for most inputs and are dropped.
inline mlir::OwningOpRef<mlir::ModuleOp> parseQuietly(const uint8_t *data,
                                                      size_t size) {
  mlir::ScopedDiagnosticHandler quiet(context(), [](mlir::Diagnostic &) {
    return mlir::success();
  });
  llvm::SourceMgr sm;
  sm.AddNewSourceBuffer(
      llvm::MemoryBuffer::getMemBufferCopy(
          llvm::StringRef(reinterpret_cast<const char *>(data), size), "spec"),
      llvm::SMLoc());
  return parseSpec(sm, context());
}

} // namespace attnir::fuzz

#endif // ATTNIR_TOOLS_FUZZ_FUZZPARSE_H
