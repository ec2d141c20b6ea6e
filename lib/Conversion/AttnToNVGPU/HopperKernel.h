//===- HopperKernel.h - The Hopper attention kernel's pieces ----*- C++ -*-===//
//
// FlashKernelBuilder::buildHopper in pieces that each fit a screen:
// FlashKernelHopper.cpp holds the shared memory, the barriers, the tile
// loop, the producer and the trace; HopperConsumers.cpp the consumer
// warpgroups. One HopperKernel per kernel: it keeps what every piece
// shares (the tensor maps, the shared-memory layout and its base address)
// and reaches the tile's values (ids, schedule, softmax, epilogue) through
// the FlashKernelBuilder it builds for.
//
//===----------------------------------------------------------------------===//

#ifndef ATTNIR_LIB_CONVERSION_ATTNTONVGPU_HOPPERKERNEL_H
#define ATTNIR_LIB_CONVERSION_ATTNTONVGPU_HOPPERKERNEL_H

#include "FlashKernel.h"

namespace mlir::attn::cuda {

/// Which mbarrier of the layout: Q full and Q empty of both Q buffers, then
/// per stage K full, V full, K empty, V empty.
enum class HopperBar {
  QFull = 0,
  QEmpty = 1,
  KFull = 2,
  VFull = 3,
  KEmpty = 4,
  VEmpty = 5
};

/// trace-tiles: the words of a tile's record (FlashShape::kTraceEvents).
/// Steps, TileRow, TileHead and SmId hold values, the rest clock64 stamps
/// (ConsumerStartGlobal: the global timer).
enum HopperTraceEvent : int64_t {
  ProducerStart, QIssued, FirstStepIssued, LastStepIssued, ConsumerStart,
  QArrived, FirstScores, LoopDone, LastPVDone, EpilogueDone,
  Group1EpilogueDone, ConsumerStartGlobal, FirstKArrived, Group1Start,
  Group1FirstScores, Group1LoopDone, Steps, TileRow, TileHead, SmId
};

/// Index arithmetic (c, add, mul, div, rem) from KernelMath.
class HopperKernel : KernelMath {
public:
  /// The kernel `fn` (arguments q, k, v, out[, lse], ..., then the tensor
  /// maps of q, k and v) over the dynamic shared window `smem`.
  HopperKernel(FlashKernelBuilder &f, gpu::GPUFuncOp fn, Value smem);
  void build();

private:
  using SoftmaxOut = FlashKernelBuilder::SoftmaxOut;
  FlashKernelBuilder &f;
  const FlashShape &s;
  const int64_t groups; // consumer warpgroups
  gpu::GPUFuncOp fn;
  Value smem;
  FlashShape::HopperLayout L;
  int64_t S; // ring stages
  Value mapQ, mapK, mapV;
  Value base;  // the shared window's address
  Value ticks; // mbarrier suspend-time hint
  Value c0, c1;

  // Constants and arithmetic for addresses (i64) and barriers (i32).
  Value k64(int64_t v);
  Value k32(int64_t v);
  Value asI64(Value x);
  Value asI32(Value x);
  Value add64(Value x, Value y);
  Value mul64(Value x, int64_t y);
  /// A shared-memory pointer `off` bytes into the window.
  Value sharedPtr(Value off);
  /// Barrier `which` of `stage` (a ring stage or Q buffer; null: the first).
  Value bar(HopperBar which, Value stage);

  // trace-tiles (no code unless FlashShape::traceTiles).
  Value traceSlot(Value k, int64_t e);
  /// Stamps `event` of the block's k-th tile from thread `who` only (-1:
  /// the caller is one thread already); `value` instead of a time.
  void stamp(HopperTraceEvent event, Value k, int64_t who,
             Value value = Value());
  /// At the block's end: each tile's record over its first output row.
  void writeTraces();

  void initBarriers();
  /// A persistent grid's work items: query tiles x Hq x B.
  Value workItems();
  /// Runs `body(g, k)` for each tile of the block (g: ring steps so far,
  /// k: tiles so far; body returns g plus the tile's steps).
  void forEachTile(function_ref<Value(Value, Value)> body);
  Value qBuffer(Value k);
  Value qOffset(Value qb);
  Value qPass(Value k);
  Value stageOf(Value r);
  Value parityOf(Value r);

  /// Registers per thread after setmaxnreg's hand-over.
  struct RegisterSplit {
    int64_t producer, consumer;
  };
  RegisterSplit registerSplit() const;

  // The producer warpgroup (one lane issues every TMA copy; with gathered
  // rows all 128 threads copy).
  void producer(int64_t regs);
  void copyBoxes(Value map, Value dstOff, Value row0, Value head,
                 int64_t rows, int64_t width, Value barrier);
  void expectBytes(Value barrier, int64_t bytes);
  /// Gathered rows by cp.async from every producer thread (gatherRows),
  /// from the perm entries `sources` gave (gatheredSources).
  void gatherRows(Value srcRow0, Value dstOff, Value row0, Value limit,
                  int64_t rows, int64_t width, Value full, ValueRange sources);
  /// This thread's chunk of (b, head, row 0) of argument `arg`.
  Value gatherRowBase(unsigned arg, Value head, int64_t width);
  /// Gathered rows: per tile, perm's row, v's head and the q, k and v
  /// sources' bases (set by the producer at each tile's start, null
  /// outside its tiles).
  struct TileGather {
    Value permRow, vHead, base[3];
  } tileGather;
  /// The perm entries of the rows this thread gathers of rows row0 ..
  /// row0 + rows - 1 (one i32 per pass of gatherRows).
  SmallVector<Value> gatheredSources(Value row0, Value limit, int64_t rows,
                                     int64_t width);
  /// Gathered rows by one-row TMA boxes from one warp (gather-tma=1).
  void gatherRowsTma(Value map, Value dstOff, Value row0, Value limit,
                     Value head, int64_t rows, int64_t width, Value full);
  /// A global pointer to perm[b, h, 0] (i32 entries).
  Value permRowPtr();
  /// perm's entry (i32) of routed row `logical`, clamped to lastRow.
  Value permEntry(Value logical, Value lastRow);
  /// The element offset of (b, head, row 0) in [B, H, rows, ...] memref m.
  Value planeOf(Value m, Value head);
  /// This producer thread's first gathered row (i32).
  Value gatherFirstRow(Value row0, int64_t chunksPerRow);
  /// The head of gathered v for this tile's head (k's is hkv).
  Value gatheredVHead();
  /// Q, K or V rows into shared memory: TMA or gathered (gatherRows).
  void fill(unsigned arg, Value map, Value dstOff, Value row0, Value limit,
            Value head, int64_t rows, int64_t width, Value full,
            ValueRange sources = {});
  /// After a full barrier of gathered rows: their generic-proxy writes
  /// ordered before this thread's wgmma reads (the async proxy).
  void afterGatheredWait();
  void produceStep(Value t, Value r);

  // The consumer warpgroups (HopperConsumers.cpp).
  void consumers(int64_t regs);
  Value consumeTile(Value g, Value k);
  /// consumeTile's parts: the trace's tile record, the first block's S
  /// and softmax (yielding `init` when the tile has no block), the steps
  /// 1 .. count-1, and the last block's P V (O from `fin` without one).
  void stampTileStart(Value k);
  scf::IfOp firstStep(Value g, Value k, Value any, ArrayRef<Value> init);
  scf::ForOp keySteps(Value g, Value count, ValueRange init);
  scf::IfOp lastPV(Value g, Value count, Value any, ValueRange fin);
  void arrive(Value barrier);
  void release(HopperBar which, Value t);
  Value issueScores(Value t, bool first = false);
  SoftmaxOut scoresSoftmax(Value acc, Value t, ValueRange state);
  SmallVector<Value> issuePV(SmallVector<Value> O, ArrayRef<Value> words,
                             Value t);
  SmallVector<Value> pWords(const SoftmaxOut &so);
  void takeTurn();
  void endTurn();
  // Consumer state: this warpgroup's rows, the tile's Q buffer rows and
  // the tile a step's stamp belongs to; ping-pong barriers.
  Value wgRow, qBase, traceTile;
  Value turnMine, turnNext, pairThreads;
};

} // namespace mlir::attn::cuda

#endif // ATTNIR_LIB_CONVERSION_ATTNTONVGPU_HOPPERKERNEL_H
