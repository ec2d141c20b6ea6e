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
  /// `options` null: host defaults. `bufferName` names the text in
  /// diagnostics (`name:line:col: error: ...`). `onlyEntry` non-empty: compile
  /// just that entry.
  static std::unique_ptr<CompiledSpec>
  compile(llvm::StringRef specText, std::string &error,
          const mlir::attn::CPUPipelineOptions *options = nullptr,
          llvm::StringRef bufferName = "spec",
          llvm::StringRef onlyEntry = "");

  /// The public entries, in source order.
  const std::vector<EntrySignature> &entries() const { return sigs; }

  /// A call of one entry on fixed buffers, checked once, callable many
  /// times (benchmarks).
  struct BoundCall {
    CpuKernel::EntryFn fn = nullptr;
    std::vector<HostTensor *> buffers;
    void operator()() const { CpuKernel::call(fn, buffers); }
  };
  /// Checks `inputs` against `entry` (empty: the only entry), allocates
  /// `outputs` with the shapes the spec implies, and binds them.
  bool bind(llvm::StringRef entry, std::vector<HostTensor> &inputs,
            std::vector<HostTensor> &outputs, BoundCall &call,
            std::string &error);
  /// bind, then call once.
  bool run(llvm::StringRef entry, std::vector<HostTensor> &inputs,
           std::vector<HostTensor> &outputs, std::string &error);
  /// The signature of `entry`, or null.
  const EntrySignature *signature(llvm::StringRef entry) const;

  /// The spec function of an entry (for the reference interpreter).
  mlir::func::FuncOp function(llvm::StringRef entry);

private:
  CompiledSpec() = default;
  std::unique_ptr<mlir::MLIRContext> ctx;
  mlir::OwningOpRef<mlir::ModuleOp> spec;
  std::unique_ptr<CpuKernel> kernel;
  std::vector<EntrySignature> sigs;
  std::vector<EntryABI> abis; // one per entry, as sigs
};

} // namespace attnir

#endif // ATTNIR_DRIVER_COMPILER_H
