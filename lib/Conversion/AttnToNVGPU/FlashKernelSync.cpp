//===- FlashKernelSync.cpp - the mma.sync attention kernel (sm_80+) -------===//
//
// FlashAttention-2 structure: grid (ceil(N / BQ), Hq, B), `warps` warps per
// block, 16 x m-tiles query rows each.
//
//   Q tile  -> shared (cp.async) -> A fragments in registers (ldmatrix x4),
//   per key block kb of the schedule:
//     K tile -> shared (cp.async); S = Q K^T by mma.sync m16n8k16 (f32 acc)
//     partial blocks only: the element rule; online softmax on the
//     accumulator fragments, exp2 in log2 units;
//     V tile -> shared; O = alpha O + P V with P reused in registers as the
//     A operand (two m16n8 C tiles are one m16n8k16 A tile), V by
//     ldmatrix.trans.
//   With stages=2 the V copy of block t overlaps S = Q K^T, and the K copy
//   of block t+1 overlaps P V (two copies in flight).
//
// mma.sync is emitted as nvvm.mma.sync for both f16 (vector<2xf16>
// operands) and bf16 (i32 operands holding two bf16): nvgpu.mma.sync
// rejects bf16 (shared/notes/tc-probe pitfall 1).
//
//===----------------------------------------------------------------------===//

#include "FlashKernel.h"

using namespace mlir;
using namespace mlir::attn;
using namespace mlir::attn::cuda;

void FlashKernelBuilder::copyTile(Value src, Value head, Value row0,
                                  Value limit, Value dst, int64_t rows,
                                  int64_t width) {
  copyRowsAsync(b, src, bIdx, head, row0, Value(), limit, dst, rows, width,
                tid, s.threads());
}

void FlashKernelBuilder::accumulatePV(
    SmallVector<Value> &O, SmallVector<SmallVector<SmallVector<Value>>> &pA,
    Value sV) {
  // O += P V: one x4 ldmatrix.trans gives the V fragments of two 8-column
  // tiles, each used by every m-tile.
  Value vRow = rem(lane, 16);
  Value vColOff = mul(div(lane, 16), 8);
  for (int64_t dt = 0; dt < numO; dt += 2)
    for (int64_t kt = 0; kt < s.bk / 16; ++kt) {
      SmallVector<Value> vB =
          ldmatrix(sV, add(vRow, kt * 16), add(vColOff, dt * 8), 4, true);
      for (int64_t half = 0; half < 2; ++half)
        for (int64_t mi = 0; mi < MT; ++mi) {
          int64_t base = mi * numO * 4 + (dt + half) * 4;
          SmallVector<Value> acc(O.begin() + base, O.begin() + base + 4);
          acc = mma(pA[mi][kt], ValueRange(vB).slice(2 * half, 2), acc);
          std::copy(acc.begin(), acc.end(), O.begin() + base);
        }
    }
}

FlashKernelBuilder::QRows FlashKernelBuilder::loadQ(Value q, Value sQ) {
  // Q tile -> registers (A fragments, one x4 ldmatrix per 16 columns).
  copyTile(q, h, i0, N, sQ, s.bq, s.d);
  NVVM::CpAsyncCommitGroupOp::create(b);
  NVVM::CpAsyncWaitGroupOp::create(b, 0);
  gpu::BarrierOp::create(b);
  QRows qr;
  qr.wrow = mul(warp, 16 * MT);
  qr.colOff = mul(div(lane, 16), 8);
  qr.frags.resize(MT);
  for (int64_t mi = 0; mi < MT && s.qInRegs; ++mi) {
    Value qRow = add(add(qr.wrow, mi * 16), rem(lane, 16));
    for (int64_t kt = 0; kt < s.d / 16; ++kt)
      qr.frags[mi].push_back(ldmatrix(sQ, qRow, add(qr.colOff, kt * 16), 4, false));
  }
  return qr;
}

SmallVector<SmallVector<Value>> FlashKernelBuilder::scoresQK(const QRows &qr, Value sQ,
                                                             Value sK) {
  // Per m-tile, BK / 8 tiles of m16n8 summed over D / 16 k-steps. Each K
  // fragment feeds every m-tile of the warp; x4 ldmatrix loads two k-steps
  // at once when D is a multiple of 32.
  SmallVector<SmallVector<SmallVector<Value>>> acc(
      MT, SmallVector<SmallVector<Value>>(numS, SmallVector<Value>(4, zero)));
  // x4 K fragments cover two k-steps; with Q re-read from shared memory
  // that would keep two Q fragments live, which D = 128 cannot afford.
  const bool pair = s.d % 32 == 0 && s.qInRegs;
  Value kColOff = pair ? mul(div(lane, 8), 8) : mul(rem(div(lane, 8), 2), 8);
  for (int64_t kt = 0; kt < s.d / 16; kt += pair ? 2 : 1) {
    // This k-step's Q fragments: held, or read now.
    SmallVector<SmallVector<SmallVector<Value>>> qf(MT);
    for (int64_t mi = 0; mi < MT; ++mi)
      for (int64_t half = 0; half < (pair ? 2 : 1); ++half)
        qf[mi].push_back(s.qInRegs
                             ? qr.frags[mi][kt + half]
                             : ldmatrix(sQ, add(add(qr.wrow, mi * 16), rem(lane, 16)),
                                        add(qr.colOff, (kt + half) * 16), 4, false));
    for (int64_t nt = 0; nt < numS; ++nt) {
      SmallVector<Value> kB = ldmatrix(sK, add(rem(lane, 8), nt * 8), add(kColOff, kt * 16),
                                       pair ? 4 : 2, false);
      for (int64_t half = 0; half < (pair ? 2 : 1); ++half)
        for (int64_t mi = 0; mi < MT; ++mi)
          acc[mi][nt] = mma(qf[mi][half], ValueRange(kB).slice(2 * half, 2), acc[mi][nt]);
    }
  }
  SmallVector<SmallVector<Value>> S(MT); // [mi][nt * 4 + e]
  for (int64_t mi = 0; mi < MT; ++mi)
    for (int64_t nt = 0; nt < numS; ++nt)
      for (Value x : acc[mi][nt])
        S[mi].push_back(scaled(x));
  return S;
}

void FlashKernelBuilder::build(gpu::GPUFuncOp fn, Value sQ, Value sK,
                               Value sV) {
  setup(fn);
  Value q = fn.getArgument(0), k = fn.getArgument(1), v = fn.getArgument(2);
  auto commit = [&] { NVVM::CpAsyncCommitGroupOp::create(b); };
  auto waitAll = [&] { NVVM::CpAsyncWaitGroupOp::create(b, 0); };

  QRows qr = loadQ(q, sQ);
  if (s.kInQ())
    gpu::BarrierOp::create(b); // every warp has its Q before K overwrites it

  Value c0 = c(0), c1 = c(1);
  auto loadK = [&](Value t) {
    Value j0 = mul(sched.block(b, b.getLoc(), t), s.bk);
    copyTile(k, hkv, j0, M, sK, s.bk, s.d);
    commit();
  };
  auto loadV = [&](Value t) {
    Value j0 = mul(sched.block(b, b.getLoc(), t), s.bk);
    copyTile(v, hkv, j0, M, sV, s.bk, s.dv);
    commit();
  };
  if (s.stages == 2) {
    Value any =
        arith::CmpIOp::create(b, arith::CmpIPredicate::ugt, sched.count(), c0);
    auto pre = scf::IfOp::create(b, any, false);
    OpBuilder::InsertionGuard g(b);
    b.setInsertionPointToStart(&pre.getThenRegion().front());
    loadK(c0);
  }

  auto loop = scf::ForOp::create(b, c0, sched.count(), c1, initialState());
  {
    OpBuilder::InsertionGuard g(b);
    b.setInsertionPointToStart(loop.getBody());
    Value t = loop.getInductionVar();
    ValueRange st = loop.getRegionIterArgs();
    Value j0 = mul(sched.block(b, b.getLoc(), t), s.bk);
    if (s.stages == 2) {
      waitAll(); // K(t) has landed
      gpu::BarrierOp::create(b);
      loadV(t); // overlaps S = Q K^T
    } else {
      loadK(t);
      loadV(t);
      waitAll();
      gpu::BarrierOp::create(b);
    }

    SmallVector<SmallVector<Value>> S = scoresQK(qr, sQ, sK);
    maskScores(S, t, j0);
    SoftmaxOut so = softmax(S, st);
    SmallVector<Value> O = rescaled(st, so.alpha);

    if (s.stages == 2) {
      waitAll(); // V(t) has landed; every warp is done with sK
      gpu::BarrierOp::create(b);
      Value next = add(t, 1);
      Value more = arith::CmpIOp::create(b, arith::CmpIPredicate::ult, next,
                                         sched.count());
      auto pre = scf::IfOp::create(b, more, false);
      OpBuilder::InsertionGuard g3(b);
      b.setInsertionPointToStart(&pre.getThenRegion().front());
      loadK(next); // overlaps P V
    }
    accumulatePV(O, so.pA, sV);
    if (s.stages == 1)
      gpu::BarrierOp::create(b); // before the next copies overwrite sK, sV
    yieldState(O, so);
  }
  epilogue(loop.getResults(), fn);
  gpu::ReturnOp::create(b);
}
