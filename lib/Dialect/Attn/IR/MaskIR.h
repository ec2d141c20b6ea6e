//===- MaskIR.h - small IR helpers for mask rules -------------*- C++ -*-===//
//
// Index arithmetic for block rules (clamped to [0, m)) and i64 arithmetic
// on scalars or vectors for element rules, so that each mask's IR rule reads
// like its C++ rule.
//
//===----------------------------------------------------------------------===//

#ifndef ATTNIR_LIB_DIALECT_ATTN_IR_MASKIR_H
#define ATTNIR_LIB_DIALECT_ATTN_IR_MASKIR_H

#include "attnir/Dialect/Attn/IR/AttnBase.h"
#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Vector/IR/VectorOps.h"
#include "mlir/IR/Builders.h"
#include "mlir/IR/TypeUtilities.h"
#include <algorithm>
#include <cstdint>

namespace mlir::attn::maskir {

/// Largest mask parameter: keeps every rule clear of int64 overflow.
constexpr int64_t kMaxParam = int64_t(1) << 40;

/// Builds arithmetic on values of one type (index for block rules; i64
/// scalars or vectors for element rules, constants splatted to match).
struct Arith {
  OpBuilder &b;
  Location loc;
  Type type;

  Value c(int64_t v) const {
    Type elt = getElementTypeOrSelf(type);
    Value s = elt.isIndex() ? arith::ConstantIndexOp::create(b, loc, v)
                                  .getResult()
                            : arith::ConstantIntOp::create(b, loc, elt, v)
                                  .getResult();
    return splat(s);
  }
  /// A scalar (n, m) brought to this type.
  Value splat(Value s) const {
    if (auto vt = dyn_cast<VectorType>(type))
      if (!isa<VectorType>(s.getType()))
        return vector::BroadcastOp::create(b, loc, vt, s);
    return s;
  }
  Value add(Value x, Value y) const { return arith::AddIOp::create(b, loc, x, y); }
  Value sub(Value x, Value y) const { return arith::SubIOp::create(b, loc, x, y); }
  Value mul(Value x, Value y) const { return arith::MulIOp::create(b, loc, x, y); }
  Value div(Value x, Value y) const { return arith::DivSIOp::create(b, loc, x, y); }
  Value rem(Value x, Value y) const { return arith::RemSIOp::create(b, loc, x, y); }
  Value min(Value x, Value y) const { return arith::MinSIOp::create(b, loc, x, y); }
  Value max(Value x, Value y) const { return arith::MaxSIOp::create(b, loc, x, y); }
  Value cmp(arith::CmpIPredicate p, Value x, Value y) const {
    return arith::CmpIOp::create(b, loc, p, x, y);
  }
  Value lt(Value x, Value y) const { return cmp(arith::CmpIPredicate::slt, x, y); }
  Value le(Value x, Value y) const { return cmp(arith::CmpIPredicate::sle, x, y); }
  Value eq(Value x, Value y) const { return cmp(arith::CmpIPredicate::eq, x, y); }
  Value both(Value x, Value y) const { return arith::AndIOp::create(b, loc, x, y); }
  Value either(Value x, Value y) const { return arith::OrIOp::create(b, loc, x, y); }
  Value select(Value c, Value x, Value y) const {
    return arith::SelectOp::create(b, loc, c, x, y);
  }
  /// x clamped to [0, m].
  Value clamp(Value x, Value m) const { return min(max(x, c(0)), m); }
};

inline int64_t clampTo(int64_t x, int64_t m) { return std::clamp<int64_t>(x, 0, m); }

/// The rules of a mask that keeps every pair (one document without ids, a
/// region the block rule cannot see into): true of `i`'s shape, and every
/// key visible, none proved full.
inline Value keepAll(OpBuilder &b, Location loc, Value i) {
  Arith a{b, loc, i.getType()};
  return a.eq(i, i);
}
inline KeyRangeValues allVisible(OpBuilder &b, Location loc, Value m) {
  Arith a{b, loc, m.getType()};
  return {a.c(0), m, a.c(0), a.c(0)};
}

} // namespace mlir::attn::maskir

#endif // ATTNIR_LIB_DIALECT_ATTN_IR_MASKIR_H
