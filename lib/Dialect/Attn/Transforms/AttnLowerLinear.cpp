//===- AttnLowerLinear.cpp - attn.linear in chunks, on the CPU ------------===//
//
// A parallel task per (b, h) walks the sequence in chunks of C tokens with
// its state S [D, Dv] (and z [D] when normalised) in f32. For token t of
// the chunk starting at c0, with P_t = gamma_c0 ... gamma_t:
//   out_t = P_t phi(q_t)^T S_{c0-1}                              (inter)
//         + sum_{s = c0..t} G(s, t) (phi(q_t) . phi(k_s)) v_s   (intra)
// where G(s, t) = gamma_{s+1} ... gamma_t is accumulated from s = t
// backwards (no division, no logarithm: exact for any decay in [0, 1]);
// then S_{c1-1} = P_{c1-1} S_{c0-1} + sum_s G(s, c1-1) phi(k_s) v_s^T.
// Per token that is C (D + Dv) for the chunk and 2 D Dv for the state:
// linear in N for a fixed C. The state starts from the initial state (or
// 0) and ends in the final state when the op has one. The delta rule
// (delta(beta)) and per-feature gates (GLA) walk token by token, about
// 3 D Dv per token.
//
//===----------------------------------------------------------------------===//

#include "attnir/Dialect/Attn/IR/AttnOps.h"
#include "attnir/Dialect/Attn/Transforms/Passes.h"
#include "attnir/Dialect/Attn/Utils/BuildHelpers.h"
#include "attnir/Dialect/Attn/Utils/LoopLowering.h"
#include "attnir/Dialect/Attn/Utils/SelectionBuilders.h"
#include "mlir/Dialect/Math/IR/Math.h"
#include "mlir/IR/PatternMatch.h"
#include "LinearTask.h"

namespace mlir::attn {
#define GEN_PASS_DEF_ATTNLOWERLINEAR
#include "attnir/Dialect/Attn/Transforms/Passes.h.inc"
} // namespace mlir::attn

using namespace mlir;
using namespace mlir::attn;

namespace {

Value mulF(OpBuilder &b, Location l, Value x, Value y) {
  return arith::MulFOp::create(b, l, x, y);
}
Value addF(OpBuilder &b, Location l, Value x, Value y) {
  return arith::AddFOp::create(b, l, x, y);
}

/// buf[i] = buf[i] * f for i in [0, n) (1-D), or every element of a 2-D buf.
void scaleBuffer(OpBuilder &b, Location l, Value buf, ArrayRef<Value> dims,
                 Value f) {
  forEach(b, l, cIdx(b, l, 0), dims[0], [&](OpBuilder &ib, Location il, Value i) {
    if (dims.size() == 1) {
      Value x = memref::LoadOp::create(ib, il, buf, ValueRange{i});
      memref::StoreOp::create(ib, il, mulF(ib, il, x, f), buf, ValueRange{i});
      return;
    }
    forEach(ib, il, cIdx(ib, il, 0), dims[1], [&](OpBuilder &jb, Location jl, Value j) {
      Value x = memref::LoadOp::create(jb, jl, buf, ValueRange{i, j});
      memref::StoreOp::create(jb, jl, mulF(jb, jl, x, f), buf, ValueRange{i, j});
    });
  });
}

/// out_t for token t of the chunk [c0, ...); pt = P_t.
void buildToken(OpBuilder &b, Location l, const LinearTask &k, Value c0,
                Value t, Value pt) {
  Value c0i = cIdx(b, l, 0), c1i = cIdx(b, l, 1);
  bool norm = k.normalize;
  // Inter: acc = P_t phi(q_t)^T S, den = P_t phi(q_t) . z.
  forEach(b, l, c0i, k.dv, [&](OpBuilder &eb, Location el, Value e) {
    memref::StoreOp::create(eb, el, cF32(eb, el, 0.0), k.acc, ValueRange{e});
  });
  auto inter = scf::ForOp::create(
      b, l, c0i, k.d, c1i, ValueRange{cF32(b, l, 0.0)},
      [&](OpBuilder &db, Location dl, Value dd, ValueRange den) {
        Value qd = k.feature(db, dl, true, t, dd);
        forEach(db, dl, c0i, k.dv, [&](OpBuilder &eb, Location el, Value e) {
          Value s = memref::LoadOp::create(eb, el, k.S, ValueRange{dd, e});
          Value a = memref::LoadOp::create(eb, el, k.acc, ValueRange{e});
          memref::StoreOp::create(eb, el, addF(eb, el, a, mulF(eb, el, qd, s)),
                                  k.acc, ValueRange{e});
        });
        Value zd = memref::LoadOp::create(db, dl, k.z, ValueRange{dd});
        scf::YieldOp::create(db, dl, ValueRange{addF(db, dl, den[0], mulF(db, dl, qd, zd))});
      });
  scaleBuffer(b, l, k.acc, {k.dv}, pt);
  Value den = mulF(b, l, inter.getResult(0), pt);
  // Intra: s from t back to c0, g = G(s, t).
  Value span = arith::AddIOp::create(b, l, arith::SubIOp::create(b, l, t, c0), c1i);
  auto intra = scf::ForOp::create(
      b, l, c0i, span, c1i, ValueRange{cF32(b, l, 1.0), den},
      [&](OpBuilder &sb, Location sl, Value r, ValueRange st) {
        Value s = arith::SubIOp::create(sb, sl, t, r);
        Value w = mulF(sb, sl, st[0], k.dot(sb, sl, t, s));
        forEach(sb, sl, c0i, k.dv, [&](OpBuilder &eb, Location el, Value e) {
          Value vs = toF32(eb, el, memref::LoadOp::create(eb, el, k.v,
                                                          ValueRange{k.b, k.h, s, e}));
          Value a = memref::LoadOp::create(eb, el, k.acc, ValueRange{e});
          memref::StoreOp::create(eb, el, addF(eb, el, a, mulF(eb, el, w, vs)),
                                  k.acc, ValueRange{e});
        });
        scf::YieldOp::create(sb, sl, ValueRange{mulF(sb, sl, st[0], k.gamma(sb, sl, s)),
                                                addF(sb, sl, st[1], w)});
      });
  // out_t = scale acc [/ den] (0 where den is 0).
  Value factor = cF32(b, l, k.scale);
  if (norm)
    factor = divOrZero(b, l, factor, intra.getResult(1));
  if (k.lse)
    memref::StoreOp::create(b, l, math::LogOp::create(b, l, intra.getResult(1)), k.lse,
                            ValueRange{k.b, k.h, t});
  Type elt = cast<MemRefType>(k.out.getType()).getElementType();
  forEach(b, l, c0i, k.dv, [&](OpBuilder &eb, Location el, Value e) {
    Value a = memref::LoadOp::create(eb, el, k.acc, ValueRange{e});
    memref::StoreOp::create(eb, el, fromF32(eb, el, mulF(eb, el, a, factor), elt),
                            k.out, ValueRange{k.b, k.h, t, e});
  });
}

/// S = P S + sum_s G(s, c1-1) phi(k_s) v_s^T (and z likewise) after the
/// chunk [c0, c1); pEnd = P_{c1-1}.
void buildStateUpdate(OpBuilder &b, Location l, const LinearTask &k, Value c0,
                      Value c1, Value pEnd) {
  Value c0i = cIdx(b, l, 0), c1i = cIdx(b, l, 1);
  scaleBuffer(b, l, k.S, {k.d, k.dv}, pEnd);
  scaleBuffer(b, l, k.z, {k.d}, pEnd);
  Value span = arith::SubIOp::create(b, l, c1, c0);
  scf::ForOp::create(
      b, l, c0i, span, c1i, ValueRange{cF32(b, l, 1.0)},
      [&](OpBuilder &sb, Location sl, Value r, ValueRange g) {
        Value s = arith::SubIOp::create(sb, sl, arith::SubIOp::create(sb, sl, c1, c1i), r);
        forEach(sb, sl, c0i, k.d, [&](OpBuilder &db, Location dl, Value dd) {
          Value kd = mulF(db, dl, g[0], k.feature(db, dl, false, s, dd));
          Value zd = memref::LoadOp::create(db, dl, k.z, ValueRange{dd});
          memref::StoreOp::create(db, dl, addF(db, dl, zd, kd), k.z, ValueRange{dd});
          forEach(db, dl, c0i, k.dv, [&](OpBuilder &eb, Location el, Value e) {
            Value vs = toF32(eb, el, memref::LoadOp::create(eb, el, k.v,
                                                            ValueRange{k.b, k.h, s, e}));
            Value x = memref::LoadOp::create(eb, el, k.S, ValueRange{dd, e});
            memref::StoreOp::create(eb, el, addF(eb, el, x, mulF(eb, el, kd, vs)), k.S,
                                    ValueRange{dd, e});
          });
        });
        scf::YieldOp::create(sb, sl, ValueRange{mulF(sb, sl, g[0], k.gamma(sb, sl, s))});
      });
}

/// norm[t] = 1 / sqrt(|phi(x_t)|^2 + 1e-6) for every token (fla's l2norm).
void buildNorms(OpBuilder &b, Location l, const LinearTask &k, Value buf, Value norm) {
  forEach(b, l, cIdx(b, l, 0), k.n, [&](OpBuilder &tb, Location tl, Value t) {
    auto sum = scf::ForOp::create(
        tb, tl, cIdx(tb, tl, 0), k.d, cIdx(tb, tl, 1), ValueRange{cF32(tb, tl, 1e-6)},
        [&](OpBuilder &eb, Location el, Value e, ValueRange acc) {
          Value x = k.phiAt(eb, el, buf, t, e);
          scf::YieldOp::create(eb, el, ValueRange{addF(eb, el, acc[0], mulF(eb, el, x, x))});
        });
    Value inv = arith::DivFOp::create(tb, tl, cF32(tb, tl, 1.0),
                                      math::SqrtOp::create(tb, tl, sum.getResult(0)));
    memref::StoreOp::create(tb, tl, inv, norm, ValueRange{t});
  });
}

/// S[:, e] . phi(q_t) (isQ) or S[:, e] . phi(k_t).
Value columnDot(OpBuilder &b, Location l, const LinearTask &k, bool isQ, Value t, Value e) {
  auto loop = scf::ForOp::create(
      b, l, cIdx(b, l, 0), k.d, cIdx(b, l, 1), ValueRange{cF32(b, l, 0.0)},
      [&](OpBuilder &db, Location dl, Value dd, ValueRange acc) {
        Value sde = memref::LoadOp::create(db, dl, k.S, ValueRange{dd, e});
        Value p = mulF(db, dl, sde, k.feature(db, dl, isQ, t, dd));
        scf::YieldOp::create(db, dl, ValueRange{addF(db, dl, acc[0], p)});
      });
  return loop.getResult(0);
}

/// One token of the recurrence, token by token (the delta rule and
/// per-feature gates; their chunked forms are future work):
///   u = v_t, or beta (v_t - gamma S^T k) under the delta rule;
///   S[d, :] = gamma_d S[d, :] + k_d u (z likewise when normalised);
///   out = scale S^T q [/ q . z].
void buildRecurrentToken(OpBuilder &b, Location l, const LinearTask &k, Value t) {
  Value c0i = cIdx(b, l, 0);
  Value g = k.gamma(b, l, t);
  forEach(b, l, c0i, k.dv, [&](OpBuilder &eb, Location el, Value e) {
    Value u = toF32(eb, el, memref::LoadOp::create(eb, el, k.v, ValueRange{k.b, k.h, t, e}));
    if (k.beta) {
      Value w = columnDot(eb, el, k, /*isQ=*/false, t, e);
      Value beta =
          toF32(eb, el, memref::LoadOp::create(eb, el, k.beta, ValueRange{k.b, k.h, t}));
      u = mulF(eb, el, beta, arith::SubFOp::create(eb, el, u, mulF(eb, el, g, w)));
    }
    memref::StoreOp::create(eb, el, u, k.acc, ValueRange{e});
  });
  auto den = scf::ForOp::create(
      b, l, c0i, k.d, cIdx(b, l, 1), ValueRange{cF32(b, l, 0.0)},
      [&](OpBuilder &db, Location dl, Value dd, ValueRange sum) {
        Value kd = k.feature(db, dl, false, t, dd);
        Value gd = g;
        if (k.featureGate)
          gd = mulF(db, dl, g, math::ExpOp::create(
                                   db, dl, toF32(db, dl, memref::LoadOp::create(
                                                             db, dl, k.featureGate,
                                                             ValueRange{k.b, k.h, t, dd}))));
        forEach(db, dl, cIdx(db, dl, 0), k.dv, [&](OpBuilder &eb, Location el, Value e) {
          Value x = memref::LoadOp::create(eb, el, k.S, ValueRange{dd, e});
          Value u = memref::LoadOp::create(eb, el, k.acc, ValueRange{e});
          memref::StoreOp::create(eb, el, addF(eb, el, mulF(eb, el, gd, x), mulF(eb, el, kd, u)),
                                  k.S, ValueRange{dd, e});
        });
        Value zd = addF(db, dl, mulF(db, dl, gd, memref::LoadOp::create(db, dl, k.z, ValueRange{dd})),
                        kd);
        memref::StoreOp::create(db, dl, zd, k.z, ValueRange{dd});
        Value qd = k.feature(db, dl, true, t, dd);
        scf::YieldOp::create(db, dl, ValueRange{addF(db, dl, sum[0], mulF(db, dl, qd, zd))});
      });
  Value factor = cF32(b, l, k.scale);
  if (k.normalize)
    factor = divOrZero(b, l, factor, den.getResult(0));
  if (k.lse)
    memref::StoreOp::create(b, l, math::LogOp::create(b, l, den.getResult(0)), k.lse,
                            ValueRange{k.b, k.h, t});
  Type elt = cast<MemRefType>(k.out.getType()).getElementType();
  forEach(b, l, c0i, k.dv, [&](OpBuilder &eb, Location el, Value e) {
    Value r = mulF(eb, el, columnDot(eb, el, k, /*isQ=*/true, t, e), factor);
    memref::StoreOp::create(eb, el, fromF32(eb, el, r, elt), k.out, ValueRange{k.b, k.h, t, e});
  });
}

/// One token of Titans' momentum rule, a value column e at a time (column
/// e of U and S depends on column e of the old S only):
///   w = S[:, e] . k_t - v_te;  U[:, e] = eta U[:, e] - theta w k_t;
///   S[:, e] = (1 - alpha) S[:, e] + U[:, e];  out_te = scale S[:, e] . q_t.
void buildMomentumToken(OpBuilder &b, Location l, const LinearTask &k, Value t) {
  Value c0i = cIdx(b, l, 0), one = cF32(b, l, 1.0);
  auto perToken = [&](Value buf) {
    return toF32(b, l, memref::LoadOp::create(b, l, buf, ValueRange{k.b, k.h, t}));
  };
  Value keep = arith::SubFOp::create(b, l, one, perToken(k.forget));
  Value theta = perToken(k.step), eta = perToken(k.momentum);
  Type elt = cast<MemRefType>(k.out.getType()).getElementType();
  forEach(b, l, c0i, k.dv, [&](OpBuilder &eb, Location el, Value e) {
    Value vte = toF32(eb, el, memref::LoadOp::create(eb, el, k.v, ValueRange{k.b, k.h, t, e}));
    Value w = arith::SubFOp::create(eb, el, columnDot(eb, el, k, /*isQ=*/false, t, e), vte);
    Value tw = mulF(eb, el, theta, w);
    forEach(eb, el, c0i, k.d, [&](OpBuilder &db, Location dl, Value dd) {
      Value kd = k.feature(db, dl, false, t, dd);
      Value u = memref::LoadOp::create(db, dl, k.U, ValueRange{dd, e});
      u = arith::SubFOp::create(db, dl, mulF(db, dl, eta, u), mulF(db, dl, tw, kd));
      memref::StoreOp::create(db, dl, u, k.U, ValueRange{dd, e});
      Value s = memref::LoadOp::create(db, dl, k.S, ValueRange{dd, e});
      memref::StoreOp::create(db, dl, addF(db, dl, mulF(db, dl, keep, s), u), k.S,
                              ValueRange{dd, e});
    });
    Value r = mulF(eb, el, columnDot(eb, el, k, /*isQ=*/true, t, e), cF32(eb, el, k.scale));
    memref::StoreOp::create(eb, el, fromF32(eb, el, r, elt), k.out, ValueRange{k.b, k.h, t, e});
  });
}

/// The chunked walk of one (b, h): per chunk its tokens, then the state.
void buildChunks(OpBuilder &b, Location l, const LinearTask &k, int64_t chunk) {
  Value cc = cIdx(b, l, chunk);
  scf::ForOp::create(
      b, l, cIdx(b, l, 0), k.n, cc, ValueRange{},
      [&](OpBuilder &cb, Location cl, Value c0, ValueRange) {
        Value c1 = arith::MinUIOp::create(cb, cl, arith::AddIOp::create(cb, cl, c0, cc), k.n);
        auto tokens = scf::ForOp::create(
            cb, cl, c0, c1, cIdx(cb, cl, 1), ValueRange{cF32(cb, cl, 1.0)},
            [&](OpBuilder &tb, Location tl, Value t, ValueRange p) {
              Value pt = mulF(tb, tl, p[0], k.gamma(tb, tl, t));
              buildToken(tb, tl, k, c0, t, pt);
              scf::YieldOp::create(tb, tl, ValueRange{pt});
            });
        buildStateUpdate(cb, cl, k, c0, c1, tokens.getResult(0));
        scf::YieldOp::create(cb, cl);
      });
}

/// S = the initial state's [b, h] (or 0), z = 0 (stored: fresh memory may
/// hold NaN, which a scaling by 0 would keep).
void buildInitialState(OpBuilder &b, Location l, const LinearTask &k) {
  forEach(b, l, cIdx(b, l, 0), k.d, [&](OpBuilder &ib, Location il, Value i) {
    memref::StoreOp::create(ib, il, cF32(ib, il, 0.0), k.z, ValueRange{i});
    forEach(ib, il, cIdx(ib, il, 0), k.dv, [&](OpBuilder &jb, Location jl, Value j) {
      Value x = k.initState ? memref::LoadOp::create(jb, jl, k.initState,
                                                     ValueRange{k.b, k.h, i, j})
                                  .getResult()
                            : cF32(jb, jl, 0.0);
      memref::StoreOp::create(jb, jl, x, k.S, ValueRange{i, j});
    });
  });
}

void buildFinalState(OpBuilder &b, Location l, const LinearTask &k) {
  forEach(b, l, cIdx(b, l, 0), k.d, [&](OpBuilder &ib, Location il, Value i) {
    forEach(ib, il, cIdx(ib, il, 0), k.dv, [&](OpBuilder &jb, Location jl, Value j) {
      Value x = memref::LoadOp::create(jb, jl, k.S, ValueRange{i, j});
      memref::StoreOp::create(jb, jl, x, k.finalState, ValueRange{k.b, k.h, i, j});
    });
  });
}

void lowerLinear(RewriterBase &rw, LinearOp op, int64_t chunk, int64_t lanes) {
  Location loc = op.getLoc();
  rw.setInsertionPoint(op);
  LinearTask base;
  base.normalize = op.getNormalize();
  base.scale = op.getScaleValue();
  base.q = readBuffer(rw, loc, op.getQ());
  base.k = readBuffer(rw, loc, op.getK());
  base.v = readBuffer(rw, loc, op.getV());
  auto optional = [&](Value v) { return v ? readBuffer(rw, loc, v) : Value(); };
  base.decay = optional(op.getDecay());
  base.gate = optional(op.getGate());
  if (op.isPerFeatureGate())
    base.featureGate = optional(op.getLogGate());
  else
    base.logGate = optional(op.getLogGate());
  base.beta = optional(op.getBeta());
  base.forget = optional(op.getForget());
  base.step = optional(op.getStep());
  base.momentum = optional(op.getMomentum());
  base.initState = optional(op.getInitialState());
  base.map = op.getFeatureMap();
  Value B = dimOf(rw, loc, base.q, 0), H = dimOf(rw, loc, base.q, 1);
  base.n = dimOf(rw, loc, base.q, 2);
  base.d = dimOf(rw, loc, base.q, 3);
  base.dv = dimOf(rw, loc, base.v, 3);
  Type outType = op.getOut().getType();
  base.out = allocFor(rw, loc, outType, {B, H, base.n, base.dv});
  if (Value fs = op.getStateResult())
    base.finalState = allocFor(rw, loc, fs.getType(), {B, H, base.d, base.dv});
  if (Value lse = op.getLseResult())
    base.lse = allocFor(rw, loc, lse.getType(), {B, H, base.n});
  bool l2 = op.getL2norm();
  parallelRows(rw, loc, {B, H}, [&](OpBuilder &b, Location l, ValueRange bh) {
    LinearTask k = base;
    k.b = bh[0], k.h = bh[1];
    Type f32 = b.getF32Type();
    SmallVector<Value> scratchBufs;
    auto scratch = [&](ArrayRef<Value> dims) -> Value {
      auto t = MemRefType::get(SmallVector<int64_t>(dims.size(), ShapedType::kDynamic), f32);
      scratchBufs.push_back(memref::AllocOp::create(b, l, t, dims));
      return scratchBufs.back();
    };
    k.S = scratch({k.d, k.dv});
    k.z = scratch({k.d});
    k.acc = scratch({k.dv});
    if (l2) {
      Value qn = scratch({k.n}), kn = scratch({k.n});
      buildNorms(b, l, k, k.q, qn);
      buildNorms(b, l, k, k.k, kn);
      k.qNorm = qn, k.kNorm = kn;
    }
    buildInitialState(b, l, k);
    if (k.forget) {
      k.U = scratch({k.d, k.dv});
      forEach(b, l, cIdx(b, l, 0), k.d, [&](OpBuilder &db, Location dl, Value dd) {
        forEach(db, dl, cIdx(db, dl, 0), k.dv, [&](OpBuilder &eb, Location el, Value e) {
          memref::StoreOp::create(eb, el, cF32(eb, el, 0.0), k.U, ValueRange{dd, e});
        });
      });
      forEach(b, l, cIdx(b, l, 0), k.n, [&](OpBuilder &tb, Location tl, Value t) {
        buildMomentumToken(tb, tl, k, t);
      });
    } else if (k.beta || k.featureGate) {
      bool vec = vectorChunksApply(k, lanes);
      forEach(b, l, cIdx(b, l, 0), k.n, [&](OpBuilder &tb, Location tl, Value t) {
        if (vec)
          buildVectorRecurrentToken(tb, tl, k, lanes, t);
        else
          buildRecurrentToken(tb, tl, k, t);
      });
    }
    else if (vectorChunksApply(k, lanes))
      buildVectorChunks(b, l, k, chunk, lanes);
    else
      buildChunks(b, l, k, chunk);
    if (k.finalState)
      buildFinalState(b, l, k);
    for (Value buf : scratchBufs)
      memref::DeallocOp::create(b, l, buf);
  });
  SmallVector<Value> results{asTensor(rw, loc, outType, base.out)};
  if (Value fs = op.getStateResult())
    results.push_back(asTensor(rw, loc, fs.getType(), base.finalState));
  if (Value lse = op.getLseResult())
    results.push_back(asTensor(rw, loc, lse.getType(), base.lse));
  rw.replaceOp(op, results);
  freeUnlessReturned(rw, results[0], base.out);
  if (base.finalState || base.lse)
    freeUnlessReturned(rw, results[1], base.finalState ? base.finalState : base.lse);
}

struct AttnLowerLinearPass
    : public attn::impl::AttnLowerLinearBase<AttnLowerLinearPass> {
  using Base::Base;
  void runOnOperation() override {
    if (lanes != 0 && lanes != 8 && lanes != 16) {
      getOperation().emitError() << "attn-lower-linear: lanes=" << lanes.getValue()
                                 << " must be 0 (scalar), 8 or 16";
      return signalPassFailure();
    }
    if (chunk < 1 || chunk > 1024) {
      getOperation().emitError() << "attn-lower-linear: chunk=" << chunk.getValue()
                                 << " must be in 1..1024";
      return signalPassFailure();
    }
    SmallVector<LinearOp> ops;
    WalkResult wy = getOperation().walk([&](LinearOp op) {
      // W and U are the CUDA chunk kernels' workspace; the CPU solves each
      // chunk where it needs it.
      if (op.getSplit()) {
        op.emitError() << "split(" << *op.getSplit()
                       << ") is the CUDA kernels' two-pass form (attn-linear-split); the CPU "
                          "lowering does not write chunk states";
        return WalkResult::interrupt();
      }
      if (op.getWy()) {
        op.emitError() << "wy(" << *op.getWy()
                       << ") is the CUDA kernels' WY form (attn-linear-wy); the CPU "
                          "lowering does not compute W and U";
        return WalkResult::interrupt();
      }
      ops.push_back(op);
      return WalkResult::advance();
    });
    if (wy.wasInterrupted())
      return signalPassFailure();
    IRRewriter rw(&getContext());
    for (LinearOp op : ops)
      lowerLinear(rw, op, chunk, lanes);
  }
};

} // namespace
