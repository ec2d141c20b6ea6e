//===- FlashKernel.h - what the CUDA attention kernels share ------*- C++ -*-===//
//
// The tile shape, the key-block schedule and the fragment-level softmax of
// the two CUDA kernels: the mma.sync kernel (FlashKernelSync.cpp, sm_80+)
// and the Hopper kernel (FlashKernelHopper.cpp, sm_90a: TMA, mbarriers,
// warp specialisation, wgmma). Both hold S and O in the m16n8 accumulator
// layout (a wgmma m64nN accumulator is four warps of it, one per 16 rows),
// so masking, the online softmax, P as an A operand and the epilogue are
// one code.
//
//===----------------------------------------------------------------------===//

#ifndef ATTNIR_LIB_CONVERSION_ATTNTONVGPU_FLASHKERNEL_H
#define ATTNIR_LIB_CONVERSION_ATTNTONVGPU_FLASHKERNEL_H

#include "attnir/Dialect/Attn/IR/AttnOps.h"
#include "attnir/Dialect/Attn/Utils/KeySchedule.h"
#include "attnir/Dialect/Attn/Utils/RuleEmitter.h"
#include "MmaFragments.h"
#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/GPU/IR/GPUDialect.h"
#include "mlir/Dialect/LLVMIR/LLVMDialect.h"
#include "mlir/Dialect/LLVMIR/NVVMDialect.h"
#include "mlir/Dialect/Math/IR/Math.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "mlir/Dialect/NVGPU/IR/NVGPUDialect.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/Dialect/Vector/IR/VectorOps.h"
#include "mlir/IR/ImplicitLocOpBuilder.h"

namespace mlir::attn::cuda {

/// Tile shape of one kernel, fixed at compile time.
struct FlashShape {
  int64_t d, dv, warps, mtiles, bq, bk, stages;
  Type elt;
  bool hasLse;
  /// Q fragments held in registers for the whole key loop, or re-read from
  /// shared memory per k-step (D = 128 with two m-tiles: the registers go
  /// to the accumulators).
  bool qInRegs = true;
  /// The Hopper kernel: `warps` consumer warps (whole warpgroups, 16 query
  /// rows each) plus a producer warpgroup, one lane of which issues TMA
  /// copies into a ring of `stages` K/V buffers. The producer is a whole
  /// warpgroup because registers move between warpgroups (setmaxnreg), and
  /// ptxas budgets a 9-warp block like a 12-warp one anyway.
  bool hopper = false;
  /// Hopper with two consumer warpgroups: they take turns issuing MMAs.
  bool pingPong = false;
  /// Hopper: blocks resident per SM (nvvm.minctasm). Each gets 1 / ctas of
  /// the register file and must fit its tiles in 1 / ctas of the shared
  /// memory; in exchange one block's start (barriers, Q, the first K) and
  /// epilogue overlap another block's MMAs.
  int64_t ctas = 1;
  /// Hopper: one block per SM looping over (query tile, head, batch) work
  /// items, the K/V ring and the ping-pong carried across tiles and Q
  /// double-buffered, so the next tile's copies overlap this tile's last
  /// MMAs and epilogue (opt-in: on the H200 it was no faster, even for the
  /// short tiles of sparse block lists; docs/benchmarks/sparse.md).
  bool persistent = false;
  /// Hopper: record clock64 stamps of each tile's phases in shared memory
  /// and, at the end of the block, write each tile's record over the first
  /// bytes of its own output rows (bench/gpu/tile_trace.py reads them): a
  /// measuring build, never a default. (Not printf: a call in the kernel
  /// makes ptxas serialise every wgmma.)
  bool traceTiles = false;
  /// Slots of the trace: tiles per block and 8-byte words per tile record.
  static constexpr int64_t kTraceTiles = 32, kTraceEvents = 20;
  /// A runtime block list of listQ x listK blocks (0: none). Its operands
  /// kv_indices and kv_counts follow q, k, v among the kernel arguments.
  int64_t listQ = 0, listK = 0;
  /// The list is attn.rule_blocks' map (full_marked): full blocks as ~id,
  /// the mask_rule's block rule already applied.
  bool listMarked = false;

  /// Document ids (q_doc, kv_doc) follow the block list, if any.
  bool segments = false;

  /// The rule operands of mask_rule / score_rule regions follow the ids.
  unsigned numRules = 0;

  /// An attn.merge fused into the epilogue: the other part's (out, lse)
  /// follow the rule operands, and out, lse are the merge's results.
  bool mergePrior = false;

  /// Hopper: gathered rows, the attn.permute of q, k and v by `perm` and
  /// the inverse one of the result done by the kernel (routing): row r of
  /// the routed order is row perm[b, h, r] of q, k and v (k and v of head
  /// h / G), and out row r goes to row perm[b, h, r]. The producer
  /// warpgroup copies rows with cp.async (TMA has no row gather on sm_90);
  /// perm follows the prior operands.
  bool gatherRows = false;
  /// Gathered rows by TMA boxes of one row (gather-tma=1) from the lanes
  /// of one producer warp, instead of cp.async.
  bool gatherTma = false;

  /// Kernel argument positions: q, k, v[, kv_indices, kv_counts][, q_doc,
  /// k_doc][, rule operands][, prior out, prior lse][, perm], out[, lse].
  unsigned docArg() const { return listQ ? 5 : 3; }
  unsigned ruleArg() const { return docArg() + (segments ? 2 : 0); }
  unsigned priorArg() const { return ruleArg() + numRules; }
  unsigned rowsArg() const { return priorArg() + (mergePrior ? 2 : 0); }
  unsigned outArg() const { return rowsArg() + (gatherRows ? 1 : 0); }

  int64_t padD() const { return d + 8; } // +16 B per row: no ldmatrix
  int64_t padV() const { return dv + 8; } // bank conflicts
  int64_t threads() const { return 32 * (hopper ? warps + 4 : warps); }
  /// K tiles reuse the Q tile's buffer (Q lives in registers once loaded),
  /// so D = 128 fits 64-key blocks in 48 KB.
  bool kInQ() const { return !hopper && qInRegs && bk <= bq; }

  /// Byte offsets of the Hopper kernel's shared memory. Every tile is
  /// stored as column boxes of 64 elements (128 B rows, TMA's 128-byte
  /// swizzle), box after box; all offsets are multiples of 1024 (the
  /// swizzle atom). The mbarriers follow: Q full, then K full, V full,
  /// K empty and V empty of every stage. A persistent kernel holds two Q
  /// buffers (Q full and Q empty of each follow Q full of the first).
  struct HopperLayout {
    int64_t q, qStage, k, kStage, v, vStage, bars, trace, total;
  };
  HopperLayout hopperLayout() const {
    HopperLayout l;
    l.q = 0;
    l.qStage = bq * d * 2;
    l.k = (persistent ? 2 : 1) * l.qStage;
    l.kStage = bk * d * 2;
    l.v = l.k + stages * l.kStage;
    l.vStage = bk * dv * 2;
    l.bars = l.v + stages * l.vStage;
    l.trace = l.bars + 8 * (4 + 4 * stages);
    l.total = l.trace + (traceTiles ? 8 * kTraceTiles * kTraceEvents : 0);
    return l;
  }
  int64_t sharedBytes() const {
    if (hopper)
      return hopperLayout().total;
    return 2 * ((kInQ() ? bq : bq + bk) * padD() + bk * padV());
  }
  /// Past 48 KB the tiles live in dynamic shared memory (opt-in per kernel
  /// at launch); the Hopper kernel always uses it (1024-byte alignment).
  bool dynamicShared() const {
    return hopper || sharedBytes() > 48 * 1024;
  }
};

/// The rule operands of a kernel, its `count` arguments from `first` on:
/// loads and dims of global memrefs,
/// transcendentals in their fast hardware forms (tanh.approx, ex2.approx,
/// lg2.approx, sin/cos.approx, rsqrt.approx, div.full).
RuleOperands gpuRuleOperands(gpu::GPUFuncOp fn, unsigned first,
                              unsigned count);
/// The same over rule operand buffers (global memrefs) given directly.
RuleOperands gpuRuleBuffers(SmallVector<Value> buffers);

/// gpuRuleOperands whose range reads (the interval block rule) are spread
/// over the 32 lanes of a warp, `lane` being this thread's; every lane
/// must evaluate the same block.
RuleOperands gpuWarpRuleOperands(gpu::GPUFuncOp fn, unsigned first,
                                 unsigned count, Value lane);

/// min (isMin) or max of `x` over the 32 lanes of the warp, in every lane.
Value warpMinMax(OpBuilder &b, Location loc, Value x, bool isMin);

/// attn.rule_blocks' row (b, hl, query block `at`) with a warp
/// (RuleBlocksKernel.cpp): the blocks the mask attribute makes visible, a
/// lane per block, each decided by the region on intervals; kept ids (full
/// ones as ~id) in ascending order and the count.
void buildRuleBlocksRow(OpBuilder &b, Location loc, RuleBlocksOp op,
                        gpu::GPUFuncOp fn, function_ref<Value(Value)> arg,
                        ArrayRef<Value> at, Value lane);

/// The step before attn.rule_blocks' map for rule operand `r`: a thread
/// per element compares it with its snapshot (bit for bit), copies it
/// there when it differs and then raises the op's change counter.
LogicalResult buildSnapshotKernel(OpBuilder &gb, func::FuncOp fn,
                                  RuleBlocksOp op, unsigned r, StringRef name);

class HopperKernel;

/// Builds one kernel body. The per-kernel values (ids, sizes, owned rows,
/// schedule) are set by `setup`; the fragment steps are shared by both
/// kernels.
class FlashKernelBuilder {
  /// buildHopper's pieces (HopperKernel.h).
  friend class HopperKernel;

public:
  /// The kernel of `op`: its schedule mask, scale and rule regions.
  FlashKernelBuilder(ImplicitLocOpBuilder &b, FlashShape s, AttentionOp op)
      : b(b), s(s), frags(b, s.elt), mask(op.getScheduleMask()),
        scale(op.getScaleValue()),
        maskRule(op.hasMaskRule() ? &op.getMaskRule() : nullptr),
        scoreRule(op.hasScoreRule() ? &op.getScoreRule() : nullptr) {}

  /// The mma.sync kernel into `fn` (arguments q, k, v, out[, lse]) using
  /// the shared buffers sQ, sK, sV.
  void build(gpu::GPUFuncOp fn, Value sQ, Value sK, Value sV);
  /// The Hopper kernel into `fn` (arguments q, k, v, out[, lse], then the
  /// tensor maps of q, k and v) over the dynamic shared window `smem`
  /// (1-D i8, laid out by FlashShape::hopperLayout).
  void buildHopper(gpu::GPUFuncOp fn, Value smem);

private:
  ImplicitLocOpBuilder &b;
  FlashShape s;
  MmaFragments frags;
  MaskAttrInterface mask;
  double scale;
  /// The op's rule regions (null when absent), inlined one value per
  /// register; their operands are the kernel arguments from ruleArg().
  Region *maskRule, *scoreRule;
  RuleOperands ruleOperands;

  // Values common to the whole kernel (setup).
  Value tid, lane, warp, bIdx, h, hkv, N, M, Hq, Hkv, i0, i1;
  Type f32, i32;
  /// Query rows this thread owns in the accumulators ([mi * 2 + rr]) and
  /// its column pair.
  SmallVector<Value> rows;
  Value colPair;
  /// The key-block schedule of this query tile (KeySchedule.h).
  KeySchedule sched;
  /// What masks read (document ids), for the element rule.
  MaskSiteValues site;
  Value zero, ninf, scale2;
  /// scale x log2(e) > 0: scores stay unscaled until the softmax, which
  /// takes the row max of raw scores and folds the scale into
  /// exp2(s * scale2 - m) (one FMA per score instead of a multiply and a
  /// subtract; a positive scale keeps the max where it is).
  bool foldScale = false;
  /// A raw score as the softmax takes it.
  Value scaled(Value x) {
    return foldScale ? x : arith::MulFOp::create(b, x, scale2).getResult();
  }
  // Loop state layout: O [mi][dt][4], then m [mi][rr], then l [mi][rr].
  int64_t MT = 1, numO = 0, numS = 0, oSize = 0, mBase = 0, lBase = 0;

  /// Ids, sizes, the owned rows and the key schedule of this query tile
  /// (the block's: setupKernel, then setupTile of the block ids).
  void setup(gpu::GPUFuncOp fn);
  /// What every tile of the kernel shares: thread ids, sizes, constants.
  void setupKernel(gpu::GPUFuncOp fn);
  /// Query tile `tile` of head `head`, batch row `batch`: its rows, the
  /// mask's site and the key schedule.
  void setupTile(gpu::GPUFuncOp fn, Value tile, Value head, Value batch);
  /// O = 0, m = -inf, l = 0.
  SmallVector<Value> initialState();

  /// The score rule on every score of the block (natural logits in, the
  /// softmax then takes them with scale2 = log2(e)).
  void applyScoreRule(SmallVector<SmallVector<Value>> &S, Value j0);
  /// Partial blocks: the element rule and the key tail, as -inf.
  void maskScores(SmallVector<SmallVector<Value>> &S, Value t, Value j0);
  /// Online softmax per owned row: P (as A fragments), alpha, new m and l.
  struct SoftmaxOut {
    SmallVector<SmallVector<SmallVector<Value>>> pA; // [mi][kt][4]
    SmallVector<Value> alpha, mNew, lNew;
  };
  SoftmaxOut softmax(SmallVector<SmallVector<Value>> &S, ValueRange st);
  /// O of the loop state times alpha of its row.
  SmallVector<Value> rescaled(ValueRange O, ArrayRef<Value> alpha);
  /// Ends a key-block step: yields O, the new m and the new l.
  void yieldState(ArrayRef<Value> O, const SoftmaxOut &so);
  /// l across the quad, normalise, store rows < N into fn's out (and lse).
  void epilogue(ValueRange fin, gpu::GPUFuncOp fn);
  /// A fused merge: the other part's lse and out pairs of one row.
  struct PriorRow {
    Value lse;
    SmallVector<Value> out;
  };
  PriorRow loadPriorRow(gpu::GPUFuncOp fn, Value row);
  std::tuple<Value, Value, Value> mergeWeights(Value priorLse, Value rowLse, Value inv);
  /// The epilogue's parts: each row's normalised (or merged) out as
  /// 32-bit words and its lse; the words regrouped by a quad transpose for
  /// 16-byte stores; the stores of rows < N.
  SmallVector<SmallVector<Value>> outputWords(ValueRange fin, ArrayRef<PriorRow> prior,
                                              SmallVector<Value> &rowLses);
  SmallVector<SmallVector<Value>> outputWordsByQuad(ArrayRef<SmallVector<Value>> words);
  void storeOutputRows(gpu::GPUFuncOp fn, ArrayRef<SmallVector<Value>> words,
                       ArrayRef<SmallVector<Value>> stored, ArrayRef<Value> rowLses,
                       Value firstOfQuad);


  Value c(int64_t v) { return arith::ConstantIndexOp::create(b, v); }
  Value cf(float v) {
    return arith::ConstantOp::create(b, b.getF32FloatAttr(v));
  }
  Value add(Value x, Value y) { return arith::AddIOp::create(b, x, y); }
  Value add(Value x, int64_t y) { return y ? add(x, c(y)) : x; }
  Value mul(Value x, int64_t y) { return arith::MulIOp::create(b, x, c(y)); }
  Value div(Value x, int64_t y) { return arith::DivUIOp::create(b, x, c(y)); }
  Value rem(Value x, int64_t y) { return arith::RemUIOp::create(b, x, c(y)); }

  // mma.sync kernel pieces (FlashKernelSync.cpp).
  void copyTile(Value src, Value head, Value row0, Value limit, Value dst,
                int64_t rows, int64_t width);
  SmallVector<Value> ldmatrix(Value smem, Value row, Value col, int64_t tiles,
                              bool trans) {
    return frags.ldmatrix(smem, row, col, tiles, trans);
  }
  SmallVector<Value> mma(ValueRange a, ValueRange bw, ValueRange acc) {
    return frags.mma(a, bw, acc);
  }
  void accumulatePV(SmallVector<Value> &O,
                    SmallVector<SmallVector<SmallVector<Value>>> &pA,
                    Value sV);
  /// This warp's Q rows: where they start in the tile, the lane's column
  /// offset, and (with qInRegs) their A fragments [mi][kt][4].
  struct QRows {
    Value wrow, colOff;
    SmallVector<SmallVector<SmallVector<Value>>> frags;
  };
  /// The Q tile into shared memory and, with qInRegs, into registers.
  QRows loadQ(Value q, Value sQ);
  /// S = Q K^T of the block in sK, scaled: [mi][nt * 4 + e].
  SmallVector<SmallVector<Value>> scoresQK(const QRows &qr, Value sQ, Value sK);

  Value asWord(Value x) { return frags.asWord(x); }
  /// Two f32 as one mma operand word of f16/bf16 (the A fragment of P).
  Value pack(Value x, Value y) { return frags.pack(x, y); }
  /// x reduced over the 4 lanes of a quad (lanes sharing accumulator rows).
  template <typename OpTy> Value quadReduce(Value x) { return cuda::quadReduce<OpTy>(b, x); }
};

} // namespace mlir::attn::cuda

#endif // ATTNIR_LIB_CONVERSION_ATTNTONVGPU_FLASHKERNEL_H
