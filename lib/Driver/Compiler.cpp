//===- Compiler.cpp - spec text to a callable CPU kernel ------------------===//

#include "attnir/Driver/Compiler.h"
#include "attnir/Driver/SpecLoader.h"
#include "mlir/IR/Diagnostics.h"
#include "llvm/Support/MemoryBuffer.h"
#include "llvm/Support/SourceMgr.h"

using namespace mlir;

namespace attnir {

CompiledSpec::~CompiledSpec() = default;

std::unique_ptr<CompiledSpec>
CompiledSpec::compile(StringRef text, std::string &error,
                      const attn::CPUPipelineOptions *options,
                      StringRef bufferName, StringRef onlyEntry) {
  auto cs = std::unique_ptr<CompiledSpec>(new CompiledSpec());
  cs->ctx = createContext();
  llvm::SourceMgr sm;
  sm.AddNewSourceBuffer(llvm::MemoryBuffer::getMemBufferCopy(text, bufferName),
                        llvm::SMLoc());
  std::string diags;
  llvm::raw_string_ostream os(diags);
  {
    SourceMgrDiagnosticHandler handler(sm, cs->ctx.get(), os);
    cs->spec = parseSpec(sm, cs->ctx.get());
    if (!cs->spec) {
      error = diags.empty() ? "invalid spec" : diags;
      return nullptr;
    }
    std::vector<SpecEntry> entries;
    if (!collectEntries(*cs->spec, onlyEntry, entries, error))
      return nullptr;
    for (SpecEntry &e : entries) {
      cs->sigs.push_back(std::move(e.sig));
      cs->abis.push_back(std::move(e.abi));
    }
    OwningOpRef<ModuleOp> lowered = cast<ModuleOp>(cs->spec->clone());
    if (!onlyEntry.empty())
      for (auto fn :
           llvm::make_early_inc_range(lowered->getOps<func::FuncOp>()))
        if (!fn.isExternal() && fn.getName() != onlyEntry)
          fn.erase();
    attn::CPUPipelineOptions host;
    attn::setHostDefaults(host);
    std::string lowerDiags;
    bool loweredOk;
    {
      ScopedDiagnosticHandler oneLine(cs->ctx.get(), [&](Diagnostic &d) {
        if (d.getSeverity() == DiagnosticSeverity::Error && lowerDiags.empty())
          lowerDiags = formatDiagnostic(d);
        return success();
      });
      loweredOk = lowerForCPU(*lowered, options ? *options : host);
    }
    if (!loweredOk) {
      error = lowerDiags.empty() ? "lowering failed" : lowerDiags;
      return nullptr;
    }
    cs->kernel = CpuKernel::create(*lowered, error);
    if (!cs->kernel)
      return nullptr;
  }
  return cs;
}

func::FuncOp CompiledSpec::function(StringRef entry) {
  for (auto fn : spec->getOps<func::FuncOp>())
    if (fn.getName() == entry)
      return fn;
  return nullptr;
}

const EntrySignature *CompiledSpec::signature(StringRef entry) const {
  for (const EntrySignature &s : sigs)
    if (s.name == entry)
      return &s;
  return nullptr;
}

bool CompiledSpec::run(StringRef entry, std::vector<HostTensor> &inputs,
                       std::vector<HostTensor> &outputs, std::string &error) {
  BoundCall call;
  if (!bind(entry, inputs, outputs, call, error))
    return false;
  call();
  return true;
}

bool CompiledSpec::bind(StringRef entry, std::vector<HostTensor> &inputs,
                        std::vector<HostTensor> &outputs, BoundCall &call,
                        std::string &error) {
  if (entry.empty()) {
    if (sigs.size() != 1) {
      error = "the spec has several entries: name one";
      return false;
    }
    entry = sigs[0].name;
  }
  const EntrySignature *sig = signature(entry);
  if (!sig) {
    error = "no entry @" + entry.str();
    return false;
  }
  std::vector<DType> dtypes;
  std::vector<std::vector<int64_t>> inShapes, outShapes;
  for (const HostTensor &t : inputs) {
    dtypes.push_back(t.dtype);
    inShapes.push_back(t.shape);
  }
  const EntryABI &abi = abis[sig - sigs.data()];
  if (!abi.check(dtypes, inShapes, outShapes, error))
    return false;
  std::vector<const void *> data;
  for (const HostTensor &t : inputs)
    data.push_back(t.raw());
  if (!abi.checkIndexOperands(data, inShapes, error))
    return false;
  outputs.clear();
  for (unsigned i = 0; i < sig->outputs.size(); ++i)
    outputs.push_back(HostTensor::zeros(sig->outputs[i].dtype, outShapes[i]));
  call.fn = kernel->lookup(entry, error);
  if (!call.fn)
    return false;
  call.buffers.clear();
  for (HostTensor &t : inputs)
    call.buffers.push_back(&t);
  for (HostTensor &t : outputs)
    call.buffers.push_back(&t);
  return true;
}

} // namespace attnir
