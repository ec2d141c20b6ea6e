//===- SpecLoader.h - parse and verify a spec ------------------------------===//

#ifndef ATTNIR_DRIVER_SPECLOADER_H
#define ATTNIR_DRIVER_SPECLOADER_H

#include "mlir/IR/BuiltinOps.h"
#include "mlir/IR/Diagnostics.h"
#include "mlir/IR/OwningOpRef.h"
#include "llvm/Support/SourceMgr.h"

namespace attnir {

/// A context with every dialect a spec or pipeline stage may use.
std::unique_ptr<mlir::MLIRContext> createContext();

/// Parses and verifies a spec held by `sourceMgr` (diagnostics go to the
/// context's handler, with file:line:col). Each public func.func gets an
/// `attn.arg_names` array: its arguments' SSA names as written (`%q` -> "q"),
/// which the parser does not keep, so that users can name arguments.
mlir::OwningOpRef<mlir::ModuleOp> parseSpec(llvm::SourceMgr &sourceMgr,
                                            mlir::MLIRContext *ctx);

/// One line: "file:line:col: error: message" (no source excerpt).
std::string formatDiagnostic(mlir::Diagnostic &diag);

} // namespace attnir

#endif // ATTNIR_DRIVER_SPECLOADER_H
