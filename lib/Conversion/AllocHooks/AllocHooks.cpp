//===- AllocHooks.cpp - kernel heap allocations through runtime hooks ----===//
//
// finalize-memref-to-llvm{use-generic-functions} turns every memref.alloc
// and dealloc of a CPU kernel into calls of _mlir_memref_to_llvm_alloc,
// _aligned_alloc and _free, left undefined. This pass defines them in the
// kernel itself (internal linkage): each loads its slot of the exported
// table `_attnir_alloc_hooks` (alloc, aligned_alloc, free) and calls it,
// or malloc / aligned_alloc / free while the slot is null. The runtime
// fills the table when it loads a bundle, so a kernel's scratch comes from
// the runtime's workspace (reused across calls: no allocation per call
// once warm); a kernel linked anywhere else still runs on malloc.
//
//===----------------------------------------------------------------------===//

#include "attnir/Conversion/Passes.h"
#include "mlir/Dialect/LLVMIR/LLVMDialect.h"
#include "mlir/IR/BuiltinOps.h"

namespace mlir::attn {
#define GEN_PASS_DEF_ATTNALLOCHOOKS
#include "attnir/Conversion/Passes.h.inc"
} // namespace mlir::attn

using namespace mlir;

namespace {

constexpr const char *kTable = "_attnir_alloc_hooks";

struct Hook {
  const char *generic;
  int slot;
  const char *libc;
};
const Hook kHooks[] = {{"_mlir_memref_to_llvm_alloc", 0, "malloc"},
                       {"_mlir_memref_to_llvm_aligned_alloc", 1, "aligned_alloc"},
                       {"_mlir_memref_to_llvm_free", 2, "free"}};

/// `name` with `type`, declared at the module's end if missing.
LLVM::LLVMFuncOp declare(OpBuilder &b, ModuleOp m, StringRef name,
                         LLVM::LLVMFunctionType type) {
  if (auto f = m.lookupSymbol<LLVM::LLVMFuncOp>(name))
    return f;
  OpBuilder::InsertionGuard g(b);
  b.setInsertionPointToEnd(m.getBody());
  return LLVM::LLVMFuncOp::create(b, m.getLoc(), name, type);
}

/// The body of `fn`: the table's slot if set, else the libc function.
void define(OpBuilder &b, ModuleOp m, LLVM::LLVMFuncOp fn, const Hook &h,
            LLVM::LLVMArrayType tableType) {
  Location loc = fn.getLoc();
  MLIRContext *ctx = b.getContext();
  auto ptr = LLVM::LLVMPointerType::get(ctx);
  LLVM::LLVMFunctionType type = fn.getFunctionType();
  LLVM::LLVMFuncOp libc = declare(b, m, h.libc, type);
  fn.setLinkage(LLVM::Linkage::Internal);
  Block *entry = fn.addEntryBlock(b);
  Block *hooked = b.createBlock(&fn.getBody());
  Block *fallback = b.createBlock(&fn.getBody());
  SmallVector<Value> args(entry->getArguments());

  b.setInsertionPointToStart(entry);
  Value table = LLVM::AddressOfOp::create(b, loc, ptr, kTable);
  Value slot = LLVM::GEPOp::create(b, loc, ptr, tableType, table,
                                   ArrayRef<LLVM::GEPArg>{0, h.slot});
  Value target = LLVM::LoadOp::create(b, loc, ptr, slot);
  Value none = LLVM::ICmpOp::create(b, loc, LLVM::ICmpPredicate::eq, target,
                                    LLVM::ZeroOp::create(b, loc, ptr));
  LLVM::CondBrOp::create(b, loc, none, fallback, hooked);

  auto finish = [&](Operation *call) {
    if (type.getReturnType() == LLVM::LLVMVoidType::get(ctx))
      LLVM::ReturnOp::create(b, loc, ValueRange{});
    else
      LLVM::ReturnOp::create(b, loc, call->getResult(0));
  };
  b.setInsertionPointToStart(hooked);
  SmallVector<Value> operands{target};
  operands.append(args);
  finish(LLVM::CallOp::create(b, loc, type, operands));
  b.setInsertionPointToStart(fallback);
  finish(LLVM::CallOp::create(b, loc, libc, args));
}

struct AttnAllocHooks : public attn::impl::AttnAllocHooksBase<AttnAllocHooks> {
  void runOnOperation() override {
    ModuleOp m = getOperation();
    SmallVector<std::pair<LLVM::LLVMFuncOp, const Hook *>> todo;
    for (const Hook &h : kHooks)
      if (auto fn = m.lookupSymbol<LLVM::LLVMFuncOp>(h.generic))
        if (fn.isExternal())
          todo.push_back({fn, &h});
    if (todo.empty())
      return;
    MLIRContext *ctx = &getContext();
    OpBuilder b(ctx);
    auto ptr = LLVM::LLVMPointerType::get(ctx);
    auto tableType = LLVM::LLVMArrayType::get(ptr, 3);
    if (!m.lookupSymbol(kTable)) {
      b.setInsertionPointToStart(m.getBody());
      auto global = LLVM::GlobalOp::create(
          b, m.getLoc(), tableType, /*isConstant=*/false,
          LLVM::Linkage::External, kTable, Attribute());
      Block *init = b.createBlock(&global.getInitializerRegion());
      b.setInsertionPointToStart(init);
      LLVM::ReturnOp::create(b, m.getLoc(),
                             LLVM::ZeroOp::create(b, m.getLoc(), tableType)
                                 .getResult());
    }
    for (auto [fn, h] : todo)
      define(b, m, fn, *h, tableType);
  }
};

} // namespace
