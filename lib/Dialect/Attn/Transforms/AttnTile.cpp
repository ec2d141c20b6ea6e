//===- AttnTile.cpp - flash-style tiling of attn.attention ----------------===//
//
// attn.attention (tensors) becomes, on buffers:
//
//   pack:   scf.parallel (b, hkv, j)   K -> kT [B, Hkv, Mpad/BK, D, BK] f32
//                                      V -> vp [B, Hkv, Mpad, Dvpad] f32
//   main:   scf.parallel (b, h, t)     one query tile of `query-tile` rows
//             [kb0, kb1) = key blocks the mask's block rule leaves visible
//             scf.for kb iter_args(m, l)             online softmax state
//               masked = block kb is not inside the rule's full range
//               attn.kv_block_update ...             target-specific body
//             out[rows] = acc / l, lse = m + log l   (zeros / -inf if l == 0)
//
// Why pack: the CPU body broadcasts one query element against a vector of 16
// keys, so it wants K transposed; packing also converts bf16/f16 to f32 once
// (not once per query tile) and pads to whole key blocks, so the body never
// needs bounds checks. Packing costs O(M D) per head against O(N M D) for the
// attention itself. With `bf16-dot`, bf16 inputs are packed as bf16 pairs
// instead (i32 buffers, BF16Pairs.h) for AVX512-BF16's pairwise dot product.
//
//===----------------------------------------------------------------------===//

#include "attnir/Dialect/Attn/IR/AttnOps.h"
#include "attnir/Dialect/Attn/Utils/BF16Pairs.h"
#include "attnir/Dialect/Attn/Utils/BuildHelpers.h"
#include "attnir/Dialect/Attn/Transforms/Passes.h"
#include "attnir/Dialect/Attn/Utils/KeySchedule.h"
#include "attnir/Dialect/Attn/Utils/PanelPack.h"
#include "attnir/Dialect/Attn/Utils/RuleEmitter.h"
#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/IR/IRMapping.h"
#include "mlir/Transforms/GreedyPatternRewriteDriver.h"
#include "llvm/ADT/ScopeExit.h"
#include <limits>
#include <numeric>

namespace mlir::attn {
#define GEN_PASS_DEF_ATTNTILE
#include "attnir/Dialect/Attn/Transforms/Passes.h.inc"
} // namespace mlir::attn

using namespace mlir;
using namespace mlir::attn;

namespace {

struct TileAttention : OpRewritePattern<AttentionOp> {
  TileAttention(MLIRContext *ctx, int64_t queryTile, int64_t keyBlock,
                int64_t keyPanelBytes, int64_t decodeRows, int64_t bf16Dot,
                bool f32Amx, int64_t tileGroup, int64_t groupBytes,
                int64_t headTaskBytes, int64_t lanes)
      : OpRewritePattern(ctx), queryTile(queryTile), keyBlock(keyBlock),
        keyPanelBytes(keyPanelBytes), decodeRows(decodeRows),
        bf16Dot(bf16Dot), f32Amx(f32Amx), tileGroup(tileGroup),
        groupBytes(groupBytes), headTaskBytes(headTaskBytes), lanes(lanes) {}

  LogicalResult matchAndRewrite(AttentionOp op,
                                PatternRewriter &rw) const override {
    Location loc = op.getLoc();
    auto qT = op.getQ().getType(), vTy = op.getV().getType(),
         oT = op.getOut().getType();
    Type elt = qT.getElementType();
    Type f32 = rw.getF32Type();
    int64_t d = qT.getDimSize(3), dv = vTy.getDimSize(3);
    int64_t dvPad = llvm::alignTo(dv, 16);
    int64_t bq = queryTile, bk = keyBlock;
    // Q K^T streams a block's packed K panel (bk x D) once per register
    // tile row; past the cap it no longer stays in L1. bf16 pairs pack 2
    // bytes per element, f32 on AMX three bf16 pieces (6), everything
    // else f32. (f32 on AMX is for head dims up to 256: its query pieces
    // and doubled scores live on the worker's stack.)
    bool f32Pieces = bf16Dot == 2 && f32Amx && elt.isF32() && d <= 256 &&
                     dv <= 256;
    int64_t panelElt = f32Pieces ? 6 : bf16Dot && elt.isBF16() ? 2 : 4;
    while (keyPanelBytes > 0 && bk / 2 >= 64 && bk % 32 == 0 &&
           bk * d * panelElt > keyPanelBytes)
      bk /= 2;
    MaskAttrInterface mask = op.getScheduleMask();
    // A token-level list (block_k not a multiple of 16) is gathered per
    // query tile instead of visited in place (GatherKeys.cpp).
    bool gather = op.hasBlockList() && op.listBlockK() % 16 != 0;
    if (op.hasBlockList()) {
      // A query tile must lie in one list row and a kernel key block in one
      // list block: the largest tile that divides block_q, and the largest
      // key block (a multiple of 16) that divides block_k.
      int64_t listQ = op.listBlockQ(), listK = op.listBlockK();
      bq = std::min(bq, listQ);
      while (listQ % bq != 0)
        --bq;
      if (!gather)
        bk = std::gcd(bk, listK);
    }
    // bf16 stays bf16, in pairs for vdpbf16ps (BF16Pairs.h): P V reduces
    // pairs of 16-key vectors, so the key block is a multiple of 32.
    // f32 on AMX (f32-amx) takes the same pairs in three bf16 pieces
    // (kv_block_update's `split`: six products per step, f32's accuracy).
    bool pairs = bf16Dot && (elt.isBF16() || f32Pieces) && !gather &&
                 bk % 32 == 0;
    // AMX (bf16-dot=2): the same pairs are VNNI B tiles; Q's rows form A
    // tiles of 16 rows and 32 bf16 (rows rounded down to 16: the 72-row
    // f32 tile becomes 64). The scale is applied in the softmax, so no
    // score rule may read the products first.
    bool amx = false;
    if (pairs && bf16Dot == 2) {
      int64_t bq16 = std::max<int64_t>(16, bq / 16 * 16);
      amx = d % 32 == 0 && !op.hasScoreRule() && op.getScaleValue() > 0 &&
            (!op.hasBlockList() || op.listBlockQ() % bq16 == 0);
      // f32 pieces at D <= 64: twice the rows, so each key block's pieces
      // (loaded by every 16-row group's tiles) serve more of them: dense
      // D = 64 +10 % on the AMX Xeon, D = 128 slower (cpu-lowering.md).
      if (amx)
        bq = f32Pieces && d <= 64 && !op.hasBlockList() ? 2 * bq16 : bq16;
      else
        pairs = false; // vdpbf16ps is slower than f32 there (cpu-lowering.md)
    }
    int64_t pieces = amx && elt.isF32() ? 3 : 1;

    auto toBuffer = [&](Value t) { return readBuffer(rw, loc, t); };
    Value q = toBuffer(op.getQ()), k = toBuffer(op.getK()),
          v = toBuffer(op.getV());
    SmallVector<Value> ruleBuffers;
    for (Value r : op.getRuleOperands())
      ruleBuffers.push_back(toBuffer(r));
    Value B = memref::DimOp::create(rw, loc, q, 0);
    Value Hq = memref::DimOp::create(rw, loc, q, 1);
    Value N = memref::DimOp::create(rw, loc, q, 2);
    Value Hkv = memref::DimOp::create(rw, loc, k, 1);
    Value M = memref::DimOp::create(rw, loc, k, 2);
    Value cBK = cIdx(rw, loc, bk), cBQ = cIdx(rw, loc, bq);
    Value Mpad = arith::MulIOp::create(
        rw, loc, arith::CeilDivUIOp::create(rw, loc, M, cBK), cBK);

    // Packed K^T and V (a gathering tile packs its own keys instead).
    // Decoding (all of a head's queries in one short tile) reads K and V in
    // place instead: each packed block would be read once, so packing (a
    // read and a write of K and V) would cost more than the attention's own
    // read (kv_block_update's in-place form). It needs whole vectors along
    // D and Dv; the choice is made at run time from N.
    bool mayDecode = !gather && decodeRows > 0 && d % 16 == 0 && dv % 16 == 0;
    int64_t dyn = ShapedType::kDynamic;
    // A task per KV head (perHeadTasks): it packs its head's K and V, then
    // runs the tiles of the head's query heads, so the packs are read from
    // its core's L2; otherwise every head is packed first, by all threads.
    Value byHead, numBlocks;
    auto packInto = [&](OpBuilder &pb, Location pl, Value kT, Value vp,
                        ValueRange head) {
      if (pairs)
        buildPairPack(pb, pl, k, v, kT, vp, B, Hkv, M, numBlocks, d, dv,
                      dvPad, bk, pieces, head);
      else
        buildPanelPack(pb, pl, k, v, kT, vp, B, Hkv, M, numBlocks, d, dv,
                       dvPad, bk, lanes, head);
    };
    auto pack = [&]() -> std::pair<Value, Value> {
      Type word = pairs ? Type(rw.getI32Type()) : f32;
      auto kTType = MemRefType::get(
          {dyn, dyn, dyn, pairs ? pieces * ((d + 1) / 2) : d, bk}, word);
      auto vpType = MemRefType::get({dyn, dyn, dyn, pieces * dvPad}, word);
      numBlocks = arith::DivUIOp::create(rw, loc, Mpad, cBK);
      Value kT = memref::AllocOp::create(rw, loc, kTType,
                                         ValueRange{B, Hkv, numBlocks});
      Value vRows = pairs ? arith::DivUIOp::create(rw, loc, Mpad,
                                                   cIdx(rw, loc, 2))
                                .getResult()
                          : Mpad;
      Value vp =
          memref::AllocOp::create(rw, loc, vpType, ValueRange{B, Hkv, vRows});
      byHead = perHeadTasks(rw, loc, B, Hkv, Mpad,
                            packedRowBytes(d, dvPad, pairs, pieces));
      if (!byHead) {
        packInto(rw, loc, kT, vp, {});
        return {kT, vp};
      }
      Value together = arith::XOrIOp::create(
          rw, loc, byHead, arith::ConstantIntOp::create(rw, loc, 1, 1));
      scf::IfOp::create(rw, loc, together, [&](OpBuilder &tb, Location tl) {
        packInto(tb, tl, kT, vp, {});
        scf::YieldOp::create(tb, tl);
      });
      return {kT, vp};
    };
    std::pair<Value, Value> packed;
    if (!gather && !mayDecode)
      packed = pack();

    // Outputs.
    auto outType = MemRefType::get(oT.getShape(), elt);
    Value out = memref::AllocOp::create(
        rw, loc, outType, dynamicSizes(outType, {B, Hq, N, Value()}));
    Value lse;
    RankedTensorType lseT;
    if (op.getLse()) {
      lseT = cast<RankedTensorType>(op.getLse().getType());
      auto lseType = MemRefType::get(lseT.getShape(), f32);
      lse = memref::AllocOp::create(rw, loc, lseType,
                                    dynamicSizes(lseType, {B, Hq, N}));
    }

    // Main loop nest, over K and V packed (kT, vp) or in place (inPlace).
    Value group = arith::DivUIOp::create(rw, loc, Hq, Hkv);
    Value numTiles = arith::CeilDivUIOp::create(rw, loc, N, cBQ);
    Tiling t{op, mask, q,  k,  v,  out, lse,   B,   Hq,  N,      M,
             Hkv, group, numTiles, ruleBuffers, bq, bk, d, dv, dvPad, elt,
             gather, pairs, amx, pieces, tileGroup, groupBytes, lanes};
    auto buildMain = [&](Value kT, Value vp, bool inPlace) {
      if (!inPlace && byHead) {
        t.byHead = byHead;
        t.packHead = [&, kT, vp](OpBuilder &pb, Location pl, ValueRange head) {
          packInto(pb, pl, kT, vp, head);
        };
      }
      if (!inPlace || !headGroupable(op, gather)) {
        buildTiles(rw, loc, t, kT, vp, inPlace);
        return;
      }
      // Decoding with GQA: the heads of a KV group share its blocks.
      Value grouped = arith::CmpIOp::create(rw, loc, arith::CmpIPredicate::ugt,
                                            group, cIdx(rw, loc, 1));
      auto branch = scf::IfOp::create(rw, loc, grouped, /*withElseRegion=*/true);
      OpBuilder::InsertionGuard g(rw);
      rw.setInsertionPointToStart(branch.thenBlock());
      buildHeadGroups(rw, loc, t, kT, vp);
      rw.setInsertionPointToStart(branch.elseBlock());
      buildTiles(rw, loc, t, kT, vp, inPlace);
    };
    auto freePacked = [&](std::pair<Value, Value> kv) {
      memref::DeallocOp::create(rw, loc, kv.first);
      memref::DeallocOp::create(rw, loc, kv.second);
    };
    if (gather) {
      buildMain(Value(), Value(), /*inPlace=*/false);
    } else if (!mayDecode) {
      buildMain(packed.first, packed.second, /*inPlace=*/false);
      freePacked(packed);
    } else {
      Value decoding = arith::CmpIOp::create(
          rw, loc, arith::CmpIPredicate::ule, N,
          cIdx(rw, loc, std::min<int64_t>(bq, decodeRows)));
      auto branch = scf::IfOp::create(rw, loc, decoding,
                                      /*withElseRegion=*/true);
      OpBuilder::InsertionGuard g(rw);
      rw.setInsertionPointToStart(branch.thenBlock());
      buildMain(k, v, /*inPlace=*/true);
      rw.setInsertionPointToStart(branch.elseBlock());
      packed = pack();
      buildMain(packed.first, packed.second, /*inPlace=*/false);
      freePacked(packed);
    }

    SmallVector<Value> results = {bufferization::ToTensorOp::create(
        rw, loc, oT, out, /*restrict=*/true, /*writable=*/true)};
    if (lse)
      results.push_back(bufferization::ToTensorOp::create(
          rw, loc, lseT, lse, /*restrict=*/true, /*writable=*/true));
    rw.replaceOp(op, results);
    return success();
  }

  /// One visited block: its first key, the next step's (prefetch hint),
  /// whether it needs the element rule.
  struct BlockStep {
    Value j0, nextJ0, masked;
  };
  using UpdateFn = function_ref<SmallVector<Value>(
      OpBuilder &, Location, const BlockStep &, ValueRange)>;

  /// The key loop over `sched` with the online-softmax states `init`
  /// ((m, l) per query tile of the group): `update(step, state)` for
  /// each visited block; a skipped step (duplicate or out-of-range list
  /// entry, or a block the mask empties) leaves the state as it is. The
  /// next step's block (the last step's own) comes from the same schedule,
  /// so a list's next entry is read in bounds.
  static scf::ForOp buildScheduleLoop(OpBuilder &rw, Location loc,
                                      const KeySchedule &sched, Value cBK,
                                      ValueRange init, UpdateFn update) {
    Value c0 = cIdx(rw, loc, 0), c1 = cIdx(rw, loc, 1);
    // Read only inside the loop, where count >= 1.
    Value lastStep = arith::SubIOp::create(rw, loc, sched.count(), c1);
    return scf::ForOp::create(
        rw, loc, c0, sched.count(), c1, init,
        [&](OpBuilder &lb, Location l, Value t, ValueRange state) {
          Value j0 = arith::MulIOp::create(lb, l, sched.block(lb, l, t), cBK);
          Value nextT =
              arith::MinUIOp::create(lb, l, plusIdx(lb, l, t, 1), lastStep);
          BlockStep step{
              j0,
              arith::MulIOp::create(lb, l, sched.block(lb, l, nextT), cBK),
              sched.masked(lb, l, t)};
          Value skip = sched.skipped(lb, l, t);
          if (!skip) {
            scf::YieldOp::create(lb, l, update(lb, l, step, state));
            return;
          }
          auto ifSkip = scf::IfOp::create(
              lb, l, skip,
              [&](OpBuilder &tb, Location tl) {
                scf::YieldOp::create(tb, tl, state);
              },
              [&](OpBuilder &eb, Location el) {
                scf::YieldOp::create(eb, el, update(eb, el, step, state));
              });
          scf::YieldOp::create(lb, l, ifSkip.getResults());
        });
  }

  /// What every query tile of one attention op shares.
  struct Tiling {
    AttentionOp op;
    MaskAttrInterface mask;
    Value q, k, v, out, lse;
    Value B, Hq, N, M, Hkv, group, numTiles;
    SmallVector<Value> ruleBuffers;
    int64_t bq, bk, d, dv, dvPad;
    Type elt;
    bool gather;
    bool pairs; // packed kT and vp hold bf16 pairs (BF16Pairs.h)
    bool amx;   // ... read by AMX tiles, the query tile row-major
    int64_t pieces; // bf16 pieces per value (3: f32 on AMX, `split`)
    int64_t tileGroup; // query tiles per task on the mask's schedule
    int64_t groupBytes; // ... once a head's packed K and V exceed this
    int64_t lanes;      // f32 per vector of the packing code
    // A task per KV head where this i1 holds (perHeadTasks): packHead packs
    // the task's head ((b, hkv)) before its tiles.
    Value byHead = {};
    std::function<void(OpBuilder &, Location, ValueRange)> packHead = {};
  };

  /// A packed query tile: f32 row-major [rows, D] (phase 1 broadcasts
  /// Q[r, e] at a constant offset per register-tile row, and the pack is a
  /// contiguous copy), or bf16 pairs (queryPairsType).
  static MemRefType queryTileType(Builder &b, int64_t d, int64_t bq,
                                  bool pairs, bool rowMajor,
                                  int64_t pieces = 1) {
    if (pairs)
      return queryPairsType(b, d, bq, rowMajor, pieces);
    return MemRefType::get({bq, d}, b.getF32Type());
  }

  /// `buf` [G, X, Y] at [g] as an [X, Y] view (tile g's buffer of a group).
  static Value tileOf(OpBuilder &b, Location l, Value buf, Value g) {
    auto ty = cast<MemRefType>(buf.getType());
    int64_t x = ty.getDimSize(1), y = ty.getDimSize(2);
    SmallVector<OpFoldResult> offs{g, b.getIndexAttr(0), b.getIndexAttr(0)};
    SmallVector<OpFoldResult> sizes{b.getIndexAttr(1), b.getIndexAttr(x),
                                    b.getIndexAttr(y)};
    SmallVector<OpFoldResult> strides(3, b.getIndexAttr(1));
    auto view = memref::SubViewOp::inferRankReducedResultType(
        {x, y}, ty, offs, sizes, strides);
    return memref::SubViewOp::create(b, l, cast<MemRefType>(view), buf, offs,
                                     sizes, strides);
  }

  /// The main loop nest, a task per (batch, query head, query tile or
  /// group of query tiles): the key loop of the task's schedule over K and
  /// V packed (`kT`, `vp`), in place (`inPlace`: kT and vp are K and V), or
  /// gathered per tile from a token-level list; then the tile's rows of out
  /// (and lse).
  ///
  /// Groups (tile-group G > 1, on the mask's schedule): once a head's packed
  /// K and V exceed tile-group-bytes, a task takes G tiles that visit each
  /// key block together, so the block's K^T and V panels are read from L2
  /// G times instead of from L3 or memory (docs/design/cpu-lowering.md).
  /// The group's schedule is that of its rows together: a block it marks
  /// partial runs the element rule on every tile, which is exact (a tile
  /// that sees none of the block's keys adds nothing to its state). The
  /// tiles' states live in memory and one loop runs over them, so the code
  /// does not grow with G.
  static void buildTiles(PatternRewriter &rw, Location loc, const Tiling &t,
                         Value kT, Value vp, bool inPlace) {
    AttentionOp op = t.op;
    MaskAttrInterface mask = t.mask;
    Value q = t.q, k = t.k, v = t.v, out = t.out, lse = t.lse;
    Value B = t.B, Hq = t.Hq, N = t.N, M = t.M, Hkv = t.Hkv, group = t.group;
    int64_t bq = t.bq, bk = t.bk, d = t.d, dv = t.dv, dvPad = t.dvPad;
    const SmallVector<Value> &ruleBuffers = t.ruleBuffers;
    Type elt = t.elt, f32 = rw.getF32Type();
    bool gather = t.gather;
    bool pairs = t.pairs && !inPlace;
    bool amx = t.amx && !inPlace;
    int64_t pieces = amx ? t.pieces : 1;
    // Lists pick blocks per list row, decoding has one tile: no groups.
    int64_t G = inPlace || gather || op.hasBlockList() ? 1 : t.tileGroup;
    Value c0 = cIdx(rw, loc, 0), c1 = cIdx(rw, loc, 1);
    Value cBK = cIdx(rw, loc, bk), cBQ = cIdx(rw, loc, bq);
    // Tiles per task at run time: G once a head's packed K and V outgrow
    // what stays cached between two tiles (more than tile-group-bytes,
    // 4 MiB by default, 2 MiB on AMX targets; below it a group only costs:
    // docs/benchmarks/cpu-tuning.md), else 1.
    Value perTask = c1, numTasks = t.numTiles, taskRows = cBQ;
    if (G > 1) {
      int64_t rowBytes = packedRowBytes(d, dvPad, pairs, pieces);
      Value bytes = arith::MulIOp::create(rw, loc, M, cIdx(rw, loc, rowBytes));
      Value big = arith::CmpIOp::create(rw, loc, arith::CmpIPredicate::ugt,
                                        bytes, cIdx(rw, loc, t.groupBytes));
      perTask = arith::SelectOp::create(rw, loc, big, cIdx(rw, loc, G), c1);
      numTasks = arith::CeilDivUIOp::create(rw, loc, t.numTiles, perTask);
      taskRows = arith::MulIOp::create(rw, loc, perTask, cBQ);
    }
    auto toBuffer = [&](Value x) { return readBuffer(rw, loc, x); };
    // Keys read in place by position (gatherInPlace): the query heads of a
    // KV head share one task when they share its list row (one list, or
    // one per KV head), which walks the list once and runs each head over
    // the same positions: the walk was repeated per head, and the heads
    // read the same K and V rows one after another (DSA's MQA). Heads of
    // different KV heads keep their own tasks: a task over all of them
    // read every KV head's rows and lost the cache between query rows
    // (DSA with 8 KV heads 1.7x slower).
    bool sharedWalk = gather && gatherInPlace(t);
    // The list's buffers, read once for the head count here and the walk.
    Value listIndices = op.hasBlockList() ? toBuffer(op.getKvIndices()) : Value();
    Value listCounts = op.hasBlockList() ? toBuffer(op.getKvCounts()) : Value();
    Value headTasks = Hq, share;
    if (sharedWalk) {
      Value perQuery = arith::CmpIOp::create(
          rw, loc, arith::CmpIPredicate::eq,
          memref::DimOp::create(rw, loc, listIndices, 1), Hq);
      share = arith::SelectOp::create(rw, loc, perQuery, c1, group);
      headTasks = arith::DivUIOp::create(rw, loc, Hq, share);
    }
    OpBuilder::InsertionGuard guard(rw);
    Value b, h, task;
    scf::ForOp unitLoop;
    llvm::scope_exit hoist([&] {
      if (unitLoop)
        hoistScratch(unitLoop);
    });
    if (t.byHead) {
      std::tie(b, h, task, unitLoop) = openHeadTasks(rw, loc, t, numTasks);
    } else {
      auto par = scf::ParallelOp::create(
          rw, loc, ValueRange{c0, c0, c0}, ValueRange{B, headTasks, numTasks},
          ValueRange{c1, c1, c1});
      rw.setInsertionPointToStart(par.getBody());
      b = par.getInductionVars()[0];
      h = par.getInductionVars()[1];
      task = par.getInductionVars()[2];
    }
    Value i0 = arith::MulIOp::create(
        rw, loc, foldedTask(rw, loc, task, numTasks), taskRows);
    Value i1 = arith::MinUIOp::create(
        rw, loc, arith::AddIOp::create(rw, loc, i0, taskRows), N);
    BlockListOperands list;
    if (op.hasBlockList())
      list = BlockListOperands{listIndices, listCounts, Hq, Hkv,
                               op.listBlockQ(), op.listBlockK(),
                               op.getFullMarked()};
    auto accType = MemRefType::get({bq, dvPad}, f32);
    // Split (f32 on AMX): P's three bf16 pieces take 3 BK / 2 columns.
    auto scoresType = MemRefType::get({bq, pieces == 3 ? 2 * bk : bk}, f32);
    GatheredKeys walked;
    scf::ForOp headLoop;
    Value qBuf, accBuf, scoresBuf;
    if (sharedWalk) {
      // The walk reads the list row of the group's first head; the tile's
      // buffers are made once, outside the loop over heads (an alloca in a
      // loop body would grow the stack per iteration).
      Value h0 = arith::MulIOp::create(rw, loc, h, share);
      QueryTile first{i0, i1, b, h0, arith::DivUIOp::create(rw, loc, h0, group),
                      N, M};
      walked = gatherListKeys(rw, loc, list, first, k, v, d, dv, dvPad, bk,
                              t.lanes, /*inPlace=*/true);
      qBuf = memref::AllocaOp::create(
          rw, loc, queryTileType(rw, d, bq, /*pairs=*/false, /*rowMajor=*/true));
      accBuf = memref::AllocaOp::create(rw, loc, accType);
      scoresBuf = memref::AllocaOp::create(rw, loc, scoresType);
      headLoop = scf::ForOp::create(rw, loc, h0,
                                    arith::AddIOp::create(rw, loc, h0, share), c1);
      rw.setInsertionPoint(headLoop.getBody()->getTerminator());
      h = headLoop.getInductionVar();
    }
    Value hkv = arith::DivUIOp::create(rw, loc, h, group);
    auto packQuery = [&](OpBuilder &pb, Location pl, Value hq, Value r0,
                         Value into) {
      return pairs ? buildQueryPairs(pb, pl, q, b, hq, r0, N, d, bq, into,
                                     /*rowMajor=*/amx, pieces)
                   : buildQueryPack(pb, pl, q, b, hq, r0, N, d, bq,
                                    op.getScaleValue(), into);
    };
    Value qTile, acc;
    if (G == 1) {
      qTile = packQuery(rw, loc, h, i0, qBuf);
      acc = accBuf ? accBuf : memref::AllocaOp::create(rw, loc, accType);
    }
    Value scores =
        scoresBuf ? scoresBuf : memref::AllocaOp::create(rw, loc, scoresType);
    if (G == 1)
      buildZeroFill(rw, loc, acc, bq, dvPad);
    // Pairs keep the query unscaled: the body scales the scores.
    FloatAttr pairScale =
        pairs ? rw.getF32FloatAttr(static_cast<float>(op.getScaleValue()))
              : FloatAttr();

    Value qDoc = op.getQDoc() ? toBuffer(op.getQDoc()) : Value();
    Value kDoc = op.getKDoc() ? toBuffer(op.getKDoc()) : Value();
    QueryTile tile{i0, i1, b, h, hkv, N, M,
                   documentSite(b, h, N, M, qDoc, kDoc)};
    if (op.hasMaskRule() && !op.getFullMarked()) {
      // The rule's own block rule: the region on intervals, reading the
      // rule operands' buffers (RuleBlocks.cpp).
      RuleOperands scalar = memrefRuleOperands(ruleBuffers);
      tile.site.ruleBlock = [&op, scalar, b, h](OpBuilder &ob, Location l,
                                                 Value bi0, Value bi1,
                                                 Value bj0, Value bj1) {
        return emitRuleOnBlock(ob, l, op.getMaskRule(), b, h, bi0, bi1, bj0,
                               bj1, scalar);
      };
    }
    auto stateType = VectorType::get({bq}, f32);
    auto [mInit, lInit] = initialStates(rw, loc, stateType);
    // One step of the tile at rows r0 with packed query `qt` and `accT`.
    auto step = [&](OpBuilder &ub, Location ul, Value qt, Value accT, Value r0,
                    Value keysT, Value vals, const BlockStep &bs,
                    ValueRange state, Value keys) -> SmallVector<Value> {
      auto upd = KVBlockUpdateOp::create(
          ub, ul, stateType, stateType, qt, keysT, vals, accT, scores, b, hkv,
          r0, bs.j0, N, M, bs.masked, state[0], state[1], qDoc, kDoc, keys,
          ruleBuffers.empty() && !op.hasScoreRule() && !op.hasMaskRule()
              ? Value()
              : h,
          bs.nextJ0, ruleBuffers, mask, pairScale);
      if (amx)
        upd.setAmx(true);
      if (pieces == 3)
        upd.setSplit(true);
      // The rule regions travel with the step (they are isolated).
      IRMapping none;
      op.getMaskRule().cloneInto(&upd.getMaskRule(), none);
      op.getScoreRule().cloneInto(&upd.getScoreRule(), none);
      return SmallVector<Value>(upd.getResults());
    };
    if (G > 1) {
      // Live tiles: min(perTask, ceil((N - i0) / bq)); i0 < N for every task.
      Value live = arith::MinUIOp::create(
          rw, loc, perTask,
          arith::CeilDivUIOp::create(rw, loc, arith::SubIOp::create(rw, loc, N, i0),
                                     cBQ));
      auto placeOf = [&](OpBuilder &ob, Location l, Value g) {
        Value r0 = arith::AddIOp::create(ob, l, i0, arith::MulIOp::create(ob, l, g, cBQ));
        return std::pair<Value, Value>(h, r0);
      };
      buildGroupLoops(rw, loc, t, tile, kT, vp, scores, G, live, placeOf, mInit,
                      lInit,
                      queryTileType(rw, d, bq, pairs, inPlace || amx, pieces),
                      packQuery, step);
      return;
    }
    scf::ForOp loop;
    if (gather) {
      bool keysInPlace = gatherInPlace(t);
      GatheredKeys gk = sharedWalk
                            ? walked
                            : gatherListKeys(rw, loc, list, tile, k, v, d, dv,
                                             dvPad, bk, t.lanes, keysInPlace);
      Value keysT = keysInPlace ? k : gk.kT, vals = keysInPlace ? v : gk.v;
      Value yes = arith::ConstantIntOp::create(rw, loc, 1, 1);
      loop = scf::ForOp::create(
          rw, loc, c0, gk.numBlocks, c1, ValueRange{mInit, lInit},
          [&](OpBuilder &lb, Location l, Value st, ValueRange state) {
            BlockStep bs{arith::MulIOp::create(lb, l, st, cBK), Value(), yes};
            scf::YieldOp::create(lb, l,
                                 step(lb, l, qTile, acc, i0, keysT, vals, bs,
                                      state, gk.keys));
          });
      if (!sharedWalk)
        for (Value buf : {gk.kT, gk.v, gk.keys})
          if (buf)
            memref::DeallocOp::create(rw, loc, buf);
    } else {
      KeySchedule sched =
          op.hasBlockList()
              ? KeySchedule::fromBlockList(rw, loc, list, mask, tile, bk)
              : KeySchedule::fromMask(rw, loc, mask, tile, bk);
      loop = buildScheduleLoop(
          rw, loc, sched, cBK, ValueRange{mInit, lInit},
          [&](OpBuilder &ub, Location ul, const BlockStep &bs,
              ValueRange state) {
            return step(ub, ul, qTile, acc, i0, kT, vp, bs, state, Value());
          });
    }
    buildFinalize(rw, loc, acc, loop.getResult(0), loop.getResult(1), out,
                  lse, b, h, i0, i1, dv, elt);
    if (headLoop) {
      rw.setInsertionPointAfter(headLoop);
      memref::DeallocOp::create(rw, loc, walked.keys);
    }
  }

  /// Bytes of one key's packed K and V row: f32, or bf16 pairs of
  /// `pieces` pieces (2 bytes per value and piece).
  static int64_t packedRowBytes(int64_t d, int64_t dvPad, bool pairs,
                                int64_t pieces) {
    return (d + dvPad) * (pairs ? 2 * pieces : 4);
  }

  /// Whether a call runs a task per KV head (an i1, or null when
  /// head-task-bytes is 0): while a head's packed K and V (rowBytes per key)
  /// take at most head-task-bytes, and the B x Hkv heads divide evenly
  /// among the call's threads (a task's tiles all run on one thread, so an
  /// uneven split would idle threads). Packing every head first left a
  /// head's packs in L3 when its tiles ran (dense f32, N = 1024, 2
  /// threads on a Zen 4 EPYC: 8 heads took 3-4 % longer per head than 2,
  /// where each thread packs and reads back its own head).
  Value perHeadTasks(OpBuilder &b, Location l, Value B, Value Hkv,
                     Value Mpad, int64_t rowBytes) const {
    if (headTaskBytes <= 0)
      return Value();
    Value bytes = arith::MulIOp::create(b, l, Mpad, cIdx(b, l, rowBytes));
    Value fits = arith::CmpIOp::create(b, l, arith::CmpIPredicate::ule, bytes,
                                       cIdx(b, l, headTaskBytes));
    Value threads = arith::MaxUIOp::create(b, l, CpuThreadsOp::create(b, l, b.getIndexType()),
                                           cIdx(b, l, 1));
    Value heads = arith::MulIOp::create(b, l, B, Hkv);
    Value even = arith::CmpIOp::create(
        b, l, arith::CmpIPredicate::eq,
        arith::RemUIOp::create(b, l, heads, threads), cIdx(b, l, 0));
    return arith::AndIOp::create(b, l, fits, even);
  }

  /// The tasks of the main loop nest with a task per KV head possible
  /// (t.byHead): scf.parallel over (b, hkv, part), then a loop over the
  /// head's units u = (query head of its group, task of numTasks) from
  /// `part`, in steps of the parts. By head, one part: the task packs its
  /// head (t.packHead) and runs every unit. Otherwise each part is one
  /// unit, the tasks of today's (b, h, task) loop in the same order.
  /// Returns (b, h, task) with the insertion point in the unit loop's body,
  /// and the loop (hoistScratch moves the units' scratch out of it).
  static std::tuple<Value, Value, Value, scf::ForOp>
  openHeadTasks(PatternRewriter &rw, Location loc, const Tiling &t,
                Value numTasks) {
    Value c0 = cIdx(rw, loc, 0), c1 = cIdx(rw, loc, 1);
    Value units = arith::MulIOp::create(rw, loc, t.group, numTasks);
    Value parts = arith::SelectOp::create(rw, loc, t.byHead, c1, units);
    auto par = scf::ParallelOp::create(rw, loc, ValueRange{c0, c0, c0},
                                       ValueRange{t.B, t.Hkv, parts},
                                       ValueRange{c1, c1, c1});
    rw.setInsertionPointToStart(par.getBody());
    Value b = par.getInductionVars()[0], hkv = par.getInductionVars()[1];
    scf::IfOp::create(rw, loc, t.byHead, [&](OpBuilder &pb, Location pl) {
      t.packHead(pb, pl, ValueRange{b, hkv});
      scf::YieldOp::create(pb, pl);
    });
    auto loop = scf::ForOp::create(rw, loc, par.getInductionVars()[2], units,
                                   parts);
    rw.setInsertionPoint(loop.getBody()->getTerminator());
    Value u = loop.getInductionVar();
    Value h = arith::AddIOp::create(
        rw, loc, arith::MulIOp::create(rw, loc, hkv, t.group),
        arith::DivUIOp::create(rw, loc, u, numTasks));
    return {b, h, arith::RemUIOp::create(rw, loc, u, numTasks), loop};
  }

  /// The unit loop's scratch (query tile, accumulators, scores: allocas of
  /// static shape) allocated once before it: an alloca in a loop body grows
  /// the stack per iteration once lowered (scf.for is an allocation scope
  /// in MLIR, but its lowering to branches keeps no stack save), and a
  /// task per head runs all of its head's tiles in that loop.
  static void hoistScratch(scf::ForOp loop) {
    SmallVector<memref::AllocaOp> scratch;
    loop.getBody()->walk([&](memref::AllocaOp a) {
      if (a->getNumOperands() == 0)
        scratch.push_back(a);
    });
    for (memref::AllocaOp a : scratch)
      a->moveBefore(loop);
  }

  /// A tile's online-softmax states before its first block: m = -inf,
  /// l = 0 per row.
  static std::pair<Value, Value> initialStates(OpBuilder &rw, Location loc,
                                               VectorType stateType) {
    Value m = arith::ConstantOp::create(
        rw, loc, DenseElementsAttr::get(
                     stateType, -std::numeric_limits<float>::infinity()));
    Value l = arith::ConstantOp::create(
        rw, loc, DenseElementsAttr::get(stateType, 0.0f));
    return {m, l};
  }

  /// Tiles of at most this many rows read gathered keys in place.
  static constexpr int64_t kGatherInPlaceRows = 2;

  /// Whether a gathering tile reads K's and V's rows where they are
  /// (through the gathered positions) instead of packing them: packing
  /// copies each listed key, which a tile of one or two rows (DSA's
  /// block_q = 1) uses once or twice, so the copy cost as much as the
  /// attention (docs/design/selection.md). The row form needs whole vectors
  /// along D and Dv.
  static bool gatherInPlace(const Tiling &t) {
    return t.gather && t.bq <= kGatherInPlaceRows && t.d % t.lanes == 0 &&
           t.dv == t.dvPad;
  }

  /// Query heads per task when decoding with GQA (buildHeadGroups).
  static constexpr int64_t kHeadGroup = 8;

  /// Whether tiles of different query heads may share one key loop: no
  /// rule reads an operand per head, no documents, no block list.
  static bool headGroupable(AttentionOp op, bool gather) {
    return !gather && !op.hasBlockList() && op.getRuleOperands().empty() &&
           !op.hasScoreRule() && !op.hasMaskRule() && !op.getQDoc() &&
           !op.getKDoc();
  }

  /// Decoding with GQA (a head's N <= bq rows are one tile, K and V read in
  /// place): the query heads of a KV head share its K and V blocks, so a
  /// task takes up to kHeadGroup of them as the tiles of one group
  /// (buildGroupLoops, rows 0 .. N each): a block comes from memory once per
  /// group of heads instead of once per head, which is Hq / Hkv times less
  /// traffic for a step that is bound by it.
  static void buildHeadGroups(PatternRewriter &rw, Location loc,
                              const Tiling &t, Value k, Value v) {
    AttentionOp op = t.op;
    int64_t bq = t.bq, bk = t.bk, d = t.d;
    Type f32 = rw.getF32Type();
    Value c0 = cIdx(rw, loc, 0), c1 = cIdx(rw, loc, 1);
    Value cG = cIdx(rw, loc, kHeadGroup);
    Value chunks = arith::CeilDivUIOp::create(rw, loc, t.group, cG);
    auto par = scf::ParallelOp::create(rw, loc, ValueRange{c0, c0, c0},
                                       ValueRange{t.B, t.Hkv, chunks},
                                       ValueRange{c1, c1, c1});
    OpBuilder::InsertionGuard guard(rw);
    rw.setInsertionPointToStart(par.getBody());
    Value b = par.getInductionVars()[0], hkv = par.getInductionVars()[1];
    Value g0 = arith::MulIOp::create(rw, loc, par.getInductionVars()[2], cG);
    Value h0 = arith::AddIOp::create(
        rw, loc, arith::MulIOp::create(rw, loc, hkv, t.group), g0);
    Value live = arith::MinUIOp::create(
        rw, loc, cG, arith::SubIOp::create(rw, loc, t.group, g0));
    QueryTile tile{c0,  t.N, b, h0, hkv, t.N, t.M,
                   documentSite(b, h0, t.N, t.M, Value(), Value())};
    Value scores =
        memref::AllocaOp::create(rw, loc, MemRefType::get({bq, bk}, f32));
    auto stateType = VectorType::get({bq}, f32);
    auto [mInit, lInit] = initialStates(rw, loc, stateType);
    auto packQuery = [&](OpBuilder &pb, Location pl, Value hq, Value r0,
                         Value into) {
      return buildQueryPack(pb, pl, t.q, b, hq, r0, t.N, d, bq,
                            op.getScaleValue(), into);
    };
    auto placeOf = [&](OpBuilder &ob, Location l, Value g) {
      return std::pair<Value, Value>(arith::AddIOp::create(ob, l, h0, g), c0);
    };
    auto step = [&](OpBuilder &ub, Location ul, Value qt, Value accT, Value r0,
                    Value keysT, Value vals, const BlockStep &bs,
                    ValueRange state, Value keys) -> SmallVector<Value> {
      auto upd = KVBlockUpdateOp::create(
          ub, ul, stateType, stateType, qt, keysT, vals, accT, scores, b, hkv,
          r0, bs.j0, t.N, t.M, bs.masked, state[0], state[1], Value(), Value(),
          keys, Value(), bs.nextJ0, ValueRange{}, t.mask, FloatAttr());
      return SmallVector<Value>(upd.getResults());
    };
    buildGroupLoops(rw, loc, t, tile, k, v, scores, kHeadGroup, live, placeOf,
                    mInit, lInit, queryTileType(rw, d, bq, false, true),
                    packQuery, step);
  }

  using PackFn =
      function_ref<Value(OpBuilder &, Location, Value, Value, Value)>;
  /// Tile g of a task: its query head and first row.
  using PlaceFn =
      function_ref<std::pair<Value, Value>(OpBuilder &, Location, Value)>;
  using StepFn = function_ref<SmallVector<Value>(
      OpBuilder &, Location, Value, Value, Value, Value, Value,
      const BlockStep &, ValueRange, Value)>;

  /// The body of a task of `live` <= G tiles (tile g at placeOf(g): a
  /// query head and first row) packed into [G, ...] buffers, one key loop
  /// over the schedule of `tile` (rows covering every tile's) whose step
  /// runs every live tile, and each live tile's rows of out. The (m, l)
  /// states live in [G, bq] buffers between steps. `qType` is one packed
  /// query tile's type.
  static void buildGroupLoops(OpBuilder &rw, Location loc, const Tiling &t,
                              const QueryTile &tile, Value kT, Value vp,
                              Value scores, int64_t G, Value live,
                              PlaceFn placeOf, Value mInit, Value lInit,
                              MemRefType qType, PackFn packQuery,
                              StepFn step) {
    int64_t bq = t.bq, dvPad = t.dvPad;
    Type f32 = rw.getF32Type();
    Value c0 = cIdx(rw, loc, 0), cBQ = cIdx(rw, loc, bq);
    // The group's query tiles: [G] x the single tile's packed type.
    SmallVector<int64_t> qShape{G};
    llvm::append_range(qShape, qType.getShape());
    Value qAll = memref::AllocaOp::create(
        rw, loc, MemRefType::get(qShape, qType.getElementType()));
    Value accAll =
        memref::AllocaOp::create(rw, loc, MemRefType::get({G, bq, dvPad}, f32));
    auto stateBuf = MemRefType::get({G, bq}, f32);
    Value mAll = memref::AllocaOp::create(rw, loc, stateBuf);
    Value lAll = memref::AllocaOp::create(rw, loc, stateBuf);
    auto rowsOf = [&](OpBuilder &ob, Location l, Value g) {
      return placeOf(ob, l, g).second;
    };
    auto state = [&](OpBuilder &ob, Location l, Value buf, Value g) {
      return vector::LoadOp::create(ob, l, VectorType::get({bq}, f32), buf,
                                    ValueRange{g, c0})
          .getResult();
    };
    forEach(rw, loc, c0, live, [&](OpBuilder &ob, Location l, Value g) {
      auto [hq, r0] = placeOf(ob, l, g);
      packQuery(ob, l, hq, r0, tileOf(ob, l, qAll, g));
      buildZeroFill(ob, l, tileOf(ob, l, accAll, g), bq, dvPad);
      vector::StoreOp::create(ob, l, mInit, mAll, ValueRange{g, c0});
      vector::StoreOp::create(ob, l, lInit, lAll, ValueRange{g, c0});
    });
    KeySchedule sched = KeySchedule::fromMask(rw, loc, t.mask, tile, t.bk);
    buildScheduleLoop(
        rw, loc, sched, cIdx(rw, loc, t.bk), ValueRange{},
        [&](OpBuilder &ub, Location ul, const BlockStep &bs, ValueRange) {
          forEach(ub, ul, c0, live, [&](OpBuilder &ob, Location l, Value g) {
            SmallVector<Value> next =
                step(ob, l, tileOf(ob, l, qAll, g), tileOf(ob, l, accAll, g),
                     rowsOf(ob, l, g), kT, vp, bs,
                     ValueRange{state(ob, l, mAll, g), state(ob, l, lAll, g)},
                     Value());
            vector::StoreOp::create(ob, l, next[0], mAll, ValueRange{g, c0});
            vector::StoreOp::create(ob, l, next[1], lAll, ValueRange{g, c0});
          });
          return SmallVector<Value>{};
        });
    forEach(rw, loc, c0, live, [&](OpBuilder &ob, Location l, Value g) {
      auto [hq, r0] = placeOf(ob, l, g);
      Value r1 = arith::MinUIOp::create(
          ob, l, arith::AddIOp::create(ob, l, r0, cBQ), t.N);
      buildFinalize(ob, l, tileOf(ob, l, accAll, g), state(ob, l, mAll, g),
                    state(ob, l, lAll, g), t.out, t.lse, tile.b, hq, r0,
                    r1, t.dv, t.elt);
    });
  }

  /// qT[r, e] = scale * q[b, h, min(i0 + r, N - 1), e] in f32: the query
  /// tile converted and scaled once per tile instead of once per key block.
  /// Rows past N repeat the last row; their results are never stored.
  static Value buildQueryPack(OpBuilder &rw, Location loc, Value q, Value b,
                              Value h, Value i0, Value N, int64_t d,
                              int64_t bq, double scale, Value into = Value()) {
    Value c0 = cIdx(rw, loc, 0), c1 = cIdx(rw, loc, 1);
    Value qT = into ? into
                    : memref::AllocaOp::create(
                          rw, loc, queryTileType(rw, d, bq, /*pairs=*/false,
                                                 /*rowMajor=*/true))
                          .getResult();
    Value lastRow = arith::SubIOp::create(rw, loc, N, c1);
    Value scaleC = arith::ConstantOp::create(
        rw, loc, rw.getF32FloatAttr(static_cast<float>(scale)));
    scf::ForOp::create(
        rw, loc, c0, cIdx(rw, loc, bq), c1, ValueRange{},
        [&](OpBuilder &fb, Location l, Value r, ValueRange) {
          Value row = arith::MinUIOp::create(
              fb, l, arith::AddIOp::create(fb, l, i0, r), lastRow);
          scf::ForOp::create(
              fb, l, c0, cIdx(fb, l, d), c1, ValueRange{},
              [&](OpBuilder &ib, Location il, Value e, ValueRange) {
                Value x = memref::LoadOp::create(ib, il, q,
                                                 ValueRange{b, h, row, e});
                Value sx = arith::MulFOp::create(ib, il, toF32(ib, il, x),
                                                 scaleC);
                memref::StoreOp::create(ib, il, sx, qT, ValueRange{r, e});
                scf::YieldOp::create(ib, il);
              });
          scf::YieldOp::create(fb, l);
        });
    return qT;
  }

  static void buildZeroFill(OpBuilder &rw, Location loc, Value buf,
                            int64_t rows, int64_t cols) {
    Value c0 = cIdx(rw, loc, 0);
    auto vt = VectorType::get({16}, rw.getF32Type());
    Value zeros = arith::ConstantOp::create(
        rw, loc, DenseElementsAttr::get(vt, 0.0f));
    scf::ForOp::create(
        rw, loc, c0, cIdx(rw, loc, rows), cIdx(rw, loc, 1), ValueRange{},
        [&](OpBuilder &fb, Location l, Value r, ValueRange) {
          scf::ForOp::create(
              fb, l, c0, cIdx(fb, l, cols), cIdx(fb, l, 16), ValueRange{},
              [&](OpBuilder &ib, Location il, Value c, ValueRange) {
                vector::StoreOp::create(ib, il, zeros, buf, ValueRange{r, c});
                scf::YieldOp::create(ib, il);
              });
          scf::YieldOp::create(fb, l);
        });
  }

  /// out[b, h, i0 + r, :] = acc[r, :] / l[r]; lse = m[r] + log l[r]. Rows with
  /// no kept key (l == 0) give zeros and -inf.
  static void buildFinalize(OpBuilder &rw, Location loc, Value acc, Value m,
                            Value l, Value out, Value lse, Value b, Value h,
                            Value i0, Value i1, int64_t dv, Type elt) {
    Value c0 = cIdx(rw, loc, 0), c1 = cIdx(rw, loc, 1);
    Value rows = arith::SubIOp::create(rw, loc, i1, i0);
    Value zero = arith::ConstantOp::create(rw, loc, rw.getF32FloatAttr(0.0f));
    Value one = arith::ConstantOp::create(rw, loc, rw.getF32FloatAttr(1.0f));
    Value negInf = arith::ConstantOp::create(
        rw, loc,
        rw.getF32FloatAttr(-std::numeric_limits<float>::infinity()));
    scf::ForOp::create(
        rw, loc, c0, rows, c1, ValueRange{},
        [&](OpBuilder &fb, Location fl, Value r, ValueRange) {
          Value lr = vector::ExtractOp::create(fb, fl, l, OpFoldResult(r));
          Value mr = vector::ExtractOp::create(fb, fl, m, OpFoldResult(r));
          Value any = arith::CmpFOp::create(fb, fl, arith::CmpFPredicate::OGT,
                                            lr, zero);
          Value inv = arith::SelectOp::create(
              fb, fl, any, arith::DivFOp::create(fb, fl, one, lr), zero);
          Value i = arith::AddIOp::create(fb, fl, i0, r);
          scf::ForOp::create(
              fb, fl, c0, cIdx(fb, fl, dv), c1, ValueRange{},
              [&](OpBuilder &ib, Location il, Value e, ValueRange) {
                Value a = memref::LoadOp::create(ib, il, acc, ValueRange{r, e});
                Value o = arith::MulFOp::create(ib, il, a, inv);
                if (elt != o.getType())
                  o = arith::TruncFOp::create(ib, il, elt, o);
                memref::StoreOp::create(ib, il, o, out,
                                        ValueRange{b, h, i, e});
                scf::YieldOp::create(ib, il);
              });
          if (lse) {
            Value logl = math::LogOp::create(fb, fl, lr);
            Value val = arith::SelectOp::create(
                fb, fl, any, arith::AddFOp::create(fb, fl, mr, logl), negInf);
            memref::StoreOp::create(fb, fl, val, lse, ValueRange{b, h, i});
          }
          scf::YieldOp::create(fb, fl);
        });
  }

  int64_t queryTile, keyBlock, keyPanelBytes, decodeRows;
  int64_t bf16Dot; // 0 widen, 1 vdpbf16ps pairs, 2 AMX tiles
  bool f32Amx;     // with bf16Dot == 2: f32 in three bf16 pieces on AMX
  int64_t tileGroup, groupBytes;
  int64_t headTaskBytes; // a task per KV head up to this many packed bytes
  int64_t lanes; // f32 per vector of the packing code
};

struct AttnTilePass : public attn::impl::AttnTileBase<AttnTilePass> {
  using AttnTileBase::AttnTileBase;
  void runOnOperation() override {
    if (keyBlock <= 0 || keyBlock % 16 != 0 || queryTile <= 0 ||
        tileGroup < 1 || tileGroup > 16 || (lanes != 8 && lanes != 16)) {
      getOperation().emitError()
          << "attn-tile: key-block must be a positive multiple of 16, "
             "query-tile positive, tile-group in 1..16 and lanes 8 or 16 "
             "(got key-block="
          << keyBlock.getValue() << ", query-tile=" << queryTile.getValue()
          << ", tile-group=" << tileGroup.getValue()
          << ", lanes=" << lanes.getValue() << ")";
      return signalPassFailure();
    }
    if (failed(attn::checkLowerable(getOperation(), "CPU")))
      return signalPassFailure();
    // The tile's scratch (packed query tile and accumulator, rows x D and
    // rows x Dv f32) lives on the worker thread's stack.
    constexpr int64_t kMaxHeadDim = 2048;
    WalkResult tooLarge = getOperation().walk([&](AttentionOp op) {
      int64_t d = op.getQ().getType().getDimSize(3);
      int64_t dv = op.getV().getType().getDimSize(3);
      if (d <= kMaxHeadDim && dv <= kMaxHeadDim)
        return WalkResult::advance();
      op.emitOpError() << "head dimensions D = " << d << ", Dv = " << dv
                       << " exceed the CPU lowering's limit of "
                       << kMaxHeadDim;
      return WalkResult::interrupt();
    });
    if (tooLarge.wasInterrupted())
      return signalPassFailure();
    RewritePatternSet patterns(&getContext());
    patterns.add<TileAttention>(&getContext(), queryTile, keyBlock,
                                std::max<int64_t>(0, keyPanelBytes),
                                decodeRows, bf16Dot, f32Amx, tileGroup,
                                std::max<int64_t>(0, tileGroupBytes),
                                std::max<int64_t>(0, headTaskBytes), lanes);
    GreedyRewriteConfig config;
    config.setStrictness(GreedyRewriteStrictness::ExistingOps);
    if (failed(applyPatternsGreedily(getOperation(), std::move(patterns),
                                     config)))
      return signalPassFailure();
  }
};

} // namespace
