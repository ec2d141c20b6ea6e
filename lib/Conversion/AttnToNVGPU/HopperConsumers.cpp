//===- HopperConsumers.cpp - The Hopper kernel's consumer warpgroups ------===//
//
// Each consumer warpgroup owns 64 query rows of the tile. Per key block:
// S = Q K^T by wgmma from shared memory, the element rule on partial
// blocks, the online softmax on the accumulator fragments, O = alpha O +
// P V by wgmma with P in registers; each K and V buffer is released to
// the producer as soon as its MMAs retired (FlashKernelHopper.cpp has the
// kernel's structure).
//
//===----------------------------------------------------------------------===//

#include "HopperKernel.h"
#include "WgmmaOps.h"

using namespace mlir;
using namespace mlir::attn;
using namespace mlir::attn::cuda;

// Lane 0 of each consumer warp marks a buffer as read.
void HopperKernel::arrive(Value barrier) {
  auto first = scf::IfOp::create(
      b, arith::CmpIOp::create(b, arith::CmpIPredicate::eq, f.lane, c0),
      false);
  OpBuilder::InsertionGuard g(b);
  b.setInsertionPointToStart(&first.getThenRegion().front());
  NVVM::MBarrierArriveOp::create(
      b, Type(), barrier, Value(),
      NVVM::MemScopeKindAttr::get(b.getContext(), NVVM::MemScopeKind::CTA));
}

void HopperKernel::afterGatheredWait() {
  if (s.gatherRows && !s.gatherTma)
    NVVM::FenceProxyOp::create(
        b, NVVM::ProxyKind::async_shared,
        NVVM::SharedSpaceAttr::get(b.getContext(),
                                   NVVM::SharedSpace::shared_cta));
}

// ... the K or V buffer of ring step t.
void HopperKernel::release(HopperBar which, Value t) {
  arrive(bar(which, stageOf(t)));
}

// Issues S = Q K^T for block t (m64 n(BK) k16 per 16 columns of D) as one
// wgmma group; the accumulators are valid after a wait_group.
Value HopperKernel::issueScores(Value t, bool first) {
  Value st = stageOf(t);
  NVVM::MBarrierTryWaitParityOp::create(b, bar(HopperBar::KFull, st),
                                        parityOf(t), ticks);
  afterGatheredWait();
  if (first)
    stamp(FirstKArrived, traceTile, 0);
  Value kBase = add64(add64(base, k64(L.k)), mul64(asI64(st), L.kStage));
  Value acc = wgmma::zeroAccumulator(b, s.bk);
  NVVM::WgmmaFenceAlignedOp::create(b);
  for (int64_t kt = 0; kt < s.d / 16; ++kt) {
    int64_t box = kt / 4, inRow = (kt % 4) * 32;
    Value dq = wgmma::descriptor(
        b, add64(qBase, k64(box * s.bq * 128 + inRow)), 16, 1024);
    Value dk = wgmma::descriptor(
        b, add64(kBase, k64(box * s.bk * 128 + inRow)), 16, 1024);
    acc = wgmma::mmaShared(b, s.elt, acc, dq, dk, s.bk, kt == 0,
                           /*transB=*/false);
  }
  NVVM::WgmmaGroupSyncAlignedOp::create(b);
  return acc;
}

// The scores of block t once its group retired: scaled, masked, and run
// through the online softmax against `state`.
HopperKernel::SoftmaxOut HopperKernel::scoresSoftmax(Value acc, Value t,
                                                     ValueRange state) {
  SmallVector<Value> raw;
  for (int64_t e = 0; e < s.bk / 2; ++e) // f32 accumulators per thread
    raw.push_back(LLVM::ExtractValueOp::create(b, acc, e));
  wgmma::fenceOperands(b, raw);
  SmallVector<SmallVector<Value>> Sc(1);
  for (Value x : raw)
    Sc[0].push_back(f.scaled(x));
  f.maskScores(Sc, t, mul(f.sched.block(b, b.getLoc(), t), s.bk));
  return f.softmax(Sc, state);
}

// Issues O += P V for block t (m64 n(Dv) k16 per 16 keys, P from the
// registers `words`, 4 per k-step) as one wgmma group. O may not be read
// or written until that group retired.
SmallVector<Value> HopperKernel::issuePV(SmallVector<Value> O,
                                         ArrayRef<Value> words, Value t) {
  Value st = stageOf(t);
  NVVM::MBarrierTryWaitParityOp::create(b, bar(HopperBar::VFull, st),
                                        parityOf(t), ticks);
  afterGatheredWait();
  Value vBase = add64(add64(base, k64(L.v)), mul64(asI64(st), L.vStage));
  NVVM::WgmmaFenceAlignedOp::create(b);
  for (int64_t kt = 0; kt < s.bk / 16; ++kt)
    wgmma::mmaRegisterA(
        b, s.elt, O, words.slice(4 * kt, 4),
        wgmma::descriptor(b, add64(vBase, k64(kt * 16 * 128)), s.bk * 128,
                          1024));
  NVVM::WgmmaGroupSyncAlignedOp::create(b);
  return O;
}

// P of a softmax as the i32 words of wgmma's A registers.
SmallVector<Value> HopperKernel::pWords(const SoftmaxOut &so) {
  SmallVector<Value> words;
  for (auto &frag : so.pA[0])
    for (Value w : frag)
      words.push_back(f.asWord(w));
  return words;
}

// Ping-pong (FlashAttention-3): the consumer warpgroups take turns issuing
// their MMAs, so one's softmax runs while another's MMAs hold the tensor
// cores. Warpgroup g waits on named barrier 1 + g and, once its MMAs are
// issued, arrives on the barrier of g + 1 (mod the number of groups); the
// last group hands the first turn to group 0 (consumers()).
void HopperKernel::takeTurn() {
  if (s.pingPong)
    NVVM::BarrierOp::create(b, TypeRange{}, turnMine, pairThreads, {},
                            Value());
}
void HopperKernel::endTurn() {
  if (s.pingPong)
    NVVM::BarrierArriveOp::create(b, turnNext, pairThreads);
}

void HopperKernel::consumers(int64_t regs) {
  NVVM::SetMaxRegisterOp::create(b, regs,
                                 NVVM::SetMaxRegisterAction::increase);
  wgRow = mul64(asI64(div(f.warp, 4)), 64 * 128); // this warpgroup's rows
  Value group = div(f.warp, 4);
  turnMine = asI32(add(group, 1));
  turnNext = asI32(add(rem(add(group, 1), groups), 1));
  pairThreads = k32(256);
  if (s.pingPong) {
    auto last = scf::IfOp::create(
        b,
        arith::CmpIOp::create(b, arith::CmpIPredicate::eq, group,
                              c(groups - 1)),
        false);
    OpBuilder::InsertionGuard g(b);
    b.setInsertionPointToStart(&last.getThenRegion().front());
    NVVM::BarrierArriveOp::create(b, k32(1), pairThreads);
  }
  forEachTile([&](Value g, Value k) { return consumeTile(g, k); });
}

// A tile's consumer chain (consumeTile, at the end, and its parts).
// FlashAttention-3's intra-warpgroup overlap: block t's S = Q K^T and
// block t-1's P V are in flight together, and block t's softmax runs
// while P V still occupies the tensor cores.
//   prologue: S(0); softmax(0)
//   step t:   issue S(t), issue P(t-1) V(t-1); wait S(t) (K(t) free);
//             softmax(t); wait P V (V(t-1) free); O *= alpha(t)
//   tail:     P(last) V(last)
// Loop state: O, m, l (FlashKernelBuilder's layout), then P(t-1).
void HopperKernel::stampTileStart(Value k) {
  stamp(ConsumerStartGlobal, k, 0);
  stamp(ConsumerStart, k, 0);
  stamp(TileRow, k, 0, add(f.i0, 1)); // 0 marks a record never written
  stamp(TileHead, k, 0,
        arith::AddIOp::create(b, arith::MulIOp::create(b, f.bIdx, f.Hq),
                              f.h));
  stamp(SmId, k, 0,
        arith::IndexCastUIOp::create(b, b.getIndexType(),
                                     NVVM::SmIdOp::create(b, f.i32)));
  if (groups > 1)
    stamp(Group1Start, k, 128);
}

// prologue: S(0); softmax(0). O stays 0; P(0) leaves as packed words.
scf::IfOp HopperKernel::firstStep(Value g, Value k, Value any,
                                  ArrayRef<Value> init) {
  SmallVector<Type> stateTypes;
  for (Value v : init)
    stateTypes.push_back(v.getType());
  auto pro = scf::IfOp::create(b, stateTypes, any, true);
  OpBuilder::InsertionGuard g2(b);
  b.setInsertionPointToStart(&pro.getThenRegion().front());
  takeTurn();
  Value acc = issueScores(g, /*first=*/true);
  endTurn();
  NVVM::WgmmaWaitGroupSyncOp::create(b, uint64_t(0));
  release(HopperBar::KEmpty, g);
  SoftmaxOut so = scoresSoftmax(acc, c0, init);
  stamp(FirstScores, k, 0);
  if (groups > 1)
    stamp(Group1FirstScores, k, 128);
  SmallVector<Value> out(init.begin(), init.begin() + f.oSize); // O = 0
  out.append(so.mNew);
  out.append(so.lNew);
  out.append(pWords(so));
  scf::YieldOp::create(b, out);
  b.setInsertionPointToStart(&pro.getElseRegion().front());
  scf::YieldOp::create(b, init);
  return pro;
}

// step t: issue S(t), issue P(t-1) V(t-1); wait S(t) (K(t) free);
// softmax(t); wait P V (V(t-1) free); O *= alpha(t).
scf::ForOp HopperKernel::keySteps(Value g, Value count, ValueRange init) {
  const int64_t oSize = f.oSize, numWords = s.bk / 4;
  auto loop = scf::ForOp::create(b, c1, count, c1, init);
  OpBuilder::InsertionGuard g2(b);
  b.setInsertionPointToStart(loop.getBody());
  Value t = loop.getInductionVar();
  ValueRange state = loop.getRegionIterArgs();
  Value prev = arith::SubIOp::create(b, t, c1);
  takeTurn();
  Value acc = issueScores(add(g, t));
  SmallVector<Value> O = issuePV(
      SmallVector<Value>(state.take_front(oSize)),
      SmallVector<Value>(state.take_back(numWords)), add(g, prev));
  endTurn();
  NVVM::WgmmaWaitGroupSyncOp::create(b, uint64_t(1)); // S(t) retired
  release(HopperBar::KEmpty, add(g, t));
  SoftmaxOut so = scoresSoftmax(acc, t, state);
  NVVM::WgmmaWaitGroupSyncOp::create(b, uint64_t(0)); // P V retired
  wgmma::fenceOperands(b, O);
  release(HopperBar::VEmpty, add(g, prev));
  SmallVector<Value> next = f.rescaled(O, so.alpha);
  next.append(so.mNew);
  next.append(so.lNew);
  next.append(pWords(so));
  scf::YieldOp::create(b, next);
  return loop;
}

// tail: P(last) V(last).
scf::IfOp HopperKernel::lastPV(Value g, Value count, Value any, ValueRange fin) {
  const int64_t oSize = f.oSize, numWords = s.bk / 4;
  SmallVector<Type> oTypes(oSize, f.f32);
  auto tailPV = scf::IfOp::create(b, oTypes, any, true);
  OpBuilder::InsertionGuard g2(b);
  b.setInsertionPointToStart(&tailPV.getThenRegion().front());
  Value last = arith::SubIOp::create(b, count, c1);
  SmallVector<Value> O =
      issuePV(SmallVector<Value>(fin.take_front(oSize)),
              SmallVector<Value>(fin.take_back(numWords)), add(g, last));
  NVVM::WgmmaWaitGroupSyncOp::create(b, uint64_t(0));
  wgmma::fenceOperands(b, O);
  if (s.persistent) // the ring goes on into the next tile
    release(HopperBar::VEmpty, add(g, last));
  scf::YieldOp::create(b, O);
  b.setInsertionPointToStart(&tailPV.getElseRegion().front());
  scf::YieldOp::create(b, ValueRange(fin.take_front(oSize)));
  return tailPV;
}

// One tile: its ring steps are g + t for its steps t (the schedule's).
Value HopperKernel::consumeTile(Value g, Value k) {
  Value qb = qBuffer(k);
  qBase = add64(add64(base, qOffset(qb)), wgRow);
  traceTile = k;
  stampTileStart(k);
  NVVM::MBarrierTryWaitParityOp::create(b, bar(HopperBar::QFull, qb),
                                        qPass(k), ticks);
  afterGatheredWait();
  stamp(QArrived, k, 0);
  SmallVector<Value> init = f.initialState();
  init.append(s.bk / 4, k32(0));
  Value count = f.sched.count();
  Value any = arith::CmpIOp::create(b, arith::CmpIPredicate::ugt, count, c0);
  scf::IfOp pro = firstStep(add(g, c0), k, any, init);
  scf::ForOp loop = keySteps(g, count, pro.getResults());
  stamp(LoopDone, k, 0);
  stamp(Steps, k, 0, count);
  if (groups > 1)
    stamp(Group1LoopDone, k, 128);
  // Every S = Q K^T of the tile has retired: its Q buffer may refill.
  if (s.persistent)
    arrive(bar(HopperBar::QEmpty, qb));
  scf::IfOp tailPV = lastPV(g, count, any, loop.getResults());
  stamp(LastPVDone, k, 0);
  SmallVector<Value> fin(tailPV.getResults());
  for (Value v : loop.getResults().slice(f.oSize, 4 * f.MT))
    fin.push_back(v);
  f.epilogue(fin, fn);
  stamp(EpilogueDone, k, 0);
  if (groups > 1)
    stamp(Group1EpilogueDone, k, 128);
  return add(g, count);
}
