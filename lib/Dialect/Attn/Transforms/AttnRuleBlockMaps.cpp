//===- AttnRuleBlockMaps.cpp - a block map in front of a mask_rule -------===//
//
// The CUDA kernels visit the key blocks of a schedule and cannot leave a
// step out once the producer warp has loaded it, so a mask_rule that
// empties most blocks (document ids, block tables) used to cost as much as
// the dense mask under it. This pass puts an attn.rule_blocks in front of
// such an attention (one small kernel: the region on intervals per query
// block and key block, compacted into a list) and turns the attention into
// a `full_marked` block-list attention: the key loop then runs over the
// listed blocks only, full ones without the element rule
// (docs/design/rules.md).
//
//===----------------------------------------------------------------------===//

#include "attnir/Dialect/Attn/IR/AttnOps.h"
#include "attnir/Dialect/Attn/Transforms/Passes.h"
#include "mlir/IR/IRMapping.h"

namespace mlir::attn {
#define GEN_PASS_DEF_ATTNRULEBLOCKMAPS
#include "attnir/Dialect/Attn/Transforms/Passes.h.inc"
} // namespace mlir::attn

using namespace mlir;
using namespace mlir::attn;

namespace {

int64_t ceilDiv(int64_t n, int64_t d) {
  return ShapedType::isDynamic(n) ? ShapedType::kDynamic : (n + d - 1) / d;
}

/// attn.rule_blocks for `op`: same q, k, rule operands, mask attribute and
/// a copy of its mask_rule.
RuleBlocksOp buildMap(OpBuilder &b, AttentionOp op, int64_t bq, int64_t bk) {
  auto qT = cast<RankedTensorType>(op.getQ().getType());
  auto kT = cast<RankedTensorType>(op.getK().getType());
  Region &rule = op.getMaskRule();
  bool readsHead = !rule.front().getArgument(1).use_empty();
  int64_t heads = readsHead ? qT.getDimSize(1) : 1;
  int64_t rows = ceilDiv(qT.getDimSize(2), bq);
  Type i32 = b.getI32Type();
  auto idxT = RankedTensorType::get(
      {qT.getDimSize(0), heads, rows, ceilDiv(kT.getDimSize(2), bk)}, i32);
  auto cntT = RankedTensorType::get({qT.getDimSize(0), heads, rows}, i32);
  SmallVector<Type> types = {idxT, cntT, cntT,
                            RankedTensorType::get({1}, i32)};
  llvm::append_range(types, op.getRuleOperands().getTypes());
  auto map = RuleBlocksOp::create(b, op.getLoc(), types,
                                  op.getQ(), op.getK(), op.getRuleOperands(),
                                  op.getMaskAttr(), b.getI64IntegerAttr(bq),
                                  b.getI64IntegerAttr(bk));
  IRMapping same;
  rule.cloneInto(&map.getMaskRule(), same);
  return map;
}

struct AttnRuleBlockMapsPass
    : public attn::impl::AttnRuleBlockMapsBase<AttnRuleBlockMapsPass> {
  using Base::Base;

  void runOnOperation() override {
    if (blockQ < 16 || blockK < 16 || blockQ % 16 || blockK % 16) {
      getOperation().emitError()
          << "attn-rule-block-maps: block sizes must be multiples of 16";
      return signalPassFailure();
    }
    SmallVector<AttentionOp> todo;
    getOperation().walk([&](AttentionOp op) {
      // A list of the spec's own, or document ids (whose mask reads
      // operands the map kernel does not carry), keep the in-loop rule.
      if (op.hasMaskRule() && !op.hasBlockList() && !op.getQDoc())
        todo.push_back(op);
    });
    for (AttentionOp op : todo) {
      OpBuilder b(op);
      RuleBlocksOp map = buildMap(b, op, blockQ, blockK);
      // The optional operands' segment sizes follow the mutable ranges.
      op.getKvIndicesMutable().assign(map.getKvIndices());
      op.getKvCountsMutable().assign(map.getKvCounts());
      op.setBlockQAttr(b.getI64IntegerAttr(blockQ));
      op.setBlockKAttr(b.getI64IntegerAttr(blockK));
      op.setFullMarked(true);
    }
  }
};

} // namespace
