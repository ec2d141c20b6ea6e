//===- IndexScoreVectors.cpp - attn.index_scores rows on CPU vectors ------===//
//
// DSA's lightning indexer scores every key for each query token:
// row[s] = sum_h w[t, h] relu(qi[h, t] . ki[s]). The scalar row
// (buildIndexScoreRow) is one dot product per (key, head) that LLVM
// vectorises along DI and reduces across lanes per score, and a causal row
// computes its keys past the bound too. Here ki is transposed once per call
// into blocks of L keys (packIndexKeys), so a vector holds L consecutive
// keys and the dot products become broadcast FMAs: a register tile of up to
// 4 heads x C key vectors, reduced over DI, with no reduction across lanes.
//
//===----------------------------------------------------------------------===//

#include "attnir/Dialect/Attn/Utils/LoopLowering.h"
#include "attnir/Dialect/Attn/Utils/PanelPack.h"
#include "attnir/Dialect/Attn/Utils/SelectionBuilders.h"
#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/Dialect/Vector/IR/VectorOps.h"
#include <limits>

using namespace mlir;
using namespace mlir::attn;

Value mlir::attn::indexRowEnd(OpBuilder &b, Location loc, Value qi, Value ki,
                              Value t) {
  return causalRowEnd(b, loc, dimOf(b, loc, qi, 2), dimOf(b, loc, ki, 1), t);
}

Value mlir::attn::causalRowEnd(OpBuilder &b, Location loc, Value n, Value m,
                               Value t) {
  Value last =
      arith::SubIOp::create(b, loc, arith::AddIOp::create(b, loc, t, m), n);
  return arith::MinSIOp::create(
      b, loc, m,
      arith::MaxSIOp::create(b, loc, cIdx(b, loc, 0), plusIdx(b, loc, last, 1)));
}

Value mlir::attn::packIndexKeys(OpBuilder &b, Location loc, Value ki,
                                int64_t lanes) {
  int64_t di = cast<MemRefType>(ki.getType()).getDimSize(2);
  Value B = dimOf(b, loc, ki, 0), M = dimOf(b, loc, ki, 1);
  Value c0 = cIdx(b, loc, 0);
  Value blocks = arith::CeilDivUIOp::create(b, loc, M, cIdx(b, loc, lanes));
  int64_t dyn = ShapedType::kDynamic;
  Value kT = memref::AllocOp::create(
      b, loc, MemRefType::get({dyn, 1, dyn, di, lanes}, b.getF32Type()),
      ValueRange{B, blocks});
  parallelRows(b, loc, {B, blocks},
               [&](OpBuilder &pb, Location pl, ValueRange iv) {
                 Value s0 = arith::MulIOp::create(pb, pl, iv[1],
                                                  cIdx(pb, pl, lanes));
                 SmallVector<KeyRow> rows;
                 for (int64_t t = 0; t < lanes; ++t)
                   rows.push_back(keyRowOf(pb, pl, plusIdx(pb, pl, s0, t), M));
                 packKeySquare(pb, pl, ki, ValueRange{iv[0]}, rows, kT,
                               ValueRange{iv[0], c0, iv[1]}, c0, di);
               });
  return kT;
}

namespace {

/// One index row's vector code: the row (b, t) of `site`, its keys packed
/// in `kT`, its scores stored in `row`.
struct IndexVectorRow {
  const IndexRow &site;
  Value kT;
  const RowRef &row;
  int64_t lanes, heads, di;

  VectorType vt(OpBuilder &b) const {
    return VectorType::get({lanes}, b.getF32Type());
  }
  Value splat(OpBuilder &b, Location l, Value x) const {
    return vector::BroadcastOp::create(b, l, vt(b), x);
  }
  Value zeros(OpBuilder &b, Location l) const {
    return arith::ConstantOp::create(b, l,
                                     DenseElementsAttr::get(vt(b), 0.0f));
  }

  /// totals[c] + sum over heads [h0, h0 + r) of w_h relu(q_h . k) for the
  /// `width` key vectors of blocks [blk, blk + width).
  SmallVector<Value> addHeads(OpBuilder &b, Location l, Value blk,
                              int64_t width, Value h0, int64_t r,
                              ValueRange totals) const {
    SmallVector<Value> init(r * width, zeros(b, l));
    auto loop = scf::ForOp::create(
        b, l, cIdx(b, l, 0), cIdx(b, l, di), cIdx(b, l, 1), init,
        [&](OpBuilder &eb, Location el, Value e, ValueRange acc) {
          SmallVector<Value> keys;
          for (int64_t c = 0; c < width; ++c)
            keys.push_back(vector::LoadOp::create(
                eb, el, vt(eb), kT,
                ValueRange{site.b, cIdx(eb, el, 0), plusIdx(eb, el, blk, c), e,
                           cIdx(eb, el, 0)}));
          SmallVector<Value> next(acc.begin(), acc.end());
          for (int64_t h = 0; h < r; ++h) {
            Value q = splat(eb, el,
                            toF32(eb, el,
                                  memref::LoadOp::create(
                                      eb, el, site.qi,
                                      ValueRange{site.b, plusIdx(eb, el, h0, h),
                                                 site.t, e})));
            for (int64_t c = 0; c < width; ++c)
              next[h * width + c] =
                  vector::FMAOp::create(eb, el, q, keys[c], next[h * width + c]);
          }
          scf::YieldOp::create(eb, el, next);
        });
    SmallVector<Value> out(totals.begin(), totals.end());
    Value zero = zeros(b, l);
    for (int64_t h = 0; h < r; ++h) {
      Value w = splat(b, l,
                      toF32(b, l,
                            memref::LoadOp::create(
                                b, l, site.w,
                                ValueRange{site.b, site.t, plusIdx(b, l, h0, h)})));
      for (int64_t c = 0; c < width; ++c) {
        // maximumf: a NaN dot stays NaN, as in the scalar row.
        Value relu = arith::MaximumFOp::create(b, l, loop.getResult(h * width + c),
                                               zero);
        out[c] = vector::FMAOp::create(b, l, w, relu, out[c]);
      }
    }
    return out;
  }

  /// The totals of the `width` key vectors at block `blk`, every head.
  SmallVector<Value> totals(OpBuilder &b, Location l, Value blk,
                            int64_t width) const {
    constexpr int64_t kHeadTile = 4;
    SmallVector<Value> init(width, zeros(b, l));
    int64_t groups = heads / kHeadTile, tail = heads % kHeadTile;
    SmallVector<Value> sums = init;
    if (groups > 0) {
      auto loop = scf::ForOp::create(
          b, l, cIdx(b, l, 0), cIdx(b, l, groups), cIdx(b, l, 1), init,
          [&](OpBuilder &gb, Location gl, Value g, ValueRange acc) {
            Value h0 = arith::MulIOp::create(gb, gl, g, cIdx(gb, gl, kHeadTile));
            scf::YieldOp::create(
                gb, gl, addHeads(gb, gl, blk, width, h0, kHeadTile, acc));
          });
      sums.assign(loop.getResults().begin(), loop.getResults().end());
    }
    if (tail > 0)
      sums = addHeads(b, l, blk, width, cIdx(b, l, groups * kHeadTile), tail,
                      sums);
    return sums;
  }

  /// Lanes of the vector at key s0 whose key is in [lo, hi).
  Value lanesIn(OpBuilder &b, Location l, Value s0, Value lo, Value hi) const {
    Type i64 = b.getI64Type();
    auto ivt = VectorType::get({lanes}, i64);
    SmallVector<APInt> iota;
    for (int64_t x = 0; x < lanes; ++x)
      iota.push_back(APInt(64, x));
    auto asVec = [&](Value x) {
      return vector::BroadcastOp::create(
          b, l, ivt, arith::IndexCastOp::create(b, l, i64, x));
    };
    Value keys = arith::AddIOp::create(
        b, l, asVec(s0),
        arith::ConstantOp::create(b, l, DenseElementsAttr::get(ivt, iota)));
    return arith::AndIOp::create(
        b, l,
        arith::CmpIOp::create(b, l, arith::CmpIPredicate::sge, keys, asVec(lo)),
        arith::CmpIOp::create(b, l, arith::CmpIPredicate::slt, keys, asVec(hi)));
  }

  void storeMasked(OpBuilder &b, Location l, Value s0, Value mask,
                   Value x) const {
    vector::MaskedStoreOp::create(b, l, row.buffer, row.at(s0), mask, x);
  }
};

} // namespace

void mlir::attn::buildIndexScoreVectorRow(OpBuilder &b, Location loc,
                                          const IndexRow &s, Value kT,
                                          const RowRef &row, int64_t lanes) {
  auto qiType = cast<MemRefType>(s.qi.getType());
  IndexVectorRow v{s, kT, row, lanes, qiType.getDimSize(1),
                   qiType.getDimSize(3)};
  Value c0 = cIdx(b, loc, 0);
  Value m = dimOf(b, loc, s.ki, 1);
  // Keys [0, end) are scored: all M, or those up to the causal bound
  // t + M - N (none when it is negative).
  Value end = s.causal ? indexRowEnd(b, loc, s.qi, s.ki, s.t) : m;
  int64_t width = lanes == 16 ? 4 : 2; // key vectors per tile (32 or 16 registers)
  Value cL = cIdx(b, loc, lanes), span = cIdx(b, loc, width * lanes);
  // Whole tiles of width vectors, then single vectors up to end (the last
  // one masked), then -inf for the keys past end.
  Value wide = arith::MulIOp::create(
      b, loc, arith::DivUIOp::create(b, loc, end, span), span);
  forEach(
      b, loc, c0, arith::DivUIOp::create(b, loc, wide, cL),
      [&](OpBuilder &tb, Location tl, Value blk) {
        SmallVector<Value> t = v.totals(tb, tl, blk, width);
        for (int64_t c = 0; c < width; ++c)
          vector::StoreOp::create(
              tb, tl, t[c], row.buffer,
              row.at(arith::MulIOp::create(tb, tl, plusIdx(tb, tl, blk, c),
                                           cIdx(tb, tl, lanes))));
      },
      width);
  Value endBlocks = arith::CeilDivUIOp::create(b, loc, end, cL);
  forEach(b, loc, arith::DivUIOp::create(b, loc, wide, cL), endBlocks,
          [&](OpBuilder &tb, Location tl, Value blk) {
            Value s0 = arith::MulIOp::create(tb, tl, blk, cIdx(tb, tl, lanes));
            SmallVector<Value> t = v.totals(tb, tl, blk, 1);
            v.storeMasked(tb, tl, s0, v.lanesIn(tb, tl, s0, s0, end), t[0]);
          });
  if (!s.causal)
    return;
  Value negInf = v.splat(
      b, loc, cF32(b, loc, -std::numeric_limits<double>::infinity()));
  forEach(b, loc, arith::DivUIOp::create(b, loc, end, cL),
          arith::CeilDivUIOp::create(b, loc, m, cL),
          [&](OpBuilder &tb, Location tl, Value blk) {
            Value s0 = arith::MulIOp::create(tb, tl, blk, cIdx(tb, tl, lanes));
            v.storeMasked(tb, tl, s0, v.lanesIn(tb, tl, s0, end, m), negInf);
          });
}
