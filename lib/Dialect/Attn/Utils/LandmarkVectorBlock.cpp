//===- LandmarkVectorBlock.cpp - attn.landmark's blocks on vectors --------===//

#include "attnir/Dialect/Attn/Utils/VectorHelpers.h"
#include "LandmarkVectorBlock.h"
#include "attnir/Dialect/Attn/Utils/BuildHelpers.h"
#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Math/IR/Math.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/Dialect/Vector/IR/VectorOps.h"
#include <limits>

using namespace mlir;
using namespace mlir::attn;
using namespace mlir::attn::landmark;

namespace {
int64_t staticDim(Value buf, int64_t d) {
  return cast<MemRefType>(buf.getType()).getDimSize(d);
}

Value splatF32(OpBuilder &b, Location l, VectorType vt, double v) {
  return arith::ConstantOp::create(
      b, l, DenseElementsAttr::get(vt, b.getF32FloatAttr(static_cast<float>(v))));
}

Value reduce(OpBuilder &b, Location l, vector::CombiningKind kind, Value v) {
  // reassoc: a tree across the lanes, not a chain of scalar ops.
  return vector::ReductionOp::create(b, l, kind, v, Value(),
                                     arith::FastMathFlags::reassoc);
}
} // namespace

bool mlir::attn::landmarkRowVectorizes(const LandmarkRow &row, int64_t lanes) {
  if (lanes <= 0 || !row.scores)
    return false;
  int64_t d = staticDim(row.q, 3), dv = staticDim(row.v, 3);
  return !ShapedType::isDynamic(d) && !ShapedType::isDynamic(dv) &&
         d % lanes == 0 && dv % lanes == 0 && staticDim(row.k, 3) == d &&
         staticDim(row.landmarks, 3) == d;
}

VectorRow::VectorRow(OpBuilder &b, Location loc, const LandmarkRow &row,
                     Value bi, Value h, Value g, Value i)
    : row(row), bi(bi), g(g), lanes(row.lanes),
      dVecs(staticDim(row.q, 3) / row.lanes),
      dvVecs(staticDim(row.v, 3) / row.lanes),
      chunks(landmarkScoresSize(row.block, row.lanes) / row.lanes),
      vt(VectorType::get({row.lanes}, b.getF32Type())) {
  Value scale = splatF32(b, loc, vt, row.scale);
  for (int64_t c = 0; c < dVecs; ++c)
    q.push_back(arith::MulFOp::create(
        b, loc, loadVec(b, loc, row.q, {bi, h, i, cIdx(b, loc, c * lanes)}),
        scale));
}

Value VectorRow::loadVec(OpBuilder &b, Location l, Value buf,
                         ValueRange at) const {
  Type elt = cast<MemRefType>(buf.getType()).getElementType();
  Value v = vector::LoadOp::create(b, l, VectorType::get({lanes}, elt), buf, at);
  return elt.isF32() ? v : arith::ExtFOp::create(b, l, vt, v).getResult();
}

Value VectorRow::dot(OpBuilder &b, Location l, Value buf, Value r) const {
  Value acc;
  for (int64_t c = 0; c < dVecs; ++c) {
    Value x = loadVec(b, l, buf, {bi, g, r, cIdx(b, l, c * lanes)});
    acc = acc ? math::FmaOp::create(b, l, q[c], x, acc).getResult()
              : arith::MulFOp::create(b, l, q[c], x).getResult();
  }
  return reduce(b, l, vector::CombiningKind::ADD, acc);
}

BlockState VectorRow::block(OpBuilder &b, Location l, Value j0,
                            Value n) const {
  if (row.block <= kLandmarkPieceKeys)
    return piece(b, l, j0, n);
  // A long block (up to 2^20 keys) unrolled whole took minutes to compile
  // and a stack buffer of its size: pieces of chunks * lanes keys instead,
  // each piece's (m, z, acc) folded into the running state.
  Value c0 = cIdx(b, l, 0), step = cIdx(b, l, chunks * lanes);
  SmallVector<Value> init = {cF32(b, l, -std::numeric_limits<float>::infinity()),
                             cF32(b, l, 0.0)};
  init.append(dvVecs, splatF32(b, l, vt, 0.0));
  auto loop = scf::ForOp::create(
      b, l, c0, n, step, init,
      [&](OpBuilder &x, Location xl, Value t, ValueRange st) {
        BlockState p = piece(x, xl, arith::AddIOp::create(x, xl, j0, t),
                             arith::MinUIOp::create(x, xl, step,
                                                    arith::SubIOp::create(x, xl, n, t)));
        Value m = arith::MaximumFOp::create(x, xl, st[0], p.m);
        Value a = math::ExpOp::create(x, xl, arith::SubFOp::create(x, xl, st[0], m));
        Value ap = math::ExpOp::create(x, xl, arith::SubFOp::create(x, xl, p.m, m));
        SmallVector<Value> next = {
            m, math::FmaOp::create(x, xl, st[1], a, arith::MulFOp::create(x, xl, p.z, ap))};
        Value av = vector::BroadcastOp::create(x, xl, vt, a);
        Value apv = vector::BroadcastOp::create(x, xl, vt, ap);
        for (int64_t e = 0; e < dvVecs; ++e)
          next.push_back(math::FmaOp::create(
              x, xl, st[2 + e], av, arith::MulFOp::create(x, xl, p.acc[e], apv)));
        scf::YieldOp::create(x, xl, next);
      });
  ValueRange r = loop.getResults();
  return {r[0], r[1], SmallVector<Value>(r.drop_front(2))};
}

BlockState VectorRow::piece(OpBuilder &b, Location l, Value j0,
                            Value n) const {
  Value c0 = cIdx(b, l, 0);
  forEach(b, l, c0, n, [&](OpBuilder &x, Location xl, Value t) {
    memref::StoreOp::create(
        x, xl, dot(x, xl, row.k, arith::AddIOp::create(x, xl, j0, t)),
        row.scores, ValueRange{t});
  });
  // Max and exp over whole chunks; lanes at or past n (stale scratch) are
  // -inf for the max and 0 for the sum and P V (never read there).
  auto chunkAt = [&](int64_t u) {
    return vector::LoadOp::create(b, l, vt, row.scores,
                                  ValueRange{cIdx(b, l, u * lanes)})
        .getResult();
  };
  Value ninf = splatF32(b, l, vt, -std::numeric_limits<double>::infinity());
  SmallVector<Value> s, live;
  Value mv;
  for (int64_t u = 0; u < chunks; ++u) {
    s.push_back(chunkAt(u));
    live.push_back(lanesBelow(b, l, u * lanes, lanes, n));
    Value x = arith::SelectOp::create(b, l, live[u], s[u], ninf);
    mv = mv ? arith::MaximumFOp::create(b, l, mv, x).getResult() : x;
  }
  Value m = reduce(b, l, vector::CombiningKind::MAXIMUMF, mv);
  Value mSplat = vector::BroadcastOp::create(b, l, vt, m);
  Value zeros = splatF32(b, l, vt, 0.0), zv;
  for (int64_t u = 0; u < chunks; ++u) {
    Value p = math::ExpOp::create(b, l, arith::SubFOp::create(b, l, s[u], mSplat));
    p = arith::SelectOp::create(b, l, live[u], p, zeros);
    vector::StoreOp::create(b, l, p, row.scores, ValueRange{cIdx(b, l, u * lanes)});
    zv = zv ? arith::AddFOp::create(b, l, zv, p).getResult() : p;
  }
  Value z = reduce(b, l, vector::CombiningKind::ADD, zv);
  // P V, the Dv / lanes accumulators in registers.
  auto pv = scf::ForOp::create(
      b, l, c0, n, cIdx(b, l, 1), SmallVector<Value>(dvVecs, zeros),
      [&](OpBuilder &x, Location xl, Value t, ValueRange acc) {
        Value p = vector::BroadcastOp::create(
            x, xl, vt, memref::LoadOp::create(x, xl, row.scores, ValueRange{t}));
        Value j = arith::AddIOp::create(x, xl, j0, t);
        SmallVector<Value> next;
        for (int64_t e = 0; e < dvVecs; ++e)
          next.push_back(math::FmaOp::create(
              x, xl, p, loadVec(x, xl, row.v, {bi, g, j, cIdx(x, xl, e * lanes)}),
              acc[e]));
        scf::YieldOp::create(x, xl, next);
      });
  return {m, z, SmallVector<Value>(pv.getResults())};
}

void VectorRow::padLogits(OpBuilder &b, Location l, Value logits,
                          Value count) const {
  Value w = cIdx(b, l, lanes);
  Value end = arith::MulIOp::create(b, l, arith::CeilDivUIOp::create(b, l, count, w), w);
  forEach(b, l, count, end, [&](OpBuilder &x, Location xl, Value t) {
    memref::StoreOp::create(x, xl, cF32(x, xl, std::numeric_limits<float>::quiet_NaN()),
                            logits, ValueRange{t});
  });
}

std::pair<Value, Value> VectorRow::bestLogit(OpBuilder &b, Location l,
                                             Value logits, Value count) const {
  auto it = VectorType::get({lanes}, b.getI32Type());
  auto splatI32 = [&](int32_t v) {
    return arith::ConstantOp::create(b, l, DenseElementsAttr::get(it, b.getI32IntegerAttr(v)))
        .getResult();
  };
  Value iota = iotaI32(b, l, lanes, 0);
  const int32_t none = std::numeric_limits<int32_t>::max();
  Value noneV = splatI32(none);
  Value ninf = splatF32(b, l, vt, -std::numeric_limits<double>::infinity());
  Value w = cIdx(b, l, lanes);
  Value chunks = arith::CeilDivUIOp::create(b, l, count, w);
  // Per lane: the first non-NaN logit, then the first strictly greater
  // (its chunks in block order, so ties keep the lower block).
  auto loop = scf::ForOp::create(
      b, l, cIdx(b, l, 0), chunks, cIdx(b, l, 1), ValueRange{ninf, noneV},
      [&](OpBuilder &x, Location xl, Value u, ValueRange cur) {
        Value j0 = arith::MulIOp::create(x, xl, u, w);
        Value a = vector::LoadOp::create(x, xl, vt, logits, ValueRange{j0});
        Value idx = arith::AddIOp::create(
            x, xl, iota,
            vector::BroadcastOp::create(
                x, xl, it, arith::IndexCastOp::create(x, xl, x.getI32Type(), j0)));
        Value empty = arith::CmpIOp::create(x, xl, arith::CmpIPredicate::eq, cur[1], noneV);
        Value better = arith::OrIOp::create(
            x, xl, arith::CmpFOp::create(x, xl, arith::CmpFPredicate::OGT, a, cur[0]),
            arith::AndIOp::create(x, xl, empty,
                                  arith::CmpFOp::create(x, xl, arith::CmpFPredicate::ORD, a, a)));
        scf::YieldOp::create(x, xl,
                             ValueRange{arith::SelectOp::create(x, xl, better, a, cur[0]),
                                        arith::SelectOp::create(x, xl, better, idx, cur[1])});
      });
  // Across lanes: the largest, then the lowest block holding it (a lane
  // that took nothing holds -inf and `none`, which every block precedes).
  Value m = reduce(b, l, vector::CombiningKind::MAXIMUMF, loop.getResult(0));
  Value at = arith::CmpFOp::create(b, l, arith::CmpFPredicate::OEQ, loop.getResult(0),
                                   vector::BroadcastOp::create(b, l, vt, m));
  Value win = vector::ReductionOp::create(
      b, l, vector::CombiningKind::MINSI,
      arith::SelectOp::create(b, l, at, loop.getResult(1), noneV));
  Value found = arith::CmpIOp::create(
      b, l, arith::CmpIPredicate::ne, win,
      arith::ConstantIntOp::create(b, l, b.getI32Type(), none));
  Value beta = arith::SelectOp::create(
      b, l, found, arith::IndexCastOp::create(b, l, b.getIndexType(), win), cIdx(b, l, 0));
  return {m, beta};
}

SmallVector<Value> VectorRow::load(OpBuilder &b, Location l, Value buf) const {
  SmallVector<Value> out;
  for (int64_t e = 0; e < dvVecs; ++e)
    out.push_back(vector::LoadOp::create(b, l, vt, buf,
                                         ValueRange{cIdx(b, l, e * lanes)}));
  return out;
}

void VectorRow::store(OpBuilder &b, Location l, ArrayRef<Value> acc,
                      Value buf) const {
  for (int64_t e = 0; e < dvVecs; ++e)
    vector::StoreOp::create(b, l, acc[e], buf, ValueRange{cIdx(b, l, e * lanes)});
}
