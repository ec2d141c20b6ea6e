//===- AttnPrepareABI.cpp - C interface on spec entries -------------------===//

#include "attnir/Dialect/Attn/IR/AttnOps.h"
#include "attnir/Dialect/Attn/Transforms/Passes.h"
#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/LLVMIR/LLVMDialect.h"

namespace mlir::attn {
#define GEN_PASS_DEF_ATTNPREPAREABI
#include "attnir/Dialect/Attn/Transforms/Passes.h.inc"
} // namespace mlir::attn

using namespace mlir;

namespace {
/// attn.cpu_threads as index_cast(omp_get_max_threads()), declaring the
/// OpenMP runtime's function where a kernel reads it.
void lowerCpuThreads(ModuleOp module) {
  SmallVector<attn::CpuThreadsOp> uses;
  module.walk([&](attn::CpuThreadsOp op) { uses.push_back(op); });
  if (uses.empty())
    return;
  constexpr const char *kName = "omp_get_max_threads";
  OpBuilder b(module.getContext());
  auto type = b.getFunctionType({}, {b.getI32Type()});
  if (!module.lookupSymbol<func::FuncOp>(kName)) {
    b.setInsertionPointToStart(module.getBody());
    func::FuncOp::create(b, module.getLoc(), kName, type).setPrivate();
  }
  for (attn::CpuThreadsOp op : uses) {
    b.setInsertionPoint(op);
    Value n = func::CallOp::create(b, op.getLoc(), kName, TypeRange{b.getI32Type()},
                                   ValueRange{})
                  .getResult(0);
    op.replaceAllUsesWith(arith::IndexCastOp::create(
        b, op.getLoc(), b.getIndexType(), n).getResult());
    op.erase();
  }
}

struct AttnPrepareABIPass
    : public attn::impl::AttnPrepareABIBase<AttnPrepareABIPass> {
  void runOnOperation() override {
    lowerCpuThreads(getOperation());
    for (auto fn : getOperation().getOps<func::FuncOp>()) {
      // Driver-only annotation (argument names); nothing below needs it.
      fn->removeAttr("attn.arg_names");
      if (fn.isPublic() && !fn.isExternal())
        fn->setAttr(LLVM::LLVMDialect::getEmitCWrapperAttrName(),
                    UnitAttr::get(&getContext()));
    }
  }
};
} // namespace
