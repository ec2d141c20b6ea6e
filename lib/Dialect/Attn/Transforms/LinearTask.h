//===- LinearTask.h - one (b, h) task of the attn.linear lowering -*- C++ -*-===//
//
// The buffers and facts one (batch, head) task of attn-lower-linear reads
// and writes, shared by the scalar walks (AttnLowerLinear.cpp) and the
// vector chunk body (LinearVectorChunks.cpp).
//
//===----------------------------------------------------------------------===//

#ifndef ATTNIR_LIB_DIALECT_ATTN_TRANSFORMS_LINEARTASK_H
#define ATTNIR_LIB_DIALECT_ATTN_TRANSFORMS_LINEARTASK_H

#include "attnir/Dialect/Attn/IR/AttnOps.h"
#include "attnir/Dialect/Attn/Utils/BuildHelpers.h"
#include "attnir/Dialect/Attn/Utils/SelectionBuilders.h"
#include "mlir/Dialect/Math/IR/Math.h"
#include <optional>

namespace mlir::attn {

/// One (b, h) task's buffers and facts.
struct LinearTask {
  bool normalize = false;
  double scale = 1.0;
  Value q, k, v, decay, gate, logGate, beta, out; // buffers
  Value featureGate;                              // log_gate [B, H, N, D]
  Value initState, finalState;                    // [B, H, D, Dv] f32
  Value lse;                                      // [B, H, N] f32: log den
  Value forget, step, momentum;                   // Titans: [B, H, N]
  Value U;                                        // f32 scratch [D, Dv]
  Value b, h, d, dv, n;
  Value S, z, acc;          // f32 scratch: [D, Dv], [D], [Dv]
  Value qNorm, kNorm;       // f32 scratch [N] with l2norm: 1 / |phi(x_t)|
  std::optional<FeatureMap> map;

  Value phiAt(OpBuilder &ob, Location l, Value buf, Value t, Value e) const {
    Value x = toF32(ob, l, memref::LoadOp::create(ob, l, buf, ValueRange{b, h, t, e}));
    return featureMap(ob, l, map, x);
  }
  /// phi(q_t)_e or phi(k_t)_e, L2-normalised with l2norm.
  Value feature(OpBuilder &ob, Location l, bool isQ, Value t, Value e) const {
    Value x = phiAt(ob, l, isQ ? q : k, t, e);
    Value norm = isQ ? qNorm : kNorm;
    if (norm)
      x = arith::MulFOp::create(ob, l, x, memref::LoadOp::create(ob, l, norm, ValueRange{t}));
    return x;
  }
  /// gamma_t: the head's decay times the token's gates (1 without any).
  Value gamma(OpBuilder &ob, Location l, Value t) const {
    Value g = cF32(ob, l, 1.0);
    auto times = [&](Value x) { g = arith::MulFOp::create(ob, l, g, x); };
    if (decay)
      times(toF32(ob, l, memref::LoadOp::create(ob, l, decay, ValueRange{h})));
    if (gate)
      times(toF32(ob, l, memref::LoadOp::create(ob, l, gate, ValueRange{b, h, t})));
    if (logGate)
      times(math::ExpOp::create(
          ob, l, toF32(ob, l, memref::LoadOp::create(ob, l, logGate, ValueRange{b, h, t}))));
    return g;
  }
  /// phi(q_t) . phi(k_s).
  Value dot(OpBuilder &ob, Location l, Value t, Value s) const {
    auto loop = scf::ForOp::create(
        ob, l, cIdx(ob, l, 0), d, cIdx(ob, l, 1), ValueRange{cF32(ob, l, 0.0)},
        [&](OpBuilder &eb, Location el, Value e, ValueRange sum) {
          Value p = arith::MulFOp::create(eb, el, feature(eb, el, true, t, e),
                                          feature(eb, el, false, s, e));
          scf::YieldOp::create(eb, el, ValueRange{arith::AddFOp::create(eb, el, sum[0], p)});
        });
    return loop.getResult(0);
  }
};

/// The chunked walk of `k` with vector bodies of `lanes` f32 lanes: per
/// chunk of `chunk` tokens phi(q), phi(k)^T and v packed in f32, then per
/// token the state term, the chunk's score row and its decayed sum over v
/// as broadcast-FMAs on whole vectors, then the state update. Needs static
/// D and Dv with Dv a multiple of `lanes` (vectorChunksApply).
bool vectorChunksApply(const LinearTask &k, int64_t lanes);
/// One token of the recurrence (the delta rule, GLA's per-feature gates)
/// on vectors of `lanes` along Dv, where vectorChunksApply holds: u, then
/// one pass over S updating each row and adding q_d times it to out.
void buildVectorRecurrentToken(OpBuilder &b, Location l, const LinearTask &k,
                               int64_t lanes, Value t);
void buildVectorChunks(OpBuilder &b, Location l, const LinearTask &k,
                       int64_t chunk, int64_t lanes);

} // namespace mlir::attn

#endif // ATTNIR_LIB_DIALECT_ATTN_TRANSFORMS_LINEARTASK_H
