//===- CudaCompiler.h - spec to PTX, cubin and CUDA bundles ---------------===//
//
// The CUDA half of the compiler driver, shared by attnc, the C API and
// Python: the spec's entries through `--attn-pipeline-cuda` to PTX, then
// ptxas to a cubin, packed with the entries' ABIs and the launch contract
// into a bundle of target "cuda" (docs/design/gpu-lowering.md).
//
//===----------------------------------------------------------------------===//

#ifndef ATTNIR_DRIVER_CUDACOMPILER_H
#define ATTNIR_DRIVER_CUDACOMPILER_H

#include "attnir/Pipelines/Pipelines.h"
#include "attnir/Runtime/Bundle.h"
#include "attnir/Runtime/EntryABI.h"
#include "mlir/IR/BuiltinOps.h"
#include <map>

namespace attnir {

struct CudaArtifacts {
  std::string ptx;
  std::string cubin;     ///< empty when no ptxas was found
  std::string ptxasLog;  ///< `ptxas -v` output (registers, spills, smem)
  std::string stageIR;   ///< the IR after `stopAfter`, when requested
  /// Per kernel: query rows per block, threads per block, dynamic shared
  /// memory bytes (0: static only), and the key rows of one K/V TMA box
  /// (0: the kernel takes no tensor maps).
  struct Launch {
    std::string kernel;
    int64_t blockQ, threads, sharedBytes, tmaRows;
    /// One block per SM looping over the tiles (attn.persistent).
    bool persistent = false;
    /// Rows of one q box where not blockQ (attn.tma_q_rows; 0: blockQ).
    int64_t tmaQRows = 0;
  };
  std::vector<Launch> launch;
  /// Every kernel's step of its entry's program (buffers it binds, grid),
  /// in program order: an entry's selection kernels ("<entry>__s<k>"), then
  /// its attention kernel ("<entry>").
  std::vector<attnir::KernelStep> steps;
  /// Per step kernel, each argument as the kernel indexes it: its memref
  /// shape (mlir::ShapedType::kDynamic where dynamic) and element bits;
  /// compileToCudaBundle checks them against the entry's ABI.
  struct ArgType {
    std::vector<int64_t> shape;
    unsigned bits = 0;
  };
  std::map<std::string, std::vector<ArgType>> stepArgTypes;
};

/// A step's buffers as its kernel indexes them (`types`, one per argument)
/// against the sizes and element types the entry's ABI gives the runtime:
/// false, with `error`, where a static dimension, the rank or the element
/// size differs (that would be a wrong allocation or stride at run time:
/// an ABI read from IR the kernels were not lowered from).
bool checkStepArgs(const EntryABI &abi, const KernelStep &st,
                   const std::vector<CudaArtifacts::ArgType> &types, std::string &error);

/// Lowers `spec` (not modified) for CUDA. With `stopAfter` one of "nvgpu" or
/// "nvvm" only `stageIR` is produced. Errors carry the spec's line:column.
bool compileForCUDA(mlir::ModuleOp spec,
                    const mlir::attn::CUDAPipelineOptions &options,
                    CudaArtifacts &out, std::string &error,
                    llvm::StringRef stopAfter = "");

/// The entries' ABIs as a CUDA bundle describes them: after the pipeline's
/// workspace passes (attn::addCUDAWorkspacePasses), with the same options.
bool cudaEntryABIs(mlir::ModuleOp spec,
                   const mlir::attn::CUDAPipelineOptions &options,
                   std::vector<EntryABI> &abis, std::string &error);

/// Gives each entry its kernels' steps ("<entry>__s<k>[_<form>]") from
/// `artifacts`, each checked against the entry's ABI (checkStepArgs); an
/// "internal error" where a step belongs to no entry or disagrees with it.
bool placeCudaSteps(std::vector<EntryABI> &abis, const CudaArtifacts &artifacts,
                    std::string &error);

/// cudaEntryABIs, compileForCUDA and placeCudaSteps, then a bundle of
/// target "cuda" holding the cubin (or the PTX for the driver to JIT when
/// no ptxas exists here).
bool compileToCudaBundle(mlir::ModuleOp spec,
                         const mlir::attn::CUDAPipelineOptions &options,
                         Bundle &bundle, std::string &error,
                         CudaArtifacts *artifacts = nullptr);

/// ptxas: $ATTNIR_PTXAS, $CUDA_HOME/bin, PATH, /usr/local/cuda/bin, then
/// $ATTNIR_PTXAS_FALLBACK (the Python package's pip-packaged ptxas); "" if
/// none. The one place that search order lives.
std::string findPtxas();

} // namespace attnir

#endif // ATTNIR_DRIVER_CUDACOMPILER_H
