//===- AttnFreeIntermediates.cpp - free a program's unreturned buffers ----===//
//
// After bufferization and buffer-results-to-out-params, an entry's
// intermediates (an attention output another op reads, as the branches of
// NSA or split-KV are) are buffers allocated at the top of the entry that
// one-shot bufferization never frees: a leak per call (LeakSanitizer,
// examples/nsa.mlir and split_kv_merge.mlir). Outputs are out-parameters by
// then, so no top-level buffer escapes the entry: each one without a
// dealloc is freed just before the return, after every use (entries are
// one block).
//
//===----------------------------------------------------------------------===//

#include "attnir/Dialect/Attn/Transforms/Passes.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"

namespace mlir::attn {
#define GEN_PASS_DEF_ATTNFREEINTERMEDIATES
#include "attnir/Dialect/Attn/Transforms/Passes.h.inc"
} // namespace mlir::attn

using namespace mlir;

namespace {
struct AttnFreeIntermediatesPass
    : public attn::impl::AttnFreeIntermediatesBase<AttnFreeIntermediatesPass> {
  void runOnOperation() override {
    func::FuncOp fn = getOperation();
    if (fn.isExternal() || !fn.getBody().hasOneBlock())
      return;
    Block &body = fn.getBody().front();
    Operation *ret = body.getTerminator();
    SmallVector<memref::AllocOp> leaked;
    for (auto alloc : body.getOps<memref::AllocOp>()) {
      bool freed = llvm::any_of(alloc->getUsers(), [](Operation *u) {
        return isa<memref::DeallocOp>(u);
      });
      bool returned = llvm::is_contained(ret->getOperands(), alloc.getResult());
      if (!freed && !returned)
        leaked.push_back(alloc);
    }
    OpBuilder b(ret);
    for (memref::AllocOp alloc : leaked)
      memref::DeallocOp::create(b, ret->getLoc(), alloc.getResult());
  }
};
} // namespace
