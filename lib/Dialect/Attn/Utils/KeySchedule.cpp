//===- KeySchedule.cpp - the key-block schedule of a query tile -----------===//

#include "attnir/Dialect/Attn/Utils/KeySchedule.h"
#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/Dialect/Vector/IR/VectorOps.h"

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
SmallVector<KeyRangeValues> rangesOf(OpBuilder &b, Location loc,
                                     MaskAttrInterface mask,
                                     const QueryTile &t) {
  if (mask && (t.site.load || t.site.rule || t.site.ruleBlock))
    return mask.buildKeyRangesAt(b, loc, t.site, t.i0, t.i1);
  if (mask)
    return mask.buildKeyRanges(b, loc, t.i0, t.i1, t.n, t.m);
  Value c0 = cIdx(b, loc, 0);
  return {{c0, t.m, c0, t.m}};
}
} // namespace

MaskSiteValues mlir::attn::documentSite(Value b, Value h, Value n, Value m,
                                        Value qDoc, Value kDoc) {
  MaskSiteValues site{b, h, n, m, nullptr};
  if (!qDoc)
    return site;
  site.load = [=](OpBuilder &ob, Location l, StringRef role,
                  Value pos) -> Value {
    Value buf = role == "q_doc" ? qDoc : kDoc;
    Type i64 = ob.getI64Type();
    auto elt = cast<MemRefType>(buf.getType()).getElementType();
    Value len = memref::DimOp::create(ob, l, buf, 1);
    auto widen = [&](Value x) -> Value {
      Type want = isa<VectorType>(x.getType())
                      ? Type(VectorType::get(
                            cast<VectorType>(x.getType()).getShape(), i64))
                      : i64;
      return x.getType() == want ? x
                                 : arith::ExtSIOp::create(ob, l, want, x)
                                       .getResult();
    };
    if (auto vt = dyn_cast<VectorType>(pos.getType())) {
      Value last = arith::IndexCastOp::create(
          ob, l, i64,
          arith::SubIOp::create(ob, l, len, cIdx(ob, l, 1)));
      Value idx = arith::MinSIOp::create(
          ob, l, pos, vector::BroadcastOp::create(ob, l, vt, last));
      auto rt = VectorType::get(vt.getShape(), elt);
      Value all = arith::ConstantOp::create(
          ob, l, DenseElementsAttr::get(
                     VectorType::get(vt.getShape(), ob.getI1Type()), true));
      Value zero = arith::ConstantOp::create(
          ob, l, DenseElementsAttr::get(rt, ob.getZeroAttr(elt)));
      Value c0 = cIdx(ob, l, 0);
      return widen(vector::GatherOp::create(ob, l, rt, buf,
                                            ValueRange{b, c0}, idx, all,
                                            zero));
    }
    Value p = pos.getType().isIndex()
                  ? pos
                  : arith::IndexCastOp::create(ob, l, ob.getIndexType(), pos)
                        .getResult();
    p = arith::MinSIOp::create(
        ob, l, p, arith::SubIOp::create(ob, l, len, cIdx(ob, l, 1)));
    return widen(memref::LoadOp::create(ob, l, buf, ValueRange{b, p}));
  };
  return site;
}

KeySchedule KeySchedule::fromMask(OpBuilder &b, Location loc,
                                  MaskAttrInterface mask,
                                  const QueryTile &tile, int64_t bk) {
  KeySchedule s;
  s.bk = bk;
  s.tile = tile;
  s.ranges = rangesOf(b, loc, mask, tile);
  Value cBK = cIdx(b, loc, bk);
  for (const KeyRangeValues &r : s.ranges) {
    Span sp;
    sp.visB = arith::DivUIOp::create(b, loc, r.visibleBegin, cBK);
    sp.visE = arith::MaxUIOp::create(
        b, loc, arith::CeilDivUIOp::create(b, loc, r.visibleEnd, cBK),
        sp.visB);
    Value fb = arith::CeilDivUIOp::create(b, loc, r.fullBegin, cBK);
    sp.fullB = arith::MinUIOp::create(
        b, loc, arith::MaxUIOp::create(b, loc, fb, sp.visB), sp.visE);
    Value fe = arith::DivUIOp::create(b, loc, r.fullEnd, cBK);
    sp.fullE = arith::MaxUIOp::create(
        b, loc, arith::MinUIOp::create(b, loc, fe, sp.visE), sp.fullB);
    sp.count = arith::SubIOp::create(b, loc, sp.visE, sp.visB);
    sp.start = s.numSteps ? s.numSteps : cIdx(b, loc, 0);
    s.numSteps = s.spans.empty()
                     ? sp.count
                     : arith::AddIOp::create(b, loc, s.numSteps, sp.count)
                           .getResult();
    s.spans.push_back(sp);
  }
  return s;
}

Value KeySchedule::spanBlock(OpBuilder &b, Location loc, const Span &s,
                             Value t) const {
  return arith::AddIOp::create(b, loc, s.visB, t);
}

Value KeySchedule::bySpan(
    OpBuilder &b, Location loc, Value t,
    function_ref<Value(const Span &, Value)> perSpan) const {
  if (spans.size() == 1)
    return perSpan(spans[0], t);
  Value out;
  for (size_t r = spans.size(); r-- > 0;) {
    Value v = perSpan(spans[r], arith::SubIOp::create(b, loc, t, spans[r].start));
    out = out ? arith::SelectOp::create(
                    b, loc, ult(b, loc, t, spans[r + 1].start), v, out)
                    .getResult()
              : v;
  }
  return out;
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
  // A marked list has the mask applied already.
  if (!list.marked)
    s.ranges = rangesOf(b, loc, mask, tile);
  ListRow row = listRowOf(b, loc, list, tile);
  s.listHead = row.head;
  s.listRow = row.row;
  s.ratio = cIdx(b, loc, list.blockK / bk);
  s.numSteps = arith::MulIOp::create(b, loc, row.count, s.ratio);
  return s;
}

ListRow mlir::attn::listRowOf(OpBuilder &b, Location loc,
                              const BlockListOperands &list,
                              const QueryTile &tile) {
  // One list for every head (Hl = 1), one per query head (Hl = Hq), or one
  // per KV head shared by its query heads (Hl = Hkv); the runtime checks
  // that Hl is one of the three.
  Value hl = memref::DimOp::create(b, loc, list.indices, 1);
  Value c0 = cIdx(b, loc, 0), c1 = cIdx(b, loc, 1);
  Value shared = arith::CmpIOp::create(b, loc, arith::CmpIPredicate::eq, hl, c1);
  Value perQuery =
      arith::CmpIOp::create(b, loc, arith::CmpIPredicate::eq, hl, list.hq);
  ListRow r;
  r.head = arith::SelectOp::create(
      b, loc, shared, c0,
      arith::SelectOp::create(b, loc, perQuery, tile.h, tile.hkv));
  r.row = arith::DivUIOp::create(b, loc, tile.i0, cIdx(b, loc, list.blockQ));
  // A count outside [0, K] is clamped (the runtime reports it on the CPU).
  Value raw = memref::LoadOp::create(b, loc, list.counts,
                                     ValueRange{tile.b, r.head, r.row});
  Value cnt = arith::IndexCastOp::create(b, loc, b.getIndexType(), raw);
  Value k = memref::DimOp::create(b, loc, list.indices, 3);
  r.count = arith::MinSIOp::create(
      b, loc, arith::MaxSIOp::create(b, loc, cnt, c0), k);
  return r;
}

Value KeySchedule::loadIndex(OpBuilder &b, Location loc, Value slot) const {
  return loadListId(b, loc, list, ListRow{listHead, listRow, Value()}, tile.b,
                    slot);
}

Value mlir::attn::loadListId(OpBuilder &b, Location loc,
                             const BlockListOperands &list, const ListRow &row,
                             Value bi, Value slot) {
  Value raw = memref::LoadOp::create(b, loc, list.indices,
                                     ValueRange{bi, row.head, row.row, slot});
  return arith::IndexCastOp::create(b, loc, b.getIndexType(), raw);
}

KeySchedule::ListEntry KeySchedule::listEntry(OpBuilder &b, Location loc,
                                              Value slot) const {
  Value id = loadIndex(b, loc, slot), full;
  if (list.marked) {
    Value c0 = cIdx(b, loc, 0);
    full = arith::CmpIOp::create(b, loc, arith::CmpIPredicate::slt, id, c0);
    id = arith::SelectOp::create(
        b, loc, full,
        arith::SubIOp::create(b, loc, cIdx(b, loc, -1), id), id);
  }
  Value numListBlocks =
      arith::CeilDivUIOp::create(b, loc, tile.m, cIdx(b, loc, list.blockK));
  // Unsigned compare: a negative id is huge, so out of range too.
  Value bad = uge(b, loc, id, numListBlocks);
  Value clamped = arith::SelectOp::create(b, loc, bad, cIdx(b, loc, 0), id);
  return {id, clamped, bad, full};
}

Value KeySchedule::listKernelBlock(OpBuilder &b, Location loc,
                                   Value t) const {
  Value slot = arith::DivUIOp::create(b, loc, t, ratio);
  Value sub = arith::RemUIOp::create(b, loc, t, ratio);
  return arith::AddIOp::create(
      b, loc,
      arith::MulIOp::create(b, loc, listEntry(b, loc, slot).clamped, ratio),
      sub);
}

Value KeySchedule::block(OpBuilder &b, Location loc, Value t) const {
  if (!list.indices)
    return bySpan(b, loc, t, [&](const Span &s, Value local) {
      return spanBlock(b, loc, s, local);
    });
  Value kb = listKernelBlock(b, loc, t);
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

std::pair<Value, Value> KeySchedule::ruleOn(OpBuilder &b, Location loc,
                                            Value t) const {
  if (!tile.site.ruleBlock)
    return {};
  // masked() and skipped() of one step ask the same block: compute once.
  if (ruleMemo.step == t && ruleMemo.block == b.getInsertionBlock())
    return ruleMemo.result;
  Value cBK = cIdx(b, loc, bk);
  Value j0 = arith::MulIOp::create(b, loc, block(b, loc, t), cBK);
  Value j1 = arith::MinUIOp::create(
      b, loc, arith::AddIOp::create(b, loc, j0, cBK), tile.m);
  auto r = tile.site.ruleBlock(b, loc, tile.i0, tile.i1, j0, j1);
  ruleMemo = {t, b.getInsertionBlock(), r};
  return r;
}

Value KeySchedule::masked(OpBuilder &b, Location loc, Value t) const {
  if (list.indices && list.marked) {
    Value slot = arith::DivUIOp::create(b, loc, t, ratio);
    return arith::XOrIOp::create(b, loc, listEntry(b, loc, slot).full,
                                 arith::ConstantIntOp::create(b, loc, 1, 1));
  }
  Value m = maskedByRanges(b, loc, t);
  if (auto [canKeep, mustKeep] = ruleOn(b, loc, t); mustKeep)
    m = arith::OrIOp::create(
        b, loc, m,
        arith::XOrIOp::create(b, loc, mustKeep,
                              arith::ConstantIntOp::create(b, loc, 1, 1)));
  return m;
}

Value KeySchedule::skipped(OpBuilder &b, Location loc, Value t,
                           const LaneSplit *split) const {
  if (list.indices && list.marked) {
    if (!canSkip())
      return Value();
    // Only a kernel block past M inside the last (ragged) list block.
    Value j0 = arith::MulIOp::create(b, loc, listKernelBlock(b, loc, t),
                                     cIdx(b, loc, bk));
    return uge(b, loc, j0, tile.m);
  }
  Value s = skippedByList(b, loc, t, split);
  if (auto [canKeep, mustKeep] = ruleOn(b, loc, t); canKeep) {
    Value empty = arith::XOrIOp::create(
        b, loc, canKeep, arith::ConstantIntOp::create(b, loc, 1, 1));
    s = s ? arith::OrIOp::create(b, loc, s, empty).getResult() : empty;
  }
  return s;
}

Value KeySchedule::maskedByRanges(OpBuilder &b, Location loc, Value t) const {
  if (!list.indices)
    return bySpan(b, loc, t, [&](const Span &s, Value local) {
      Value kb = spanBlock(b, loc, s, local);
      return arith::OrIOp::create(b, loc, ult(b, loc, kb, s.fullB),
                                  uge(b, loc, kb, s.fullE));
    });
  Value j0 = arith::MulIOp::create(b, loc, block(b, loc, t), cIdx(b, loc, bk));
  Value j1 = arith::AddIOp::create(b, loc, j0, cIdx(b, loc, bk));
  return arith::XOrIOp::create(b, loc, inSomeFull(b, loc, j0, j1),
                               arith::ConstantIntOp::create(b, loc, 1, 1));
}

Value KeySchedule::inSomeFull(OpBuilder &b, Location loc, Value j0,
                              Value j1) const {
  return keysInSomeFull(b, loc, ranges, j0, j1);
}

Value KeySchedule::inSomeVisible(OpBuilder &b, Location loc, Value j0,
                                 Value j1) const {
  return keysInSomeVisible(b, loc, ranges, j0, j1);
}

Value mlir::attn::keysInSomeFull(OpBuilder &b, Location loc,
                                 ArrayRef<KeyRangeValues> ranges, Value j0,
                                 Value j1) {
  Value any;
  for (const KeyRangeValues &r : ranges) {
    Value in = arith::AndIOp::create(
        b, loc, uge(b, loc, j0, r.fullBegin),
        arith::CmpIOp::create(b, loc, arith::CmpIPredicate::ule, j1,
                              r.fullEnd));
    any = any ? arith::OrIOp::create(b, loc, any, in).getResult() : in;
  }
  return any;
}

Value mlir::attn::keysInSomeVisible(OpBuilder &b, Location loc,
                                    ArrayRef<KeyRangeValues> ranges, Value j0,
                                    Value j1) {
  Value any;
  for (const KeyRangeValues &r : ranges) {
    Value in = arith::AndIOp::create(
        b, loc,
        arith::CmpIOp::create(b, loc, arith::CmpIPredicate::ugt, j1,
                              r.visibleBegin),
        ult(b, loc, j0, r.visibleEnd));
    any = any ? arith::OrIOp::create(b, loc, any, in).getResult() : in;
  }
  return any;
}

Value KeySchedule::skippedByList(OpBuilder &b, Location loc, Value t,
                                 const LaneSplit *split) const {
  if (!list.indices) {
    if (spans.size() == 1)
      return Value();
    // A block an earlier span already visited: t is past that span, and
    // the block lies in its visible blocks.
    Value kb = block(b, loc, t), any;
    for (size_t r = 0; r + 1 < spans.size(); ++r) {
      Value seen = arith::AndIOp::create(
          b, loc, uge(b, loc, t, spans[r + 1].start),
          arith::AndIOp::create(b, loc, uge(b, loc, kb, spans[r].visB),
                                ult(b, loc, kb, spans[r].visE)));
      any = any ? arith::OrIOp::create(b, loc, any, seen).getResult() : seen;
    }
    return any;
  }
  Value slot = arith::DivUIOp::create(b, loc, t, ratio);
  Value sub = arith::RemUIOp::create(b, loc, t, ratio);
  ListEntry entry = listEntry(b, loc, slot);
  Value bad = entry.bad;
  Value cBK = cIdx(b, loc, bk);
  Value j0 = arith::MulIOp::create(
      b, loc,
      arith::AddIOp::create(
          b, loc, arith::MulIOp::create(b, loc, entry.clamped, ratio), sub),
      cBK);
  Value j1 = arith::AddIOp::create(b, loc, j0, cBK);
  // Past the keys (ragged tail of the last list block), or a block the
  // mask leaves empty for this tile.
  Value skip = arith::OrIOp::create(b, loc, bad, uge(b, loc, j0, tile.m));
  skip = arith::OrIOp::create(
      b, loc, skip,
      arith::XOrIOp::create(b, loc, inSomeVisible(b, loc, j0, j1),
                            arith::ConstantIntOp::create(b, loc, 1, 1)));
  // A duplicate id counts once: its first occurrence is visited.
  Value id = entry.raw;
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
