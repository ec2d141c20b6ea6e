//===- RouteBuilders.cpp - attn.route and attn.permute, one item ----------===//

#include "attnir/Dialect/Attn/Utils/RouteBuilders.h"
#include "attnir/Dialect/Attn/Utils/BuildHelpers.h"
#include "attnir/Reference/Reference.h"
#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Math/IR/Math.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/Dialect/Vector/IR/VectorOps.h"

using namespace mlir;
using namespace mlir::attn;

MemRefType mlir::attn::routeSignsType(RouteOp op) {
  int64_t d = cast<RankedTensorType>(op.getX().getType()).getDimSize(3);
  return MemRefType::get({d}, IntegerType::get(op.getContext(), 32));
}

void mlir::attn::declareRouteSigns(OpBuilder &b, Location loc, RouteOp op,
                                   StringRef name) {
  MemRefType ty = routeSignsType(op);
  uint64_t seed = op.getSeed() ? *op.getSeed() : 0;
  int64_t bits = op.getBits() ? static_cast<int64_t>(*op.getBits()) : 0;
  SmallVector<int32_t> words;
  for (int64_t d = 0; d < ty.getDimSize(0); ++d) {
    uint32_t w = 0;
    for (int64_t k = 0; k < bits; ++k)
      if (attnir::philox4x32Word0(static_cast<uint32_t>(seed),
                                  static_cast<uint32_t>(seed >> 32),
                                  static_cast<uint32_t>(d),
                                  static_cast<uint32_t>(k), 0, 0) &
          1u)
        w |= 1u << k;
    words.push_back(static_cast<int32_t>(w));
  }
  auto init = DenseElementsAttr::get(
      RankedTensorType::get(ty.getShape(), ty.getElementType()),
      ArrayRef<int32_t>(words));
  memref::GlobalOp::create(b, loc, name, b.getStringAttr("private"), ty, init,
                           /*constant=*/true, /*alignment=*/nullptr);
}

Value mlir::attn::routeBuckets(OpBuilder &b, Location loc,
                               const RouteSite &site) {
  if (site.centroids)
    return dimOf(b, loc, site.centroids, 1);
  return cIdx(b, loc, int64_t(1) << site.bits);
}

namespace {
Value toF64(OpBuilder &b, Location loc, Value v) {
  return v.getType().isF64() ? v : arith::ExtFOp::create(b, loc, b.getF64Type(), v).getResult();
}
Value loadF64(OpBuilder &b, Location loc, Value buf, ValueRange at) {
  return toF64(b, loc, memref::LoadOp::create(b, loc, buf, at));
}

/// argmax_c x . mu[h, c], ties to the lower c.
Value nearestCentroid(OpBuilder &b, Location loc, const RouteSite &site,
                      Value bi, Value h, Value t) {
  Value zero = cIdx(b, loc, 0), one = cIdx(b, loc, 1);
  Value C = dimOf(b, loc, site.centroids, 1), D = dimOf(b, loc, site.x, 3);
  return buildReferenceArgmax(b, loc, C, [&](OpBuilder &cb, Location l, Value c) {
    auto dot = scf::ForOp::create(
        cb, l, zero, D, one,
        ValueRange{arith::ConstantOp::create(cb, l, cb.getF64FloatAttr(0.0)).getResult()},
        [&](OpBuilder &db, Location dl, Value d, ValueRange acc) {
          Value p = arith::MulFOp::create(db, dl, loadF64(db, dl, site.x, {bi, h, t, d}),
                                          loadF64(db, dl, site.centroids, {h, c, d}));
          scf::YieldOp::create(db, dl, ValueRange{arith::AddFOp::create(db, dl, acc[0], p)});
        });
    return dot.getResult(0);
  });
}

/// sum_k [x . R[:, k] >= 0] 2^k: one float64 sum per bit, +-x_d by the
/// sign words.
Value lshBucket(OpBuilder &b, Location loc, const RouteSite &site, Value bi,
                Value h, Value t) {
  Value zero = cIdx(b, loc, 0), one = cIdx(b, loc, 1);
  Value D = dimOf(b, loc, site.x, 3);
  Value f0 = arith::ConstantOp::create(b, loc, b.getF64FloatAttr(0.0));
  SmallVector<Value> init(site.bits, f0);
  auto loop = scf::ForOp::create(
      b, loc, zero, D, one, init,
      [&](OpBuilder &db, Location l, Value d, ValueRange acc) {
        Value x = loadF64(db, l, site.x, {bi, h, t, d});
        Value neg = arith::NegFOp::create(db, l, x);
        Value word = memref::LoadOp::create(db, l, site.signs, ValueRange{d});
        SmallVector<Value> next;
        for (int64_t k = 0; k < site.bits; ++k) {
          Value bit = arith::AndIOp::create(
              db, l, word,
              arith::ConstantOp::create(db, l, db.getI32IntegerAttr(1 << k)));
          Value plus = arith::CmpIOp::create(
              db, l, arith::CmpIPredicate::ne, bit,
              arith::ConstantOp::create(db, l, db.getI32IntegerAttr(0)));
          next.push_back(arith::AddFOp::create(
              db, l, acc[k], arith::SelectOp::create(db, l, plus, x, neg)));
        }
        scf::YieldOp::create(db, l, next);
      });
  Value bucket = zero;
  for (int64_t k = 0; k < site.bits; ++k) {
    Value set = arith::CmpFOp::create(b, loc, arith::CmpFPredicate::OGE,
                                      loop.getResult(k), f0);
    bucket = arith::SelectOp::create(
        b, loc, set,
        arith::OrIOp::create(b, loc, bucket, cIdx(b, loc, int64_t(1) << k)),
        bucket);
  }
  return bucket;
}

/// nearestCentroid for a few static centroids and one or more tokens: one
/// pass over the features with a float64 sum per token and centroid (each
/// the same sum in the same order as the reference's), so x is read once
/// and each centroid piece, once loaded, serves every token.
SmallVector<Value> nearestOfFew(OpBuilder &b, Location loc,
                                const RouteSite &site, int64_t C, Value bi,
                                Value h, ArrayRef<Value> ts) {
  Value zero = cIdx(b, loc, 0);
  Value D = dimOf(b, loc, site.x, 3);
  Value f0 = arith::ConstantOp::create(b, loc, b.getF64FloatAttr(0.0));
  const int64_t T = ts.size();
  // Static rows of whole 16-byte pieces are read a piece at a time (one
  // vector load of x and one per centroid); the sums stay in feature order.
  auto xt = cast<MemRefType>(site.x.getType());
  int64_t dStatic = xt.getDimSize(3), bytes = xt.getElementTypeBitWidth() / 8;
  int64_t width = site.rowAlign >= 16 && !ShapedType::isDynamic(dStatic) &&
                          (dStatic * bytes) % 16 == 0
                      ? 16 / bytes
                      : 1;
  auto piece = [&](OpBuilder &db, Location l, Value buf, ValueRange at) {
    SmallVector<Value> out;
    if (width == 1) {
      out.push_back(loadF64(db, l, buf, at));
      return out;
    }
    auto vt = VectorType::get({width}, cast<MemRefType>(buf.getType()).getElementType());
    Value v = vector::LoadOp::create(db, l, vt, buf, at, false,
                                     llvm::MaybeAlign(16));
    for (int64_t e = 0; e < width; ++e)
      out.push_back(toF64(db, l, vector::ExtractOp::create(db, l, v, ArrayRef<int64_t>{e})));
    return out;
  };
  // Sums token-major: acc[u * C + c].
  auto loop = scf::ForOp::create(
      b, loc, zero, D, cIdx(b, loc, width), SmallVector<Value>(T * C, f0),
      [&](OpBuilder &db, Location l, Value d, ValueRange acc) {
        SmallVector<SmallVector<Value>> x;
        for (Value t : ts)
          x.push_back(piece(db, l, site.x, {bi, h, t, d}));
        SmallVector<Value> next(acc);
        for (int64_t c = 0; c < C; ++c) {
          SmallVector<Value> m = piece(db, l, site.centroids,
                                       {site.centroidHead ? site.centroidHead : h,
                                        cIdx(db, l, c), d});
          // One fma per term: the product of two values of at most 24
          // significant bits is exact in f64, so fma(x, m, s) rounds once
          // exactly where s + x m did (the reference's bits).
          for (int64_t u = 0; u < T; ++u)
            for (int64_t e = 0; e < width; ++e)
              next[u * C + c] =
                  math::FmaOp::create(db, l, x[u][e], m[e], next[u * C + c]);
        }
        scf::YieldOp::create(db, l, next);
      });
  // The first strictly greater wins: ties to the lower c, a NaN never.
  SmallVector<Value> buckets;
  for (int64_t u = 0; u < T; ++u) {
    Value best = loop.getResult(u * C), bestC = zero;
    for (int64_t c = 1; c < C; ++c) {
      Value s = loop.getResult(u * C + c);
      Value better = arith::CmpFOp::create(b, loc, arith::CmpFPredicate::OGT, s, best);
      best = arith::SelectOp::create(b, loc, better, s, best);
      bestC = arith::SelectOp::create(b, loc, better, cIdx(b, loc, c), bestC);
    }
    buckets.push_back(bestC);
  }
  return buckets;
}
} // namespace

Value mlir::attn::buildReferenceArgmax(
    OpBuilder &b, Location loc, Value C,
    function_ref<Value(OpBuilder &, Location, Value)> score,
    function_ref<Value(OpBuilder &, Location, Value)> candidate) {
  Value zero = cIdx(b, loc, 0), one = cIdx(b, loc, 1);
  Type i1 = b.getI1Type();
  // better = first || s > best, where `first` is c == 0 without
  // candidates and "none held yet" with them.
  auto step = [&](OpBuilder &sb, Location l, Value s, Value c, Value first,
                  ValueRange best) {
    Value better = arith::OrIOp::create(
        sb, l, first, arith::CmpFOp::create(sb, l, arith::CmpFPredicate::OGT, s, best[0]));
    return SmallVector<Value>{arith::SelectOp::create(sb, l, better, s, best[0]),
                              arith::SelectOp::create(sb, l, better, c, best[1])};
  };
  if (!candidate) {
    Value lowest = arith::ConstantOp::create(
        b, loc, b.getF64FloatAttr(-std::numeric_limits<double>::infinity()));
    auto loop = scf::ForOp::create(
        b, loc, zero, C, one, ValueRange{lowest, zero},
        [&](OpBuilder &cb, Location l, Value c, ValueRange best) {
          Value s = score(cb, l, c);
          Value first = arith::CmpIOp::create(cb, l, arith::CmpIPredicate::eq, c, zero);
          scf::YieldOp::create(cb, l, step(cb, l, s, c, first, best));
        });
    return loop.getResult(1);
  }
  Value f0 = arith::ConstantOp::create(b, loc, b.getF64FloatAttr(0.0));
  auto loop = scf::ForOp::create(
      b, loc, zero, C, one,
      ValueRange{f0, zero, arith::ConstantIntOp::create(b, loc, i1, 0)},
      [&](OpBuilder &cb, Location l, Value c, ValueRange best) {
        auto visit = scf::IfOp::create(
            cb, l, candidate(cb, l, c),
            [&](OpBuilder &tb, Location tl) {
              Value s = score(tb, tl, c);
              Value none = arith::XOrIOp::create(
                  tb, tl, best[2], arith::ConstantIntOp::create(tb, tl, i1, 1));
              SmallVector<Value> next = step(tb, tl, s, c, none, best.take_front(2));
              next.push_back(arith::ConstantIntOp::create(tb, tl, i1, 1));
              scf::YieldOp::create(tb, tl, next);
            },
            [&](OpBuilder &eb, Location el) { scf::YieldOp::create(eb, el, best); });
        scf::YieldOp::create(cb, l, visit.getResults());
      });
  return loop.getResult(1);
}

Value mlir::attn::buildRouteBucketAt(OpBuilder &b, Location loc,
                                     const RouteSite &site, Value bi, Value h,
                                     Value t) {
  if (!site.centroids)
    return lshBucket(b, loc, site, bi, h, t);
  int64_t C = cast<MemRefType>(site.centroids.getType()).getDimSize(1);
  if (!ShapedType::isDynamic(C) && C <= kFewCentroids)
    return nearestOfFew(b, loc, site, C, bi, h, t).front();
  return nearestCentroid(b, loc, site, bi, h, t);
}

SmallVector<Value> mlir::attn::buildRouteBucketsAt(OpBuilder &b, Location loc,
                                                   const RouteSite &site,
                                                   Value bi, Value h,
                                                   ArrayRef<Value> ts) {
  int64_t C = site.centroids
                  ? cast<MemRefType>(site.centroids.getType()).getDimSize(1)
                  : ShapedType::kDynamic;
  if (!ShapedType::isDynamic(C) && C <= kFewCentroids)
    return nearestOfFew(b, loc, site, C, bi, h, ts);
  SmallVector<Value> buckets;
  for (Value t : ts)
    buckets.push_back(buildRouteBucketAt(b, loc, site, bi, h, t));
  return buckets;
}

namespace {
Value loadIndex(OpBuilder &b, Location loc, Value buf, ValueRange at) {
  Value v = memref::LoadOp::create(b, loc, buf, at);
  return arith::IndexCastOp::create(b, loc, b.getIndexType(), v);
}
void storeIndex(OpBuilder &b, Location loc, Value v, Value buf, ValueRange at) {
  Type elt = cast<MemRefType>(buf.getType()).getElementType();
  memref::StoreOp::create(b, loc, arith::IndexCastOp::create(b, loc, elt, v),
                          buf, at);
}

/// A stable counting sort of the positions 0 .. n-1 of row (bi, h) by
/// `keyOf(t)` in [0, keys): `start` (index, keys + 1 entries) counts, then
/// holds each key's next slot; perm[slot] = t in position order.
void countingSortRow(OpBuilder &b, Location loc, Value n, Value keys,
                     Value start, Value perm, Value bi, Value h,
                     function_ref<Value(OpBuilder &, Location, Value)> keyOf) {
  Value zero = cIdx(b, loc, 0), one = cIdx(b, loc, 1);
  Value slots = arith::AddIOp::create(b, loc, keys, one);
  forEach(b, loc, zero, slots, [&](OpBuilder &fb, Location l, Value c) {
    memref::StoreOp::create(fb, l, zero, start, ValueRange{c});
  });
  // Histogram into start[key + 1], then its inclusive prefix: start[c]
  // is the first slot of key c.
  forEach(b, loc, zero, n, [&](OpBuilder &fb, Location l, Value t) {
    Value c = arith::AddIOp::create(fb, l, keyOf(fb, l, t), one);
    Value cnt = memref::LoadOp::create(fb, l, start, ValueRange{c});
    memref::StoreOp::create(fb, l, arith::AddIOp::create(fb, l, cnt, one), start,
                            ValueRange{c});
  });
  forEach(b, loc, one, slots, [&](OpBuilder &fb, Location l, Value c) {
    Value prev = memref::LoadOp::create(
        fb, l, start, ValueRange{arith::SubIOp::create(fb, l, c, one)});
    Value cur = memref::LoadOp::create(fb, l, start, ValueRange{c});
    memref::StoreOp::create(fb, l, arith::AddIOp::create(fb, l, prev, cur),
                            start, ValueRange{c});
  });
  // Stable: tokens of one key take its slots in position order.
  forEach(b, loc, zero, n, [&](OpBuilder &fb, Location l, Value t) {
    Value c = keyOf(fb, l, t);
    Value slot = memref::LoadOp::create(fb, l, start, ValueRange{c});
    storeIndex(fb, l, t, perm, {bi, h, slot});
    memref::StoreOp::create(fb, l, arith::AddIOp::create(fb, l, slot, one),
                            start, ValueRange{c});
  });
}
} // namespace

void mlir::attn::buildRouteOrderRow(OpBuilder &b, Location loc, Value bucket,
                                    Value perm, Value start, Value buckets,
                                    Value bi, Value h) {
  countingSortRow(b, loc, dimOf(b, loc, bucket, 2), buckets, start, perm, bi,
                  h, [&](OpBuilder &fb, Location l, Value t) {
                    return loadIndex(fb, l, bucket, {bi, h, t});
                  });
}

void mlir::attn::buildChunkOrderRow(OpBuilder &b, Location loc, Value perm,
                                    Value slot, Value start, int64_t chunks,
                                    Value bi, Value h) {
  Value zero = cIdx(b, loc, 0), one = cIdx(b, loc, 1);
  Value N = dimOf(b, loc, perm, 2);
  // w = ceil(N / C), at least 1; a token's chunk is its slot / w.
  Value w = arith::MaxUIOp::create(
      b, loc, arith::CeilDivUIOp::create(b, loc, N, cIdx(b, loc, chunks)), one);
  forEach(b, loc, zero, N, [&](OpBuilder &fb, Location l, Value s) {
    memref::StoreOp::create(fb, l, s, slot,
                            ValueRange{loadIndex(fb, l, perm, {bi, h, s})});
  });
  countingSortRow(b, loc, N, cIdx(b, loc, chunks), start, perm, bi, h,
                  [&](OpBuilder &fb, Location l, Value t) -> Value {
                    Value s = memref::LoadOp::create(fb, l, slot, ValueRange{t});
                    return arith::DivUIOp::create(fb, l, s, w);
                  });
}

namespace {
/// x's head for perm's head h: h Hx / H, which is h / (H / Hx) for GQA
/// groups and in range for any shapes (the scatter keeps the head).
Value permuteSourceHead(OpBuilder &b, Location loc, bool inverse, Value x,
                        Value perm, Value h) {
  if (inverse)
    return h;
  return arith::DivUIOp::create(
      b, loc, arith::MulIOp::create(b, loc, h, dimOf(b, loc, x, 1)),
      dimOf(b, loc, perm, 1));
}
} // namespace

void mlir::attn::buildPermuteAt(OpBuilder &b, Location loc, bool inverse,
                                Value x, Value perm, Value out,
                                ArrayRef<Value> at, int64_t width) {
  Value p = loadIndex(b, loc, perm, {at[0], at[1], at[2]});
  Value hx = permuteSourceHead(b, loc, inverse, x, perm, at[1]);
  SmallVector<Value> from(at), to(at);
  from[1] = hx;
  (inverse ? to : from)[2] = p;
  if (width == 1) {
    Value v = memref::LoadOp::create(b, loc, x, from);
    memref::StoreOp::create(b, loc, v, out, to);
    return;
  }
  auto vt = VectorType::get({width},
                            cast<MemRefType>(x.getType()).getElementType());
  auto align = llvm::MaybeAlign(16);
  Value v = vector::LoadOp::create(b, loc, vt, x, from, false, align);
  vector::StoreOp::create(b, loc, v, out, to, false, align);
}

void mlir::attn::buildPermuteRow(OpBuilder &b, Location loc, bool inverse,
                                 Value x, Value perm, Value out, Value bi,
                                 Value h, Value s) {
  Value p = loadIndex(b, loc, perm, {bi, h, s});
  Value hx = permuteSourceHead(b, loc, inverse, x, perm, h);
  Value from = inverse ? s : p, to = inverse ? p : s;
  auto rank = cast<MemRefType>(x.getType()).getRank();
  if (rank == 3) {
    Value v = memref::LoadOp::create(b, loc, x, ValueRange{bi, hx, from});
    memref::StoreOp::create(b, loc, v, out, ValueRange{bi, h, to});
    return;
  }
  forEach(b, loc, cIdx(b, loc, 0), dimOf(b, loc, x, 3),
          [&](OpBuilder &fb, Location l, Value d) {
            Value v = memref::LoadOp::create(fb, l, x,
                                             ValueRange{bi, hx, from, d});
            memref::StoreOp::create(fb, l, v, out, ValueRange{bi, h, to, d});
          });
}
