//===- FuzzPipeline.cpp - libFuzzer target: the CPU pipeline --------------===//
//
// Spec text that parses and verifies goes through the whole CPU pipeline to
// the LLVM dialect (attn-tile, vectorization, bufferization, lowering); no
// object code, so an iteration costs the passes only. A pass may reject a
// verified spec with a diagnostic; it must never crash.
//
//===----------------------------------------------------------------------===//

#include "FuzzParse.h"
#include "attnir/Pipelines/Pipelines.h"
#include "mlir/Pass/PassManager.h"

using namespace attnir;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  mlir::OwningOpRef<mlir::ModuleOp> module = fuzz::parseQuietly(data, size);
  if (!module)
    return 0;
  // Pass diagnostics are expected too (a verified spec a pass rejects).
  mlir::ScopedDiagnosticHandler quiet(fuzz::context(), [](mlir::Diagnostic &) {
    return mlir::success();
  });
  mlir::PassManager pm(fuzz::context());
  mlir::attn::CPUPipelineOptions options;
  mlir::attn::buildCPUPipeline(pm, options);
  (void)pm.run(*module);
  return 0;
}
