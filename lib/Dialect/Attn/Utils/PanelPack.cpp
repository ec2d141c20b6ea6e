//===- PanelPack.cpp - K and V packed for the CPU tile body ---------------===//

#include "attnir/Dialect/Attn/Utils/PanelPack.h"
#include "attnir/Dialect/Attn/Utils/BuildHelpers.h"
#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/Dialect/Vector/IR/VectorOps.h"

using namespace mlir;
using namespace mlir::attn;

SmallVector<Value> mlir::attn::transposeSquare(OpBuilder &b, Location loc,
                                               ArrayRef<Value> rows) {
  int64_t n = rows.size(), half = n / 2;
  // Interleave the low (high) halves of rows i and i + n/2 into rows 2i
  // (2i + 1): after log2 n rounds row c holds column c.
  SmallVector<int64_t> lo, hi;
  for (int64_t i = 0; i < half; ++i) {
    lo.append({i, n + i});
    hi.append({half + i, n + half + i});
  }
  SmallVector<Value> cur(rows.begin(), rows.end()), next(n);
  for (int64_t width = 1; width < n; width *= 2) {
    for (int64_t i = 0; i < half; ++i) {
      next[2 * i] = vector::ShuffleOp::create(b, loc, cur[i], cur[i + half], lo);
      next[2 * i + 1] =
          vector::ShuffleOp::create(b, loc, cur[i], cur[i + half], hi);
    }
    std::swap(cur, next);
  }
  return cur;
}

namespace {

/// [bh..., row, e]: the leading indices (batch and head of K or V, the
/// batch alone of attn.index_scores' ki), then the key's row and feature.
SmallVector<Value, 4> rowIndex(ValueRange bh, Value row, Value e) {
  SmallVector<Value, 4> idx(bh.begin(), bh.end());
  idx.push_back(row);
  idx.push_back(e);
  return idx;
}

/// src[bh..., row, e] in f32, or 0 where !keep.
Value loadScalar(OpBuilder &b, Location l, Value src, ValueRange bh,
                 const KeyRow &key, Value e) {
  Value x = toF32(b, l,
                  memref::LoadOp::create(b, l, src, rowIndex(bh, key.row, e)));
  return arith::SelectOp::create(b, l, key.keep, x, cF32(b, l, 0.0));
}

} // namespace

Value mlir::attn::loadKeyRow(OpBuilder &b, Location l, Value src,
                             ValueRange bh, const KeyRow &key, Value e,
                             int64_t lanes) {
  Type elt = cast<MemRefType>(src.getType()).getElementType();
  Value x = vector::LoadOp::create(b, l, VectorType::get({lanes}, elt), src,
                                   rowIndex(bh, key.row, e));
  auto f32 = VectorType::get({lanes}, b.getF32Type());
  if (!elt.isF32())
    x = arith::ExtFOp::create(b, l, f32, x);
  Value zero =
      arith::ConstantOp::create(b, l, DenseElementsAttr::get(f32, 0.0f));
  return arith::SelectOp::create(b, l, key.keep, x, zero);
}

void mlir::attn::packKeySquare(OpBuilder &b, Location l, Value k,
                               ValueRange srcBH, ArrayRef<KeyRow> keys,
                               Value kT, ValueRange panel, Value jj0,
                               int64_t d) {
  int64_t lanes = keys.size();
  int64_t dFull = d / lanes * lanes;
  scf::ForOp::create(
      b, l, cIdx(b, l, 0), cIdx(b, l, dFull), cIdx(b, l, lanes), ValueRange{},
      [&](OpBuilder &fb, Location fl, Value e0, ValueRange) {
        SmallVector<Value> rows;
        for (const KeyRow &key : keys)
          rows.push_back(loadKeyRow(fb, fl, k, srcBH, key, e0, lanes));
        SmallVector<Value> cols = transposeSquare(fb, fl, rows);
        for (int64_t t = 0; t < lanes; ++t)
          vector::StoreOp::create(fb, fl, cols[t], kT,
                                  ValueRange{panel[0], panel[1], panel[2],
                                             plusIdx(fb, fl, e0, t), jj0});
        scf::YieldOp::create(fb, fl);
      });
  if (dFull == d)
    return;
  forEach(b, l, cIdx(b, l, dFull), cIdx(b, l, d),
          [&](OpBuilder &fb, Location fl, Value e) {
            for (int64_t t = 0; t < lanes; ++t)
              memref::StoreOp::create(
                  fb, fl, loadScalar(fb, fl, k, srcBH, keys[t], e), kT,
                  ValueRange{panel[0], panel[1], panel[2], e,
                             plusIdx(fb, fl, jj0, t)});
          });
}

void mlir::attn::packValueRow(OpBuilder &b, Location l, Value v,
                              ValueRange srcBH, const KeyRow &key, Value vp,
                              ValueRange dstRow, int64_t dv, int64_t dvPad,
                              int64_t lanes) {
  int64_t full = dv / lanes * lanes;
  auto at = [&](Value c) {
    return SmallVector<Value, 4>{dstRow[0], dstRow[1], dstRow[2], c};
  };
  scf::ForOp::create(
      b, l, cIdx(b, l, 0), cIdx(b, l, full), cIdx(b, l, lanes), ValueRange{},
      [&](OpBuilder &fb, Location fl, Value c, ValueRange) {
        vector::StoreOp::create(fb, fl, loadKeyRow(fb, fl, v, srcBH, key, c, lanes),
                                vp, at(c));
        scf::YieldOp::create(fb, fl);
      });
  forEach(b, l, cIdx(b, l, full), cIdx(b, l, dv),
          [&](OpBuilder &fb, Location fl, Value c) {
            memref::StoreOp::create(fb, fl, loadScalar(fb, fl, v, srcBH, key, c),
                                    vp, at(c));
          });
  forEach(b, l, cIdx(b, l, dv), cIdx(b, l, dvPad),
          [&](OpBuilder &fb, Location fl, Value c) {
            memref::StoreOp::create(fb, fl, cF32(fb, fl, 0.0), vp, at(c));
          });
}

void mlir::attn::buildPanelPack(OpBuilder &rw, Location loc, Value k, Value v,
                                Value kT, Value vp, Value B, Value Hkv,
                                Value M, Value numBlocks, int64_t d,
                                int64_t dv, int64_t dvPad, int64_t bk,
                                int64_t lanes,
                                ValueRange head) {
  // One task per (batch, head, key block): coarse enough that OpenMP's
  // per-iteration cost vanishes, and each task writes one contiguous
  // D x BK panel of kT.
  OpBuilder::InsertionGuard g(rw);
  SmallVector<Value, 3> task =
      openKeyBlockTasks(rw, loc, B, Hkv, numBlocks, head);
  Value first = arith::MulIOp::create(rw, loc, task[2], cIdx(rw, loc, bk));
  ValueRange bh = ValueRange(task).take_front(2);
  scf::ForOp::create(
      rw, loc, cIdx(rw, loc, 0), cIdx(rw, loc, bk), cIdx(rw, loc, lanes),
      ValueRange{}, [&](OpBuilder &fb, Location l, Value jj0, ValueRange) {
        SmallVector<KeyRow> keys;
        for (int64_t t = 0; t < lanes; ++t)
          keys.push_back(keyRowOf(
              fb, l, arith::AddIOp::create(fb, l, first, plusIdx(fb, l, jj0, t)),
              M));
        packKeySquare(fb, l, k, bh, keys, kT, task, jj0, d);
        scf::YieldOp::create(fb, l);
      });
  forEach(rw, loc, cIdx(rw, loc, 0), cIdx(rw, loc, bk),
          [&](OpBuilder &fb, Location l, Value jj) {
            Value j = arith::AddIOp::create(fb, l, first, jj);
            packValueRow(fb, l, v, bh, keyRowOf(fb, l, j, M), vp,
                         ValueRange{task[0], task[1], j}, dv, dvPad, lanes);
          });
}
