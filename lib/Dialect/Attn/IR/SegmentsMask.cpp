//===- SegmentsMask.cpp - #attn.segments: same document ------------------===//
//
// keep(b, i, j) = q_doc[b, i] == k_doc[b, j]. With non-decreasing ids (packed
// documents) the keys of the documents of query rows [i0, i1) are one
// interval: [first j with k_doc >= q_doc[i0], first j with k_doc >
// q_doc[i1 - 1]); when the tile lies in one document that interval is kept
// by every row. Both ends are binary searches over k_doc[b, :], in C++ and
// as an scf.while.
//
// Without operands (the plain rules: flop counts of a spec with no data,
// the rule tests) segments keeps everything, as one document would.
//
//===----------------------------------------------------------------------===//

#include "MaskIR.h"
#include "attnir/Dialect/Attn/IR/AttnOps.h"
#include "mlir/Dialect/SCF/IR/SCF.h"

using namespace mlir;
using namespace mlir::attn;

bool SegmentsAttr::readsOperands() const { return true; }

attnir::RefMask SegmentsAttr::describe() const {
  return {"segments", {}, {}};
}

bool SegmentsAttr::keep(int64_t, int64_t, int64_t, int64_t) const {
  return true;
}

KeyRange SegmentsAttr::keyRange(int64_t, int64_t, int64_t, int64_t m) const {
  return {0, m, 0, 0};
}

Value SegmentsAttr::buildKeep(OpBuilder &b, Location loc, Value i, Value,
                              Value, Value) const {
  return maskir::keepAll(b, loc, i);
}

KeyRangeValues SegmentsAttr::buildKeyRange(OpBuilder &b, Location loc, Value,
                                           Value, Value, Value m) const {
  return maskir::allVisible(b, loc, m);
}

bool SegmentsAttr::keepAt(const MaskSite &site, int64_t i, int64_t j) const {
  return attnir::rules::segments(site, i, j);
}

namespace {
/// First j in [0, m) with k_doc[j] > id (strict) or >= id.
int64_t searchKeys(const MaskSite &site, int64_t id, bool strict) {
  int64_t lo = 0, hi = site.m;
  while (lo < hi) {
    int64_t mid = lo + (hi - lo) / 2;
    int64_t x = site.operand("k_doc", mid);
    if (strict ? x <= id : x < id)
      lo = mid + 1;
    else
      hi = mid;
  }
  return lo;
}

Value searchKeys(OpBuilder &b, Location loc, const MaskSiteValues &site,
                 Value id, bool strict) {
  maskir::Arith a{b, loc, site.m.getType()};
  auto loop = scf::WhileOp::create(
      b, loc, TypeRange{site.m.getType(), site.m.getType()},
      ValueRange{a.c(0), site.m},
      [&](OpBuilder &cb, Location cl, ValueRange r) {
        Value more = arith::CmpIOp::create(cb, cl, arith::CmpIPredicate::slt,
                                           r[0], r[1]);
        scf::ConditionOp::create(cb, cl, more, r);
      },
      [&](OpBuilder &bb, Location bl, ValueRange r) {
        maskir::Arith x{bb, bl, r[0].getType()};
        Value mid = x.add(r[0], x.div(x.sub(r[1], r[0]), x.c(2)));
        Value doc = site.load(bb, bl, "k_doc", mid);
        Value right = arith::CmpIOp::create(
            bb, bl,
            strict ? arith::CmpIPredicate::sle : arith::CmpIPredicate::slt,
            doc, id);
        scf::YieldOp::create(
            bb, bl,
            ValueRange{x.select(right, x.add(mid, x.c(1)), r[0]),
                       x.select(right, r[1], mid)});
      });
  return loop.getResult(0);
}
} // namespace

SmallVector<KeyRange> SegmentsAttr::keyRangesAt(const MaskSite &site,
                                                int64_t i0, int64_t i1) const {
  if (!site.operand)
    return {keyRange(i0, i1, site.n, site.m)};
  int64_t first = site.operand("q_doc", i0),
          last = site.operand("q_doc", i1 - 1);
  int64_t lo = searchKeys(site, first, false),
          hi = searchKeys(site, last, true);
  return {{lo, hi, first == last ? lo : 0, first == last ? hi : 0}};
}

Value SegmentsAttr::buildKeepAt(OpBuilder &b, Location loc,
                                const MaskSiteValues &site, Value i, Value j,
                                Value n, Value m) const {
  if (!site.load)
    return buildKeep(b, loc, i, j, n, m);
  return arith::CmpIOp::create(b, loc, arith::CmpIPredicate::eq,
                               site.load(b, loc, "q_doc", i),
                               site.load(b, loc, "k_doc", j));
}

SmallVector<KeyRangeValues>
SegmentsAttr::buildKeyRangesAt(OpBuilder &b, Location loc,
                               const MaskSiteValues &site, Value i0,
                               Value i1) const {
  if (!site.load)
    return {buildKeyRange(b, loc, i0, i1, site.n, site.m)};
  maskir::Arith a{b, loc, site.m.getType()};
  Value first = site.load(b, loc, "q_doc", i0);
  Value last = site.load(b, loc, "q_doc", a.sub(i1, a.c(1)));
  Value lo = searchKeys(b, loc, site, first, false);
  Value hi = searchKeys(b, loc, site, last, true);
  Value one = arith::CmpIOp::create(b, loc, arith::CmpIPredicate::eq, first,
                                    last);
  return {{lo, hi, a.select(one, lo, a.c(0)), a.select(one, hi, a.c(0))}};
}
