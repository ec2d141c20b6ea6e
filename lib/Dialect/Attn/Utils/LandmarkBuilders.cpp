//===- LandmarkBuilders.cpp - attn.landmark, one query row ----------------===//

#include "attnir/Dialect/Attn/Utils/LandmarkBuilders.h"
#include "LandmarkVectorBlock.h"
#include "attnir/Dialect/Attn/Utils/BuildHelpers.h"
#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Math/IR/Math.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/Dialect/Vector/IR/VectorOps.h"
#include <limits>
#include <optional>

using namespace mlir;
using namespace mlir::attn;

namespace {

struct RowBuilder {
  OpBuilder &b;
  Location loc;
  const LandmarkRow &row;
  Value bi, h, g, i, D, Dv;
  /// The vector form, where the row takes it.
  std::optional<landmark::VectorRow> vec;

  Value c(int64_t v) { return cIdx(b, loc, v); }
  Value f(double v) { return cF32(b, loc, v); }
  Value load(OpBuilder &x, Location l, Value buf, ValueRange at) {
    return toF32(x, l, memref::LoadOp::create(x, l, buf, at));
  }

  /// scale * q_i . x[bi, g, r] for x = k or landmarks.
  Value dot(OpBuilder &x, Location l, Value buf, Value r) {
    if (vec)
      return vec->dot(x, l, buf, r);
    auto loop = scf::ForOp::create(
        x, l, cIdx(x, l, 0), D, cIdx(x, l, 1), ValueRange{cF32(x, l, 0.0)},
        [&](OpBuilder &db, Location dl, Value d, ValueRange acc) {
          Value p = arith::MulFOp::create(db, dl, load(db, dl, row.q, {bi, h, i, d}),
                                          load(db, dl, buf, {bi, g, r, d}));
          scf::YieldOp::create(db, dl, ValueRange{arith::AddFOp::create(db, dl, acc[0], p)});
        });
    return arith::MulFOp::create(x, l, loop.getResult(0),
                                 cF32(x, l, row.scale));
  }

  /// The state (m, z) after one more unit of logit s: the new max m', the
  /// old state's factor alpha = exp(m - m'), the unit's weight p =
  /// exp(s - m') and z' = z alpha + p.
  struct Step {
    Value m, alpha, p, z;
  };
  static Step step(OpBuilder &x, Location l, ValueRange mz, Value s) {
    Value m = arith::MaximumFOp::create(x, l, mz[0], s);
    Value alpha = math::ExpOp::create(x, l, arith::SubFOp::create(x, l, mz[0], m));
    Value p = math::ExpOp::create(x, l, arith::SubFOp::create(x, l, s, m));
    Value z = arith::AddFOp::create(x, l, arith::MulFOp::create(x, l, mz[1], alpha), p);
    return {m, alpha, p, z};
  }

  /// An online softmax step: state (m, z) and the accumulator `acc` [Dv]
  /// take one unit (logit s, value(e)); returns the new (m, z).
  SmallVector<Value> fold(OpBuilder &x, Location l, ValueRange mz, Value s,
                          function_ref<Value(OpBuilder &, Location, Value)> value,
                          Value acc) {
    auto [m, alphaV, pV, z] = step(x, l, mz, s);
    Value alpha = alphaV, p = pV; // lambdas capture no structured bindings
    forEach(x, l, cIdx(x, l, 0), Dv, [&](OpBuilder &eb, Location el, Value e) {
      Value a = memref::LoadOp::create(eb, el, acc, ValueRange{e});
      Value next = math::FmaOp::create(
          eb, el, p, value(eb, el, e), arith::MulFOp::create(eb, el, a, alpha));
      memref::StoreOp::create(eb, el, next, acc, ValueRange{e});
    });
    return {m, z};
  }

  /// The unit of block beta into row.unit: its softmax of s_i. over its
  /// l tokens times v, taken online (the same step as the outer softmax).
  void blockUnit(OpBuilder &x, Location l, Value beta) {
    Value j0 = arith::MulIOp::create(x, l, beta, cIdx(x, l, row.block));
    forEach(x, l, cIdx(x, l, 0), Dv, [&](OpBuilder &eb, Location el, Value e) {
      memref::StoreOp::create(eb, el, cF32(eb, el, 0.0), row.unit, ValueRange{e});
    });
    Value ninf = cF32(x, l, -std::numeric_limits<float>::infinity());
    auto loop = scf::ForOp::create(
        x, l, cIdx(x, l, 0), cIdx(x, l, row.block), cIdx(x, l, 1),
        ValueRange{ninf, cF32(x, l, 0.0)},
        [&](OpBuilder &tb, Location tl, Value t, ValueRange mz) {
          Value j = arith::AddIOp::create(tb, tl, j0, t);
          scf::YieldOp::create(
              tb, tl,
              fold(tb, tl, mz, dot(tb, tl, row.k, j),
                   [&](OpBuilder &eb, Location el, Value e) {
                     return load(eb, el, row.v, {bi, g, j, e});
                   },
                   row.unit));
        });
    Value inv = arith::DivFOp::create(x, l, cF32(x, l, 1.0), loop.getResult(1));
    forEach(x, l, cIdx(x, l, 0), Dv, [&](OpBuilder &eb, Location el, Value e) {
      Value u = memref::LoadOp::create(eb, el, row.unit, ValueRange{e});
      memref::StoreOp::create(eb, el, arith::MulFOp::create(eb, el, u, inv), row.unit,
                              ValueRange{e});
    });
  }

  /// Block beta's landmark logit: from the logits scratch, or recomputed.
  Value logit(OpBuilder &x, Location l, Value beta) {
    return row.logits ? memref::LoadOp::create(x, l, row.logits, ValueRange{beta})
                            .getResult()
                      : dot(x, l, row.landmarks, beta);
  }

  /// Folds block beta's unit (logit a) into the state.
  SmallVector<Value> foldBlock(OpBuilder &x, Location l, ValueRange mz, Value beta,
                               Value a) {
    if (vec)
      return foldBlockVector(x, l, mz, beta, a);
    blockUnit(x, l, beta);
    return fold(
        x, l, mz, a,
        [&](OpBuilder &eb, Location el, Value e) -> Value {
          return memref::LoadOp::create(eb, el, row.unit, ValueRange{e});
        },
        row.acc);
  }

  /// foldBlock on vectors: the unit is the block's P V over its sum, so
  /// acc' = acc alpha + (p / z_beta) (P V)_beta.
  SmallVector<Value> foldBlockVector(OpBuilder &x, Location l, ValueRange mz,
                                     Value beta, Value a) {
    landmark::BlockState st = vec->block(
        x, l, arith::MulIOp::create(x, l, beta, cIdx(x, l, row.block)),
        cIdx(x, l, row.block));
    auto [m, alpha, p, z] = step(x, l, mz, a);
    auto vt = cast<VectorType>(st.acc.front().getType());
    Value w = vector::BroadcastOp::create(x, l, vt, arith::DivFOp::create(x, l, p, st.z));
    Value av = vector::BroadcastOp::create(x, l, vt, alpha);
    SmallVector<Value> acc = vec->load(x, l, row.acc);
    for (size_t e = 0; e < acc.size(); ++e)
      acc[e] = math::FmaOp::create(x, l, st.acc[e], w,
                                   arith::MulFOp::create(x, l, acc[e], av));
    vec->store(x, l, acc, row.acc);
    return {m, z};
  }

  /// The local tokens [first, i] as the state's start: on vectors one block
  /// of i - first + 1 keys, else one token at a time.
  SmallVector<Value> local(Value first) {
    Value end = arith::AddIOp::create(b, loc, i, c(1));
    if (vec) {
      landmark::BlockState st =
          vec->block(b, loc, first, arith::SubIOp::create(b, loc, end, first));
      vec->store(b, loc, st.acc, row.acc);
      return {st.m, st.z};
    }
    forEach(b, loc, c(0), Dv, [&](OpBuilder &eb, Location el, Value e) {
      memref::StoreOp::create(eb, el, cF32(eb, el, 0.0), row.acc, ValueRange{e});
    });
    Value ninf = f(-std::numeric_limits<float>::infinity());
    auto loop = scf::ForOp::create(
        b, loc, first, end, c(1), ValueRange{ninf, f(0.0)},
        [&](OpBuilder &x, Location l, Value j, ValueRange mz) {
          Value s = dot(x, l, row.k, j);
          scf::YieldOp::create(
              x, l, fold(x, l, mz, s,
                         [&](OpBuilder &eb, Location el, Value e) {
                           return load(eb, el, row.v, {bi, g, j, e});
                         },
                         row.acc));
        });
    return SmallVector<Value>(loop.getResults());
  }

  /// The best logit of row.logits [0, cblk) not yet taken (NaN): strictly
  /// larger wins, so ties go to the lower block. Returns (logit, block).
  std::pair<Value, Value> bestLogit(OpBuilder &x, Location l, Value cblk) {
    if (vec)
      return vec->bestLogit(x, l, row.logits, cblk);
    auto best = scf::ForOp::create(
        x, l, cIdx(x, l, 0), cblk, cIdx(x, l, 1),
        ValueRange{cF32(x, l, -std::numeric_limits<float>::infinity()), cIdx(x, l, 0),
                   arith::ConstantIntOp::create(x, l, 0, 1)},
        [&](OpBuilder &sb, Location sl, Value beta, ValueRange cur) {
          Value a = memref::LoadOp::create(sb, sl, row.logits, ValueRange{beta});
          Value better = arith::OrIOp::create(
              sb, sl, arith::CmpFOp::create(sb, sl, arith::CmpFPredicate::OGT, a, cur[0]),
              arith::AndIOp::create(
                  sb, sl,
                  arith::XOrIOp::create(sb, sl, cur[2], arith::ConstantIntOp::create(sb, sl, 1, 1)),
                  arith::CmpFOp::create(sb, sl, arith::CmpFPredicate::ORD, a, a)));
          scf::YieldOp::create(sb, sl,
                               ValueRange{arith::SelectOp::create(sb, sl, better, a, cur[0]),
                                          arith::SelectOp::create(sb, sl, better, beta, cur[1]),
                                          arith::OrIOp::create(sb, sl, cur[2], better)});
        });
    return {best.getResult(0), best.getResult(1)};
  }

  /// One top-k pass without a logits scratch: the best block ranked after
  /// the previous pick (prevA, prevB; `started` false before the first) in
  /// the order (logit descending, block ascending). Returns (logit, block).
  std::pair<Value, Value> nextBest(OpBuilder &x, Location l, Value cblk, Value prevA,
                                   Value prevB, Value started) {
    Value no = arith::ConstantIntOp::create(x, l, 0, 1);
    auto best = scf::ForOp::create(
        x, l, cIdx(x, l, 0), cblk, cIdx(x, l, 1),
        ValueRange{cF32(x, l, -std::numeric_limits<float>::infinity()),
                   cIdx(x, l, 0), no},
        [&](OpBuilder &sb, Location sl, Value beta, ValueRange cur) {
          Value a = dot(sb, sl, row.landmarks, beta);
          Value after = arith::OrIOp::create(
              sb, sl, arith::XOrIOp::create(sb, sl, started,
                                            arith::ConstantIntOp::create(sb, sl, 1, 1)),
              arith::OrIOp::create(
                  sb, sl, arith::CmpFOp::create(sb, sl, arith::CmpFPredicate::OLT, a, prevA),
                  arith::AndIOp::create(
                      sb, sl, arith::CmpFOp::create(sb, sl, arith::CmpFPredicate::OEQ, a, prevA),
                      arith::CmpIOp::create(sb, sl, arith::CmpIPredicate::ugt, beta, prevB))));
          Value better = arith::AndIOp::create(
              sb, sl, after,
              arith::OrIOp::create(
                  sb, sl, arith::CmpFOp::create(sb, sl, arith::CmpFPredicate::OGT, a, cur[0]),
                  arith::AndIOp::create(
                      sb, sl,
                      arith::XOrIOp::create(sb, sl, cur[2],
                                            arith::ConstantIntOp::create(sb, sl, 1, 1)),
                      arith::CmpFOp::create(sb, sl, arith::CmpFPredicate::ORD, a, a))));
          scf::YieldOp::create(
              sb, sl,
              ValueRange{arith::SelectOp::create(sb, sl, better, a, cur[0]),
                         arith::SelectOp::create(sb, sl, better, beta, cur[1]),
                         arith::OrIOp::create(sb, sl, cur[2], better)});
        });
    return {best.getResult(0), best.getResult(1)};
  }
};

} // namespace

// Every earlier block: no selection.
static ValueRange foldEveryBlock(RowBuilder &rb, OpBuilder &x, Location l,
                                 Value cblk, ValueRange mz) {
  auto loop = scf::ForOp::create(
      x, l, cIdx(x, l, 0), cblk, cIdx(x, l, 1), mz,
      [&](OpBuilder &fb, Location fl, Value beta, ValueRange st) {
        scf::YieldOp::create(fb, fl,
                             rb.foldBlock(fb, fl, st, beta, rb.logit(fb, fl, beta)));
      });
  return loop.getResults();
}

// Without scratch: each pass finds the next block in (logit descending,
// block ascending) order, recomputing the logits.
static ValueRange foldTopKRecomputed(RowBuilder &rb, OpBuilder &x, Location l,
                                     Value cblk, ValueRange mz) {
  SmallVector<Value> init(mz);
  init.append({cF32(x, l, 0.0), cIdx(x, l, 0), arith::ConstantIntOp::create(x, l, 0, 1)});
  auto loop = scf::ForOp::create(
      x, l, cIdx(x, l, 0), cIdx(x, l, rb.row.topk), cIdx(x, l, 1), init,
      [&](OpBuilder &fb, Location fl, Value, ValueRange st) {
        auto [a, beta] = rb.nextBest(fb, fl, cblk, st[2], st[3], st[4]);
        SmallVector<Value> next = rb.foldBlock(fb, fl, st.take_front(2), beta, a);
        next.append({a, beta, arith::ConstantIntOp::create(fb, fl, 1, 1)});
        scf::YieldOp::create(fb, fl, next);
      });
  return loop.getResults().take_front(2);
}

// topk passes over the scratch logits: the largest logit not yet taken
// (strictly larger wins: ties to the lower block); a taken logit becomes
// NaN, which no comparison picks again.
static ValueRange foldTopKFromScratch(RowBuilder &rb, OpBuilder &x, Location l,
                                      Value cblk, ValueRange mz) {
  const LandmarkRow &row = rb.row;
  if (rb.vec)
    rb.vec->padLogits(x, l, row.logits, cblk);
  auto loop = scf::ForOp::create(
      x, l, cIdx(x, l, 0), cIdx(x, l, row.topk), cIdx(x, l, 1), mz,
      [&](OpBuilder &fb, Location fl, Value, ValueRange st) {
        auto [a, beta] = rb.bestLogit(fb, fl, cblk);
        SmallVector<Value> next = rb.foldBlock(fb, fl, st, beta, a);
        Value nan = cF32(fb, fl, std::numeric_limits<float>::quiet_NaN());
        memref::StoreOp::create(fb, fl, nan, row.logits, ValueRange{beta});
        scf::YieldOp::create(fb, fl, next);
      });
  return loop.getResults();
}

void mlir::attn::buildLandmarkRow(OpBuilder &b, Location loc,
                                  const LandmarkRow &row, Value bi, Value h,
                                  Value i) {
  RowBuilder rb{b, loc, row, bi, h, Value(), i, dimOf(b, loc, row.q, 3),
                dimOf(b, loc, row.v, 3), std::nullopt};
  // GQA: query head h reads k head h Hkv / Hq.
  rb.g = arith::DivUIOp::create(
      b, loc, arith::MulIOp::create(b, loc, h, dimOf(b, loc, row.k, 1)),
      dimOf(b, loc, row.q, 1));
  if (landmarkRowVectorizes(row, row.lanes))
    rb.vec.emplace(b, loc, row, bi, h, rb.g, i);
  Value zero = rb.c(0);
  Value cblk = arith::DivUIOp::create(b, loc, i, rb.c(row.block));
  Value first = arith::MulIOp::create(b, loc, cblk, rb.c(row.block));
  SmallVector<Value> mz = rb.local(first);
  // Landmark logits of the earlier blocks (recomputed where there is no
  // scratch for them).
  if (row.logits)
    forEach(b, loc, zero, cblk, [&](OpBuilder &x, Location l, Value beta) {
      memref::StoreOp::create(x, l, rb.dot(x, l, row.landmarks, beta), row.logits,
                              ValueRange{beta});
    });
  Value all = row.topk < 0
                  ? Value(arith::ConstantIntOp::create(b, loc, 1, 1))
                  : arith::CmpIOp::create(b, loc, arith::CmpIPredicate::ule,
                                          cblk, rb.c(row.topk))
                        .getResult();
  auto pick = scf::IfOp::create(
      b, loc, all,
      [&](OpBuilder &x, Location l) {
        scf::YieldOp::create(x, l, foldEveryBlock(rb, x, l, cblk, mz));
      },
      [&](OpBuilder &x, Location l) {
        scf::YieldOp::create(x, l,
                             row.logits ? foldTopKFromScratch(rb, x, l, cblk, mz)
                                        : foldTopKRecomputed(rb, x, l, cblk, mz));
      });
  Value m = pick.getResult(0), z = pick.getResult(1);
  Value inv = arith::DivFOp::create(b, loc, rb.f(1.0), z);
  Type elt = cast<MemRefType>(row.out.getType()).getElementType();
  forEach(b, loc, zero, rb.Dv, [&](OpBuilder &x, Location l, Value e) {
    Value a = memref::LoadOp::create(x, l, row.acc, ValueRange{e});
    memref::StoreOp::create(x, l, fromF32(x, l, arith::MulFOp::create(x, l, a, inv), elt),
                            row.out, ValueRange{bi, h, i, e});
  });
  memref::StoreOp::create(
      b, loc, arith::AddFOp::create(b, loc, m, math::LogOp::create(b, loc, z)),
      row.lse, ValueRange{bi, h, i});
}
