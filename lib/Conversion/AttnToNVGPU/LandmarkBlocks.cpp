//===- LandmarkBlocks.cpp - landmark retrieval by blocks ------------------===//
//
// attn.landmark with topk(K) after attn-landmark-split (its scratch:
// AttnRouteOps.td) as five kernels of one step. The fused kernel
// (LandmarkTiles.cpp) stages every block that any row of a query tile
// picked, for that tile: rows that pick their own blocks (independent
// random rows: ~136 distinct blocks per tile of 64) cost ~136 stagings
// per tile. Here each picked block is staged once per 64 rows that picked
// it, wherever they are:
//
//   _c1  picks: per query tile, the local block (out normalised, its log2 Z
//        beside the logits) and each row's top-K (the fused kernel's
//        selection, LandmarkSelect.cpp), stored with their logits and
//        counted per block;
//   _c2  a warp per (b, h): the counts' exclusive scan (with one-block
//        groups, of the counts rounded up to whole groups of 64), each
//        block's start, end and padded end, and the counts back to 0 (the
//        table persists between calls: zeroed by the runtime when
//        allocated, so no kernel clears it first);
//   _c3  a thread per pick: its entry (i K + slot and its block, one
//        8-byte pair: two 4-byte scattered stores took 0.029 ms, the pair
//        0.016) at its block's start plus its rank (the count its atomic
//        in _c1 saw);
//   _c4  units: a block per 64 grouped entries; each block of the group
//        staged once by cp.async (with one-block groups, attn-landmark-
//        split's option, a group holds one block's entries: no loop over
//        blocks, no search for the next), S = Q K_b^T, the block's softmax and
//        P V_b on tensor cores for the gathered query rows; each entry's
//        unit written over its query row in shared memory, then stored
//        in 16-byte rows;
//   main a thread per 8 columns of a row: the local part and the K units
//        merged by their log2 logits; lse.
//
// An entry's unit depends on its row only, so the order the scatter's
// atomics give the entries inside a block changes no result.
//
//===----------------------------------------------------------------------===//

#include "GlobalAddress.h"
#include "LandmarkTileBuilder.h"
#include "SelectionKernels.h"
#include "attnir/Dialect/Attn/Utils/BuildHelpers.h"

using namespace mlir;
using namespace mlir::attn;
using namespace mlir::attn::cuda::landmark;

namespace mlir::attn::cuda::landmark {

/// The units kernel's window: Q, one stage (keys, values), then the
/// entries' codes (query row x K + slot) and blocks.
static int64_t unitsRowsOffset(const LandmarkShape &s) { return s.qBytes() + s.stageBytes(); }
static int64_t unitsBytes(const LandmarkShape &s) { return unitsRowsOffset(s) + 2 * kTile * 4; }
/// The picks kernel's window: Q, stage 0 (the local block's keys and
/// values, then landmark chunks), stage 1's keys (landmark chunks); no
/// bitmap. Smaller than the fused kernel's, for more blocks per SM.
static int64_t picksBytes(const LandmarkShape &s) {
  return s.qBytes() + s.stageBytes() + s.offV();
}
// Picks at 4 blocks per SM (128 registers): 1-3 % faster than 5 on the
// H200 (docs/benchmarks/routing.md).
constexpr int64_t kPicksPerSm = 4, kUnitsPerSm = 5;

void LandmarkTileBuilder::buildPicks(Value block, Value thread, Value window) {
  SmallVector<Value> st = startTile(block, thread, window);
  store(st);
  SmallVector<TopList> picks =
      selectTopk(arith::ConstantIntOp::create(b, b.getI1Type(), 0).getResult());
  storePicks(picks);
}

void LandmarkTileBuilder::storePicks(ArrayRef<TopList> picks) {
  // The 4 lanes of a row hold the same list: lane q takes picks q, q + 4,
  // ... All of a lane's atomics go out before any rank is stored (each
  // waited for its own round trip when the stores sat between them: a
  // third of the kernel's stalls).
  Value q = rem(lane, 4), q32 = asI32(q);
  struct Pick {
    Value row, slot, counted, rank;
  };
  SmallVector<Pick> mine;
  for (int64_t half = 0; half < 2; ++half) {
    Value row = add(i0, rowOf(half));
    Value rowLive = ult(row, n);
    for (int64_t p0 = 0; p0 < topk; p0 += 4) {
      // Entry p0 + q of the list, by selects on q.
      Value id = picks[half].ids[p0], val = picks[half].vals[p0];
      for (int64_t d = 1; d < 4 && p0 + d < topk; ++d) {
        Value is = arith::CmpIOp::create(b, arith::CmpIPredicate::eq, q32, ci(d));
        id = sel(is, picks[half].ids[p0 + d], id);
        val = sel(is, picks[half].vals[p0 + d], val);
      }
      Value live = rowLive;
      if (p0 + 4 > topk)
        live = arith::AndIOp::create(b, live, ult(q, c(topk - p0)));
      Value slot = add(q, p0);
      auto ifLive = scf::IfOp::create(b, live, false);
      {
        OpBuilder::InsertionGuard g(b);
        b.setInsertionPointToStart(&ifLive.getThenRegion().front());
        memref::StoreOp::create(b, id, picksBuf(), ValueRange{bi, h, row, slot});
        memref::StoreOp::create(b, val, logitsBuf(), ValueRange{bi, h, row, slot});
      }
      Value counted = arith::AndIOp::create(
          b, live, arith::CmpIOp::create(b, arith::CmpIPredicate::sge, id, ci(0)));
      auto ifCounted = scf::IfOp::create(b, TypeRange{i32()}, counted, true);
      {
        OpBuilder::InsertionGuard g(b);
        b.setInsertionPointToStart(&ifCounted.getElseRegion().front());
        scf::YieldOp::create(b, ValueRange{ci(0)});
        b.setInsertionPointToStart(&ifCounted.getThenRegion().front());
        // The count before this pick is its rank among its block's
        // entries: the scatter then needs no atomics of its own (same-block
        // atomics there serialise: 0.03 -> 0.12 ms when tried). Each
        // block's count has a 128-byte table row of its own: L2 serialises
        // atomics per line, and with 3 ints per row (10 blocks a line) the
        // atomics took a third of this kernel (0.222 -> 0.158 ms).
        Value rank = memref::AtomicRMWOp::create(
            b, arith::AtomicRMWKind::addi, ci(1), tableBuf(),
            ValueRange{bi, h, arith::IndexCastOp::create(b, b.getIndexType(), id), c(0)});
        scf::YieldOp::create(b, ValueRange{rank});
      }
      mine.push_back({row, slot, counted, ifCounted.getResult(0)});
    }
  }
  for (const Pick &pick : mine) {
    auto ifCounted = scf::IfOp::create(b, pick.counted, false);
    OpBuilder::InsertionGuard g(b);
    b.setInsertionPointToStart(&ifCounted.getThenRegion().front());
    memref::StoreOp::create(b, pick.rank, picksBuf(),
                            ValueRange{bi, h, pick.row, add(pick.slot, topk)});
  }
}

// The units kernel's addresses are 32-bit offsets from per-(b, h) bases,
// each one widening multiply (GlobalAddress.h).
Value LandmarkTileBuilder::planeBytes(Value m, Value head, int64_t rowBytes) {
  Location loc = b.getLoc();
  // (b H + head) times the rows of a (b, h) plane (every dim after the
  // first two but the last, whose bytes are rowBytes).
  Value plane = add(arith::MulIOp::create(b, bi, dimOf(b, loc, m, 1)), head);
  auto rank = cast<MemRefType>(m.getType()).getRank();
  for (int64_t d = 2; d + 1 < rank; ++d)
    plane = arith::MulIOp::create(b, plane, dimOf(b, loc, m, d));
  return globalBytes(b, m, arith::MulIOp::create(b, zext64(b, plane),
                                                 arith::ConstantIntOp::create(b, b.getI64Type(), rowBytes)));
}

Value LandmarkTileBuilder::entryWord(Value at32, int64_t word) {
  return LLVM::LoadOp::create(b, i32(), rowBytesPtr(b, entries, at32, 8, word ? ci(4 * word) : Value()));
}

Value LandmarkTileBuilder::loadEntry(Value p0, Value last32) {
  // Positions past the list's end read its last slot (every thread loads,
  // so the load is not behind a branch).
  Value at = arith::MinUIOp::create(b, asI32(add(p0, tid)), last32);
  return LLVM::LoadOp::create(b, VectorType::get({2}, i32()), rowBytesPtr(b, entries, at, 8),
                              /*alignment=*/8);
}

void LandmarkTileBuilder::storeEntry(Value pair, Value p0, Value total, Value rowsOf) {
  auto ifMine = scf::IfOp::create(b, ult(tid, c(kTile)), false);
  OpBuilder::InsertionGuard g(b);
  b.setInsertionPointToStart(&ifMine.getThenRegion().front());
  Value code = vector::ExtractOp::create(b, pair, ArrayRef<int64_t>{0});
  Value blk = vector::ExtractOp::create(b, pair, ArrayRef<int64_t>{1});
  memref::StoreOp::create(b, code, rowsOf, ValueRange{c(0), tid});
  // Past the group's end: block -1 (no block's unit is stored for it).
  memref::StoreOp::create(b, sel(ult(add(p0, tid), total), blk, ci(-1)), rowsOf,
                          ValueRange{c(1), tid});
}

// Copy idx = tid + t of the 64 rows x (D / 8) chunks takes row idx / chunks.
SmallVector<Value> LandmarkTileBuilder::gatherCodes(Value p0, Value last32) {
  int64_t chunks = s.d / 8, copies = kTile * chunks;
  Value p032 = asI32(p0);
  SmallVector<Value> codes;
  for (int64_t t = 0; t < copies; t += kThreads) {
    Value r = asI32(add(div(tid, chunks), t / chunks));
    codes.push_back(
        entryWord(arith::MinUIOp::create(b, arith::AddIOp::create(b, p032, r), last32), 0));
  }
  return codes;
}

void LandmarkTileBuilder::copyRows32(Value base, int64_t width, int64_t pitch, Value dst,
                                     function_ref<Value(int64_t)> rowOfCopy,
                                     NVVM::LoadCacheModifierKind cache) {
  auto ptr3 = LLVM::LLVMPointerType::get(b.getContext(), 3);
  int64_t chunks = width / 8, copies = kTile * chunks;
  Value chunk = rem(tid, chunks);
  Value src = LLVM::GEPOp::create(b, base.getType(), b.getI8Type(), base,
                                  ValueRange{zext64(b, mul(chunk, 16))});
  Value dst0 = add(dst, add(mul(div(tid, chunks), pitch * 2), mul(chunk, 16)));
  for (int64_t t = 0; t < copies; t += kThreads) {
    Value row = rowOfCopy(t);
    Value to = LLVM::IntToPtrOp::create(b, ptr3, zext64(b, add(dst0, (t / chunks) * pitch * 2)));
    NVVM::CpAsyncOp::create(b, to, rowBytesPtr(b, src, row, width * 2), 16, cache, Value());
  }
}

void LandmarkTileBuilder::gatherQueryRows(ArrayRef<Value> codes) {
  // A code past the list's end is stale, so its row is clamped into q (its
  // unit is never stored).
  Value lastRow = asI32(sub(n, 1));
  copyRows32(planeBytes(q, h, s.d * 2), s.d, s.padD(), smemBase, [&](int64_t t) -> Value {
    Value code = codes[t / kThreads];
    return arith::MinUIOp::create(b, arith::DivUIOp::create(b, code, ci(topk)), lastRow);
  }, NVVM::LoadCacheModifierKind::CG);
}

void LandmarkTileBuilder::stageBlockKV(Value beta) {
  // Rows past N read row N - 1; their scores are never kept (a block's
  // rows past N belong to no entry's block).
  Value lastRow = asI32(sub(n, 1));
  auto stage = [&](Value base, int64_t width, int64_t pitch, int64_t offset) {
    int64_t chunks = width / 8;
    Value r0 = arith::AddIOp::create(b, asI32(mul(beta, kTile)), asI32(div(tid, chunks)));
    copyRows32(base, width, pitch, add(smemBase, c(offset)), [&](int64_t t) -> Value {
      return arith::MinUIOp::create(b, arith::AddIOp::create(b, r0, ci(t / chunks)), lastRow);
    }, NVVM::LoadCacheModifierKind::CA);
  };
  stage(kPlane, s.d, s.padD(), s.qBytes());
  stage(vPlane, s.dv, s.padV(), s.qBytes() + s.offV());
}

void LandmarkTileBuilder::unitsOfBlock(Value beta, Value stage, Value rowsOf,
                                       ArrayRef<Value> blkOf) {
  Value beta32 = asI32(beta);
  Value r[2], mine[2];
  for (int64_t half = 0; half < 2; ++half) {
    r[half] = rowOf(half);
    mine[half] = arith::CmpIOp::create(b, arith::CmpIPredicate::eq, blkOf[half], beta32);
  }
  // A warp none of whose rows belong to the block skips it (uniform).
  Value ballot = NVVM::VoteSyncOp::create(
      b, i32(), ci(-1), arith::OrIOp::create(b, mine[0], mine[1]),
      NVVM::VoteSyncKindAttr::get(b.getContext(), NVVM::VoteSyncKind::ballot));
  auto ifAny = scf::IfOp::create(
      b, arith::CmpIOp::create(b, arith::CmpIPredicate::ne, ballot, ci(0)), false);
  OpBuilder::InsertionGuard g(b);
  b.setInsertionPointToStart(&ifAny.getThenRegion().front());
  Value sQ = sharedView(smem, c(0), {kTile, s.padD()}, s.elt);
  qA.clear();
  for (int64_t kt = 0; kt < s.d / 16; ++kt)
    qA.push_back(mf.ldmatrix(sQ, add(mul(warp, 16), rem(lane, 16)),
                             add(mul(div(lane, 16), 8), kt * 16), 4, false));
  SmallVector<SmallVector<Value>> S = scores(keysOf(stage), 0, kTile / 8);
  auto [mx, sum] = softmax(S);
  (void)mx;
  SmallVector<Value> U = timesValues(S, valuesOf(stage));
  auto pairTy = VectorType::get({2}, b.getF32Type());
  auto pairOf = [&](int64_t dt, int64_t half, Value inv) {
    Value pair = vector::FromElementsOp::create(
        b, pairTy,
        ValueRange{fmul(U[dt * 4 + 2 * half], inv), fmul(U[dt * 4 + 2 * half + 1], inv)});
    return arith::TruncFOp::create(b, VectorType::get({2}, s.elt), pair);
  };
  // A unit's row of the units buffer: code = query row x K + slot.
  auto unitAt = [&](Value code, Value col) {
    return rowBytesPtr(b, unitsBase, code, s.dv * 2, asI32(mul(col, 2)));
  };
  if (s.dv > s.padD()) {
    // Rows wider than the query rows: 4-byte stores straight to global.
    for (int64_t half = 0; half < 2; ++half) {
      auto ifMine = scf::IfOp::create(b, mine[half], false);
      OpBuilder::InsertionGuard g2(b);
      b.setInsertionPointToStart(&ifMine.getThenRegion().front());
      Value code = memref::LoadOp::create(b, rowsOf, ValueRange{c(0), r[half]});
      Value inv = arith::DivFOp::create(b, cf(1.0), sum[half]);
      for (int64_t dt = 0; dt < s.dv / 8; ++dt)
        LLVM::StoreOp::create(b, pairOf(dt, half, inv), unitAt(code, colOf(dt, 0)),
                              /*alignment=*/4);
    }
    return;
  }
  // Each finished entry's unit replaces its query row in shared memory: a
  // warp's ldmatrix reads only its own 16 rows, and a row matters only for
  // its own block (later blocks compute it and drop it; tensor-core rows do
  // not mix). Then 16-byte rows to global (4-byte scattered stores kept
  // the L1 busy). The warp's ldmatrix of those rows is behind it (the sync
  // says so to racecheck too).
  NVVM::SyncWarpOp::create(b, ci(-1));
  for (int64_t half = 0; half < 2; ++half) {
    auto ifMine = scf::IfOp::create(b, mine[half], false);
    OpBuilder::InsertionGuard g2(b);
    b.setInsertionPointToStart(&ifMine.getThenRegion().front());
    Value inv = arith::DivFOp::create(b, cf(1.0), sum[half]);
    for (int64_t dt = 0; dt < s.dv / 8; ++dt)
      vector::StoreOp::create(b, pairOf(dt, half, inv), sQ, ValueRange{r[half], colOf(dt, 0)})
          .setAlignment(uint64_t(4));
  }
  NVVM::SyncWarpOp::create(b, ci(-1));
  int64_t perRow = s.dv / 8, copies = 16 * perRow;
  auto vecTy = VectorType::get({8}, s.elt);
  for (int64_t t = 0; t < copies; t += 32) {
    Value idx = add(lane, t);
    Value rr = add(mul(warp, 16), div(idx, perRow)), col = mul(rem(idx, perRow), 8);
    Value blk = memref::LoadOp::create(b, rowsOf, ValueRange{c(1), rr});
    Value cond = arith::CmpIOp::create(b, arith::CmpIPredicate::eq, blk, beta32);
    if (copies % 32)
      cond = arith::AndIOp::create(b, cond, ult(idx, c(copies)));
    auto ifMine = scf::IfOp::create(b, cond, false);
    OpBuilder::InsertionGuard g2(b);
    b.setInsertionPointToStart(&ifMine.getThenRegion().front());
    Value code = memref::LoadOp::create(b, rowsOf, ValueRange{c(0), rr});
    Value x = vector::LoadOp::create(b, vecTy, sQ, ValueRange{rr, col});
    cast<vector::LoadOp>(x.getDefiningOp()).setAlignment(uint64_t(16));
    LLVM::StoreOp::create(b, x, unitAt(code, col), /*alignment=*/16);
  }
}

void LandmarkTileBuilder::buildUnits(Value block, Value thread, Value window) {
  q = arg(op.getQ()), k = arg(op.getK()), v = arg(op.getV()), lk = arg(op.getLandmarks());
  tid = thread, smem = window, lane = rem(tid, 32), warp = div(tid, 32);
  Location loc = b.getLoc();
  Value table = tableBuf();
  int64_t perRow = entrySlotsPerRow(op);
  bool oneBlock = perRow == topk + 1;
  Value nB = dimOf(b, loc, q, 0), heads = dimOf(b, loc, q, 1);
  n = dimOf(b, loc, q, 2), nb = dimOf(b, loc, table, 2);
  // block -> (b, h, group of 64 entry slots): the grid has ceil(N / 64)
  // perRow groups per (b, h), the entries' slots.
  Value slots = mul(arith::CeilDivUIOp::create(b, n, c(kTile)), perRow);
  SmallVector<Value> at = unflattenIndex(b, loc, block, {heads, slots});
  bi = at[0], h = at[1];
  Value group = at[2];
  auto ifIn = scf::IfOp::create(b, ult(bi, nB), /*withElse=*/false);
  b.setInsertionPointToStart(&ifIn.getThenRegion().front());
  kvHead = arith::DivUIOp::create(b, h, arith::DivUIOp::create(b, heads, dimOf(b, loc, k, 1)));
  auto index = [&](Value x) { return arith::IndexCastOp::create(b, b.getIndexType(), x); };
  smemBase = memref::ExtractAlignedPointerAsIndexOp::create(b, smem);
  entries = planeBytes(entriesBuf(), h, 8 * perRow);
  unitsBase = planeBytes(unitsBuf(), h, s.dv * 2);
  // Everything a group starts from is read at once: the slots in use
  // (column 2 of the table's last block, its end; 3, its padded end, with
  // one-block groups), the first entry's block, the
  // codes of the rows each thread gathers and the entries themselves (the
  // group's size is known only with the slots in use, so nothing waits on
  // it; it used to gate the first block's read, a third round trip).
  Value used =
      index(memref::LoadOp::create(b, table, ValueRange{bi, h, sub(nb, 1), c(oneBlock ? 3 : 2)}));
  Value p0 = mul(group, kTile);
  Value last32 = asI32(sub(mul(n, perRow), 1));
  // One stage: a group of 64 entries holds one block (one-block groups) or
  // mostly one or two, and a smaller window keeps more blocks per SM (the
  // kernel is latency bound).
  Value rowsOf = sharedView(smem, c(unitsRowsOffset(s)), {2, kTile}, i32());
  Value first32 = entryWord(arith::MinUIOp::create(b, asI32(p0), last32), 1);
  // A stale block id (an empty group) is clamped into the blocks.
  Value first = index(arith::MinUIOp::create(b, first32, asI32(sub(nb, 1))));
  // A block's keys and values by cp.async from per-(b, kv head) bases in
  // 32-bit row arithmetic.
  kPlane = planeBytes(k, kvHead, s.d * 2), vPlane = planeBytes(v, kvHead, s.dv * 2);
  SmallVector<Value> codes = gatherCodes(p0, last32);
  Value pair = loadEntry(p0, last32);
  if (oneBlock)
    unitsOfGroup(first, p0, used, codes, pair, rowsOf);
  else
    unitsOfGroups(first, p0, used, codes, pair, rowsOf);
}

SmallVector<Value> LandmarkTileBuilder::blocksOfRows(Value rowsOf) {
  // The blocks of a thread's two accumulator rows, in registers for the
  // whole group.
  SmallVector<Value> blkOf;
  for (int64_t half = 0; half < 2; ++half)
    blkOf.push_back(memref::LoadOp::create(b, rowsOf, ValueRange{c(1), rowOf(half)}));
  return blkOf;
}

void LandmarkTileBuilder::unitsOfGroup(Value beta, Value p0, Value used, ArrayRef<Value> codes,
                                       Value pair, Value rowsOf) {
  // A group past the slots in use has no entries (about a fifth of the
  // grid, which is sized for the most padding).
  auto ifUsed = scf::IfOp::create(b, ult(p0, used), /*withElse=*/false);
  OpBuilder::InsertionGuard g(b);
  b.setInsertionPointToStart(&ifUsed.getThenRegion().front());
  // The block's end: the group's slots past it are padding (stale pairs).
  Value end = arith::IndexCastOp::create(
      b, b.getIndexType(), memref::LoadOp::create(b, tableBuf(), ValueRange{bi, h, beta, c(2)}));
  stageBlockKV(beta);
  gatherQueryRows(codes);
  storeEntry(pair, p0, end, rowsOf);
  NVVM::CpAsyncCommitGroupOp::create(b);
  NVVM::CpAsyncWaitGroupOp::create(b, 0);
  gpu::BarrierOp::create(b);
  unitsOfBlock(beta, c(0), rowsOf, blocksOfRows(rowsOf));
}

void LandmarkTileBuilder::unitsOfGroups(Value first, Value p0, Value total,
                                        ArrayRef<Value> codes, Value pair, Value rowsOf) {
  Location loc = b.getLoc();
  stageBlockKV(first);
  gatherQueryRows(codes);
  storeEntry(pair, p0, total, rowsOf);
  gpu::BarrierOp::create(b);
  SmallVector<Value> blkOf = blocksOfRows(rowsOf);
  // The group's blocks in ascending order: the first entry's, then the
  // least block above the current one among the group's entries.
  auto next = [&](Value beta) -> Value {
    Value beta32 = asI32(beta), none = ci(INT32_MAX);
    auto above = [&](Value x) {
      return sel(arith::CmpIOp::create(b, arith::CmpIPredicate::sgt, x, beta32), x, none);
    };
    auto blkAt = [&](Value r) { return memref::LoadOp::create(b, rowsOf, ValueRange{c(1), r}); };
    Value m = arith::MinSIOp::create(b, above(blkAt(lane)), above(blkAt(add(lane, 32))));
    m = warpReduce(b, b.getLoc(), m,
                   [&](Value x, Value y) { return arith::MinSIOp::create(b, x, y).getResult(); });
    return sel(arith::CmpIOp::create(b, arith::CmpIPredicate::eq, m, none), nb,
               arith::IndexCastOp::create(b, b.getIndexType(), m));
  };
  Type idx = b.getIndexType();
  // An empty group (past the list's end) visits no block.
  Value start = sel(ult(p0, total), first, nb);
  auto loop = scf::WhileOp::create(b, TypeRange{idx}, ValueRange{start});
  {
    OpBuilder::InsertionGuard g(b);
    Block *before = b.createBlock(&loop.getBefore(), {}, {idx}, {loc});
    scf::ConditionOp::create(b, ult(before->getArgument(0), nb), before->getArguments());
    Block *after = b.createBlock(&loop.getAfter(), {}, {idx}, {loc});
    // Block beta's copies (with the gathered rows for the first) are in
    // flight: wait, compute, then stage the next block.
    Value beta = after->getArgument(0);
    NVVM::CpAsyncCommitGroupOp::create(b);
    NVVM::CpAsyncWaitGroupOp::create(b, 0);
    gpu::BarrierOp::create(b);
    unitsOfBlock(beta, c(0), rowsOf, blkOf);
    gpu::BarrierOp::create(b); // every warp is done with the stage
    Value nxt = next(beta);
    auto ifMore = scf::IfOp::create(b, ult(nxt, nb), /*withElse=*/false);
    {
      OpBuilder::InsertionGuard g2(b);
      b.setInsertionPointToStart(&ifMore.getThenRegion().front());
      stageBlockKV(nxt);
    }
    scf::YieldOp::create(b, ValueRange{nxt});
  }
  // An empty group's copies are still in flight: none outlives the block.
  NVVM::CpAsyncCommitGroupOp::create(b);
  NVVM::CpAsyncWaitGroupOp::create(b, 0);
}

} // namespace mlir::attn::cuda::landmark

namespace {

/// A kernel of a thread per element of `values[gridArg]` (its first `dims`
/// dims, `lanes` threads each); `body` gets the element's indices.
LogicalResult elementKernel(OpBuilder &gb, func::FuncOp fn, LandmarkOp op,
                            ArrayRef<Value> values, StringRef name, unsigned gridArg,
                            unsigned dims, int64_t threads, int64_t lanes,
                            function_ref<void(ImplicitLocOpBuilder &, ArrayRef<Value>,
                                              ValueRange, Value)>
                                body) {
  auto kfn = cuda::createStepKernel(gb, fn, values, name, gridArg, dims, threads, lanes);
  OpBuilder ob(gb.getContext());
  ob.setInsertionPointToStart(&kfn.getBody().front());
  ImplicitLocOpBuilder b(op.getLoc(), ob);
  Value lane;
  SmallVector<Value> at =
      cuda::enterStepItem(b, kfn.getArgument(gridArg), dims, threads, lanes, lane);
  SmallVector<Value> args(kfn.getArguments());
  body(b, args, at, lane);
  cuda::endKernel(b, kfn);
  return success();
}

Value ci32(ImplicitLocOpBuilder &b, int64_t v) {
  return arith::ConstantIntOp::create(b, b.getI32Type(), v);
}

/// Row (b, h) = `at` of the table by one warp: each block's start (an
/// exclusive scan of the counts, with `pad` rounded up to whole groups of
/// 64 so that a units block's group holds one block's entries), end and
/// padded end, and its count back to 0. A lane takes
/// 4 consecutive blocks per step, their 4 loads issued together (one load
/// per lane per step left the warp waiting on 16 round trips at 512
/// blocks).
void scanCounts(ImplicitLocOpBuilder &b, Value table, ValueRange at, Value lane, bool pad) {
  constexpr int64_t kPerLane = 4;
  Location loc = b.getLoc();
  auto cx = [&](int64_t v) { return cIdx(b, loc, v); };
  Value nb = dimOf(b, loc, table, 2);
  Value lane32 = arith::IndexCastOp::create(b, b.getI32Type(), lane);
  auto loop = scf::ForOp::create(b, cx(0), nb, cx(32 * kPerLane), ValueRange{ci32(b, 0)});
  OpBuilder::InsertionGuard g(b);
  b.setInsertionPointToStart(loop.getBody());
  Value first = arith::AddIOp::create(b, loop.getInductionVar(),
                                      arith::MulIOp::create(b, lane, cx(kPerLane)));
  Value last = arith::SubIOp::create(b, nb, cx(1));
  SmallVector<Value> j(kPerLane), in(kPerLane), cnt(kPerLane);
  for (int64_t u = 0; u < kPerLane; ++u) {
    j[u] = arith::AddIOp::create(b, first, cx(u));
    in[u] = arith::CmpIOp::create(b, arith::CmpIPredicate::ult, j[u], nb);
    Value x = memref::LoadOp::create(
        b, table, ValueRange{at[0], at[1], arith::MinUIOp::create(b, j[u], last), cx(0)});
    cnt[u] = arith::SelectOp::create(b, in[u], x, ci32(b, 0));
  }
  SmallVector<Value> before(kPerLane), padded(kPerLane); // the lane's slots before block u
  Value sum = ci32(b, 0);
  for (int64_t u = 0; u < kPerLane; ++u) {
    before[u] = sum;
    padded[u] = pad ? arith::AndIOp::create(b, arith::AddIOp::create(b, cnt[u], ci32(b, kTile - 1)),
                                            ci32(b, -kTile))
                    : cnt[u];
    sum = arith::AddIOp::create(b, sum, padded[u]);
  }
  Value inc = cuda::warpInclusiveScan(b, loc, sum, lane32, [&](Value x, Value y) {
    return arith::AddIOp::create(b, x, y).getResult();
  });
  Value carry = loop.getRegionIterArgs()[0];
  Value laneStart = arith::AddIOp::create(b, carry, arith::SubIOp::create(b, inc, sum));
  for (int64_t u = 0; u < kPerLane; ++u) {
    auto ifIn = scf::IfOp::create(b, in[u], false);
    OpBuilder::InsertionGuard g2(b);
    b.setInsertionPointToStart(&ifIn.getThenRegion().front());
    Value start = arith::AddIOp::create(b, laneStart, before[u]);
    memref::StoreOp::create(b, ci32(b, 0), table, ValueRange{at[0], at[1], j[u], cx(0)});
    memref::StoreOp::create(b, start, table, ValueRange{at[0], at[1], j[u], cx(1)});
    memref::StoreOp::create(b, arith::AddIOp::create(b, start, cnt[u]), table,
                            ValueRange{at[0], at[1], j[u], cx(2)});
    if (pad)
      memref::StoreOp::create(b, arith::AddIOp::create(b, start, padded[u]), table,
                              ValueRange{at[0], at[1], j[u], cx(3)});
  }
  Value all =
      gpu::ShuffleOp::create(b, inc, 31, 32, gpu::ShuffleMode::IDX).getShuffleResult();
  scf::YieldOp::create(b, ValueRange{arith::AddIOp::create(b, carry, all)});
}

/// Where the landmark kernels find their buffers among the op's values.
struct LandmarkArgs {
  unsigned out, lse, picks, logits, units, table, entries;
};

/// _c3's thread for (b, h, row, slot): the pick's entry (code, block) at
/// its block's start plus its rank (the entries' rows hold perRow pairs).
void scatterEntry(ImplicitLocOpBuilder &b, ArrayRef<Value> a, ValueRange at,
                  const LandmarkArgs &args, int64_t K, int64_t perRow) {
  Location loc = b.getLoc();
  Value kk = cIdx(b, loc, K);
  // The pick and its rank together (a rank nobody stored is
  // never used), then its block's start.
  Value id = memref::LoadOp::create(b, a[args.picks], at);
  Value rank = memref::LoadOp::create(
      b, a[args.picks],
      ValueRange{at[0], at[1], at[2], arith::AddIOp::create(b, at[3], kk)});
  auto ifPicked = scf::IfOp::create(
      b, arith::CmpIOp::create(b, arith::CmpIPredicate::sge, id, ci32(b, 0)), false);
  OpBuilder::InsertionGuard g(b);
  b.setInsertionPointToStart(&ifPicked.getThenRegion().front());
  Value start = memref::LoadOp::create(
      b, a[args.table],
      ValueRange{at[0], at[1], arith::IndexCastOp::create(b, b.getIndexType(), id),
                 cIdx(b, loc, 1)});
  Value p = arith::IndexCastOp::create(b, b.getIndexType(),
                                       arith::AddIOp::create(b, start, rank));
  Value code = arith::AddIOp::create(b, arith::MulIOp::create(b, at[2], kk), at[3]);
  Value slots = cIdx(b, loc, perRow);
  Value r = arith::DivUIOp::create(b, p, slots), e = arith::RemUIOp::create(b, p, slots);
  Value pair = vector::FromElementsOp::create(
      b, VectorType::get({2}, b.getI32Type()),
      ValueRange{arith::IndexCastOp::create(b, b.getI32Type(), code), id});
  vector::StoreOp::create(b, pair, a[args.entries],
                          ValueRange{at[0], at[1], r,
                                     arith::MulIOp::create(b, e, cIdx(b, loc, 2))})
      .setAlignment(uint64_t(8));
}

/// The merge's thread for 8 columns of (b, h, row): the local part and the
/// row's units weighted by their landmark logits, then the lse.
void mergeRow(ImplicitLocOpBuilder &b, ArrayRef<Value> a, ValueRange row, Value lane,
              const LandmarkArgs &args, int64_t K, const LandmarkShape &s, int64_t width) {
  Location loc = b.getLoc();
  auto f = [&](double x) { return cF32(b, loc, x); };
  auto rowAt = [&](int64_t p) {
    SmallVector<Value> ix(row);
    ix.push_back(cIdx(b, loc, p));
    return ix;
  };
  Value col = arith::MulIOp::create(b, lane, cIdx(b, loc, width));
  auto vecF32 = VectorType::get({width}, b.getF32Type());
  auto vecElt = VectorType::get({width}, s.elt);
  auto load8 = [&](Value buf, SmallVector<Value> ix) -> Value {
    ix.push_back(col);
    auto load = vector::LoadOp::create(b, vecElt, buf, ix);
    load.setAlignment(uint64_t(16)); // Dv % 16 == 0: whole 16-byte pieces
    return arith::ExtFOp::create(b, vecF32, load.getResult());
  };
  Value m0 = memref::LoadOp::create(b, a[args.logits], rowAt(K));
  SmallVector<Value> w(K), live(K);
  Value mx = m0;
  for (int64_t p = 0; p < K; ++p) {
    w[p] = memref::LoadOp::create(b, a[args.logits], rowAt(p));
    live[p] = arith::CmpIOp::create(b, arith::CmpIPredicate::sge,
                                    memref::LoadOp::create(b, a[args.picks], rowAt(p)),
                                    ci32(b, 0));
    mx = arith::SelectOp::create(b, live[p], arith::MaximumFOp::create(b, mx, w[p]), mx);
  }
  Value z = math::Exp2Op::create(b, arith::SubFOp::create(b, m0, mx));
  Value acc = arith::MulFOp::create(b, vector::BroadcastOp::create(b, vecF32, z),
                                    load8(a[args.out], SmallVector<Value>(row)));
  // Every slot's unit loaded at once (in bounds whether or not a
  // pick wrote it; loads under a branch per slot went out one round
  // trip after another), then a unit nobody wrote is dropped by a
  // select (its bits may be anything, NaN included).
  SmallVector<Value> units(K);
  for (int64_t p = 0; p < K; ++p)
    units[p] = load8(a[args.units], rowAt(p));
  Value zeros = arith::ConstantOp::create(b, vecF32, b.getZeroAttr(vecF32));
  for (int64_t p = 0; p < K; ++p) {
    Value e = arith::SelectOp::create(
        b, live[p], math::Exp2Op::create(b, arith::SubFOp::create(b, w[p], mx)), f(0.0));
    Value u = arith::SelectOp::create(b, live[p], units[p], zeros);
    acc = math::FmaOp::create(b, vector::BroadcastOp::create(b, vecF32, e), u, acc);
    z = arith::AddFOp::create(b, z, e);
  }
  Value o = arith::DivFOp::create(b, acc, vector::BroadcastOp::create(b, vecF32, z));
  SmallVector<Value> ix(row);
  ix.push_back(col);
  vector::StoreOp::create(b, arith::TruncFOp::create(b, vecElt, o), a[args.out], ix)
      .setAlignment(uint64_t(16));
  auto ifFirst = scf::IfOp::create(
      b, arith::CmpIOp::create(b, arith::CmpIPredicate::eq, lane, cIdx(b, loc, 0)), false);
  OpBuilder::InsertionGuard g(b);
  b.setInsertionPointToStart(&ifFirst.getThenRegion().front());
  Value lse = arith::MulFOp::create(
      b, arith::AddFOp::create(b, mx, math::Log2Op::create(b, z)), f(kLn2));
  memref::StoreOp::create(b, lse, a[args.lse], row);
}

} // namespace

LogicalResult mlir::attn::cuda::buildLandmarkBlocks(OpBuilder &gb, func::FuncOp fn,
                                                    LandmarkOp op, StringRef name) {
  LandmarkShape s{op.getQ().getType().getDimSize(3), op.getV().getType().getDimSize(3),
                  op.getQ().getType().getElementType()};
  SmallVector<Value> values(op->getOperands());
  llvm::append_range(values, op->getResults());
  auto argOf = [&](Value x) { return static_cast<unsigned>(llvm::find(values, x) - values.begin()); };
  LandmarkArgs args{argOf(op.getOut()),        argOf(op.getLse()),
                    argOf(op.getScratch()[0]), argOf(op.getScratch()[1]),
                    argOf(op.getScratch()[2]), argOf(op.getScratch()[3]),
                    argOf(op.getScratch()[4])};
  int64_t K = static_cast<int64_t>(*op.getTopk());
  int64_t perRow = entrySlotsPerRow(op);
  bool oneBlock = perRow == K + 1;
  std::string base = name.str();

  // _c1: the local block and the picks, a block of 4 warps per query tile.
  buildTileKernel(gb, fn, op, s, base + "_c1", {args.out, 4, kThreads, kThreads, picksBytes(s)},
                  &LandmarkTileBuilder::buildPicks, {kTile, s.dv}, kPicksPerSm);

  // _c2: a warp per (b, h) row of the table: starts by an exclusive scan;
  // each count back to 0 for the next call (the table persists, zeroed
  // when the runtime allocates it).
  if (failed(elementKernel(gb, fn, op, values, base + "_c2", args.table, 2, 32, 32,
                           [&](ImplicitLocOpBuilder &b, ArrayRef<Value> a, ValueRange at,
                               Value lane) { scanCounts(b, a[args.table], at, lane, oneBlock); })))
    return failure();

  // _c3: a thread per (row, slot): its entry at its block's start + rank.
  if (failed(elementKernel(gb, fn, op, values, base + "_c3", args.units, 4, 128, 1,
                           [&](ImplicitLocOpBuilder &b, ArrayRef<Value> a, ValueRange at, Value) {
                             scatterEntry(b, a, at, args, K, perRow);
                           })))
    return failure();

  // _c4: units, a block of 4 warps per group of 64 entry slots (one-block
  // groups: one block's entries): the entries' [B, H, N, 2 perRow] by 64
  // rows and 2 columns.
  buildTileKernel(gb, fn, op, s, base + "_c4",
                  {args.entries, 4, kThreads, kThreads, unitsBytes(s)},
                  &LandmarkTileBuilder::buildUnits, {kTile, 2}, kUnitsPerSm);

  // main: a thread per 8 columns of a row merges the local part and the
  // units (16-byte loads and stores).
  int64_t width = 8, lanes = s.dv / width;
  return elementKernel(gb, fn, op, values, base, args.out, 3, 128, lanes,
                       [&](ImplicitLocOpBuilder &b, ArrayRef<Value> a, ValueRange row,
                           Value lane) { mergeRow(b, a, row, lane, args, K, s, width); });
}
