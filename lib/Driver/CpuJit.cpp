//===- CpuJit.cpp - compile a spec for the host CPU and run it ------------===//
//
// Follows shared/notes/cpu-jit-probe: the host target machine (else LLVM
// silently emits SSE), its codegen level set on the TM (ExecutionEngine's
// jitCodeGenOptLevel is ignored), the same TM handed to the IR optimizer, and
// libomp loaded for the OpenMP runtime calls.
//
//===----------------------------------------------------------------------===//

#include "attnir/Driver/CpuJit.h"
#include "attnir/Driver/Toolchain.h"
#include "llvm/IR/IRBuilder.h"
#include "attnir/Runtime/Kernel.h"
#include "attnir/Runtime/Workspace.h"
#include "attnir/Runtime/AmxPermission.h"
#include "mlir/ExecutionEngine/ExecutionEngine.h"
#include "mlir/ExecutionEngine/OptUtils.h"
#include "mlir/Pass/PassManager.h"
#include "mlir/Target/LLVMIR/Export.h"
#include "llvm/ExecutionEngine/Orc/JITTargetMachineBuilder.h"
#include "llvm/IR/LegacyPassManager.h"
#include "llvm/IR/Module.h"
#include "llvm/Support/TargetSelect.h"
#include "llvm/MC/MCSubtargetInfo.h"
#include "llvm/Target/TargetMachine.h"
#include "llvm/Transforms/IPO/MergeFunctions.h"

using namespace mlir;

namespace attnir {

bool lowerForCPU(ModuleOp module, const attn::CPUPipelineOptions &o,
                 StringRef stopAfter) {
  PassManager pm(module->getContext());
  attn::buildCPUPipeline(pm, o, stopAfter);
  return succeeded(pm.run(module));
}

static void initNativeTarget() {
  static bool done = [] {
    llvm::InitializeNativeTarget();
    llvm::InitializeNativeTargetAsmPrinter();
    return true;
  }();
  (void)done;
}

std::unique_ptr<llvm::TargetMachine>
createHostTargetMachine(std::string &err, bool pic, StringRef cpu) {
  initNativeTarget();
  auto jtmb = llvm::orc::JITTargetMachineBuilder::detectHost();
  if (!jtmb) {
    err = llvm::toString(jtmb.takeError());
    return nullptr;
  }
  if (!cpu.empty()) {
    // The named CPU's own features, not the host's (which would disable
    // what this host lacks).
    jtmb = llvm::orc::JITTargetMachineBuilder(jtmb->getTargetTriple());
    jtmb->setCPU(cpu.str());
  }
  jtmb->setCodeGenOptLevel(llvm::CodeGenOptLevel::Aggressive);
  if (pic) {
    jtmb->setRelocationModel(llvm::Reloc::PIC_);
    jtmb->setCodeModel(llvm::CodeModel::Small);
  }
  auto tm = jtmb->createTargetMachine();
  if (!tm) {
    err = llvm::toString(tm.takeError());
    return nullptr;
  }
  return std::move(*tm);
}

bool targetHasAVX512(StringRef cpu) {
  // DQ beside F: exp's argument reduction is vreduceps (every AVX-512 part
  // but Xeon Phi has both).
  return targetHasFeature(cpu, "avx512f") && targetHasFeature(cpu, "avx512dq");
}

bool targetHasFeature(StringRef cpu, StringRef feature) {
  std::string err;
  std::unique_ptr<llvm::TargetMachine> tm =
      createHostTargetMachine(err, false, cpu);
  return tm && tm->getMCSubtargetInfo()->checkFeatures(("+" + feature).str());
}

namespace {
/// For each `_mlir_ciface_<name>(ptr, ...)`: `_attnir_packed_<name>(ptr
/// args)` calling it with args[0], args[1], ...: the runtime calls entries
/// of any number of arguments through one signature. `_attnir_arity_<name>`
/// (an i32 constant) says how many, so that a bundle whose entry
/// description was edited cannot make the runtime pass too few.
void addPackedEntries(llvm::Module &m) {
  llvm::LLVMContext &ctx = m.getContext();
  auto *ptrTy = llvm::PointerType::getUnqual(ctx);
  std::vector<llvm::Function *> cifaces;
  for (llvm::Function &f : m)
    if (!f.isDeclaration() && f.getName().starts_with("_mlir_ciface_") &&
        f.getReturnType()->isVoidTy())
      cifaces.push_back(&f);
  for (llvm::Function *f : cifaces) {
    auto *type = llvm::FunctionType::get(llvm::Type::getVoidTy(ctx), {ptrTy},
                                         /*isVarArg=*/false);
    auto *w = llvm::Function::Create(
        type, llvm::GlobalValue::ExternalLinkage,
        "_attnir_packed_" + f->getName().drop_front(13).str(), m);
    llvm::IRBuilder<> b(llvm::BasicBlock::Create(ctx, "entry", w));
    std::vector<llvm::Value *> args;
    for (unsigned i = 0; i < f->arg_size(); ++i)
      args.push_back(b.CreateLoad(f->getArg(i)->getType(),
                                  b.CreateConstGEP1_64(ptrTy, w->getArg(0), i)));
    b.CreateCall(f, args);
    b.CreateRetVoid();
    auto *i32 = llvm::Type::getInt32Ty(ctx);
    new llvm::GlobalVariable(
        m, i32, /*isConstant=*/true, llvm::GlobalValue::ExternalLinkage,
        llvm::ConstantInt::get(i32, f->arg_size()),
        "_attnir_arity_" + f->getName().drop_front(13).str());
  }
}

/// -O3 for the host, after merging functions that are identical in LLVM
/// IR: entries that differ only in name (a spec with many copies of one
/// pattern, issue 15 case 10) and their outlined OpenMP bodies are then
/// optimised and compiled once, not once per copy.
std::function<llvm::Error(llvm::Module *)>
hostOptimizer(llvm::TargetMachine *tm) {
  auto o3 = makeOptimizingTransformer(3, 0, tm);
  return [o3](llvm::Module *m) {
    llvm::MergeFunctionsPass::runOnModule(*m);
    return o3(m);
  };
}

} // namespace

bool emitLLVM(ModuleOp module, EmitKind kind, llvm::raw_pwrite_stream &os,
              std::string &err, StringRef cpu) {
  // Position-independent: objects become shared objects (bundles).
  std::unique_ptr<llvm::TargetMachine> tm =
      createHostTargetMachine(err, /*pic=*/true, cpu);
  if (!tm)
    return false;
  if (!cpu.empty() && !tm->getMCSubtargetInfo()->isCPUStringValid(cpu)) {
    err = "unknown CPU '" + cpu.str() + "' for " +
          tm->getTargetTriple().str() + " (try znver4, skylake-avx512, "
          "x86-64-v3)";
    return false;
  }
  llvm::LLVMContext llvmCtx;
  std::unique_ptr<llvm::Module> llvmModule =
      translateModuleToLLVMIR(module, llvmCtx);
  if (!llvmModule) {
    err = "translation to LLVM IR failed";
    return false;
  }
  llvmModule->setDataLayout(tm->createDataLayout());
  llvmModule->setTargetTriple(tm->getTargetTriple());
  addPackedEntries(*llvmModule);
  if (llvm::Error e = hostOptimizer(tm.get())(llvmModule.get())) {
    err = llvm::toString(std::move(e));
    return false;
  }
  if (kind == EmitKind::LLVMIR) {
    llvmModule->print(os, nullptr);
    return true;
  }
  llvm::legacy::PassManager pm;
  auto fileType = kind == EmitKind::Object ? llvm::CodeGenFileType::ObjectFile
                                           : llvm::CodeGenFileType::AssemblyFile;
  if (tm->addPassesToEmitFile(pm, os, nullptr, fileType)) {
    err = "the host target cannot emit this file type";
    return false;
  }
  pm.run(*llvmModule);
  return true;
}

CpuKernel::~CpuKernel() = default;

std::unique_ptr<CpuKernel> CpuKernel::create(ModuleOp module,
                                             std::string &err) {
  std::unique_ptr<llvm::TargetMachine> tm = createHostTargetMachine(err);
  if (!tm)
    return nullptr;
  ExecutionEngineOptions opts;
  // opts.transformer is a function_ref: keep the callable alive here.
  std::function<llvm::Error(llvm::Module *)> optimize =
      hostOptimizer(tm.get());
  opts.transformer = optimize;
  SmallVector<StringRef> libs(toolchain().jitLibraries.begin(),
                              toolchain().jitLibraries.end());
  opts.sharedLibPaths = libs;
  requestAmxTiles(); // kernels built with bf16-dot=2 use AMX tiles
  auto engine = ExecutionEngine::create(module, opts, std::move(tm));
  if (!engine) {
    err = llvm::toString(engine.takeError());
    return nullptr;
  }
  auto k = std::unique_ptr<CpuKernel>(new CpuKernel());
  k->engine = std::move(*engine);
  // Kernel scratch from the runtime's workspace (attn-alloc-hooks).
  if (auto table = k->engine->lookup("_attnir_alloc_hooks"))
    attnir::installWorkspaceHooks(*table);
  else
    llvm::consumeError(table.takeError());
  return k;
}

CpuKernel::EntryFn CpuKernel::lookup(StringRef entry, std::string &err) {
  auto fn = engine->lookupPacked(("_mlir_ciface_" + entry).str());
  if (!fn) {
    err = "no compiled entry @" + entry.str() + ": " +
          llvm::toString(fn.takeError());
    return nullptr;
  }
  return *fn;
}

void CpuKernel::call(EntryFn fn, const std::vector<HostTensor *> &buffers) {
  // The packed wrapper takes, per argument, a pointer to a pointer to its
  // descriptor.
  std::vector<std::vector<int64_t>> descs;
  for (HostTensor *t : buffers)
    descs.push_back(memrefDescriptor(t->raw(), t->shape));
  std::vector<void *> descPtrs, args;
  for (auto &d : descs)
    descPtrs.push_back(d.data());
  for (void *&p : descPtrs)
    args.push_back(&p);
  fn(args.data());
}

} // namespace attnir
