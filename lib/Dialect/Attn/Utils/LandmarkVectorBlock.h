//===- LandmarkVectorBlock.h - attn.landmark's blocks on vectors -*- C++ -*-===//
//
// The CPU's vector form of one landmark row's work: the dots of q_i with
// keys and landmarks, and a block of keys' softmax state (max, sum of
// exp(s - max), sum of p v) computed on vectors of `lanes` f32. The scalar
// row took a dot one feature at a time and an exp per key per row (0.36 of
// causal attention's time at N = 32768); this form keeps q_i in registers,
// exponentiates a block's scores on vectors and accumulates P V in vector
// registers.
//
//===----------------------------------------------------------------------===//

#ifndef ATTNIR_LIB_DIALECT_ATTN_UTILS_LANDMARKVECTORBLOCK_H
#define ATTNIR_LIB_DIALECT_ATTN_UTILS_LANDMARKVECTORBLOCK_H

#include "attnir/Dialect/Attn/Utils/LandmarkBuilders.h"

namespace mlir::attn::landmark {

/// Keys [j0, j0 + n) folded for one query row: the row's max logit over
/// them, sum of exp(s - m), and sum of exp(s - m) v_j as Dv / lanes vectors.
struct BlockState {
  Value m, z;
  SmallVector<Value> acc;
};

class VectorRow {
public:
  /// Row (bi, h, i) reading KV head g; q_i scaled once, kept as vectors.
  VectorRow(OpBuilder &b, Location loc, const LandmarkRow &row, Value bi,
            Value h, Value g, Value i);

  /// scale q_i . x[bi, g, r] for x = k or landmarks.
  Value dot(OpBuilder &b, Location l, Value buf, Value r) const;

  /// Keys [j0, j0 + n), 1 <= n <= block, through row.scores: one piece
  /// when the block has at most kLandmarkPieceKeys keys, else pieces of
  /// that many folded by an online softmax (a piece's chunks are unrolled).
  BlockState block(OpBuilder &b, Location l, Value j0, Value n) const;

  /// Logits [count, roundup(count, lanes)) of `logits` (f32 scratch of at
  /// least that size) set to NaN, so that whole chunks can be read.
  void padLogits(OpBuilder &b, Location l, Value logits, Value count) const;

  /// The best logit of logits [0, count) in the order (logit descending,
  /// block ascending), NaN never taken: per lane over the chunks, then
  /// across lanes. Returns (logit, block); (-inf, 0) when all are NaN (the
  /// scalar pass's result). Needs padLogits.
  std::pair<Value, Value> bestLogit(OpBuilder &b, Location l, Value logits,
                                    Value count) const;

  /// The f32 [Dv] buffer `buf` as vectors, and back.
  SmallVector<Value> load(OpBuilder &b, Location l, Value buf) const;
  void store(OpBuilder &b, Location l, ArrayRef<Value> acc, Value buf) const;

private:
  /// Keys [j0, j0 + n), 1 <= n <= chunks * lanes, the chunks unrolled.
  BlockState piece(OpBuilder &b, Location l, Value j0, Value n) const;
  Value loadVec(OpBuilder &b, Location l, Value buf, ValueRange at) const;

  const LandmarkRow &row;
  Value bi, g;
  int64_t lanes, dVecs, dvVecs, chunks;
  VectorType vt;
  SmallVector<Value> q; ///< scale q_i, dVecs vectors
};

} // namespace mlir::attn::landmark

#endif
