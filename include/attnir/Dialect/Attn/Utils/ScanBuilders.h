//===- ScanBuilders.h - attn.scan's steps on buffers ------------*- C++ -*-===//
//
// What the CPU lowering (attn-lower-scan: vectors of w features per task)
// and the CUDA kernel (ScanKernel.cpp: a feature per thread) share: a
// token's leaf state read from the inputs, the combiner, a fold over a run
// of tokens (restarting at segment starts under segment(L)), and the
// results of a prefix written through the result region.
// Regions are inlined by the rule emitter (scalars, or vectors of w lanes
// with per-token values broadcast).
//
//===----------------------------------------------------------------------===//

#ifndef ATTNIR_DIALECT_ATTN_UTILS_SCANBUILDERS_H
#define ATTNIR_DIALECT_ATTN_UTILS_SCANBUILDERS_H

#include "attnir/Dialect/Attn/IR/AttnOps.h"
#include "mlir/IR/Builders.h"

namespace mlir::attn {

struct ScanSite {
  mutable ScanOp op;
  int64_t F = 1; // the scan's features
  int64_t w = 0; // lanes per value: 0 scalars, else vector<w x f32>
  int64_t segment = 0; // segment(L): L, else 0
  /// Input and result buffers (memrefs of the op's operand and result
  /// types).
  SmallVector<Value> xs, ys;

  ScanSite(ScanOp op, int64_t w, SmallVector<Value> xs, SmallVector<Value> ys);

  /// f32, or vector<w x f32>.
  Type valueType(OpBuilder &b) const;
  /// Input n at token t for features [f0, f0 + max(w, 1)), in f32 (a
  /// per-token input gives one scalar, broadcast by the regions).
  Value input(OpBuilder &b, Location l, unsigned n, Value bi, Value h, Value t,
              Value f0) const;
  /// Token t's state (the leaf region on its inputs, or the inputs).
  SmallVector<Value> leaf(OpBuilder &b, Location l, Value bi, Value h, Value t,
                          Value f0) const;
  /// a (+) c.
  SmallVector<Value> combine(OpBuilder &b, Location l, ValueRange a,
                             ValueRange c) const;
  /// The next prefix after `acc` at token t: acc (+) leaf, or the leaf
  /// alone where t starts a segment.
  SmallVector<Value> step(OpBuilder &b, Location l, ValueRange acc, Value bi,
                          Value h, Value t, Value f0) const;
  /// `acc` folded with the leaves of tokens [t0, t1), in order.
  SmallVector<Value> fold(OpBuilder &b, Location l, Value bi, Value h, Value t0,
                          Value t1, Value f0, ValueRange acc) const;
  /// The results of prefix state `acc` stored at token t.
  void write(OpBuilder &b, Location l, ValueRange acc, Value bi, Value h,
             Value t, Value f0) const;
  /// Like fold, writing every prefix.
  SmallVector<Value> scanWriting(OpBuilder &b, Location l, Value bi, Value h,
                                 Value t0, Value t1, Value f0,
                                 ValueRange acc) const;

private:
  SmallVector<Value> lanesOf(OpBuilder &b, Location l,
                             SmallVector<Value> vals) const;
};

} // namespace mlir::attn

#endif // ATTNIR_DIALECT_ATTN_UTILS_SCANBUILDERS_H
