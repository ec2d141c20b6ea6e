//===- LinearChunkWgmma.cpp - the chunk kernels on warpgroup MMA ----------===//
//
// attn.linear's chunk kernels of decays and scalar gates on sm_90a. The
// output pass of the split form (one 64-token chunk of one
// (b, h) per block, its starting state read back) on Hopper's wgmma: the
// block's 4 warps are one warpgroup, every product an m64 MMA of the whole
// chunk, issued asynchronously:
//
//   group 1: A = Q K^T        (m64 n64,  both operands K-major in shared)
//   group 2: O = Q S          (m64 nBV,  S [D, BV] MN-major in shared)
//   wait 1:  A o Gamma x scale, causal    (registers, while Q S runs)
//   wait 0:  O = 2^{G_t} scale O
//   group 3: O += A V         (A from registers, V MN-major in shared)
//
// Q, K, V and S are copied by cp.async into 128-byte swizzled boxes
// (WgmmaOps.h), written by the generic proxy and read by wgmma through the
// async proxy: fence.proxy.async between the two. A block covers BV = 128
// value columns where Dv allows (the mma.sync pass takes 64: its registers
// bound it), so Q K^T and its decays are made once per chunk at Dv = 128.
// Scalar decays and gates only; GLA's output pass keeps mma.sync.
//
// The state pass (state in registers) and the fused kernel keep S [D, BV]
// in m64 accumulator tiles and add K^T (w o V) per chunk, both operands
// MN-major (the instruction transposes them; V's rows of 64 bytes at
// BV = 32 take the 64-byte swizzle); the fused kernel first makes the
// chunk's output as the output pass does, from S's rounded copy.
//
// GLA's state pass (gates per key feature) scales K's rows instead:
// K[s][d] 2^{G_{C-1,d} - G_{s,d}}, and S's row d by 2^{G_{C-1,d}}. Its
// chunk's raw log gates ride in the stage beside K and V and are scanned
// in shared memory (a thread per feature and half-chunk), and a block owns
// 64 key features (ChunkShape::dk): per chunk 64 x 64 weights and one m64
// tile of K^T V per block. The gate work per token and feature, not the
// MMA, bounded it: with global loads per gate it ran 1.10 ms at 4 x 16 x
// 16384 on mma.sync and on wgmma alike (ncu: 449 M instructions, a fifth
// of them ISETP, 2 % MUFU); staged, 0.62 ms.
//
//===----------------------------------------------------------------------===//

#include "LinearChunkKernel.h"
#include "WgmmaOps.h"
#include "mlir/Dialect/GPU/IR/GPUDialect.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"

using namespace mlir;
using namespace mlir::attn;
using namespace mlir::attn::cuda;

namespace mlir::attn::cuda::linear_chunk {

void LinearChunkBuilder::buildOutputPassWgmma(Value bIdx, Value head, Value chunk, Value slice,
                                              Value thread, Value window) {
  enter(bIdx, head, thread, window);
  swizzledTiles = true;
  v0 = mul(slice, s.bv);
  Value q = arg(op.getQ()), k = arg(op.getK()),
        v = arg(op.getWy() ? op.getCorrectedValues() : op.getV());
  sQ = view(c(0), {kChunk * s.d}, s.elt);
  sK = view(c(s.wgmmaOffK()), {kChunk * s.d}, s.elt);
  sV = view(c(s.wgmmaOffV()), {kChunk * s.bv}, s.elt);
  sS = view(c(s.wgmmaOffS()), {s.d * s.bv}, s.elt);
  sG = view(c(s.wgmmaOffG()), {kChunk}, b.getF32Type());
  Value t0 = mul(chunk, kChunk);
  copyRows(q, t0, Value(), s.d, sQ);
  copyRows(k, t0, Value(), s.d, sK);
  copyRows(v, t0, v0, s.bv, sV);
  copyStateTile(chunk);
  NVVM::CpAsyncCommitGroupOp::create(b);
  scanGates(t0);
  if (s.normalize)
    loadChunkNormalizer(chunk);
  NVVM::CpAsyncWaitGroupOp::create(b, 0);
  if (mapsFeatures() || op.getL2norm()) {
    barrier(); // the tiles have landed
    prepareQueriesAndKeys();
  }
  fenceForWgmma(); // the tiles and G have landed
  Value base = smemAddress(c(0));
  Value r0 = mul(warp, 16);
  SmallVector<Value> den;
  SmallVector<Value> O = chunkOutputWgmma(
      base, offsetAddress(base, s.wgmmaOffK()), offsetAddress(base, s.wgmmaOffV()),
      offsetAddress(base, s.wgmmaOffS()), s.normalize ? &den : nullptr);
  if (s.normalize)
    normalizeRows(t0, r0, O, den);
  storeOutput(t0, r0, O);
}

Value LinearChunkBuilder::smemAddress(Value byteOffset) {
  Type i64 = b.getI64Type();
  Value base = arith::IndexCastUIOp::create(
      b, i64, memref::ExtractAlignedPointerAsIndexOp::create(b, smem));
  return arith::AddIOp::create(b, base, arith::IndexCastUIOp::create(b, i64, byteOffset));
}

Value LinearChunkBuilder::offsetAddress(Value addr, int64_t bytes) {
  return arith::AddIOp::create(b, addr, arith::ConstantOp::create(b, b.getI64IntegerAttr(bytes)));
}

void LinearChunkBuilder::fenceForWgmma() {
  // This thread's shared writes (cp.async, stores) before wgmma's reads
  // through the async proxy.
  NVVM::FenceProxyOp::create(
      b, NVVM::ProxyKind::async_shared,
      NVVM::SharedSpaceAttr::get(b.getContext(), NVVM::SharedSpace::shared_cta));
  barrier();
}

/// k-step kt of a K-major [64, D] tile (Q, K): 32 bytes per k16 inside a
/// box of 64 rows x 128 B.
Value LinearChunkBuilder::kMajorStep(Value tile, int64_t kt) {
  return wgmma::descriptor(b, offsetAddress(tile, (kt / 4) * kChunk * 128 + (kt % 4) * 32), 16,
                           1024);
}

/// k-step kt of an MN-major [rows, width] tile: 16 rows per k16, boxes of
/// `rows` rows (64 columns) apart; rows of 64 bytes where width is 32.
Value LinearChunkBuilder::mnMajorStep(Value tile, int64_t rows, int64_t width, int64_t kt) {
  int64_t rowBytes = wgmma::rowBytesOf(width);
  return wgmma::descriptor(b, offsetAddress(tile, kt * 16 * rowBytes), rows * rowBytes,
                           8 * rowBytes, rowBytes);
}

SmallVector<Value> LinearChunkBuilder::chunkOutputWgmma(Value q, Value k, Value v, Value st,
                                                        SmallVector<Value> *den) {
  NVVM::WgmmaFenceAlignedOp::create(b);
  Value scores = wgmma::zeroAccumulator(b, kChunk);
  for (int64_t kt = 0; kt < s.d / 16; ++kt)
    scores = wgmma::mmaShared(b, s.elt, scores, kMajorStep(q, kt), kMajorStep(k, kt), kChunk,
                              kt == 0, /*transB=*/false);
  NVVM::WgmmaGroupSyncAlignedOp::create(b);
  Value state = wgmma::zeroAccumulator(b, s.bv);
  for (int64_t kt = 0; kt < s.d / 16; ++kt)
    state = wgmma::mmaShared(b, s.elt, state, kMajorStep(q, kt), mnMajorStep(st, s.d, s.bv, kt),
                             s.bv, kt == 0, /*transB=*/true);
  NVVM::WgmmaGroupSyncAlignedOp::create(b);

  Value r0 = mul(warp, 16);
  NVVM::WgmmaWaitGroupSyncOp::create(b, uint64_t(1)); // Q K^T retired
  SmallVector<Value> raw = wgmma::accumulatorValues(b, scores, kChunk);
  SmallVector<SmallVector<Value>> A;
  for (int64_t nt = 0; nt < kChunk / 8; ++nt)
    A.push_back(SmallVector<Value>(ArrayRef(raw).slice(nt * 4, 4)));
  // normalize: unscaled scores (scoreScale(): the scale multiplies the
  // numerator only) and their row sums in the denominators.
  decayScores(A, r0, /*strict=*/false, {});
  if (den)
    *den = rowDenominators(r0, A);
  SmallVector<SmallVector<Value>> words = scoreWords(A);
  NVVM::WgmmaWaitGroupSyncOp::create(b, uint64_t(0)); // Q S retired
  SmallVector<Value> O = wgmma::accumulatorValues(b, state, s.bv);
  decayStateTerm(r0, O);

  NVVM::WgmmaFenceAlignedOp::create(b);
  for (int64_t kt = 0; kt < kChunk / 16; ++kt) {
    SmallVector<Value> w;
    for (Value x : words[kt])
      w.push_back(mf.asWord(x));
    wgmma::mmaRegisterA(b, s.elt, O, w, mnMajorStep(v, kChunk, s.bv, kt));
  }
  NVVM::WgmmaGroupSyncAlignedOp::create(b);
  NVVM::WgmmaWaitGroupSyncOp::create(b, uint64_t(0));
  wgmma::fenceOperands(b, O);
  return O;
}

SmallVector<Value> LinearChunkBuilder::addKeysTimesValues(SmallVector<Value> S, Value k,
                                                          Value v) {
  const int64_t perTile = s.bv / 2;
  NVVM::WgmmaFenceAlignedOp::create(b);
  SmallVector<Value> acc;
  for (int64_t mt = 0; mt < s.stateRows() / 64; ++mt) {
    Value a = wgmma::accumulatorOf(b, ArrayRef(S).slice(mt * perTile, perTile));
    // K^T's rows 64 mt..: box mt of K, 16 tokens (rows) per k16.
    for (int64_t kt = 0; kt < kChunk / 16; ++kt)
      a = wgmma::mmaShared(b, s.elt, a, mnMajorStep(offsetAddress(k, mt * kChunk * 128), kChunk,
                                                    64, kt),
                           mnMajorStep(v, kChunk, s.bv, kt), s.bv, /*first=*/false,
                           /*transB=*/true, /*transA=*/true);
    acc.push_back(a);
  }
  NVVM::WgmmaGroupSyncAlignedOp::create(b);
  NVVM::WgmmaWaitGroupSyncOp::create(b, uint64_t(0));
  SmallVector<Value> next;
  for (Value a : acc)
    llvm::append_range(next, wgmma::accumulatorValues(b, a, s.bv));
  return next;
}

/// The state pass's update on wgmma: S [D, BV] in m64 tiles of
/// accumulators, S = 2^G S + K^T (w o V), K^T and V both MN-major in the
/// stage (the instruction transposes them). The keys' weights scale V's
/// rows in shared memory (K^T's fragments in registers on mma.sync).
SmallVector<Value> LinearChunkBuilder::updatedStateWgmma(ValueRange S, Value t0, Value gLast) {
  SmallVector<Value> next;
  if (featureGates()) { // the weights differ per feature: K's rows take them
    next = featureDecayedState(S);
    weightKeyFeatures(t0);
  } else {
    next = decayedState(S, gLast);
    if (weightedKeys())
      weightValueRows(sV);
  }
  fenceForWgmma(); // V or K weighted (or V's tail zeroed), K mapped
  Value stage = smemAddress(stageOffset);
  return addKeysTimesValues(next, offsetAddress(stage, s.offK()),
                            offsetAddress(stage, s.offV()));
}

SmallVector<Value> LinearChunkBuilder::chunkStepWgmma(ValueRange S, Value t0, Value gLast) {
  if (weightedKeys())
    weightValueRows(sVw);
  fenceForWgmma(); // V weighted, sS the previous state, the tiles mapped
  Value stage = smemAddress(stageOffset);
  Value k = offsetAddress(stage, s.offK()), v = offsetAddress(stage, s.offV());
  SmallVector<Value> den;
  SmallVector<Value> O =
      chunkOutputWgmma(stage, k, v, smemAddress(c(s.offS())), s.normalize ? &den : nullptr);
  if (s.normalize)
    normalizeRows(t0, mul(warp, 16), O, den);
  storeOutput(t0, mul(warp, 16), O);
  return addKeysTimesValues(decayedState(S, gLast), k,
                            weightedKeys() ? smemAddress(c(s.offVw())) : v);
}

SmallVector<Value> LinearChunkBuilder::decayedState(ValueRange S, Value gLast) {
  SmallVector<Value> next(S.begin(), S.end());
  if (gLast) {
    Value decay = exp2(gLast);
    for (Value &x : next)
      x = arith::MulFOp::create(b, x, decay);
  }
  return next;
}

/// W S for the warpgroup's 64 rows on wgmma (m64nBV, W K-major in the
/// stage, S MN-major), subtracted from U in V's swizzled tile.
void LinearChunkBuilder::correctValuesWgmma() {
  fenceForWgmma(); // W and U have landed; sS holds the state (writeState)
  Value w = smemAddress(add(stageOffset, c(s.offW()))), st = smemAddress(c(s.offS()));
  NVVM::WgmmaFenceAlignedOp::create(b);
  Value acc = wgmma::zeroAccumulator(b, s.bv);
  for (int64_t kt = 0; kt < s.d / 16; ++kt)
    acc = wgmma::mmaShared(b, s.elt, acc, kMajorStep(w, kt), mnMajorStep(st, s.d, s.bv, kt), s.bv,
                           kt == 0, /*transB=*/true);
  NVVM::WgmmaGroupSyncAlignedOp::create(b);
  NVVM::WgmmaWaitGroupSyncOp::create(b, uint64_t(0));
  // The accumulators' rows are the warp's 16 tokens from 16 w.
  subtractFromValues(mul(warp, 16), wgmma::accumulatorValues(b, acc, s.bv));
}

} // namespace mlir::attn::cuda::linear_chunk
