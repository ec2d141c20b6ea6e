//===- LinearChunkWgmma.cpp - split's output pass on warpgroup MMA --------===//
//
// The output pass of attn.linear's split form (one 64-token chunk of one
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
// Scalar decays and gates only; GLA's gates per feature keep mma.sync.
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
  auto tileAt = [&](Value r, Value col) {
    return SmallVector<Value>{wgmma::swizzledIndex(b, r, col, kChunk)};
  };
  copyRowsAsync(b, q, bi, h, t0, Value(), n, sQ, kChunk, s.d, tid, kThreads, false, tileAt);
  copyRowsAsync(b, k, bi, h, t0, Value(), n, sK, kChunk, s.d, tid, kThreads, false, tileAt);
  copyRowsAsync(b, v, bi, h, t0, v0, n, sV, kChunk, s.bv, tid, kThreads, false, tileAt);
  copyStateTile(chunk);
  NVVM::CpAsyncCommitGroupOp::create(b);
  scanGates(t0);
  NVVM::CpAsyncWaitGroupOp::create(b, 0);
  if ((op.getFeatureMap() && *op.getFeatureMap() != FeatureMap::Identity) || op.getL2norm()) {
    barrier(); // the tiles have landed
    prepareQueriesAndKeys();
  }
  // This thread's shared writes before wgmma's reads (another proxy).
  NVVM::FenceProxyOp::create(
      b, NVVM::ProxyKind::async_shared,
      NVVM::SharedSpaceAttr::get(b.getContext(), NVVM::SharedSpace::shared_cta));
  barrier(); // the tiles and G have landed

  Type i64 = b.getI64Type();
  Value base = arith::IndexCastUIOp::create(
      b, i64, memref::ExtractAlignedPointerAsIndexOp::create(b, smem));
  auto at = [&](int64_t offset) {
    return arith::AddIOp::create(b, base, arith::ConstantOp::create(b, b.getI64IntegerAttr(offset)))
        .getResult();
  };
  // K-major operand k-step kt of a [64, D] tile at `offset`: 32 bytes per
  // k16 inside a box of 64 rows x 128 B.
  auto kMajor = [&](int64_t offset, int64_t kt) {
    return wgmma::descriptor(b, at(offset + (kt / 4) * kChunk * 128 + (kt % 4) * 32), 16, 1024);
  };
  // MN-major k-step kt of a [rows, BV] tile: 16 rows per k16, boxes of
  // `rows` rows 64 columns apart.
  auto mnMajor = [&](int64_t offset, int64_t rows, int64_t kt) {
    return wgmma::descriptor(b, at(offset + kt * 16 * 128), rows * 128, 1024);
  };

  NVVM::WgmmaFenceAlignedOp::create(b);
  Value scores = wgmma::zeroAccumulator(b, kChunk);
  for (int64_t kt = 0; kt < s.d / 16; ++kt)
    scores = wgmma::mmaShared(b, s.elt, scores, kMajor(0, kt), kMajor(s.wgmmaOffK(), kt), kChunk,
                              kt == 0, /*transB=*/false);
  NVVM::WgmmaGroupSyncAlignedOp::create(b);
  Value state = wgmma::zeroAccumulator(b, s.bv);
  for (int64_t kt = 0; kt < s.d / 16; ++kt)
    state = wgmma::mmaShared(b, s.elt, state, kMajor(0, kt), mnMajor(s.wgmmaOffS(), s.d, kt),
                             s.bv, kt == 0, /*transB=*/true);
  NVVM::WgmmaGroupSyncAlignedOp::create(b);

  Value r0 = mul(warp, 16);
  NVVM::WgmmaWaitGroupSyncOp::create(b, uint64_t(1)); // Q K^T retired
  SmallVector<Value> raw = wgmma::accumulatorValues(b, scores, kChunk);
  SmallVector<SmallVector<Value>> A;
  for (int64_t nt = 0; nt < kChunk / 8; ++nt)
    A.push_back(SmallVector<Value>(ArrayRef(raw).slice(nt * 4, 4)));
  decayScores(A, r0, /*strict=*/false, {});
  SmallVector<SmallVector<Value>> words = scoreWords(A);
  NVVM::WgmmaWaitGroupSyncOp::create(b, uint64_t(0)); // Q S retired
  SmallVector<Value> O = wgmma::accumulatorValues(b, state, s.bv);
  decayStateTerm(r0, O);

  NVVM::WgmmaFenceAlignedOp::create(b);
  for (int64_t kt = 0; kt < kChunk / 16; ++kt) {
    SmallVector<Value> w;
    for (Value x : words[kt])
      w.push_back(mf.asWord(x));
    wgmma::mmaRegisterA(b, s.elt, O, w, mnMajor(s.wgmmaOffV(), kChunk, kt));
  }
  NVVM::WgmmaGroupSyncAlignedOp::create(b);
  NVVM::WgmmaWaitGroupSyncOp::create(b, uint64_t(0));
  wgmma::fenceOperands(b, O);
  storeOutput(t0, r0, O);
}

} // namespace mlir::attn::cuda::linear_chunk

namespace mlir::attn::cuda::linear_chunk {

/// The state pass's update on wgmma: S [D, BV] in m64 tiles of
/// accumulators, S = 2^G S + K^T (w o V), K^T and V both MN-major in the
/// stage (the instruction transposes them). The keys' weights scale V's
/// rows in shared memory (K^T's fragments in registers on mma.sync).
SmallVector<Value> LinearChunkBuilder::updatedStateWgmma(ValueRange S, Value gLast) {
  SmallVector<Value> next(S.begin(), S.end());
  if (gLast) {
    Value decay = exp2(gLast);
    for (Value &x : next)
      x = arith::MulFOp::create(b, x, decay);
  }
  if (weightedKeys())
    weightValueRows();
  NVVM::FenceProxyOp::create(
      b, NVVM::ProxyKind::async_shared,
      NVVM::SharedSpaceAttr::get(b.getContext(), NVVM::SharedSpace::shared_cta));
  barrier(); // V weighted (or its tail zeroed), K mapped

  Type i64 = b.getI64Type();
  Value stage = arith::AddIOp::create(
      b, arith::IndexCastUIOp::create(b, i64, memref::ExtractAlignedPointerAsIndexOp::create(b, smem)),
      arith::IndexCastUIOp::create(b, i64, stageOffset));
  auto at = [&](int64_t offset) {
    return arith::AddIOp::create(b, stage, arith::ConstantOp::create(b, b.getI64IntegerAttr(offset)))
        .getResult();
  };
  const int64_t vRow = std::min<int64_t>(s.bv, 64) * 2, perTile = s.bv / 2;
  NVVM::WgmmaFenceAlignedOp::create(b);
  SmallVector<Value> acc;
  for (int64_t mt = 0; mt < s.d / 64; ++mt) {
    Value a = wgmma::accumulatorOf(b, ArrayRef(next).slice(mt * perTile, perTile));
    for (int64_t kt = 0; kt < kChunk / 16; ++kt) {
      // K^T's rows 64 mt..: box mt of K, 16 tokens (rows) per k16.
      Value kT = wgmma::descriptor(b, at(s.offK() + mt * kChunk * 128 + kt * 16 * 128),
                                   kChunk * 128, 1024);
      Value vB = wgmma::descriptor(b, at(s.offV() + kt * 16 * vRow), kChunk * vRow, 8 * vRow,
                                   vRow);
      a = wgmma::mmaShared(b, s.elt, a, kT, vB, s.bv, /*first=*/false, /*transB=*/true,
                           /*transA=*/true);
    }
    acc.push_back(a);
  }
  NVVM::WgmmaGroupSyncAlignedOp::create(b);
  NVVM::WgmmaWaitGroupSyncOp::create(b, uint64_t(0));
  next.clear();
  for (Value a : acc)
    llvm::append_range(next, wgmma::accumulatorValues(b, a, s.bv));
  return next;
}

} // namespace mlir::attn::cuda::linear_chunk
