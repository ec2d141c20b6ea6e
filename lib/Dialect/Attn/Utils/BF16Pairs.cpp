//===- BF16Pairs.cpp - K, V and query tiles packed as bf16 pairs ----------===//
//
// Rows past M are read at M - 1 and zeroed by a select. Where D (Dv) is a
// multiple of 16 the packs are whole vectors: K's pairs from 16 x 16
// squares transposed in registers, V's and the row-major query's from
// vector rows (the per-element loops were 12 % of causal f32 attention on
// AMX at N = 1024: LLVM turned K's transposing stores into scatters);
// otherwise per element.
//
//===----------------------------------------------------------------------===//

#include "attnir/Dialect/Attn/Utils/BF16Pairs.h"
#include "attnir/Dialect/Attn/Utils/BuildHelpers.h"
#include "attnir/Dialect/Attn/Utils/PanelPack.h"
#include "mlir/Dialect/Vector/IR/VectorOps.h"
#include "mlir/IR/TypeUtilities.h"

using namespace mlir;
using namespace mlir::attn;

namespace {

/// The bits of bf16 `x` as the low half of an i32.
Value bits(OpBuilder &b, Location l, Value x) {
  return arith::ExtUIOp::create(
      b, l, b.getI32Type(),
      arith::BitcastOp::create(b, l, b.getI16Type(), x));
}

/// lo | hi << 16 (i32s holding bf16 bits).
Value pair(OpBuilder &b, Location l, Value lo, Value hi) {
  Value sh = arith::ShLIOp::create(
      b, l, hi, arith::ConstantIntOp::create(b, l, b.getI32Type(), 16));
  return arith::OrIOp::create(b, l, lo, sh);
}

Value zeroI32(OpBuilder &b, Location l) {
  return arith::ConstantIntOp::create(b, l, b.getI32Type(), 0);
}

/// `x` where `keep`, else 0.
Value keepOrZero(OpBuilder &b, Location l, Value keep, Value x) {
  return arith::SelectOp::create(b, l, keep, x, zeroI32(b, l));
}

/// `value` as an i32 constant of type `it` (i32 or a vector of i32).
Value i32Constant(OpBuilder &b, Location l, Type it, uint32_t value) {
  Attribute a = b.getI32IntegerAttr(static_cast<int32_t>(value));
  if (auto v = dyn_cast<VectorType>(it))
    a = DenseElementsAttr::get(v, a);
  return arith::ConstantOp::create(b, l, cast<TypedAttr>(a));
}

/// The upper 16 bits of f32 `x` (a scalar or a vector) as an f32:
/// truncated, or rounded to nearest even (bits + 0x7FFF + the kept half's
/// lowest bit, then masked) except where that would round a finite value
/// past bf16's largest to infinity (|x| > 0x7F7F7FFF; infinity and NaN
/// too): truncated there, so the pieces of every finite f32 are finite.
Value upperBits(OpBuilder &b, Location l, Value x, bool round) {
  Type t = x.getType();
  Type it = b.getI32Type();
  if (auto v = dyn_cast<VectorType>(t))
    it = v.clone(it);
  auto c = [&](uint32_t value) { return i32Constant(b, l, it, value); };
  Value bits = arith::BitcastOp::create(b, l, it, x);
  if (round) {
    Value odd = arith::AndIOp::create(
        b, l, arith::ShRUIOp::create(b, l, bits, c(16)), c(1));
    Value huge = arith::CmpIOp::create(
        b, l, arith::CmpIPredicate::ugt,
        arith::AndIOp::create(b, l, bits, c(0x7FFFFFFFu)), c(0x7F7F7FFFu));
    Value bias = arith::SelectOp::create(
        b, l, huge, c(0), arith::AddIOp::create(b, l, odd, c(0x7FFF)));
    bits = arith::AddIOp::create(b, l, bits, bias);
  }
  return arith::BitcastOp::create(
      b, l, t, arith::AndIOp::create(b, l, bits, c(0xFFFF0000u)));
}

/// The bf16 pieces of `x` (a scalar or a vector): bf16 `x` is its own one
/// piece; f32 `x` is x0 + x1 + x2 with x0 = bf16(x), x1 = bf16(x - x0),
/// x2 = bf16(x - x0 - x1) (each difference exact in f32: 24 bits of x),
/// or x0 alone with one piece (exact for a widened bf16).
SmallVector<Value, 3> splitPieces(OpBuilder &b, Location l, Value x,
                                  int64_t pieces) {
  Type t = x.getType();
  if (getElementTypeOrSelf(t).isBF16())
    return {x};
  auto like = [&](Type elt) -> Type {
    if (auto v = dyn_cast<VectorType>(t))
      return v.clone(elt);
    return elt;
  };
  // Each piece's upper bits (upperBits: finite for finite x) are a bf16
  // value, so the truncf is exact. Pieces 0 and 1 are rounded; the third
  // holds the 8 or fewer significant bits left, truncation keeps them.
  SmallVector<Value, 3> out;
  Value rest = x;
  for (int64_t p = 0; p < pieces; ++p) {
    Value top = upperBits(b, l, rest, /*round=*/p < 2);
    out.push_back(arith::TruncFOp::create(b, l, like(b.getBF16Type()), top));
    if (p + 1 < pieces)
      rest = arith::SubFOp::create(b, l, rest, top);
  }
  return out;
}

/// The pieces of scalar `x` as the low halves of i32s.
SmallVector<Value, 3> pieceBits(OpBuilder &b, Location l, Value x,
                                int64_t pieces) {
  SmallVector<Value, 3> out;
  for (Value piece : splitPieces(b, l, x, pieces))
    out.push_back(bits(b, l, piece));
  return out;
}

/// Vectors of pair words, one per piece, from f32 vectors x and y of n
/// lanes: `interleaved`, word c = (x[c], y[c]) (two keys of K or V);
/// else word c = the pair at 2c of x's lanes then y's (consecutive
/// features of a query row).
SmallVector<Value, 3> pairWords(OpBuilder &b, Location l, Value x, Value y,
                                int64_t pieces, bool interleaved) {
  // f32 in three pieces: upper halves, no conversions (vcvtneps2bf16 and
  // a widening per piece were 2x the pack's time).
  if (pieces == 3 && getElementTypeOrSelf(x.getType()).isF32())
    return pieceWords(b, l, x, y, interleaved, /*rounded=*/true);
  int64_t n = cast<VectorType>(x.getType()).getNumElements();
  SmallVector<int64_t> order(2 * n);
  for (int64_t i = 0; i < 2 * n; ++i)
    order[i] = interleaved ? (i % 2) * n + i / 2 : i;
  SmallVector<Value, 3> xs = splitPieces(b, l, x, pieces),
                        ys = splitPieces(b, l, y, pieces), out;
  for (int64_t p = 0; p < pieces; ++p)
    out.push_back(vector::BitCastOp::create(
        b, l, VectorType::get({n}, b.getI32Type()),
        vector::ShuffleOp::create(b, l, xs[p], ys[p], order)));
  return out;
}

constexpr int64_t kLanes = 16;

/// How many keys ahead of the one packed the packs prefetch K and V (the
/// same column). The packs wait on reading K and V (perf: most of their
/// samples behind the loads; the transposing K pack reads 16 rows at
/// once). With pieceWords' shift form, N = 128, M = 4096 dense f32 on the
/// AMX Xeon (the pack a third of one thread's time): 4.09 -> 3.87 ms on 2
/// threads, 10.5 -> 10.2 on one, bf16 5 % (16, 32 and 64 keys ahead alike).
constexpr int64_t kPrefetchKeys = 32;

/// Prefetches row j + ahead of src [B, H, *, D] (clamped to M - 1) at
/// column e.
void prefetchRow(OpBuilder &b, Location l, Value src, ValueRange bh, Value j,
                 int64_t ahead, Value M, Value e) {
  SmallVector<Value> idx(bh.begin(), bh.end());
  idx.append({keyRowOf(b, l, plusIdx(b, l, j, ahead), M).row, e});
  memref::PrefetchOp::create(b, l, src, idx, /*isWrite=*/false,
                             /*localityHint=*/3, /*isDataCache=*/true);
}

/// Row `row` of `src` [B, H, *, D] as D/2 pairs per piece into
/// store(e, piece, word) (and the lone last element when D is odd), zeroed
/// unless `keep`.
void pairRow(OpBuilder &b, Location l, Value src, ValueRange prefix,
             Value row, Value keep, int64_t d, int64_t pieces,
             function_ref<void(OpBuilder &, Location, Value, int64_t, Value)>
                 store) {
  auto at = [&](OpBuilder &ib, Location il, Value e) {
    SmallVector<Value> idx(prefix.begin(), prefix.end());
    idx.append({row, e});
    return pieceBits(ib, il, memref::LoadOp::create(ib, il, src, idx), pieces);
  };
  forEach(b, l, cIdx(b, l, 0), cIdx(b, l, d / 2),
          [&](OpBuilder &ib, Location il, Value e) {
            Value e0 = arith::MulIOp::create(ib, il, e, cIdx(ib, il, 2));
            Value e1 = arith::AddIOp::create(ib, il, e0, cIdx(ib, il, 1));
            SmallVector<Value, 3> lo = at(ib, il, e0), hi = at(ib, il, e1);
            for (int64_t p = 0; p < pieces; ++p)
              store(ib, il, e, p,
                    keepOrZero(ib, il, keep, pair(ib, il, lo[p], hi[p])));
          });
  if (d % 2) {
    SmallVector<Value, 3> last = at(b, l, cIdx(b, l, d - 1));
    for (int64_t p = 0; p < pieces; ++p)
      store(b, l, cIdx(b, l, d / 2), p, keepOrZero(b, l, keep, last[p]));
  }
}

/// `i` + piece * stride.
Value pieceAt(OpBuilder &b, Location l, Value i, int64_t piece,
              int64_t stride) {
  return piece ? plusIdx(b, l, i, piece * stride) : i;
}

} // namespace

SmallVector<Value, 3> mlir::attn::pieceWords(OpBuilder &b, Location l,
                                             Value x, Value y,
                                             bool interleaved, bool rounded) {
  int64_t n = cast<VectorType>(x.getType()).getNumElements();
  auto i32v = VectorType::get({n}, b.getI32Type());
  auto halves = VectorType::get({2 * n}, b.getI16Type());
  auto splat = [&](uint32_t value) { return i32Constant(b, l, i32v, value); };
  // i16 lane 2c + 1 is the upper half of f32 lane c (x's, then y's at 2n).
  SmallVector<int64_t> upper(2 * n);
  for (int64_t i = 0; i < 2 * n; ++i)
    upper[i] = 2 * i + 1;
  // The words of pieces px and py whose lower halves are 0 (`bare`: the
  // last piece, the rest itself, is not). Interleaved, word c is x's upper
  // half shifted down or y's: a shift and an or, where vpermt2w is 3 uops,
  // 2 of them on Intel's port 5; else one vpermt2w.
  auto words = [&](Value px, Value py, bool bare) -> Value {
    if (!interleaved)
      return vector::BitCastOp::create(
          b, l, i32v,
          vector::ShuffleOp::create(
              b, l, vector::BitCastOp::create(b, l, halves, px),
              vector::BitCastOp::create(b, l, halves, py), upper));
    Value xb = vector::BitCastOp::create(b, l, i32v, px),
          yb = vector::BitCastOp::create(b, l, i32v, py);
    if (bare)
      yb = arith::AndIOp::create(b, l, yb, splat(0xFFFF0000u));
    return arith::OrIOp::create(
        b, l, arith::ShRUIOp::create(b, l, xb, splat(16)), yb);
  };
  // Piece p as an f32 (the last: the rest itself, whose upper half it is);
  // the rest after it (x minus the piece) is exact.
  SmallVector<Value, 3> out;
  for (int64_t p = 0; p < 3; ++p) {
    Value px = p < 2 ? upperBits(b, l, x, rounded) : x,
          py = p < 2 ? upperBits(b, l, y, rounded) : y;
    out.push_back(words(px, py, /*bare=*/p == 2));
    if (p < 2) {
      x = arith::SubFOp::create(b, l, x, px);
      y = arith::SubFOp::create(b, l, y, py);
    }
  }
  return out;
}

namespace {
/// The coordinates one packing task shares: the task's (batch, KV head,
/// key block) and its first key, the keys' extent M and the piece count.
struct PackTask {
  Value b, h, blk, first, M;
  int64_t pieces;
};
} // namespace

// K, when D is a multiple of 16: 16 keys per step, 16 x 16 squares of them
// transposed in registers, each two features' columns paired.
static void packKeySquares(OpBuilder &rw, Location loc, const PackTask &task,
                           Value k, Value kT, int64_t d, int64_t bk) {
  Value b = task.b, h = task.h, blk = task.blk, first = task.first, M = task.M;
  int64_t pieces = task.pieces, halfD = (d + 1) / 2;
  forEach(
      rw, loc, cIdx(rw, loc, 0), cIdx(rw, loc, bk),
      [&](OpBuilder &ib, Location il, Value jj0) {
        SmallVector<Value> js;
        SmallVector<KeyRow> keys;
        for (int64_t t = 0; t < kLanes; ++t) {
          js.push_back(
              arith::AddIOp::create(ib, il, first, plusIdx(ib, il, jj0, t)));
          keys.push_back(keyRowOf(ib, il, js.back(), M));
        }
        forEach(
            ib, il, cIdx(ib, il, 0), cIdx(ib, il, d),
            [&](OpBuilder &fb, Location fl, Value e0) {
              SmallVector<Value> rows;
              for (const KeyRow &key : keys)
                rows.push_back(
                    loadKeyRow(fb, fl, k, ValueRange{b, h}, key, e0, kLanes));
              for (Value j : js)
                prefetchRow(fb, fl, k, ValueRange{b, h}, j, kPrefetchKeys, M,
                            e0);
              SmallVector<Value> cols = transposeSquare(fb, fl, rows);
              Value e = arith::DivUIOp::create(fb, fl, e0, cIdx(fb, fl, 2));
              for (int64_t u = 0; u < kLanes / 2; ++u) {
                SmallVector<Value, 3> words =
                    pairWords(fb, fl, cols[2 * u], cols[2 * u + 1], pieces,
                              /*interleaved=*/true);
                for (int64_t p = 0; p < pieces; ++p)
                  vector::StoreOp::create(
                      fb, fl, words[p], kT,
                      ValueRange{b, h, blk, plusIdx(fb, fl, e, u + p * halfD),
                                 jj0});
              }
            },
            kLanes);
      },
      kLanes);
}

// K otherwise: one key per step, its D values as pairs along D.
static void packKeyRows(OpBuilder &rw, Location loc, const PackTask &task,
                        Value k, Value kT, int64_t d, int64_t bk) {
  Value b = task.b, h = task.h, blk = task.blk, first = task.first, M = task.M;
  int64_t pieces = task.pieces, halfD = (d + 1) / 2;
  forEach(rw, loc, cIdx(rw, loc, 0), cIdx(rw, loc, bk),
          [&](OpBuilder &ib, Location il, Value jj) {
            KeyRow key =
                keyRowOf(ib, il, arith::AddIOp::create(ib, il, first, jj), M);
            pairRow(
                ib, il, k, ValueRange{b, h}, key.row, key.keep, d, pieces,
                [&](OpBuilder &sb, Location sl, Value e, int64_t p, Value w) {
                  memref::StoreOp::create(
                      sb, sl, w, kT,
                      ValueRange{b, h, blk, pieceAt(sb, sl, e, p, halfD), jj});
                });
          });
}

// V: two keys per step, paired value by value.
static void packValuePairs(OpBuilder &rw, Location loc, const PackTask &task,
                           Value v, Value vp, int64_t dv, int64_t dvPad,
                           int64_t bk) {
  Value b = task.b, h = task.h, first = task.first, M = task.M;
  int64_t pieces = task.pieces;
  Value c0 = cIdx(rw, loc, 0);
  Value firstPair = arith::DivUIOp::create(rw, loc, first, cIdx(rw, loc, 2));
  forEach(
      rw, loc, c0, cIdx(rw, loc, bk / 2),
      [&](OpBuilder &ib, Location il, Value jp) {
        Value j0 = arith::AddIOp::create(
            ib, il, first, arith::MulIOp::create(ib, il, jp, cIdx(ib, il, 2)));
        Value j1 = arith::AddIOp::create(ib, il, j0, cIdx(ib, il, 1));
        KeyRow key0 = keyRowOf(ib, il, j0, M), key1 = keyRowOf(ib, il, j1, M);
        Value slot = arith::AddIOp::create(ib, il, firstPair, jp);
        if (dv % kLanes == 0) {
          // Whole vectors of the two rows (Dvpad = Dv).
          forEach(
              ib, il, cIdx(ib, il, 0), cIdx(ib, il, dv),
              [&](OpBuilder &cb, Location cl, Value c) {
                prefetchRow(cb, cl, v, ValueRange{b, h}, j0, kPrefetchKeys, M,
                            c);
                prefetchRow(cb, cl, v, ValueRange{b, h}, j1, kPrefetchKeys, M,
                            c);
                SmallVector<Value, 3> words = pairWords(
                    cb, cl,
                    loadKeyRow(cb, cl, v, ValueRange{b, h}, key0, c, kLanes),
                    loadKeyRow(cb, cl, v, ValueRange{b, h}, key1, c, kLanes),
                    pieces, /*interleaved=*/true);
                for (int64_t p = 0; p < pieces; ++p)
                  vector::StoreOp::create(
                      cb, cl, words[p], vp,
                      ValueRange{b, h, slot, plusIdx(cb, cl, c, p * dvPad)});
              },
              kLanes);
          return;
        }
        forEach(
            ib, il, cIdx(ib, il, 0), cIdx(ib, il, dv),
            [&](OpBuilder &cb, Location cl, Value c) {
              auto at = [&](const KeyRow &key) {
                return pieceBits(cb, cl,
                                 memref::LoadOp::create(
                                     cb, cl, v, ValueRange{b, h, key.row, c}),
                                 pieces);
              };
              SmallVector<Value, 3> lo = at(key0), hi = at(key1);
              for (int64_t p = 0; p < pieces; ++p)
                memref::StoreOp::create(
                    cb, cl,
                    pair(cb, cl, keepOrZero(cb, cl, key0.keep, lo[p]),
                         keepOrZero(cb, cl, key1.keep, hi[p])),
                    vp, ValueRange{b, h, slot, pieceAt(cb, cl, c, p, dvPad)});
            });
        for (int64_t p = 0; p < pieces; ++p)
          forEach(ib, il, cIdx(ib, il, dv), cIdx(ib, il, dvPad),
                  [&](OpBuilder &cb, Location cl, Value c) {
                    memref::StoreOp::create(
                        cb, cl, zeroI32(cb, cl), vp,
                        ValueRange{b, h, slot, pieceAt(cb, cl, c, p, dvPad)});
                  });
      });
}

void mlir::attn::buildPairPack(OpBuilder &rw, Location loc, Value k, Value v,
                               Value kT, Value vp, Value B, Value Hkv, Value M,
                               Value numBlocks, int64_t d, int64_t dv,
                               int64_t dvPad, int64_t bk, int64_t pieces,
                               ValueRange head) {
  OpBuilder::InsertionGuard g(rw);
  SmallVector<Value, 3> ids =
      openKeyBlockTasks(rw, loc, B, Hkv, numBlocks, head);
  PackTask task{
      ids[0], ids[1],
      ids[2], arith::MulIOp::create(rw, loc, ids[2], cIdx(rw, loc, bk)),
      M,      pieces};
  if (d % kLanes == 0)
    packKeySquares(rw, loc, task, k, kT, d, bk);
  else
    packKeyRows(rw, loc, task, k, kT, d, bk);
  packValuePairs(rw, loc, task, v, vp, dv, dvPad, bk);
}

MemRefType mlir::attn::queryPairsType(Builder &b, int64_t d, int64_t bq,
                                      bool rowMajor, int64_t pieces) {
  int64_t e = pieces * ((d + 1) / 2);
  return MemRefType::get(rowMajor ? ArrayRef<int64_t>{bq, e}
                                  : ArrayRef<int64_t>{e, bq},
                         b.getI32Type());
}

Value mlir::attn::buildQueryPairs(OpBuilder &rw, Location loc, Value q,
                                  Value bIdx, Value h, Value i0, Value N,
                                  int64_t d, int64_t bq, Value into,
                                  bool rowMajor, int64_t pieces) {
  Value qT = into ? into
                  : memref::AllocaOp::create(
                        rw, loc, queryPairsType(rw, d, bq, rowMajor, pieces))
                        .getResult();
  int64_t halfD = (d + 1) / 2;
  Value lastRow = arith::SubIOp::create(rw, loc, N, cIdx(rw, loc, 1));
  Value yes = arith::ConstantIntOp::create(rw, loc, 1, 1);
  forEach(rw, loc, cIdx(rw, loc, 0), cIdx(rw, loc, bq),
          [&](OpBuilder &fb, Location l, Value r) {
            Value row = arith::MinUIOp::create(
                fb, l, arith::AddIOp::create(fb, l, i0, r), lastRow);
            if (rowMajor && d % (2 * kLanes) == 0) {
              // 32 features per step: their 16 pairs are consecutive.
              KeyRow all{row, yes};
              forEach(
                  fb, l, cIdx(fb, l, 0), cIdx(fb, l, d),
                  [&](OpBuilder &eb, Location el, Value e0) {
                    SmallVector<Value, 3> words = pairWords(
                        eb, el,
                        loadKeyRow(eb, el, q, ValueRange{bIdx, h}, all, e0,
                                   kLanes),
                        loadKeyRow(eb, el, q, ValueRange{bIdx, h}, all,
                                   plusIdx(eb, el, e0, kLanes), kLanes),
                        pieces, /*interleaved=*/false);
                    Value e = arith::DivUIOp::create(eb, el, e0,
                                                     cIdx(eb, el, 2));
                    for (int64_t p = 0; p < pieces; ++p)
                      vector::StoreOp::create(
                          eb, el, words[p], qT,
                          ValueRange{r, plusIdx(eb, el, e, p * halfD)});
                  },
                  2 * kLanes);
              return;
            }
            pairRow(fb, l, q, ValueRange{bIdx, h}, row, yes, d, pieces,
                    [&](OpBuilder &sb, Location sl, Value e, int64_t p,
                        Value w) {
                      SmallVector<Value> at{pieceAt(sb, sl, e, p, halfD), r};
                      if (rowMajor)
                        std::swap(at[0], at[1]);
                      memref::StoreOp::create(sb, sl, w, qT, at);
                    });
          });
  return qT;
}
