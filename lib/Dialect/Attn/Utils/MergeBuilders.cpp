//===- MergeBuilders.cpp - attn.merge's arithmetic, one row ---------------===//

#include "attnir/Dialect/Attn/Utils/MergeBuilders.h"
#include "attnir/Dialect/Attn/Utils/BuildHelpers.h"
#include "mlir/Dialect/Math/IR/Math.h"
#include "mlir/Dialect/Vector/IR/VectorOps.h"
#include <limits>

using namespace mlir;

attn::MergedRow attn::buildMergedRow(OpBuilder &b, Location loc,
                                     ArrayRef<Value> lses) {
  constexpr double inf = std::numeric_limits<double>::infinity();
  Value negInf = cF32(b, loc, -inf), zero = cF32(b, loc, 0.0);
  Value mx = negInf;
  for (Value l : lses)
    mx = arith::MaximumFOp::create(b, loc, mx, l);
  // No part kept a key: shift by 0, so every e^{-inf} is 0 and nothing is
  // NaN; the row is zeros with lse -inf.
  Value none = arith::CmpFOp::create(b, loc, arith::CmpFPredicate::OEQ, mx, negInf);
  Value shift = arith::SelectOp::create(b, loc, none, zero, mx);
  Value z = zero;
  for (Value l : lses)
    z = arith::AddFOp::create(
        b, loc, z, math::ExpOp::create(b, loc, arith::SubFOp::create(b, loc, l, shift)));
  MergedRow row;
  row.lse = arith::SelectOp::create(
      b, loc, none, negInf,
      arith::AddFOp::create(b, loc, shift, math::LogOp::create(b, loc, z)));
  Value at = arith::SelectOp::create(b, loc, none, zero, row.lse);
  for (Value l : lses)
    row.weights.push_back(
        math::ExpOp::create(b, loc, arith::SubFOp::create(b, loc, l, at)));
  return row;
}

attn::MergeTerm attn::buildMergeTerm(OpBuilder &b, Location loc, Value den) {
  return {math::LogOp::create(b, loc, den), divOrZero(b, loc, cF32(b, loc, 1.0), den)};
}

Value attn::buildTermOut(OpBuilder &b, Location loc, const MergeTerm &term,
                         Value num) {
  Value inv = term.inv;
  if (auto vt = dyn_cast<VectorType>(num.getType()))
    inv = vector::BroadcastOp::create(b, loc, vt, inv);
  return arith::MulFOp::create(b, loc, num, inv);
}

Value attn::buildMergedOut(OpBuilder &b, Location loc, const MergedRow &row,
                           ArrayRef<Value> outs) {
  // Scalars or vectors alike (the GPU merges 16 bytes of features a
  // thread, the weights broadcast).
  Value acc = arith::MulFOp::create(b, loc, row.weights[0], outs[0]);
  for (auto [w, o] : llvm::drop_begin(llvm::zip(row.weights, outs)))
    acc = math::FmaOp::create(b, loc, w, o, acc);
  return acc;
}
