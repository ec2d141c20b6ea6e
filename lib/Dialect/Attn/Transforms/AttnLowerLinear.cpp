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
// linear in N for a fixed C.
//
//===----------------------------------------------------------------------===//

#include "attnir/Dialect/Attn/IR/AttnOps.h"
#include "attnir/Dialect/Attn/Transforms/Passes.h"
#include "attnir/Dialect/Attn/Utils/BuildHelpers.h"
#include "attnir/Dialect/Attn/Utils/LoopLowering.h"
#include "attnir/Dialect/Attn/Utils/SelectionBuilders.h"
#include "mlir/IR/PatternMatch.h"

namespace mlir::attn {
#define GEN_PASS_DEF_ATTNLOWERLINEAR
#include "attnir/Dialect/Attn/Transforms/Passes.h.inc"
} // namespace mlir::attn

using namespace mlir;
using namespace mlir::attn;

namespace {

/// One (b, h) task's buffers and facts.
struct LinearTask {
  bool normalize = false;
  double scale = 1.0;
  Value q, k, v, decay, gate, out; // buffers
  Value b, h, d, dv;
  Value S, z, acc;                 // f32 scratch: [D, Dv], [D], [Dv]
  std::optional<FeatureMap> map;

  Value phiAt(OpBuilder &ob, Location l, Value buf, Value t, Value e) const {
    Value x = toF32(ob, l, memref::LoadOp::create(ob, l, buf, ValueRange{b, h, t, e}));
    return featureMap(ob, l, map, x);
  }
  /// gamma_t: the head's decay times the token's gate (1 without either).
  Value gamma(OpBuilder &ob, Location l, Value t) const {
    Value g = cF32(ob, l, 1.0);
    if (decay)
      g = arith::MulFOp::create(
          ob, l, g, toF32(ob, l, memref::LoadOp::create(ob, l, decay, ValueRange{h})));
    if (gate)
      g = arith::MulFOp::create(
          ob, l, g,
          toF32(ob, l, memref::LoadOp::create(ob, l, gate, ValueRange{b, h, t})));
    return g;
  }
  /// phi(q_t) . phi(k_s).
  Value dot(OpBuilder &ob, Location l, Value t, Value s) const {
    auto loop = scf::ForOp::create(
        ob, l, cIdx(ob, l, 0), d, cIdx(ob, l, 1), ValueRange{cF32(ob, l, 0.0)},
        [&](OpBuilder &eb, Location el, Value e, ValueRange sum) {
          Value p = arith::MulFOp::create(eb, el, phiAt(eb, el, q, t, e),
                                          phiAt(eb, el, k, s, e));
          scf::YieldOp::create(eb, el, ValueRange{arith::AddFOp::create(eb, el, sum[0], p)});
        });
    return loop.getResult(0);
  }
};

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
        Value qd = k.phiAt(db, dl, k.q, t, dd);
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
  if (norm) {
    Value d = intra.getResult(1);
    Value nz = arith::CmpFOp::create(b, l, arith::CmpFPredicate::UNE, d, cF32(b, l, 0.0));
    factor = arith::SelectOp::create(b, l, nz, arith::DivFOp::create(b, l, factor, d),
                                     cF32(b, l, 0.0));
  }
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
          Value kd = mulF(db, dl, g[0], k.phiAt(db, dl, k.k, s, dd));
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

void lowerLinear(RewriterBase &rw, LinearOp op, int64_t chunk) {
  Location loc = op.getLoc();
  rw.setInsertionPoint(op);
  LinearTask base;
  base.normalize = op.getNormalize();
  base.scale = op.getScaleValue();
  base.q = readBuffer(rw, loc, op.getQ());
  base.k = readBuffer(rw, loc, op.getK());
  base.v = readBuffer(rw, loc, op.getV());
  if (op.getDecay())
    base.decay = readBuffer(rw, loc, op.getDecay());
  if (op.getGate())
    base.gate = readBuffer(rw, loc, op.getGate());
  base.map = op.getFeatureMap();
  Value B = dimOf(rw, loc, base.q, 0), H = dimOf(rw, loc, base.q, 1);
  Value N = dimOf(rw, loc, base.q, 2);
  base.d = dimOf(rw, loc, base.q, 3);
  base.dv = dimOf(rw, loc, base.v, 3);
  base.out = allocFor(rw, loc, op.getType(), {B, H, N, base.dv});
  parallelRows(rw, loc, {B, H}, [&](OpBuilder &b, Location l, ValueRange bh) {
    LinearTask k = base;
    k.b = bh[0], k.h = bh[1];
    Type f32 = b.getF32Type();
    auto scratch = [&](ArrayRef<Value> dims) -> Value {
      auto t = MemRefType::get(SmallVector<int64_t>(dims.size(), ShapedType::kDynamic), f32);
      Value buf = memref::AllocOp::create(b, l, t, dims);
      return buf;
    };
    k.S = scratch({k.d, k.dv});
    k.z = scratch({k.d});
    k.acc = scratch({k.dv});
    // S_{-1} = 0, z_{-1} = 0 (stored: fresh memory may hold NaN, which a
    // scaling by 0 would keep).
    forEach(b, l, cIdx(b, l, 0), k.d, [&](OpBuilder &ib, Location il, Value i) {
      memref::StoreOp::create(ib, il, cF32(ib, il, 0.0), k.z, ValueRange{i});
      forEach(ib, il, cIdx(ib, il, 0), k.dv, [&](OpBuilder &jb, Location jl, Value j) {
        memref::StoreOp::create(jb, jl, cF32(jb, jl, 0.0), k.S, ValueRange{i, j});
      });
    });
    Value cc = cIdx(b, l, chunk);
    scf::ForOp::create(
        b, l, cIdx(b, l, 0), N, cc, ValueRange{},
        [&](OpBuilder &cb, Location cl, Value c0, ValueRange) {
          Value c1 = arith::MinUIOp::create(cb, cl, arith::AddIOp::create(cb, cl, c0, cc), N);
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
    for (Value buf : {k.S, k.z, k.acc})
      memref::DeallocOp::create(b, l, buf);
  });
  Value result = asTensor(rw, loc, op.getType(), base.out);
  rw.replaceOp(op, result);
  freeUnlessReturned(rw, result, base.out);
}

struct AttnLowerLinearPass
    : public attn::impl::AttnLowerLinearBase<AttnLowerLinearPass> {
  using Base::Base;
  void runOnOperation() override {
    if (chunk < 1 || chunk > 1024) {
      getOperation().emitError() << "attn-lower-linear: chunk=" << chunk.getValue()
                                 << " must be in 1..1024";
      return signalPassFailure();
    }
    SmallVector<LinearOp> ops;
    getOperation().walk([&](LinearOp op) { ops.push_back(op); });
    IRRewriter rw(&getContext());
    for (LinearOp op : ops)
      lowerLinear(rw, op, chunk);
  }
};

} // namespace
