//===- OnlineSoftmax.h - phase 3 of the CPU tile body ---------*- C++ -*-===//
//
// The online-softmax step of one key block on the CPU: row maxima, the
// running max and sum of every row, p = exp(s - m') in place of the scores,
// and the factor exp(m - m') by which phase 4 rescales each accumulator row.
//
//===----------------------------------------------------------------------===//

#ifndef ATTNIR_CONVERSION_ATTNTOCPU_ONLINESOFTMAX_H
#define ATTNIR_CONVERSION_ATTNTOCPU_ONLINESOFTMAX_H

#include "mlir/IR/Builders.h"
#include <functional>

namespace mlir::attn::cpu {

/// exp(x) on a vector of f32: 2^n * p(g) with p a degree-5 polynomial
/// (at most 1.9e-7 relative; exp(0) = 1 exactly, so an unchanged max leaves
/// the state unscaled). exp(-inf) = 0 exactly, NaN stays NaN. `scalef`
/// (AVX-512 F and DQ, 16 lanes only): n = floor(x log2 e), g by vreduceps,
/// 2^n by vscalefps, and lanes whose result would be subnormal are zero
/// (no microcode assist on Intel cores); else n = round(x log2 e) and 2^n
/// built as exponent bits.
Value fastExp(OpBuilder &b, Location l, Value x, bool scalef);

/// The vectors of a row (index) that hold keys it may keep.
using RowVectorsFn = std::function<Value(OpBuilder &, Location, Value row)>;

/// The operands of one block's softmax step.
struct SoftmaxStep {
  Value scores;  ///< [rows, BK] f32: scores in, probabilities out
  Value rowBuf;  ///< f32 scratch of the rows' state (makeRowBuffer)
  Value rows;    ///< index: rows [0, rows) take part
  Value mIn, lIn; ///< vector<rows x f32>: running max and sum
  int64_t keyVectors; ///< BK / lanes
  int64_t lanes;
  bool pairs;    ///< store p as bf16 key pairs (attn-tile's bf16-dot)
  bool scalef;   ///< AVX-512 (F and DQ): exp in base 2 by vreduceps and vscalefps
  /// The scores are sums still to be multiplied by this (> 0): folded into
  /// the max and into exp's argument (AMX's products are unscaled).
  float scale = 1.0f;
  /// Where set: only vectors [0, liveVectors(row)) of a row hold keys the
  /// row may keep (a masked block's visible end, for the whole tile or per
  /// row group); the rest are neither read nor written, and phase 4 reads
  /// none of them. Null: all keyVectors.
  RowVectorsFn liveVectors = {};
  /// With pairs: bf16 pieces of each p (3: f32 on AMX, kv_block_update's
  /// `split`; piece k's pairs from f32 column k BK / 2 of the row). Set by
  /// name: the fields above are initialised in order.
  int64_t pieces = 1;
};

/// The scratch of a step: [4 + 16, rows rounded up to 16], the rows' state
/// and one row group's vectors, allocated beside `scores` (same scope).
Value makeRowBuffer(OpBuilder &b, Location l, Value scores, int64_t rows);

/// Row r's factor exp(m - m') after emitOnlineSoftmax, splat to a vector of
/// `lanes` (phase 4 multiplies acc's row by it when it loads the row).
Value rowRescale(OpBuilder &b, Location l, Value rowBuf, Value row,
                 int64_t lanes);

/// Emits the step; returns (m', l'). Rows past `rows` keep their state.
/// The per-row state work (new max, exp(m - m'), l') runs on vectors of
/// `lanes` rows at a time, not once per row in scalar code.
std::pair<Value, Value> emitOnlineSoftmax(OpBuilder &b, Location l,
                                          const SoftmaxStep &s);

} // namespace mlir::attn::cpu

#endif
