//===- CpuJit.h - compile a spec for the host CPU and run it --------------===//

#ifndef ATTNIR_DRIVER_CPUJIT_H
#define ATTNIR_DRIVER_CPUJIT_H

#include "attnir/Pipelines/Pipelines.h"
#include "attnir/Support/HostTensor.h"
#include "mlir/IR/BuiltinOps.h"
#include "llvm/Support/raw_ostream.h"
#include <memory>
#include <string>
#include <vector>

namespace mlir {
class ExecutionEngine;
}
namespace llvm {
class TargetMachine;
}

namespace attnir {

/// Runs the CPU pipeline on `module` in place, up to `stopAfter` (a stage
/// name of buildCPUPipeline). Diagnostics go to the context's handler.
bool lowerForCPU(mlir::ModuleOp module, const mlir::attn::CPUPipelineOptions &o,
                 llvm::StringRef stopAfter = "llvm");

/// A host target machine at -O3 (AVX-512 where the host has it); `pic` for
/// code that goes into shared objects; `cpu` non-empty: that x86 CPU (e.g.
/// znver4) with its own features instead of the host.
std::unique_ptr<llvm::TargetMachine>
createHostTargetMachine(std::string &err, bool pic = false,
                        llvm::StringRef cpu = "");

/// Whether `cpu` (empty: the host) has AVX-512F and DQ; false if unknown.
bool targetHasAVX512(llvm::StringRef cpu);
/// Whether `cpu` (empty: the host) has the LLVM feature `feature`
/// ("avx512bf16"); false if unknown.
bool targetHasFeature(llvm::StringRef cpu, llvm::StringRef feature);

/// Writes LLVM IR (after the same -O3 the JIT applies), assembly or an object
/// file for an LLVM-dialect module.
enum class EmitKind { LLVMIR, Assembly, Object };
bool emitLLVM(mlir::ModuleOp llvmDialectModule, EmitKind kind,
              llvm::raw_pwrite_stream &os, std::string &err,
              llvm::StringRef cpu = "");

/// JIT-compiled spec. Entries are called with one host tensor per input and
/// per output (outputs last), contiguous, of the dtypes and shapes the
/// caller resolved.
class CpuKernel {
public:
  ~CpuKernel();
  /// `module` must already be lowered to the LLVM dialect.
  static std::unique_ptr<CpuKernel> create(mlir::ModuleOp module,
                                           std::string &err);
  /// Resolves an entry once; the returned handle is valid for the kernel's
  /// lifetime.
  using EntryFn = void (*)(void **);
  EntryFn lookup(llvm::StringRef entry, std::string &err);
  static void call(EntryFn fn, const std::vector<HostTensor *> &buffers);

private:
  std::unique_ptr<mlir::ExecutionEngine> engine;
};

} // namespace attnir

#endif // ATTNIR_DRIVER_CPUJIT_H
