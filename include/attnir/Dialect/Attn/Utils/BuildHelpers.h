//===- BuildHelpers.h - small IR-building helpers the lowerings share -*- C++ -*-===//

#ifndef ATTNIR_DIALECT_ATTN_UTILS_BUILDHELPERS_H
#define ATTNIR_DIALECT_ATTN_UTILS_BUILDHELPERS_H

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Bufferization/IR/Bufferization.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/IR/Builders.h"

namespace mlir::attn {

inline Value cIdx(OpBuilder &b, Location loc, int64_t v) {
  return arith::ConstantIndexOp::create(b, loc, v);
}

/// x + k on indices (x itself when k is 0).
inline Value plusIdx(OpBuilder &b, Location loc, Value x, int64_t k) {
  return k == 0 ? x
                : arith::AddIOp::create(b, loc, x, cIdx(b, loc, k)).getResult();
}

inline Value cF32(OpBuilder &b, Location loc, double v) {
  return arith::ConstantOp::create(b, loc,
                                   b.getF32FloatAttr(static_cast<float>(v)));
}

/// `x` widened to f32 (bf16 / f16 loads); f32 as it is.
inline Value toF32(OpBuilder &b, Location loc, Value x) {
  if (x.getType().isF32())
    return x;
  return arith::ExtFOp::create(b, loc, b.getF32Type(), x);
}

/// x / den, and 0 where den is 0 (f32 scalars): attn.linear's normalised
/// output, whose normaliser is 0 where no key has weight yet.
inline Value divOrZero(OpBuilder &b, Location loc, Value x, Value den) {
  Value zero = cF32(b, loc, 0.0);
  Value nz = arith::CmpFOp::create(b, loc, arith::CmpFPredicate::UNE, den, zero);
  return arith::SelectOp::create(b, loc, nz, arith::DivFOp::create(b, loc, x, den), zero);
}

/// f32 `x` rounded to `elt` (bf16 / f16 stores); f32 as it is.
inline Value fromF32(OpBuilder &b, Location loc, Value x, Type elt) {
  if (elt == x.getType())
    return x;
  return arith::TruncFOp::create(b, loc, elt, x);
}

inline Value dimOf(OpBuilder &b, Location loc, Value buffer, int64_t d) {
  return memref::DimOp::create(b, loc, buffer, d);
}

/// Linear index `id` as row-major indices over (unbounded, extents...):
/// the last extent varies fastest; the first index is what is left (the
/// caller bounds it).
inline SmallVector<Value> unflattenIndex(OpBuilder &b, Location loc, Value id,
                                         ArrayRef<Value> extents) {
  SmallVector<Value> at(extents.size() + 1);
  for (int64_t d = static_cast<int64_t>(extents.size()) - 1; d >= 0; --d) {
    at[d + 1] = arith::RemUIOp::create(b, loc, id, extents[d]);
    id = arith::DivUIOp::create(b, loc, id, extents[d]);
  }
  at[0] = id;
  return at;
}

/// A read-only buffer view of tensor `t` (the lowerings read operands
/// through it; bufferization folds it away).
inline Value readBuffer(OpBuilder &b, Location loc, Value t) {
  auto ty = cast<RankedTensorType>(t.getType());
  return bufferization::ToBufferOp::create(
             b, loc, MemRefType::get(ty.getShape(), ty.getElementType()), t,
             /*read_only=*/true)
      .getResult();
}

/// The dynamic sizes of an alloc of `type` whose dims are `dims` (the
/// static ones may be null).
inline SmallVector<Value> dynamicSizes(MemRefType type, ArrayRef<Value> dims) {
  SmallVector<Value> out;
  for (auto [i, d] : llvm::enumerate(type.getShape()))
    if (ShapedType::isDynamic(d))
      out.push_back(dims[i]);
  return out;
}

/// The packing loops' tasks, one per (batch, KV head, key block): an
/// scf.parallel over [0, B) x [0, Hkv) x [0, numBlocks), the insertion point
/// moved into its body (the caller holds an InsertionGuard); returns the
/// three indices. With `head` ((b, hkv) of one KV head), a serial loop over
/// that head's blocks instead (attn-tile's task per KV head packs its own
/// head, then runs its tiles).
inline SmallVector<Value, 3> openKeyBlockTasks(OpBuilder &b, Location loc,
                                               Value B, Value Hkv,
                                               Value numBlocks,
                                               ValueRange head = {}) {
  Value c0 = cIdx(b, loc, 0), c1 = cIdx(b, loc, 1);
  if (!head.empty()) {
    auto loop = scf::ForOp::create(b, loc, c0, numBlocks, c1);
    b.setInsertionPoint(loop.getBody()->getTerminator());
    return {head[0], head[1], loop.getInductionVar()};
  }
  auto par = scf::ParallelOp::create(b, loc, ValueRange{c0, c0, c0},
                                     ValueRange{B, Hkv, numBlocks},
                                     ValueRange{c1, c1, c1});
  b.setInsertionPointToStart(par.getBody());
  return SmallVector<Value, 3>(par.getInductionVars());
}

/// Task `task` of `n` runs row 0, n - 1, 1, n - 2, ... of a parallel
/// loop: under a causal or prefix schedule later rows cost more, and
/// OpenMP's static schedule gives each thread one contiguous range of
/// tasks, so one thread got the short rows and idled (attn-tile, B = H = 1,
/// N = 8192: 2 threads 1.36x one thread). Folded, every range pairs short
/// rows with long ones (1.9-2x).
inline Value foldedTask(OpBuilder &b, Location l, Value task, Value n) {
  Value c1 = cIdx(b, l, 1);
  Value half = arith::ShRUIOp::create(b, l, task, c1);
  Value odd = arith::CmpIOp::create(
      b, l, arith::CmpIPredicate::ne, arith::AndIOp::create(b, l, task, c1),
      cIdx(b, l, 0));
  Value fromEnd =
      arith::SubIOp::create(b, l, arith::SubIOp::create(b, l, n, c1), half);
  return arith::SelectOp::create(b, l, odd, fromEnd, half);
}

/// Key j of a packing task: the row read (clamped to M - 1: M >= 1
/// whenever a key block exists) and whether it is a key at all (j < M).
struct KeyRow {
  Value row, keep;
};
inline KeyRow keyRowOf(OpBuilder &b, Location loc, Value j, Value M) {
  Value keep = arith::CmpIOp::create(b, loc, arith::CmpIPredicate::ult, j, M);
  Value last = arith::SubIOp::create(b, loc, M, cIdx(b, loc, 1));
  return {arith::MinUIOp::create(b, loc, j, last), keep};
}

/// A loop over [lo, hi) whose body yields nothing.
inline void forEach(OpBuilder &b, Location loc, Value lo, Value hi,
                    function_ref<void(OpBuilder &, Location, Value)> body,
                    int64_t step = 1) {
  scf::ForOp::create(b, loc, lo, hi, cIdx(b, loc, step), ValueRange{},
                     [&](OpBuilder &fb, Location l, Value i, ValueRange) {
                       body(fb, l, i);
                       scf::YieldOp::create(fb, l);
                     });
}

} // namespace mlir::attn

#endif // ATTNIR_DIALECT_ATTN_UTILS_BUILDHELPERS_H
