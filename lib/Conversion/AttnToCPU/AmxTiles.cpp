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

/// c + A B over one reduction step: with one piece a b; with three
/// (`split`) the six products a_p b_q with p + q < 3, smallest first (the
/// three dropped are below f32's rounding of a b). `aPiece(p)` and
/// `bPiece(q)` load piece p of A and q of B. (Keeping A's pieces in tile
/// registers across several C tiles measured no faster: LLVM places each
/// tile load next to its product either way.)
Value mulPieces(OpBuilder &b, Location l, int64_t pieces, Value c,
                function_ref<Value(int64_t)> aPiece,
                function_ref<Value(int64_t)> bPiece) {
  SmallVector<Value, 3> as, bs;
  for (int64_t p = 0; p < pieces; ++p) {
    as.push_back(aPiece(p));
    bs.push_back(bPiece(p));
  }
  for (int64_t sum = pieces - 1; sum >= 0; --sum)
    for (int64_t p = sum; p >= 0; --p)
      c = amx::TileMulFOp::create(b, l, f32Tile(b), as[p], bs[sum - p], c);
  return c;
}

/// body(n) for the value n of `count` in [0, max) and body(max) for any
/// larger one, each as straight-line code: a masked block's live chunks
/// (steps) of one count are independent tdpbf16ps chains that the core
/// overlaps, where a branch per chunk ran them one after another.
void switchOnCount(OpBuilder &b, Location l, Value count, int64_t max,
                   function_ref<void(OpBuilder &, Location, int64_t)> body) {
  SmallVector<int64_t> cases;
  for (int64_t n = 0; n < max; ++n)
    cases.push_back(n);
  auto sw = scf::IndexSwitchOp::create(b, l, TypeRange{}, count, cases,
                                       cases.size());
  OpBuilder::InsertionGuard guard(b);
  auto fill = [&](Region &region, int64_t n) {
    b.setInsertionPointToStart(b.createBlock(&region));
    body(b, l, n);
    scf::YieldOp::create(b, l);
  };
  for (int64_t n = 0; n < max; ++n)
    fill(sw.getCaseRegions()[n], n);
  fill(sw.getDefaultRegion(), max);
}

} // namespace

void emitAmxScores(OpBuilder &b, Location l, Value qT, Value kT, Value scores,
                   Value batch, Value hkv, Value kb, Value rows, int64_t d,
                   int64_t bk, int64_t pieces, GroupKeysFn groupKeys) {
  // Chunk kc (16 keys) of the 16 rows from r0.
  auto chunk = [&](OpBuilder &gb, Location gl, Value r0, int64_t kc) {
    Value c = amx::TileZeroOp::create(gb, gl, f32Tile(gb));
    // 32 of D per step: 16 pairs of Q's row, 16 pair rows of K^T (piece
    // p D / 2 pair columns or rows further).
    for (int64_t e = 0; e < d / 2; e += 16)
      c = mulPieces(
          gb, gl, pieces, c,
          [&](int64_t p) -> Value {
            return amx::TileLoadOp::create(
                gb, gl, bf16Tile(gb), qT,
                ValueRange{r0, cIdx(gb, gl, p * d / 2 + e)});
          },
          [&](int64_t p) -> Value {
            return amx::TileLoadOp::create(
                gb, gl, bf16Tile(gb), kT,
                ValueRange{batch, hkv, kb, cIdx(gb, gl, p * d / 2 + e),
                           cIdx(gb, gl, kc * 16)});
          });
    amx::TileStoreOp::create(gb, gl, scores,
                             ValueRange{r0, cIdx(gb, gl, kc * 16)}, c);
  };
  int64_t numChunks = bk / 16;
  forRowGroups(b, l, rows, [&](OpBuilder &gb, Location gl, Value r0) {
    auto chunks = [&](OpBuilder &cb, Location cl, int64_t n) {
      for (int64_t kc = 0; kc < n; ++kc)
        chunk(cb, cl, r0, kc);
    };
    if (!groupKeys)
      return chunks(gb, gl, numChunks);
    // Chunks past the group's visible keys (all of them where it sees
    // none) are left stale: phase 2 masks them to -inf.
    Value live = arith::CeilDivUIOp::create(gb, gl, groupKeys(gb, gl, r0),
                                            cIdx(gb, gl, 16));
    switchOnCount(gb, gl, live, numChunks, chunks);
  });
}

void emitAmxValues(OpBuilder &b, Location l, Value scores, Value v, Value acc,
                   Value batch, Value hkv, Value firstPair, Value rows,
                   int64_t dvPad, int64_t bk, int64_t pieces,
                   function_ref<Value(OpBuilder &, Location, Value)> rescale,
                   GroupKeysFn groupKeys) {
  auto vt = VectorType::get({16}, b.getF32Type());
  // acc[r0 .., c ..] += the products of key steps [s0, s1) (32 keys each).
  auto steps = [&](OpBuilder &gb, Location gl, Value r0, int64_t c,
                   int64_t s0, int64_t s1) {
    Value sum = amx::TileLoadOp::create(gb, gl, f32Tile(gb), acc,
                                        ValueRange{r0, cIdx(gb, gl, c)});
    // 32 keys per step: 16 f32 slots of bf16 probabilities, 16 V pair
    // rows (piece p BK / 2 slots or Dvpad columns further).
    for (int64_t kp = 16 * s0; kp < 16 * s1; kp += 16)
      sum = mulPieces(
          gb, gl, pieces, sum,
          [&](int64_t p) -> Value {
            return amx::TileLoadOp::create(
                gb, gl, bf16Tile(gb), scores,
                ValueRange{r0, cIdx(gb, gl, p * bk / 2 + kp)});
          },
          [&](int64_t p) -> Value {
            return amx::TileLoadOp::create(
                gb, gl, bf16Tile(gb), v,
                ValueRange{batch, hkv, plusIdx(gb, gl, firstPair, kp),
                           cIdx(gb, gl, p * dvPad + c)});
          });
    amx::TileStoreOp::create(gb, gl, acc, ValueRange{r0, cIdx(gb, gl, c)},
                             sum);
  };
  int64_t numSteps = bk / 32;
  forRowGroups(b, l, rows, [&](OpBuilder &gb, Location gl, Value r0) {
    // The group's first n steps. With none (a masked block's group that
    // sees none of its keys) alpha is 1 (acc 0 if it has seen no key yet),
    // so acc stays as it is.
    auto group = [&](OpBuilder &sb, Location sl, int64_t n) {
      if (n == 0)
        return;
      // acc's rows times their alpha first: a tile cannot scale its rows.
      for (int64_t r = 0; r < 16; ++r) {
        Value row = plusIdx(sb, sl, r0, r);
        Value alpha = rescale(sb, sl, row);
        for (int64_t c = 0; c < dvPad; c += 16) {
          SmallVector<Value> at{row, cIdx(sb, sl, c)};
          Value x = vector::LoadOp::create(sb, sl, vt, acc, at);
          vector::StoreOp::create(
              sb, sl, arith::MulFOp::create(sb, sl, x, alpha), acc, at);
        }
      }
      for (int64_t c = 0; c < dvPad; c += 16)
        steps(sb, sl, r0, c, 0, n);
    };
    if (!groupKeys)
      return group(gb, gl, numSteps);
    // Where the group sees fewer than BK keys (a masked block), only the
    // steps holding a visible key (P is 0 past them).
    Value live = arith::CeilDivUIOp::create(gb, gl, groupKeys(gb, gl, r0),
                                            cIdx(gb, gl, 32));
    switchOnCount(gb, gl, live, numSteps, group);
  });
}

} // namespace mlir::attn::cpu
