//===- LinearChunkGates.cpp - GLA's gates per key feature, in chunks ------===//
//
// The chunk kernel's pieces for a log gate per key feature (GLA, fla's
// chunk_gla). With G[t][d] the inclusive sum of the chunk's log2 gates of
// feature d up to token t:
//
//   O_t = scale ((q_t o 2^{G_t}) S + sum_{s <= t} (sum_d q_td k_sd 2^{G_td - G_sd}) v_s)
//   S   = 2^{G_{C-1}} o S (row d by 2^{G_{C-1,d}}) + (K o 2^{G_{C-1} - G_s})^T V
//
// The scores are no single product of scaled Q and K: 2^{-G_s} overflows
// within a chunk once the gates are small. As in fla's chunk_gla, they are
// split by 16-token sub-chunks (warp w owns rows [16 w, 16 w + 16)):
//  - keys of earlier sub-chunks (s <= r = 16 w - 1 < t): an mma.sync product
//    of (Q o 2^{G_t - G_r}) and (K o 2^{G_r - G_s}), both factors <= 1;
//  - keys of the warp's own sub-chunk: elementwise, 2^{G_td - G_sd} per
//    feature for the 6 of a lane's 8 accumulator pairs that can be kept;
// then the warp's rows of Q become Q o 2^{G_t} for the product with S.
// Warp w rescales only its own rows of Q, so a warp barrier orders them.
//
// The state pass on wgmma (stagedGates) takes the chunk's raw gates from
// its stage and scans them in shared memory; K's rows take the update's
// weights there (weightKeyFeatures) before K^T V (LinearChunkWgmma.cpp).
//
//===----------------------------------------------------------------------===//

#include "LinearChunkKernel.h"
#include "mlir/Dialect/SCF/IR/SCF.h"

using namespace mlir;
using namespace mlir::attn;
using namespace mlir::attn::cuda;

namespace mlir::attn::cuda::linear_chunk {

void LinearChunkBuilder::syncWarp() {
  NVVM::SyncWarpOp::create(b, arith::ConstantIntOp::create(b, b.getI32Type(), -1));
}

/// G[t][d .. d + width) as a vector of f32.
Value LinearChunkBuilder::gateRow(Value t, Value d, int64_t width) {
  return vector::LoadOp::create(b, VectorType::get({width}, b.getF32Type()), sG,
                                ValueRange{t, d});
}

/// A thread per feature (D <= 128; threads past D load feature D - 1 and
/// store nothing): the chunk's log2 gates of its feature (natural log to
/// log2, floored at kMinLog2Gate, plus the head's decay; 0 for tokens past
/// N). Loaded a chunk ahead by the kernels that walk the chunks, so that
/// their latency is not on the chain.
SmallVector<Value> LinearChunkBuilder::loadFeatureGates(Value t0) {
  Value gates = arg(op.getLogGate());
  Value last = arith::SubIOp::create(b, n, c(1));
  Value col = feature(arith::MinUIOp::create(b, tid, c(s.stateRows() - 1)));
  SmallVector<Value> g;
  for (int64_t t = 0; t < kChunk; ++t) {
    Value tok = add(t0, t);
    Value raw = memref::LoadOp::create(
        b, gates, ValueRange{bi, h, arith::MinUIOp::create(b, tok, last), col});
    Value x = arith::MaximumFOp::create(
        b, arith::MulFOp::create(b, toF32(b, b.getLoc(), raw), cf(kLog2e)), cf(kMinLog2Gate));
    if (headDecay)
      x = arith::AddFOp::create(b, x, headDecay);
    g.push_back(arith::SelectOp::create(b, ult(tok, n), x, cf(0.0)));
  }
  return g;
}

/// sG[t][d] = G[t][d], the inclusive sums of a thread's loaded gates.
void LinearChunkBuilder::storeFeatureGateSums(ArrayRef<Value> g) {
  OpBuilder::InsertionGuard guard(b);
  if (s.stateRows() < kThreads) {
    auto in = scf::IfOp::create(b, ult(tid, c(s.stateRows())), /*withElseRegion=*/false);
    b.setInsertionPointToStart(&in.getThenRegion().front());
  }
  Value G = cf(0.0);
  for (int64_t t = 0; t < kChunk; ++t) {
    G = arith::AddFOp::create(b, G, g[t]);
    memref::StoreOp::create(b, G, sG, ValueRange{c(t), tid});
  }
}

/// The warp's rows of Q (16 from r0) times 2^{exponent(t, d)}, 8 features
/// at a time, in place.
void LinearChunkBuilder::scaleWarpRows(Value r0,
                                       function_ref<Value(Value, Value)> exponent) {
  auto vt = VectorType::get({8}, s.elt), vf = VectorType::get({8}, b.getF32Type());
  int64_t pieces = s.d / 8;
  for (int64_t i = 0; i < 16 * pieces; i += 32) {
    Value idx = add(lane, i);
    Value t = add(r0, div(idx, pieces)), d = mul(rem(idx, pieces), 8);
    Value x = vector::LoadOp::create(b, vt, sQ, ValueRange{t, d});
    x = arith::ExtFOp::create(b, vf, x);
    x = arith::MulFOp::create(b, x, exp2(exponent(t, d)));
    vector::StoreOp::create(b, arith::TruncFOp::create(b, vt, x), sQ, ValueRange{t, d});
  }
}

/// Scores within the warp's own sub-chunk, scaled and masked: this lane's
/// accumulator pairs (rows l / 4 and l / 4 + 8, keys 2 (l % 4) + {0, 1}
/// and those + 8) except (l / 4, key + 8), always above the diagonal.
/// Order: (rA, s0), (rA, s1), (rB, s0), (rB, s1), (rB, s0 + 8), (rB, s1 + 8).
SmallVector<Value> LinearChunkBuilder::diagonalScores(Value r0) {
  Value rA = add(r0, div(lane, 4)), rB = add(rA, 8);
  Value s0 = add(r0, mul(rem(lane, 4), 2));
  Value rows[2] = {rA, rB}, keys[4] = {s0, add(s0, 1), add(s0, 8), add(s0, 9)};
  const int pairs[6][2] = {{0, 0}, {0, 1}, {1, 0}, {1, 1}, {1, 2}, {1, 3}};
  auto v4 = VectorType::get({4}, b.getF32Type()), e4 = VectorType::get({4}, s.elt);
  Value zero = arith::ConstantOp::create(b, b.getLoc(), v4, DenseElementsAttr::get(v4, 0.0f));
  auto walk = scf::ForOp::create(b, c(0), c(s.d), c(4), SmallVector<Value>(6, zero));
  {
    OpBuilder::InsertionGuard guard(b);
    b.setInsertionPointToStart(walk.getBody());
    Value d = walk.getInductionVar();
    auto row = [&](Value tile, Value t) {
      Value x = vector::LoadOp::create(b, e4, tile, ValueRange{t, d});
      return arith::ExtFOp::create(b, v4, x).getResult();
    };
    Value q[2], gq[2], k[4], gk[4];
    for (int i = 0; i < 2; ++i)
      q[i] = row(sQ, rows[i]), gq[i] = gateRow(rows[i], d, 4);
    for (int j = 0; j < 4; ++j)
      k[j] = row(sK, keys[j]), gk[j] = gateRow(keys[j], d, 4);
    SmallVector<Value> acc;
    for (int p = 0; p < 6; ++p) {
      auto [i, j] = std::pair(pairs[p][0], pairs[p][1]);
      Value w = exp2(arith::SubFOp::create(b, gq[i], gk[j]));
      acc.push_back(vector::FMAOp::create(b, arith::MulFOp::create(b, q[i], k[j]), w,
                                          walk.getRegionIterArgs()[p]));
    }
    scf::YieldOp::create(b, acc);
  }
  SmallVector<Value> out;
  for (int p = 0; p < 6; ++p) {
    Value x = vector::ReductionOp::create(b, vector::CombiningKind::ADD, walk.getResult(p));
    Value keep = arith::CmpIOp::create(b, arith::CmpIPredicate::ule, keys[pairs[p][1]],
                                       rows[pairs[p][0]]);
    out.push_back(arith::SelectOp::create(
        b, keep, arith::MulFOp::create(b, x, cf(scoreScale())), cf(0.0)));
  }
  return out;
}

/// Scores against the keys of earlier sub-chunks (key tiles nt with 8 nt +
/// 8 <= r0), scaled: sQ holds the warp's rows as Q o 2^{G_t - G_ref}, the
/// K fragments are scaled by 2^{G_ref - G_s} in registers. Other tiles 0.
SmallVector<SmallVector<Value>> LinearChunkBuilder::offDiagonalScores(Value r0, Value ref) {
  int64_t numS = kChunk / 8;
  Type f32 = b.getF32Type();
  SmallVector<SmallVector<Value>> A;
  Value kColOff = mul(div(lane, 8), 8), dLane = mul(rem(lane, 4), 2);
  for (int64_t nt = 0; nt < numS; ++nt) {
    Value earlier = ult(c(nt * 8 + 7), r0);
    auto tile = scf::IfOp::create(b, SmallVector<Type>(4, f32), earlier, /*withElse=*/true);
    OpBuilder::InsertionGuard guard(b);
    b.setInsertionPointToStart(&tile.getElseRegion().front());
    scf::YieldOp::create(b, SmallVector<Value>(4, cf(0.0)));
    b.setInsertionPointToStart(&tile.getThenRegion().front());
    SmallVector<Value> acc(4, cf(0.0));
    Value tok = add(div(lane, 4), nt * 8);
    for (int64_t kt = 0; kt < s.d / 16; kt += 2) {
      SmallVector<Value> qA[2] = {queryFragment(r0, kt), queryFragment(r0, kt + 1)};
      SmallVector<Value> kB =
          mf.ldmatrix(sK, add(rem(lane, 8), nt * 8), add(kColOff, kt * 16), 4, false);
      // Word j: key tok, features kt 16 + 8 j + 2 (l % 4) + {0, 1}.
      for (int64_t j = 0; j < 4; ++j) {
        Value d = add(dLane, kt * 16 + 8 * j);
        kB[j] = mf.scaled(kB[j], exp2(arith::SubFOp::create(b, gateRow(ref, d, 2),
                                                             gateRow(tok, d, 2))));
      }
      for (int64_t half = 0; half < 2; ++half)
        acc = mf.mma(qA[half], ValueRange(kB).slice(2 * half, 2), acc);
    }
    for (Value &x : acc)
      x = arith::MulFOp::create(b, x, cf(scoreScale()));
    scf::YieldOp::create(b, acc);
    A.push_back(SmallVector<Value>(tile.getResults()));
  }
  return A;
}

/// This warp's rows of the chunk's scores with GLA's gates (file comment);
/// sQ's rows become Q o 2^{G_t} for the product with S.
SmallVector<SmallVector<Value>> LinearChunkBuilder::gatedScores(Value r0) {
  // The reference token: the last of the previous sub-chunk (warp 0 has no
  // earlier keys; 0 keeps its factors <= 1).
  Value ref = arith::SelectOp::create(b, ult(c(0), r0), arith::SubIOp::create(b, r0, c(1)), c(0));
  SmallVector<Value> diag = diagonalScores(r0);
  syncWarp();
  scaleWarpRows(r0, [&](Value t, Value d) {
    return arith::SubFOp::create(b, gateRow(t, d, 8), gateRow(ref, d, 8));
  });
  syncWarp();
  SmallVector<SmallVector<Value>> A = offDiagonalScores(r0, ref);
  // The diagonal pairs into key tiles 2 w (all four) and 2 w + 1 (row + 8).
  Value w2 = mul(warp, 2);
  Value d0[4] = {diag[0], diag[1], diag[2], diag[3]}, d1[4] = {cf(0.0), cf(0.0), diag[4], diag[5]};
  for (int64_t nt = 0; nt < kChunk / 8; ++nt) {
    Value is0 = arith::CmpIOp::create(b, arith::CmpIPredicate::eq, w2, c(nt));
    Value is1 = arith::CmpIOp::create(b, arith::CmpIPredicate::eq, add(w2, 1), c(nt));
    for (int64_t e = 0; e < 4; ++e)
      A[nt][e] = arith::SelectOp::create(b, is0, d0[e],
                                         arith::SelectOp::create(b, is1, d1[e], A[nt][e]));
  }
  syncWarp();
  // Q o 2^{G_t - G_ref} o 2^{G_ref} = Q o 2^{G_t}, for the product with S.
  scaleWarpRows(r0, [&](Value, Value d) { return gateRow(ref, d, 8); });
  syncWarp();
  return A;
}

SmallVector<Value> LinearChunkBuilder::outputFromScores(Value r0,
                                                        ArrayRef<SmallVector<Value>> A) {
  SmallVector<Value> O = queryTimesState(r0);
  if (scoreScale() != 1.0)
    for (Value &x : O)
      x = arith::MulFOp::create(b, x, cf(scoreScale()));
  addScoresTimesValues(A, O);
  return O;
}

/// This warp's rows of the chunk's output with GLA's gates (file comment),
/// normalised where the op says so (its lse stored).
SmallVector<Value> LinearChunkBuilder::chunkOutputGated(Value t0, Value r0) {
  SmallVector<SmallVector<Value>> A = gatedScores(r0);
  if (!s.normalize)
    return outputFromScores(r0, A);
  SmallVector<Value> den = rowDenominators(r0, A, /*gatedQueries=*/true);
  SmallVector<Value> O = outputFromScores(r0, A);
  normalizeRows(t0, r0, O, den);
  return O;
}

/// The weights 2^{G_{C-1,d} - G_{s,d}} of tokens tok and tok + 1 in state
/// row d's update (0 past N).
Value LinearChunkBuilder::featureKeyWeights(Value t0, Value d, Value tok) {
  Value last = memref::LoadOp::create(b, sG, ValueRange{c(kChunk - 1), d});
  SmallVector<Value> w;
  for (int64_t i = 0; i < 2; ++i) {
    Value t = add(tok, i);
    Value g = memref::LoadOp::create(b, sG, ValueRange{t, d});
    w.push_back(arith::SelectOp::create(b, ult(add(t0, t), n),
                                        exp2(arith::SubFOp::create(b, last, g)), cf(0.0)));
  }
  return vector::FromElementsOp::create(b, VectorType::get({2}, b.getF32Type()), w);
}

SmallVector<Value> LinearChunkBuilder::featureDecayedState(ValueRange S) {
  // A thread's cells lie on 2 rows per m-tile: the loads and exp2 of equal
  // rows fold into one.
  SmallVector<Value> next;
  forEachStateCell([&](int64_t i, Value row, Value) {
    Value g = s.stagedGates()
                  ? vector::ExtractOp::create(b, stagedGateSum(c(kChunk - 1), row, 1),
                                              ArrayRef<int64_t>{0})
                        .getResult()
                  : memref::LoadOp::create(b, sG, ValueRange{c(kChunk - 1), row}).getResult();
    next.push_back(arith::MulFOp::create(b, S[i], exp2(g)));
  });
  return next;
}

void LinearChunkBuilder::weightKeyFeatures(Value t0) {
  auto vt = VectorType::get({8}, s.elt), vf = VectorType::get({8}, b.getF32Type());
  Value zero = arith::ConstantOp::create(b, vf, DenseElementsAttr::get(vf, 0.0f));
  forEachPiece(b, tid, kChunk, s.stateRows(), [&](Value r, Value col) {
    SmallVector<Value> at = pieceAt(r, col, s.stateRows());
    Value x = arith::ExtFOp::create(b, vf, vector::LoadOp::create(b, vt, sK, at).getResult());
    // The thread's column is the same in each of its pieces: gLast's load
    // is hoisted by CSE.
    Value w = exp2(arith::SubFOp::create(b, stagedGateSum(c(kChunk - 1), col, 8),
                                         stagedGateSum(r, col, 8)));
    w = arith::SelectOp::create(b, ult(add(t0, r), n), w, zero);
    vector::StoreOp::create(b, arith::TruncFOp::create(b, vt, arith::MulFOp::create(b, x, w)),
                            sK, at);
  });
}

/// A thread per feature and part: each part's own inclusive sums.
void LinearChunkBuilder::scanStagedGates(Value t0) {
  int64_t parts = kThreads / s.stateRows(), per = kChunk / parts;
  Value f = rem(tid, s.stateRows()), first = mul(div(tid, s.stateRows()), per);
  Value valid = arith::SubIOp::create(b, n, t0); // the chunk's tokens below N
  Value G = cf(0.0);
  for (int64_t i = 0; i < per; ++i) {
    Value t = add(first, i);
    Value x = toF32(b, b.getLoc(), memref::LoadOp::create(b, sRawG, ValueRange{t, f}));
    // Natural log to log2, floored (kMinLog2Gate), plus the head's decay.
    x = arith::MaximumFOp::create(b, arith::MulFOp::create(b, x, cf(kLog2e)), cf(kMinLog2Gate));
    if (headDecay)
      x = arith::AddFOp::create(b, x, headDecay);
    G = arith::AddFOp::create(b, G, arith::SelectOp::create(b, ult(t, valid), x, cf(0.0)));
    memref::StoreOp::create(b, G, sG, ValueRange{t, f});
  }
}

Value LinearChunkBuilder::stagedGateSum(Value t, Value col, int64_t width) {
  Value g = gateRow(t, col, width);
  int64_t per = kChunk / (kThreads / s.stateRows());
  if (per == kChunk)
    return g;
  // Two parts (dk = 64): tokens from `per` add the first part's total.
  Value first = gateRow(c(per - 1), col, width);
  Value later = arith::CmpIOp::create(b, arith::CmpIPredicate::uge, t, c(per));
  return arith::SelectOp::create(b, later, arith::AddFOp::create(b, g, first), g);
}

} // namespace mlir::attn::cuda::linear_chunk
