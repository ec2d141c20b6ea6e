//===- VectorHelpers.h - small vector-building helpers the CPU bodies share -*- C++ -*-===//

#ifndef ATTNIR_DIALECT_ATTN_UTILS_VECTORHELPERS_H
#define ATTNIR_DIALECT_ATTN_UTILS_VECTORHELPERS_H

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Vector/IR/VectorOps.h"
#include "mlir/IR/Builders.h"

namespace mlir::attn {

/// The i32 vector (start, start + 1, ..., start + lanes - 1).
inline Value iotaI32(OpBuilder &b, Location l, int64_t lanes, int64_t start) {
  auto it = VectorType::get({lanes}, b.getI32Type());
  SmallVector<int32_t> ids(lanes);
  for (int64_t x = 0; x < lanes; ++x)
    ids[x] = static_cast<int32_t>(start + x);
  return arith::ConstantOp::create(b, l, DenseElementsAttr::get(it, ArrayRef<int32_t>(ids)));
}

/// Which of the positions start .. start + lanes - 1 are below n (an
/// index): an i1 vector, by one unsigned i32 compare.
inline Value lanesBelow(OpBuilder &b, Location l, int64_t start, int64_t lanes, Value n) {
  auto it = VectorType::get({lanes}, b.getI32Type());
  Value n32 = arith::IndexCastOp::create(b, l, b.getI32Type(), n);
  return arith::CmpIOp::create(b, l, arith::CmpIPredicate::ult, iotaI32(b, l, lanes, start),
                               vector::BroadcastOp::create(b, l, it, n32));
}

} // namespace mlir::attn

#endif // ATTNIR_DIALECT_ATTN_UTILS_VECTORHELPERS_H
