//===- BF16Pairs.h - K, V and query tiles packed as bf16 pairs -*- C++ -*-===//
//
// AVX512-BF16's vdpbf16ps multiplies pairs of bf16 and adds both products
// to one f32 lane. attn-tile's `bf16-dot` form packs each operand of the
// CPU tile body so that a pair holds two consecutive terms of its
// reduction, as one i32 (lower index in the low half): Q and K along D,
// V along the keys. Padding (past D, past M, past Dv) is zero.
//
//===----------------------------------------------------------------------===//

#ifndef ATTNIR_DIALECT_ATTN_UTILS_BF16PAIRS_H
#define ATTNIR_DIALECT_ATTN_UTILS_BF16PAIRS_H

#include "mlir/IR/BuiltinTypes.h"
#include "mlir/IR/Builders.h"

namespace mlir::attn {

/// kT[b, h, j / BK, e, j % BK] = (K[j, 2e], K[j, 2e + 1]) and
/// vp[b, h, j, c] = (V[2j, c], V[2j + 1, c]) for bf16 K [B, Hkv, M, D] and
/// V [B, Hkv, M, Dv]; kT is i32 [B, Hkv, Mpad / BK, ceil(D / 2), BK], vp
/// i32 [B, Hkv, Mpad / 2, Dvpad]. One parallel task per (batch, head, key
/// block).
///
/// `pieces` = 3 (f32 K and V for AMX, kv_block_update's `split`): each
/// value is the sum of three bf16 pieces, stored one after another along
/// the pair dimension: kT [.., 3 ceil(D / 2), BK] (piece p from pair row
/// p ceil(D / 2)), vp [.., Mpad / 2, 3 Dvpad] (piece p from column
/// p Dvpad). With `head` ((b, hkv)), that head's blocks only, in a serial
/// loop (a task per KV head packs its own head).
void buildPairPack(OpBuilder &b, Location loc, Value k, Value v, Value kT,
                   Value vp, Value B, Value Hkv, Value M, Value numBlocks,
                   int64_t d, int64_t dv, int64_t dvPad, int64_t bk,
                   int64_t pieces = 1,
                   ValueRange head = {});

/// The type of buildQueryPairs' tile: i32 [ceil(D / 2), bq], or
/// [bq, pieces ceil(D / 2)] row-major (AMX's A tiles).
MemRefType queryPairsType(Builder &b, int64_t d, int64_t bq,
                          bool rowMajor = false, int64_t pieces = 1);

/// A query tile as pairs along D, unscaled: i32 [ceil(D / 2), bq] with
/// qT[e, r] = (q[b, h, i, 2e], q[b, h, i, 2e + 1]), i = min(i0 + r, N - 1)
/// (rows past N repeat the last one; their results are never stored).
/// Written into `into` when given, else into a new alloca. `rowMajor`:
/// qT[r, e] instead, and with `pieces` = 3 (f32 queries on AMX) piece p of
/// each pair at qT[r, p ceil(D / 2) + e].
Value buildQueryPairs(OpBuilder &b, Location loc, Value q, Value bIdx,
                      Value h, Value i0, Value N, int64_t d, int64_t bq,
                      Value into = Value(), bool rowMajor = false,
                      int64_t pieces = 1);

/// The three bf16 pieces of f32 vectors x and y (n lanes each) as vectors
/// of n pair words, piece p's pairs first. Piece 0 is each value's upper
/// 16 bits, `rounded` to nearest even or truncated; piece 1 those of the
/// exact rest, piece 2 those of the rest after that (truncated: 8
/// significant bits or fewer remain). The pieces sum to the value; the
/// products a_p b_q with p + q >= 3 are below 2^-24 of a b with rounded
/// pieces, below 2^-20 with truncated ones. A piece's words are the upper
/// 16-bit halves of x's and y's lanes, no conversion: `interleaved`, word
/// c = (x[c], y[c]) (a shift and an or); else word c = the pair at 2c of
/// x's lanes then y's (one vpermt2w).
SmallVector<Value, 3> pieceWords(OpBuilder &b, Location l, Value x, Value y,
                                 bool interleaved, bool rounded);

} // namespace mlir::attn

#endif // ATTNIR_DIALECT_ATTN_UTILS_BF16PAIRS_H
