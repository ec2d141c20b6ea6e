//===- LinearChunkKernel.cpp - attn.linear in chunks on tensor cores ------===//
//
// fla's fused chunk form for decays and scalar gates. A block of 4 warps per
// (b, h, slice of BV value columns; 64, or 32 with linear-columns=32) walks the sequence in chunks of
// C = 64 tokens, its slice of the state S [D, BV] in f32 accumulators
// (warp w owns state rows [w D / 4, (w + 1) D / 4)). Per chunk, with g_t the
// token's log2 decay, G_t its inclusive sum over the chunk (a warp scan)
// and G = G_{C-1}:
//
//   O = scale (2^{G_t} (Q S) + ((Q K^T) o Gamma) V),  Gamma_ts = 2^{G_t - G_s}, s <= t
//   S = 2^G S + (K o 2^{G - G_s})^T V
//
// warp w computing output rows [16 w, 16 w + 16) of the chunk. Every
// product is an mma.sync m16n8k16 (f16/bf16 operands, f32 accumulation;
// on sm_90a decays and scalar gates take wgmma: LinearChunkWgmma.cpp); S
// enters the output product rounded to the input type, as fla's chunk
// kernels keep their per-chunk states, and K^T's fragments are decayed in
// registers. Shared memory (one dynamic window): two stages of Q, K
// [C, D] and V [C, BV] (the next chunk's copies fly during this chunk's
// products), S [D, BV] (rows padded by 16 bytes against ldmatrix bank
// conflicts), G [C] f32: 104 KB at D = Dv = 128, two blocks per SM.
//
// Tokens past N: their rows re-read row N - 1 (finite values), their gates
// are 0 (so G ends at the last token), their decayed keys are 0 (no state
// update) and their outputs are not stored.
//
//===----------------------------------------------------------------------===//

#include "LinearChunkKernel.h"
#include "SelectionKernels.h"
#include "WgmmaOps.h"
#include "attnir/Dialect/Attn/Utils/SelectionBuilders.h"
#include "mlir/Dialect/GPU/IR/GPUDialect.h"
#include "mlir/Dialect/Math/IR/Math.h"
#include "mlir/Dialect/SCF/IR/SCF.h"

using namespace mlir;
using namespace mlir::attn;
using namespace mlir::attn::cuda;

namespace mlir::attn::cuda::linear_chunk {

/// phi on every element of a [C, width] tile, in f32, rounded back.
void LinearChunkBuilder::applyFeatureMap(Value tile, int64_t width) {
  auto vt = VectorType::get({8}, s.elt), vf = VectorType::get({8}, b.getF32Type());
  int64_t pieces = width / 8;
  for (int64_t t = 0; t < kChunk * pieces; t += kThreads) {
    Value idx = add(tid, t);
    Value r = div(idx, pieces), col = mul(rem(idx, pieces), 8);
    SmallVector<Value> at = pieceAt(r, col, width);
    Value x = vector::LoadOp::create(b, vt, tile, at);
    x = featureMap(b, b.getLoc(), op.getFeatureMap(), arith::ExtFOp::create(b, vf, x));
    vector::StoreOp::create(b, arith::TruncFOp::create(b, vt, x), tile, at);
  }
}

SmallVector<Value> LinearChunkBuilder::pieceAt(Value r, Value col, int64_t width) {
  if (swizzledTiles) // rows of 64 B where the tile is 32 wide, else 128 B
    return {wgmma::swizzledIndex(b, r, col, kChunk, wgmma::rowBytesOf(width ? width : s.d))};
  return {r, col};
}

SmallVector<Value> LinearChunkBuilder::stateAt(Value r, Value col) {
  if (s.swizzledState())
    return {wgmma::swizzledIndex(b, r, col, s.d, wgmma::rowBytesOf(s.bv))};
  return {r, col};
}

/// Token t's log2 decay (t < N): the sum of what the op gives.
Value LinearChunkBuilder::logGateAt(Value t) {
  Value g = headDecay ? headDecay : cf(0.0);
  auto load = [&](Value buf) {
    return toF32(b, b.getLoc(), memref::LoadOp::create(b, buf, ValueRange{bi, h, t}));
  };
  auto floor = [&](Value x) { return arith::MaximumFOp::create(b, x, cf(kMinLog2Gate)); };
  if (Value gate = op.getGate())
    g = arith::AddFOp::create(b, g, floor(math::Log2Op::create(b, load(arg(gate)))));
  if (Value lg = op.getLogGate())
    g = arith::AddFOp::create(b, g,
                              floor(arith::MulFOp::create(b, load(arg(lg)), cf(kLog2e))));
  return g;
}

/// sG[t] = G_t, the inclusive sum of the chunk's log2 decays: warp 0, two
/// tokens per lane, a shuffle scan of the lanes' pair sums.
void LinearChunkBuilder::scanGates(Value t0) {
  auto first = scf::IfOp::create(b, arith::CmpIOp::create(b, arith::CmpIPredicate::eq, warp, c(0)),
                                 /*withElseRegion=*/false);
  OpBuilder::InsertionGuard guard(b);
  b.setInsertionPointToStart(&first.getThenRegion().front());
  Value last = arith::SubIOp::create(b, n, c(1));
  auto gateOf = [&](Value t) {
    Value g = logGateAt(arith::MinUIOp::create(b, t, last));
    return arith::SelectOp::create(b, ult(t, n), g, cf(0.0)).getResult();
  };
  Value t = add(t0, mul(lane, 2));
  Value g0 = gateOf(t), g1 = gateOf(add(t, 1));
  Value pair = arith::AddFOp::create(b, g0, g1);
  Value lane32 = arith::IndexCastOp::create(b, b.getI32Type(), lane);
  Value incl = warpInclusiveScan(b, b.getLoc(), pair, lane32, [&](Value x, Value y) {
    return arith::AddFOp::create(b, x, y).getResult();
  });
  Value before = arith::SubFOp::create(b, incl, pair);
  Value G0 = arith::AddFOp::create(b, before, g0);
  memref::StoreOp::create(b, G0, sG, ValueRange{mul(lane, 2)});
  memref::StoreOp::create(b, incl, sG, ValueRange{add(mul(lane, 2), 1)});
  if (!sKW)
    return;
  // The keys' weights 2^{G - G_s} once per chunk (G: lane 31's sum; gates
  // past N are 0), not per fragment of the update.
  Value total = gpu::ShuffleOp::create(b, incl, 31, 32, gpu::ShuffleMode::IDX).getShuffleResult();
  auto weight = [&](Value tok, Value G) {
    return arith::SelectOp::create(b, ult(tok, n), exp2(arith::SubFOp::create(b, total, G)),
                                   cf(0.0));
  };
  memref::StoreOp::create(b, weight(t, G0), sKW, ValueRange{mul(lane, 2)});
  memref::StoreOp::create(b, weight(add(t, 1), incl), sKW, ValueRange{add(mul(lane, 2), 1)});
}

void LinearChunkBuilder::useGates(Value buffer) {
  Value base = add(c(s.offG()), mul(buffer, s.gateBytes()));
  if (featureGates()) {
    sG = view(base, {kChunk, s.padG()}, b.getF32Type());
    return;
  }
  sG = view(base, {kChunk}, b.getF32Type());
  // Only a state update reads the keys' weights (not the output pass, nor
  // unweighted keys): elsewhere scanGates makes none.
  if (s.role != ChunkRole::Output && weightedKeys())
    sKW = view(add(base, kChunk * 4), {kChunk}, b.getF32Type());
}

/// Q S_prev for this warp's 16 rows: [bv / 8][4] accumulators, flattened.
SmallVector<Value> LinearChunkBuilder::queryTimesState(Value r0, Value rows) {
  int64_t numO = s.bv / 8;
  SmallVector<Value> O(numO * 4, cf(0.0));
  Value row = rem(lane, 16), colOff = mul(div(lane, 16), 8);
  for (int64_t kt = 0; kt < s.d / 16; ++kt) {
    SmallVector<Value> qA = queryFragment(r0, kt, rows);
    for (int64_t dt = 0; dt < numO; dt += 2) {
      SmallVector<Value> sB = mf.ldmatrix(sS, add(row, kt * 16), add(colOff, dt * 8), 4, true);
      for (int64_t half = 0; half < 2; ++half) {
        auto acc = ArrayRef(O).slice((dt + half) * 4, 4);
        SmallVector<Value> r = mf.mma(qA, ValueRange(sB).slice(2 * half, 2), acc);
        std::copy(r.begin(), r.end(), O.begin() + (dt + half) * 4);
      }
    }
  }
  return O;
}

/// (Q K^T) o Gamma x scale for this warp's rows: [C / 8][4] accumulators.
SmallVector<SmallVector<Value>>
LinearChunkBuilder::maskedScores(Value r0, Value rows, bool strict,
                                 function_ref<Value(Value)> rowScale) {
  int64_t numS = kChunk / 8;
  SmallVector<SmallVector<Value>> A(numS, SmallVector<Value>(4, cf(0.0)));
  Value kColOff = mul(div(lane, 8), 8);
  for (int64_t kt = 0; kt < s.d / 16; kt += 2) {
    SmallVector<Value> qA[2] = {queryFragment(r0, kt, rows), queryFragment(r0, kt + 1, rows)};
    for (int64_t nt = 0; nt < numS; ++nt) {
      SmallVector<Value> kB =
          mf.ldmatrix(sK, add(rem(lane, 8), nt * 8), add(kColOff, kt * 16), 4, false);
      for (int64_t half = 0; half < 2; ++half)
        A[nt] = mf.mma(qA[half], ValueRange(kB).slice(2 * half, 2), A[nt]);
    }
  }
  decayScores(A, r0, strict, rowScale);
  return A;
}

void LinearChunkBuilder::decayScores(SmallVector<SmallVector<Value>> &A, Value r0, bool strict,
                                     function_ref<Value(Value)> rowScale) {
  int64_t numS = kChunk / 8;
  Value gRow[2], rowW[2];
  for (int64_t half = 0; half < 2; ++half) {
    Value row = cell(r0, 0, 2 * half).first;
    gRow[half] = memref::LoadOp::create(b, sG, ValueRange{row});
    rowW[half] = rowScale ? rowScale(row) : cf(scoreScale());
  }
  for (int64_t nt = 0; nt < numS; ++nt)
    for (int64_t e = 0; e < 4; ++e) {
      auto [row, col] = cell(r0, nt, e);
      Value gCol = memref::LoadOp::create(b, sG, ValueRange{col});
      Value w = arith::MulFOp::create(b, exp2(arith::SubFOp::create(b, gRow[e / 2], gCol)),
                                      rowW[e / 2]);
      Value causal = arith::CmpIOp::create(
          b, strict ? arith::CmpIPredicate::ult : arith::CmpIPredicate::ule, col, row);
      A[nt][e] = arith::SelectOp::create(b, causal, arith::MulFOp::create(b, A[nt][e], w),
                                         cf(0.0));
    }
}

/// This warp's rows of the chunk's output: the masked, decayed scores as P
/// fragments, O = 2^{G_t} scale Q S, then O += P V.
SmallVector<Value> LinearChunkBuilder::chunkOutput(Value r0) {
  SmallVector<SmallVector<Value>> A = maskedScores(r0);
  SmallVector<Value> O = queryTimesState(r0);
  decayStateTerm(r0, O);
  addScoresTimesValues(A, O);
  return O;
}

void LinearChunkBuilder::decayStateTerm(Value r0, SmallVector<Value> &O) {
  int64_t numV = static_cast<int64_t>(O.size()) / 4;
  for (int64_t half = 0; half < 2; ++half) {
    Value g = memref::LoadOp::create(b, sG, ValueRange{cell(r0, 0, 2 * half).first});
    Value w = scoreScale() != 1.0
                  ? arith::MulFOp::create(b, exp2(g), cf(scoreScale())).getResult()
                  : exp2(g);
    for (int64_t nt = 0; nt < numV; ++nt)
      for (int64_t e = 2 * half; e < 2 * half + 2; ++e)
        O[nt * 4 + e] = arith::MulFOp::create(b, O[nt * 4 + e], w);
  }
}

SmallVector<SmallVector<Value>>
LinearChunkBuilder::scoreWords(ArrayRef<SmallVector<Value>> A) {
  SmallVector<SmallVector<Value>> pA;
  for (int64_t kt = 0; kt < kChunk / 16; ++kt)
    pA.push_back({mf.pack(A[2 * kt][0], A[2 * kt][1]), mf.pack(A[2 * kt][2], A[2 * kt][3]),
                  mf.pack(A[2 * kt + 1][0], A[2 * kt + 1][1]),
                  mf.pack(A[2 * kt + 1][2], A[2 * kt + 1][3])});
  return pA;
}

void LinearChunkBuilder::addScoresTimesValues(ArrayRef<SmallVector<Value>> A,
                                              SmallVector<Value> &O) {
  O = tileProduct(scoreWords(A), sV, 0, s.bv, O);
}

/// Rows t0 + r < N of the warp's outputs, two columns per store.
void LinearChunkBuilder::storeOutput(Value t0, Value r0, ArrayRef<Value> O) {
  storeRows(arg(op.getOut()), t0, r0, O, v0, s.bv);
}

/// Rows t0 + r < N of a warp's [16, width] accumulators into dst's columns
/// from col0, two per store.
void LinearChunkBuilder::storeRows(Value out, Value t0, Value r0, ArrayRef<Value> O, Value col0,
                                   int64_t width) {
  Type outElt = cast<MemRefType>(out.getType()).getElementType();
  auto pairTy = VectorType::get({2}, outElt);
  for (int64_t half = 0; half < 2; ++half) {
    Value t = add(t0, cell(r0, 0, 2 * half).first);
    auto in = scf::IfOp::create(b, ult(t, n), /*withElseRegion=*/false);
    OpBuilder::InsertionGuard guard(b);
    b.setInsertionPointToStart(&in.getThenRegion().front());
    for (int64_t nt = 0; nt < width / 8; ++nt) {
      Value x = vector::FromElementsOp::create(
          b, VectorType::get({2}, b.getF32Type()),
          ValueRange{O[nt * 4 + 2 * half], O[nt * 4 + 2 * half + 1]});
      if (!outElt.isF32())
        x = arith::TruncFOp::create(b, pairTy, x);
      // Pairs at even columns of rows of even width in a 16-byte aligned
      // buffer (the runtime checks): one store each, not two.
      vector::StoreOp::create(b, x, out, ValueRange{bi, h, t, add(col0, cell(r0, nt, 0).second)},
                              /*nontemporal=*/false,
                              llvm::MaybeAlign(2 * outElt.getIntOrFloatBitWidth() / 8));
    }
  }
}

/// 2^G S + (K o w)^T V on this warp's state rows (w: keyWeight), or with
/// GLA's gates 2^{G_d} S_d + ... (w: featureKeyWeights).
SmallVector<Value> LinearChunkBuilder::updatedState(ValueRange S, Value t0, Value gLast) {
  int64_t numV = s.bv / 8;
  SmallVector<Value> next = featureGates() ? featureDecayedState(S) : decayedState(S, gLast);
  // K^T's A fragments by transposed ldmatrix of K [s, d]: matrix j of the
  // x4 covers state rows m0 + 8 (j % 2) and tokens 8 (j / 2) of the k-step.
  Value j = div(lane, 8);
  Value kRow = add(mul(div(j, 2), 8), rem(lane, 8)), kCol = mul(rem(j, 2), 8);
  Value vRow = rem(lane, 16), vCol = mul(div(lane, 16), 8);
  auto pairF32 = VectorType::get({2}, b.getF32Type());
  for (int64_t kt = 0; kt < kChunk / 16; ++kt) {
    // This lane's tokens in the k-step: words 0, 1 hold tokens 2 (l % 4)
    // + {0, 1}, words 2, 3 the same + 8.
    SmallVector<Value> w;
    for (int64_t hi = 0; hi < 2 && !featureGates() && weightedKeys(); ++hi) {
      Value tok = add(mul(rem(lane, 4), 2), kt * 16 + hi * 8);
      w.push_back(vector::LoadOp::create(b, pairF32, sKW, ValueRange{tok}));
    }
    for (int64_t mi = 0; mi < s.stateTiles(); ++mi) {
      Value m0 = stateRow0(mi);
      SmallVector<Value> kA = mf.ldmatrix(sK, add(kRow, kt * 16), add(m0, kCol), 4, true);
      for (int64_t word = 0; word < 4; ++word) {
        // Word j: state row m0 + 8 (j % 2) + l / 4, the lane's tokens + 8 (j / 2).
        if (!featureGates() && !weightedKeys())
          break;
        Value wt = featureGates()
                       ? featureKeyWeights(t0, add(add(m0, div(lane, 4)), (word % 2) * 8),
                                           add(mul(rem(lane, 4), 2), kt * 16 + (word / 2) * 8))
                       : w[word / 2];
        kA[word] = mf.scaled(kA[word], wt);
      }
      for (int64_t dt = 0; dt < numV; dt += 2) {
        SmallVector<Value> vB = mf.ldmatrix(sV, add(vRow, kt * 16), add(vCol, dt * 8), 4, true);
        for (int64_t half = 0; half < 2; ++half) {
          int64_t base = (mi * numV + dt + half) * 4;
          SmallVector<Value> r = mf.mma(kA, ValueRange(vB).slice(2 * half, 2),
                                        ArrayRef(next).slice(base, 4));
          std::copy(r.begin(), r.end(), next.begin() + base);
        }
      }
    }
  }
  return next;
}

/// sS = S rounded to the input type (the next chunk's B operand).
void LinearChunkBuilder::writeState(ArrayRef<Value> S) {
  int64_t numV = s.bv / 8;
  auto pairTy = VectorType::get({2}, s.elt);
  for (int64_t mi = 0; mi < s.stateTiles(); ++mi) {
    Value m0 = stateRow0(mi);
    for (int64_t nt = 0; nt < numV; ++nt)
      for (int64_t half = 0; half < 2; ++half) {
        int64_t base = (mi * numV + nt) * 4 + 2 * half;
        auto [row, col] = cell(m0, nt, 2 * half);
        Value x = vector::FromElementsOp::create(b, VectorType::get({2}, b.getF32Type()),
                                                 ValueRange{S[base], S[base + 1]});
        vector::StoreOp::create(b, arith::TruncFOp::create(b, pairTy, x), sS, stateAt(row, col));
      }
  }
}

void LinearChunkBuilder::prepareQueriesAndKeys() {
  if (mapsFeatures()) {
    if (s.hasQ())
      applyFeatureMap(sQ, s.d);
    applyFeatureMap(sK, s.stateRows());
    barrier();
  }
  if (op.getL2norm()) {
    if (s.hasQ())
      l2normalize(sQ);
    l2normalize(sK);
    barrier();
  }
}

/// sS = the slice of chunk `chunk`'s starting state (one cp.async group
/// with the chunk's tiles).
void LinearChunkBuilder::copyStateTile(Value chunk) {
  Value src = arg(op.getChunkStates());
  forEachPiece(b, tid, s.d, s.bv, [&](Value r, Value col) {
    nvgpu::DeviceAsyncCopyOp::create(b, nvgpu::DeviceAsyncTokenType::get(b.getContext()), sS,
                                     stateAt(r, col), src,
                                     ValueRange{bi, h, chunk, r, add(v0, col)},
                                     b.getIndexAttr(8), Value(), UnitAttr());
  });
}

/// The state pass: sS (the state at the chunk's start, rounded as the
/// output products take it) into the chunk states.
void LinearChunkBuilder::storeStateTile(Value chunk) {
  Value dst = arg(op.getChunkStates());
  auto vt = VectorType::get({8}, s.elt);
  forEachPiece(b, tid, s.stateRows(), s.bv, [&](Value r, Value col) {
    Value x = vector::LoadOp::create(b, vt, sS, stateAt(r, col));
    // 16-byte aligned (Dv % 16 == 0): one st.global.v4, not eight b16 stores.
    vector::StoreOp::create(b, x, dst, ValueRange{bi, h, chunk, feature(r), add(v0, col)},
                            /*nontemporal=*/false, llvm::MaybeAlign(16));
  });
}

/// The state pass with wy: sV (U - W S) into the corrected values, rows
/// t0 + r < N.
void LinearChunkBuilder::storeCorrectedValues(Value t0) {
  Value dst = arg(op.getCorrectedValues());
  auto vt = VectorType::get({8}, s.elt);
  forEachPiece(b, tid, kChunk, s.bv, [&](Value r, Value col) {
    Value t = add(t0, r);
    auto in = scf::IfOp::create(b, ult(t, n), /*withElseRegion=*/false);
    OpBuilder::InsertionGuard guard(b);
    b.setInsertionPointToStart(&in.getThenRegion().front());
    Value x = vector::LoadOp::create(b, vt, sV, pieceAt(r, col, s.bv));
    vector::StoreOp::create(b, x, dst, ValueRange{bi, h, t, add(v0, col)},
                            /*nontemporal=*/false, llvm::MaybeAlign(16));
  });
}

void LinearChunkBuilder::buildOutputPass(Value bIdx, Value head, Value chunk, Value slice,
                                         Value thread, Value window) {
  enter(bIdx, head, thread, window);
  v0 = mul(slice, s.bv);
  // With wy the values are the corrected ones the state pass wrote.
  Value q = arg(op.getQ()), k = arg(op.getK()),
        v = arg(op.getWy() ? op.getCorrectedValues() : op.getV());
  sS = view(c(s.offS()), {s.d, s.padV()}, s.elt);
  useGates(c(0));
  Value t0 = mul(chunk, kChunk);
  loadChunk(chunk, q, k, v);
  copyStateTile(chunk);
  NVVM::CpAsyncCommitGroupOp::create(b);
  if (featureGates())
    scanFeatureGates(t0);
  else
    scanGates(t0);
  if (s.normalize)
    loadChunkNormalizer(chunk);
  NVVM::CpAsyncWaitGroupOp::create(b, 0);
  barrier(); // the tiles, the state and G (and z) have landed
  prepareQueriesAndKeys();
  Value r0 = mul(warp, 16);
  if (s.walkSlices)
    return walkOutputSlices(t0, chunk, r0);
  storeOutput(t0, r0,
              featureGates()  ? chunkOutputGated(t0, r0)
              : s.normalize ? chunkOutputNormalized(t0, r0)
                            : chunkOutput(r0));
}

void LinearChunkBuilder::useSliceBuffer(int64_t buffer) {
  sV = view(c(buffer ? s.offK() : s.offV()), {kChunk, s.padV()}, s.elt);
  sS = view(c(buffer ? s.offG() : s.offS()), {s.d, s.padV()}, s.elt);
}

void LinearChunkBuilder::copySlice(Value t0, Value chunk, int64_t slice, int64_t buffer) {
  v0 = c(slice * s.bv);
  useSliceBuffer(buffer);
  copyRows(arg(op.getV()), t0, v0, s.bv, sV);
  copyStateTile(chunk);
  NVVM::CpAsyncCommitGroupOp::create(b);
}

/// The scores once, then each slice's Q S + A V; slice j + 1's copies fly
/// during slice j's products (buffers alternate: K's and G's space is free
/// once every warp has its scores).
void LinearChunkBuilder::walkOutputSlices(Value t0, Value chunk, Value r0) {
  SmallVector<SmallVector<Value>> A = gatedScores(r0);
  barrier(); // no warp reads K or G any more
  for (int64_t j = 0; j < s.slices(); ++j) {
    bool next = j + 1 < s.slices();
    if (next)
      copySlice(t0, chunk, j + 1, (j + 1) % 2);
    v0 = c(j * s.bv);
    useSliceBuffer(j % 2);
    SmallVector<Value> O = outputFromScores(r0, A);
    // normalize: the denominators per slice (from A, sQ and sZ, which lies
    // past G: two registers fewer across the slices, which spilled), the lse
    // by slice 0.
    if (s.normalize)
      normalizeRows(t0, r0, O, rowDenominators(r0, A, /*gatedQueries=*/true));
    storeOutput(t0, r0, O);
    if (next) {
      NVVM::CpAsyncWaitGroupOp::create(b, 0);
      barrier(); // slice j + 1 has landed; slice j's buffer is free
    }
  }
}

void LinearChunkBuilder::enter(Value bIdx, Value head, Value thread, Value window) {
  bi = bIdx, h = head, tid = thread, smem = window;
  lane = rem(tid, 32), warp = div(tid, 32);
  n = dimOf(b, b.getLoc(), arg(op.getQ()), 2);
  if (Value lambda = op.getDecay()) {
    Value l = toF32(b, b.getLoc(), memref::LoadOp::create(b, arg(lambda), ValueRange{h}));
    headDecay = arith::MaximumFOp::create(b, math::Log2Op::create(b, l), cf(kMinLog2Gate));
  }
}

void LinearChunkBuilder::build(Value bIdx, Value head, Value slice, Value thread,
                               Value window) {
  enter(bIdx, head, thread, window);
  swizzledTiles = s.wgmma;
  v0 = mul(slice, s.bv);
  // With wy(C) the values are the chunks' U (U - W S before use).
  Value q = arg(op.getQ()), k = arg(op.getK()),
        v = arg(s.wy ? op.getWyU() : op.getV());
  sS = s.swizzledState() ? view(c(s.offS()), {s.d * s.bv}, s.elt)
                         : view(c(s.offS()), {s.d, s.padV()}, s.elt);
  if (s.weightedValueTile())
    sVw = view(c(s.offVw()), {kChunk * s.bv}, s.elt);
  useGates(c(0));
  if (delta()) {
    sBeta = view(c(s.offBeta()), {kChunk}, b.getF32Type());
    sA = view(c(s.offA()), {kChunk, s.padA()}, b.getF32Type());
    sX = view(c(s.offX()), {kChunk, s.padX()}, b.getF32Type());
  }

  // The state slice from the initial state (or 0), and its rounded copy.
  SmallVector<Value> S = initialState();
  writeState(S);
  if (s.normalize)
    initNormalizer();

  Value chunks = div(add(n, kChunk - 1), kChunk);
  // The first max(1, stages - 1) chunks' copies, a commit group each.
  int64_t ahead = std::max<int64_t>(1, s.stages() - 1);
  for (int64_t p = 0; p < ahead; ++p)
    loadIfAny(c(p), chunks, q, k, v);
  auto loop = scf::ForOp::create(b, c(0), chunks, c(1), S);
  {
    OpBuilder::InsertionGuard guard(b);
    b.setInsertionPointToStart(loop.getBody());
    Value chunk = loop.getInductionVar();
    Value t0 = mul(chunk, kChunk);
    ValueRange state = loop.getRegionIterArgs();
    auto loadNext = [&] { loadIfAny(add(chunk, ahead), chunks, q, k, v); };
    // Several stages: chunk + stages - 1's copies fly during this one's
    // products (its stage, the previous chunk's, was last read before that
    // chunk's final barrier).
    if (s.stages() >= 2)
      loadNext();
    useStage(stageOf(chunk));
    // sG was last read before the previous chunk's final barrier. (GLA's
    // gates loaded a chunk ahead, as the state pass does, would cost the
    // fused kernel 64 registers it does not have: 536 bytes of spills.)
    if (featureGates())
      scanFeatureGates(t0);
    else
      scanGates(t0);
    if (delta())
      loadBetas(t0); // sBeta too
    NVVM::CpAsyncWaitGroupOp::create(b, s.stages() - 1);
    barrier(); // this chunk's tiles and G have landed; sS holds the previous state
    prepareQueriesAndKeys();
    if (!weightedKeys())
      zeroTailValues(t0);
    Value gLast = featureGates() || !gated()
                      ? Value()
                      : memref::LoadOp::create(b, sG, ValueRange{c(kChunk - 1)});

    Value r0 = mul(warp, 16); // this warp's query rows
    if (delta()) {
      deltaValues(r0);
      barrier(); // A and X are whole
      solveValues();
      barrier(); // sV holds U
    }
    if (s.wy) {
      if (s.wgmma)
        correctValuesWgmma();
      else
        correctValues(r0);
      barrier(); // sV holds U - W S
    }
    SmallVector<Value> next;
    if (s.weightedValueTile()) {
      next = chunkStepWgmma(state, t0, gLast);
    } else {
      if (s.role == ChunkRole::State) {
        storeStateTile(chunk);
        if (s.wy)
          storeCorrectedValues(t0);
      } else {
        storeOutput(t0, r0,
                    featureGates()  ? chunkOutputGated(t0, r0)
                    : s.normalize ? chunkOutputNormalized(t0, r0)
                                  : chunkOutput(r0));
      }
      // On wgmma the keys' weights then scale sV in place (each thread its
      // own pieces, those storeCorrectedValues read).
      next = s.wgmma ? updatedStateWgmma(state, t0, gLast) : updatedState(state, t0, gLast);
    }
    // normalize: a thread per feature walks the chunk's keys and weights,
    // which nothing above wrote; its z_d is stored after the barrier (a
    // single stage takes the next chunk's copies).
    Value zNext = s.normalize ? walkNormalizer(t0, gLast) : Value();
    barrier(); // every warp is done reading sS (and the chunk's tiles, and sZ)
    if (s.stages() == 1)
      loadNext(); // into the one stage, during writeState and the other block's work
    writeState(next);
    if (zNext)
      storeNormalizer(zNext);
    barrier(); // sS (and sZ) is the new state before the next chunk reads it
    scf::YieldOp::create(b, next);
  }

  storeFinalState(loop.getResults());
}

void LinearChunkBuilder::buildStatePass(Value bIdx, Value head, Value slice, Value features,
                                        Value thread, Value window) {
  enter(bIdx, head, thread, window);
  if (s.featureSlices() > 1)
    f0 = mul(features, s.stateRows());
  swizzledTiles = s.wgmma;
  v0 = mul(slice, s.bv);
  Value k = arg(op.getK()), v = arg(op.getV());
  bool scalarGates = gated() && !featureGates();
  if (featureGates())
    useGates(c(0));
  Value chunks = div(add(n, kChunk - 1), kChunk);
  int64_t ahead = s.stages() - 1;
  for (int64_t p = 0; p < ahead; ++p)
    loadIfAny(c(p), chunks, Value(), k, v);
  // GLA's gates ride in registers a chunk ahead (loop-carried after S).
  SmallVector<Value> init = initialState();
  size_t numS = init.size();
  bool gatesInRegisters = featureGates() && !s.stagedGates();
  if (gatesInRegisters)
    llvm::append_range(init, loadFeatureGates(c(0)));
  // normalize: z (feature tid's) rides last, from 0.
  bool normalizer = static_cast<bool>(op.getChunkNormalizers());
  if (normalizer)
    init.push_back(cf(0.0));
  auto loop = scf::ForOp::create(b, c(0), chunks, c(1), init);
  {
    OpBuilder::InsertionGuard guard(b);
    b.setInsertionPointToStart(loop.getBody());
    Value chunk = loop.getInductionVar();
    Value t0 = mul(chunk, kChunk);
    ValueRange carried = loop.getRegionIterArgs();
    ValueRange state = carried.take_front(numS);
    SmallVector<Value> nextGates;
    // Scalar gates into this chunk's buffer: the other one may still be
    // read by warps finishing the previous chunk.
    if (scalarGates) {
      useGates(rem(chunk, 2));
      scanGates(t0);
    }
    // Groups so far: chunks up to chunk + ahead - 1; this chunk's is done.
    NVVM::CpAsyncWaitGroupOp::create(b, ahead - 1);
    // The chunk's tiles and gates have landed, and every warp is done with
    // the previous chunk: its stage takes chunk + ahead's copies.
    barrier();
    loadIfAny(add(chunk, ahead), chunks, Value(), k, v);
    useStage(stageOf(chunk));
    if (gatesInRegisters) {
      storeFeatureGateSums(SmallVector<Value>(carried.slice(numS, kChunk)));
      nextGates = loadFeatureGates(add(t0, kChunk));
      barrier(); // G is whole
    } else if (featureGates()) {
      scanStagedGates(t0);
      barrier(); // G is whole
    }
    // The previous chunk's staged state out, this one's in (its buffer
    // was last read by the flush one chunk ago, before the barrier).
    {
      auto prev = scf::IfOp::create(b, ult(c(0), chunk), /*withElseRegion=*/false);
      OpBuilder::InsertionGuard g2(b);
      b.setInsertionPointToStart(&prev.getThenRegion().front());
      flushStateTile(sub(chunk, 1));
    }
    useStateBuffer(rem(chunk, 2));
    writeState(SmallVector<Value>(state));
    prepareQueriesAndKeys();
    if (!weightedKeys())
      zeroTailValues(t0);
    Value gLast = scalarGates ? memref::LoadOp::create(b, sG, ValueRange{c(kChunk - 1)})
                              : Value();
    SmallVector<Value> next =
        s.wgmma ? updatedStateWgmma(state, t0, gLast) : updatedState(state, t0, gLast);
    // z's walk reads K (mapped above; on wgmma GLA's K rows weighted by
    // updatedStateWgmma, which waited for its products).
    Value z = normalizer ? stepChunkNormalizer(carried.back(), chunk, t0, gLast) : Value();
    llvm::append_range(next, nextGates);
    if (z)
      next.push_back(z);
    scf::YieldOp::create(b, next);
  }
  barrier(); // the last chunk's staged state is whole
  {
    auto any = scf::IfOp::create(b, ult(c(0), chunks), /*withElseRegion=*/false);
    OpBuilder::InsertionGuard guard(b);
    b.setInsertionPointToStart(&any.getThenRegion().front());
    flushStateTile(sub(chunks, 1));
  }
  storeFinalState(loop.getResults().take_front(numS));
}

void LinearChunkBuilder::useStateBuffer(Value buffer) {
  sS = view(add(c(s.offS()), mul(buffer, s.stateTileBytes())), {s.stateRows(), s.padV()},
            s.elt);
}

void LinearChunkBuilder::loadIfAny(Value chunk, Value chunks, Value q, Value k, Value v) {
  {
    auto any = scf::IfOp::create(b, ult(chunk, chunks), /*withElseRegion=*/false);
    OpBuilder::InsertionGuard guard(b);
    b.setInsertionPointToStart(&any.getThenRegion().front());
    loadChunk(chunk, q, k, v);
  }
  NVVM::CpAsyncCommitGroupOp::create(b);
}

SmallVector<Value> LinearChunkBuilder::initialState() {
  SmallVector<Value> S;
  Value s0 = op.getInitialState() ? arg(op.getInitialState()) : Value();
  forEachStateCell([&](int64_t, Value row, Value col) {
    S.push_back(s0 ? memref::LoadOp::create(b, s0, ValueRange{bi, h, feature(row), col})
                         .getResult()
                   : cf(0.0));
  });
  return S;
}

void LinearChunkBuilder::storeFinalState(ValueRange S) {
  if (!op.getStateResult())
    return;
  Value fs = arg(op.getStateResult());
  forEachStateCell([&](int64_t i, Value row, Value col) {
    memref::StoreOp::create(b, S[i], fs, ValueRange{bi, h, feature(row), col});
  });
}

void LinearChunkBuilder::zeroTailValues(Value t0) {
  auto tail = scf::IfOp::create(b, ult(n, add(t0, kChunk)), /*withElseRegion=*/false);
  OpBuilder::InsertionGuard guard(b);
  b.setInsertionPointToStart(&tail.getThenRegion().front());
  auto vt = VectorType::get({8}, s.elt);
  Value zero = arith::ConstantOp::create(b, vt, DenseElementsAttr::get(vt, b.getZeroAttr(s.elt)));
  forEachPiece(b, tid, kChunk, s.bv, [&](Value r, Value col) {
    auto past = scf::IfOp::create(
        b, arith::CmpIOp::create(b, arith::CmpIPredicate::uge, add(t0, r), n), false);
    OpBuilder::InsertionGuard g2(b);
    b.setInsertionPointToStart(&past.getThenRegion().front());
    vector::StoreOp::create(b, zero, sV, pieceAt(r, col, s.bv), /*nontemporal=*/false,
                            llvm::MaybeAlign(16));
  });
  barrier();
}

void LinearChunkBuilder::weightValueRows(Value dst) {
  auto vt = VectorType::get({8}, s.elt), vf = VectorType::get({8}, b.getF32Type());
  forEachPiece(b, tid, kChunk, s.bv, [&](Value r, Value col) {
    SmallVector<Value> at = pieceAt(r, col, s.bv);
    Value x = arith::ExtFOp::create(b, vf, vector::LoadOp::create(b, vt, sV, at).getResult());
    Value w = memref::LoadOp::create(b, sKW, ValueRange{r});
    x = arith::MulFOp::create(b, x, vector::BroadcastOp::create(b, vf, w));
    vector::StoreOp::create(b, arith::TruncFOp::create(b, vt, x), dst, at);
  });
}

} // namespace mlir::attn::cuda::linear_chunk

using namespace mlir::attn::cuda::linear_chunk;

namespace {

/// The value slice width: all of Dv up to `columns`, else `columns` (0:
/// 64, the wider of the two forms).
int64_t sliceWidth(int64_t dv, int64_t columns) {
  return std::min(dv, columns ? columns : 64);
}

/// One kernel of the op with `columns` value columns per block: the fused
/// form or split's state pass (`role`), a block per (b, h, slice).
LogicalResult buildOne(OpBuilder &gb, func::FuncOp fn, LinearOp op, StringRef name,
                       int64_t columns, ArrayRef<int64_t> smBlocks,
                       ChunkRole role = ChunkRole::Fused, bool hopper = false);
/// split's output pass: a block per (b, h, chunk, slice of `columns`),
/// launched after the state pass.
LogicalResult buildOutputKernel(OpBuilder &gb, func::FuncOp fn, LinearOp op, StringRef name,
                                int64_t columns, bool hopper);
/// The shape of a kernel of `op` with `columns` value columns per block.
ChunkShape shapeOf(LinearOp op, int64_t columns, ChunkRole role);

} // namespace

bool mlir::attn::cuda::canChunkLinear(LinearOp op, int64_t chunk, int64_t columns) {
  if (chunk != kChunk)
    return false;
  auto q = cast<RankedTensorType>(op.getQ().getType());
  auto k = cast<RankedTensorType>(op.getK().getType());
  auto v = cast<RankedTensorType>(op.getV().getType());
  Type elt = q.getElementType();
  if (!(elt.isBF16() || elt.isF16()) || k.getElementType() != elt ||
      v.getElementType() != elt)
    return false;
  int64_t d = q.getDimSize(3), dv = v.getDimSize(3);
  if (d != 64 && d != 128)
    return false;
  if (ShapedType::isDynamic(dv) || dv % 16 != 0 || dv > 512 ||
      dv % sliceWidth(dv, columns) != 0 || dv / sliceWidth(dv, columns) > 8)
    return false;
  // GLA's gates per feature: log gates of 16 or 32 bits, not mixed with
  // per-token gates (decays are folded in).
  if (op.isPerFeatureGate()) {
    unsigned bits = cast<ShapedType>(op.getLogGate().getType()).getElementTypeBitWidth();
    if ((bits != 16 && bits != 32) || op.getGate())
      return false;
  }
  // Titans' momentum keeps the token recurrence.
  return !op.getForget();
}

namespace {
/// split(64)'s forms, by the grid of fused-width blocks G on S SMs (each
/// measured on the H200, docs/benchmarks/linear-gpu.md): the fused kernel
/// with 64 columns where G >= 2 S, with 32 where S / 2 <= G < 2 S (twice
/// the blocks), else the state pass (32 columns) and the output pass
/// parallel over chunks; the split wins where few long rows leave most SMs
/// idle. GLA on mma.sync has one fused form (its 32-column one lost: 4.5
/// against 3.5 ms at G = S), launched where G >= 2 S; below, its state
/// pass keeps 64 columns (1.10 against 1.32 ms with 32 at 4 x 16 x 16384:
/// the gate work per chunk is per block, so fewer blocks do less of it)
/// and the split beat the fused kernel there (3.42 against 3.54-3.57 ms).
/// On Hopper GLA always splits (below).
LogicalResult buildSplitForms(OpBuilder &gb, func::FuncOp fn, LinearOp op, StringRef name,
                              int64_t dv, bool hopper) {
  if (*op.getSplit() != kChunk)
    return op.emitError() << "split(" << *op.getSplit() << "): the CUDA kernels take chunks of "
                          << kChunk << " tokens";
  int64_t fused = sliceWidth(dv, 64);
  bool gla = op.isPerFeatureGate();
  bool narrow = fused == 64 && dv / 32 <= 8;
  int64_t state = narrow && !gla ? 32 : fused;
  std::string output = (name + "_op").str();
  // split-only: the state pass carries the step's name. On Hopper GLA
  // always splits: its state pass on wgmma (gates staged and scanned in
  // shared memory, a block per 64 key features) made the split faster than
  // the fused kernel at every grid measured (H200, 16 x 16 x 4096, G = 4 S:
  // 1.96-2.01 against 2.34-2.39 ms; 4 x 16 x 16384: 1.98-2.02 against 3.33).
  if (op->hasAttr(kSplitOnlyAttr) || (hopper && gla))
    return failure(failed(buildOne(gb, fn, op, name, state, {}, ChunkRole::State, hopper)) ||
                   failed(buildOutputKernel(gb, fn, op, output, fused, hopper)));
  // Bounds {min, max, per K SMs} on each form's own grid.
  SmallVector<int64_t> fusedWhen, stateWhen;
  bool withC32 = narrow && !gla;
  if (withC32 || gla)
    fusedWhen = {2, 0, 1}; // G >= 2 S; the 32-column form between
  else
    fusedWhen = {1, 0, 2}; // G >= S / 2
  // The state pass's grid is G fused / state: split where G < S / 2
  // (GLA: G < 2 S).
  stateWhen = gla ? SmallVector<int64_t>{0, 2, 1} : SmallVector<int64_t>{0, fused / state, 2};
  SmallVector<int64_t> c32When = {1, 4};
  // On Hopper (wgmma output passes, and the state pass of decays and
  // scalar gates) the split of gated forms beats the 32-column kernel up to
  // G = S (H200, 4 x 16 x 16384, G = 128: simple GLA 0.86-0.94 against
  // 1.02-1.12 ms, the delta rule 2.00 against 2.13; plain 0.85-0.89
  // against 0.82-0.88, a tie, keeps S / 2): split where G < S.
  if (hopper && withC32 && (op.getDecay() || op.getGate() || op.getLogGate())) {
    stateWhen = {0, fused / state, 1};
    c32When = {2, 4};
  }
  if (failed(buildOne(gb, fn, op, name, fused, fusedWhen, ChunkRole::Fused, hopper)) ||
      (withC32 && failed(buildOne(gb, fn, op, (name + "_c32").str(), 32, c32When,
                                  ChunkRole::Fused, hopper))) ||
      failed(buildOne(gb, fn, op, (name + "_sp").str(), state, stateWhen, ChunkRole::State,
                      hopper)))
    return failure();
  return buildOutputKernel(gb, fn, op, output, fused, hopper);
}
} // namespace

LogicalResult mlir::attn::cuda::buildLinearChunkKernel(OpBuilder &gb, func::FuncOp fn,
                                                       LinearOp op, StringRef name,
                                                       int64_t columns, bool hopper) {
  int64_t dv = cast<RankedTensorType>(op.getV().getType()).getDimSize(3);
  // The delta rule's WY form: its prep kernel (W and U of every chunk)
  // runs first.
  if (op.getWy() && failed(buildWYPrepKernel(gb, fn, op, (name + "_wy").str())))
    return failure();
  if (op.getSplit())
    return buildSplitForms(gb, fn, op, name, dv, hopper);
  // Without split: 64 columns per block where the grid has at least two
  // blocks per SM (no recomputation), else 32 (twice the blocks); GLA's
  // and the solving delta rule's kernels take the given width (their
  // per-chunk work beyond the products grows with the blocks).
  if (columns == 0 && dv % 64 == 0 && dv / 32 <= 8 && !op.isPerFeatureGate() &&
      (!op.getBeta() || op.getWy())) {
    if (failed(buildOne(gb, fn, op, name, 64, {2, 0}, ChunkRole::Fused, hopper)))
      return failure();
    return buildOne(gb, fn, op, (name + "_c32").str(), 32, {0, 4}, ChunkRole::Fused, hopper);
  }
  return buildOne(gb, fn, op, name, columns, {}, ChunkRole::Fused, hopper);
}

namespace {
ChunkShape shapeOf(LinearOp op, int64_t columns, ChunkRole role) {
  auto q = cast<RankedTensorType>(op.getQ().getType());
  auto v = cast<RankedTensorType>(op.getV().getType());
  ChunkShape s{q.getDimSize(3), v.getDimSize(3), sliceWidth(v.getDimSize(3), columns),
               q.getElementType()};
  if (op.isPerFeatureGate())
    s.gateElt = cast<ShapedType>(op.getLogGate().getType()).getElementType();
  // The output pass reads corrected values: plain decayed linear attention.
  s.role = role;
  s.wy = op.getWy() && role != ChunkRole::Output;
  s.delta = op.getBeta() && !op.getWy();
  s.normalize = op.getNormalize() && role != ChunkRole::State;
  return s;
}

LogicalResult buildOutputKernel(OpBuilder &gb, func::FuncOp fn, LinearOp op, StringRef name,
                                int64_t columns, bool hopper) {
  ChunkShape s = shapeOf(op, columns, ChunkRole::Output);
  // Hopper: wgmma over whole 64-column boxes, 128 value columns per block
  // where Dv allows (LinearChunkWgmma.cpp); GLA keeps mma.sync.
  s.wgmma = hopper && !s.gateElt && !s.delta && s.dv % 64 == 0;
  if (s.wgmma)
    s.bv = s.dv % 128 == 0 ? 128 : 64;
  // GLA: a block per (b, h, chunk) walks the slices, their V in K's space
  // and their state in G's (both fit where bv <= D).
  s.walkSlices = op.isPerFeatureGate() && !op.getBeta() && s.slices() > 1 && s.bv <= s.d;
  assert((!s.walkSlices || s.stateTileBytes() <= s.gateBytes()) && "a state tile in G's space");
  // A block per (b, h, chunk, slice): out [B, H, N, Dv] in tiles of C rows
  // x bv columns (x Dv when walking the slices) is the grid.
  unsigned outArg = op->getNumOperands();
  gpu::GPUFuncOp kfn = buildSharedStepKernel(
      gb, fn, op, name, {outArg, 4, kThreads, kThreads, s.bytes()},
      [&](ImplicitLocOpBuilder &b, gpu::GPUFuncOp, function_ref<Value(Value)> arg, Value smem) {
        TileBlock t = decodeTileBlock(b, arg(op.getOut()), s.walkSlices ? 1 : s.slices());
        LinearChunkBuilder builder(b, op, s, arg);
        Value tid = gpu::ThreadIdOp::create(b, gpu::Dimension::x);
        if (s.wgmma)
          builder.buildOutputPassWgmma(t.bi, t.h, t.chunk, t.slice, tid, smem);
        else
          builder.buildOutputPass(t.bi, t.h, t.chunk, t.slice, tid, smem);
      });
  kfn->setAttr("attn.grid_tile", gb.getDenseI64ArrayAttr({kChunk, s.walkSlices ? s.dv : s.bv}));
  kfn->setAttr("attn.after_previous", gb.getUnitAttr());
  return success();
}

LogicalResult buildOne(OpBuilder &gb, func::FuncOp fn, LinearOp op, StringRef name,
                       int64_t columns, ArrayRef<int64_t> smBlocks, ChunkRole role, bool hopper) {
  ChunkShape s = shapeOf(op, columns, role);
  // Hopper: the state pass in registers (GLA's too: its weights scale K's
  // rows), the delta rule's WY state pass and the fused kernel of decays
  // and scalar gates on wgmma (products over whole chunks; V's rows of 64
  // or 128 bytes swizzled).
  s.wgmma = hopper &&
            (s.stateInRegisters() || (role == ChunkRole::Fused && !s.gateElt && !s.wy) ||
             (role == ChunkRole::State && s.wy)) &&
            !s.delta && s.bv % 32 == 0;
  // GLA's state pass on wgmma: a block per 64 key features (l2norm needs
  // whole rows of K).
  if (s.wgmma && s.gateElt && !op.getL2norm() && s.d > 64)
    s.dk = 64;
  unsigned numIn = op->getNumOperands();
  // Work items (b, h) of the output, a block of kThreads per value slice
  // and feature slice.
  int64_t lanes = kThreads * s.slices() * s.featureSlices();
  gpu::GPUFuncOp kfn = buildSharedStepKernel(
      gb, fn, op, name, {numIn, 2, kThreads, lanes, s.bytes()},
      [&](ImplicitLocOpBuilder &b, gpu::GPUFuncOp kernel, function_ref<Value(Value)> arg,
          Value smem) {
        Value lane;
        SmallVector<Value> at =
            enterStepItem(b, kernel.getArgument(numIn), 2, kThreads, lanes, lane);
        Value block = arith::DivUIOp::create(b, lane, cIdx(b, b.getLoc(), kThreads));
        Value tid = arith::RemUIOp::create(b, lane, cIdx(b, b.getLoc(), kThreads));
        Value slices = cIdx(b, b.getLoc(), s.slices());
        Value slice = arith::RemUIOp::create(b, block, slices);
        LinearChunkBuilder builder(b, op, s, arg);
        if (s.stateInRegisters())
          builder.buildStatePass(at[0], at[1], slice, arith::DivUIOp::create(b, block, slices),
                                 tid, smem);
        else
          builder.build(at[0], at[1], slice, tid, smem);
      });
  if (!smBlocks.empty())
    kfn->setAttr("attn.sm_blocks", gb.getDenseI64ArrayAttr(smBlocks));
  return success();
}
} // namespace
