//===- LinearKernel.cpp - attn.linear on the GPU, a thread per state column -===//
//
// The recurrent form (fla's fused_recurrent): thread (b, h, e) owns column e
// of the state S [D, Dv] as a vector<D x f32> in registers and walks the
// tokens: phi(k_t) and phi(q_t) as vectors (each of the head's Dv threads
// reads the same rows: cache hits), the gates, then
//   u = v_te, or beta_t (v_te - gamma_t S_e . k_t) under the delta rule,
//   S_e = gamma_t S_e + k_t u,   out_te = scale S_e . q_t [/ q_t . z_t].
// Every variant attn.linear has (decays, gates, log gates per token or per
// feature, feature maps,
// l2norm, normalize, the delta rule, state in and out) in one body. The
// chunked tensor-core form (wgmma on Hopper) is the next step for speed;
// this is the correct first one, and decode's form.
//
//===----------------------------------------------------------------------===//

#include "SelectionKernels.h"
#include "attnir/Dialect/Attn/Utils/BuildHelpers.h"
#include "attnir/Dialect/Attn/Utils/SelectionBuilders.h"
#include "mlir/Dialect/Math/IR/Math.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/Dialect/Vector/IR/VectorOps.h"

using namespace mlir;
using namespace mlir::attn;

namespace {

Value sum(OpBuilder &b, Location l, Value x) {
  return vector::ReductionOp::create(b, l, vector::CombiningKind::ADD, x);
}

Value splat(OpBuilder &b, Location l, VectorType t, Value s) {
  return vector::BroadcastOp::create(b, l, t, s);
}

/// Row t of q or k at (b, h) as f32 features: phi, then (l2norm) divided by
/// sqrt(|phi|^2 + 1e-6).
Value featureRow(OpBuilder &b, Location l, LinearOp op, Value buf, Value bi, Value h,
                 Value t, VectorType vf) {
  auto mt = cast<MemRefType>(buf.getType());
  auto vt = VectorType::get(vf.getShape(), mt.getElementType());
  Value x = vector::LoadOp::create(b, l, vt, buf, ValueRange{bi, h, t, cIdx(b, l, 0)});
  if (!mt.getElementType().isF32())
    x = arith::ExtFOp::create(b, l, vf, x);
  x = featureMap(b, l, op.getFeatureMap(), x);
  if (op.getL2norm()) {
    Value ss = arith::AddFOp::create(b, l, sum(b, l, arith::MulFOp::create(b, l, x, x)),
                                     cF32(b, l, 1e-6));
    Value inv = arith::DivFOp::create(b, l, cF32(b, l, 1.0), math::SqrtOp::create(b, l, ss));
    x = arith::MulFOp::create(b, l, x, splat(b, l, vf, inv));
  }
  return x;
}

Value loadF32(OpBuilder &b, Location l, Value buf, ValueRange at) {
  return toF32(b, l, memref::LoadOp::create(b, l, buf, at));
}

} // namespace

bool mlir::attn::cuda::canRunLinear(LinearOp op) {
  auto q = cast<RankedTensorType>(op.getQ().getType());
  auto v = cast<RankedTensorType>(op.getV().getType());
  int64_t d = q.getDimSize(3), dv = v.getDimSize(3);
  // Static head dims: the state column is a vector in registers (up to 256
  // floats), and a thread per value column (up to a block's 1024 threads).
  return !ShapedType::isDynamic(d) && !ShapedType::isDynamic(dv) && d <= 256 &&
         dv <= 1024;
}

namespace {

/// One thread's column e of the state at (bi, h): the operands it reads
/// and the two token steps (Titans', and the gated / delta rule's).
struct LinearColumn {
  LinearOp op;
  function_ref<Value(Value)> arg;
  Value bi, h, e;
  VectorType vf;
  Value q, k, v, outBuf, decay, gate, logGate, featureGate, beta, forget, lambda;
  Type outElt;
  double scale;

  LinearColumn(OpBuilder &b, Location l, LinearOp op, function_ref<Value(Value)> arg, Value bi,
               Value h, Value e)
      : op(op), arg(arg), bi(bi), h(h), e(e) {
    int64_t D = cast<RankedTensorType>(op.getQ().getType()).getDimSize(3);
    vf = VectorType::get({D}, b.getF32Type());
    q = arg(op.getQ()), k = arg(op.getK()), v = arg(op.getV());
    decay = op.getDecay() ? arg(op.getDecay()) : Value();
    gate = op.getGate() ? arg(op.getGate()) : Value();
    logGate = op.getLogGate() ? arg(op.getLogGate()) : Value();
    if (op.isPerFeatureGate()) // [B, H, N, D]: a log gate per state row (GLA)
      std::swap(featureGate, logGate);
    beta = op.getBeta() ? arg(op.getBeta()) : Value();
    forget = op.getForget() ? arg(op.getForget()) : Value();
  }

  /// S_e from the initial state's column, or `zero`.
  Value initialColumn(OpBuilder &b, Location l, Value zero) {
    Value s0 = zero;
    if (Value st = op.getInitialState() ? arg(op.getInitialState()) : Value())
      for (int64_t d = 0; d < vf.getDimSize(0); ++d)
        s0 = vector::InsertOp::create(
            b, l, memref::LoadOp::create(b, l, st, ValueRange{bi, h, cIdx(b, l, d), e}), s0,
            ArrayRef<int64_t>{d});
    return s0;
  }

  Value dotOut(OpBuilder &tb, Location tl, Value S, Value qv) {
    return arith::MulFOp::create(tb, tl, sum(tb, tl, arith::MulFOp::create(tb, tl, S, qv)),
                                 cF32(tb, tl, scale));
  }

  void storeOut(OpBuilder &tb, Location tl, Value o, Value t) {
    memref::StoreOp::create(tb, tl, fromF32(tb, tl, o, outElt), outBuf, ValueRange{bi, h, t, e});
  }

  /// Titans: z carries the momentum column U_e (no normaliser here).
  /// U_e = eta U_e - theta (S_e . k - v_e) k; S_e = (1 - alpha) S_e + U_e.
  SmallVector<Value> titansStep(OpBuilder &tb, Location tl, Value t, Value S, Value z,
                                Value kt, Value qv) {
    Value w = arith::SubFOp::create(tb, tl, sum(tb, tl, arith::MulFOp::create(tb, tl, S, kt)),
                                    loadF32(tb, tl, v, ValueRange{bi, h, t, e}));
    Value tw = arith::MulFOp::create(
        tb, tl, loadF32(tb, tl, arg(op.getStep()), ValueRange{bi, h, t}), w);
    Value eta = loadF32(tb, tl, arg(op.getMomentum()), ValueRange{bi, h, t});
    Value keep = arith::SubFOp::create(tb, tl, cF32(tb, tl, 1.0),
                                       loadF32(tb, tl, forget, ValueRange{bi, h, t}));
    Value U = arith::SubFOp::create(tb, tl, arith::MulFOp::create(tb, tl, splat(tb, tl, vf, eta), z),
                                    arith::MulFOp::create(tb, tl, splat(tb, tl, vf, tw), kt));
    S = vector::FMAOp::create(tb, tl, splat(tb, tl, vf, keep), S, U);
    storeOut(tb, tl, dotOut(tb, tl, S, qv), t);
    return {S, U};
  }

  /// The token gate gamma_t: decay, gate and exp of the log gate (per
  /// feature log gates multiply in per state row, in gatedStep).
  Value tokenGate(OpBuilder &tb, Location tl, Value t) {
    Value g = cF32(tb, tl, 1.0);
    auto times = [&](Value x) { g = arith::MulFOp::create(tb, tl, g, x); };
    if (lambda)
      times(lambda);
    if (gate)
      times(loadF32(tb, tl, gate, ValueRange{bi, h, t}));
    if (logGate)
      times(math::ExpOp::create(tb, tl, loadF32(tb, tl, logGate, ValueRange{bi, h, t})));
    return g;
  }

  /// The gated (and delta) rule: u = v_te, or beta_t (v_te - gamma_t S_e . k_t);
  /// S_e = gamma_t S_e + k_t u; out = scale S_e . q_t [/ q_t . z_t].
  SmallVector<Value> gatedStep(OpBuilder &tb, Location tl, Value t, Value S, Value z, Value kt,
                               Value qv) {
    Value g = tokenGate(tb, tl, t);
    Value u = loadF32(tb, tl, v, ValueRange{bi, h, t, e});
    if (beta) { // u = beta (v - gamma S_e . k), with the old S
      Value w = sum(tb, tl, arith::MulFOp::create(tb, tl, S, kt));
      Value bt = loadF32(tb, tl, beta, ValueRange{bi, h, t});
      u = arith::MulFOp::create(
          tb, tl, bt, arith::SubFOp::create(tb, tl, u, arith::MulFOp::create(tb, tl, g, w)));
    }
    Value gv = splat(tb, tl, vf, g);
    if (featureGate) { // gamma_d = g e^{g_td}
      auto mt = cast<MemRefType>(featureGate.getType());
      Value lg = vector::LoadOp::create(tb, tl, VectorType::get(vf.getShape(), mt.getElementType()),
                                        featureGate, ValueRange{bi, h, t, cIdx(tb, tl, 0)});
      if (!mt.getElementType().isF32())
        lg = arith::ExtFOp::create(tb, tl, vf, lg);
      gv = arith::MulFOp::create(tb, tl, gv, math::ExpOp::create(tb, tl, lg));
    }
    S = vector::FMAOp::create(tb, tl, kt, splat(tb, tl, vf, u), arith::MulFOp::create(tb, tl, gv, S));
    Value o = dotOut(tb, tl, S, qv);
    if (op.getNormalize()) {
      z = arith::AddFOp::create(tb, tl, arith::MulFOp::create(tb, tl, gv, z), kt);
      Value den = sum(tb, tl, arith::MulFOp::create(tb, tl, qv, z));
      o = divOrZero(tb, tl, o, den);
      if (Value lse = op.getLseResult()) { // the row's column-0 thread
        Value first = arith::CmpIOp::create(tb, tl, arith::CmpIPredicate::eq, e, cIdx(tb, tl, 0));
        scf::IfOp::create(tb, tl, first, [&](OpBuilder &ib, Location il) {
          memref::StoreOp::create(ib, il, math::LogOp::create(ib, il, den), arg(lse),
                                  ValueRange{bi, h, t});
          scf::YieldOp::create(ib, il);
        });
      }
    }
    storeOut(tb, tl, o, t);
    return {S, z};
  }
};

} // namespace

void mlir::attn::cuda::buildLinearColumn(OpBuilder &b, Location l, LinearOp op,
                                         function_ref<Value(Value)> arg, Value bi,
                                         Value h, Value e) {
  LinearColumn col(b, l, op, arg, bi, h, e);
  Value n = dimOf(b, l, col.q, 2);
  VectorType vf = col.vf;
  Value zero = arith::ConstantOp::create(b, l, vf, DenseElementsAttr::get(vf, 0.0f));
  Value s0 = col.initialColumn(b, l, zero); // z = 0
  col.lambda = col.decay ? loadF32(b, l, col.decay, ValueRange{h}) : Value();
  col.outBuf = arg(op.getOut());
  col.outElt = cast<MemRefType>(col.outBuf.getType()).getElementType();
  col.scale = op.getScaleValue();
  auto walk = scf::ForOp::create(
      b, l, cIdx(b, l, 0), n, cIdx(b, l, 1), ValueRange{s0, zero},
      [&](OpBuilder &tb, Location tl, Value t, ValueRange carried) {
        Value kt = featureRow(tb, tl, op, col.k, bi, h, t, vf);
        Value qv = featureRow(tb, tl, op, col.q, bi, h, t, vf);
        scf::YieldOp::create(tb, tl,
                             col.forget ? col.titansStep(tb, tl, t, carried[0], carried[1], kt, qv)
                                        : col.gatedStep(tb, tl, t, carried[0], carried[1], kt, qv));
      });
  if (Value fs = op.getStateResult() ? arg(op.getStateResult()) : Value()) {
    Value S = walk.getResult(0);
    for (int64_t d = 0; d < vf.getDimSize(0); ++d)
      memref::StoreOp::create(b, l, vector::ExtractOp::create(b, l, S, ArrayRef<int64_t>{d}),
                              fs, ValueRange{bi, h, cIdx(b, l, d), e});
  }
}
