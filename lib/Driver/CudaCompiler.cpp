//===- CudaCompiler.cpp - spec to PTX, cubin and CUDA bundles -------------===//

#include "attnir/Driver/CudaCompiler.h"
#include "attnir/Driver/ToolRun.h"
#include "attnir/Driver/SpecLoader.h"
#include "attnir/Driver/Signature.h"
#include "attnir/Support/HostTensor.h"
#include "attnir/Conversion/Passes.h"
#include "attnir/Dialect/Attn/Transforms/Passes.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/GPU/IR/GPUDialect.h"
#include "mlir/IR/Diagnostics.h"
#include "mlir/Pass/PassManager.h"
#include "llvm/Support/FileSystem.h"
#include "llvm/Support/Path.h"
#include "llvm/Support/Program.h"
#include "llvm/Support/raw_ostream.h"
#include <cstdlib>

using namespace mlir;

namespace attnir {

std::string findPtxas() {
  if (const char *p = std::getenv("ATTNIR_PTXAS"))
    return llvm::sys::fs::can_execute(p) ? p : "";
  if (const char *home = std::getenv("CUDA_HOME")) {
    llvm::SmallString<128> p(home);
    llvm::sys::path::append(p, "bin", "ptxas");
    if (llvm::sys::fs::can_execute(p))
      return p.str().str();
  }
  if (auto p = llvm::sys::findProgramByName("ptxas"))
    return *p;
  if (llvm::sys::fs::can_execute("/usr/local/cuda/bin/ptxas"))
    return "/usr/local/cuda/bin/ptxas";
  // The last resort a caller may name: the Python package sets it to NVIDIA's
  // pip-packaged ptxas, so a toolkit's own ptxas always wins.
  if (const char *p = std::getenv("ATTNIR_PTXAS_FALLBACK"))
    return llvm::sys::fs::can_execute(p) ? p : "";
  return "";
}

namespace {

/// Runs ptxas on `ptx` for `chip`; fills the cubin and the -v log.
bool assemble(const std::string &ptxas, const std::string &ptx,
              const std::string &chip, int64_t optLevel, CudaArtifacts &out,
              std::string &error) {
  ToolRun run;
  auto write = [&](llvm::raw_pwrite_stream &os, std::string &) {
    os << ptx;
    return true;
  };
  auto args = [&](llvm::StringRef in, llvm::StringRef cubin) {
    return std::vector<std::string>{ptxas, "-arch=" + chip,
                                    "-O" + std::to_string(optLevel), "-v",
                                    in.str(), "-o", cubin.str()};
  };
  if (!runTool(ptxas, "ptx", "cubin", write, args, run, error))
    return false;
  out.ptxasLog = run.log;
  if (run.exitCode != 0) {
    error = "ptxas failed (" + ptxas + "): " +
            (run.log.empty() ? run.message : run.log);
    return false;
  }
  out.cubin = std::move(run.output);
  return true;
}

} // namespace

bool checkStepArgs(const EntryABI &abi, const KernelStep &st,
                   const std::vector<CudaArtifacts::ArgType> &types, std::string &error) {
  for (size_t p = 0; p < st.args.size() && p < types.size(); ++p) {
    Binding at;
    if (!Binding::parse(st.args[p], at))
      continue;
    const std::vector<ABIArg> &list =
        at.kind == 'i' ? abi.inputs : at.kind == 'o' ? abi.outputs : abi.workspace;
    if (at.index >= list.size() || types[p].bits == 0)
      continue;
    const ABIArg &arg = list[at.index];
    bool same = types[p].shape.size() == arg.dimClass.size() &&
                types[p].bits == 8 * dtypeSize(arg.dtype);
    for (size_t d = 0; same && d < arg.dimClass.size(); ++d) {
      int64_t want = arg.dimClass[d] >= 0 && size_t(arg.dimClass[d]) < abi.classSize.size()
                         ? abi.classSize[arg.dimClass[d]]
                         : -1;
      int64_t got = types[p].shape[d];
      same = want < 0 || ShapedType::isDynamic(got) || want == got;
    }
    if (!same) {
      error = "internal error: kernel " + st.kernel + " indexes " + st.args[p] +
              " otherwise than the bundle's ABI describes it (@" + abi.name + ", " +
              arg.name + ")";
      return false;
    }
  }
  return true;
}

bool compileForCUDA(ModuleOp spec, const attn::CUDAPipelineOptions &options,
                    CudaArtifacts &out, std::string &error,
                    llvm::StringRef stopAfter) {
  out = CudaArtifacts();
  OwningOpRef<ModuleOp> lowered = cast<ModuleOp>(spec->clone());
  MLIRContext *ctx = spec->getContext();
  std::string diag;
  bool ok;
  {
    ScopedDiagnosticHandler firstError(ctx, [&](Diagnostic &d) {
      if (d.getSeverity() == DiagnosticSeverity::Error && diag.empty())
        diag = formatDiagnostic(d);
      return success();
    });
    // First the kernels (to read their launch contract), then the rest.
    PassManager pm(ctx);
    attn::buildCUDAPipeline(pm, options, "nvgpu");
    ok = succeeded(pm.run(*lowered));
    if (ok) {
      lowered->walk([&](gpu::GPUFuncOp fn) {
        auto bq = fn->getAttrOfType<IntegerAttr>("attn.block_q");
        auto th = fn->getAttrOfType<IntegerAttr>("attn.threads");
        auto sh = fn->getAttrOfType<IntegerAttr>("attn.dynamic_shared");
        auto tma = fn->getAttrOfType<IntegerAttr>("attn.tma_rows");
        auto tmaQ = fn->getAttrOfType<IntegerAttr>("attn.tma_q_rows");
        if (bq && th)
          out.launch.push_back({fn.getName().str(), bq.getInt(), th.getInt(),
                                sh ? sh.getInt() : 0, tma ? tma.getInt() : 0,
                                fn->hasAttr("attn.persistent"),
                                tmaQ ? tmaQ.getInt() : 0});
        auto args = fn->getAttrOfType<ArrayAttr>("attn.step_args");
        if (!args)
          return;
        KernelStep st;
        st.kernel = fn.getName().str();
        for (Attribute a : args)
          st.args.push_back(cast<StringAttr>(a).getValue().str());
        std::vector<CudaArtifacts::ArgType> &types = out.stepArgTypes[st.kernel];
        for (Type t : fn.getArgumentTypes())
          if (auto m = dyn_cast<MemRefType>(t))
            types.push_back({std::vector<int64_t>(m.getShape().begin(), m.getShape().end()),
                             m.getElementTypeBitWidth()});
          else
            types.push_back({});
        auto grid = fn->getAttrOfType<IntegerAttr>("attn.grid_arg");
        auto dims = fn->getAttrOfType<IntegerAttr>("attn.grid_dims");
        st.gridArg = grid ? grid.getInt() : -1;
        st.gridDims = dims ? dims.getInt() : 0;
        st.threads = grid && th ? th.getInt() : 0;
        if (auto lanes = fn->getAttrOfType<IntegerAttr>("attn.grid_lanes"))
          st.lanes = lanes.getInt();
        st.sharedBytes = sh ? sh.getInt() : 0;
        if (auto when = fn->getAttrOfType<DenseI64ArrayAttr>("attn.sm_blocks")) {
          st.smBlocksMin = when[0];
          st.smBlocksMax = when[1];
          st.smBlocksPer = when.size() > 2 ? when[2] : 1;
        }
        st.afterPrevious = fn->hasAttr("attn.after_previous");
        if (auto view = fn->getAttrOfType<DenseI64ArrayAttr>("attn.head_view")) {
          st.view.join = view[0] != 0;
          st.view.dim = static_cast<int32_t>(view[1]);
          st.view.part = view[2];
          st.view.parts = view[3];
        }
        if (auto tile = fn->getAttrOfType<DenseI64ArrayAttr>("attn.grid_tile")) {
          st.tileRows = tile[0];
          st.tileCols = tile[1];
        }
        out.steps.push_back(std::move(st));
      });
    }
    if (ok && stopAfter != "nvgpu") {
      PassManager rest(ctx);
      attn::buildCUDAPipeline(rest, options,
                              stopAfter.empty() ? "ptx" : stopAfter, "nvgpu");
      ok = succeeded(rest.run(*lowered));
    }
  }
  if (!ok) {
    error = diag.empty() ? "CUDA lowering failed" : diag;
    return false;
  }
  if (!stopAfter.empty() && stopAfter != "ptx") {
    llvm::raw_string_ostream os(out.stageIR);
    lowered->print(os);
    return true;
  }
  auto binary = *lowered->getOps<gpu::BinaryOp>().begin();
  auto object = cast<gpu::ObjectAttr>(binary.getObjects()[0]);
  out.ptx = object.getObject().getValue().str();
  std::string ptxas = findPtxas();
  if (ptxas.empty())
    return true;
  return assemble(ptxas, out.ptx, options.chip, options.optLevel, out, error);
}

bool cudaEntryABIs(ModuleOp spec, const attn::CUDAPipelineOptions &options,
                   std::vector<EntryABI> &abis, std::string &error) {
  abis.clear();
  // The entries as the CUDA pipeline's first step leaves them: mask_rule
  // regions get block maps (attn.rule_blocks), the delta rule its WY form
  // (attn.linear wy), chunked linear attention its chunk states (split), landmark retrieval its
  // by-blocks scratch, intermediates the runtime keeps in its workspace.
  OwningOpRef<ModuleOp> mapped = cast<ModuleOp>(spec->clone());
  {
    // The same passes, with the same options, as the pipeline's first stage:
    // a workspace shape here that differs from the kernels' is a wrong
    // buffer size or stride at run time.
    PassManager pm(spec->getContext());
    if (failed(attn::addCUDAWorkspacePasses(pm, options)) ||
        failed(pm.run(*mapped))) {
      error = "attn-rule-block-maps, attn-linear-wy, attn-linear-split or attn-landmark-split "
              "failed";
      return false;
    }
  }
  std::vector<SpecEntry> entries;
  if (!collectEntries(*mapped, "", entries, error))
    return false;
  for (SpecEntry &e : entries)
    abis.push_back(std::move(e.abi));
  return true;
}

bool placeCudaSteps(std::vector<EntryABI> &abis, const CudaArtifacts &a,
                    std::string &error) {
  // Each program's steps (kernels "<entry>__s<k>": selection, elementwise
  // and attention kernels), in program order, as they were emitted. A lone
  // attention has none: one kernel on the inputs, then the outputs.
  std::vector<bool> placed(a.steps.size(), false);
  for (EntryABI &abi : abis)
    for (size_t i = 0; i < a.steps.size(); ++i) {
      const KernelStep &st = a.steps[i];
      llvm::StringRef rest(st.kernel);
      unsigned step;
      // "<entry>__s<k>", or "<entry>__s<k>_<form>": a block map's snapshot
      // kernels (_c<r>, emitted before it), a step's other forms (_c32,
      // _s2), launched by their grid conditions.
      if (rest.consume_front(abi.name + "__s") &&
          !rest.take_while(llvm::isDigit).getAsInteger(10, step) &&
          (rest.drop_while(llvm::isDigit).empty() ||
           rest.drop_while(llvm::isDigit).starts_with("_"))) {
        auto types = a.stepArgTypes.find(st.kernel);
        if (!checkStepArgs(abi, st,
                           types == a.stepArgTypes.end()
                               ? std::vector<CudaArtifacts::ArgType>()
                               : types->second,
                           error))
          return false;
        abi.steps.push_back(st);
        placed[i] = true;
      }
    }
  // A kernel no entry launches would leave its outputs unwritten.
  for (size_t i = 0; i < a.steps.size(); ++i)
    if (!placed[i]) {
      error = "internal error: kernel " + a.steps[i].kernel + " belongs to no entry";
      return false;
    }
  return true;
}

bool compileToCudaBundle(ModuleOp spec,
                         const attn::CUDAPipelineOptions &options,
                         Bundle &bundle, std::string &error,
                         CudaArtifacts *artifacts) {
  bundle = Bundle();
  if (!cudaEntryABIs(spec, options, bundle.entries, error))
    return false;
  CudaArtifacts local;
  CudaArtifacts &a = artifacts ? *artifacts : local;
  if (!compileForCUDA(spec, options, a, error) ||
      !placeCudaSteps(bundle.entries, a, error))
    return false;
  bundle.target = "cuda";
  bool isCubin = !a.cubin.empty();
  // The chip, the payload's format, and each kernel's launch contract:
  // "sm_90,format=cubin,launch:causal=128x128x0,..." (rows, threads,
  // dynamic shared bytes), plus "tma:causal=128" for a kernel that takes
  // tensor maps (the key rows of one K/V box; "=1x1" where q's box is one
  // row too: rows gathered one box each), "persistent:causal=1" for
  // one whose blocks loop over the tiles (grid: one block per SM).
  bundle.features = options.chip.getValue() + ",format=" +
                    (isCubin ? "cubin" : "ptx");
  for (const CudaArtifacts::Launch &l : a.launch) {
    bundle.features += ",launch:" + l.kernel + "=" + std::to_string(l.blockQ) +
                       "x" + std::to_string(l.threads) + "x" +
                       std::to_string(l.sharedBytes);
    if (l.tmaRows)
      bundle.features += ",tma:" + l.kernel + "=" + std::to_string(l.tmaRows) +
                         (l.tmaQRows ? "x" + std::to_string(l.tmaQRows) : "");
    if (l.persistent)
      bundle.features += ",persistent:" + l.kernel + "=1";
  }
  bundle.object = isCubin ? a.cubin : a.ptx;
  return true;
}

} // namespace attnir
