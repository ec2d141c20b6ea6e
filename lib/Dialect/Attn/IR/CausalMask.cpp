//===- CausalMask.cpp - #attn.causal: element and block rules -------------===//
//
// Bottom-right aligned causal mask: key j is visible to query i when
// j <= i + delta, delta = m - n. The C++ rules serve the reference and the
// tests; the IR rules drive the lowering. Both are written from the same
// formula and checked against each other by unittests/MaskRulesTest.cpp.
//
//===----------------------------------------------------------------------===//

#include "attnir/Dialect/Attn/IR/AttnOps.h"
#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Vector/IR/VectorOps.h"
#include <algorithm>

using namespace mlir;
using namespace mlir::attn;

attnir::RefMask CausalAttr::describe() const { return {"causal", {}, {}}; }

bool CausalAttr::keep(int64_t i, int64_t j, int64_t n, int64_t m) const {
  return attnir::rules::causal(i, j, n, m);
}

KeyRange CausalAttr::keyRange(int64_t i0, int64_t i1, int64_t n,
                              int64_t m) const {
  int64_t delta = m - n;
  auto clamp = [&](int64_t x) { return std::clamp<int64_t>(x, 0, m); };
  // The last row i1 - 1 sees keys up to i1 - 1 + delta; the first row i0
  // sees keys up to i0 + delta, so every row sees [0, i0 + delta].
  return {0, clamp(i1 + delta), 0, clamp(i0 + delta + 1)};
}

Value CausalAttr::buildKeep(OpBuilder &b, Location loc, Value i, Value j,
                            Value n, Value m) const {
  Value delta = arith::SubIOp::create(b, loc, m, n);
  if (auto vt = dyn_cast<VectorType>(i.getType()))
    delta = vector::BroadcastOp::create(b, loc, vt, delta);
  Value limit = arith::AddIOp::create(b, loc, i, delta);
  return arith::CmpIOp::create(b, loc, arith::CmpIPredicate::sle, j, limit);
}

KeyRangeValues CausalAttr::buildKeyRange(OpBuilder &b, Location loc, Value i0,
                                         Value i1, Value n, Value m) const {
  Value zero = arith::ConstantIndexOp::create(b, loc, 0);
  Value one = arith::ConstantIndexOp::create(b, loc, 1);
  Value delta = arith::SubIOp::create(b, loc, m, n);
  auto clamp = [&](Value x) {
    Value lo = arith::MaxSIOp::create(b, loc, x, zero);
    return arith::MinSIOp::create(b, loc, lo, m).getResult();
  };
  Value visibleEnd = clamp(arith::AddIOp::create(b, loc, i1, delta));
  Value fullEnd = clamp(arith::AddIOp::create(
      b, loc, arith::AddIOp::create(b, loc, i0, delta), one));
  return {zero, visibleEnd, zero, fullEnd};
}
