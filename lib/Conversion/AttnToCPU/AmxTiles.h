//===- AmxTiles.h - phases 1 and 4 of the CPU tile body on AMX -*- C++ -*-===//
//
// bf16 pairs (kv_block_update with `amx`) multiplied by Intel's AMX tiles:
// tdpbf16ps takes A as 16 rows of 32 bf16 and B in the VNNI layout (16 rows
// of 16 bf16 pairs), which are the packed query rows, K^T pairs and V pairs
// as attn-tile lays them out; C is 16 x 16 f32.
//
//===----------------------------------------------------------------------===//

#ifndef ATTNIR_CONVERSION_ATTNTOCPU_AMXTILES_H
#define ATTNIR_CONVERSION_ATTNTOCPU_AMXTILES_H

#include "mlir/IR/Builders.h"

namespace mlir::attn::cpu {

/// The keys of the block that the 16 rows from `r0` may keep (index, at
/// most BK): the products past them are skipped (a causal diagonal block).
using GroupKeysFn = function_ref<Value(OpBuilder &, Location, Value)>;

/// scores[r, c] = sum_d Q[r, d] K[j0 + c, d] (unscaled) for the 16-row
/// groups below `rows`: qT i32 [rows, D / 2], kT i32 [B, Hkv, Mpad / BK,
/// D / 2, BK] at block `kb`. `pieces` = 3 (kv_block_update's `split`):
/// qT [rows, 3 D / 2] and kT [.., 3 D / 2, BK] hold three bf16 pieces of
/// each f32 value, and each step takes six products of them.
void emitAmxScores(OpBuilder &b, Location l, Value qT, Value kT, Value scores,
                   Value batch, Value hkv, Value kb, Value rows, int64_t d,
                   int64_t bk, int64_t pieces = 1,
                   GroupKeysFn groupKeys = nullptr);

/// acc[r, :] = acc[r, :] * alpha_r + sum_j P[r, j] V[j0 + j, :] for the
/// 16-row groups below `rows`: P as bf16 over the front half of each
/// scores row, v i32 [B, Hkv, Mpad / 2, Dvpad] from pair row `firstPair`.
/// `rescale(row)` gives alpha_r splat to 16 lanes. `pieces` = 3: P's
/// pieces from scores slot k BK / 2 and V's from column k Dvpad.
void emitAmxValues(OpBuilder &b, Location l, Value scores, Value v, Value acc,
                   Value batch, Value hkv, Value firstPair, Value rows,
                   int64_t dvPad, int64_t bk, int64_t pieces,
                   function_ref<Value(OpBuilder &, Location, Value)> rescale,
                   GroupKeysFn groupKeys = nullptr);

} // namespace mlir::attn::cpu

#endif
