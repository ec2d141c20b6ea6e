//===- LinearChunkNormalize.cpp - normalised linear attention, in chunks --===//
//
// The chunk kernel's pieces for `normalize`: out_t = scale phi(q_t)^T S_t /
// phi(q_t)^T z_t with z_t = gamma_t z_{t-1} + phi(k_t) (0 where the
// denominator is 0), and the branch's lse log phi(q_t)^T z_t. Within a
// chunk, with G_t the cumulative log2 decay and S, z the state at its
// start, the denominator is the row sum of the masked, decayed scores
// plus the state's term:
//
//   den_t = sum_{s <= t} 2^{G_t - G_s} q_t . k_s + 2^{G_t} q_t . z,
//   out_t = scale (2^{G_t} q_t S + sum_{s <= t} 2^{G_t - G_s} (q_t . k_s) v_s) / den_t,
//   z <- 2^G z + sum_s 2^{G - G_s} k_s.
//
// The scores are those the numerator multiplies with V (unscaled here:
// the scale multiplies the numerator only), so the row sums cost a few
// adds and two quad shuffles; q . z is a dot product per row, a quarter
// of the features per lane of the quad that holds the row's accumulators;
// z lives in shared memory, a thread per feature updates it once per
// chunk. Scalar decays and gates only (GLA's per-feature gates decay z per
// feature: that keeps the token recurrence).
//
//===----------------------------------------------------------------------===//

#include "LinearChunkKernel.h"
#include "mlir/Dialect/SCF/IR/SCF.h"

using namespace mlir;
using namespace mlir::attn;
using namespace mlir::attn::cuda;

namespace mlir::attn::cuda::linear_chunk {

void LinearChunkBuilder::initNormalizer() {
  sZ = view(c(s.offZ()), {s.d}, b.getF32Type());
  auto in = scf::IfOp::create(b, ult(tid, c(s.d)), /*withElseRegion=*/false);
  OpBuilder::InsertionGuard guard(b);
  b.setInsertionPointToStart(&in.getThenRegion().front());
  memref::StoreOp::create(b, cf(0.0), sZ, ValueRange{tid});
}

namespace {
/// x summed over the 4 lanes of a quad (the lanes of one accumulator row).
Value quadSum(ImplicitLocOpBuilder &b, Value x) {
  for (int32_t off : {1, 2})
    x = arith::AddFOp::create(
        b, x, gpu::ShuffleOp::create(b, x, off, 32, gpu::ShuffleMode::XOR).getShuffleResult());
  return x;
}
} // namespace

SmallVector<Value> LinearChunkBuilder::chunkOutputNormalized(Value t0, Value r0) {
  auto unit = [&](Value) { return cf(1.0); };
  SmallVector<SmallVector<Value>> A = maskedScores(r0, {}, /*strict=*/false, unit);
  auto vt = VectorType::get({8}, s.elt), vf = VectorType::get({8}, b.getF32Type());
  int64_t quarter = s.d / 4;
  Value col0 = mul(rem(lane, 4), quarter);
  Value den[2];
  for (int64_t half = 0; half < 2; ++half) {
    // This lane's part of the row's score sum and of q . z.
    Value row = cell(r0, 0, 2 * half).first;
    Value part = cf(0.0);
    for (auto &tile : A)
      part = arith::AddFOp::create(b, part,
                                   arith::AddFOp::create(b, tile[2 * half], tile[2 * half + 1]));
    Value qz = cf(0.0);
    for (int64_t i = 0; i < quarter; i += 8) {
      Value col = add(col0, i);
      Value q = arith::ExtFOp::create(b, vf, vector::LoadOp::create(b, vt, sQ, pieceAt(row, col)).getResult());
      Value z = vector::LoadOp::create(b, vf, sZ, ValueRange{col});
      qz = vector::ReductionOp::create(b, vector::CombiningKind::ADD,
                                       arith::MulFOp::create(b, q, z), qz);
    }
    Value g = exp2(memref::LoadOp::create(b, sG, ValueRange{row}));
    den[half] = quadSum(b, math::FmaOp::create(b, g, qz, part));
  }
  // O = 2^{G_t} Q S + A V, then times scale / den.
  SmallVector<Value> O = queryTimesState(r0);
  int64_t numV = s.bv / 8;
  for (int64_t half = 0; half < 2; ++half) {
    Value g = exp2(memref::LoadOp::create(b, sG, ValueRange{cell(r0, 0, 2 * half).first}));
    for (int64_t nt = 0; nt < numV; ++nt)
      for (int64_t e = 2 * half; e < 2 * half + 2; ++e)
        O[nt * 4 + e] = arith::MulFOp::create(b, O[nt * 4 + e], g);
  }
  addScoresTimesValues(A, O);
  for (int64_t half = 0; half < 2; ++half) {
    Value zero = arith::CmpFOp::create(b, arith::CmpFPredicate::OEQ, den[half], cf(0.0));
    Value w = arith::SelectOp::create(
        b, zero, cf(0.0), arith::DivFOp::create(b, cf(op.getScaleValue()), den[half]));
    for (int64_t nt = 0; nt < numV; ++nt)
      for (int64_t e = 2 * half; e < 2 * half + 2; ++e)
        O[nt * 4 + e] = arith::MulFOp::create(b, O[nt * 4 + e], w);
  }
  Value lse = op.getLseResult() ? arg(op.getLseResult()) : Value();
  if (!lse)
    return O;
  // The rows' lse, once per row: lane 0 of its quad in the first slice.
  Value first = arith::AndIOp::create(
      b, arith::CmpIOp::create(b, arith::CmpIPredicate::eq, v0, c(0)),
      arith::CmpIOp::create(b, arith::CmpIPredicate::eq, rem(lane, 4), c(0)));
  for (int64_t half = 0; half < 2; ++half) {
    Value t = add(t0, cell(r0, 0, 2 * half).first);
    auto in = scf::IfOp::create(b, arith::AndIOp::create(b, first, ult(t, n)), false);
    OpBuilder::InsertionGuard guard(b);
    b.setInsertionPointToStart(&in.getThenRegion().front());
    memref::StoreOp::create(b, math::LogOp::create(b, den[half]), lse, ValueRange{bi, h, t});
  }
  return O;
}

Value LinearChunkBuilder::updatedNormalizer(Value t0, Value gLast) {
  auto in = scf::IfOp::create(b, TypeRange{b.getF32Type()}, ult(tid, c(s.d)),
                              /*withElseRegion=*/true);
  OpBuilder::InsertionGuard guard(b);
  b.setInsertionPointToStart(&in.getElseRegion().front());
  scf::YieldOp::create(b, cf(0.0));
  b.setInsertionPointToStart(&in.getThenRegion().front());
  Value z = memref::LoadOp::create(b, sZ, ValueRange{tid});
  if (gLast)
    z = arith::MulFOp::create(b, z, exp2(gLast));
  // Four partial sums (the chunk's 64 loads are independent: no chain of
  // 64 dependent adds); tokens past N weigh 0 by a select (their rows of K
  // are not data).
  Value acc[4] = {z, cf(0.0), cf(0.0), cf(0.0)};
  for (int64_t tok = 0; tok < kChunk; ++tok) {
    Value k = arith::ExtFOp::create(b, b.getF32Type(),
                                    memref::LoadOp::create(b, sK, ValueRange{c(tok), tid}).getResult());
    Value term = sKW ? arith::MulFOp::create(b, k, memref::LoadOp::create(b, sKW, ValueRange{c(tok)}))
                     : k;
    term = arith::SelectOp::create(b, ult(add(t0, tok), n), term, cf(0.0));
    acc[tok % 4] = arith::AddFOp::create(b, acc[tok % 4], term);
  }
  scf::YieldOp::create(b, ValueRange{arith::AddFOp::create(
                              b, arith::AddFOp::create(b, acc[0], acc[1]),
                              arith::AddFOp::create(b, acc[2], acc[3]))});
  return in.getResult(0);
}

void LinearChunkBuilder::writeNormalizer(Value z) {
  auto in = scf::IfOp::create(b, ult(tid, c(s.d)), /*withElseRegion=*/false);
  OpBuilder::InsertionGuard guard(b);
  b.setInsertionPointToStart(&in.getThenRegion().front());
  memref::StoreOp::create(b, z, sZ, ValueRange{tid});
}

} // namespace mlir::attn::cuda::linear_chunk
