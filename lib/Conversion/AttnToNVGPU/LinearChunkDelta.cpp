//===- LinearChunkDelta.cpp - the gated delta rule, in chunks -------------===//
//
// The chunk kernel's pieces for `delta(%beta)` (DeltaNet, Gated DeltaNet;
// fla's chunk_gated_delta_rule). Per token the rule replaces v_t by
// u_t = beta_t (v_t - gamma_t S_{t-1}^T k_t); within a chunk, with G_t the
// cumulative log2 decay and S the state at the chunk's start, that is
//
//   u_t + sum_{s < t} A_ts u_s = x_t,   A_ts = beta_t 2^{G_t - G_s} k_t . k_s,
//   x_t = beta_t (v_t - 2^{G_t} S^T k_t),
//
// a unit lower-triangular system (I + A) U = X. fla inverts I + A (its WY
// form, W and U from the inverse); here S is known when the chunk starts,
// so X already holds the state's part and U comes from one forward
// substitution, a thread per value column with its column of U in
// registers. U then takes V's place in sV, and the chunk's output and
// state update are those of plain decayed linear attention:
//
//   O = scale (2^{G_t} Q S + ((Q K^T) o Gamma) U),  S <- 2^G S + (K o 2^{G - G_s})^T U.
//
// A (masked K K^T, an mma.sync product) and X (K S, another) are per warp
// rows, through shared memory in f32; U is rounded to the input type as
// fla rounds its v_new.
//
//===----------------------------------------------------------------------===//

#include "LinearChunkKernel.h"
#include "mlir/Dialect/SCF/IR/SCF.h"

using namespace mlir;
using namespace mlir::attn;
using namespace mlir::attn::cuda;

namespace mlir::attn::cuda::linear_chunk {

/// sBeta[t] = beta of token t0 + t, 0 past N (so that row of A and X is 0).
void LinearChunkBuilder::loadBetas(Value t0, int64_t firstThread) {
  Value i = arith::SubIOp::create(b, tid, c(firstThread)); // wraps below: out of range
  auto in = scf::IfOp::create(b, ult(i, c(kChunk)), /*withElseRegion=*/false);
  OpBuilder::InsertionGuard guard(b);
  b.setInsertionPointToStart(&in.getThenRegion().front());
  Value t = add(t0, i);
  Value row = arith::MinUIOp::create(b, t, arith::SubIOp::create(b, n, c(1)));
  Value beta = toF32(b, b.getLoc(),
                     memref::LoadOp::create(b, arg(op.getBeta()), ValueRange{bi, h, row}));
  memref::StoreOp::create(b, arith::SelectOp::create(b, ult(t, n), beta, cf(0.0)), sBeta,
                          ValueRange{i});
}

/// Each row x of a [C, D] tile becomes x / sqrt(|x|^2 + 1e-6) (fla's
/// use_qk_l2norm_in_kernel): two threads per row, each half the features.
void LinearChunkBuilder::l2normalize(Value tile) {
  auto vt = VectorType::get({8}, s.elt), vf = VectorType::get({8}, b.getF32Type());
  Value row = div(tid, 2), col0 = mul(rem(tid, 2), s.d / 2);
  SmallVector<Value> xs;
  Value ss = cf(0.0);
  for (int64_t i = 0; i < s.d / 2; i += 8) {
    Value x = vector::LoadOp::create(b, vt, tile, pieceAt(row, add(col0, i)));
    xs.push_back(arith::ExtFOp::create(b, vf, x));
    ss = vector::ReductionOp::create(b, vector::CombiningKind::ADD,
                                     arith::MulFOp::create(b, xs.back(), xs.back()), ss);
  }
  ss = arith::AddFOp::create(
      b, ss, gpu::ShuffleOp::create(b, ss, 1, 32, gpu::ShuffleMode::XOR).getShuffleResult());
  Value inv = math::RsqrtOp::create(b, arith::AddFOp::create(b, ss, cf(1e-6)));
  Value invV = vector::BroadcastOp::create(b, vf, inv);
  for (int64_t i = 0; i < s.d / 2; i += 8) {
    Value y = arith::TruncFOp::create(b, vt, arith::MulFOp::create(b, xs[i / 8], invV));
    vector::StoreOp::create(b, y, tile, pieceAt(row, add(col0, i)));
  }
}

/// This warp's rows of A_ts = beta_t 2^{G_t - G_s} k_t . k_s (s < t, else
/// 0) into sA.
void LinearChunkBuilder::storeKeyScores(Value r0) {
  auto betaOf = [&](Value row) -> Value {
    return memref::LoadOp::create(b, sBeta, ValueRange{row});
  };
  auto pairF32 = VectorType::get({2}, b.getF32Type());
  SmallVector<SmallVector<Value>> A = maskedScores(r0, sK, /*strict=*/true, betaOf);
  for (int64_t nt = 0; nt < kChunk / 8; ++nt)
    for (int64_t half = 0; half < 2; ++half) {
      auto [row, col] = cell(r0, nt, 2 * half);
      Value x = vector::FromElementsOp::create(b, pairF32,
                                               ValueRange{A[nt][2 * half], A[nt][2 * half + 1]});
      vector::StoreOp::create(b, x, sA, ValueRange{row, col});
    }
}

/// This warp's rows of A (strictly lower, into sA) and X (into sX).
void LinearChunkBuilder::deltaValues(Value r0) {
  auto betaOf = [&](Value row) -> Value {
    return memref::LoadOp::create(b, sBeta, ValueRange{row});
  };
  auto pairF32 = VectorType::get({2}, b.getF32Type());
  auto pair = [&](Value x, Value y) {
    return vector::FromElementsOp::create(b, pairF32, ValueRange{x, y}).getResult();
  };
  storeKeyScores(r0);
  // X = beta_t (v_t - 2^{G_t} (K S)_t).
  SmallVector<Value> KS = queryTimesState(r0, sK);
  auto pairElt = VectorType::get({2}, s.elt);
  for (int64_t half = 0; half < 2; ++half) {
    Value row = cell(r0, 0, 2 * half).first;
    Value beta = betaOf(row);
    Value decay = exp2(memref::LoadOp::create(b, sG, ValueRange{row}));
    for (int64_t nt = 0; nt < s.bv / 8; ++nt) {
      Value col = cell(r0, nt, 2 * half).second;
      Value v = arith::ExtFOp::create(
          b, pairF32, vector::LoadOp::create(b, pairElt, sV, ValueRange{row, col}).getResult());
      Value ks = pair(KS[nt * 4 + 2 * half], KS[nt * 4 + 2 * half + 1]);
      Value x = arith::MulFOp::create(
          b, arith::SubFOp::create(b, v, arith::MulFOp::create(
                                              b, ks, vector::BroadcastOp::create(b, pairF32, decay))),
          vector::BroadcastOp::create(b, pairF32, beta));
      vector::StoreOp::create(b, x, sX, ValueRange{row, col});
    }
  }
}

/// U from (I + A) U = X by forward substitution: thread c < BV walks the
/// chunk's rows with column c of U in registers (four partial sums per
/// row), writing U rounded to the input type over V.
void LinearChunkBuilder::solveValues() {
  auto in = scf::IfOp::create(b, ult(tid, c(s.bv)), /*withElseRegion=*/false);
  OpBuilder::InsertionGuard guard(b);
  b.setInsertionPointToStart(&in.getThenRegion().front());
  auto v4 = VectorType::get({4}, b.getF32Type());
  SmallVector<Value> u;
  for (int64_t t = 0; t < kChunk; ++t) {
    Value acc[4] = {cf(0.0), cf(0.0), cf(0.0), cf(0.0)};
    for (int64_t s0 = 0; s0 < t; s0 += 4) {
      Value a = vector::LoadOp::create(b, v4, sA, ValueRange{c(t), c(s0)});
      for (int64_t j = 0; j < 4 && s0 + j < t; ++j)
        acc[j] = math::FmaOp::create(b, vector::ExtractOp::create(b, a, ArrayRef<int64_t>{j}),
                                     u[s0 + j], acc[j]);
    }
    Value sum = arith::AddFOp::create(b, arith::AddFOp::create(b, acc[0], acc[1]),
                                      arith::AddFOp::create(b, acc[2], acc[3]));
    Value x = memref::LoadOp::create(b, sX, ValueRange{c(t), tid});
    u.push_back(arith::SubFOp::create(b, x, sum));
    memref::StoreOp::create(b, arith::TruncFOp::create(b, s.elt, u.back()), sV,
                            ValueRange{c(t), tid});
  }
}

} // namespace mlir::attn::cuda::linear_chunk
