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
#include "attnir/Driver/ToolRun.h"
#include "attnir/Driver/Toolchain.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "llvm/Support/raw_ostream.h"

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
  const Toolchain &tc = toolchain();
  ToolRun run;
  auto write = [&](llvm::raw_pwrite_stream &os, std::string &err) {
    return emitLLVM(*lowered, EmitKind::Object, os, err);
  };
  auto args = [&](llvm::StringRef obj, llvm::StringRef so) {
    return std::vector<std::string>{
        tc.linker, "-shared", "--no-undefined-version", "-o",
        so.str(),  obj.str(), tc.openmp,               "-rpath",
        tc.libDir, tc.builtins};
  };
  if (!runTool(tc.linker, "o", "so", write, args, run, error,
               tc.inProcessLinker))
    return false;
  if (run.exitCode != 0) {
    error = "linking the kernel failed (" + tc.linker + "): " +
            (!run.log.empty()       ? run.log
             : !run.message.empty() ? run.message
                                    : "exit code " +
                                          std::to_string(run.exitCode));
    return false;
  }
  bundle.object = std::move(run.output);
  return true;
}

} // namespace attnir
