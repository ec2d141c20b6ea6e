//===- ScanBuilders.cpp - attn.scan's steps on buffers --------------------===//

#include "attnir/Dialect/Attn/Utils/ScanBuilders.h"
#include "attnir/Dialect/Attn/Utils/BuildHelpers.h"
#include "attnir/Dialect/Attn/Utils/RuleEmitter.h"
#include "mlir/Dialect/Vector/IR/VectorOps.h"

using namespace mlir;
using namespace mlir::attn;

ScanSite::ScanSite(ScanOp op, int64_t w, SmallVector<Value> xs,
                   SmallVector<Value> ys)
    : op(op), F(op.getNumFeatures()), w(w),
      segment(op.getSegment() ? static_cast<int64_t>(*op.getSegment()) : 0),
      xs(std::move(xs)), ys(std::move(ys)) {}

Type ScanSite::valueType(OpBuilder &b) const {
  return w ? Type(VectorType::get({w}, b.getF32Type())) : b.getF32Type();
}

Value ScanSite::input(OpBuilder &b, Location l, unsigned n, Value bi, Value h,
                      Value t, Value f0) const {
  auto mt = cast<MemRefType>(xs[n].getType());
  Type elt = mt.getElementType();
  bool perFeature = mt.getRank() == 4 && mt.getDimSize(3) == F && F > 1;
  SmallVector<Value> at{bi, h, t};
  if (mt.getRank() == 4)
    at.push_back(perFeature ? f0 : cIdx(b, l, 0));
  if (!perFeature || !w)
    return toF32(b, l, memref::LoadOp::create(b, l, xs[n], at));
  Value v = vector::LoadOp::create(b, l, VectorType::get({w}, elt), xs[n], at);
  if (!elt.isF32())
    v = arith::ExtFOp::create(b, l, valueType(b), v);
  return v;
}

SmallVector<Value> ScanSite::lanesOf(OpBuilder &b, Location l,
                                     SmallVector<Value> vals) const {
  if (w)
    for (Value &v : vals)
      if (!isa<VectorType>(v.getType()))
        v = vector::BroadcastOp::create(b, l, valueType(b), v);
  return vals;
}

SmallVector<Value> ScanSite::leaf(OpBuilder &b, Location l, Value bi, Value h,
                                  Value t, Value f0) const {
  SmallVector<Value> in;
  for (unsigned n = 0; n < xs.size(); ++n)
    in.push_back(input(b, l, n, bi, h, t, f0));
  if (op.getLeaf().empty())
    return lanesOf(b, l, in);
  if (segment) // the position in the segment
    in.push_back(arith::RemUIOp::create(b, l, t, cIdx(b, l, segment)));
  return lanesOf(b, l, emitRegion(b, l, op.getLeaf(), in, RuleOperands(), w));
}

SmallVector<Value> ScanSite::combine(OpBuilder &b, Location l, ValueRange a,
                                     ValueRange c) const {
  SmallVector<Value> args(a);
  llvm::append_range(args, c);
  return lanesOf(b, l,
                 emitRegion(b, l, op.getCombine(), args, RuleOperands(), w));
}

SmallVector<Value> ScanSite::step(OpBuilder &b, Location l, ValueRange acc,
                                  Value bi, Value h, Value t, Value f0) const {
  SmallVector<Value> leaves = leaf(b, l, bi, h, t, f0);
  SmallVector<Value> next = combine(b, l, acc, leaves);
  if (!segment)
    return next;
  Value starts = arith::CmpIOp::create(
      b, l, arith::CmpIPredicate::eq,
      arith::RemUIOp::create(b, l, t, cIdx(b, l, segment)), cIdx(b, l, 0));
  for (auto [n, x] : llvm::zip(next, leaves))
    n = arith::SelectOp::create(b, l, starts, x, n);
  return next;
}

SmallVector<Value> ScanSite::fold(OpBuilder &b, Location l, Value bi, Value h,
                                  Value t0, Value t1, Value f0,
                                  ValueRange acc) const {
  auto loop = scf::ForOp::create(
      b, l, t0, t1, cIdx(b, l, 1), acc,
      [&](OpBuilder &fb, Location fl, Value t, ValueRange cur) {
        scf::YieldOp::create(fb, fl, step(fb, fl, cur, bi, h, t, f0));
      });
  return SmallVector<Value>(loop.getResults());
}

SmallVector<Value> ScanSite::scanWriting(OpBuilder &b, Location l, Value bi,
                                         Value h, Value t0, Value t1, Value f0,
                                         ValueRange acc) const {
  auto loop = scf::ForOp::create(
      b, l, t0, t1, cIdx(b, l, 1), acc,
      [&](OpBuilder &fb, Location fl, Value t, ValueRange cur) {
        SmallVector<Value> next = step(fb, fl, cur, bi, h, t, f0);
        write(fb, fl, next, bi, h, t, f0);
        scf::YieldOp::create(fb, fl, next);
      });
  return SmallVector<Value>(loop.getResults());
}

void ScanSite::write(OpBuilder &b, Location l, ValueRange acc, Value bi,
                     Value h, Value t, Value f0) const {
  SmallVector<Value> vals =
      op.getFinalize().empty()
          ? SmallVector<Value>(acc)
          : emitRegion(b, l, op.getFinalize(), acc, RuleOperands(), w);
  vals = lanesOf(b, l, vals);
  for (auto [v, y] : llvm::zip(vals, ys)) {
    auto mt = cast<MemRefType>(y.getType());
    Type elt = mt.getElementType();
    SmallVector<Value> at{bi, h, t};
    if (mt.getRank() == 4)
      at.push_back(f0);
    if (!w) {
      memref::StoreOp::create(b, l, fromF32(b, l, v, elt), y, at);
      continue;
    }
    Value o = elt.isF32()
                  ? v
                  : arith::TruncFOp::create(b, l, VectorType::get({w}, elt), v);
    vector::StoreOp::create(b, l, o, y, at);
  }
}
