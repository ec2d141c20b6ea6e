//===- FuzzCuda.cpp - libFuzzer target: the CUDA pipeline -----------------===//
//
// Spec text that parses and verifies goes through what `attnc compile
// --target cuda` does up to the NVVM dialect: the entries' ABIs after the
// workspace passes, the kernels (attn-to-nvgpu and the selection, linear,
// landmark and routing kernels), their launch contracts and steps placed
// on the entries and checked against the ABIs, then the lowering of the
// gpu.module to LLVM/NVVM. No PTX (LLVM's NVPTX backend and ptxas are not
// ours and cost most of a compile). A verified spec may be refused with a
// diagnostic; a crash, or an "internal error" (a step its entry's ABI does
// not describe: a wrong buffer at run time), is a finding.
//
// The CUDA target takes f16 and bf16 tensors only, and the seeds (the
// examples) are f32, so q/k/v/out types (a static head dim: "x64xf32>")
// are read as bf16, as bench/gpu/build_bundles.py converts the examples.
// Which kernel family and options a case gets depends on its length, so
// both chips' kernels and the non-default forms get coverage.
//
//===----------------------------------------------------------------------===//

#include "FuzzParse.h"
#include "attnir/Driver/CudaCompiler.h"
#include <cstdlib>
#include <regex>

using namespace attnir;

namespace {

/// Built once: the fuzzer calls asBf16 on every input.
const std::regex kRulesQkv(R"((tensor<(?:[?\d]+x){3}\d+x)f32>)");
const std::regex kRulesCentroids(R"((tensor<[?\d]+x\d+x\d+x)f32>)");
const std::regex kHeadDim(R"(x(\d+)xf32>)");
const std::regex kLinearState(R"(tensor<\?x\?x(\d+)x(\d+)xbf16>)");
const std::regex kGates(R"(tensor<\?x\?x\?xf32>)");

/// bench/gpu/build_bundles.py's float_variant(text, "bf16"), gates too;
/// linear states stay f32.
std::string asBf16(std::string text) {
  if (text.find("rules(") != std::string::npos) {
    text = std::regex_replace(
        text, kRulesQkv, "$1bf16>");
    return std::regex_replace(text, kRulesCentroids,
                              "$1bf16>");
  }
  text = std::regex_replace(text, kHeadDim, "x$1xbf16>");
  // attn.linear's states [B, H, D, Dv] stay f32.
  text = std::regex_replace(text, kLinearState,
                            "tensor<?x?x$1x$2xf32>");
  // NSA's rank-3 gates are broadcast onto the outputs (one element type).
  if (text.find("linalg.broadcast") != std::string::npos)
    text = std::regex_replace(text, kGates,
                              "tensor<?x?x?xbf16>");
  return text;
}

/// The options a case compiles with: the Hopper kernels by default, the
/// mma.sync ones (sm_90), and the non-default forms of each family.
const char *const kOptionSets[] = {
    "",
    "chip=sm_90",
    "persistent=1 landmark-split=2 linear-split=2 linear-columns=32",
    "landmark-split=0 fuse-merge=0 fuse-gather=0 select-radix=0 linear-chunk=0",
    "chip=sm_80 warps=4 stages=1",
};

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  std::string text = asBf16(std::string(reinterpret_cast<const char *>(data), size));
  mlir::OwningOpRef<mlir::ModuleOp> module = fuzz::parseQuietly(
      reinterpret_cast<const uint8_t *>(text.data()), text.size());
  // ATTNIR_FUZZ_VERBOSE=1: why a case is refused (a seed that never
  // reaches the kernels covers nothing past the verifier).
  static const bool verbose = std::getenv("ATTNIR_FUZZ_VERBOSE");
  if (!module) {
    if (verbose)
      llvm::errs() << "fuzz-cuda: does not parse or verify as bf16\n";
    return 0;
  }
  mlir::attn::CUDAPipelineOptions options;
  std::string error;
  const char *set = kOptionSets[size % std::size(kOptionSets)];
  if (!mlir::attn::parseCUDAOptions(set, options, error))
    std::abort(); // the table above is wrong
  std::vector<EntryABI> abis;
  CudaArtifacts artifacts;
  if (!cudaEntryABIs(*module, options, abis, error) ||
      !compileForCUDA(*module, options, artifacts, error, "nvvm") ||
      !placeCudaSteps(abis, artifacts, error)) {
    if (verbose)
      llvm::errs() << "fuzz-cuda [" << set << "]: " << error << "\n";
    if (error.rfind("internal error", 0) == 0)
      std::abort();
  }
  return 0;
}
