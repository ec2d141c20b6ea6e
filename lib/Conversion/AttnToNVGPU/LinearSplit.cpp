//===- LinearSplit.cpp - chunk states as workspace: state and output pass -===//
//
// attn-linear-split: an attn.linear that the chunked CUDA kernel runs in
// both column forms becomes the same op with split(64) and more results:
// the state at each chunk's start (and with wy(64) the corrected values
// U - W S, with normalize the normaliser z [B, H, chunks, D] f32),
// unreturned, so the runtime's workspace (EntryBindings.h). The
// lowering then adds fla's split beside the fused kernel: a state pass
// (a block per (b, h, value slice) walking the chunks, writing them) and
// an output pass parallel over (b, h, chunk, value slice) reading them.
// The runtime launches the fused kernel when its grid fills the GPU twice,
// else the two passes.
//
//===----------------------------------------------------------------------===//

#include "SelectionKernels.h"
#include "attnir/Conversion/Passes.h"
#include "attnir/Dialect/Attn/IR/AttnOps.h"

namespace mlir::attn {
#define GEN_PASS_DEF_ATTNLINEARSPLIT
#include "attnir/Conversion/Passes.h.inc"
} // namespace mlir::attn

using namespace mlir;
using namespace mlir::attn;

namespace {

struct AttnLinearSplitPass : public attn::impl::AttnLinearSplitBase<AttnLinearSplitPass> {
  using Base::Base;

  void runOnOperation() override {
    SmallVector<LinearOp> todo;
    getOperation().walk([&](LinearOp op) {
      if (!op.getSplit() && linearColumns == 0 && (!op.getBeta() || op.getWy()) &&
          cuda::canChunkLinear(op, linearChunk, linearColumns))
        todo.push_back(op);
    });
    for (LinearOp op : todo) {
      OpBuilder b(op);
      SmallVector<NamedAttribute> attrs(op->getAttrs());
      attrs.push_back(b.getNamedAttr(op.getSplitAttrName(), b.getI64IntegerAttr(linearChunk)));
      if (splitOnly)
        attrs.push_back(b.getNamedAttr(cuda::kSplitOnlyAttr, b.getUnitAttr()));
      auto q = cast<RankedTensorType>(op.getQ().getType());
      auto v = cast<RankedTensorType>(op.getV().getType());
      int64_t n = q.getDimSize(2);
      int64_t chunks = ShapedType::isDynamic(n) ? ShapedType::kDynamic
                                                : (n + linearChunk - 1) / linearChunk;
      SmallVector<Type> types(op->getResultTypes());
      types.push_back(RankedTensorType::get(
          {q.getDimSize(0), q.getDimSize(1), chunks, q.getDimSize(3), v.getDimSize(3)},
          q.getElementType()));
      if (op.getWy())
        types.push_back(v);
      if (op.getNormalize()) // z at each chunk's start, as the fused kernel keeps it
        types.push_back(RankedTensorType::get(
            {q.getDimSize(0), q.getDimSize(1), chunks, q.getDimSize(3)}, b.getF32Type()));
      auto split = LinearOp::create(b, op.getLoc(), types, op->getOperands(), attrs);
      for (unsigned i = 0; i < op->getNumResults(); ++i)
        op->getResult(i).replaceAllUsesWith(split->getResult(i));
      op->erase();
    }
  }
};

} // namespace
