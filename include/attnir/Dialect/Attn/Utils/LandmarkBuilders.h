//===- LandmarkBuilders.h - attn.landmark, one query row --------*- C++ -*-===//
//
// Landmark Attention's grouped softmax with top-k retrieval for one query
// row, on buffers (the CPU lowering's task body; AttnRouteOps.td has the
// definition, lib/Reference/LandmarkReference.cpp the float64 reference).
//
//===----------------------------------------------------------------------===//

#ifndef ATTNIR_DIALECT_ATTN_UTILS_LANDMARKBUILDERS_H
#define ATTNIR_DIALECT_ATTN_UTILS_LANDMARKBUILDERS_H

#include "attnir/Dialect/Attn/IR/AttnOps.h"
#include "mlir/IR/Builders.h"
#include <algorithm>

namespace mlir::attn {

struct LandmarkRow {
  /// Buffers: q, k, v, landmarks, out [B, Hq, N, Dv], lse [B, Hq, N].
  Value q, k, v, landmarks, out, lse;
  /// Scratch: `logits` f32 [>= ceil(N / l)] (may be null: the logits are
  /// then recomputed per top-k pass, as on the GPU), `acc` and `unit` f32
  /// [Dv].
  Value logits, acc, unit;
  int64_t block = 1, topk = -1;
  double scale = 1.0;
  /// f32 lanes of the vector form (8 or 16; 0: scalar loops): each block's
  /// scores, softmax and P V on vectors (LandmarkVectorBlock.cpp). Taken
  /// where landmarkRowVectorizes; needs `scores`.
  int64_t lanes = 0;
  /// Vector form scratch: f32 [landmarkScoresSize(block, lanes)], a piece
  /// of a block's scores and then its probabilities.
  Value scores;
};

/// The most keys of a block the vector form takes in one piece (its chunks
/// unrolled); longer blocks go in pieces.
constexpr int64_t kLandmarkPieceKeys = 256;

/// Floats in the vector form's `scores` scratch: one piece, rounded up to
/// whole vectors of `lanes`.
inline int64_t landmarkScoresSize(int64_t block, int64_t lanes) {
  return (std::min(block, kLandmarkPieceKeys) + lanes - 1) / lanes * lanes;
}

/// Whether `row` takes the vector form with `lanes`: static head dims that
/// are multiples of it.
bool landmarkRowVectorizes(const LandmarkRow &row, int64_t lanes);

/// Query row (bi, h, i): local tokens one by one, the retrieved earlier
/// blocks as units, an online softmax over both; writes out and lse.
void buildLandmarkRow(OpBuilder &b, Location loc, const LandmarkRow &row,
                      Value bi, Value h, Value i);

} // namespace mlir::attn

#endif // ATTNIR_DIALECT_ATTN_UTILS_LANDMARKBUILDERS_H
