//===- AttnPrepareABI.cpp - C interface on spec entries -------------------===//

#include "attnir/Dialect/Attn/Transforms/Passes.h"
#include "mlir/Dialect/LLVMIR/LLVMDialect.h"

namespace mlir::attn {
#define GEN_PASS_DEF_ATTNPREPAREABI
#include "attnir/Dialect/Attn/Transforms/Passes.h.inc"
} // namespace mlir::attn

using namespace mlir;

namespace {
struct AttnPrepareABIPass
    : public attn::impl::AttnPrepareABIBase<AttnPrepareABIPass> {
  void runOnOperation() override {
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
