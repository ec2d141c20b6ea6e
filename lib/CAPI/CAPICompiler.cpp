//===- CAPICompiler.cpp - the compiling half of the C API -----------------===//

#include "KernelHandle.h"
#include "Release.h"
#include "attnir/Driver/BundleCompiler.h"
#include "attnir/Driver/CpuJit.h"
#include "attnir/Driver/CudaCompiler.h"
#include "attnir/Driver/Signature.h"
#include "attnir/Driver/SpecLoader.h"
#include <cstring>
#include "mlir/IR/Diagnostics.h"
#include "llvm/Config/llvm-config.h"
#include "llvm/Support/MemoryBuffer.h"
#include "llvm/ADT/StringExtras.h"
#include "llvm/Support/SourceMgr.h"

using namespace attnir;
using namespace mlir;

namespace {
/// Parses `spec` with diagnostics captured as text ("spec:3:7: error: ...").
OwningOpRef<ModuleOp> parse(MLIRContext *ctx, llvm::StringRef spec,
                            std::string &diags) {
  llvm::SourceMgr sm;
  sm.AddNewSourceBuffer(llvm::MemoryBuffer::getMemBufferCopy(spec, "spec"),
                        llvm::SMLoc());
  llvm::raw_string_ostream os(diags);
  SourceMgrDiagnosticHandler handler(sm, ctx, os);
  return parseSpec(sm, ctx);
}


bool parseOptions(const char *text, attn::CPUPipelineOptions &o,
                  std::string &err) {
  attn::setHostDefaults(o);
  return attn::parseCPUOptions(text ? text : "", o, err);
}
} // namespace

extern "C" {

const char *attnir_version(void) {
  static const std::string v =
      attnir::capi::release() + " (LLVM " LLVM_VERSION_STRING ")";
  return v.c_str();
}

int attnir_has_compiler(void) { return 1; }

attnir_kernel_t *attnir_compile(const char *spec, size_t len,
                                const char *target, const char *options) {
  try {
    if (!spec) {
      capi::setError("null spec");
      return nullptr;
    }
    std::string t = target ? target : "cpu";
    if (t != "cpu" && t != "cuda") {
      capi::setError("unknown or unsupported target '" + t +
                     "' (this build compiles for: cpu, cuda)");
      return nullptr;
    }
    attn::CPUPipelineOptions opts;
    attn::CUDAPipelineOptions cudaOpts;
    std::string err;
    if (t == "cpu" ? !parseOptions(options, opts, err)
                   : !attn::parseCUDAOptions(options ? options : "",
                                             cudaOpts, err)) {
      capi::setError(err);
      return nullptr;
    }
    auto ctx = createContext();
    std::string diags;
    llvm::StringRef text(spec, len);
    OwningOpRef<ModuleOp> module = parse(ctx.get(), text, diags);
    if (!module) {
      capi::setError(diags.empty() ? "invalid spec" : diags);
      return nullptr;
    }
    Bundle bundle;
    {
      llvm::raw_string_ostream os(diags);
      ScopedDiagnosticHandler handler(ctx.get(), [&](Diagnostic &d) {
        os << formatDiagnostic(d) << "\n";
        return success();
      });
      bool ok = t == "cpu"
                    ? compileToBundle(*module, opts, bundle, err)
                    : compileToCudaBundle(*module, cudaOpts, bundle, err);
      if (!ok) {
        capi::setError(err + (diags.empty() ? "" : ": " + diags));
        return nullptr;
      }
    }
    std::unique_ptr<Kernel> k = Kernel::load(std::move(bundle), err);
    if (!k) {
      capi::setError(err);
      return nullptr;
    }
    attnir_kernel_t *h = capi::wrap(std::move(k));
    h->specText = text.str();
    h->options = options ? options : "";
    return h;
  } catch (const std::exception &e) {
    capi::setError(e.what());
    return nullptr;
  }
}

const char *attnir_ir(attnir_kernel_t *kernel, const char *stage) {
  if (!kernel || !stage) {
    capi::setError("null kernel or stage");
    return nullptr;
  }
  if (kernel->specText.empty()) {
    capi::setError("no IR: the kernel was loaded from a bundle");
    return nullptr;
  }
  std::string s = stage;
  auto it = kernel->irByStage.find(s);
  if (it != kernel->irByStage.end())
    return it->second.c_str();
  bool cuda = kernel->kernel->isCuda();
  static const char *kCpu[] = {"spec",     "tiled",   "vectorized",
                               "bufferized", "parallel", "llvm"};
  static const char *kCuda[] = {"spec", "nvgpu", "nvvm", "ptx"};
  llvm::ArrayRef<const char *> stages =
      cuda ? llvm::ArrayRef<const char *>(kCuda) : llvm::ArrayRef<const char *>(kCpu);
  if (llvm::find(stages, s) == stages.end()) {
    capi::setError("unknown stage '" + s + "' (" +
                   llvm::join(stages, ", ") + ")");
    return nullptr;
  }
  auto ctx = createContext();
  std::string diags, err;
  OwningOpRef<ModuleOp> module = parse(ctx.get(), kernel->specText, diags);
  if (cuda && module && s != "spec") {
    attn::CUDAPipelineOptions o;
    CudaArtifacts a;
    if (!attn::parseCUDAOptions(kernel->options, o, err) ||
        !compileForCUDA(*module, o, a, err, s)) {
      capi::setError("cannot print stage '" + s + "': " + err);
      return nullptr;
    }
    return kernel->irByStage.emplace(s, s == "ptx" ? a.ptx : a.stageIR)
        .first->second.c_str();
  }
  attn::CPUPipelineOptions opts;
  if (!module || !parseOptions(kernel->options.c_str(), opts, err) ||
      (s != "spec" && !lowerForCPU(*module, opts, s))) {
    capi::setError("cannot print stage '" + s + "': " + diags + err);
    return nullptr;
  }
  std::string text;
  llvm::raw_string_ostream os(text);
  module->print(os);
  return kernel->irByStage.emplace(s, os.str()).first->second.c_str();
}

attnir_results_t *attnir_reference(const char *spec, size_t len,
                                   const char *entry,
                                   const attnir_tensor_t *inputs,
                                   int32_t num_inputs) {
  try {
    if (!spec) {
      capi::setError("null spec");
      return nullptr;
    }
    auto ctx = createContext();
    std::string diags;
    OwningOpRef<ModuleOp> module = parse(ctx.get(), {spec, len}, diags);
    if (!module) {
      capi::setError(diags.empty() ? "cannot parse the spec" : diags);
      return nullptr;
    }
    std::vector<SpecEntry> entries;
    std::string err;
    if (!collectEntries(*module, entry ? entry : "", entries, err)) {
      capi::setError(err);
      return nullptr;
    }
    // The program the entry's ABI records: what a kernel of it would carry.
    return capi::referenceOf(entries.front().abi, inputs, num_inputs);
  } catch (const std::exception &ex) {
    capi::setError(std::string("internal error: ") + ex.what());
    return nullptr;
  }
}

} // extern "C"
