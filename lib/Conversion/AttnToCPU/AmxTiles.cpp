//===- AmxTiles.cpp - phases 1 and 4 of the CPU tile body on AMX ----------===//
//
// One tdpbf16ps multiplies a 16 x 32 bf16 A tile by a 32 x 16 B tile into
// 16 x 16 f32 (512 multiply-adds per cycle against 32 for AVX-512 FMA), so
// on AMX parts the two products shrink to a fraction of the softmax's time.
// Tiles are loaded straight from attn-tile's buffers: the row-major query
// pairs (A), K^T pairs and V pairs (VNNI B tiles as they are), the bf16
// probabilities over the front half of each scores row (A). LLVM inserts
// the tile configuration (ldtilecfg) from the constant shapes.
//
//===----------------------------------------------------------------------===//

#include "AmxTiles.h"
#include "attnir/Dialect/Attn/Utils/BuildHelpers.h"
#include "mlir/Dialect/AMX/AMXDialect.h"
#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/Dialect/Vector/IR/VectorOps.h"

using namespace mlir;

namespace mlir::attn::cpu {
namespace {

amx::TileType bf16Tile(OpBuilder &b) {
  return amx::TileType::get({16, 32}, b.getBF16Type());
}
amx::TileType f32Tile(OpBuilder &b) {
  return amx::TileType::get({16, 16}, b.getF32Type());
}

/// For each group of 16 rows below `rows`: body(builder, loc, first row).
void forRowGroups(OpBuilder &b, Location l, Value rows,
                  function_ref<void(OpBuilder &, Location, Value)> body) {
  Value c16 = cIdx(b, l, 16);
  forEach(b, l, cIdx(b, l, 0), arith::CeilDivUIOp::create(b, l, rows, c16),
          [&](OpBuilder &gb, Location gl, Value g) {
            body(gb, gl, arith::MulIOp::create(gb, gl, g, c16));
          });
}

} // namespace

void emitAmxScores(OpBuilder &b, Location l, Value qT, Value kT, Value scores,
                   Value batch, Value hkv, Value kb, Value rows, int64_t d,
                   int64_t bk) {
  forRowGroups(b, l, rows, [&](OpBuilder &gb, Location gl, Value r0) {
    for (int64_t kc = 0; kc < bk / 16; ++kc) {
      Value c = amx::TileZeroOp::create(gb, gl, f32Tile(gb));
      // 32 of D per step: 16 pairs of Q's row, 16 pair rows of K^T.
      for (int64_t e = 0; e < d / 2; e += 16) {
        Value a = amx::TileLoadOp::create(gb, gl, bf16Tile(gb), qT,
                                          ValueRange{r0, cIdx(gb, gl, e)});
        Value k = amx::TileLoadOp::create(
            gb, gl, bf16Tile(gb), kT,
            ValueRange{batch, hkv, kb, cIdx(gb, gl, e),
                       cIdx(gb, gl, kc * 16)});
        c = amx::TileMulFOp::create(gb, gl, f32Tile(gb), a, k, c);
      }
      amx::TileStoreOp::create(gb, gl, scores,
                               ValueRange{r0, cIdx(gb, gl, kc * 16)}, c);
    }
  });
}

void emitAmxValues(OpBuilder &b, Location l, Value scores, Value v, Value acc,
                   Value batch, Value hkv, Value firstPair, Value rows,
                   int64_t dvPad, int64_t bk,
                   function_ref<Value(OpBuilder &, Location, Value)> rescale) {
  auto vt = VectorType::get({16}, b.getF32Type());
  forRowGroups(b, l, rows, [&](OpBuilder &gb, Location gl, Value r0) {
    // acc's rows times their alpha first: a tile cannot scale its rows.
    for (int64_t r = 0; r < 16; ++r) {
      Value row = plusIdx(gb, gl, r0, r);
      Value alpha = rescale(gb, gl, row);
      for (int64_t c = 0; c < dvPad; c += 16) {
        SmallVector<Value> at{row, cIdx(gb, gl, c)};
        Value x = vector::LoadOp::create(gb, gl, vt, acc, at);
        vector::StoreOp::create(gb, gl, arith::MulFOp::create(gb, gl, x, alpha),
                                acc, at);
      }
    }
    for (int64_t c = 0; c < dvPad; c += 16) {
      Value col = cIdx(gb, gl, c);
      Value sum = amx::TileLoadOp::create(gb, gl, f32Tile(gb), acc,
                                          ValueRange{r0, col});
      // 32 keys per step: 16 f32 slots of bf16 probabilities, 16 V pair rows.
      for (int64_t kp = 0; kp < bk / 2; kp += 16) {
        Value p = amx::TileLoadOp::create(gb, gl, bf16Tile(gb), scores,
                                          ValueRange{r0, cIdx(gb, gl, kp)});
        Value vals = amx::TileLoadOp::create(
            gb, gl, bf16Tile(gb), v,
            ValueRange{batch, hkv, plusIdx(gb, gl, firstPair, kp), col});
        sum = amx::TileMulFOp::create(gb, gl, f32Tile(gb), p, vals, sum);
      }
      amx::TileStoreOp::create(gb, gl, acc, ValueRange{r0, col}, sum);
    }
  });
}

} // namespace mlir::attn::cpu
