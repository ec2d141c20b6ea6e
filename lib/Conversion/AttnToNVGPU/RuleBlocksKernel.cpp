//===- RuleBlocksKernel.cpp - attn.rule_blocks, a warp per map row --------===//
//
// The block map of a mask_rule on the GPU: a warp per (batch, map head,
// query block) walks the key blocks the mask attribute makes visible, in
// ascending order, and decides each with the region on intervals
// (RuleBlocks.cpp): a lane per key block, 32 blocks per pass, the kept ids
// (full blocks as ~id) written in ascending order by a ballot. (Spreading
// one block's range reads over the lanes instead was 18x slower: a block
// table's one read per block then cost a warp's shuffles.) No host sync:
// the attention that reads the map is the next step on the same stream.
//
//===----------------------------------------------------------------------===//

#include "FlashKernel.h"
#include "SelectionKernels.h"
#include "attnir/Dialect/Attn/Utils/EntryBindings.h"
#include "attnir/Dialect/Attn/Utils/KeySchedule.h"

using namespace mlir;
using namespace mlir::attn;

namespace {

/// The key blocks [lo, hi) from the first visible key of `ranges` to the
/// last (of nkb blocks of bk keys; lo = hi when none is visible).
std::pair<Value, Value> visibleBlockSpan(ImplicitLocOpBuilder &b,
                                         ArrayRef<KeyRangeValues> ranges,
                                         Value bk, Value nkb) {
  Value lo = nkb, hi = arith::ConstantIndexOp::create(b, 0);
  for (const KeyRangeValues &r : ranges) {
    Value some = arith::CmpIOp::create(b, arith::CmpIPredicate::ult,
                                       r.visibleBegin, r.visibleEnd);
    Value rlo = arith::DivUIOp::create(b, r.visibleBegin, bk);
    Value rhi = arith::MinUIOp::create(
        b, arith::CeilDivUIOp::create(b, r.visibleEnd, bk), nkb);
    lo = arith::SelectOp::create(b, some, arith::MinUIOp::create(b, lo, rlo),
                                 lo);
    hi = arith::SelectOp::create(b, some, arith::MaxUIOp::create(b, hi, rhi),
                                 hi);
  }
  return {lo, arith::MaxUIOp::create(b, hi, lo)};
}

/// One map row's pieces: where the row is (batch bi, head h, query rows
/// [i0, i1)), the mask's key ranges there, and the rule's operands.
struct RuleBlocksRow {
  RuleBlocksOp op;
  ArrayRef<KeyRangeValues> ranges;
  const RuleOperands &operands;
  Value bi, h, i0, i1, M, bk;

  /// Key block kb (this lane's; hi ends the row's span): whether the map
  /// keeps it, and its entry (~id where the block is full: every pair
  /// kept by the mask's ranges and by the region on intervals).
  std::pair<Value, Value> decide(ImplicitLocOpBuilder &fb, Value kb,
                                 Value hi) {
    Location l = fb.getLoc();
    Value inPass = arith::CmpIOp::create(fb, arith::CmpIPredicate::ult, kb, hi);
    Value j0 = arith::MulIOp::create(fb, kb, bk);
    Value jEnd = arith::AddIOp::create(fb, j0, bk);
    Value j1 = arith::MinUIOp::create(fb, jEnd, M);
    Value visible = arith::AndIOp::create(
        fb, inPass, keysInSomeVisible(fb, l, ranges, j0, j1));
    Value fullByMask = arith::AndIOp::create(
        fb, keysInSomeFull(fb, l, ranges, j0, jEnd),
        arith::CmpIOp::create(fb, arith::CmpIPredicate::ule, jEnd, M));
    Value no = arith::ConstantIntOp::create(fb, 0, 1);
    auto onBlock = scf::IfOp::create(
        fb, visible,
        [&](OpBuilder &tb, Location tl) {
          auto [can, must] = emitRuleOnBlock(tb, tl, op.getMaskRule(), bi, h,
                                             i0, i1, j0, j1, operands);
          scf::YieldOp::create(tb, tl, ValueRange{can, must});
        },
        [&](OpBuilder &eb, Location el) {
          scf::YieldOp::create(eb, el, ValueRange{no, no});
        });
    Value full = arith::AndIOp::create(fb, fullByMask, onBlock.getResult(1));
    Type i32 = fb.getI32Type();
    Value id = arith::IndexCastOp::create(fb, i32, kb);
    Value all = arith::ConstantIntOp::create(fb, i32, -1);
    return {onBlock.getResult(0),
            arith::SelectOp::create(fb, full, arith::XOrIOp::create(fb, id, all),
                                    id)};
  }
};

/// The lanes below `lane` as a 32-bit mask: (1 << lane) - 1.
Value lanesBelow(ImplicitLocOpBuilder &b, Value lane) {
  Type i32 = b.getI32Type();
  return arith::SubIOp::create(
      b,
      arith::ShLIOp::create(b, arith::ConstantIntOp::create(b, i32, 1),
                            arith::IndexCastOp::create(b, i32, lane)),
      arith::ConstantIntOp::create(b, i32, 1));
}

/// The kept entries of one pass of 32 lanes written in lane order from
/// slot `count` of row (bi, h, qb) of `idx` (a ballot prefix count over
/// the lanes `below` this one); the count after them.
Value writeKeptInOrder(ImplicitLocOpBuilder &fb, Value keep, Value entry,
                       Value below, Value count, Value idx,
                       ValueRange row) {
  Type i32 = fb.getI32Type();
  Value all = arith::ConstantIntOp::create(fb, i32, -1);
  auto popc = [&](Value x) -> Value {
    return arith::IndexCastOp::create(fb, fb.getIndexType(),
                                      LLVM::CtPopOp::create(fb, i32, x));
  };
  Value ballot = NVVM::VoteSyncOp::create(
      fb, i32, all, keep,
      NVVM::VoteSyncKindAttr::get(fb.getContext(), NVVM::VoteSyncKind::ballot));
  Value slot = arith::AddIOp::create(
      fb, count, popc(arith::AndIOp::create(fb, ballot, below)));
  SmallVector<Value> at(row);
  at.push_back(slot);
  scf::IfOp::create(fb, keep, [&](OpBuilder &tb, Location tl) {
    memref::StoreOp::create(tb, tl, entry, idx, at);
    scf::YieldOp::create(tb, tl);
  });
  return arith::AddIOp::create(fb, count, popc(ballot));
}

} // namespace

void mlir::attn::cuda::buildRuleBlocksRow(OpBuilder &ob, Location loc,
                                          RuleBlocksOp op, gpu::GPUFuncOp fn,
                                          function_ref<Value(Value)> arg,
                                          ArrayRef<Value> at, Value lane) {
  ImplicitLocOpBuilder b(loc, ob);
  auto c = [&](int64_t v) -> Value {
    return arith::ConstantIndexOp::create(b, v);
  };
  int64_t bq = op.getBlockQ(), bk = op.getBlockK();
  Value N = memref::DimOp::create(b, arg(op.getQ()), 2);
  Value M = memref::DimOp::create(b, arg(op.getK()), 2);
  Value idx = arg(op.getKvIndices()), cnt = arg(op.getKvCounts());
  Value bi = at[0], h = at[1], qb = at[2];
  // The row is current when its stamp is the change counter + 1 (the
  // snapshot kernels before this one raised the counter if an operand
  // changed; the runtime zeroes all of it for new shapes): nothing to do.
  Value changes = memref::LoadOp::create(b, arg(op.getChanges()), ValueRange{c(0)});
  Value want = arith::AddIOp::create(
      b, changes, arith::ConstantIntOp::create(b, b.getI32Type(), 1));
  Value stamp = memref::LoadOp::create(b, arg(op.getStamps()),
                                       ValueRange{bi, h, qb});
  auto stale = scf::IfOp::create(
      b, arith::CmpIOp::create(b, arith::CmpIPredicate::ne, stamp, want),
      /*withElseRegion=*/false);
  b.setInsertionPointToStart(&stale.getThenRegion().front());
  Value i0 = arith::MulIOp::create(b, qb, c(bq));
  Value i1 = arith::MinUIOp::create(b, arith::AddIOp::create(b, i0, c(bq)), N);
  Value nkb = arith::CeilDivUIOp::create(b, M, c(bk));
  // The mask attribute's key ranges for these rows; the loop covers the
  // blocks between the first visible key and the last.
  SmallVector<KeyRangeValues> ranges;
  if (MaskAttrInterface mask = op.getMaskAttr())
    ranges = mask.buildKeyRanges(b, loc, i0, i1, N, M);
  else
    ranges.push_back({c(0), M, c(0), M});
  auto [lo, span] = visibleBlockSpan(b, ranges, c(bk), nkb);
  Value hi = span;

  // A lane per key block, 32 blocks per pass: each lane reads its own
  // ranges (a block table's one entry, a block's document ids), and the
  // kept ids of a pass are written in order through a ballot prefix count.
  RuleOperands operands =
      cuda::gpuRuleOperands(fn, 2, op.getRuleOperands().size());
  RuleBlocksRow row{op, ranges, operands, bi, h, i0, i1, M, c(bk)};
  Value below = lanesBelow(b, lane);
  auto loop = scf::ForOp::create(
      b, lo, hi, c(32), ValueRange{c(0)},
      [&](OpBuilder &lb, Location l, Value first, ValueRange st) {
        ImplicitLocOpBuilder fb(l, lb);
        Value kb = arith::AddIOp::create(fb, first, lane);
        auto [keep, entry] = row.decide(fb, kb, hi);
        scf::YieldOp::create(fb, writeKeptInOrder(fb, keep, entry, below, st[0],
                                                  idx, ValueRange{bi, h, qb}));
      });
  Value lane0 = arith::CmpIOp::create(b, arith::CmpIPredicate::eq, lane, c(0));
  scf::IfOp::create(b, lane0, [&](OpBuilder &tb, Location tl) {
    memref::StoreOp::create(
        tb, tl, arith::IndexCastOp::create(tb, tl, tb.getI32Type(), loop.getResult(0)),
        cnt, ValueRange{bi, h, qb});
    memref::StoreOp::create(tb, tl, want, arg(op.getStamps()),
                            ValueRange{bi, h, qb});
    scf::YieldOp::create(tb, tl);
  });
  ob.setInsertionPointAfter(stale);
}

LogicalResult mlir::attn::cuda::buildSnapshotKernel(OpBuilder &gb,
                                                    func::FuncOp fn,
                                                    RuleBlocksOp op, unsigned r,
                                                    StringRef name) {
  MLIRContext *ctx = op->getContext();
  Location loc = op.getLoc();
  Value operand = op.getRuleOperands()[r], snapshot = op.getSnapshots()[r],
        changes = op.getChanges();
  constexpr int64_t threads = 128;
  // A thread per element (rank 0: one thread, over `changes`' one element).
  int64_t rank = cast<RankedTensorType>(operand.getType()).getRank();
  gpu::GPUFuncOp kfn = cuda::createStepKernel(
      gb, fn, {operand, snapshot, changes}, name, rank ? 0 : 2,
      rank ? rank : 1, threads, 1);
  OpBuilder ob(ctx);
  ob.setInsertionPointToStart(&kfn.getBody().front());
  ImplicitLocOpBuilder b(loc, ob);
  auto c = [&](int64_t v) -> Value {
    return arith::ConstantIndexOp::create(b, v);
  };
  Value x = kfn.getArgument(0), snap = kfn.getArgument(1),
        count = kfn.getArgument(2);
  Value lane;
  SmallVector<Value> at = cuda::enterStepItem(b, x, rank, threads, 1, lane);
  // Bits, not values: a NaN equals its copy, -0 differs from +0.
  Type elt = cast<MemRefType>(x.getType()).getElementType();
  Type bits = b.getIntegerType(elt.getIntOrFloatBitWidth());
  auto asBits = [&](Value v) -> Value {
    return v.getType() == bits ? v : arith::BitcastOp::create(b, bits, v);
  };
  Value now = memref::LoadOp::create(b, x, at);
  Value seen = memref::LoadOp::create(b, snap, at);
  Value differs = arith::CmpIOp::create(b, arith::CmpIPredicate::ne,
                                        asBits(now), asBits(seen));
  scf::IfOp::create(b, differs, [&](OpBuilder &tb, Location tl) {
    memref::StoreOp::create(tb, tl, now, snap, at);
    // Racing increments may add less than one per thread, never less than
    // one in all: the counter only has to move.
    Value old = memref::LoadOp::create(tb, tl, count, ValueRange{c(0)});
    Value next = arith::AddIOp::create(
        tb, tl, old, arith::ConstantIntOp::create(tb, tl, tb.getI32Type(), 1));
    memref::StoreOp::create(tb, tl, next, count, ValueRange{c(0)});
    scf::YieldOp::create(tb, tl);
  });
  b.setInsertionPointToEnd(&kfn.getBody().front());
  gpu::ReturnOp::create(b);
  return success();
}
