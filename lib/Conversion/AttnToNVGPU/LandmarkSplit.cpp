//===- LandmarkSplit.cpp - landmark retrieval by blocks: the scratch ------===//
//
// attn-landmark-split: an attn.landmark with topk that the tile kernel
// takes becomes the same op with five scratch results (picks, their
// logits, the units, the per-block table and the grouped entries:
// AttnRouteOps.td), unreturned, so the runtime's workspace
// (EntryBindings.h). The lowering (LandmarkBlocks.cpp) then stages each
// picked block once for all the rows that picked it, instead of once per
// query tile that picked it (docs/design/routing.md "Landmark by blocks").
//
//===----------------------------------------------------------------------===//

#include "SelectionKernels.h"
#include "attnir/Conversion/Passes.h"
#include "attnir/Dialect/Attn/IR/AttnOps.h"

namespace mlir::attn {
#define GEN_PASS_DEF_ATTNLANDMARKSPLIT
#include "attnir/Conversion/Passes.h.inc"
} // namespace mlir::attn

using namespace mlir;
using namespace mlir::attn;

namespace {

struct AttnLandmarkSplitPass
    : public attn::impl::AttnLandmarkSplitBase<AttnLandmarkSplitPass> {
  using Base::Base;
  void runOnOperation() override {
    SmallVector<LandmarkOp> todo;
    getOperation().walk([&](LandmarkOp op) {
      if (!op.isByBlocks() && op.getTopk() && *op.getTopk() >= 1 && cuda::canTileLandmark(op))
        todo.push_back(op);
    });
    for (LandmarkOp op : todo) {
      OpBuilder b(op);
      auto q = cast<RankedTensorType>(op.getQ().getType());
      int64_t K = static_cast<int64_t>(*op.getTopk());
      int64_t n = q.getDimSize(2), l = static_cast<int64_t>(op.getBlock());
      int64_t blocks = ShapedType::isDynamic(n) ? ShapedType::kDynamic : (n + l - 1) / l;
      int64_t dv = op.getOut().getType().getDimSize(3);
      Type i32 = b.getI32Type();
      auto rows = [&](ArrayRef<int64_t> tail, Type elt) {
        SmallVector<int64_t> shape = {q.getDimSize(0), q.getDimSize(1), n};
        llvm::append_range(shape, tail);
        return RankedTensorType::get(shape, elt);
      };
      SmallVector<Type> types(op->getResultTypes());
      types.push_back(rows({2 * K}, i32));                   // picks, ranks
      types.push_back(rows({K + 1}, b.getF32Type()));        // logits, local
      types.push_back(rows({K, dv}, q.getElementType()));    // units
      types.push_back(RankedTensorType::get(                 // table
          {q.getDimSize(0), q.getDimSize(1), blocks, LandmarkOp::kTableRow}, i32));
      // (entry, block) pairs. With one-block groups each block's run is
      // padded to whole groups of 64 (a units block per group): at most
      // N K entries plus at most 63 slots for each of the ceil(N / 64) - 1
      // blocks a row can pick (its own is the local block), and
      // 63 (ceil(N / 64) - 1) < N, so N (K + 1) slots hold them.
      types.push_back(rows({2 * (oneBlockGroups ? K + 1 : K)}, i32));
      auto split = LandmarkOp::create(b, op.getLoc(), types, op->getOperands(), op->getAttrs());
      for (unsigned i = 0; i < op->getNumResults(); ++i)
        op->getResult(i).replaceAllUsesWith(split->getResult(i));
      op->erase();
    }
  }
};

} // namespace
