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

/// Lane t of the result is combine over the lanes of vs[t] (n vectors of n
/// lanes, n a power of two): log2 n rounds, each combining the even and
/// odd lanes of neighbouring vectors' concatenation, which halves the
/// vectors and keeps every vector's partial results in adjacent lanes
/// (3 (n - 1) instructions for n reductions, where one reduction per
/// vector takes about 2 log2 n, in a chain).
inline Value reduceAcross(OpBuilder &b, Location l, ArrayRef<Value> vs,
                          function_ref<Value(Value, Value)> combine) {
  int64_t n = vs.size();
  SmallVector<int64_t> evens, odds;
  for (int64_t x = 0; x < n; ++x) {
    evens.push_back(2 * x);
    odds.push_back(2 * x + 1);
  }
  SmallVector<Value> cur(vs.begin(), vs.end());
  while (cur.size() > 1) {
    SmallVector<Value> next;
    for (size_t i = 0; i < cur.size(); i += 2)
      next.push_back(
          combine(vector::ShuffleOp::create(b, l, cur[i], cur[i + 1], evens),
                  vector::ShuffleOp::create(b, l, cur[i], cur[i + 1], odds)));
    cur = std::move(next);
  }
  return cur.front();
}

} // namespace mlir::attn

#endif // ATTNIR_DIALECT_ATTN_UTILS_VECTORHELPERS_H
