//===- LinearChunkKernel.h - the chunked attn.linear kernel's builder -*- C++ -*-===//
//
// Shared by LinearChunkKernel.cpp (the kernel, scalar decays and gates) and
// LinearChunkGates.cpp (GLA's gates per key feature): the sizes and
// shared-memory layout of one kernel, and the builder that emits its body.
//
//===----------------------------------------------------------------------===//

#ifndef ATTNIR_LIB_CONVERSION_ATTNTONVGPU_LINEARCHUNKKERNEL_H
#define ATTNIR_LIB_CONVERSION_ATTNTONVGPU_LINEARCHUNKKERNEL_H

#include "MmaFragments.h"
#include "attnir/Dialect/Attn/IR/AttnOps.h"
#include "attnir/Dialect/Attn/Utils/BuildHelpers.h"
#include "mlir/Dialect/GPU/IR/GPUDialect.h"
#include "mlir/Dialect/Math/IR/Math.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "mlir/Dialect/SCF/IR/SCF.h"

namespace mlir::attn::cuda {
namespace linear_chunk {
constexpr int64_t kChunk = 64, kThreads = 128;
constexpr double kLog2e = 1.4426950408889634;
/// A token's log2 decay is at least this: a gate of 0 becomes 2^-64 (its
/// products vanish in bf16 and f32 alike), never -inf, whose differences
/// would be NaN.
constexpr double kMinLog2Gate = -64.0;

/// What a kernel of the op computes: the fused form (outputs and the state
/// pass in one walk over the chunks), or split(C)'s state pass (no Q, no
/// outputs; writes each chunk's starting state and the corrected values)
/// and output pass (one chunk, its starting state read back).
enum class ChunkRole { Fused, State, Output };

/// Calls f(r, col) for each 16-byte piece (8 elements) of a [rows, bv]
/// tile, spread over the block's threads.
inline void forEachPiece(ImplicitLocOpBuilder &b, Value tid, int64_t rows, int64_t width,
                         function_ref<void(Value, Value)> f) {
  auto c = [&](int64_t v) -> Value { return arith::ConstantIndexOp::create(b, v); };
  int64_t pieces = width / 8, total = rows * pieces;
  for (int64_t t = 0; t < total; t += kThreads) {
    Value idx = arith::AddIOp::create(b, tid, c(t));
    OpBuilder::InsertionGuard g(b);
    if (total - t < kThreads) {
      auto in = scf::IfOp::create(
          b, arith::CmpIOp::create(b, arith::CmpIPredicate::ult, idx, c(total)), false);
      b.setInsertionPointToStart(&in.getThenRegion().front());
    }
    f(arith::DivUIOp::create(b, idx, c(pieces)),
      arith::MulIOp::create(b, arith::RemUIOp::create(b, idx, c(pieces)), c(8)));
  }
}

/// Sizes of one kernel and its shared-memory layout (byte offsets, all
/// multiples of 16).
struct ChunkShape {
  int64_t d, dv, bv;
  Type elt;
  /// GLA: the element type of the log gates per key feature; null for
  /// scalar decays and gates.
  Type gateElt = {};
  /// The delta rule: A [C, C] and X [C, BV] in f32 and beta [C] follow G.
  bool delta = false;
  /// The delta rule's WY form (wy(C)): W [C, D] follows V in the stage, U's
  /// slice arrives in V's place; no A, X or beta (the prep kernel made them).
  bool wy = false;
  /// `normalize`: z [D] f32 follows G, the decayed sum of the keys in the
  /// fused kernel (mma.sync or wgmma), the chunk's starting normaliser read
  /// back in split's output pass (the state pass keeps z in registers).
  bool normalize = false;
  ChunkRole role = ChunkRole::Fused;
  /// GLA's output pass: a block per (b, h, chunk) walks every slice of Dv
  /// (the per-feature gate work of the scores is done once, not once per
  /// slice); slice j + 1's V and state land in K's and G's space while
  /// slice j's products run.
  bool walkSlices = false;
  /// Hopper's warpgroup MMA (LinearChunkWgmma.cpp): the output pass, or
  /// the state pass in registers; Q, K, V (and the output pass's state) in
  /// swizzled boxes without padding (WgmmaOps.h).
  bool wgmma = false;
  /// State rows (key features) per block: D, or 64 of them in GLA's state
  /// pass on wgmma, whose block then does only its features' gate work
  /// (fla's BK): twice the blocks, half the gate work on each.
  int64_t dk = 0;
  int64_t stateRows() const { return dk ? dk : d; }
  int64_t featureSlices() const { return d / stateRows(); }
  /// GLA's state pass on wgmma: the chunk's raw log gates [C, dk] ride in
  /// the stage (cp.async, chunks ahead like K and V) and are scanned there:
  /// no global loads per token and feature, no gates carried in registers.
  bool stagedGates() const { return wgmma && gateElt && role == ChunkRole::State; }
  int64_t rawGateBytes() const {
    return stagedGates() ? kChunk * stateRows() * gateElt.getIntOrFloatBitWidth() / 8 : 0;
  }
  /// The state pass reads no queries: its stage has no Q.
  bool hasQ() const { return role != ChunkRole::State; }
  /// split's state pass without wy keeps the state in its accumulators;
  /// sS only stages chunk c's state for 16-byte stores during chunk c + 1
  /// (two buffers: no barrier of its own).
  bool stateInRegisters() const { return role == ChunkRole::State && !wy; }
  /// The kernels on wgmma that read their state tile as an MN-major operand
  /// (the fused kernel's and the output pass's Q S, the WY state pass's
  /// W S): swizzled, unpadded. The state pass in registers only stages it
  /// for its stores.
  bool swizzledState() const { return wgmma && !stateInRegisters(); }
  /// The fused kernel on wgmma keeps a weighted copy of V beside its state
  /// (V itself feeds A V).
  bool weightedValueTile() const { return wgmma && role == ChunkRole::Fused; }
  int64_t stateTileBytes() const {
    return stateRows() * (swizzledState() ? bv : padV()) * 2;
  }
  /// Q's and K's rows (K's of the block's features).
  int64_t padD() const { return wgmma ? stateRows() : d + 8; }
  /// Rows of the staged state (never read by wgmma).
  int64_t padV() const { return bv + 8; }
  int64_t qBytes() const { return kChunk * padD() * 2; }
  int64_t vBytes() const { return kChunk * (wgmma ? bv : padV()) * 2; }
  /// Within a stage: Q at 0 (where present), then K, then V (then W, or
  /// GLA's raw gates).
  int64_t offK() const { return hasQ() ? qBytes() : 0; }
  int64_t offV() const { return offK() + qBytes(); }
  int64_t offW() const { return offV() + vBytes(); }
  int64_t stageBytes() const { return offW() + (wy ? qBytes() : 0) + rawGateBytes(); }
  /// Two stages (the next chunk's copies fly during this chunk's
  /// products), or one with GLA's G [C, D]: 96 KB at D = Dv = 128 keeps two
  /// blocks on an SM, which hide more latency than the second stage.
  int64_t stages() const {
    // split's state pass runs two blocks per SM whatever its shared
    // memory: up to 100 KB of stages hide the copies' latency in its short
    // chain (K^T V, and W S with the delta rule).
    if (role == ChunkRole::State)
      return wy || gateElt ? 2 : 4;
    return gateElt || delta || wy || role == ChunkRole::Output ? 1 : 2;
  }
  int64_t offS() const { return stages() * stageBytes(); }
  int64_t offVw() const { return offS() + stateTileBytes(); }
  int64_t offG() const {
    return offS() + (stateInRegisters() ? 2 : 1) * stateTileBytes() +
           (weightedValueTile() ? vBytes() : 0);
  }
  /// G: [C] f32 then the keys' weights in the state update [C] f32, or
  /// (GLA) G [C, padG] f32, rows padded by 16 bytes: a row starts 4 banks
  /// after the previous one, so the diagonal scores' float quadruples of 8
  /// rows (or of rows 0, 2, 4, 6) and the state update's pairs of tokens
  /// 0, 2, 4, 6 x 8 features each fill the 32 banks once (32 bytes of
  /// padding put rows 4 apart on the same banks: ncu counted 3.9
  /// wavefronts per shared load in GLA's output pass).
  int64_t padG() const { return stateRows() + 4; }
  int64_t gateBytes() const { return kChunk * 4 * (gateElt ? padG() : 2); }
  /// The state pass in registers scans chunk c + 1's scalar gates while
  /// slower warps still read chunk c's: two buffers.
  int64_t gateBuffers() const { return stateInRegisters() && !gateElt ? 2 : 1; }
  int64_t endG() const { return offG() + gateBuffers() * gateBytes(); }
  int64_t offBeta() const { return endG(); }
  int64_t padA() const { return kChunk + 4; }
  int64_t offA() const { return offBeta() + kChunk * 4; }
  int64_t padX() const { return bv + 4; }
  int64_t offX() const { return offA() + kChunk * padA() * 4; }
  int64_t offZ() const {
    return wgmma && role == ChunkRole::Output ? wgmmaOffG() + kChunk * 4 : endG();
  }
  int64_t normalizerBytes() const { return normalize ? d * 4 : 0; }
  int64_t bytes() const {
    if (wgmma && role == ChunkRole::Output)
      return wgmmaOffG() + kChunk * 4 + normalizerBytes();
    if (normalize)
      return offZ() + normalizerBytes();
    return delta ? offX() + kChunk * padX() * 4 : endG();
  }
  /// wgmma's layout (every tile 1024-aligned): Q, K [C, D], V [C, BV],
  /// S [D, BV], then G [C] f32.
  int64_t wgmmaOffK() const { return kChunk * d * 2; }
  int64_t wgmmaOffV() const { return 2 * kChunk * d * 2; }
  int64_t wgmmaOffS() const { return wgmmaOffV() + kChunk * bv * 2; }
  int64_t wgmmaOffG() const { return wgmmaOffS() + d * bv * 2; }
  /// State rows per warp in 16-row m-tiles; value slices per head.
  int64_t stateTiles() const { return stateRows() / 64; }
  int64_t slices() const { return dv / bv; }
};

class LinearChunkBuilder : KernelMath {
public:
  LinearChunkBuilder(ImplicitLocOpBuilder &b, LinearOp op, ChunkShape s,
                     function_ref<Value(Value)> arg)
      : KernelMath{b}, op(op), s(s), arg(arg), mf(b, s.elt) {}

  /// The fused kernel or split's state pass (s.role): a block per (b, h,
  /// value slice) walking the chunks.
  void build(Value bi, Value h, Value slice, Value tid, Value smem);
  /// split's state pass without wy (ChunkShape::stateInRegisters).
  /// A block per (b, h, value slice, feature slice).
  void buildStatePass(Value bi, Value h, Value slice, Value features, Value tid, Value smem);
  /// split's output pass: a block per (b, h, chunk, value slice).
  void buildOutputPass(Value bi, Value h, Value chunk, Value slice, Value tid, Value smem);
  /// The same on wgmma (ChunkShape::wgmma; LinearChunkWgmma.cpp).
  void buildOutputPassWgmma(Value bi, Value h, Value chunk, Value slice, Value tid,
                            Value smem);
  /// The wy(C) prep kernel's body for chunk `chunk` of (bi, h)
  /// (LinearChunkWY.cpp): W and U of the chunk into the op's wy results.
  void buildWYPrep(Value bi, Value h, Value chunk, Value tid, Value smem);
  /// Its shared memory in bytes.
  static int64_t wyPrepBytes(int64_t d, int64_t dv);

private:
  LinearOp op;
  ChunkShape s;
  function_ref<Value(Value)> arg;
  MmaFragments mf;

  Value bi, h, v0, tid, lane, warp, n;
  /// The block's first key feature (ChunkShape::dk; null: 0).
  Value f0;
  Value feature(Value local) { return f0 ? add(f0, local) : local; }
  /// Sets the values every body starts from (indices, the head's decay).
  void enter(Value bIdx, Value head, Value thread, Value window);
  /// sG: G [C], or with GLA's gates G [C, padG]; sKW: with scalar gates,
  /// the keys' weights 2^{G - G_s} (0 past N), made by scanGates.
  Value smem, sQ, sK, sV, sS, sG, sKW;
  bool featureGates() const { return static_cast<bool>(s.gateElt); }
  /// Any decay or gate: G is not 0.
  bool gated() { return op.getDecay() || op.getGate() || op.getLogGate(); }
  /// Keys enter the state update weighted (gates; the delta rule's forms).
  /// Without, tokens past N are kept out by zeroTailValues.
  bool weightedKeys() { return gated() || s.delta || s.wy; }
  /// sG (and sKW) in gate buffer `buffer` (an index value).
  void useGates(Value buffer);
  /// The head's constant log2 decay (decay(%lambda)), or null.
  Value headDecay;

  /// 2^x by ex2.approx.ftz.f32 per element: results below 2^-126 flush
  /// to 0 (every factor here is a decay <= 1, and such products vanish in
  /// bf16 and f32 alike); math.exp2's form handles subnormals in three more
  /// instructions, a fifth of the elementwise loops' issue slots.
  Value exp2(Value x) {
    auto vt = dyn_cast<VectorType>(x.getType());
    if (!vt)
      return approxExp2(b, x);
    SmallVector<Value> parts;
    for (int64_t i = 0; i < vt.getNumElements(); ++i)
      parts.push_back(approxExp2(b, vector::ExtractOp::create(b, x, ArrayRef<int64_t>{i})));
    return vector::FromElementsOp::create(b, vt, parts);
  }
  void barrier() { gpu::BarrierOp::create(b); }
  Value view(Value offset, ArrayRef<int64_t> shape, Type elt) {
    return sharedView(smem, offset, shape, elt);
  }
  /// The Q, K, V tiles of stage `stage` (an index value, 0 or 1).
  void useStage(Value stage) {
    Value base = mul(stage, s.stageBytes());
    stageOffset = base;
    if (swizzledTiles) { // flat views: the copies and readers swizzle
      if (s.hasQ())
        sQ = view(base, {kChunk * s.d}, s.elt);
      sK = view(add(base, s.offK()), {kChunk * s.stateRows()}, s.elt);
      sV = view(add(base, s.offV()), {kChunk * s.bv}, s.elt);
      if (s.stagedGates())
        sRawG = view(add(base, s.offW()), {kChunk, s.stateRows()}, s.gateElt);
      if (s.wy)
        sW = view(add(base, s.offW()), {kChunk * s.d}, s.elt);
      return;
    }
    sQ = view(base, {kChunk, s.padD()}, s.elt);
    sK = view(add(base, s.offK()), {kChunk, s.padD()}, s.elt);
    sV = view(add(base, s.offV()), {kChunk, s.padV()}, s.elt);
    if (s.wy)
      sW = view(add(base, s.offW()), {kChunk, s.padD()}, s.elt);
  }
  Value stageOf(Value chunk) { return s.stages() > 1 ? rem(chunk, s.stages()) : c(0); }
  /// If `chunk` < `chunks`, its copies; then a commit group (empty past
  /// the end, so that wait counts stay uniform).
  void loadIfAny(Value chunk, Value chunks, Value q, Value k, Value v);
  /// Copies chunk `chunk`'s tiles into its stage (one commit group).
  void loadChunk(Value chunk, Value q, Value k, Value v) {
    useStage(stageOf(chunk));
    Value t0 = mul(chunk, kChunk);
    if (s.hasQ())
      copyRows(q, t0, Value(), s.d, sQ);
    copyRows(k, t0, f0, s.stateRows(), sK);
    copyRows(v, t0, v0, s.bv, sV);
    if (s.stagedGates()) // rows of dk gates, unswizzled
      copyRowsAsync(b, arg(op.getLogGate()), bi, h, t0, f0, n, sRawG, kChunk, s.stateRows(),
                    tid, kThreads, /*bypassL1=*/true);
    if (s.wy)
      copyRows(arg(op.getWyW()), t0, Value(), s.d, sW);
  }

  /// The chunk's rows from row0 of src (columns from col0) into dst. The
  /// state pass copies by cp.async.cg (through L2 only: ncu counted its L1
  /// at 78 % busy); the other kernels keep .ca (plain's fused 32-column
  /// kernel: 0.83 ms with it, 0.87-0.91 with .cg at 4 x 16 x 16384).
  void copyRows(Value src, Value row0, Value col0, int64_t width, Value dst) {
    auto swizzled = [&](Value r, Value col) { return pieceAt(r, col, width); };
    copyRowsAsync(b, src, bi, h, row0, col0, n, dst, kChunk, width, tid, kThreads,
                  /*bypassL1=*/s.role == ChunkRole::State,
                  swizzledTiles ? function_ref<SmallVector<Value>(Value, Value)>(swizzled)
                                : function_ref<SmallVector<Value>(Value, Value)>());
  }
  /// phi on a [C, width] tile (Q, K: D; K of a feature slice: dk).
  void applyFeatureMap(Value tile, int64_t width);
  /// A feature map other than the identity rewrites Q's and K's tiles.
  bool mapsFeatures() {
    return op.getFeatureMap() && *op.getFeatureMap() != FeatureMap::Identity;
  }
  /// Tiles in wgmma's swizzled boxes (flat views) rather than padded rows.
  bool swizzledTiles = false;
  /// The indices of the 16-byte piece at (r, col) of a [C, width] tile
  /// (Q, K: width D; V: BV).
  SmallVector<Value> pieceAt(Value r, Value col, int64_t width = 0);
  /// The indices of element (r, col) of the [D, BV] state tile sS (D rows
  /// per box where swizzled).
  SmallVector<Value> stateAt(Value r, Value col);
  /// The first state row of this warp's m-tile mi: 16-row tiles
  /// (mma.sync: warp w owns rows [w D / 4, (w + 1) D / 4)) or wgmma's m64
  /// tiles (warp w owns rows 64 mi + [16 w, 16 w + 16)).
  Value stateRow0(int64_t mi) {
    return s.wgmma ? add(mul(warp, 16), mi * 64) : add(mul(warp, 16 * s.stateTiles()), mi * 16);
  }
  /// The state pass on wgmma: V's rows weighted by the keys' weights (or
  /// zero past N; with GLA's gates K's rows by their features' weights),
  /// then S = decayed S + K^T V.
  SmallVector<Value> updatedStateWgmma(ValueRange S, Value t0, Value gLast);
  /// GLA: K [C, D] in the stage times 2^{G_{C-1,d} - G_{s,d}} per element
  /// (rows past N zero), in place.
  void weightKeyFeatures(Value t0);
  /// GLA: state row d times 2^{G_{C-1,d}}.
  SmallVector<Value> featureDecayedState(ValueRange S);
  /// ChunkShape::stagedGates: the stage's raw gates [C, dk].
  Value sRawG;
  /// sG = the sums of the staged gates: a thread per feature and part of
  /// the chunk (kThreads / dk parts: 32 tokens each at dk = 64), each part's
  /// own inclusive sums; stagedGateSum adds the parts before.
  void scanStagedGates(Value t0);
  /// G[t][col .. col + width): the inclusive sum from the chunk's start.
  Value stagedGateSum(Value t, Value col, int64_t width);
  /// dst (a [C, BV] tile like sV) = V's rows times the keys' weights sKW
  /// (0 past N).
  void weightValueRows(Value dst);
  /// The fused kernel on wgmma: V's rows weighted for the state update.
  Value sVw;
  // wgmma's operands (LinearChunkWgmma.cpp): shared addresses (i64) and
  // descriptors of their k-steps.
  Value smemAddress(Value byteOffset);
  Value offsetAddress(Value addr, int64_t bytes);
  /// fence.proxy.async (this thread's shared writes before wgmma reads
  /// them), then a barrier.
  void fenceForWgmma();
  Value kMajorStep(Value tile, int64_t kt);
  Value mnMajorStep(Value tile, int64_t rows, int64_t width, int64_t kt);
  /// The chunk's output rows of the warpgroup from Q, K, V and the state
  /// tile at these shared addresses (all issued, all retired).
  SmallVector<Value> chunkOutputWgmma(Value q, Value k, Value v, Value st,
                                      SmallVector<Value> *den = nullptr);
  /// S + K^T V on S's m64 accumulator tiles.
  SmallVector<Value> addKeysTimesValues(SmallVector<Value> S, Value k, Value v);
  /// The fused kernel's chunk on wgmma: its outputs stored, then the
  /// state updated (returned).
  SmallVector<Value> chunkStepWgmma(ValueRange S, Value t0, Value gLast);
  /// S times 2^gLast (gLast null: S).
  SmallVector<Value> decayedState(ValueRange S, Value gLast);
  /// The byte offset of useStage's stage in the window.
  Value stageOffset;
  Value logGateAt(Value t);
  void scanGates(Value t0);
  /// The A fragment of Q's k-step kt for the warp's rows from r0 (read
  /// when used: holding all of Q's fragments costs 32 registers at D = 128).
  SmallVector<Value> queryFragment(Value r0, int64_t kt, Value tile = {}) {
    return mf.ldmatrix(tile ? tile : sQ, add(r0, rem(lane, 16)),
                       add(mul(div(lane, 16), 8), kt * 16), 4, false);
  }
  /// rows S for this warp's 16 rows of `rows` (Q by default).
  SmallVector<Value> queryTimesState(Value r0, Value rows = {});
  /// (rows K^T) o 2^{G_t - G_s} x rowScale(t) for this warp's rows, kept
  /// for s <= t (s < t when strict); Q and scoreScale() by default.
  /// maskedScores' weights and causal mask on raw scores A.
  void decayScores(SmallVector<SmallVector<Value>> &A, Value r0, bool strict,
                   function_ref<Value(Value)> rowScale);
  SmallVector<SmallVector<Value>> maskedScores(Value r0, Value rows = {}, bool strict = false,
                                               function_ref<Value(Value)> rowScale = {});
  SmallVector<Value> chunkOutput(Value r0);
  /// O's rows times 2^{G_t} scoreScale(): the state term decayed from the
  /// chunk's start.
  void decayStateTerm(Value r0, SmallVector<Value> &O);
  /// The masked scores (m16n8 accumulators) as the A-operand words of the
  /// product with V, four per 16 tokens.
  SmallVector<SmallVector<Value>> scoreWords(ArrayRef<SmallVector<Value>> A);
  /// O += P V for the warp's rows, P the masked scores as A fragments.
  void addScoresTimesValues(ArrayRef<SmallVector<Value>> A, SmallVector<Value> &O);

  // `normalize` (LinearChunkNormalize.cpp): out_t = scale phi(q_t)^T S_t /
  // phi(q_t)^T z_t, z in sZ [D] f32.
  Value sZ;
  /// sZ = 0 (ordered by the first chunk's barrier).
  void initNormalizer();
  /// This warp's rows of the chunk's normalised output; the rows' lse
  /// (log phi(q)^T z) stored where the op returns it.
  SmallVector<Value> chunkOutputNormalized(Value t0, Value r0);
  /// split's state pass, z carried in registers by thread d < D of value
  /// slice 0's block: z (the chunk's start) into the chunk normalisers,
  /// then 2^{G_last} z + sum_s w_s phi(k_s) returned (others return z).
  Value stepChunkNormalizer(Value z, Value chunk, Value t0, Value gLast);
  /// 2^{G_last} z + sum_s w_s phi(k_s) for feature `tid` of the block's
  /// state rows (the caller's thread is below their count): scalar gates'
  /// weights, or GLA's per feature.
  Value advanceNormalizer(Value z, Value t0, Value gLast);
  /// The fused kernel: thread d < D's next z_d (before the chunk's last
  /// barrier), then stored into sZ (after it).
  Value walkNormalizer(Value t0, Value gLast);
  void storeNormalizer(Value z);
  /// The products' scale: the op's, or 1 with normalize (whose scale
  /// multiplies the final 1 / den).
  double scoreScale() { return s.normalize ? 1.0 : op.getScaleValue(); }
  /// split's output pass: sZ = the chunk's starting z (ordered by the
  /// barrier before the products).
  void loadChunkNormalizer(Value chunk);
  /// The denominators of this lane's two accumulator rows: the row sums
  /// of the unscaled masked scores A plus 2^{G_t} q_t . z.
  SmallVector<Value> rowDenominators(Value r0, ArrayRef<SmallVector<Value>> A,
                                     bool gatedQueries = false);
  /// O's rows times scale / den (0 where den = 0); the lse where returned.
  void normalizeRows(Value t0, Value r0, SmallVector<Value> &O, ArrayRef<Value> den);

  // The delta rule (LinearChunkDelta.cpp): U replaces V in sV.
  bool delta() const { return s.delta; }
  Value sBeta, sA, sX;
  // The WY form (LinearChunkWY.cpp): sW [C, padD], the chunk's W.
  Value sW;
  void correctValues(Value r0);
  /// sV's rows of this warp (16 from r0) -= WS (m16n8 accumulator order).
  void subtractFromValues(Value r0, ArrayRef<Value> WS);
  /// The WY state pass on wgmma: sV = U - W S (W K-major in the stage, S
  /// swizzled MN-major in sS), the warpgroup's 64 rows.
  void correctValuesWgmma();
  SmallVector<Value> tileProduct(ArrayRef<SmallVector<Value>> aFrag, Value bTile, int64_t col0,
                                 int64_t width, ArrayRef<Value> init = {});
  SmallVector<SmallVector<Value>> scaledInverse(Value r0, function_ref<Value(Value)> x);
  /// A product tile of smemProduct: operand and output corners, the
  /// thread's first row r and column c, k terms, rows r + 4 q (q < rows).
  struct ProductTile {
    Value lr0, lc0, rr0, rc0, or0, oc0, r, c;
    int64_t k, rows;
    bool negate;
  };
  void smemProduct(Value out, Value L, Value R, ProductTile t);
  void solveInverse(Value sX);
  void storeRows(Value dst, Value t0, Value r0, ArrayRef<Value> O, Value col0, int64_t width);
  /// sBeta by threads firstThread .. firstThread + C - 1.
  void loadBetas(Value t0, int64_t firstThread = 0);
  void l2normalize(Value tile);
  void storeKeyScores(Value r0);
  void deltaValues(Value r0);
  void solveValues();

  // GLA (LinearChunkGates.cpp): G [t][d], the inclusive sums of the
  // chunk's log2 gates per key feature.
  SmallVector<Value> loadFeatureGates(Value t0);
  void storeFeatureGateSums(ArrayRef<Value> g);
  void scanFeatureGates(Value t0) { storeFeatureGateSums(loadFeatureGates(t0)); }
  Value gateRow(Value t, Value d, int64_t width);
  void scaleWarpRows(Value r0, function_ref<Value(Value, Value)> exponent);
  SmallVector<Value> diagonalScores(Value r0);
  SmallVector<SmallVector<Value>> offDiagonalScores(Value r0, Value ref);
  SmallVector<Value> chunkOutputGated(Value t0, Value r0);
  /// The scores of chunkOutputGated, with sQ's rows left as Q o 2^{G_t}.
  SmallVector<SmallVector<Value>> gatedScores(Value r0);
  /// O = scale Q S + A V for this warp's rows, sQ already weighted.
  SmallVector<Value> outputFromScores(Value r0, ArrayRef<SmallVector<Value>> A);
  /// walkSlices: slice `slice`'s V and state tile into buffer `buffer`
  /// (0: the stage's V and sS; 1: K's and G's space), as sV and sS.
  void useSliceBuffer(int64_t buffer);
  void copySlice(Value t0, Value chunk, int64_t slice, int64_t buffer);
  void walkOutputSlices(Value t0, Value chunk, Value r0);
  Value featureKeyWeights(Value t0, Value d, Value tok);
  void syncWarp();
  /// Calls f(i, row, column) for accumulator element i of this thread's
  /// state slice (row of S, column of v).
  void forEachStateCell(function_ref<void(int64_t, Value, Value)> f) {
    int64_t numV = s.bv / 8;
    for (int64_t mi = 0; mi < s.stateTiles(); ++mi)
      for (int64_t nt = 0; nt < numV; ++nt)
        for (int64_t e = 0; e < 4; ++e) {
          auto [row, col] = cell(stateRow0(mi), nt, e);
          f((mi * numV + nt) * 4 + e, row, add(v0, col));
        }
  }
  void storeOutput(Value t0, Value r0, ArrayRef<Value> O);
  // split(C) (LinearChunkKernel.cpp): the chunk states [B, H, C, D, Dv]
  // and corrected values between the state pass and the output pass.
  void copyStateTile(Value chunk);
  void storeStateTile(Value chunk);
  /// The state pass in registers: chunk `chunk`'s state, staged in its
  /// buffer by the chunk's iteration, into the chunk states.
  void flushStateTile(Value chunk) {
    useStateBuffer(rem(chunk, 2));
    storeStateTile(chunk);
  }
  void storeCorrectedValues(Value t0);
  /// The chunk's feature map and l2norm on sQ (where present) and sK,
  /// each followed by a barrier.
  void prepareQueriesAndKeys();
  SmallVector<Value> updatedState(ValueRange S, Value t0, Value gLast);
  void writeState(ArrayRef<Value> S);
  /// The state slice from the initial state (or 0) in accumulator order.
  SmallVector<Value> initialState();
  void storeFinalState(ValueRange S);
  /// The state pass in registers: sS = state buffer `buffer` (an index).
  void useStateBuffer(Value buffer);  /// Rows of sV past N set to 0 (a barrier after, in the last chunk only).
  void zeroTailValues(Value t0);
  /// (row, column) of accumulator element e of n-tile nt in a 16-row tile
  /// starting at row0.
  std::pair<Value, Value> cell(Value row0, int64_t nt, int64_t e) {
    Value row = accumulatorRow(lane, row0, e);
    return {row, accumulatorCol(lane, nt, e)};
  }
};

/// The tile of a block of a kernel gridded by 64-token tiles of `rows`
/// [B, H, N, ...] (attn.grid_tile): blockIdx.x = ((b H + h) ceil(N / C) +
/// chunk) slices + slice.
struct TileBlock {
  Value bi, h, chunk, slice;
};
inline TileBlock decodeTileBlock(ImplicitLocOpBuilder &b, Value rows, int64_t slices) {
  Location loc = b.getLoc();
  Value heads = dimOf(b, loc, rows, 1), n = dimOf(b, loc, rows, 2);
  Value chunks = arith::CeilDivUIOp::create(b, n, cIdx(b, loc, kChunk));
  Value block = gpu::BlockIdOp::create(b, gpu::Dimension::x);
  Value numSlices = cIdx(b, loc, slices);
  TileBlock t;
  t.slice = arith::RemUIOp::create(b, block, numSlices);
  Value rest = arith::DivUIOp::create(b, block, numSlices);
  t.chunk = arith::RemUIOp::create(b, rest, chunks);
  rest = arith::DivUIOp::create(b, rest, chunks);
  t.h = arith::RemUIOp::create(b, rest, heads);
  t.bi = arith::DivUIOp::create(b, rest, heads);
  return t;
}

/// The wy(C) prep kernel `name` of `op` (LinearChunkWY.cpp): a block per
/// (b, h, chunk) writes the chunk's W and U.
LogicalResult buildWYPrepKernel(OpBuilder &gb, func::FuncOp fn, LinearOp op, StringRef name);

} // namespace linear_chunk
} // namespace mlir::attn::cuda

#endif // ATTNIR_LIB_CONVERSION_ATTNTONVGPU_LINEARCHUNKKERNEL_H
