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

#include "GlobalAddress.h"
#include "HopperKernel.h"
#include "WgmmaOps.h"

using namespace mlir;
using namespace mlir::attn;
using namespace mlir::attn::cuda;

using wgmma::kBoxCols;

void FlashKernelBuilder::buildHopper(gpu::GPUFuncOp fn, Value smem) {
  // A persistent kernel sets up each tile inside its work loop.
  if (s.persistent)
    setupKernel(fn);
  else
    setup(fn);
  HopperKernel(*this, fn, smem).build();
}

HopperKernel::HopperKernel(FlashKernelBuilder &f, gpu::GPUFuncOp fn,
                           Value smem)
    : KernelMath{f.b}, f(f), s(f.s), groups(f.s.warps / 4), fn(fn),
      smem(smem), L(f.s.hopperLayout()), S(f.s.stages) {
  unsigned nargs = fn.getNumArguments();
  mapQ = fn.getArgument(nargs - 3);
  mapK = fn.getArgument(nargs - 2);
  mapV = fn.getArgument(nargs - 1);
}

Value HopperKernel::k64(int64_t v) {
  return arith::ConstantOp::create(b, b.getI64IntegerAttr(v)).getResult();
}
Value HopperKernel::k32(int64_t v) {
  return arith::ConstantOp::create(b, b.getI32IntegerAttr(v)).getResult();
}
Value HopperKernel::asI64(Value x) {
  return arith::IndexCastUIOp::create(b, b.getI64Type(), x).getResult();
}
Value HopperKernel::asI32(Value x) {
  return arith::IndexCastUIOp::create(b, f.i32, x).getResult();
}
Value HopperKernel::add64(Value x, Value y) {
  return arith::AddIOp::create(b, x, y).getResult();
}
Value HopperKernel::mul64(Value x, int64_t y) {
  return arith::MulIOp::create(b, x, k64(y)).getResult();
}

Value HopperKernel::sharedPtr(Value off) {
  auto ptr3 = LLVM::LLVMPointerType::get(b.getContext(), 3);
  return LLVM::IntToPtrOp::create(b, ptr3, add64(base, off)).getResult();
}

Value HopperKernel::bar(HopperBar which, Value stage) {
  int64_t off = L.bars;
  if (which == HopperBar::QEmpty)
    off += 16;
  else if (which != HopperBar::QFull)
    off += 32 + 8 * S * (static_cast<int64_t>(which) - 2);
  Value o = k64(off);
  if (stage)
    o = add64(o, mul64(asI64(stage), 8));
  return sharedPtr(o);
}

void HopperKernel::build() {
  // Shared addresses: the window's base plus byte offsets.
  base = asI64(memref::ExtractAlignedPointerAsIndexOp::create(b, smem));
  ticks = k32(0x989680); // suspend-time hint, ns
  initBarriers();
  auto isProducer = arith::CmpIOp::create(b, arith::CmpIPredicate::uge, f.tid,
                                          c(32 * s.warps));
  auto roles = scf::IfOp::create(b, isProducer, /*withElse=*/true);
  RegisterSplit regs = registerSplit();
  {
    OpBuilder::InsertionGuard g(b);
    b.setInsertionPointToStart(&roles.getThenRegion().front());
    producer(regs.producer);
  }
  {
    OpBuilder::InsertionGuard g(b);
    b.setInsertionPointToStart(&roles.getElseRegion().front());
    consumers(regs.consumer);
  }
  b.setInsertionPointAfter(roles);
  if (s.traceTiles)
    writeTraces();
  gpu::ReturnOp::create(b);
}

// One thread initialises the barriers; everyone sees them after the block
// barrier (the last one: the roles split after it).
void HopperKernel::initBarriers() {
  c0 = c(0);
  c1 = c(1);
  {
    auto first = scf::IfOp::create(
        b, arith::CmpIOp::create(b, arith::CmpIPredicate::eq, f.tid, c0),
        false);
    OpBuilder::InsertionGuard g(b);
    b.setInsertionPointToStart(&first.getThenRegion().front());
    // A full barrier completes on one arrive with the TMA bytes, or on
    // the 128 producer threads' cp.async arrives (gathered rows).
    Value fullCount = k32(s.gatherRows && !s.gatherTma ? 128 : 1);
    for (int64_t qb = 0; qb < 2; ++qb) {
      NVVM::MBarrierInitOp::create(b, bar(HopperBar::QFull, c(qb)), fullCount,
                                   Value());
      NVVM::MBarrierInitOp::create(b, bar(HopperBar::QEmpty, c(qb)),
                                   k32(s.warps), Value());
    }
    for (int64_t st = 0; st < S; ++st) {
      NVVM::MBarrierInitOp::create(b, bar(HopperBar::KFull, c(st)), fullCount,
                                   Value());
      NVVM::MBarrierInitOp::create(b, bar(HopperBar::VFull, c(st)), fullCount,
                                   Value());
      NVVM::MBarrierInitOp::create(b, bar(HopperBar::KEmpty, c(st)),
                                   k32(s.warps), Value());
      NVVM::MBarrierInitOp::create(b, bar(HopperBar::VEmpty, c(st)),
                                   k32(s.warps), Value());
    }
  }
  gpu::BarrierOp::create(b);
}

// The shared-memory word of event `e` of the block's k-th tile.
Value HopperKernel::traceSlot(Value k, int64_t e) {
  Value slot = add(mul(k, FlashShape::kTraceEvents), e);
  return sharedPtr(add64(k64(L.trace), mul64(asI64(slot), 8)));
}

// Tiles past the slots share the last.
void HopperKernel::stamp(HopperTraceEvent event, Value k, int64_t who,
                         Value value) {
  if (!s.traceTiles)
    return;
  OpBuilder::InsertionGuard g(b);
  if (who >= 0) {
    auto one = scf::IfOp::create(
        b, arith::CmpIOp::create(b, arith::CmpIPredicate::eq, f.tid, c(who)),
        false);
    b.setInsertionPointToStart(&one.getThenRegion().front());
  }
  Type i64 = b.getI64Type();
  Value now = value ? asI64(value)
              : event == ConsumerStartGlobal
                  ? NVVM::GlobalTimerOp::create(b, i64).getResult()
                  : NVVM::Clock64Op::create(b, i64).getResult();
  LLVM::StoreOp::create(
      b, now,
      traceSlot(arith::MinUIOp::create(b, k, c(FlashShape::kTraceTiles - 1)),
                event));
}

// Once every thread of the block is done (the barrier orders their output
// stores before these), thread 0 writes each of its tiles' records over the
// first words of that tile's first output row.
void HopperKernel::writeTraces() {
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
      b, arith::CmpIOp::create(b, arith::CmpIPredicate::eq, f.tid, c0), false);
  OpBuilder::InsertionGuard g(b);
  b.setInsertionPointToStart(&writer.getThenRegion().front());
  Type i64 = b.getI64Type();
  Value o = fn.getArgument(s.outArg());
  Value oBase = asI64(memref::ExtractAlignedPointerAsIndexOp::create(b, o));
  auto ptr1 = LLVM::LLVMPointerType::get(b.getContext(), 1);
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
  Value n64 = asI64(f.N);
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

Value HopperKernel::workItems() {
  return arith::MulIOp::create(
             b,
             arith::MulIOp::create(
                 b, arith::CeilDivUIOp::create(b, f.N, c(s.bq)), f.Hq),
             memref::DimOp::create(b, fn.getArgument(0), 0))
      .getResult();
}

// The tiles of this block: its own (grid (tiles, Hq, B)), or for a
// persistent block the work items w = blockIdx.x, + gridDim.x, ... below
// tiles x Hq x B, the query tiles of one head consecutive (blocks running
// at once share that head's K/V in L2) and heaviest first.
void HopperKernel::forEachTile(function_ref<Value(Value, Value)> body) {
  if (!s.persistent) {
    body(c0, c0);
    return;
  }
  Value tiles = arith::CeilDivUIOp::create(b, f.N, c(s.bq));
  Value perBatch = arith::MulIOp::create(b, tiles, f.Hq);
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
  f.setupTile(fn, tile, arith::DivUIOp::create(b, inBatch, tiles),
              arith::DivUIOp::create(b, w, perBatch));
  ValueRange it = loop.getRegionIterArgs();
  Value gNext = body(it[0], it[1]);
  scf::YieldOp::create(b, ValueRange{gNext, add(it[1], 1)});
}

// Q buffer k % 2 of a persistent kernel (null: the only one), its bytes'
// offset, and the pass k / 2 over it as a barrier parity.
Value HopperKernel::qBuffer(Value k) {
  return s.persistent ? rem(k, 2) : Value();
}
Value HopperKernel::qOffset(Value qb) {
  return qb ? add64(k64(L.q), mul64(asI64(qb), L.qStage)) : k64(L.q);
}
Value HopperKernel::qPass(Value k) {
  return s.persistent ? asI32(arith::AndIOp::create(b, div(k, 2), c1))
                      : k32(0);
}

// Ring step r's stage r % S and pass r / S over the ring: the full
// barriers' parity (the empty barriers are waited on the one before).
Value HopperKernel::stageOf(Value r) { return rem(r, S); }
Value HopperKernel::parityOf(Value r) {
  return asI32(arith::AndIOp::create(b, div(r, S), c1));
}

// The block owns what it got at launch (ptxas gives each thread 64K /
// (threads x resident blocks), rounded down to a multiple of 8: 168 for
// 384 threads, 128 for two blocks of 256) and setmaxnreg only moves them
// between warpgroups; asking for more than that blocks forever. The
// producer keeps 24 (40 in a persistent kernel, whose per-tile bookkeeping
// spills below that; 56 for gathered rows, whose copies each compute an
// address: 40 spilled at 128-key blocks; 40 where three or more blocks
// share an SM, whose consumers would otherwise get 104), the consumers
// share the rest (a multiple of 8, at most 240).
HopperKernel::RegisterSplit HopperKernel::registerSplit() const {
  const int64_t launchRegs = 65536 / (s.threads() * s.ctas) / 8 * 8;
  const int64_t gatherRegs = s.ctas > 2 ? 40 : 56;
  const int64_t producerRegs = s.gatherRows && !s.gatherTma ? gatherRegs
                               : s.persistent || s.gatherTma ? 40
                                                             : 24;
  const int64_t consumerRegs = std::min<int64_t>(
      240, (launchRegs * s.threads() - 128 * producerRegs) / (32 * s.warps) /
               8 * 8);
  return {producerRegs, consumerRegs};
}

// rows x width of (b, head) starting at row0 into `dstOff`, box by box.
void HopperKernel::copyBoxes(Value map, Value dstOff, Value row0, Value head,
                             int64_t rows, int64_t width, Value barrier) {
  auto ptr7 = LLVM::LLVMPointerType::get(b.getContext(), 7);
  for (int64_t cb = 0; cb < width / kBoxCols; ++cb) {
    Value dst = LLVM::AddrSpaceCastOp::create(
        b, ptr7, sharedPtr(add64(dstOff, k64(cb * rows * 128))));
    NVVM::CpAsyncBulkTensorGlobalToSharedClusterOp::create(
        b, dst, map,
        ValueRange{k32(cb * kBoxCols), asI32(row0), asI32(head),
                   asI32(f.bIdx)},
        barrier, ValueRange{}, Value(), Value(), NVVM::TMALoadMode::TILE,
        false, nullptr, Value());
  }
}

void HopperKernel::expectBytes(Value barrier, int64_t bytes) {
  NVVM::MBarrierArriveExpectTxOp::create(
      b, Type(), barrier, k32(bytes),
      NVVM::MemScopeKindAttr::get(b.getContext(), NVVM::MemScopeKind::CTA),
      b.getBoolAttr(false), Value());
}

// Step t of the tile (ring step r): the K and V copies of its block.
// Gathered rows: the block's perm entries load before the waits (their
// latency passes while the ring frees), and V, whose rows are K's, reuses
// them where its width gives the same thread layout.
void HopperKernel::produceStep(Value t, Value r) {
  Value st = stageOf(r);
  Value parity = arith::XOrIOp::create(b, parityOf(r), k32(1));
  Value j0 = mul(f.sched.block(b, b.getLoc(), t), s.bk);
  SmallVector<Value> kSources;
  if (s.gatherRows && !s.gatherTma)
    kSources = gatheredSources(j0, f.M, s.bk, s.d);
  Value kFull = bar(HopperBar::KFull, st), vFull = bar(HopperBar::VFull, st);
  Value kOff = add64(k64(L.k), mul64(asI64(st), L.kStage));
  Value vOff = add64(k64(L.v), mul64(asI64(st), L.vStage));
  NVVM::MBarrierTryWaitParityOp::create(b, bar(HopperBar::KEmpty, st), parity,
                                        ticks);
  fill(1, mapK, kOff, j0, f.M, f.hkv, s.bk, s.d, kFull, kSources);
  // V's buffer frees later than K's (P V runs after the softmax).
  NVVM::MBarrierTryWaitParityOp::create(b, bar(HopperBar::VEmpty, st), parity,
                                        ticks);
  fill(2, mapV, vOff, j0, f.M, s.gatherRows ? tileGather.vHead : f.hkv, s.bk,
       s.dv, vFull, s.dv == s.d ? ValueRange(kSources) : ValueRange());
}

// Rows row0 .. row0 + rows - 1 of kernel argument `arg` (q, k or v; head
// `head`) into `dstOff`, completing `full`: TMA boxes through `map` from
// the lead lane, or gathered rows from every producer thread.
void HopperKernel::fill(unsigned arg, Value map, Value dstOff, Value row0,
                        Value limit, Value head, int64_t rows, int64_t width,
                        Value full, ValueRange sources) {
  if (s.gatherTma)
    return gatherRowsTma(map, dstOff, row0, limit, head, rows, width, full);
  if (s.gatherRows)
    return gatherRows(
        tileGather.base[arg], dstOff, row0, limit, rows, width, full,
        sources.empty()
            ? SmallVector<Value>(gatheredSources(row0, limit, rows, width))
            : SmallVector<Value>(sources));
  expectBytes(full, rows * width * 2);
  copyBoxes(map, dstOff, row0, head, rows, width, full);
}

// The head of gathered v for query head h: the permutes' sources need not
// share a head count (a shared-QK route gathers k from q's tensor, v from
// one of fewer heads), so v's is h / (Hq / its heads), attn.permute's
// h / (H / Hx), where k's is hkv.
Value HopperKernel::gatheredVHead() {
  Value heads = memref::DimOp::create(b, fn.getArgument(2), 1);
  return arith::DivUIOp::create(b, f.h, arith::DivUIOp::create(b, f.Hq, heads));
}

// Gathered rows (FlashShape::gatherRows): rows row0 .. row0 + rows - 1 of
// the routed order, row r read from row perm[b, h, r] of `src` (head
// `head`), in the layout TMA's 128-byte swizzle gives (boxes of 64
// columns; in a box, 16-byte chunk c of row r at chunk c ^ (r % 8)). The
// 128 producer threads take consecutive 16-byte chunks (a row's chunks
// are coalesced): thread p copies chunk p % cpr of rows p / cpr + i * (128
// / cpr), so its chunk, and its swizzled slot (128 / cpr is a multiple of
// 8), is the same in every row it copies. Rows at or past `limit` are
// zero-filled (cp.async's source size 0), as TMA fills rows past the end.
// Each thread's cp.async arrive (noinc) counts once on `full` when its
// copies landed.
struct GatherLayout {
  int64_t chunksPerRow, rowsPerPass, passes;
  GatherLayout(int64_t rows, int64_t width)
      : chunksPerRow(width / 8), rowsPerPass(128 / chunksPerRow),
        passes(rows / rowsPerPass) {}
};

// The producer's gathers in 32-bit arithmetic: row numbers, perm entries
// and the valid test are i32, each address one 32 x 32 -> 64-bit multiply
// from a per-tile base (64-bit index math tripled the producer's
// instructions, which took issue slots from the consumers; GlobalAddress.h).
// The element offset of (b, head, row 0) in a contiguous [B, H, rows,
// ...] memref m, in units of its rows' trailing size (i64).
Value HopperKernel::planeOf(Value m, Value head) {
  return asI64(arith::MulIOp::create(
      b,
      add(arith::MulIOp::create(b, f.bIdx, memref::DimOp::create(b, m, 1)),
          head),
      memref::DimOp::create(b, m, 2)));
}

// perm[b, h, 0]: ((b H + h) N) entries of 4 bytes into perm.
Value HopperKernel::permRowPtr() {
  Value perm = fn.getArgument(s.rowsArg());
  return globalBytes(b, perm, mul64(planeOf(perm, f.h), 4));
}

// perm's entry for routed row `logical` (i32) of this tile's (b, h), the
// row clamped to `lastRow` (rows past the end read the last row's, which
// exists: a tile or a step exists only where N >= 1, and a route's perm
// makes M = N).
Value HopperKernel::permEntry(Value logical, Value lastRow) {
  Value at = arith::MinUIOp::create(b, logical, lastRow);
  return LLVM::LoadOp::create(
      b, f.i32,
      LLVM::GEPOp::create(b, tileGather.permRow.getType(), f.i32,
                          tileGather.permRow, ValueRange{at}));
}

// This thread's first row of a gather (GatherLayout) as i32.
Value HopperKernel::gatherFirstRow(Value row0, int64_t chunksPerRow) {
  Value ptid = arith::SubIOp::create(b, f.tid, c(32 * s.warps));
  return asI32(add(row0, div(ptid, chunksPerRow)));
}

// The perm entry of each row this thread copies (one load per pass).
SmallVector<Value> HopperKernel::gatheredSources(Value row0, Value limit,
                                                 int64_t rows, int64_t width) {
  GatherLayout g(rows, width);
  Value first = gatherFirstRow(row0, g.chunksPerRow);
  Value lastRow = arith::SubIOp::create(b, asI32(limit), k32(1));
  SmallVector<Value> sources;
  for (int64_t pass = 0; pass < g.passes; ++pass)
    sources.push_back(permEntry(
        arith::AddIOp::create(b, first, k32(pass * g.rowsPerPass)), lastRow));
  return sources;
}

// A pointer to this thread's chunk of (b, head, row 0) in kernel argument
// `arg` (contiguous rows of width elements of 2 bytes).
Value HopperKernel::gatherRowBase(unsigned arg, Value head, int64_t width) {
  Value src = fn.getArgument(arg);
  Value ptid = arith::SubIOp::create(b, f.tid, c(32 * s.warps));
  Value chunk = rem(ptid, width / 8); // GatherLayout's chunksPerRow
  return globalBytes(b, src, add64(mul64(planeOf(src, head), width * 2),
                                asI64(mul(chunk, 16))));
}

void HopperKernel::gatherRows(Value srcRow0, Value dstOff, Value row0,
                              Value limit, int64_t rows, int64_t width,
                              Value full, ValueRange sources) {
  GatherLayout g(rows, width);
  Value ptid = arith::SubIOp::create(b, f.tid, c(32 * s.warps));
  Value chunk = rem(ptid, g.chunksPerRow);
  Value firstRow = div(ptid, g.chunksPerRow);
  Value dstFirst = add64(
      dstOff,
      asI64(add(add(mul(div(chunk, 8), rows * 128), mul(firstRow, 128)),
                mul(arith::XOrIOp::create(b, rem(chunk, 8), rem(firstRow, 8)),
                    16))));
  Value first = gatherFirstRow(row0, g.chunksPerRow);
  Value limit32 = asI32(limit);
  for (int64_t pass = 0; pass < g.passes; ++pass) {
    Value valid = arith::CmpIOp::create(
        b, arith::CmpIPredicate::ult,
        arith::AddIOp::create(b, first, k32(pass * g.rowsPerPass)), limit32);
    Value from = rowBytesPtr(b, srcRow0, sources[pass], width * 2);
    Value to = sharedPtr(add64(dstFirst, k64(pass * g.rowsPerPass * 128)));
    Value bytes = arith::SelectOp::create(b, valid, k32(16), k32(0));
    NVVM::CpAsyncOp::create(b, to, from, 16, NVVM::LoadCacheModifierKind::CG,
                            bytes);
  }
  NVVM::CpAsyncMBarrierArriveOp::create(b, full, /*noinc=*/true);
}

// Gathered rows by TMA (gather-tma=1): lane l of the first producer warp
// copies rows l, l + 32, ... of the block, each as boxes of one row (64
// columns each) from row perm[b, h, row0 + r] into row r of the tile. The
// 128-byte swizzle follows the destination's address bits, so a one-row
// box at row r lands where the whole tile's box would put it. Rows at or
// past `limit` read row `limit`, outside the tensor: TMA fills them with
// zeros. Lane 0 expects the block's bytes (a transiently negative
// tx-count is allowed; the barrier waits for that arrive).
void HopperKernel::gatherRowsTma(Value map, Value dstOff, Value row0,
                                 Value limit, Value head, int64_t rows,
                                 int64_t width, Value full) {
  Value lane = arith::SubIOp::create(b, f.tid, c(32 * s.warps));
  {
    auto first = scf::IfOp::create(
        b, arith::CmpIOp::create(b, arith::CmpIPredicate::eq, lane, c0),
        false);
    OpBuilder::InsertionGuard g(b);
    b.setInsertionPointToStart(&first.getThenRegion().front());
    expectBytes(full, rows * width * 2);
  }
  Value limit32 = asI32(limit);
  Value lastRow = arith::SubIOp::create(b, limit32, k32(1));
  Value firstLogical = asI32(add(row0, lane));
  auto ptr7 = LLVM::LLVMPointerType::get(b.getContext(), 7);
  for (int64_t i = 0; i < rows / 32; ++i) {
    Value logical = arith::AddIOp::create(b, firstLogical, k32(32 * i));
    Value valid =
        arith::CmpIOp::create(b, arith::CmpIPredicate::ult, logical, limit32);
    Value src = arith::SelectOp::create(b, valid, permEntry(logical, lastRow),
                                        limit32);
    Value rowOff = asI64(mul(add(lane, 32 * i), 128));
    for (int64_t cb = 0; cb < width / kBoxCols; ++cb) {
      Value dst = LLVM::AddrSpaceCastOp::create(
          b, ptr7,
          sharedPtr(add64(add64(dstOff, k64(cb * rows * 128)), rowOff)));
      NVVM::CpAsyncBulkTensorGlobalToSharedClusterOp::create(
          b, dst, map,
          ValueRange{k32(cb * kBoxCols), src, asI32(head), asI32(f.bIdx)},
          full, ValueRange{}, Value(), Value(), NVVM::TMALoadMode::TILE,
          false, nullptr, Value());
    }
  }
}

// One lane of the producer warpgroup issues every copy: per tile Q (once
// its buffer is free), then K and V of each scheduled block.
void HopperKernel::producer(int64_t regs) {
  NVVM::SetMaxRegisterOp::create(b, regs,
                                 NVVM::SetMaxRegisterAction::decrease);
  // TMA copies come from one lane (one warp's lanes for rows gathered
  // by TMA); gathered rows by cp.async from every thread.
  if (!s.gatherRows || s.gatherTma) {
    auto lead = scf::IfOp::create(
        b,
        s.gatherTma ? arith::CmpIOp::create(b, arith::CmpIPredicate::ult,
                                            f.tid, c(32 * s.warps + 32))
                    : arith::CmpIOp::create(b, arith::CmpIPredicate::eq,
                                            f.tid, c(32 * s.warps)),
        false);
    b.setInsertionPointToStart(&lead.getThenRegion().front());
  }
  forEachTile([&](Value g, Value k) {
    Value qb = qBuffer(k);
    // The first pass over a buffer (or the ring) finds fresh barriers:
    // waiting on the parity before phase 0 returns at once.
    stamp(ProducerStart, k, -1);
    if (s.persistent) // the consumers of tile k - 2 are done with it
      NVVM::MBarrierTryWaitParityOp::create(
          b, bar(HopperBar::QEmpty, qb),
          arith::XOrIOp::create(b, qPass(k), k32(1)), ticks);
    // Gathered rows: what every step of the tile shares, computed once
    // here (LLVM does not hoist it past the barrier waits; v's head is two
    // divisions).
    if (s.gatherRows) {
      tileGather.permRow = permRowPtr();
      tileGather.vHead = gatheredVHead();
      if (!s.gatherTma) {
        tileGather.base[0] = gatherRowBase(0, f.h, s.d);
        tileGather.base[1] = gatherRowBase(1, f.hkv, s.d);
        tileGather.base[2] = gatherRowBase(2, tileGather.vHead, s.dv);
      }
    }
    fill(0, mapQ, qOffset(qb), f.i0, f.N, f.h, s.bq, s.d,
         bar(HopperBar::QFull, qb));
    stamp(QIssued, k, -1);
    Value count = f.sched.count();
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
    tileGather = TileGather();
    return add(g, count);
  });
}
