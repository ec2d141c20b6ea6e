//===- LandmarkTileBuilder.h - landmark kernels on mma.sync tiles -*- C++ -*-===//
//
// The builder behind attn.landmark's tile kernels: the fused kernel by
// query tiles (LandmarkTiles.cpp) and the by-blocks kernels' tile steps,
// picks and units (LandmarkBlocks.cpp), share its staging, scores, softmax
// and top-K lists.
//
//===----------------------------------------------------------------------===//

#ifndef ATTNIR_LIB_CONVERSION_ATTNTONVGPU_LANDMARKTILEBUILDER_H
#define ATTNIR_LIB_CONVERSION_ATTNTONVGPU_LANDMARKTILEBUILDER_H

#include "MmaFragments.h"
#include "SelectionKernels.h"
#include "attnir/Dialect/Attn/IR/AttnOps.h"
#include "mlir/Dialect/GPU/IR/GPUDialect.h"
#include "mlir/Dialect/Math/IR/Math.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"

namespace mlir::attn::cuda::landmark {
constexpr int64_t kTile = 64, kThreads = 128, kTopkMax = 8;
/// Blocks per bitmap window (1 KiB of shared memory); longer rows take
/// several windows.
constexpr int64_t kWindow = 8192;
constexpr double kLog2e = 1.4426950408889634, kLn2 = 0.6931471805599453;

/// Entry slots per row of the by-blocks program's entries scratch
/// (AttnRouteOps.td): K, or K + 1 where attn-landmark-split padded each
/// block's run to whole groups of 64 (one-block groups).
inline int64_t entrySlotsPerRow(LandmarkOp op) {
  return cast<ShapedType>(op.getScratch()[4].getType()).getDimSize(3) / 2;
}

/// Shared memory: Q [64, D + 8], then two stages of (keys [72, D + 8]: the
/// block's 64 keys then its landmark row 8 times, an n-tile; values [64,
/// Dv + 8]), then the window's bitmap. Landmark chunks of the selection use
/// a stage's key rows.
struct LandmarkShape {
  int64_t d, dv;
  Type elt;
  int64_t padD() const { return d + 8; }
  int64_t padV() const { return dv + 8; }
  int64_t keyRows() const { return kTile + 8; }
  int64_t qBytes() const { return kTile * padD() * 2; }
  int64_t offV() const { return keyRows() * padD() * 2; }
  int64_t stageBytes() const { return offV() + kTile * padV() * 2; }
  int64_t offBits() const { return qBytes() + 2 * stageBytes(); }
  int64_t bytes() const { return offBits() + kWindow / 8; }
};

/// A sorted top-K list (largest first) of (log2 logit, block id as i32).
struct TopList {
  SmallVector<Value> vals, ids;
};

class LandmarkTileBuilder : cuda::KernelMath {
public:
  LandmarkTileBuilder(ImplicitLocOpBuilder &b, LandmarkOp op, LandmarkShape s,
                      function_ref<Value(Value)> arg)
      : KernelMath{b}, op(op), s(s), arg(arg), mf(b, s.elt),
        topk(op.getTopk() ? static_cast<int64_t>(*op.getTopk()) : -1) {}

  /// The fused kernel: block `block` of the grid, thread `thread`, the
  /// dynamic shared window `smem`.
  void build(Value block, Value thread, Value smem);
  /// By blocks, step 2 (LandmarkBlocks.cpp): the local block's (out, lse)
  /// and each row's top-K picks with their logits; counts the picks per
  /// block in the table.
  void buildPicks(Value block, Value thread, Value smem);
  /// By blocks, step 5: 64 grouped entries, each picked block staged once;
  /// each entry's unit (the block's softmax of its row times v).
  void buildUnits(Value block, Value thread, Value smem);

private:
  LandmarkOp op;
  LandmarkShape s;
  function_ref<Value(Value)> arg;
  cuda::MmaFragments mf;
  int64_t topk;
  Value q, k, v, lk, bi, h, kvHead, tile, i0, n, nb, tid, lane, warp, smem;
  /// The units kernel's bases: the window's shared address (index), and
  /// global pointers to (b, h)'s entries and units and (b, kv head)'s keys
  /// and values.
  Value smemBase, entries, unitsBase, kPlane, vPlane;
  SmallVector<SmallVector<Value>> qA;

  Type i32() { return b.getI32Type(); }
  Value ci(int64_t x) { return arith::ConstantIntOp::create(b, i32(), x); }
  Value asI32(Value x) { return arith::IndexCastOp::create(b, i32(), x); }
  Value sel(Value c, Value x, Value y) { return arith::SelectOp::create(b, c, x, y); }
  Value fmax(Value x, Value y) { return arith::MaximumFOp::create(b, x, y); }
  Value fsub(Value x, Value y) { return arith::SubFOp::create(b, x, y); }
  Value fmul(Value x, Value y) { return arith::MulFOp::create(b, x, y); }
  Value shuffle(Value x, Value src, gpu::ShuffleMode mode) {
    return gpu::ShuffleOp::create(b, x, src, ci(32), mode).getShuffleResult();
  }
  /// Over the 4 lanes that share a row of the C fragment.
  Value quad(Value x, bool isMax) {
    for (int64_t off : {1, 2}) {
      Value o = shuffle(x, ci(off), gpu::ShuffleMode::XOR);
      x = isMax ? fmax(x, o) : arith::AddFOp::create(b, x, o).getResult();
    }
    return x;
  }
  /// The tile-relative row of this lane's accumulator half (0: lane / 4,
  /// 1: lane / 4 + 8) and the column of accumulator e of n-tile nt.
  Value rowOf(int64_t half) { return accumulatorRow(lane, mul(warp, 16), 2 * half); }
  Value colOf(int64_t nt, int64_t e) { return accumulatorCol(lane, nt, e); }

  Value stageBase(Value stage) { return add(c(s.qBytes()), mul(stage, s.stageBytes())); }
  Value keysOf(Value stage) {
    return sharedView(smem, stageBase(stage), {s.keyRows(), s.padD()}, s.elt);
  }
  Value valuesOf(Value stage) {
    return sharedView(smem, add(stageBase(stage), s.offV()), {kTile, s.padV()}, s.elt);
  }
  void stageRows(Value src, Value row0, Value limit, Value dst, int64_t rows, int64_t width) {
    cuda::copyRowsAsync(b, src, bi, kvHead, row0, Value(), limit, dst, rows, width, tid,
                        kThreads);
  }
  /// Block beta's keys, values and landmark row into `stage` (no commit).
  void stageBlock(Value beta, Value stage);

  /// scale Q K^T in log2 units (Q K^T unless `scaled`) for the warp's 16
  /// rows against `ntiles` n-tiles of `keys` from row `row0`: [ntiles][4]
  /// accumulators.
  SmallVector<SmallVector<Value>> scores(Value keys, int64_t row0, int64_t ntiles,
                                         bool scaled = true);
  /// exp2(S - rowmax) in place; returns (rowmax, row sum) per half.
  std::pair<SmallVector<Value>, SmallVector<Value>> softmax(SmallVector<SmallVector<Value>> &S);
  /// P V for the warp's rows: [Dv / 8 * 4] accumulators.
  SmallVector<Value> timesValues(ArrayRef<SmallVector<Value>> P, Value values);

  /// The local block: the state (m[2], l[2], O[Dv / 8 * 4]) it starts.
  SmallVector<Value> localBlock();
  /// Phase 2 (LandmarkSelect.cpp): each row's top-K block ids (K per
  /// half), identical on the 4 lanes of a row.
  SmallVector<TopList> selectTopk(Value all);
  /// Chunk `ch`'s logits of the lane's two rows in selection order:
  /// [half][16], increasing block order; -inf for blocks at or after the
  /// tile's.
  SmallVector<SmallVector<Value>> chunkLogits(Value ch, Value stage);
  /// Per half, a bound at most the row's K-th best logit, from the 4
  /// lanes' lists and each lane's best ceil(K / 4) of the chunk's logits L.
  SmallVector<Value> rowThresholds(ArrayRef<SmallVector<Value>> L, ArrayRef<TopList> lists);
  /// The lowest marked of a half's 16 logits (bit j of `marks` marks
  /// logit j) and its block id (`base`: the chunk's first block plus
  /// 2 (lane % 4)).
  std::pair<Value, Value> lowestMarked(ArrayRef<Value> logits, Value marks, Value base);
  /// Chunk `ch`'s logits L that reach the thresholds into the lane's lists.
  void pickFromChunk(Value ch, ArrayRef<SmallVector<Value>> L, ArrayRef<Value> thresholds,
                     MutableArrayRef<TopList> lists);
  /// The lists of a row's 4 lanes merged by shuffles.
  void mergeQuadLists(MutableArrayRef<TopList> lists);
  /// (v, id) into a sorted list; an equal logit never displaces an
  /// earlier one (candidates arrive in increasing block order).
  void insert(TopList &list, Value v, Value id);
  /// (v1, id1) before (v2, id2): a larger logit, or with `tieOnId` an
  /// equal one of a lower block.
  Value better(Value v1, Value id1, Value v2, Value id2, bool tieOnId);
  /// Visits items first, next(first), ... below `end`, item i staged by
  /// `stageItem(i, stage)` one step ahead; `visit` updates the carried values.
  SmallVector<Value> pipelined(Value first, Value end, function_ref<Value(Value)> next,
                               function_ref<void(Value, Value)> stageItem,
                               function_ref<SmallVector<Value>(Value, Value, ValueRange)> visit,
                               ValueRange init);
  /// Phase 3: the union of the picks (every earlier block when `all`).
  SmallVector<Value> retrieve(Value all, ArrayRef<TopList> picks, ValueRange st);
  /// The first set bit of the window's bitmap at or after block `from`
  /// (blocks [w0, wEnd)), or wEnd.
  Value nextPicked(Value bits, Value from, Value w0, Value wEnd);
  SmallVector<Value> visitBlock(Value beta, Value stage, Value all, ArrayRef<TopList> picks,
                                ValueRange st);
  void store(ValueRange st);

  /// The fused kernel's and picks' start: (b, h, tile) of grid block
  /// `block`, Q and the local block staged, qA loaded; the local state.
  /// Leaves the builder inside the `if` on b being in range.
  SmallVector<Value> startTile(Value block, Value thread, Value window);
  /// Each row's picks and logits stored (lane 4 r of each row), counted in
  /// the table.
  void storePicks(ArrayRef<TopList> picks);
  /// The units kernel's pieces. A global pointer to (b, head, 0, ...) of
  /// contiguous memref m, whose innermost dim holds rowBytes bytes.
  Value planeBytes(Value m, Value head, int64_t rowBytes);
  /// Word 0 (the code, query row x K + slot) or 1 (the block) of grouped
  /// entry at32 (i32).
  Value entryWord(Value at32, int64_t word);
  /// This thread's entry p0 + tid of the grouped list (code, block), the
  /// position clamped to `last32`; stored into shared memory by threads
  /// below 64 (block -1 past `total`).
  Value loadEntry(Value p0, Value last32);
  void storeEntry(Value pair, Value p0, Value total, Value rowsOf);
  /// The codes of the group's query rows this thread copies, read from
  /// global memory (no wait on the entries' shared copy), then the copies
  /// into Q by cp.async.
  SmallVector<Value> gatherCodes(Value p0, Value last32);
  void gatherQueryRows(ArrayRef<Value> codes);
  /// cp.async copies of kTile rows of `width` elements from global `base`
  /// into shared memory at byte `dst`, rows `pitch` elements apart: thread
  /// t takes 16-byte chunk t % (width / 8) of its copies; rowOfCopy(t0)
  /// gives the source row (i32) of the copy at thread offset t0.
  void copyRows32(Value base, int64_t width, int64_t pitch, Value dst,
                  function_ref<Value(int64_t)> rowOfCopy, NVVM::LoadCacheModifierKind cache);
  /// Block beta's keys and values (from kPlane, vPlane) into their shared
  /// windows by cp.async.
  void stageBlockKV(Value beta);
  /// Block beta's unit for the rows of its segment, stored; blkOf: the
  /// blocks of this lane's two accumulator rows.
  void unitsOfBlock(Value beta, Value stage, Value rowsOf, ArrayRef<Value> blkOf);
  /// A units block's group of 64 entry slots that holds one block's
  /// entries (one-block groups), from its first entry's block `beta`.
  void unitsOfGroup(Value beta, Value p0, Value used, ArrayRef<Value> codes, Value pair,
                    Value rowsOf);
  /// A group of 64 consecutive entries, their blocks in ascending order.
  void unitsOfGroups(Value first, Value p0, Value total, ArrayRef<Value> codes, Value pair,
                     Value rowsOf);
  /// The blocks of a thread's two accumulator rows (rowsOf's column 1).
  SmallVector<Value> blocksOfRows(Value rowsOf);
  /// Scratch results by name (AttnRouteOps.td order).
  Value picksBuf() { return arg(op.getScratch()[0]); }
  Value logitsBuf() { return arg(op.getScratch()[1]); }
  Value unitsBuf() { return arg(op.getScratch()[2]); }
  Value tableBuf() { return arg(op.getScratch()[3]); }
  Value entriesBuf() { return arg(op.getScratch()[4]); }
};

/// A tile kernel of `op`: `launch`'s grid and shared window, `body` (a
/// LandmarkTileBuilder member taking block, thread and window), its grid
/// in tiles of `gridTile`, and at D, Dv <= 64 `minCtas` blocks per SM
/// (0: ptxas's choice).
using TileBody = void (LandmarkTileBuilder::*)(Value, Value, Value);
gpu::GPUFuncOp buildTileKernel(OpBuilder &gb, func::FuncOp fn, LandmarkOp op,
                               const LandmarkShape &s, StringRef name,
                               const SharedStepLaunch &launch, TileBody body,
                               ArrayRef<int64_t> gridTile, int64_t minCtas);

} // namespace mlir::attn::cuda::landmark

#endif // ATTNIR_LIB_CONVERSION_ATTNTONVGPU_LANDMARKTILEBUILDER_H
