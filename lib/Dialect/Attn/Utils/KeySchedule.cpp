//===- KeySchedule.cpp - the key-block schedule of a query tile -----------===//

#include "attnir/Dialect/Attn/Utils/KeySchedule.h"
#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "mlir/Dialect/SCF/IR/SCF.h"

using namespace mlir;
using namespace mlir::attn;

namespace {
Value cIdx(OpBuilder &b, Location loc, int64_t v) {
  return arith::ConstantIndexOp::create(b, loc, v);
}
Value ult(OpBuilder &b, Location loc, Value x, Value y) {
  return arith::CmpIOp::create(b, loc, arith::CmpIPredicate::ult, x, y);
}
Value uge(OpBuilder &b, Location loc, Value x, Value y) {
  return arith::CmpIOp::create(b, loc, arith::CmpIPredicate::uge, x, y);
}
KeyRangeValues rangeOf(OpBuilder &b, Location loc, MaskAttrInterface mask,
                       const QueryTile &t) {
  if (mask)
    return mask.buildKeyRange(b, loc, t.i0, t.i1, t.n, t.m);
  Value c0 = cIdx(b, loc, 0);
  return {c0, t.m, c0, t.m};
}
} // namespace

KeySchedule KeySchedule::fromMask(OpBuilder &b, Location loc,
                                  MaskAttrInterface mask,
                                  const QueryTile &tile, int64_t bk) {
  KeyRangeValues r = rangeOf(b, loc, mask, tile);
  Value cBK = cIdx(b, loc, bk);
  KeySchedule s;
  s.bk = bk;
  s.tile = tile;
  s.range = r;
  s.visB = arith::DivUIOp::create(b, loc, r.visibleBegin, cBK);
  Value visE = arith::MaxUIOp::create(
      b, loc, arith::CeilDivUIOp::create(b, loc, r.visibleEnd, cBK), s.visB);
  Value fb = arith::CeilDivUIOp::create(b, loc, r.fullBegin, cBK);
  s.fullB = arith::MinUIOp::create(
      b, loc, arith::MaxUIOp::create(b, loc, fb, s.visB), visE);
  Value fe = arith::DivUIOp::create(b, loc, r.fullEnd, cBK);
  s.fullE = arith::MaxUIOp::create(
      b, loc, arith::MinUIOp::create(b, loc, fe, visE), s.fullB);
  s.numSteps = arith::SubIOp::create(b, loc, visE, s.visB);
  s.numFull = arith::SubIOp::create(b, loc, s.fullE, s.fullB);
  s.numLeft = arith::SubIOp::create(b, loc, s.fullB, s.visB);
  return s;
}

KeySchedule KeySchedule::fromBlockList(OpBuilder &b, Location loc,
                                       const BlockListOperands &list,
                                       MaskAttrInterface mask,
                                       const QueryTile &tile, int64_t bk) {
  assert(list.blockK % bk == 0 && "kernel key block must divide blockK");
  KeySchedule s;
  s.bk = bk;
  s.list = list;
  s.tile = tile;
  s.range = rangeOf(b, loc, mask, tile);
  // One list for every head (Hl = 1), one per query head (Hl = Hq), or one
  // per KV head shared by its query heads (Hl = Hkv); the runtime checks
  // that Hl is one of the three.
  Value hl = memref::DimOp::create(b, loc, list.indices, 1);
  Value c0 = cIdx(b, loc, 0), c1 = cIdx(b, loc, 1);
  Value shared = arith::CmpIOp::create(b, loc, arith::CmpIPredicate::eq, hl, c1);
  Value perQuery =
      arith::CmpIOp::create(b, loc, arith::CmpIPredicate::eq, hl, list.hq);
  s.listHead = arith::SelectOp::create(
      b, loc, shared, c0,
      arith::SelectOp::create(b, loc, perQuery, tile.h, tile.hkv));
  s.listRow =
      arith::DivUIOp::create(b, loc, tile.i0, cIdx(b, loc, list.blockQ));
  s.ratio = cIdx(b, loc, list.blockK / bk);
  // A count outside [0, K] is clamped (the runtime reports it on the CPU).
  Value raw = memref::LoadOp::create(b, loc, list.counts,
                                     ValueRange{tile.b, s.listHead, s.listRow});
  Value cnt = arith::IndexCastOp::create(b, loc, b.getIndexType(), raw);
  Value k = memref::DimOp::create(b, loc, list.indices, 3);
  cnt = arith::MinSIOp::create(b, loc, arith::MaxSIOp::create(b, loc, cnt, c0),
                               k);
  s.numSteps = arith::MulIOp::create(b, loc, cnt, s.ratio);
  return s;
}

Value KeySchedule::loadIndex(OpBuilder &b, Location loc, Value slot) const {
  Value raw = memref::LoadOp::create(
      b, loc, list.indices, ValueRange{tile.b, listHead, listRow, slot});
  return arith::IndexCastOp::create(b, loc, b.getIndexType(), raw);
}

std::pair<Value, Value> KeySchedule::listEntry(OpBuilder &b, Location loc,
                                               Value slot) const {
  Value id = loadIndex(b, loc, slot);
  Value numListBlocks =
      arith::CeilDivUIOp::create(b, loc, tile.m, cIdx(b, loc, list.blockK));
  // Unsigned compare: a negative id is huge, so out of range too.
  Value bad = uge(b, loc, id, numListBlocks);
  Value clamped = arith::SelectOp::create(b, loc, bad, cIdx(b, loc, 0), id);
  return {clamped, bad};
}

Value KeySchedule::block(OpBuilder &b, Location loc, Value t) const {
  if (!list.indices) {
    Value isFull = ult(b, loc, t, numFull);
    Value p = arith::SubIOp::create(b, loc, t, numFull);
    Value left = arith::AddIOp::create(b, loc, visB, p);
    Value right = arith::AddIOp::create(
        b, loc, fullE, arith::SubIOp::create(b, loc, p, numLeft));
    Value partial =
        arith::SelectOp::create(b, loc, ult(b, loc, p, numLeft), left, right);
    return arith::SelectOp::create(
        b, loc, isFull, arith::AddIOp::create(b, loc, fullB, t), partial);
  }
  Value slot = arith::DivUIOp::create(b, loc, t, ratio);
  Value sub = arith::RemUIOp::create(b, loc, t, ratio);
  Value kb = arith::AddIOp::create(
      b, loc, arith::MulIOp::create(b, loc, listEntry(b, loc, slot).first, ratio),
      sub);
  // The last list block may reach past the last kernel block (ragged m):
  // clamp, and skipped() reports the step.
  Value c1 = cIdx(b, loc, 1);
  Value last = arith::SubIOp::create(
      b, loc,
      arith::MaxUIOp::create(
          b, loc, arith::CeilDivUIOp::create(b, loc, tile.m, cIdx(b, loc, bk)),
          c1),
      c1);
  return arith::MinUIOp::create(b, loc, kb, last);
}

Value KeySchedule::masked(OpBuilder &b, Location loc, Value t) const {
  if (!list.indices)
    return uge(b, loc, t, numFull);
  Value j0 = arith::MulIOp::create(b, loc, block(b, loc, t), cIdx(b, loc, bk));
  Value j1 = arith::AddIOp::create(b, loc, j0, cIdx(b, loc, bk));
  Value full = arith::AndIOp::create(
      b, loc, uge(b, loc, j0, range.fullBegin),
      arith::CmpIOp::create(b, loc, arith::CmpIPredicate::ule, j1,
                            range.fullEnd));
  return arith::XOrIOp::create(b, loc, full,
                               arith::ConstantIntOp::create(b, loc, 1, 1));
}

Value KeySchedule::skipped(OpBuilder &b, Location loc, Value t,
                           const LaneSplit *split) const {
  if (!list.indices)
    return Value();
  Value slot = arith::DivUIOp::create(b, loc, t, ratio);
  Value sub = arith::RemUIOp::create(b, loc, t, ratio);
  auto [entry, bad] = listEntry(b, loc, slot);
  Value cBK = cIdx(b, loc, bk);
  Value j0 = arith::MulIOp::create(
      b, loc,
      arith::AddIOp::create(b, loc, arith::MulIOp::create(b, loc, entry, ratio),
                            sub),
      cBK);
  Value j1 = arith::AddIOp::create(b, loc, j0, cBK);
  // Past the keys (ragged tail of the last list block), or a block the
  // mask leaves empty for this tile.
  Value skip = arith::OrIOp::create(b, loc, bad, uge(b, loc, j0, tile.m));
  skip = arith::OrIOp::create(
      b, loc, skip,
      arith::OrIOp::create(
          b, loc,
          arith::CmpIOp::create(b, loc, arith::CmpIPredicate::ule, j1,
                                range.visibleBegin),
          uge(b, loc, j0, range.visibleEnd)));
  // A duplicate id counts once: its first occurrence is visited.
  Value id = loadIndex(b, loc, slot);
  Value c0 = cIdx(b, loc, 0), c1 = cIdx(b, loc, 1);
  Value no = arith::ConstantIntOp::create(b, loc, 0, 1);
  Value first = split ? split->lane : c0;
  Value stride = split ? cIdx(b, loc, split->lanes) : c1;
  auto loop = scf::ForOp::create(
      b, loc, first, slot, stride, ValueRange{no},
      [&](OpBuilder &fb, Location l, Value s, ValueRange acc) {
        Value same = arith::CmpIOp::create(fb, l, arith::CmpIPredicate::eq,
                                           loadIndex(fb, l, s), id);
        scf::YieldOp::create(fb, l,
                             ValueRange{arith::OrIOp::create(fb, l, acc[0],
                                                             same)});
      });
  Value dup = loop.getResult(0);
  if (split)
    dup = split->anyLane(b, loc, dup);
  return arith::OrIOp::create(b, loc, skip, dup);
}
