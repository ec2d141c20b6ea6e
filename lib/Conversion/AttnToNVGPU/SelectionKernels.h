//===- SelectionKernels.h - selection ops as GPU kernels --------*- C++ -*-===//

#ifndef ATTNIR_CONVERSION_ATTNTONVGPU_SELECTIONKERNELS_H
#define ATTNIR_CONVERSION_ATTNTONVGPU_SELECTIONKERNELS_H

#include "attnir/Dialect/Attn/IR/AttnOps.h"
#include "attnir/Dialect/Attn/Utils/RouteBuilders.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/GPU/IR/GPUDialect.h"
#include "mlir/IR/Builders.h"
#include "mlir/IR/ImplicitLocOpBuilder.h"

namespace mlir::attn::cuda {

/// The ops of a program that become small kernels of their own:
/// attn.pool, attn.project, attn.block_scores, attn.probs, attn.select and
/// the upstream elementwise steps.
bool isSelectionOp(Operation *op);

/// Appends the kernel `name` of selection op `op` of entry `fn` at `gb`'s
/// insertion point (inside the gpu.module), with its launch contract.
/// `radixSelect`: attn.select's topk(k > kRadixAbove) cuts by
/// buildWarpRadixCut (the pass option select-radix).
LogicalResult buildSelectionKernel(OpBuilder &gb, func::FuncOp fn,
                                   Operation *op, StringRef name,
                                   bool radixSelect = false);

/// An attention whose block list is not in whole tensor-core tiles
/// (block_q or block_k not a multiple of 16): a warp per query row
/// (RowAttention.cpp) instead of the flash kernels.
bool needsRowKernel(AttentionOp op);
/// The row kernel's body for query row (bi, h, i), lane `lane` of 32.
void buildRowAttention(OpBuilder &b, Location loc, AttentionOp op,
                       function_ref<Value(Value)> arg, Value bi, Value h,
                       Value i, Value lane);

/// attn.linear as a step (LinearKernel.cpp): a thread per (b, h, value
/// column e) walks the tokens with its state column in registers.
bool canRunLinear(LinearOp op);
void buildLinearColumn(OpBuilder &b, Location loc, LinearOp op,
                       function_ref<Value(Value)> arg, Value bi, Value h, Value e);

/// The tiled block-scores kernel (TiledScores.cpp): a block of kScoreTile^2
/// threads per tile of scores, its rows staged in shared memory.
constexpr int64_t kScoreTile = 16;
/// Whether `op` can run tiled: one element type, static rows of whole
/// 16-byte pieces (at most 1 KiB, so two tiles fit easily).
bool canTileScores(BlockScoresOp op);
/// The shared-memory tile of kScoreTile rows (padded by 16 bytes).
MemRefType scoreTileType(BlockScoresOp op);
/// The body for tile index `tile`, thread `tid` of `threads`; `arg` maps an
/// op value to the kernel's memref argument; sQ, sK the two tiles.
void buildTiledScores(OpBuilder &b, Location loc, BlockScoresOp op,
                      function_ref<Value(Value)> arg, Value tile, Value tid,
                      Value sQ, Value sK, int64_t threads);

/// A step kernel `name` over `values` (its memref arguments, bound to the
/// entry's buffers by name) with its launch contract: the work items are
/// the first `gridDims` dims of argument `gridArg`, `lanes` threads each,
/// `threads` per block (RouteKernels.cpp).
gpu::GPUFuncOp createStepKernel(OpBuilder &gb, func::FuncOp fn,
                                ArrayRef<Value> values, StringRef name,
                                int64_t gridArg, int64_t gridDims,
                                int64_t threads, int64_t lanes);

/// How a step kernel with dynamic shared memory launches (createStepKernel's
/// grid, and the bytes of shared memory per block).
struct SharedStepLaunch {
  int64_t gridArg, gridDims, threads, lanes, sharedBytes;
};
/// A step kernel of `op` whose arguments are op's operands then results,
/// with `launch.sharedBytes` of dynamic shared memory: `body` builds at the
/// start of the kernel, given the kernel argument of each of op's values
/// and the shared window; the kernel returns after it. Returned for
/// further launch attributes.
gpu::GPUFuncOp buildSharedStepKernel(
    OpBuilder &gb, func::FuncOp fn, Operation *op, StringRef name, const SharedStepLaunch &launch,
    function_ref<void(ImplicitLocOpBuilder &, gpu::GPUFuncOp, function_ref<Value(Value)>, Value)>
        body);

/// The kernels' one dynamic shared window, `attn_dsmem`: declared once per
/// gpu.module, viewed as `bytes` i8 by each kernel that uses it (the
/// launch contract carries the size: attn.dynamic_shared).
void declareDynamicShared(OpBuilder &gb, gpu::GPUModuleOp m, Location loc);
Value dynamicSharedBytes(ImplicitLocOpBuilder &b, int64_t bytes);

/// `x` combined over the warp's lanes (butterfly: every lane gets it).
Value warpReduce(OpBuilder &b, Location loc, Value x,
                 function_ref<Value(Value, Value)> combine);

/// `x` combined over lanes 0 .. lane32 (an inclusive scan by shuffles up;
/// lane32 is the lane as i32).
Value warpInclusiveScan(OpBuilder &b, Location loc, Value x, Value lane32,
                        function_ref<Value(Value, Value)> combine);

/// The cut (score, position as i32) of topk(k) over a row by the warp
/// that owns it (WarpRadixCut.cpp): lane l sees positions c 32 + l, and
/// `candidateAt(c)` gives its (score, candidate?) there (-inf, false past
/// the row). 4 passes of 8-bit digit counts into the warp's 256 bins of
/// `hist` [warps, 256] i32 in shared memory (row `slot`; the first also
/// counts the row), then one pass for the cut's position among its ties
/// unless all of them are kept: O(Nk / 32) per lane whatever k.
/// Every candidate kept (count <= k): (-inf, nk).
/// Chunks of 32 scores whose loads a warp's row pass issues together.
int64_t selectBatch();

std::pair<Value, Value> buildWarpRadixCut(
    OpBuilder &b, Location loc, int64_t k, Value lane, Value chunks, Value nk,
    Value hist, Value slot,
    function_ref<std::pair<Value, Value>(OpBuilder &, Location, Value)> candidateAt);

/// attn.linear in chunks on tensor cores (LinearChunkKernel.cpp): decays
/// and scalar gates, feature maps, state in and out, f16/bf16 inputs.
/// `chunk` and `columns` are the pass options linear-chunk (0: always the
/// token recurrence) and linear-columns (value columns per block).
bool canChunkLinear(LinearOp op, int64_t chunk, int64_t columns);
/// On a split(64) attn.linear (attn-linear-split's split-only): the state
/// and output passes alone, launched whatever the grid.
constexpr llvm::StringLiteral kSplitOnlyAttr = "attn.split_only";
/// `hopper` (sm_90a: mma=wgmma or auto): split's output pass on wgmma.
LogicalResult buildLinearChunkKernel(OpBuilder &gb, func::FuncOp fn,
                                     LinearOp op, StringRef name,
                                     int64_t columns, bool hopper);

/// attn.index_scores by 64 x 64 tiles on tensor cores (TiledIndexScores.cpp):
/// qi in f16/bf16 with DI a multiple of 32 up to 256, ki of qi's type or
/// f32 (split into two halves of qi's type).
bool canTileIndexScores(IndexScoresOp op);
LogicalResult buildTiledIndexScores(OpBuilder &gb, func::FuncOp fn, IndexScoresOp op,
                                    StringRef name);

/// attention over a token-level list that attn.select made, one list for all
/// heads, by the query heads of a KV group as tensor-core rows
/// (GroupedListAttention.cpp): f16/bf16, D a multiple of 32 and Dv of 16 up
/// to 256, no mask or causal, no rules or documents.
bool canGroupListAttention(AttentionOp op);
LogicalResult buildGroupedListAttention(OpBuilder &gb, func::FuncOp fn, AttentionOp op,
                                        StringRef name);

/// Ends a step kernel's body: its return at the end of its block.
void endKernel(ImplicitLocOpBuilder &b, gpu::GPUFuncOp kfn);

/// The work item's indices over the first `rank` dims of `grid`, inside an
/// `if` on the item being in range (the builder is left in its body).
/// `lanes` threads per item: `lane` is set to the thread's lane.
SmallVector<Value> enterStepItem(ImplicitLocOpBuilder &b, Value grid,
                                 unsigned rank, int64_t threads,
                                 int64_t lanes, Value &lane);

/// attn.route as two kernels (RouteKernels.cpp): "<name>_c0" (a thread per
/// token: its bucket) and "<name>" (a block per (b, h) row: the stable
/// order); needs a static number of buckets up to routeBucketLimit().
LogicalResult buildRouteKernels(OpBuilder &gb, func::FuncOp fn, RouteOp op,
                                StringRef name);
int64_t routeBucketLimit();
/// The bucket kernel's float32 screen (RouteBucketScreen.cpp): x of this
/// element type may be scored in float32 first.
bool screensBuckets(Type elt);
/// max_c |mu_c|^2 of the centroids staged as f32 in `mu` [1, C, D]
/// (threads below C sum one each into `norms` [C]; barriers inside).
Value maxCentroidNorm2(ImplicitLocOpBuilder &b, Value mu, Value norms, Value tid,
                       int64_t C, int64_t D);
/// The buckets of tokens `ts` of row (bi, h) (site.centroids: the f32
/// stage): float32 sums where they provably pick the float64 argmax, the
/// float64 sums of buildRouteBucketsAt elsewhere.
/// `first`: loadTokenPieces of ts at feature 0, issued early.
SmallVector<Value> screenedNearest(ImplicitLocOpBuilder &b, const RouteSite &site,
                                   Value maxNorm2, int64_t C, int64_t D, Value bi, Value h,
                                   ArrayRef<Value> ts, ArrayRef<Value> first);
/// The screen on tensor cores (RouteBucketScreen.cpp): x of f16/bf16 and
/// C % 8 == 0 centroids up to 32, D % 16 == 0 up to 128.
bool screensBucketsByMma(Type elt, int64_t C, int64_t D);
constexpr int64_t kMmaBucketRows = 128, kMmaBucketThreads = 128;
/// One block's tile of the tensor-core bucket kernel: kMmaBucketRows
/// tokens of row (bi, h) from t0, the shared stages xs [rows, D + 8] and
/// ms [C, D + 8] (x's element type), todo [2 rows + 1] i32
/// (the tokens left to the float64 sums with their candidate centroids'
/// bits, as pairs; their count last).
struct MmaBucketTile {
  Value x, mu, bucket, xs, ms, todo, bi, h, t0, n, tid;
  int64_t C, D;
};
void buildMmaBuckets(ImplicitLocOpBuilder &b, const MmaBucketTile &tile);
/// One 16-byte piece of each token's row of x at feature d (vectors).
SmallVector<Value> loadTokenPieces(ImplicitLocOpBuilder &b, Value x, Value bi, Value h,
                                   ArrayRef<Value> ts, Value d);
/// attn.landmark: by query tiles on tensor cores where canTileLandmark
/// (LandmarkTiles.cpp), else a thread per query row (no scratch).
LogicalResult buildLandmarkKernel(OpBuilder &gb, func::FuncOp fn,
                                  LandmarkOp op, StringRef name);
/// Blocks of 64, q/k/v/landmarks of one f16/bf16 type, D % 32 == 0 and
/// Dv % 16 == 0 up to 128, topk absent or 1..8.
bool canTileLandmark(LandmarkOp op);
LogicalResult buildLandmarkTiles(OpBuilder &gb, func::FuncOp fn, LandmarkOp op,
                                 StringRef name);
/// attn.landmark by blocks (attn-landmark-split's form; LandmarkBlocks.cpp):
/// six kernels of one step, "<name>_c0" .. "_c4" then "<name>".
LogicalResult buildLandmarkBlocks(OpBuilder &gb, func::FuncOp fn, LandmarkOp op,
                                  StringRef name);
/// attn.scan: a block per (b, h) row, a thread per (feature, piece of the
/// row) (ScanKernel.cpp).
LogicalResult buildScanKernel(OpBuilder &gb, func::FuncOp fn, ScanOp op,
                              StringRef name);
/// A step kernel `name` writing op's one result [B, H, S(, D)] from rows of
/// `x` picked by `index` (attn.permute, attn.gather): a thread per 16 bytes
/// of a row where rows are whole 16-byte pieces (`width` elements each),
/// else a thread per element; `body(b, x, index, out, at, width)` copies
/// one piece (RouteKernels.cpp).
LogicalResult buildRowCopyKernel(
    OpBuilder &gb, func::FuncOp fn, Operation *op, Value x, Value index, StringRef name,
    function_ref<void(ImplicitLocOpBuilder &, Value, Value, Value, ArrayRef<Value>, int64_t)>
        body);
/// attn.permute: a thread per element.
LogicalResult buildPermuteKernel(OpBuilder &gb, func::FuncOp fn, PermuteOp op,
                                 StringRef name);
/// attn.sample: a thread per drawn position; attn.gather: a thread per 16
/// bytes of a row (SampleKernels.cpp).
LogicalResult buildSampleKernel(OpBuilder &gb, func::FuncOp fn, SampleOp op, StringRef name);
LogicalResult buildGatherKernel(OpBuilder &gb, func::FuncOp fn, GatherOp op, StringRef name);
/// attn.split_heads / attn.join_heads: a copy kernel per part, steps
/// "<name>_c<p>" and "<name>" for the last (HeadKernels.cpp).
LogicalResult buildSplitHeadsKernels(OpBuilder &gb, func::FuncOp fn, SplitHeadsOp op,
                                     StringRef name);
LogicalResult buildJoinHeadsKernels(OpBuilder &gb, func::FuncOp fn, JoinHeadsOp op,
                                    StringRef name);

} // namespace mlir::attn::cuda

#endif // ATTNIR_CONVERSION_ATTNTONVGPU_SELECTIONKERNELS_H
