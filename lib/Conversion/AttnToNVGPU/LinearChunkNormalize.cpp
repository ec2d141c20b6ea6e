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
// z lives in shared memory; once per chunk a thread per feature walks the
// chunk's weighted keys before the chunk's last barrier and stores its z_d
// after it (the block-wide sum it replaced, 8 features and a few tokens per
// thread in four warp parts, was 5-10 % slower on the H200).
//
// GLA's gates per key feature decay z per feature: the scores are the
// gated ones (unscaled), sQ's rows end as q_t o 2^{G_t} so that the state
// term is sQ . z, and z_d <- 2^{G_{C-1,d}} z_d + sum_s 2^{G_{C-1,d} - G_{s,d}}
// k_sd by a thread per feature walking the chunk's keys.
//
// split(C) (small grids): the state pass carries z in registers, a thread
// per feature in value slice 0's block, and writes it at each chunk's
// start beside the state; the output pass reads it back and normalises as
// the fused kernel does.
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

SmallVector<Value> LinearChunkBuilder::rowDenominators(Value r0, ArrayRef<SmallVector<Value>> A,
                                                      bool gatedQueries) {
  auto vt = VectorType::get({8}, s.elt), vf = VectorType::get({8}, b.getF32Type());
  int64_t quarter = s.d / 4;
  Value col0 = mul(rem(lane, 4), quarter);
  SmallVector<Value> den;
  for (int64_t half = 0; half < 2; ++half) {
    // This lane's part of the row's score sum and of q . z.
    Value row = cell(r0, 0, 2 * half).first;
    Value part = cf(0.0);
    for (const SmallVector<Value> &tile : A)
      part = arith::AddFOp::create(b, part,
                                   arith::AddFOp::create(b, tile[2 * half], tile[2 * half + 1]));
    Value qz = cf(0.0);
    for (int64_t i = 0; i < quarter; i += 8) {
      Value col = add(col0, i);
      Value q = arith::ExtFOp::create(
          b, vf, vector::LoadOp::create(b, vt, sQ, pieceAt(row, col)).getResult());
      Value z = vector::LoadOp::create(b, vf, sZ, ValueRange{col});
      qz = vector::ReductionOp::create(b, vector::CombiningKind::ADD,
                                       arith::MulFOp::create(b, q, z), qz);
    }
    if (!gatedQueries) // 2^{G_t} q . z (GLA's sQ rows already carry 2^{G_t})
      qz = arith::MulFOp::create(b, qz, exp2(memref::LoadOp::create(b, sG, ValueRange{row})));
    den.push_back(quadReduce<arith::AddFOp>(b, arith::AddFOp::create(b, qz, part)));
  }
  return den;
}

void LinearChunkBuilder::normalizeRows(Value t0, Value r0, SmallVector<Value> &O,
                                       ArrayRef<Value> den) {
  int64_t numV = static_cast<int64_t>(O.size()) / 4;
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
    return;
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
}

SmallVector<Value> LinearChunkBuilder::chunkOutputNormalized(Value t0, Value r0) {
  SmallVector<SmallVector<Value>> A = maskedScores(r0); // unscaled: scoreScale()
  SmallVector<Value> den = rowDenominators(r0, A);
  // O = 2^{G_t} Q S + A V, then times scale / den.
  SmallVector<Value> O = queryTimesState(r0);
  decayStateTerm(r0, O);
  addScoresTimesValues(A, O);
  normalizeRows(t0, r0, O, den);
  return O;
}

Value LinearChunkBuilder::advanceNormalizer(Value z, Value t0, Value gLast) {
  Type f32 = b.getF32Type();
  Value d = tid; // the feature within the block's state rows
  // GLA: z_d decays by 2^{G_{C-1,d}}, key s weighs 2^{G_{C-1,d} - G_{s,d}}
  // (on wgmma the state pass's K rows already carry it, 0 past N).
  bool keysWeighted = s.wgmma && featureGates();
  Value gLastD;
  if (featureGates())
    gLastD = s.stagedGates()
                 ? vector::ExtractOp::create(b, stagedGateSum(c(kChunk - 1), d, 1),
                                             ArrayRef<int64_t>{0})
                       .getResult()
                 : memref::LoadOp::create(b, sG, ValueRange{c(kChunk - 1), d}).getResult();
  else
    gLastD = gLast;
  Value acc = gLastD ? arith::MulFOp::create(b, z, exp2(gLastD)).getResult() : z;
  for (int64_t tok = 0; tok < kChunk; ++tok) {
    SmallVector<Value> at = pieceAt(c(tok), d, s.stateRows());
    Value k = arith::ExtFOp::create(b, f32, memref::LoadOp::create(b, sK, at).getResult());
    if (keysWeighted) { // 0 past N
      acc = arith::AddFOp::create(b, acc, k);
      continue;
    }
    Value w;
    if (featureGates())
      w = exp2(arith::SubFOp::create(b, gLastD,
                                     memref::LoadOp::create(b, sG, ValueRange{c(tok), d})));
    else if (sKW) // 0 past N
      w = memref::LoadOp::create(b, sKW, ValueRange{c(tok)});
    // Keys past N are not data.
    if (!sKW || featureGates())
      w = arith::SelectOp::create(b, ult(add(t0, tok), n), w ? w : cf(1.0), cf(0.0));
    acc = math::FmaOp::create(b, k, w, acc);
  }
  return acc;
}

Value LinearChunkBuilder::stepChunkNormalizer(Value z, Value chunk, Value t0, Value gLast) {
  // One block per (b, h, feature slice) walks its features' columns of the
  // chunk's keys in shared memory (read-only here; no barrier of its own):
  // z depends on no value column, so the other value slices' blocks skip it.
  Value mine = arith::AndIOp::create(
      b, arith::CmpIOp::create(b, arith::CmpIPredicate::eq, v0, c(0)),
      ult(tid, c(s.stateRows())));
  auto in = scf::IfOp::create(b, TypeRange{b.getF32Type()}, mine, /*withElseRegion=*/true);
  OpBuilder::InsertionGuard guard(b);
  b.setInsertionPointToStart(&in.getThenRegion().front());
  memref::StoreOp::create(b, z, arg(op.getChunkNormalizers()),
                          ValueRange{bi, h, chunk, feature(tid)});
  scf::YieldOp::create(b, advanceNormalizer(z, t0, gLast));
  b.setInsertionPointToStart(&in.getElseRegion().front());
  scf::YieldOp::create(b, z);
  return in.getResult(0);
}

Value LinearChunkBuilder::walkNormalizer(Value t0, Value gLast) {
  auto in = scf::IfOp::create(b, TypeRange{b.getF32Type()}, ult(tid, c(s.d)),
                              /*withElseRegion=*/true);
  OpBuilder::InsertionGuard guard(b);
  b.setInsertionPointToStart(&in.getThenRegion().front());
  Value z = memref::LoadOp::create(b, sZ, ValueRange{tid});
  scf::YieldOp::create(b, advanceNormalizer(z, t0, gLast));
  b.setInsertionPointToStart(&in.getElseRegion().front());
  scf::YieldOp::create(b, cf(0.0));
  return in.getResult(0);
}

void LinearChunkBuilder::storeNormalizer(Value z) {
  auto in = scf::IfOp::create(b, ult(tid, c(s.d)), /*withElseRegion=*/false);
  OpBuilder::InsertionGuard guard(b);
  b.setInsertionPointToStart(&in.getThenRegion().front());
  memref::StoreOp::create(b, z, sZ, ValueRange{tid});
}

void LinearChunkBuilder::loadChunkNormalizer(Value chunk) {
  sZ = view(c(s.offZ()), {s.d}, b.getF32Type());
  auto in = scf::IfOp::create(b, ult(tid, c(s.d)), /*withElseRegion=*/false);
  OpBuilder::InsertionGuard guard(b);
  b.setInsertionPointToStart(&in.getThenRegion().front());
  Value z = memref::LoadOp::create(b, arg(op.getChunkNormalizers()),
                                   ValueRange{bi, h, chunk, tid});
  memref::StoreOp::create(b, z, sZ, ValueRange{tid});
}

} // namespace mlir::attn::cuda::linear_chunk
