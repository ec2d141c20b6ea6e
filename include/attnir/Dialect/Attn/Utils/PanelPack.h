//===- PanelPack.h - K and V packed for the CPU tile body -------*- C++ -*-===//
//
// attn-tile packs K once per call as block-major K^T (the body streams a
// D x BK panel of it per key block) and V as rows padded to Dvpad, both in
// f32. The packing is written as whole vectors: K's transpose as L x L
// squares transposed in registers (a per-element store loop was vectorized
// by LLVM into AVX-512 scatters, ~5 % of causal attention at N = 1024), V's
// rows as vector copies.
//
//===----------------------------------------------------------------------===//

#ifndef ATTNIR_DIALECT_ATTN_UTILS_PANELPACK_H
#define ATTNIR_DIALECT_ATTN_UTILS_PANELPACK_H

#include "attnir/Dialect/Attn/Utils/BuildHelpers.h"
#include "mlir/IR/Builders.h"

namespace mlir::attn {

/// The transpose of a square: `rows` holds n vectors of n lanes (n a power
/// of two); result[c][r] = rows[r][c]. log2 n rounds of interleaves
/// (vector.shuffle; the backend picks the permutes).
SmallVector<Value> transposeSquare(OpBuilder &b, Location loc,
                                   ArrayRef<Value> rows);

/// src[bh..., row of key, e .. e + lanes) as f32 (widened from bf16 or
/// f16), zeros where !keep (bh: the leading indices, batch and head).
Value loadKeyRow(OpBuilder &b, Location loc, Value src, ValueRange bh,
                 const KeyRow &key, Value e, int64_t lanes);

/// One transposed panel slice: kT[panel..., :, jj0 + t] = K[srcBH..., row of
/// keys[t], :] in f32 (0 where !keep), for the keys.size() lanes (8 or 16)
/// of a packed block: lanes x lanes squares along D transposed in
/// registers, D's tail per element. kT is [_, _, _, D, BK].
void packKeySquare(OpBuilder &b, Location loc, Value k, ValueRange srcBH,
                   ArrayRef<KeyRow> keys, Value kT, ValueRange panel, Value jj0,
                   int64_t d);

/// vp[dstRow..., :] = V[srcBH..., row of key, :] in f32 (0 where !keep),
/// then 0 up to Dvpad: whole vectors of `lanes`, Dv's tail per element.
void packValueRow(OpBuilder &b, Location loc, Value v, ValueRange srcBH,
                  const KeyRow &key, Value vp, ValueRange dstRow, int64_t dv,
                  int64_t dvPad, int64_t lanes);

/// kT[b, h, j / BK, e, j % BK] = K[b, h, j, e] and vp[b, h, j, c] =
/// V[b, h, j, c] in f32, 0 for j >= M and c >= Dv; kT is f32 [B, Hkv,
/// Mpad / BK, D, BK], vp f32 [B, Hkv, Mpad, Dvpad]. One parallel task per
/// (batch, head, key block); `lanes` (8 or 16, dividing BK) sets the
/// vector width and the transposed squares.
/// With `head` ((b, hkv)), that head's blocks only, in a serial loop (a
/// task per KV head packs its own head).
void buildPanelPack(OpBuilder &b, Location loc, Value k, Value v, Value kT,
                    Value vp, Value B, Value Hkv, Value M, Value numBlocks,
                    int64_t d, int64_t dv, int64_t dvPad, int64_t bk,
                    int64_t lanes,
                    ValueRange head = {});

} // namespace mlir::attn

#endif
