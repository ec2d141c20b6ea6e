//===- LinearWYSplit.cpp - the delta rule's WY form as workspace ----------===//
//
// attn-linear-wy: an attn.linear with delta(%beta) that the chunked CUDA
// kernel runs becomes the same op with wy(64) and two more results, W and
// U per chunk (unreturned, so the runtime's workspace: EntryBindings.h).
// The chunk kernel then splits the rule as fla's chunk_gated_delta_rule
// does: everything that does not depend on the state (A, its inverse, W,
// U) for all chunks in parallel, then the sequential pass over chunks.
//
//===----------------------------------------------------------------------===//

#include "SelectionKernels.h"
#include "attnir/Conversion/Passes.h"
#include "attnir/Dialect/Attn/IR/AttnOps.h"

namespace mlir::attn {
#define GEN_PASS_DEF_ATTNLINEARWY
#include "attnir/Conversion/Passes.h.inc"
} // namespace mlir::attn

using namespace mlir;
using namespace mlir::attn;

namespace {

struct AttnLinearWYPass : public attn::impl::AttnLinearWYBase<AttnLinearWYPass> {
  using Base::Base;

  void runOnOperation() override {
    SmallVector<LinearOp> todo;
    getOperation().walk([&](LinearOp op) {
      if (op.getBeta() && !op.getWy() && cuda::canChunkLinear(op, linearChunk, linearColumns))
        todo.push_back(op);
    });
    for (LinearOp op : todo) {
      OpBuilder b(op);
      SmallVector<NamedAttribute> attrs(op->getAttrs());
      attrs.push_back(b.getNamedAttr(op.getWyAttrName(), b.getI64IntegerAttr(linearChunk)));
      SmallVector<Type> types(op->getResultTypes());
      types.push_back(op.getK().getType());
      types.push_back(op.getV().getType());
      auto split = LinearOp::create(b, op.getLoc(), types, op->getOperands(), attrs);
      for (unsigned i = 0; i < op->getNumResults(); ++i)
        op->getResult(i).replaceAllUsesWith(split->getResult(i));
      op->erase();
    }
  }
};

} // namespace
