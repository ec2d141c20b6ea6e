//===- SelectionBuilders.cpp - the selection ops' per-row bodies ----------===//
//
// Selection without a sort: the kept blocks of a row are "forced" blocks
// (first / local / last, by position) plus every candidate that ranks at or
// before a cut (score, id) in the order "higher score first, lower id on
// ties". The cut is found by repeated arg-max passes over the row (k passes
// for topk(k); for threshold(tau) as many as it takes to reach the mass),
// and one last pass writes the kept ids in ascending order, so no list is
// ever sorted. Rows are short (Nk key blocks: 256 at N = 16384 with blocks
// of 64) and k small, so k + 2 passes over a row in L1 cost far less than
// the attention the list feeds. Token-level selection (Nk = M, k in the
// thousands) finds the same cut by radix select (buildRadixCut).
//
//===----------------------------------------------------------------------===//

#include "attnir/Dialect/Attn/Utils/SelectionBuilders.h"
#include "attnir/Dialect/Attn/Utils/BuildHelpers.h"
#include "attnir/Dialect/Attn/Utils/KeySchedule.h"
#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Math/IR/Math.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/Dialect/Vector/IR/VectorOps.h"
#include <limits>

using namespace mlir;
using namespace mlir::attn;

namespace {

constexpr double kInf = std::numeric_limits<double>::infinity();

Value indexToF32(OpBuilder &b, Location loc, Value i) {
  Value i64 = arith::IndexCastOp::create(b, loc, b.getI64Type(), i);
  return arith::SIToFPOp::create(b, loc, b.getF32Type(), i64);
}

} // namespace

SmallVector<Value> RowRef::at(Value j) const {
  SmallVector<Value> idx(prefix.begin(), prefix.end());
  idx.push_back(j);
  return idx;
}

Value RowRef::length(OpBuilder &b, Location loc) const {
  return dimOf(b, loc, buffer, prefix.size());
}

//===----------------------------------------------------------------------===//
// pool
//===----------------------------------------------------------------------===//

void mlir::attn::buildPoolBlock(OpBuilder &b, Location loc, PoolKind kind,
                                int64_t c, int64_t stride, Value x, Value out,
                                Value scratch, Value bi, Value h, Value blk) {
  Type elt = cast<MemRefType>(out.getType()).getElementType();
  Value c0 = cIdx(b, loc, 0), d = dimOf(b, loc, x, 3);
  Value lo = arith::MulIOp::create(b, loc, blk, cIdx(b, loc, stride));
  Value hi = arith::MinUIOp::create(
      b, loc, dimOf(b, loc, x, 2),
      arith::AddIOp::create(b, loc, lo, cIdx(b, loc, c)));
  auto load = [&](OpBuilder &ob, Location l, Value p, Value e) {
    return toF32(ob, l,
                 memref::LoadOp::create(ob, l, x, ValueRange{bi, h, p, e}));
  };
  auto store = [&](OpBuilder &ob, Location l, Value v, Value e) {
    memref::StoreOp::create(ob, l, fromF32(ob, l, v, elt), out,
                            ValueRange{bi, h, blk, e});
  };
  if (kind == PoolKind::First || kind == PoolKind::Last) {
    Value p = kind == PoolKind::First
                  ? lo
                  : arith::SubIOp::create(b, loc, hi, cIdx(b, loc, 1));
    forEach(b, loc, c0, d, [&](OpBuilder &fb, Location l, Value e) {
      store(fb, l, load(fb, l, p, e), e);
    });
    return;
  }
  // Position-major accumulation: the inner loop runs along D, contiguous in
  // x and in the scratch row, so it vectorizes. Sums accumulate in the
  // scratch's type (f64 from lowerPool: an f32 running sum over a long
  // block of zero-mean rows lost the mean to rounding).
  Type accTy = cast<MemRefType>(scratch.getType()).getElementType();
  auto widen = [&](OpBuilder &ob, Location l, Value v) -> Value {
    return accTy.isF32() ? v : arith::ExtFOp::create(ob, l, accTy, v).getResult();
  };
  double init = kind == PoolKind::Max ? -kInf : kind == PoolKind::Min ? kInf : 0;
  Value initV = arith::ConstantOp::create(b, loc, b.getFloatAttr(accTy, init));
  forEach(b, loc, c0, d, [&](OpBuilder &fb, Location l, Value e) {
    memref::StoreOp::create(fb, l, initV, scratch, ValueRange{e});
  });
  forEach(b, loc, lo, hi, [&](OpBuilder &pb, Location pl, Value p) {
    forEach(pb, pl, c0, d, [&](OpBuilder &fb, Location l, Value e) {
      Value acc = memref::LoadOp::create(fb, l, scratch, ValueRange{e});
      Value v = widen(fb, l, load(fb, l, p, e));
      Value next;
      if (kind == PoolKind::Max)
        next = arith::MaximumFOp::create(fb, l, acc, v);
      else if (kind == PoolKind::Min)
        next = arith::MinimumFOp::create(fb, l, acc, v);
      else
        next = arith::AddFOp::create(fb, l, acc, v);
      memref::StoreOp::create(fb, l, next, scratch, ValueRange{e});
    });
  });
  Value size = widen(b, loc, indexToF32(b, loc, arith::SubIOp::create(b, loc, hi, lo)));
  Value factor;
  if (kind == PoolKind::Mean)
    factor = arith::DivFOp::create(
        b, loc, arith::ConstantOp::create(b, loc, b.getFloatAttr(accTy, 1.0)), size);
  else if (kind == PoolKind::MeanSqrt) // sum / size * sqrt(size)
    factor = arith::DivFOp::create(b, loc, math::SqrtOp::create(b, loc, size),
                                   size);
  forEach(b, loc, c0, d, [&](OpBuilder &fb, Location l, Value e) {
    Value v = memref::LoadOp::create(fb, l, scratch, ValueRange{e});
    if (factor)
      v = arith::MulFOp::create(fb, l, v, factor);
    if (!accTy.isF32())
      v = arith::TruncFOp::create(fb, l, fb.getF32Type(), v);
    store(fb, l, v, e);
  });
}

void mlir::attn::buildPoolFeature(OpBuilder &b, Location loc, PoolKind kind,
                                  int64_t c, int64_t stride, Value x, Value out,
                                  Value bi, Value h, Value blk, Value e,
                                  int64_t width) {
  Type elt = cast<MemRefType>(out.getType()).getElementType();
  Type inElt = cast<MemRefType>(x.getType()).getElementType();
  Type f32 = b.getF32Type();
  // `width` consecutive features as one vector (16-byte loads on a GPU).
  auto vecOf = [&](Type t) -> Type {
    return width > 1 ? VectorType::get({width}, t) : t;
  };
  auto alignOf = [&](Type t) {
    return llvm::MaybeAlign(width * t.getIntOrFloatBitWidth() / 8);
  };
  Value lo = arith::MulIOp::create(b, loc, blk, cIdx(b, loc, stride));
  Value hi = arith::MinUIOp::create(
      b, loc, dimOf(b, loc, x, 2),
      arith::AddIOp::create(b, loc, lo, cIdx(b, loc, c)));
  auto load = [&](OpBuilder &ob, Location l, Value p) -> Value {
    SmallVector<Value, 4> at{bi, h, p, e};
    Value v = width > 1 ? vector::LoadOp::create(ob, l, cast<VectorType>(vecOf(inElt)),
                                                 x, at, false, alignOf(inElt))
                              .getResult()
                        : memref::LoadOp::create(ob, l, x, at).getResult();
    return inElt.isF32() ? v : arith::ExtFOp::create(ob, l, vecOf(f32), v).getResult();
  };
  Value v;
  if (kind == PoolKind::First || kind == PoolKind::Last) {
    v = load(b, loc,
             kind == PoolKind::First
                 ? lo
                 : arith::SubIOp::create(b, loc, hi, cIdx(b, loc, 1))
                       .getResult());
  } else {
    // Sums in f64, rounded once (as the CPU's buildPoolBlock).
    bool sums = poolKindSums(kind);
    Type accTy = sums ? Type(b.getF64Type()) : f32;
    auto widen = [&](OpBuilder &ob, Location l, Value v) -> Value {
      return sums ? arith::ExtFOp::create(ob, l, vecOf(accTy), v).getResult() : v;
    };
    auto splatAcc = [&](OpBuilder &ob, Location l, Value scalar) -> Value {
      return width > 1
                 ? vector::BroadcastOp::create(ob, l, vecOf(accTy), scalar).getResult()
                 : scalar;
    };
    double init =
        kind == PoolKind::Max ? -kInf : kind == PoolKind::Min ? kInf : 0;
    auto loop = scf::ForOp::create(
        b, loc, lo, hi, cIdx(b, loc, 1),
        ValueRange{splatAcc(
            b, loc, arith::ConstantOp::create(b, loc, b.getFloatAttr(accTy, init)))},
        [&](OpBuilder &fb, Location l, Value p, ValueRange acc) {
          Value x = widen(fb, l, load(fb, l, p)), next;
          if (kind == PoolKind::Max)
            next = arith::MaximumFOp::create(fb, l, acc[0], x);
          else if (kind == PoolKind::Min)
            next = arith::MinimumFOp::create(fb, l, acc[0], x);
          else
            next = arith::AddFOp::create(fb, l, acc[0], x);
          scf::YieldOp::create(fb, l, next);
        });
    v = loop.getResult(0);
    Value size = indexToF32(b, loc, arith::SubIOp::create(b, loc, hi, lo));
    if (sums)
      size = arith::ExtFOp::create(b, loc, accTy, size);
    if (kind == PoolKind::Mean)
      v = arith::DivFOp::create(b, loc, v, splatAcc(b, loc, size));
    else if (kind == PoolKind::MeanSqrt)
      v = arith::MulFOp::create(
          b, loc, v,
          splatAcc(b, loc,
                   arith::DivFOp::create(b, loc, math::SqrtOp::create(b, loc, size),
                                         size)));
    if (sums)
      v = arith::TruncFOp::create(b, loc, vecOf(f32), v);
  }
  if (!elt.isF32())
    v = arith::TruncFOp::create(b, loc, vecOf(elt), v);
  if (width > 1)
    vector::StoreOp::create(b, loc, v, out, ValueRange{bi, h, blk, e}, false,
                            alignOf(elt));
  else
    memref::StoreOp::create(b, loc, v, out, ValueRange{bi, h, blk, e});
}

//===----------------------------------------------------------------------===//
// project
//===----------------------------------------------------------------------===//

namespace {
/// weight[(h,) row, o]: per head when the weight has rank 3.
SmallVector<Value> weightAt(const ProjectSite &s, Value row, Value o) {
  if (cast<MemRefType>(s.weight.getType()).getRank() == 3)
    return {s.h, row, o};
  return {row, o};
}
int64_t featuresOf(Value x) { return cast<MemRefType>(x.getType()).getDimSize(3); }
} // namespace

Value mlir::attn::buildProjectAt(OpBuilder &b, Location loc,
                                 const ProjectSite &s, Value o) {
  auto fm = arith::FastMathFlagsAttr::get(
      b.getContext(), arith::FastMathFlags::reassoc | arith::FastMathFlags::contract);
  Value acc = cF32(b, loc, 0.0);
  int64_t off = 0;
  for (Value x : s.inputs) {
    int64_t d = featuresOf(x);
    auto loop = scf::ForOp::create(
        b, loc, cIdx(b, loc, 0), cIdx(b, loc, d), cIdx(b, loc, 1), ValueRange{acc},
        [&](OpBuilder &eb, Location el, Value e, ValueRange sum) {
          Value xv = featureMap(eb, el, s.map,
                                toF32(eb, el, memref::LoadOp::create(
                                                  eb, el, x, ValueRange{s.b, s.h, s.l, e})));
          Value row = arith::AddIOp::create(eb, el, e, cIdx(eb, el, off));
          Value wv = toF32(eb, el, memref::LoadOp::create(eb, el, s.weight,
                                                          weightAt(s, row, o)));
          Value p = arith::MulFOp::create(eb, el, xv, wv, fm);
          scf::YieldOp::create(eb, el,
                               ValueRange{arith::AddFOp::create(eb, el, sum[0], p, fm)});
        });
    acc = loop.getResult(0);
    off += d;
  }
  return acc;
}

void mlir::attn::buildProjectRow(OpBuilder &b, Location loc,
                                 const ProjectSite &s, Value out,
                                 Value scratch) {
  Value c0 = cIdx(b, loc, 0);
  Type elt = cast<MemRefType>(out.getType()).getElementType();
  Value dout = dimOf(b, loc, out, 3);
  forEach(b, loc, c0, dout, [&](OpBuilder &fb, Location l, Value o) {
    memref::StoreOp::create(fb, l, cF32(fb, l, 0.0), scratch, ValueRange{o});
  });
  int64_t off = 0;
  for (Value x : s.inputs) {
    forEach(b, loc, c0, cIdx(b, loc, featuresOf(x)),
            [&](OpBuilder &eb, Location el, Value e) {
              Value xv = featureMap(eb, el, s.map,
                                    toF32(eb, el, memref::LoadOp::create(
                                                      eb, el, x, ValueRange{s.b, s.h, s.l, e})));
              Value row = arith::AddIOp::create(eb, el, e, cIdx(eb, el, off));
              forEach(eb, el, c0, dout, [&](OpBuilder &ob, Location ol, Value o) {
                Value wv = toF32(ob, ol, memref::LoadOp::create(ob, ol, s.weight,
                                                                weightAt(s, row, o)));
                Value a = memref::LoadOp::create(ob, ol, scratch, ValueRange{o});
                Value next = arith::AddFOp::create(
                    ob, ol, a, arith::MulFOp::create(ob, ol, xv, wv));
                memref::StoreOp::create(ob, ol, next, scratch, ValueRange{o});
              });
            });
    off += featuresOf(x);
  }
  forEach(b, loc, c0, dout, [&](OpBuilder &fb, Location l, Value o) {
    Value v = memref::LoadOp::create(fb, l, scratch, ValueRange{o});
    memref::StoreOp::create(fb, l, fromF32(fb, l, v, elt), out,
                            ValueRange{s.b, s.h, s.l, o});
  });
}

//===----------------------------------------------------------------------===//
// block scores
//===----------------------------------------------------------------------===//

Value mlir::attn::featureMap(OpBuilder &b, Location l,
                             std::optional<FeatureMap> map, Value x) {
  if (!map || *map == FeatureMap::Identity)
    return x;
  auto splat = [&](double v) -> Value {
    Value c = cF32(b, l, v);
    if (auto vt = dyn_cast<VectorType>(x.getType()))
      return vector::BroadcastOp::create(b, l, vt, c);
    return c;
  };
  if (*map == FeatureMap::Relu)
    return arith::MaximumFOp::create(b, l, x, splat(0.0));
  Value e = math::Exp2Op::create(
      b, l, arith::MulFOp::create(b, l, x, splat(1.4426950408889634)));
  if (*map == FeatureMap::Exp)
    return e;
  Value positive =
      arith::CmpFOp::create(b, l, arith::CmpFPredicate::OGT, x, splat(0.0));
  return arith::SelectOp::create(b, l, positive,
                                 arith::AddFOp::create(b, l, x, splat(1.0)), e);
}

/// sum_e qp[b, h, i, e] kp[b, kvh, j, e] in f32, `lanes` features per step
/// (one vector load of each row per step; 1: scalar, reassociable so that
/// LLVM vectorizes it on the CPU).
Value mlir::attn::buildScoreDot(OpBuilder &b, Location loc, const ScoreRow &s,
                                Value h, Value kvHead, Value j) {
  // Where q row (h, i) and k row (kvHead, j) are read, feature e.
  auto qAt = [&](OpBuilder &ob, Location l, Value e) -> SmallVector<Value> {
    if (s.staged.q)
      return {arith::SubIOp::create(ob, l, s.i, s.staged.i0), e};
    return {s.b, h, s.i, e};
  };
  auto kAt = [&](OpBuilder &ob, Location l, Value e) -> SmallVector<Value> {
    if (s.staged.k)
      return {arith::SubIOp::create(ob, l, j, s.staged.j0), e};
    return {s.b, kvHead, j, e};
  };
  Value qBuf = s.staged.q ? s.staged.q : s.qp;
  Value kBuf = s.staged.k ? s.staged.k : s.kp;
  Value c0 = cIdx(b, loc, 0), d = dimOf(b, loc, s.qp, 3);
  Type f32 = b.getF32Type();
  auto fm = arith::FastMathFlagsAttr::get(
      b.getContext(), arith::FastMathFlags::reassoc | arith::FastMathFlags::contract);
  if (s.lanes > 1) {
    auto eltOf = [](Value m) { return cast<MemRefType>(m.getType()).getElementType(); };
    auto vq = VectorType::get({s.lanes}, eltOf(s.qp));
    auto vk = VectorType::get({s.lanes}, eltOf(s.kp));
    auto vf = VectorType::get({s.lanes}, f32);
    auto widen = [&](OpBuilder &ob, Location l, Value v) -> Value {
      return v.getType() == vf ? v : arith::ExtFOp::create(ob, l, vf, v).getResult();
    };
    Value zero = arith::ConstantOp::create(b, loc, DenseElementsAttr::get(vf, 0.0f));
    auto loop = scf::ForOp::create(
        b, loc, c0, d, cIdx(b, loc, s.lanes), ValueRange{zero},
        [&](OpBuilder &eb, Location el, Value e, ValueRange acc) {
          // Whole rows of 16-byte multiples from 16-byte aligned buffers
          // (the runtime checks): one 16-byte load each, not `lanes`
          // scalar loads.
          auto load = [&](VectorType t, Value m, ValueRange at) {
            int64_t bytes = t.getNumElements() * t.getElementTypeBitWidth() / 8;
            return widen(eb, el, vector::LoadOp::create(eb, el, t, m, at, false,
                                                        llvm::MaybeAlign(bytes)));
          };
          Value qv = featureMap(eb, el, s.map, load(vq, qBuf, qAt(eb, el, e)));
          Value kv = featureMap(eb, el, s.map, load(vk, kBuf, kAt(eb, el, e)));
          scf::YieldOp::create(eb, el,
                               ValueRange{vector::FMAOp::create(eb, el, qv, kv, acc[0])});
        });
    return vector::ReductionOp::create(b, loc, vector::CombiningKind::ADD,
                                       loop.getResult(0));
  }
  auto dot = scf::ForOp::create(
      b, loc, c0, d, cIdx(b, loc, 1), ValueRange{cF32(b, loc, 0.0)},
      [&](OpBuilder &eb, Location el, Value e, ValueRange sum) {
        Value qv = featureMap(eb, el, s.map,
                              toF32(eb, el, memref::LoadOp::create(eb, el, qBuf, qAt(eb, el, e))));
        Value kv = featureMap(eb, el, s.map,
                              toF32(eb, el, memref::LoadOp::create(eb, el, kBuf, kAt(eb, el, e))));
        Value p = arith::MulFOp::create(eb, el, qv, kv, fm);
        scf::YieldOp::create(eb, el,
                             ValueRange{arith::AddFOp::create(eb, el, sum[0], p, fm)});
      });
  return dot.getResult(0);
}

ScoreRow ScoreRow::of(OpBuilder &b, Location loc, BlockScoresOp op,
                      function_ref<Value(Value)> buffer) {
  ScoreRow s;
  s.qp = buffer(op.getQp());
  s.kp = buffer(op.getKp());
  s.scale = op.getScaleValue();
  s.share = op.getShare();
  s.map = op.getFeatureMap();
  if (op.getQ()) {
    s.n = dimOf(b, loc, buffer(op.getQ()), 2);
    s.m = dimOf(b, loc, buffer(op.getK()), 2);
    s.blockQ = static_cast<int64_t>(*op.getBlockQ());
    s.blockK = static_cast<int64_t>(*op.getBlockK());
  }
  return s;
}

Value mlir::attn::buildScoreLegal(OpBuilder &b, Location loc,
                                  const ScoreRow &s, Value j) {
  Value c1 = cIdx(b, loc, 1);
  // The last legal key block: floor((min((i + 1) bq, N) - 1 + M - N) / bk),
  // signed (it is negative when the row sees no key).
  Value legal = arith::ConstantIntOp::create(b, loc, 1, 1);
  if (s.n) {
    Value end = arith::MinUIOp::create(
        b, loc,
        arith::MulIOp::create(
            b, loc, arith::AddIOp::create(b, loc, s.i, c1),
            cIdx(b, loc, s.blockQ)),
        s.n);
    Value key = arith::SubIOp::create(
        b, loc, arith::AddIOp::create(b, loc, end, s.m),
        arith::AddIOp::create(b, loc, s.n, c1));
    Value diag = arith::FloorDivSIOp::create(b, loc, key, cIdx(b, loc, s.blockK));
    legal = arith::CmpIOp::create(b, loc, arith::CmpIPredicate::sle, j, diag);
  }
  return legal;
}

ScoreHeads mlir::attn::scoreHeads(OpBuilder &b, Location loc,
                                  const ScoreRow &s) {
  Value group = arith::DivUIOp::create(b, loc, dimOf(b, loc, s.qp, 1),
                                       dimOf(b, loc, s.kp, 1));
  // With share, the group's query heads against their KV head; without,
  // one query head against its KV head.
  if (s.share)
    return {arith::MulIOp::create(b, loc, s.hOut, group), group, s.hOut};
  return {s.hOut, cIdx(b, loc, 1),
          arith::DivUIOp::create(b, loc, s.hOut, group)};
}

Value mlir::attn::buildScoreAt(OpBuilder &b, Location loc, const ScoreRow &s,
                               Value j) {
  Value c0 = cIdx(b, loc, 0), c1 = cIdx(b, loc, 1);
  Value legal = buildScoreLegal(b, loc, s, j);
  ScoreHeads hs = scoreHeads(b, loc, s);
  Value h0 = hs.h0, heads = hs.count, kvHead = hs.kvHead;
  bool useMax = s.share && *s.share == ShareKind::Max;
  Value scale = cF32(b, loc, s.scale), negInf = cF32(b, loc, -kInf);
  auto ifLegal = scf::IfOp::create(
      b, loc, legal,
      [&](OpBuilder &tb, Location tl) {
        auto overHeads = scf::ForOp::create(
            tb, tl, c0, heads, c1,
            ValueRange{useMax ? negInf : cF32(tb, tl, 0.0)},
            [&](OpBuilder &hb, Location hl, Value r, ValueRange acc) {
              Value h = arith::AddIOp::create(hb, hl, h0, r);
              Value v = arith::MulFOp::create(
                  hb, hl, buildScoreDot(hb, hl, s, h, kvHead, j), scale);
              Value next =
                  useMax ? arith::MaximumFOp::create(hb, hl, acc[0], v).getResult()
                         : arith::AddFOp::create(hb, hl, acc[0], v).getResult();
              scf::YieldOp::create(hb, hl, next);
            });
        scf::YieldOp::create(tb, tl, overHeads.getResults());
      },
      [&](OpBuilder &eb, Location el) { scf::YieldOp::create(eb, el, negInf); });
  return ifLegal.getResult(0);
}

void mlir::attn::buildScoreRow(OpBuilder &b, Location loc, const ScoreRow &s,
                               const RowRef &row) {
  // Loop-invariant parts of each element (legality bound, heads) are
  // hoisted by LLVM.
  forEach(b, loc, cIdx(b, loc, 0), dimOf(b, loc, s.kp, 2),
          [&](OpBuilder &jb, Location jl, Value j) {
            memref::StoreOp::create(jb, jl, buildScoreAt(jb, jl, s, j),
                                    row.buffer, row.at(j));
          });
}

Value mlir::attn::buildIndexScoreAt(OpBuilder &b, Location loc,
                                    const IndexRow &s, Value j) {
  Value c0 = cIdx(b, loc, 0), c1 = cIdx(b, loc, 1);
  Value heads = dimOf(b, loc, s.qi, 1), di = dimOf(b, loc, s.qi, 3);
  Value n = dimOf(b, loc, s.qi, 2), m = dimOf(b, loc, s.ki, 1);
  auto fm = arith::FastMathFlagsAttr::get(
      b.getContext(), arith::FastMathFlags::reassoc | arith::FastMathFlags::contract);
  Value zero = cF32(b, loc, 0.0);
  auto overHeads = scf::ForOp::create(
      b, loc, c0, heads, c1, ValueRange{zero},
      [&](OpBuilder &hb, Location hl, Value h, ValueRange acc) {
        // Reassociable, so LLVM vectorizes the dot over DI.
        auto dot = scf::ForOp::create(
            hb, hl, c0, di, c1, ValueRange{zero},
            [&](OpBuilder &eb, Location el, Value e, ValueRange sum) {
              Value q = toF32(eb, el, memref::LoadOp::create(
                                          eb, el, s.qi, ValueRange{s.b, h, s.t, e}));
              Value k = toF32(eb, el, memref::LoadOp::create(
                                          eb, el, s.ki, ValueRange{s.b, j, e}));
              Value p = arith::MulFOp::create(eb, el, q, k, fm);
              scf::YieldOp::create(
                  eb, el, ValueRange{arith::AddFOp::create(eb, el, sum[0], p, fm)});
            });
        Value relu = arith::MaximumFOp::create(hb, hl, dot.getResult(0), zero);
        Value w = toF32(hb, hl, memref::LoadOp::create(hb, hl, s.w,
                                                       ValueRange{s.b, s.t, h}));
        scf::YieldOp::create(
            hb, hl, ValueRange{arith::AddFOp::create(
                        hb, hl, acc[0], arith::MulFOp::create(hb, hl, w, relu), fm)});
      });
  Value v = overHeads.getResult(0);
  if (!s.causal)
    return v;
  // The last legal key, t + M - N (signed: negative when none is legal).
  Value lastKey = arith::SubIOp::create(b, loc, arith::AddIOp::create(b, loc, s.t, m), n);
  return arith::SelectOp::create(
      b, loc, arith::CmpIOp::create(b, loc, arith::CmpIPredicate::sle, j, lastKey),
      v, cF32(b, loc, -kInf));
}

void mlir::attn::buildIndexScoreRow(OpBuilder &b, Location loc,
                                     const IndexRow &s, const RowRef &row) {
  forEach(b, loc, cIdx(b, loc, 0), dimOf(b, loc, s.ki, 1),
          [&](OpBuilder &jb, Location jl, Value j) {
            memref::StoreOp::create(jb, jl, buildIndexScoreAt(jb, jl, s, j),
                                    row.buffer, row.at(j));
          });
}

ProbsRow ProbsRow::of(ProbsOp op, Value q, Value k) {
  ProbsRow r;
  r.q = q, r.k = k;
  r.scale = op.getScaleValue();
  r.mask = op.getMaskAttr();
  if (std::optional<uint64_t> l = op.getOnto()) {
    r.ontoBlock = static_cast<int64_t>(*l);
    r.pooledBlock = static_cast<int64_t>(*op.getPooledBlock());
    r.pooledStride = static_cast<int64_t>(*op.getPooledStride());
    r.causal = op.getCausal();
    r.share = op.getShare().has_value();
  }
  return r;
}

namespace {
/// What every pass over one probs row shares.
struct ProbsPasses {
  const ProbsRow &p;
  ScoreRow dotSite;
  Value n, m, kvHead;
  MaskSiteValues site;

  /// scale q_h . k_j for a kept key, -inf for the others.
  Value logit(OpBuilder &b, Location l, Value h, Value j) const {
    Type i64 = b.getI64Type();
    auto asI64 = [&](Value x) -> Value {
      return arith::IndexCastOp::create(b, l, i64, x);
    };
    Value negInf = cF32(b, l, -kInf);
    Value keep = arith::ConstantIntOp::create(b, l, 1, 1);
    if (p.mask)
      keep = p.mask.buildKeepAt(b, l, site, asI64(p.i), asI64(j), asI64(n),
                                asI64(m));
    auto s = scf::IfOp::create(
        b, l, keep,
        [&](OpBuilder &tb, Location tl) {
          Value d = buildScoreDot(tb, tl, dotSite, h, kvHead, j);
          scf::YieldOp::create(
              tb, tl, ValueRange{arith::MulFOp::create(tb, tl, d, cF32(tb, tl, p.scale))});
        },
        [&](OpBuilder &eb, Location el) {
          scf::YieldOp::create(eb, el, ValueRange{negInf});
        });
    return s.getResult(0);
  }
};

ProbsPasses probsPasses(OpBuilder &b, Location loc, const ProbsRow &p,
                        Value kvHead) {
  ProbsPasses ps{p, ScoreRow(), dimOf(b, loc, p.q, 2), dimOf(b, loc, p.k, 2),
                 kvHead, MaskSiteValues()};
  ps.dotSite.qp = p.q, ps.dotSite.kp = p.k, ps.dotSite.b = p.b,
  ps.dotSite.i = p.i;
  ps.site = documentSite(p.b, p.h, ps.n, ps.m, Value(), Value());
  return ps;
}

/// The shift (max, 0 when nothing is kept) and 1 / Z (0 when nothing is
/// kept) of head h's row, by online softmax in one pass.
std::pair<Value, Value> probsStats(OpBuilder &b, Location loc,
                                   const ProbsPasses &ps, Value h) {
  Value negInf = cF32(b, loc, -kInf), zero = cF32(b, loc, 0.0);
  auto stats = scf::ForOp::create(
      b, loc, cIdx(b, loc, 0), ps.m, cIdx(b, loc, 1), ValueRange{negInf, zero},
      [&](OpBuilder &jb, Location jl, Value j, ValueRange st) {
        Value s = ps.logit(jb, jl, h, j);
        Value mx = arith::MaximumFOp::create(jb, jl, st[0], s);
        // max stays -inf until a key is kept: shift by 0 then (all e = 0).
        Value none = arith::CmpFOp::create(jb, jl, arith::CmpFPredicate::OEQ,
                                           mx, negInf);
        Value at = arith::SelectOp::create(jb, jl, none, zero, mx);
        // `at` is never -inf, so neither difference is NaN; before the first
        // kept key z is 0 and stays 0.
        Value z = arith::AddFOp::create(
            jb, jl,
            arith::MulFOp::create(jb, jl, st[1],
                                  expOf(jb, jl, arith::SubFOp::create(jb, jl, st[0], at))),
            expOf(jb, jl, arith::SubFOp::create(jb, jl, s, at)));
        scf::YieldOp::create(jb, jl, ValueRange{mx, z});
      });
  Value mx = stats.getResult(0), z = stats.getResult(1);
  Value none = arith::CmpFOp::create(b, loc, arith::CmpFPredicate::OEQ, mx, negInf);
  Value shift = arith::SelectOp::create(b, loc, none, zero, mx);
  Value inv = arith::SelectOp::create(
      b, loc, arith::CmpFOp::create(b, loc, arith::CmpFPredicate::OGT, z, zero),
      arith::DivFOp::create(b, loc, cF32(b, loc, 1.0), z), zero);
  return {shift, inv};
}

/// attn.probs onto(l) pooled(c, s): each head's probabilities added onto
/// the blocks their keys overlap, then blocks after the query set to -inf.
void buildProbsOntoRow(OpBuilder &b, Location loc, const ProbsRow &p,
                       const RowRef &row) {
  Value c0 = cIdx(b, loc, 0), c1 = cIdx(b, loc, 1);
  Value group = arith::DivUIOp::create(b, loc, dimOf(b, loc, p.q, 1),
                                       dimOf(b, loc, p.k, 1));
  Value h0 = p.share ? arith::MulIOp::create(b, loc, p.h, group).getResult() : p.h;
  Value heads = p.share ? group : c1;
  Value kvHead = p.share ? p.h : arith::DivUIOp::create(b, loc, p.h, group).getResult();
  Value cols = row.length(b, loc);
  Value l = cIdx(b, loc, p.ontoBlock), last = arith::SubIOp::create(b, loc, cols, c1);
  forEach(b, loc, c0, cols, [&](OpBuilder &jb, Location jl, Value t) {
    memref::StoreOp::create(jb, jl, cF32(jb, jl, 0.0), row.buffer, row.at(t));
  });
  ProbsPasses ps = probsPasses(b, loc, p, kvHead);
  forEach(b, loc, h0, arith::AddIOp::create(b, loc, h0, heads),
          [&](OpBuilder &hb, Location hl, Value h) {
    std::pair<Value, Value> stats = probsStats(hb, hl, ps, h);
    Value shift = stats.first, inv = stats.second;
    forEach(hb, hl, c0, ps.m, [&](OpBuilder &jb, Location jl, Value j) {
      Value e = arith::MulFOp::create(
          jb, jl,
          expOf(jb, jl, arith::SubFOp::create(jb, jl, ps.logit(jb, jl, h, j), shift)),
          inv);
      // Key j covers [j s, j s + c - 1]: the blocks of l it overlaps.
      Value lo = arith::MulIOp::create(jb, jl, j, cIdx(jb, jl, p.pooledStride));
      Value hi = arith::AddIOp::create(jb, jl, lo, cIdx(jb, jl, p.pooledBlock - 1));
      Value t0 = arith::DivUIOp::create(jb, jl, lo, l);
      Value t1 = arith::AddIOp::create(
          jb, jl, arith::MinUIOp::create(jb, jl, arith::DivUIOp::create(jb, jl, hi, l), last),
          c1);
      forEach(jb, jl, t0, t1, [&](OpBuilder &tb, Location tl, Value t) {
        Value acc = memref::LoadOp::create(tb, tl, row.buffer, row.at(t));
        memref::StoreOp::create(tb, tl, arith::AddFOp::create(tb, tl, acc, e),
                                row.buffer, row.at(t));
      });
    });
  });
  if (!p.causal)
    return;
  // Blocks starting after the query: t l > i, i.e. t >= i / l + 1.
  Value firstIllegal = arith::AddIOp::create(
      b, loc, arith::DivUIOp::create(b, loc, p.i, l), c1);
  forEach(b, loc, arith::MinUIOp::create(b, loc, firstIllegal, cols), cols,
          [&](OpBuilder &tb, Location tl, Value t) {
    memref::StoreOp::create(tb, tl, cF32(tb, tl, -kInf), row.buffer, row.at(t));
  });
}
} // namespace

void mlir::attn::buildProbsRow(OpBuilder &b, Location loc, const ProbsRow &p,
                                const RowRef &row) {
  if (p.ontoBlock) {
    buildProbsOntoRow(b, loc, p, row);
    return;
  }
  Value c0 = cIdx(b, loc, 0);
  Value kvHead = arith::DivUIOp::create(
      b, loc, p.h,
      arith::DivUIOp::create(b, loc, dimOf(b, loc, p.q, 1), dimOf(b, loc, p.k, 1)));
  ProbsPasses ps = probsPasses(b, loc, p, kvHead);
  Value negInf = cF32(b, loc, -kInf), zero = cF32(b, loc, 0.0);
  // Scores of kept keys (-inf for the others) and their max.
  auto scores = scf::ForOp::create(
      b, loc, c0, ps.m, cIdx(b, loc, 1), ValueRange{negInf},
      [&](OpBuilder &jb, Location jl, Value j, ValueRange mx) {
        Value s = ps.logit(jb, jl, p.h, j);
        memref::StoreOp::create(jb, jl, s, row.buffer, row.at(j));
        scf::YieldOp::create(
            jb, jl, ValueRange{arith::MaximumFOp::create(jb, jl, mx[0], s)});
      });
  // A row with nothing kept: subtract 0, so exp(-inf) = 0 everywhere.
  Value mx = scores.getResult(0);
  Value none = arith::CmpFOp::create(b, loc, arith::CmpFPredicate::OEQ, mx, negInf);
  Value shift = arith::SelectOp::create(b, loc, none, zero, mx);
  auto sum = scf::ForOp::create(
      b, loc, c0, ps.m, cIdx(b, loc, 1), ValueRange{zero},
      [&](OpBuilder &jb, Location jl, Value j, ValueRange z) {
        Value s = memref::LoadOp::create(jb, jl, row.buffer, row.at(j));
        Value e = expOf(jb, jl, arith::SubFOp::create(jb, jl, s, shift));
        memref::StoreOp::create(jb, jl, e, row.buffer, row.at(j));
        scf::YieldOp::create(jb, jl, ValueRange{arith::AddFOp::create(jb, jl, z[0], e)});
      });
  Value z = sum.getResult(0);
  Value inv = arith::SelectOp::create(
      b, loc, arith::CmpFOp::create(b, loc, arith::CmpFPredicate::OGT, z, zero),
      arith::DivFOp::create(b, loc, cF32(b, loc, 1.0), z), zero);
  forEach(b, loc, c0, ps.m, [&](OpBuilder &jb, Location jl, Value j) {
    Value e = memref::LoadOp::create(jb, jl, row.buffer, row.at(j));
    memref::StoreOp::create(jb, jl, arith::MulFOp::create(jb, jl, e, inv),
                            row.buffer, row.at(j));
  });
}

//===----------------------------------------------------------------------===//
// select
//===----------------------------------------------------------------------===//

SelectPolicy SelectPolicy::of(SelectOp op) {
  SelectPolicy p;
  if (auto k = op.getTopk())
    p.topk = static_cast<int64_t>(*k);
  if (auto t = op.getThreshold())
    p.threshold = t->convertToDouble();
  p.first = static_cast<int64_t>(op.getFirst());
  p.local = static_cast<int64_t>(op.getLocal());
  p.last = static_cast<int64_t>(op.getLast());
  return p;
}

/// e^x as 2^(x log2 e): exp2 lowers to a hardware instruction on GPUs.
Value mlir::attn::expOf(OpBuilder &b, Location l, Value x) {
  return math::Exp2Op::create(
      b, l, arith::MulFOp::create(b, l, x, cF32(b, l, 1.4426950408889634)));
}

/// (s, j) ranks after the cut (sc, ic): a lower score, or the same score and
/// a higher id.
Value mlir::attn::ranksAfter(OpBuilder &b, Location l, Value s, Value j, Value sc,
                 Value ic) {
  Value lower = arith::CmpFOp::create(b, l, arith::CmpFPredicate::OLT, s, sc);
  Value tie = arith::AndIOp::create(
      b, l, arith::CmpFOp::create(b, l, arith::CmpFPredicate::OEQ, s, sc),
      arith::CmpIOp::create(b, l, arith::CmpIPredicate::sgt, j, ic));
  return arith::OrIOp::create(b, l, lower, tie);
}

/// The smallest id of the row's last `local` legal blocks (Nk when none).
Value mlir::attn::buildLocalStart(OpBuilder &b, Location loc,
                                  const RowFacts &f) {
  Value c0 = cIdx(b, loc, 0), c1 = cIdx(b, loc, 1);
  Value want = cIdx(b, loc, f.policy.local);
  auto loop = scf::ForOp::create(
      b, loc, c0, f.end(), c1, ValueRange{c0, f.nk},
      [&](OpBuilder &fb, Location l, Value t, ValueRange st) {
        Value j = arith::SubIOp::create(
            fb, l, arith::SubIOp::create(fb, l, f.end(), c1), t);
        Value take = arith::AndIOp::create(
            fb, l, f.legal(fb, l, f.score(fb, l, j)),
            arith::CmpIOp::create(fb, l, arith::CmpIPredicate::ult, st[0],
                                  want));
        Value count = arith::SelectOp::create(
            fb, l, take, arith::AddIOp::create(fb, l, st[0], c1), st[0]);
        Value start = arith::SelectOp::create(fb, l, take, j, st[1]);
        scf::YieldOp::create(fb, l, ValueRange{count, start});
      });
  return loop.getResult(1);
}

/// For threshold: the row's max legal score, its softmax normaliser and
/// the forced blocks' mass.
RowMass mlir::attn::buildRowMass(OpBuilder &b, Location loc,
                                 const RowFacts &f) {
  Value c0 = cIdx(b, loc, 0), c1 = cIdx(b, loc, 1);
  Value zero = cF32(b, loc, 0.0);
  auto maxLoop = scf::ForOp::create(
      b, loc, c0, f.end(), c1, ValueRange{cF32(b, loc, -kInf)},
      [&](OpBuilder &fb, Location l, Value j, ValueRange st) {
        Value s = f.score(fb, l, j);
        Value m = arith::SelectOp::create(
            fb, l, f.legal(fb, l, s), arith::MaximumFOp::create(fb, l, st[0], s),
            st[0]);
        scf::YieldOp::create(fb, l, m);
      });
  Value mx = maxLoop.getResult(0);
  auto sumLoop = scf::ForOp::create(
      b, loc, c0, f.end(), c1, ValueRange{zero, zero},
      [&](OpBuilder &fb, Location l, Value j, ValueRange st) {
        Value s = f.score(fb, l, j);
        Value isLegal = f.legal(fb, l, s);
        Value p = arith::SelectOp::create(
            fb, l, isLegal,
            expOf(fb, l, arith::SubFOp::create(fb, l, s, mx)),
            zero);
        Value pf = arith::SelectOp::create(
            fb, l, f.forced(fb, l, j, isLegal), p, zero);
        scf::YieldOp::create(fb, l,
                             ValueRange{arith::AddFOp::create(fb, l, st[0], p),
                                        arith::AddFOp::create(fb, l, st[1], pf)});
      });
  return {mx, sumLoop.getResult(0), sumLoop.getResult(1)};
}


std::pair<Value, Value> mlir::attn::buildCut(
    OpBuilder &b, Location loc, const SelectPolicy &policy, RowMass mass,
    Type idType,
    function_ref<std::tuple<Value, Value, Value>(OpBuilder &, Location, Value,
                                                 Value)>
        next) {
  Value c0 = cIdx(b, loc, 0), c1 = cIdx(b, loc, 1);
  Value zero = cF32(b, loc, 0.0);
  Value startMass = zero;
  if (policy.threshold) {
    // The forced blocks' share of the row's softmax mass (none: 0).
    Value any = arith::CmpFOp::create(b, loc, arith::CmpFPredicate::OGT,
                                      mass.z, zero);
    startMass = arith::SelectOp::create(
        b, loc, any, arith::DivFOp::create(b, loc, mass.forced, mass.z), zero);
  }
  // State: (picked, cut score, cut id, mass, found).
  Type f32 = b.getF32Type(), i1 = b.getI1Type(), idx = b.getIndexType();
  Value yes = arith::ConstantIntOp::create(b, loc, 1, 1);
  Value noId = idType.isIndex()
                   ? cIdx(b, loc, -1)
                   : arith::ConstantIntOp::create(b, loc, idType, -1).getResult();
  SmallVector<Value> init = {c0, cF32(b, loc, kInf), noId, startMass, yes};
  auto loop = scf::WhileOp::create(
      b, loc, TypeRange{idx, f32, idType, f32, i1}, init,
      [&](OpBuilder &wb, Location l, ValueRange st) {
        Value more;
        if (policy.topk)
          more = arith::CmpIOp::create(wb, l, arith::CmpIPredicate::ult, st[0],
                                       cIdx(wb, l, *policy.topk));
        else if (*policy.threshold >= 1.0)
          // Every legal block: a running f32 mass rounds to 1 while blocks
          // with (tiny) positive mass remain, which threshold(1) must keep.
          more = yes;
        else
          more = arith::CmpFOp::create(wb, l, arith::CmpFPredicate::OLT, st[3],
                                       cF32(wb, l, *policy.threshold));
        scf::ConditionOp::create(wb, l, arith::AndIOp::create(wb, l, more, st[4]),
                                 st);
      },
      [&](OpBuilder &wb, Location l, ValueRange st) {
        auto [bestS, bestJ, found] = next(wb, l, st[1], st[2]);
        Value massNext = st[3];
        if (policy.threshold) {
          Value p = arith::DivFOp::create(
              wb, l, expOf(wb, l, arith::SubFOp::create(wb, l, bestS, mass.max)),
              mass.z);
          massNext = arith::SelectOp::create(
              wb, l, found, arith::AddFOp::create(wb, l, st[3], p), st[3]);
        }
        scf::YieldOp::create(
            wb, l,
            ValueRange{
                arith::SelectOp::create(
                    wb, l, found, arith::AddIOp::create(wb, l, st[0], c1), st[0]),
                arith::SelectOp::create(wb, l, found, bestS, st[1]),
                arith::SelectOp::create(wb, l, found, bestJ, st[2]), massNext,
                found});
      });
  return {loop.getResult(1), loop.getResult(2)};
}

/// An order-preserving i32 key of a score: unsigned order of keys is the
/// order of scores (-0 and +0 alike: s + 0 is +0 for both).
Value mlir::attn::radixKey(OpBuilder &b, Location l, Value s) {
  Type i32 = b.getI32Type();
  Value u = arith::BitcastOp::create(
      b, l, i32, arith::AddFOp::create(b, l, s, cF32(b, l, 0.0)));
  auto c = [&](int64_t v) { return arith::ConstantIntOp::create(b, l, i32, v); };
  Value negative = arith::CmpIOp::create(b, l, arith::CmpIPredicate::slt, u, c(0));
  return arith::SelectOp::create(b, l, negative,
                                 arith::XOrIOp::create(b, l, u, c(-1)),
                                 arith::XOrIOp::create(b, l, u, c(INT32_MIN)));
}

namespace {

Value ci32(OpBuilder &b, Location l, int64_t v) {
  return arith::ConstantIntOp::create(b, l, b.getI32Type(), v);
}

/// Column j's score, whether it is a candidate, and its radix key.
std::tuple<Value, Value, Value> candidateKey(OpBuilder &b, Location l, const RowFacts &f,
                                             Value j) {
  Value s = f.score(b, l, j);
  return std::make_tuple(s, f.candidate(b, l, j, s), radixKey(b, l, s));
}

/// hist[d] = the candidates whose keys agree with `prefix` above bit
/// shift + 8 and have digit d at `shift` (every candidate at shift 24).
void histogramDigit(OpBuilder &b, Location l, const RowFacts &f, Value hist, Value prefix,
                    int64_t shift) {
  Value c0 = cIdx(b, l, 0);
  forEach(b, l, c0, cIdx(b, l, 256), [&](OpBuilder &zb, Location zl, Value d) {
    memref::StoreOp::create(zb, zl, ci32(zb, zl, 0), hist, ValueRange{d});
  });
  forEach(b, l, c0, f.end(), [&](OpBuilder &hb, Location hl, Value j) {
    Value key, match;
    std::tie(std::ignore, match, key) = candidateKey(hb, hl, f, j);
    if (shift < 24) {
      Value high = arith::ShRUIOp::create(hb, hl, arith::XOrIOp::create(hb, hl, key, prefix),
                                          ci32(hb, hl, shift + 8));
      match = arith::AndIOp::create(
          hb, hl, match,
          arith::CmpIOp::create(hb, hl, arith::CmpIPredicate::eq, high, ci32(hb, hl, 0)));
    }
    scf::IfOp::create(hb, hl, match, [&](OpBuilder &ib, Location il) {
      Value digit = arith::AndIOp::create(
          ib, il, arith::ShRUIOp::create(ib, il, key, ci32(ib, il, shift)), ci32(ib, il, 255));
      Value at = arith::IndexCastOp::create(ib, il, ib.getIndexType(), digit);
      Value n = memref::LoadOp::create(ib, il, hist, ValueRange{at});
      memref::StoreOp::create(ib, il, arith::AddIOp::create(ib, il, n, ci32(ib, il, 1)), hist,
                              ValueRange{at});
      scf::YieldOp::create(ib, il);
    });
  });
}

/// From the top digit of `hist` down: the digit holding rank `want` (i32)
/// and the rank still wanted within it.
std::pair<Value, Value> digitOfRank(OpBuilder &b, Location l, Value hist, Value want) {
  Value no = arith::ConstantIntOp::create(b, l, 0, 1);
  auto scan = scf::ForOp::create(
      b, l, cIdx(b, l, 0), cIdx(b, l, 256), cIdx(b, l, 1), ValueRange{ci32(b, l, 0), want, no},
      [&](OpBuilder &sb, Location sl, Value t, ValueRange st) {
        Value d = arith::SubIOp::create(sb, sl, cIdx(sb, sl, 255), t);
        Value n = memref::LoadOp::create(sb, sl, hist, ValueRange{d});
        Value take = arith::AndIOp::create(
            sb, sl,
            arith::XOrIOp::create(sb, sl, st[2], arith::ConstantIntOp::create(sb, sl, 1, 1)),
            arith::CmpIOp::create(sb, sl, arith::CmpIPredicate::sge, n, st[1]));
        Value passOver = arith::OrIOp::create(sb, sl, st[2], take);
        Value rank =
            arith::SelectOp::create(sb, sl, passOver, st[1], arith::SubIOp::create(sb, sl, st[1], n));
        Value digit = arith::SelectOp::create(
            sb, sl, take, arith::IndexCastOp::create(sb, sl, sb.getI32Type(), d), st[0]);
        scf::YieldOp::create(sb, sl, ValueRange{digit, rank, passOver});
      });
  return {scan.getResult(0), scan.getResult(1)};
}

/// The want-th candidate (by ascending id) whose key is `key`: its score
/// and id.
std::pair<Value, Value> pickKeyRank(OpBuilder &b, Location l, const RowFacts &f, Value key,
                                    Value want) {
  auto pick = scf::ForOp::create(
      b, l, cIdx(b, l, 0), f.end(), cIdx(b, l, 1),
      ValueRange{ci32(b, l, 0), cF32(b, l, kInf), cIdx(b, l, -1)},
      [&](OpBuilder &pb, Location pl, Value j, ValueRange st) {
        auto [s, cand, k] = candidateKey(pb, pl, f, j);
        Value hit = arith::AndIOp::create(
            pb, pl, cand, arith::CmpIOp::create(pb, pl, arith::CmpIPredicate::eq, k, key));
        Value seen = arith::SelectOp::create(
            pb, pl, hit, arith::AddIOp::create(pb, pl, st[0], ci32(pb, pl, 1)), st[0]);
        Value isCut = arith::AndIOp::create(
            pb, pl, hit, arith::CmpIOp::create(pb, pl, arith::CmpIPredicate::eq, seen, want));
        scf::YieldOp::create(pb, pl,
                             ValueRange{seen, arith::SelectOp::create(pb, pl, isCut, s, st[1]),
                                        arith::SelectOp::create(pb, pl, isCut, j, st[2])});
      });
  return {pick.getResult(1), pick.getResult(2)};
}

} // namespace

std::pair<Value, Value> mlir::attn::buildRadixCut(OpBuilder &b, Location loc,
                                                  const RowFacts &f,
                                                  int64_t k) {
  Value c0 = cIdx(b, loc, 0), c1 = cIdx(b, loc, 1);
  auto count = scf::ForOp::create(
      b, loc, c0, f.end(), c1, ValueRange{c0},
      [&](OpBuilder &fb, Location l, Value j, ValueRange n) {
        Value s = f.score(fb, l, j);
        Value more = arith::AddIOp::create(fb, l, n[0], c1);
        scf::YieldOp::create(fb, l,
                             ValueRange{arith::SelectOp::create(
                                 fb, l, f.candidate(fb, l, j, s), more, n[0])});
      });
  Value hist = memref::AllocaOp::create(b, loc, MemRefType::get({256}, b.getI32Type()));
  auto ifAll = scf::IfOp::create(
      b, loc,
      arith::CmpIOp::create(b, loc, arith::CmpIPredicate::ule,
                            count.getResult(0), cIdx(b, loc, k)),
      [&](OpBuilder &tb, Location l) {
        // Every candidate is kept: a cut below every finite score.
        scf::YieldOp::create(tb, l, ValueRange{cF32(tb, l, -kInf), f.nk});
      },
      [&](OpBuilder &eb, Location l) {
        // The k-th highest key, 8 bits at a time from the top: count the
        // candidates that match the bits fixed so far by their next digit,
        // then take the digit holding the rank still wanted.
        Value prefix = ci32(eb, l, 0), want = ci32(eb, l, k);
        for (int64_t shift = 24; shift >= 0; shift -= 8) {
          histogramDigit(eb, l, f, hist, prefix, shift);
          auto [digit, rank] = digitOfRank(eb, l, hist, want);
          prefix = arith::OrIOp::create(
              eb, l, prefix, arith::ShLIOp::create(eb, l, digit, ci32(eb, l, shift)));
          want = rank;
        }
        // The cut is the want-th candidate (by ascending id) whose key is
        // the k-th highest.
        auto [score, id] = pickKeyRank(eb, l, f, prefix, want);
        scf::YieldOp::create(eb, l, ValueRange{score, id});
      });
  return {ifAll.getResult(0), ifAll.getResult(1)};
}

/// One step of the selection by passes: the best candidate ranking after
/// (cs, cj) in (score descending, id ascending) order among [0, end), and
/// whether there is one.
static std::tuple<Value, Value, Value> bestAfter(OpBuilder &wb, Location l, RowFacts &f,
                                                 Value end, Value cs, Value cj) {
  Value c0 = cIdx(wb, l, 0), c1 = cIdx(wb, l, 1);
  auto scan = scf::ForOp::create(
      wb, l, c0, end, c1, ValueRange{cF32(wb, l, -kInf), cIdx(wb, l, -1)},
      [&](OpBuilder &sb, Location sl, Value j, ValueRange best) {
        Value s = f.score(sb, sl, j);
        Value better = arith::AndIOp::create(
            sb, sl, f.candidate(sb, sl, j, s),
            arith::AndIOp::create(
                sb, sl, ranksAfter(sb, sl, s, j, cs, cj),
                arith::CmpFOp::create(sb, sl, arith::CmpFPredicate::OGT, s, best[0])));
        scf::YieldOp::create(
            sb, sl,
            ValueRange{arith::SelectOp::create(sb, sl, better, s, best[0]),
                       arith::SelectOp::create(sb, sl, better, j, best[1])});
      });
  Value found =
      arith::CmpIOp::create(wb, l, arith::CmpIPredicate::sge, scan.getResult(1), c0);
  return std::make_tuple(scan.getResult(0), scan.getResult(1), found);
}

/// The kept ids (forced, or candidates ranking at or above the cut
/// (cutS, cutJ)) in ascending order into `indices`' row, then -1 up to its
/// width, and their count.
static void emitKeptIds(OpBuilder &b, Location loc, RowFacts &f, Value end, Value cutS,
                        Value cutJ, Value indices, Value counts, ValueRange rowIndex) {
  Value c0 = cIdx(b, loc, 0), c1 = cIdx(b, loc, 1);
  Value width = dimOf(b, loc, indices, 3);
  Value yes = arith::ConstantIntOp::create(b, loc, 1, 1);
  Type idType = cast<MemRefType>(indices.getType()).getElementType();
  auto asId = [&](OpBuilder &ob, Location l, Value v) -> Value {
    return arith::IndexCastOp::create(ob, l, idType, v);
  };
  auto at = [&](Value slot) {
    return SmallVector<Value>{rowIndex[0], rowIndex[1], rowIndex[2], slot};
  };
  auto emit = scf::ForOp::create(
      b, loc, c0, end, c1, ValueRange{c0},
      [&](OpBuilder &eb, Location l, Value j, ValueRange st) {
        Value s = f.score(eb, l, j);
        Value isLegal = f.legal(eb, l, s);
        Value inCut = arith::XOrIOp::create(
            eb, l, ranksAfter(eb, l, s, j, cutS, cutJ), yes);
        Value keep = arith::OrIOp::create(
            eb, l, f.forced(eb, l, j, isLegal),
            arith::AndIOp::create(eb, l, f.candidate(eb, l, j, s), inCut));
        // The count never exceeds the width (verifier); the bound check
        // keeps a store in range whatever happens.
        Value fits = arith::CmpIOp::create(eb, l, arith::CmpIPredicate::ult,
                                           st[0], width);
        scf::IfOp::create(eb, l, arith::AndIOp::create(eb, l, keep, fits),
                          [&](OpBuilder &tb, Location tl) {
                            memref::StoreOp::create(tb, tl, asId(tb, tl, j),
                                                    indices, at(st[0]));
                            scf::YieldOp::create(tb, tl);
                          });
        Value next = arith::SelectOp::create(
            eb, l, keep, arith::AddIOp::create(eb, l, st[0], c1), st[0]);
        scf::YieldOp::create(eb, l, next);
      });
  Value count = arith::MinUIOp::create(b, loc, emit.getResult(0), width);
  Value none = arith::ConstantIntOp::create(b, loc, idType, -1);
  forEach(b, loc, count, width, [&](OpBuilder &fb, Location l, Value t) {
    memref::StoreOp::create(fb, l, none, indices, at(t));
  });
  memref::StoreOp::create(b, loc, asId(b, loc, count), counts,
                          ValueRange{rowIndex[0], rowIndex[1], rowIndex[2]});
}

void mlir::attn::buildSelectRow(OpBuilder &b, Location loc,
                                const SelectPolicy &policy, const RowRef &row,
                                Value indices, Value counts,
                                ValueRange rowIndex, Value scanEnd) {
  Value nk = row.length(b, loc);
  RowFacts f{policy, row, nk, nk};
  f.stopAt(b, loc, scanEnd);
  Value end = f.end();
  if (policy.local > 0)
    f.localStart = buildLocalStart(b, loc, f);
  RowMass mass;
  if (policy.threshold)
    mass = buildRowMass(b, loc, f);
  Value cutS, cutJ;
  if (policy.topk && *policy.topk > kRadixAbove)
    std::tie(cutS, cutJ) = buildRadixCut(b, loc, f, *policy.topk);
  else
    std::tie(cutS, cutJ) = buildCut(
        b, loc, policy, mass, b.getIndexType(),
        [&](OpBuilder &wb, Location l, Value cs, Value cj) {
          return bestAfter(wb, l, f, end, cs, cj);
        });
  emitKeptIds(b, loc, f, end, cutS, cutJ, indices, counts, rowIndex);
}
