//===- Compiler.h - spec text to a callable CPU kernel --------------------===//
//
// The programmatic path used by the unit tests (and by the C API later):
// parse, verify, lower and JIT a spec, then run entries on host tensors with
// every shape and dtype checked first. Diagnostics are returned as text with
// line:column, never printed.
//
//===----------------------------------------------------------------------===//

#ifndef ATTNIR_DRIVER_COMPILER_H
#define ATTNIR_DRIVER_COMPILER_H

#include "attnir/Driver/CpuJit.h"
#include "attnir/Driver/Signature.h"
#include "mlir/IR/MLIRContext.h"
#include "mlir/IR/OwningOpRef.h"

namespace attnir {

class CompiledSpec {
public:
  ~CompiledSpec();
  /// `options` null: host defaults.
  static std::unique_ptr<CompiledSpec>
  compile(llvm::StringRef specText, std::string &error,
          const mlir::attn::CPUPipelineOptions *options = nullptr);

  /// The public entries, in source order.
  const std::vector<EntrySignature> &entries() const { return sigs; }

  /// Runs `entry` (empty: the only entry) on `inputs`; `outputs` are
  /// allocated here with the shapes the spec implies.
  bool run(llvm::StringRef entry, std::vector<HostTensor> &inputs,
           std::vector<HostTensor> &outputs, std::string &error);

  /// The spec function of an entry (for the reference interpreter).
  mlir::func::FuncOp function(llvm::StringRef entry);

private:
  CompiledSpec() = default;
  std::unique_ptr<mlir::MLIRContext> ctx;
  mlir::OwningOpRef<mlir::ModuleOp> spec;
  std::unique_ptr<CpuKernel> kernel;
  std::vector<EntrySignature> sigs;
};

} // namespace attnir

#endif // ATTNIR_DRIVER_COMPILER_H
