//===- WindowMask.cpp - #attn.window<left, right>: a band of keys ---------===//
//
// Key j is visible to query i when i + delta - left <= j <= i + delta + right,
// delta = m - n. The block rule is exact: for query rows [i0, i1) the visible
// keys are [i0 + delta - left, i1 - 1 + delta + right], the keys every row
// sees are [i1 - 1 + delta - left, i0 + delta + right], both clamped to
// [0, m). Unlike causal, the visible range does not start at 0, so the key
// loop of a tile starts past the blocks the band has left behind.
//
//===----------------------------------------------------------------------===//

#include "MaskIR.h"
#include "attnir/Dialect/Attn/IR/AttnOps.h"
#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Vector/IR/VectorOps.h"
#include <algorithm>

using namespace mlir;
using namespace mlir::attn;

LogicalResult WindowAttr::verify(function_ref<InFlightDiagnostic()> emitError,
                                 int64_t left, int64_t right) {
  if (left < 0 || right < 0)
    return emitError() << "#attn.window sizes must be non-negative, got <"
                       << left << ", " << right << ">";
  // Bounded like every mask parameter, so that no rule overflows int64
  // (window<0, 2^63 - 1> once masked every key).
  if (left > maskir::kMaxParam || right > maskir::kMaxParam)
    return emitError() << "#attn.window sizes must be at most 2^40, got <"
                       << left << ", " << right << ">";
  return success();
}

attnir::RefMask WindowAttr::describe() const {
  return {"window", {getLeft(), getRight()}, {}};
}

bool WindowAttr::keep(int64_t i, int64_t j, int64_t n, int64_t m) const {
  return attnir::rules::window(getLeft(), getRight(), i, j, n, m);
}

KeyRange WindowAttr::keyRange(int64_t i0, int64_t i1, int64_t n,
                              int64_t m) const {
  int64_t delta = m - n;
  auto clamp = [&](int64_t x) { return std::clamp<int64_t>(x, 0, m); };
  return {clamp(i0 + delta - getLeft()), clamp(i1 + delta + getRight()),
          clamp(i1 - 1 + delta - getLeft()),
          clamp(i0 + delta + getRight() + 1)};
}

Value WindowAttr::buildKeep(OpBuilder &b, Location loc, Value i, Value j,
                            Value n, Value m) const {
  Type t = i.getType();
  auto splat = [&](Value x) -> Value {
    if (auto vt = dyn_cast<VectorType>(t))
      return vector::BroadcastOp::create(b, loc, vt, x);
    return x;
  };
  auto cst = [&](int64_t x) {
    return splat(arith::ConstantIntOp::create(b, loc, b.getI64Type(), x));
  };
  Value center = arith::AddIOp::create(
      b, loc, i, splat(arith::SubIOp::create(b, loc, m, n)));
  Value lo = arith::SubIOp::create(b, loc, center, cst(getLeft()));
  Value hi = arith::AddIOp::create(b, loc, center, cst(getRight()));
  Value geLo =
      arith::CmpIOp::create(b, loc, arith::CmpIPredicate::sge, j, lo);
  Value leHi =
      arith::CmpIOp::create(b, loc, arith::CmpIPredicate::sle, j, hi);
  return arith::AndIOp::create(b, loc, geLo, leHi);
}

KeyRangeValues WindowAttr::buildKeyRange(OpBuilder &b, Location loc, Value i0,
                                         Value i1, Value n, Value m) const {
  Value zero = arith::ConstantIndexOp::create(b, loc, 0);
  Value one = arith::ConstantIndexOp::create(b, loc, 1);
  Value left = arith::ConstantIndexOp::create(b, loc, getLeft());
  Value right = arith::ConstantIndexOp::create(b, loc, getRight());
  Value delta = arith::SubIOp::create(b, loc, m, n);
  auto clamp = [&](Value x) {
    Value lo = arith::MaxSIOp::create(b, loc, x, zero);
    return arith::MinSIOp::create(b, loc, lo, m).getResult();
  };
  Value first = arith::AddIOp::create(b, loc, i0, delta);
  Value last = arith::AddIOp::create(
      b, loc, arith::SubIOp::create(b, loc, i1, one), delta);
  return {clamp(arith::SubIOp::create(b, loc, first, left)),
          clamp(arith::AddIOp::create(
              b, loc, arith::AddIOp::create(b, loc, last, right), one)),
          clamp(arith::SubIOp::create(b, loc, last, left)),
          clamp(arith::AddIOp::create(
              b, loc, arith::AddIOp::create(b, loc, first, right), one))};
}
