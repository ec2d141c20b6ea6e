//===- FlashKernelHopper.cpp - TMA + mbarrier + wgmma attention (sm_90a) --===//
//
// FlashAttention-3's structure on the Hopper instructions:
//
//   block = `warps` consumer warps (whole warpgroups, 64 query rows each)
//           + 1 producer warpgroup; grid (ceil(N / BQ), Hq, B). The
//           producer gives its registers to the consumers (setmaxnreg
//           24 / 240): 128-key blocks at D = 128 need ~200 per thread.
//   producer (one lane): TMA copies of the Q tile, then of the K and V
//     tiles of every scheduled key block into a ring of `stages` buffers;
//     each copy completes a "full" mbarrier by its byte count, and a stage
//     is refilled only after its "empty" mbarrier saw every consumer warp.
//   consumers, per key block: wait K full; S = Q K^T by wgmma from shared
//     memory (both operands K-major, 128-byte swizzle); the element rule on
//     partial blocks; online softmax on the accumulator fragments; wait V
//     full; O = alpha O + P V by wgmma with P in registers (the S
//     accumulator layout is the A-register layout) and V from shared
//     memory (MN-major, transposed by the instruction); release the stage.
//
// The copies run ahead of the math by up to `stages` blocks, the two
// consumer warpgroups interleave on the tensor cores, and no block-wide
// barrier is left in the loop. TMA zero-fills rows past N and M, so ragged
// tails need no clamping; partial blocks still mask keys >= M.
//
// Tiles are stored as column boxes of 64 elements (128 B per row, the
// 128-byte swizzle atom is 8 rows = 1024 B). A wgmma descriptor holds the
// start address >> 4, the leading and stride byte offsets >> 4 and the
// swizzle mode (bits 62-63 = 1). K-major operands step 32 B per k16 inside
// a box; MN-major V steps 16 rows (2048 B) per k16, with the next 64
// columns one box (BK x 128 B) away.
//
// MLIR 22's wgmma op has no register-A form, so P V is inline PTX
// (`wgmma.mma_async ... {O}, {P}, descV, p, 1, 1, 1`).
//
//===----------------------------------------------------------------------===//

#include "FlashKernel.h"
#include "WgmmaOps.h"
#include "llvm/ADT/StringExtras.h"

using namespace mlir;
using namespace mlir::attn;
using namespace mlir::attn::cuda;

namespace {
/// Which mbarrier of the layout: Q full and Q empty of both Q buffers, then
/// per stage K full, V full, K empty, V empty.
enum class Bar { QFull = 0, QEmpty = 1, KFull = 2, VFull = 3, KEmpty = 4,
                 VEmpty = 5 };
using wgmma::kBoxCols;
} // namespace

void FlashKernelBuilder::buildHopper(gpu::GPUFuncOp fn, Value smem) {
  // A persistent kernel sets up each tile inside its work loop.
  if (s.persistent)
    setupKernel(fn);
  else
    setup(fn);
  MLIRContext *ctx = b.getContext();
  Type i64 = b.getI64Type();
  unsigned nargs = fn.getNumArguments();
  Value mapQ = fn.getArgument(nargs - 3), mapK = fn.getArgument(nargs - 2),
        mapV = fn.getArgument(nargs - 1);
  const FlashShape::HopperLayout L = s.hopperLayout();
  const int64_t S = s.stages;

  auto k64 = [&](int64_t v) {
    return arith::ConstantOp::create(b, b.getI64IntegerAttr(v)).getResult();
  };
  auto k32 = [&](int64_t v) {
    return arith::ConstantOp::create(b, b.getI32IntegerAttr(v)).getResult();
  };
  auto asI64 = [&](Value x) {
    return arith::IndexCastUIOp::create(b, i64, x).getResult();
  };
  auto asI32 = [&](Value x) {
    return arith::IndexCastUIOp::create(b, i32, x).getResult();
  };
  auto add64 = [&](Value x, Value y) {
    return arith::AddIOp::create(b, x, y).getResult();
  };
  auto mul64 = [&](Value x, int64_t y) {
    return arith::MulIOp::create(b, x, k64(y)).getResult();
  };

  // Shared addresses: the window's base plus byte offsets.
  Value base = asI64(memref::ExtractAlignedPointerAsIndexOp::create(b, smem));
  auto ptr3 = LLVM::LLVMPointerType::get(ctx, 3);
  auto sharedPtr = [&](Value off) {
    return LLVM::IntToPtrOp::create(b, ptr3, add64(base, off)).getResult();
  };
  // `stage`: the ring stage (K/V) or the Q buffer; null for the first.
  auto bar = [&](Bar which, Value stage) {
    int64_t off = L.bars;
    if (which == Bar::QEmpty)
      off += 16;
    else if (which != Bar::QFull)
      off += 32 + 8 * S * (static_cast<int64_t>(which) - 2);
    Value o = k64(off);
    if (stage)
      o = add64(o, mul64(asI64(stage), 8));
    return sharedPtr(o);
  };
  Value ticks = k32(0x989680); // suspend-time hint, ns

  // trace-tiles: stamp `event` of the block's k-th tile (clock64, or the
  // global timer) into shared memory, from thread `who` only (-1: the
  // caller is one thread already). Tiles past the slots share the last.
  enum TraceEvent : int64_t {
    ProducerStart, QIssued, FirstStepIssued, LastStepIssued, ConsumerStart,
    QArrived, FirstScores, LoopDone, LastPVDone, EpilogueDone,
    Group1EpilogueDone, ConsumerStartGlobal, FirstKArrived, Group1Start,
    Group1FirstScores, Group1LoopDone, Steps, TileRow, TileHead, SmId
  };
  // The shared-memory word of event `e` of the block's k-th tile.
  auto traceSlot = [&](Value k, int64_t e) {
    Value slot = add(mul(k, FlashShape::kTraceEvents), e);
    return sharedPtr(add64(k64(L.trace), mul64(asI64(slot), 8)));
  };
  // (Steps, TileRow, TileHead and SmId record `value` instead of a time.)
  auto stamp = [&](TraceEvent event, Value k, int64_t who,
                   Value value = Value()) {
    if (!s.traceTiles)
      return;
    OpBuilder::InsertionGuard g(b);
    if (who >= 0) {
      auto one = scf::IfOp::create(
          b, arith::CmpIOp::create(b, arith::CmpIPredicate::eq, tid, c(who)),
          false);
      b.setInsertionPointToStart(&one.getThenRegion().front());
    }
    Value now = value ? asI64(value)
                : event == ConsumerStartGlobal
                    ? NVVM::GlobalTimerOp::create(b, i64).getResult()
                    : NVVM::Clock64Op::create(b, i64).getResult();
    LLVM::StoreOp::create(
        b, now,
        traceSlot(arith::MinUIOp::create(b, k, c(FlashShape::kTraceTiles - 1)),
                  event));
  };

  // One thread initialises the barriers; everyone sees them after the
  // block barrier (the last one: the roles split below).
  Value c0 = c(0), c1 = c(1);
  {
    auto first = scf::IfOp::create(
        b, arith::CmpIOp::create(b, arith::CmpIPredicate::eq, tid, c0), false);
    OpBuilder::InsertionGuard g(b);
    b.setInsertionPointToStart(&first.getThenRegion().front());
    for (int64_t qb = 0; qb < 2; ++qb) {
      NVVM::MBarrierInitOp::create(b, bar(Bar::QFull, c(qb)), k32(1), Value());
      NVVM::MBarrierInitOp::create(b, bar(Bar::QEmpty, c(qb)), k32(s.warps),
                                   Value());
    }
    for (int64_t st = 0; st < S; ++st) {
      NVVM::MBarrierInitOp::create(b, bar(Bar::KFull, c(st)), k32(1), Value());
      NVVM::MBarrierInitOp::create(b, bar(Bar::VFull, c(st)), k32(1), Value());
      NVVM::MBarrierInitOp::create(b, bar(Bar::KEmpty, c(st)), k32(s.warps),
                                   Value());
      NVVM::MBarrierInitOp::create(b, bar(Bar::VEmpty, c(st)), k32(s.warps),
                                   Value());
    }
  }
  gpu::BarrierOp::create(b);

  // The tiles of this block: its own (grid (tiles, Hq, B)), or for a
  // persistent block the work items w = blockIdx.x, + gridDim.x, ... below
  // tiles x Hq x B, the query tiles of one head consecutive (blocks running
  // at once share that head's K/V in L2) and heaviest first. `body(g, k)`
  // runs one tile, g being the ring steps and k the tiles this block ran
  // before it; it returns g plus the tile's steps.
  // A persistent grid's work items: query tiles x Hq x B.
  auto workItems = [&] {
    return arith::MulIOp::create(
               b,
               arith::MulIOp::create(
                   b, arith::CeilDivUIOp::create(b, N, c(s.bq)), Hq),
               memref::DimOp::create(b, fn.getArgument(0), 0))
        .getResult();
  };
  auto forEachTile = [&](function_ref<Value(Value, Value)> body) {
    if (!s.persistent) {
      body(c0, c0);
      return;
    }
    Value tiles = arith::CeilDivUIOp::create(b, N, c(s.bq));
    Value perBatch = arith::MulIOp::create(b, tiles, Hq);
    Value total = workItems();
    auto loop = scf::ForOp::create(
        b, gpu::BlockIdOp::create(b, gpu::Dimension::x), total,
        gpu::GridDimOp::create(b, gpu::Dimension::x), ValueRange{c0, c0});
    OpBuilder::InsertionGuard g(b);
    b.setInsertionPointToStart(loop.getBody());
    Value w = loop.getInductionVar();
    Value inBatch = arith::RemUIOp::create(b, w, perBatch);
    Value tile = arith::SubIOp::create(
        b, arith::SubIOp::create(b, tiles, c1),
        arith::RemUIOp::create(b, inBatch, tiles));
    setupTile(fn, tile, arith::DivUIOp::create(b, inBatch, tiles),
              arith::DivUIOp::create(b, w, perBatch));
    ValueRange it = loop.getRegionIterArgs();
    Value gNext = body(it[0], it[1]);
    scf::YieldOp::create(b, ValueRange{gNext, add(it[1], 1)});
  };
  // Q buffer k % 2 of a persistent kernel (null: the only one) and its
  // bytes' offset.
  auto qBuffer = [&](Value k) { return s.persistent ? rem(k, 2) : Value(); };
  auto qOffset = [&](Value qb) {
    return qb ? add64(k64(L.q), mul64(asI64(qb), L.qStage)) : k64(L.q);
  };
  // The pass k / 2 over a Q buffer, as a barrier parity.
  auto qPass = [&](Value k) {
    return s.persistent ? asI32(arith::AndIOp::create(b, div(k, 2), c1))
                        : k32(0);
  };

  // Ring step r's stage r % S and pass r / S over the ring: the full
  // barriers' parity (the empty barriers are waited on the one before).
  auto stageOf = [&](Value r) { return rem(r, S); };
  auto parityOf = [&](Value r) {
    return asI32(arith::AndIOp::create(b, div(r, S), c1));
  };

  auto isProducer = arith::CmpIOp::create(b, arith::CmpIPredicate::uge, tid,
                                          c(32 * s.warps));
  auto roles = scf::IfOp::create(b, isProducer, /*withElse=*/true);

  // Registers per thread after the hand-over. The block owns what it got at
  // launch (ptxas gives each thread 64K / (threads x resident blocks),
  // rounded down to a multiple of 8: 168 for 384 threads, 128 for two
  // blocks of 256) and setmaxnreg only moves them
  // between warpgroups; asking for more than that blocks forever. The
  // producer keeps 24 (40 in a persistent kernel: its per-tile bookkeeping
  // spills below that), the consumers share the rest (a multiple of 8, at
  // most 240).
  const int64_t launchRegs = 65536 / (s.threads() * s.ctas) / 8 * 8;
  const int64_t producerRegs = s.persistent ? 40 : 24;
  const int64_t consumerRegs = std::min<int64_t>(
      240, (launchRegs * s.threads() - 128 * producerRegs) / (32 * s.warps) /
               8 * 8);

  // ---- producer: one lane of the producer warpgroup issues every copy ----
  {
    OpBuilder::InsertionGuard g(b);
    b.setInsertionPointToStart(&roles.getThenRegion().front());
    NVVM::SetMaxRegisterOp::create(b, producerRegs,
                                   NVVM::SetMaxRegisterAction::decrease);
    auto lead = scf::IfOp::create(
        b, arith::CmpIOp::create(b, arith::CmpIPredicate::eq, tid,
                                 c(32 * s.warps)),
        false);
    b.setInsertionPointToStart(&lead.getThenRegion().front());
    auto ptr7 = LLVM::LLVMPointerType::get(ctx, 7);
    // rows x width of (b, head) starting at row0 into `dstOff`, box by box.
    auto copy = [&](Value map, Value dstOff, Value row0, Value head,
                    int64_t rows, int64_t width, Value barrier) {
      for (int64_t cb = 0; cb < width / kBoxCols; ++cb) {
        Value dst = LLVM::AddrSpaceCastOp::create(
            b, ptr7, sharedPtr(add64(dstOff, k64(cb * rows * 128))));
        NVVM::CpAsyncBulkTensorGlobalToSharedClusterOp::create(
            b, dst, map,
            ValueRange{k32(cb * kBoxCols), asI32(row0), asI32(head),
                       asI32(bIdx)},
            barrier, ValueRange{}, Value(), Value(), NVVM::TMALoadMode::TILE,
            false, nullptr, Value());
      }
    };
    auto expect = [&](Value barrier, int64_t bytes) {
      NVVM::MBarrierArriveExpectTxOp::create(
          b, Type(), barrier, k32(bytes),
          NVVM::MemScopeKindAttr::get(ctx, NVVM::MemScopeKind::CTA),
          b.getBoolAttr(false), Value());
    };
    // Step t of the tile (ring step r): the K and V copies of its block.
    auto produceStep = [&](Value t, Value r) {
      Value st = stageOf(r);
      Value parity = arith::XOrIOp::create(b, parityOf(r), k32(1));
      Value j0 = mul(sched.block(b, b.getLoc(), t), s.bk);
      Value kFull = bar(Bar::KFull, st), vFull = bar(Bar::VFull, st);
      NVVM::MBarrierTryWaitParityOp::create(b, bar(Bar::KEmpty, st), parity,
                                            ticks);
      expect(kFull, s.bk * s.d * 2);
      copy(mapK, add64(k64(L.k), mul64(asI64(st), L.kStage)), j0, hkv, s.bk,
           s.d, kFull);
      // V's buffer frees later than K's (P V runs after the softmax).
      NVVM::MBarrierTryWaitParityOp::create(b, bar(Bar::VEmpty, st), parity,
                                            ticks);
      expect(vFull, s.bk * s.dv * 2);
      copy(mapV, add64(k64(L.v), mul64(asI64(st), L.vStage)), j0, hkv, s.bk,
           s.dv, vFull);
    };
    forEachTile([&](Value g, Value k) {
      Value qb = qBuffer(k);
      // The first pass over a buffer (or the ring) finds fresh barriers:
      // waiting on the parity before phase 0 returns at once.
      stamp(ProducerStart, k, -1);
      if (s.persistent) // the consumers of tile k - 2 are done with it
        NVVM::MBarrierTryWaitParityOp::create(
            b, bar(Bar::QEmpty, qb),
            arith::XOrIOp::create(b, qPass(k), k32(1)), ticks);
      expect(bar(Bar::QFull, qb), s.bq * s.d * 2);
      copy(mapQ, qOffset(qb), i0, h, s.bq, s.d, bar(Bar::QFull, qb));
      stamp(QIssued, k, -1);
      Value count = sched.count();
      auto loop = scf::ForOp::create(b, c0, count, c1);
      {
        OpBuilder::InsertionGuard g2(b);
        b.setInsertionPointToStart(loop.getBody());
        Value t = loop.getInductionVar();
        produceStep(t, add(g, t));
        if (s.traceTiles) {
          auto firstStep = scf::IfOp::create(
              b, arith::CmpIOp::create(b, arith::CmpIPredicate::eq, t, c0),
              false);
          OpBuilder::InsertionGuard g3(b);
          b.setInsertionPointToStart(&firstStep.getThenRegion().front());
          stamp(FirstStepIssued, k, -1);
        }
      }
      stamp(LastStepIssued, k, -1);
      return add(g, count);
    });
  }

  // ---- consumers ----
  OpBuilder::InsertionGuard g(b);
  b.setInsertionPointToStart(&roles.getElseRegion().front());
  NVVM::SetMaxRegisterOp::create(b, consumerRegs,
                                 NVVM::SetMaxRegisterAction::increase);
  auto descriptor = [&](Value addr, int64_t lbo, int64_t sbo) {
    return wgmma::descriptor(b, addr, lbo, sbo);
  };
  Value wgRow = mul64(asI64(div(warp, 4)), 64 * 128); // this warpgroup's rows
  Value qBase; // this warpgroup's rows of the current tile's Q buffer

  // Lane 0 of each consumer warp marks a buffer as read.
  auto arrive = [&](Value barrier) {
    auto first = scf::IfOp::create(
        b, arith::CmpIOp::create(b, arith::CmpIPredicate::eq, lane, c0), false);
    OpBuilder::InsertionGuard g3(b);
    b.setInsertionPointToStart(&first.getThenRegion().front());
    NVVM::MBarrierArriveOp::create(
        b, Type(), barrier, Value(),
        NVVM::MemScopeKindAttr::get(ctx, NVVM::MemScopeKind::CTA));
  };
  // ... the K or V buffer of ring step t.
  auto release = [&](Bar which, Value t) { arrive(bar(which, stageOf(t))); };
  // Issues S = Q K^T for block t (m64 n(BK) k16 per 16 columns of D) as one
  // wgmma group; the accumulators are valid after a wait_group.
  const int64_t nS = s.bk / 2; // f32 accumulators per thread
  Value traceTile; // the tile a trace stamp inside a step belongs to
  auto issueScores = [&](Value t, bool first = false) {
    Value st = stageOf(t);
    NVVM::MBarrierTryWaitParityOp::create(b, bar(Bar::KFull, st), parityOf(t),
                                          ticks);
    if (first)
      stamp(FirstKArrived, traceTile, 0);
    Value kBase = add64(add64(base, k64(L.k)), mul64(asI64(st), L.kStage));
    Value acc = wgmma::zeroAccumulator(b, s.bk);
    NVVM::WgmmaFenceAlignedOp::create(b);
    for (int64_t kt = 0; kt < s.d / 16; ++kt) {
      int64_t box = kt / 4, inRow = (kt % 4) * 32;
      Value dq = descriptor(add64(qBase, k64(box * s.bq * 128 + inRow)), 16,
                            1024);
      Value dk = descriptor(add64(kBase, k64(box * s.bk * 128 + inRow)), 16,
                            1024);
      acc = wgmma::mmaShared(b, s.elt, acc, dq, dk, s.bk, kt == 0,
                             /*transB=*/false);
    }
    NVVM::WgmmaGroupSyncAlignedOp::create(b);
    return acc;
  };
  auto fenceOperands = [&](SmallVector<Value> &vals) { wgmma::fenceOperands(b, vals); };
  // The scores of block t once its group retired: scaled, masked, and run
  // through the online softmax against `state`.
  auto scoresSoftmax = [&](Value acc, Value t, ValueRange state) {
    SmallVector<Value> raw;
    for (int64_t e = 0; e < nS; ++e)
      raw.push_back(LLVM::ExtractValueOp::create(b, acc, e));
    fenceOperands(raw);
    SmallVector<SmallVector<Value>> Sc(1);
    for (Value x : raw)
      Sc[0].push_back(scaled(x));
    maskScores(Sc, t, mul(sched.block(b, b.getLoc(), t), s.bk));
    return softmax(Sc, state);
  };
  // Issues O += P V for block t (m64 n(Dv) k16 per 16 keys, P from the
  // registers `words`, 4 per k-step) as one wgmma group. O may not be read
  // or written until that group retired.
  auto issuePV = [&](SmallVector<Value> O, ArrayRef<Value> words, Value t) {
    Value st = stageOf(t);
    NVVM::MBarrierTryWaitParityOp::create(b, bar(Bar::VFull, st), parityOf(t),
                                          ticks);
    Value vBase = add64(add64(base, k64(L.v)), mul64(asI64(st), L.vStage));
    NVVM::WgmmaFenceAlignedOp::create(b);
    for (int64_t kt = 0; kt < s.bk / 16; ++kt)
      wgmma::mmaRegisterA(b, s.elt, O, words.slice(4 * kt, 4),
                          descriptor(add64(vBase, k64(kt * 16 * 128)), s.bk * 128, 1024));
    NVVM::WgmmaGroupSyncAlignedOp::create(b);
    return O;
  };
  // P of a softmax as the i32 words of wgmma's A registers.
  auto pWords = [&](const SoftmaxOut &so) {
    SmallVector<Value> words;
    for (auto &frag : so.pA[0])
      for (Value w : frag)
        words.push_back(asWord(w));
    return words;
  };
  const int64_t numWords = s.bk / 4;

  // FlashAttention-3's intra-warpgroup overlap: block t's S = Q K^T and
  // block t-1's P V are in flight together, and block t's softmax runs
  // while P V still occupies the tensor cores.
  //   prologue: S(0); softmax(0)
  //   step t:   issue S(t), issue P(t-1) V(t-1); wait S(t) (K(t) free);
  //             softmax(t); wait P V (V(t-1) free); O *= alpha(t)
  //   tail:     P(last) V(last)
  // Loop state: O, m, l (FlashKernelBuilder's layout), then P(t-1).
  // Ping-pong (FlashAttention-3): the consumer warpgroups take turns issuing
  // their MMAs, so one's softmax runs while another's MMAs hold the tensor
  // cores. Warpgroup g waits on named barrier 1 + g and, once its MMAs are
  // issued, arrives on the barrier of g + 1 (mod the number of groups); the
  // last group hands the first turn to group 0.
  const int64_t groups = s.warps / 4;
  Value group = div(warp, 4);
  Value turnMine = asI32(add(group, 1));
  Value turnNext = asI32(add(rem(add(group, 1), groups), 1));
  Value pairThreads = k32(256);
  auto takeTurn = [&] {
    if (s.pingPong)
      NVVM::BarrierOp::create(b, TypeRange{}, turnMine, pairThreads, {},
                              Value());
  };
  auto endTurn = [&] {
    if (s.pingPong)
      NVVM::BarrierArriveOp::create(b, turnNext, pairThreads);
  };
  if (s.pingPong) {
    auto last = scf::IfOp::create(
        b,
        arith::CmpIOp::create(b, arith::CmpIPredicate::eq, group,
                              c(groups - 1)),
        false);
    OpBuilder::InsertionGuard g2(b);
    b.setInsertionPointToStart(&last.getThenRegion().front());
    NVVM::BarrierArriveOp::create(b, k32(1), pairThreads);
  }
  // One tile: its ring steps are g + t for its steps t (the schedule's).
  forEachTile([&](Value g, Value k) {
    auto ring = [&](Value t) { return add(g, t); };
    Value qb = qBuffer(k);
    qBase = add64(add64(base, qOffset(qb)), wgRow);
    traceTile = k;
    stamp(ConsumerStartGlobal, k, 0);
    stamp(ConsumerStart, k, 0);
    stamp(TileRow, k, 0, add(i0, 1)); // 0 marks a record never written
    stamp(TileHead, k, 0,
          arith::AddIOp::create(b, arith::MulIOp::create(b, bIdx, Hq), h));
    stamp(SmId, k, 0,
          arith::IndexCastUIOp::create(b, b.getIndexType(),
                                       NVVM::SmIdOp::create(b, i32)));
    if (groups > 1)
      stamp(Group1Start, k, 128);
    NVVM::MBarrierTryWaitParityOp::create(b, bar(Bar::QFull, qb), qPass(k),
                                          ticks);
    stamp(QArrived, k, 0);
    SmallVector<Value> init = initialState();
    Value i32zero = k32(0);
    init.append(numWords, i32zero);
    SmallVector<Type> stateTypes;
    for (Value v : init)
      stateTypes.push_back(v.getType());
    Value count = sched.count();
    Value any = arith::CmpIOp::create(b, arith::CmpIPredicate::ugt, count, c0);
    auto pro = scf::IfOp::create(b, stateTypes, any, true);
    {
      OpBuilder::InsertionGuard g2(b);
      b.setInsertionPointToStart(&pro.getThenRegion().front());
      takeTurn();
      Value acc = issueScores(ring(c0), /*first=*/true);
      endTurn();
      NVVM::WgmmaWaitGroupSyncOp::create(b, uint64_t(0));
      release(Bar::KEmpty, ring(c0));
      SoftmaxOut so = scoresSoftmax(acc, c0, init);
      stamp(FirstScores, k, 0);
      if (groups > 1)
        stamp(Group1FirstScores, k, 128);
      SmallVector<Value> out(init.begin(), init.begin() + oSize); // O = 0
      out.append(so.mNew);
      out.append(so.lNew);
      out.append(pWords(so));
      scf::YieldOp::create(b, out);
      b.setInsertionPointToStart(&pro.getElseRegion().front());
      scf::YieldOp::create(b, init);
    }
    auto loop = scf::ForOp::create(b, c1, count, c1, pro.getResults());
    {
      OpBuilder::InsertionGuard g2(b);
      b.setInsertionPointToStart(loop.getBody());
      Value t = loop.getInductionVar();
      ValueRange state = loop.getRegionIterArgs();
      Value prev = arith::SubIOp::create(b, t, c1);
      takeTurn();
      Value acc = issueScores(ring(t));
      SmallVector<Value> O = issuePV(
          SmallVector<Value>(state.take_front(oSize)),
          SmallVector<Value>(state.take_back(numWords)), ring(prev));
      endTurn();
      NVVM::WgmmaWaitGroupSyncOp::create(b, uint64_t(1)); // S(t) retired
      release(Bar::KEmpty, ring(t));
      SoftmaxOut so = scoresSoftmax(acc, t, state);
      NVVM::WgmmaWaitGroupSyncOp::create(b, uint64_t(0)); // P V retired
      fenceOperands(O);
      release(Bar::VEmpty, ring(prev));
      SmallVector<Value> next = rescaled(O, so.alpha);
      next.append(so.mNew);
      next.append(so.lNew);
      next.append(pWords(so));
      scf::YieldOp::create(b, next);
    }
    stamp(LoopDone, k, 0);
    stamp(Steps, k, 0, count);
    if (groups > 1)
      stamp(Group1LoopDone, k, 128);
    // Every S = Q K^T of the tile has retired: its Q buffer may refill.
    if (s.persistent)
      arrive(bar(Bar::QEmpty, qb));
    // The last block's P V.
    SmallVector<Type> oTypes(oSize, f32);
    auto tailPV = scf::IfOp::create(b, oTypes, any, true);
    {
      OpBuilder::InsertionGuard g2(b);
      b.setInsertionPointToStart(&tailPV.getThenRegion().front());
      ValueRange fin = loop.getResults();
      Value last = arith::SubIOp::create(b, count, c1);
      SmallVector<Value> O =
          issuePV(SmallVector<Value>(fin.take_front(oSize)),
                  SmallVector<Value>(fin.take_back(numWords)), ring(last));
      NVVM::WgmmaWaitGroupSyncOp::create(b, uint64_t(0));
      fenceOperands(O);
      if (s.persistent) // the ring goes on into the next tile
        release(Bar::VEmpty, ring(last));
      scf::YieldOp::create(b, O);
      b.setInsertionPointToStart(&tailPV.getElseRegion().front());
      scf::YieldOp::create(b, ValueRange(fin.take_front(oSize)));
    }
    stamp(LastPVDone, k, 0);
    SmallVector<Value> fin(tailPV.getResults());
    for (Value v : loop.getResults().slice(oSize, 4 * MT))
      fin.push_back(v);
    epilogue(fin, fn);
    stamp(EpilogueDone, k, 0);
    if (groups > 1)
      stamp(Group1EpilogueDone, k, 128);
    return add(g, count);
  });
  b.setInsertionPointAfter(roles);
  if (s.traceTiles) {
    // Once every thread of the block is done (the barrier orders their
    // output stores before these), thread 0 writes each of its tiles'
    // records over the first words of that tile's first output row.
    gpu::BarrierOp::create(b);
    Value tilesHere = c1;
    if (s.persistent) {
      // The items w = blockIdx.x, + gridDim.x, ... below the total.
      tilesHere = arith::CeilDivUIOp::create(
          b,
          arith::SubIOp::create(b, workItems(),
                                gpu::BlockIdOp::create(b, gpu::Dimension::x)),
          gpu::GridDimOp::create(b, gpu::Dimension::x));
    }
    auto writer = scf::IfOp::create(
        b, arith::CmpIOp::create(b, arith::CmpIPredicate::eq, tid, c0), false);
    OpBuilder::InsertionGuard g2(b);
    b.setInsertionPointToStart(&writer.getThenRegion().front());
    Value o = fn.getArgument(s.outArg());
    Value oBase = asI64(memref::ExtractAlignedPointerAsIndexOp::create(b, o));
    auto ptr1 = LLVM::LLVMPointerType::get(ctx, 1);
    auto tiles = scf::ForOp::create(
        b, c0, arith::MinUIOp::create(b, tilesHere, c(FlashShape::kTraceTiles)),
        c1);
    b.setInsertionPointToStart(tiles.getBody());
    Value k = tiles.getInductionVar();
    auto word = [&](int64_t e) {
      return LLVM::LoadOp::create(b, i64, traceSlot(k, e)).getResult();
    };
    // Row i0 of (batch, head) = bh: element ((bh N) + i0) Dv.
    Value row = arith::SubIOp::create(b, word(TileRow), k64(1));
    Value n64 = asI64(N);
    Value elem = arith::MulIOp::create(
        b, add64(arith::MulIOp::create(b, word(TileHead), n64), row),
        k64(s.dv));
    Value rowPtr = add64(oBase, mul64(elem, 2));
    for (int64_t e = 0; e < FlashShape::kTraceEvents; ++e)
      LLVM::StoreOp::create(
          b, word(e),
          LLVM::IntToPtrOp::create(b, ptr1, add64(rowPtr, k64(8 * e))),
          /*alignment=*/8);
  }
  gpu::ReturnOp::create(b);
}
