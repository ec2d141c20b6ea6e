//===- RowAttention.cpp - attention over a per-row key list, a warp a row -===//
//
// Block lists whose query blocks or key blocks are not whole tensor-core
// tiles (block_q or block_k not a multiple of 16: MoBA's and NSA's lists
// per query token, DSA's and SEA's token-level lists) name a different set
// of keys for every row, which the tiled flash kernels cannot share across
// a tile. Here one warp runs one query row (b, h, i): it walks its list row
// in order, skips out-of-range and repeated ids (a duplicate counts once,
// as in the reference), and for each listed key that the mask keeps takes
// the dot product across the lanes (q and the accumulator held as D / 32
// and Dv / 32 values per lane), an online-softmax update, and v's
// contribution. f32 arithmetic for every input type. Rule regions run per
// key: the score rule on the natural logit, the mask rule with the mask
// attribute (both inlined, fast hardware transcendentals). This is the first,
// correct form; FlashMLA-style tiles of a KV group's heads on tensor cores
// are the faster one.
//
//===----------------------------------------------------------------------===//

#include "SelectionKernels.h"
#include "FlashKernel.h"
#include "attnir/Dialect/Attn/Utils/BuildHelpers.h"
#include "attnir/Dialect/Attn/Utils/KeySchedule.h"
#include "mlir/Dialect/GPU/IR/GPUDialect.h"
#include "mlir/Dialect/Math/IR/Math.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include <limits>

using namespace mlir;
using namespace mlir::attn;

bool mlir::attn::cuda::needsRowKernel(AttentionOp op) {
  return op.hasBlockList() && (op.listBlockQ() % 16 || op.listBlockK() % 16);
}

namespace {

constexpr double kInf = std::numeric_limits<double>::infinity();

Value warpSum(OpBuilder &b, Location loc, Value x) {
  for (int32_t off : {16, 8, 4, 2, 1})
    x = arith::AddFOp::create(
        b, loc, x,
        gpu::ShuffleOp::create(b, loc, x, off, 32, gpu::ShuffleMode::XOR)
            .getShuffleResult());
  return x;
}

/// Feature `lane + 32 r` of row `at` (0 past `dim`).
Value laneLoad(OpBuilder &b, Location loc, Value buf, SmallVector<Value> at,
               Value lane, int64_t r, int64_t dim) {
  Value e = arith::AddIOp::create(b, loc, lane, cIdx(b, loc, 32 * r));
  Value in = arith::CmpIOp::create(b, loc, arith::CmpIPredicate::ult, e,
                                   cIdx(b, loc, dim));
  auto load = scf::IfOp::create(
      b, loc, in,
      [&](OpBuilder &tb, Location tl) {
        at.push_back(e);
        scf::YieldOp::create(
            tb, tl, ValueRange{toF32(tb, tl, memref::LoadOp::create(tb, tl, buf, at))});
      },
      [&](OpBuilder &eb, Location el) {
        scf::YieldOp::create(eb, el, ValueRange{cF32(eb, el, 0.0)});
      });
  return load.getResult(0);
}

/// Whether the list's entry at `slot` repeats an earlier one of the row:
/// only an id at or below the largest seen so far can (sorted lists, the
/// select's, never scan back).
Value repeats(OpBuilder &b, Location loc, const BlockListOperands &list,
              const ListRow &row, Value bi, Value slot, Value id,
              Value largest) {
  Value c0 = cIdx(b, loc, 0), c1 = cIdx(b, loc, 1);
  Value maybe = arith::CmpIOp::create(b, loc, arith::CmpIPredicate::sle, id,
                                      largest);
  auto scan = scf::IfOp::create(
      b, loc, maybe,
      [&](OpBuilder &tb, Location tl) {
        Value no = arith::ConstantIntOp::create(tb, tl, 0, 1);
        auto loop = scf::ForOp::create(
            tb, tl, c0, slot, c1, ValueRange{no},
            [&](OpBuilder &fb, Location fl, Value t, ValueRange seen) {
              Value same = arith::CmpIOp::create(
                  fb, fl, arith::CmpIPredicate::eq,
                  loadListId(fb, fl, list, row, bi, t), id);
              scf::YieldOp::create(
                  fb, fl, ValueRange{arith::OrIOp::create(fb, fl, seen[0], same)});
            });
        scf::YieldOp::create(tb, tl, loop.getResults());
      },
      [&](OpBuilder &eb, Location el) {
        scf::YieldOp::create(eb, el,
                             ValueRange{arith::ConstantIntOp::create(eb, el, 0, 1)});
      });
  return scan.getResult(0);
}

/// One warp's query row (b, h, i): its list row walked slot by slot, each
/// fresh in-range block's keys visited under the mask, then the outputs.
struct RowAttentionBuilder {
  OpBuilder &b;
  Location loc;
  AttentionOp op;
  function_ref<Value(Value)> arg;
  Value bi, h, i, lane;
  Value q, k, v;
  int64_t d, dv, rq, rv;
  Value hq, hkvCount, n, m, hkv;
  QueryTile tile;
  RuleOperands rules;
  BlockListOperands list;
  ListRow row;
  Value blockK, numBlocks;
  MaskAttrInterface mask;
  SmallVector<Value> qs;
  Value scale;

  RowAttentionBuilder(OpBuilder &b, Location loc, AttentionOp op, function_ref<Value(Value)> arg,
                      Value bi, Value h, Value i, Value lane)
      : b(b), loc(loc), op(op), arg(arg), bi(bi), h(h), i(i), lane(lane) {}

  Value asI64(OpBuilder &ob, Location l, Value x) {
    return arith::IndexCastOp::create(ob, l, ob.getI64Type(), x);
  }

  /// The row's operands, list row and query features.
  void setUp() {
    q = arg(op.getQ()), k = arg(op.getK()), v = arg(op.getV());
    d = op.getQ().getType().getDimSize(3);
    dv = op.getV().getType().getDimSize(3);
    rq = (d + 31) / 32, rv = (dv + 31) / 32;
    Value c1 = cIdx(b, loc, 1);
    hq = dimOf(b, loc, q, 1), hkvCount = dimOf(b, loc, k, 1);
    n = dimOf(b, loc, q, 2), m = dimOf(b, loc, k, 2);
    hkv = arith::DivUIOp::create(b, loc, h, arith::DivUIOp::create(b, loc, hq, hkvCount));
    tile = QueryTile{i, arith::AddIOp::create(b, loc, i, c1), bi, h, hkv, n, m};
    tile.site = documentSite(bi, h, n, m, op.getQDoc() ? arg(op.getQDoc()) : Value(),
                             op.getKDoc() ? arg(op.getKDoc()) : Value());
    // Rule regions read the op's rule operands; the schedule mask is the
    // mask attribute and the mask_rule together.
    SmallVector<Value> ruleBuffers;
    for (Value r : op.getRuleOperands())
      ruleBuffers.push_back(arg(r));
    rules = cuda::gpuRuleBuffers(ruleBuffers);
    if (op.hasMaskRule())
      tile.site.rule = [this](OpBuilder &ob, Location l, Value ri, Value rj) {
        return emitRule(ob, l, op.getMaskRule(), ValueRange{bi, h, ri, rj}, rules);
      };
    list = BlockListOperands{arg(op.getKvIndices()), arg(op.getKvCounts()), hq, hkvCount,
                             op.listBlockQ(), op.listBlockK()};
    row = listRowOf(b, loc, list, tile);
    blockK = cIdx(b, loc, list.blockK);
    numBlocks = arith::CeilDivUIOp::create(b, loc, m, blockK);
    mask = op.getScheduleMask();
    for (int64_t r = 0; r < rq; ++r)
      qs.push_back(laneLoad(b, loc, q, {bi, h, i}, lane, r, d));
    scale = cF32(b, loc, op.getScaleValue());
  }

  /// One key: the warp's dot, the online update, v's contribution.
  SmallVector<Value> visitKey(OpBuilder &kb, Location kl, Value j, ValueRange st) {
    Value part = cF32(kb, kl, 0.0);
    for (int64_t r = 0; r < rq; ++r)
      part = math::FmaOp::create(kb, kl, qs[r], laneLoad(kb, kl, k, {bi, hkv, j}, lane, r, d),
                                 part);
    Value s = arith::MulFOp::create(kb, kl, warpSum(kb, kl, part), scale);
    if (op.hasScoreRule())
      s = emitRule(kb, kl, op.getScoreRule(), ValueRange{s, bi, h, i, j}, rules);
    Value mNew = arith::MaximumFOp::create(kb, kl, st[0], s);
    Value alpha = math::ExpOp::create(kb, kl, arith::SubFOp::create(kb, kl, st[0], mNew));
    Value p = math::ExpOp::create(kb, kl, arith::SubFOp::create(kb, kl, s, mNew));
    SmallVector<Value> next = {mNew, math::FmaOp::create(kb, kl, st[1], alpha, p)};
    for (int64_t r = 0; r < rv; ++r)
      next.push_back(math::FmaOp::create(kb, kl, p,
                                         laneLoad(kb, kl, v, {bi, hkv, j}, lane, r, dv),
                                         arith::MulFOp::create(kb, kl, st[2 + r], alpha)));
    return next;
  }

  /// The keys of block `id` the mask keeps, folded into `carried`.
  ValueRange visitBlock(OpBuilder &tb, Location tl, Value id, ValueRange carried) {
    Value j0 = arith::MulIOp::create(tb, tl, id, blockK);
    Value j1 = arith::MinUIOp::create(tb, tl, m, arith::AddIOp::create(tb, tl, j0, blockK));
    auto keys = scf::ForOp::create(
        tb, tl, j0, j1, cIdx(tb, tl, 1), carried,
        [&](OpBuilder &kb, Location kl, Value j, ValueRange ks) {
          if (!mask) {
            scf::YieldOp::create(kb, kl, visitKey(kb, kl, j, ks));
            return;
          }
          Value keep = mask.buildKeepAt(kb, kl, tile.site, asI64(kb, kl, i), asI64(kb, kl, j),
                                        asI64(kb, kl, n), asI64(kb, kl, m));
          auto kept = scf::IfOp::create(
              kb, kl, keep,
              [&](OpBuilder &ib, Location il) {
                scf::YieldOp::create(ib, il, visitKey(ib, il, j, ks));
              },
              [&](OpBuilder &eb, Location el) { scf::YieldOp::create(eb, el, ks); });
          scf::YieldOp::create(kb, kl, kept.getResults());
        });
    return keys.getResults();
  }

  /// The list row's slots: each fresh in-range id's block visited. State:
  /// running max, sum, the lane's accumulators, the largest id seen
  /// (signed; -1 before the first).
  scf::ForOp walkSlots() {
    SmallVector<Value> init = {cF32(b, loc, -kInf), cF32(b, loc, 0.0)};
    for (int64_t r = 0; r < rv; ++r)
      init.push_back(cF32(b, loc, 0.0));
    init.push_back(arith::ConstantIndexOp::create(b, loc, -1));
    Value c0 = cIdx(b, loc, 0), c1 = cIdx(b, loc, 1);
    return scf::ForOp::create(
        b, loc, c0, row.count, c1, init,
        [&](OpBuilder &sb, Location sl, Value slot, ValueRange st) {
          Value id = loadListId(sb, sl, list, row, bi, slot);
          Value largest = st.back();
          // Unsigned: a negative id is huge, so out of range too.
          Value inRange = arith::CmpIOp::create(sb, sl, arith::CmpIPredicate::ult, id, numBlocks);
          Value fresh = arith::XOrIOp::create(sb, sl,
                                              repeats(sb, sl, list, row, bi, slot, id, largest),
                                              arith::ConstantIntOp::create(sb, sl, 1, 1));
          Value take = arith::AndIOp::create(sb, sl, inRange, fresh);
          SmallVector<Value> carried(st.drop_back());
          auto visit = scf::IfOp::create(
              sb, sl, take,
              [&](OpBuilder &tb, Location tl) {
                scf::YieldOp::create(tb, tl, visitBlock(tb, tl, id, carried));
              },
              [&](OpBuilder &eb, Location el) { scf::YieldOp::create(eb, el, carried); });
          SmallVector<Value> next(visit.getResults());
          next.push_back(arith::SelectOp::create(
              sb, sl, take, arith::MaxSIOp::create(sb, sl, id, largest), largest));
          scf::YieldOp::create(sb, sl, next);
        });
  }

  /// out = acc / sum and lse = max + log sum; a row that kept no key gets
  /// zeros and lse -inf, never NaN.
  void storeResults(scf::ForOp slots) {
    Value mx = slots.getResult(0), sum = slots.getResult(1);
    Value any = arith::CmpFOp::create(b, loc, arith::CmpFPredicate::OGT, sum, cF32(b, loc, 0.0));
    Value inv = arith::SelectOp::create(
        b, loc, any, arith::DivFOp::create(b, loc, cF32(b, loc, 1.0), sum), cF32(b, loc, 0.0));
    Value out = arg(op.getOut());
    Type outElt = cast<MemRefType>(out.getType()).getElementType();
    for (int64_t r = 0; r < rv; ++r) {
      Value e = arith::AddIOp::create(b, loc, lane, cIdx(b, loc, 32 * r));
      Value in = arith::CmpIOp::create(b, loc, arith::CmpIPredicate::ult, e, cIdx(b, loc, dv));
      scf::IfOp::create(b, loc, in, [&](OpBuilder &tb, Location tl) {
        Value o = arith::MulFOp::create(tb, tl, slots.getResult(2 + r), inv);
        memref::StoreOp::create(tb, tl, fromF32(tb, tl, o, outElt), out, ValueRange{bi, h, i, e});
        scf::YieldOp::create(tb, tl);
      });
    }
    if (!op.getLse())
      return;
    Value lane0 = arith::CmpIOp::create(b, loc, arith::CmpIPredicate::eq, lane, cIdx(b, loc, 0));
    scf::IfOp::create(b, loc, lane0, [&](OpBuilder &tb, Location tl) {
      Value lse = arith::SelectOp::create(
          tb, tl, any, arith::AddFOp::create(tb, tl, mx, math::LogOp::create(tb, tl, sum)),
          cF32(tb, tl, -kInf));
      Value buf = arg(op.getLse());
      memref::StoreOp::create(
          tb, tl, fromF32(tb, tl, lse, cast<MemRefType>(buf.getType()).getElementType()), buf,
          ValueRange{bi, h, i});
      scf::YieldOp::create(tb, tl);
    });
  }
};

} // namespace

void mlir::attn::cuda::buildRowAttention(OpBuilder &b, Location loc, AttentionOp op,
                                         function_ref<Value(Value)> arg, Value bi, Value h,
                                         Value i, Value lane) {
  RowAttentionBuilder rb(b, loc, op, arg, bi, h, i, lane);
  rb.setUp();
  rb.storeResults(rb.walkSlots());
}
