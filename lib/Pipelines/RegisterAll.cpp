//===- RegisterAll.cpp - everything upstream, for attn-opt ----------------===//
//
// attn-opt runs any pipeline a user writes, so it registers all of MLIR's
// dialects, extensions and passes besides ours. Kept apart from the
// compiler's own registry (Registry.cpp) so that libraries linking MLIR
// statically do not pull all of MLIR in through it.
//
//===----------------------------------------------------------------------===//

#include "attnir/Pipelines/Pipelines.h"
#include "mlir/InitAllDialects.h"
#include "mlir/InitAllExtensions.h"
#include "mlir/InitAllPasses.h"
#include "mlir/Pass/PassRegistry.h"
#include "mlir/Target/LLVMIR/Dialect/All.h"
#include <mutex>

using namespace mlir;

void attn::registerAllAttnDialects(DialectRegistry &registry) {
  attn::registerCompilerDialects(registry);
  registerAllDialects(registry);
  registerAllExtensions(registry);
  registerAllToLLVMIRTranslations(registry);
}

void attn::registerAttnPassesAndPipelines() {
  static std::once_flag once;
  std::call_once(once, [] {
  registerAllPasses();
  attn::registerPipelinePasses();
  PassPipelineRegistration<CPUPipelineOptions>(
      "attn-pipeline-cpu",
      "Lower attn ops to LLVM dialect code for the host CPU (tile, "
      "vectorize, bufferize, OpenMP, LLVM)",
      [](OpPassManager &pm, const CPUPipelineOptions &o) {
        buildCPUPipeline(pm, o);
      });
  PassPipelineRegistration<CUDAPipelineOptions>(
      "attn-pipeline-cuda",
      "Lower attn entries to tensor-core CUDA kernels and PTX (attn-to-nvgpu, "
      "NVVM, gpu-module-to-binary{format=isa})",
      [](OpPassManager &pm, const CUDAPipelineOptions &o) {
        buildCUDAPipeline(pm, o);
      });
  });
}
