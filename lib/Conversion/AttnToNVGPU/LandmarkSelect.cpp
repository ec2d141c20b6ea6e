//===- LandmarkSelect.cpp - each row's top-K landmarks on the tile kernels ===//
//
// The selection of the landmark tile kernels (the fused kernel by query
// tiles and the by-blocks picks kernel). A lane holds 16 logits of each of
// its two rows per chunk of 64 landmarks (the m16n8k16 accumulator layout),
// and the 32 lanes of a warp run one instruction stream: inserting each
// candidate that beats its lane's list runs the insertion at nearly every
// candidate, because some lane of the 32 nearly always wins. So two passes
// over the chunks:
//
//  1. bounds: each lane keeps its best ceil(K / 4) logits per row (one max
//     per candidate at K <= 4); the K-th best of the row's 4 lanes' values,
//     T, is at most the row's K-th best logit (they are K distinct logits of
//     the row), so a logit below T cannot be picked;
//  2. picks: per chunk, each lane marks (a bit each) the logits that reach
//     both T and its list's K-th, then inserts its marked logits one per
//     iteration, lowest column first, while any lane of the warp has one
//     left: ~12 iterations per warp on random rows instead of ~120
//     insertions.
//
// The marks are a superset of what the lists take (the insertion compares
// strictly and refuses blocks at or after the tile), so only pass 1 masks,
// and only on the tile's last chunk. With a positive scale the raw dots
// q . l are compared and the K picks scaled at the end. The scores are
// computed twice; the tensor-core part is small beside the selection.
// Within a lane candidates arrive in increasing block order and an equal
// logit never displaces an earlier one, and the lists of a row's 4 lanes
// are merged with ties to the lower block: the reference's order.
//
//===----------------------------------------------------------------------===//

#include "LandmarkTileBuilder.h"
#include "mlir/Dialect/LLVMIR/LLVMDialect.h"

using namespace mlir;
using namespace mlir::attn;
using namespace mlir::attn::cuda::landmark;

namespace mlir::attn::cuda::landmark {

namespace {
/// Lists of both halves as one value list (all values, then all ids) and
/// back: what scf.if and the chunk loops carry.
SmallVector<Value> flatten(ArrayRef<TopList> lists) {
  SmallVector<Value> flat;
  for (const TopList &l : lists)
    llvm::append_range(flat, l.vals);
  for (const TopList &l : lists)
    llvm::append_range(flat, l.ids);
  return flat;
}
SmallVector<TopList> unflatten(ValueRange flat, int64_t K) {
  SmallVector<TopList> lists(2);
  for (int64_t half = 0; half < 2; ++half) {
    lists[half].vals.assign(flat.begin() + half * K, flat.begin() + (half + 1) * K);
    lists[half].ids.assign(flat.begin() + 2 * K + half * K, flat.begin() + 2 * K + (half + 1) * K);
  }
  return lists;
}

/// A sorted list with x shifted in where beats[p] says "x beats entry p"
/// (true on a suffix of p, since the list is sorted): the new entry p is
/// the old p - 1 where x beats p - 1, x where it beats p only, else the old
/// p. All selects at once (depth 2, not a chain of K compare-swaps).
SmallVector<Value> shiftIn(ImplicitLocOpBuilder &b, ArrayRef<Value> beats, ArrayRef<Value> list,
                           Value x) {
  SmallVector<Value> out(list);
  for (size_t p = 0; p < list.size(); ++p) {
    out[p] = arith::SelectOp::create(b, beats[p], x, list[p]);
    if (p > 0)
      out[p] = arith::SelectOp::create(b, beats[p - 1], list[p - 1], out[p]);
  }
  return out;
}
constexpr int64_t kPerHalf = kTile / 8 * 2; // a lane's logits of a row per chunk
} // namespace

void LandmarkTileBuilder::insert(TopList &list, Value v, Value id, bool tieOnId) {
  auto better = [&](Value v1, Value id1, Value v2, Value id2) -> Value {
    Value gt = arith::CmpFOp::create(b, arith::CmpFPredicate::OGT, v1, v2);
    if (!tieOnId)
      return gt;
    Value eq = arith::CmpFOp::create(b, arith::CmpFPredicate::OEQ, v1, v2);
    Value lower = arith::CmpIOp::create(b, arith::CmpIPredicate::slt, id1, id2);
    return arith::OrIOp::create(b, gt, arith::AndIOp::create(b, eq, lower));
  };
  int64_t K = list.vals.size();
  SmallVector<Value> beats(K);
  for (int64_t p = 0; p < K; ++p)
    beats[p] = better(v, id, list.vals[p], list.ids[p]);
  list.vals = shiftIn(b, beats, list.vals, v);
  list.ids = shiftIn(b, beats, list.ids, id);
}

void LandmarkTileBuilder::mergeQuadLists(MutableArrayRef<TopList> lists) {
  // The 4 lanes of a row hold disjoint columns, so both lanes of a pair
  // end with the same K best (ties to the lower block).
  for (int64_t off : {1, 2})
    for (TopList &list : lists) {
      TopList mine = list;
      for (size_t p = 0; p < mine.vals.size(); ++p)
        insert(list, shuffle(mine.vals[p], ci(off), gpu::ShuffleMode::XOR),
               shuffle(mine.ids[p], ci(off), gpu::ShuffleMode::XOR), true);
    }
}

SmallVector<SmallVector<Value>> LandmarkTileBuilder::chunkLogits(Value ch, Value stage,
                                                                 bool masked) {
  // With a positive scale the order of q . l is the order of the logits:
  // the selection compares the raw dots and scales only the K picks.
  bool raw = op.getScaleValue() > 0;
  SmallVector<SmallVector<Value>> S = scores(keysOf(stage), 0, kTile / 8, !raw);
  // Candidate j of a half is n-tile j / 2, column 2 (lane % 4) + 8 (j / 2)
  // + j % 2 of the chunk: increasing in j.
  Value limit, lane2;
  if (masked) {
    limit = arith::SubIOp::create(b, asI32(tile), asI32(mul(ch, kTile)));
    lane2 = asI32(mul(rem(lane, 4), 2));
  }
  SmallVector<SmallVector<Value>> out(2);
  for (int64_t nt = 0; nt < kTile / 8; ++nt)
    for (int64_t e = 0; e < 4; ++e) {
      Value x = S[nt][e];
      if (masked) {
        // Column 2 (lane % 4) + 8 nt + e % 2 < tile - 64 ch.
        Value before = arith::CmpIOp::create(b, arith::CmpIPredicate::slt, lane2,
                                             arith::SubIOp::create(b, limit, ci(nt * 8 + e % 2)));
        x = sel(before, x, cf(-INFINITY));
      }
      out[e / 2].push_back(x);
    }
  return out;
}

namespace {
/// v into a sorted list of values (largest first); NaN never enters.
void insertValue(ImplicitLocOpBuilder &b, SmallVector<Value> &vals, Value v) {
  if (vals.size() == 1) {
    vals[0] = arith::MaxNumFOp::create(b, vals[0], v);
    return;
  }
  SmallVector<Value> beats;
  for (Value x : vals)
    beats.push_back(arith::CmpFOp::create(b, arith::CmpFPredicate::OGT, v, x));
  vals = shiftIn(b, beats, vals, v);
}
} // namespace

void LandmarkTileBuilder::boundChunk(Value ch, Value stage,
                                     MutableArrayRef<SmallVector<Value>> bests) {
  // Only the tile's last chunk holds blocks at or after the tile: the
  // others skip the mask (a uniform branch).
  SmallVector<Value> flat;
  for (const auto &best : bests)
    llvm::append_range(flat, best);
  Value partial = ult(tile, add(mul(ch, kTile), kTile));
  auto ifPartial = scf::IfOp::create(b, ValueRange(flat).getTypes(), partial, true);
  for (bool masked : {true, false}) {
    OpBuilder::InsertionGuard g(b);
    b.setInsertionPointToStart(masked ? &ifPartial.getThenRegion().front()
                                      : &ifPartial.getElseRegion().front());
    SmallVector<SmallVector<Value>> L = chunkLogits(ch, stage, masked);
    SmallVector<Value> out;
    for (int64_t half = 0; half < 2; ++half) {
      SmallVector<Value> best(bests[half]);
      for (Value x : L[half])
        insertValue(b, best, x);
      llvm::append_range(out, best);
    }
    scf::YieldOp::create(b, out);
  }
  int64_t m = bests[0].size();
  for (int64_t half = 0; half < 2; ++half)
    for (int64_t p = 0; p < m; ++p)
      bests[half][p] = ifPartial.getResult(half * m + p);
}

SmallVector<Value> LandmarkTileBuilder::rowThresholds(ArrayRef<SmallVector<Value>> bests) {
  SmallVector<Value> thresholds;
  for (const auto &best : bests) {
    SmallVector<Value> row(topk, cf(-INFINITY));
    for (Value v : best)
      insertValue(b, row, v);
    for (int64_t off : {1, 2}) {
      SmallVector<Value> mine(row);
      for (Value v : mine)
        insertValue(b, row, shuffle(v, ci(off), gpu::ShuffleMode::XOR));
    }
    // -inf (fewer than K finite logits) becomes the lowest finite value:
    // every finite logit passes, -inf and NaN never do.
    thresholds.push_back(
        arith::MaxNumFOp::create(b, row.back(), cf(-std::numeric_limits<float>::max())));
  }
  return thresholds;
}

std::pair<Value, Value> LandmarkTileBuilder::lowestMarked(ArrayRef<Value> logits, Value marks,
                                                         Value base) {
  Value j = LLVM::CountTrailingZerosOp::create(b, i32(), marks, false);
  // The logit by a tree of selects on j's bits (registers have no dynamic
  // index).
  SmallVector<Value> level(logits);
  for (int64_t bit = 0; level.size() > 1; ++bit) {
    Value set = arith::CmpIOp::create(b, arith::CmpIPredicate::ne,
                                      arith::AndIOp::create(b, j, ci(1 << bit)), ci(0));
    SmallVector<Value> nextLevel;
    for (size_t p = 0; p < level.size(); p += 2)
      nextLevel.push_back(sel(set, level[p + 1], level[p]));
    level = nextLevel;
  }
  // Column 2 (lane % 4) + 8 (j / 2) + j % 2 of the chunk.
  Value id = arith::AddIOp::create(
      b, base,
      arith::AddIOp::create(b, arith::ShLIOp::create(b, arith::ShRUIOp::create(b, j, ci(1)), ci(3)),
                            arith::AndIOp::create(b, j, ci(1))));
  return {level[0], id};
}

void LandmarkTileBuilder::pickFromChunk(Value ch, Value stage, ArrayRef<Value> thresholds,
                                        MutableArrayRef<TopList> lists) {
  // No mask: a later block marked here is refused at its insertion.
  SmallVector<SmallVector<Value>> L = chunkLogits(ch, stage, false);
  SmallVector<Value> bits;
  for (int64_t half = 0; half < 2; ++half) {
    // A superset of what the list takes (it also needs to beat its K-th,
    // strictly): the insertion decides.
    Value bound = arith::MaximumFOp::create(b, thresholds[half], lists[half].vals.back());
    Value mask = ci(0);
    for (int64_t j = 0; j < kPerHalf; ++j) {
      Value keep = arith::CmpFOp::create(b, arith::CmpFPredicate::OGE, L[half][j], bound);
      mask = sel(keep, arith::OrIOp::create(b, mask, ci(1 << j)), mask);
    }
    bits.push_back(mask);
  }
  // One marked logit per half per iteration while any lane has one left.
  SmallVector<Value> init(bits);
  llvm::append_range(init, flatten(lists));
  SmallVector<Type> types(ValueRange(init).getTypes());
  SmallVector<Location> locs(types.size(), b.getLoc());
  auto loop = scf::WhileOp::create(b, types, init);
  OpBuilder::InsertionGuard g(b);
  Block *before = b.createBlock(&loop.getBefore(), {}, types, locs);
  Value left = arith::CmpIOp::create(
      b, arith::CmpIPredicate::ne,
      arith::OrIOp::create(b, before->getArgument(0), before->getArgument(1)), ci(0));
  Value any = NVVM::VoteSyncOp::create(
      b, b.getI1Type(), ci(-1), left,
      NVVM::VoteSyncKindAttr::get(b.getContext(), NVVM::VoteSyncKind::any));
  scf::ConditionOp::create(b, any, before->getArguments());
  Block *after = b.createBlock(&loop.getAfter(), {}, types, locs);
  SmallVector<TopList> cur = unflatten(after->getArguments().drop_front(2), topk);
  Value base = arith::AddIOp::create(b, asI32(mul(ch, kTile)), asI32(mul(rem(lane, 4), 2)));
  Value tile32 = asI32(tile);
  SmallVector<Value> yield;
  for (int64_t half = 0; half < 2; ++half) {
    Value m = after->getArgument(half);
    auto [v, id] = lowestMarked(L[half], m, base);
    Value valid = arith::AndIOp::create(
        b, arith::CmpIOp::create(b, arith::CmpIPredicate::ne, m, ci(0)),
        arith::CmpIOp::create(b, arith::CmpIPredicate::slt, id, tile32));
    insert(cur[half], sel(valid, v, cf(-INFINITY)), id, false);
    yield.push_back(arith::AndIOp::create(b, m, arith::SubIOp::create(b, m, ci(1))));
  }
  llvm::append_range(yield, flatten(cur));
  scf::YieldOp::create(b, yield);
  b.setInsertionPointAfter(loop);
  SmallVector<TopList> out = unflatten(loop.getResults().drop_front(2), topk);
  std::copy(out.begin(), out.end(), lists.begin());
}

SmallVector<TopList> LandmarkTileBuilder::selectTopk(Value all) {
  int64_t K = topk, perLane = (K + 3) / 4;
  SmallVector<Value> init(2 * K, cf(-INFINITY));
  init.append(2 * K, ci(-1));
  auto ifSelect = scf::IfOp::create(b, ValueRange(init).getTypes(), all, /*withElse=*/true);
  OpBuilder::InsertionGuard g(b);
  b.setInsertionPointToStart(&ifSelect.getThenRegion().front());
  scf::YieldOp::create(b, init);
  b.setInsertionPointToStart(&ifSelect.getElseRegion().front());
  Value chunks = arith::CeilDivUIOp::create(b, tile, c(kTile));
  auto stageChunk = [&](Value ch, Value stage) {
    stageRows(lk, mul(ch, kTile), nb, keysOf(stage), kTile, s.d);
  };
  auto next = [&](Value ch) { return add(ch, 1); };
  // Pass 1: each lane's best perLane logits per row.
  SmallVector<Value> bestInit(2 * perLane, cf(-INFINITY));
  SmallVector<Value> flatBests = pipelined(
      c(0), chunks, next, stageChunk,
      [&](Value ch, Value stage, ValueRange carried) {
        SmallVector<SmallVector<Value>> bests = {
            SmallVector<Value>(carried.take_front(perLane)),
            SmallVector<Value>(carried.drop_front(perLane))};
        boundChunk(ch, stage, bests);
        SmallVector<Value> out(bests[0]);
        llvm::append_range(out, bests[1]);
        return out;
      },
      bestInit);
  SmallVector<SmallVector<Value>> bests = {
      SmallVector<Value>(ArrayRef(flatBests).take_front(perLane)),
      SmallVector<Value>(ArrayRef(flatBests).drop_front(perLane))};
  SmallVector<Value> thresholds = rowThresholds(bests);
  // Pass 2: the picks.
  SmallVector<Value> flat = pipelined(
      c(0), chunks, next, stageChunk,
      [&](Value ch, Value stage, ValueRange carried) {
        SmallVector<TopList> lists = unflatten(carried, K);
        pickFromChunk(ch, stage, thresholds, lists);
        return flatten(lists);
      },
      init);
  SmallVector<TopList> lists = unflatten(flat, K);
  mergeQuadLists(lists);
  if (op.getScaleValue() > 0) {
    // The picks' logits in log2 units (chunkLogits compared raw dots).
    Value scale = cf(op.getScaleValue() * kLog2e);
    for (TopList &l : lists)
      for (Value &v : l.vals)
        v = fmul(v, scale);
  }
  scf::YieldOp::create(b, flatten(lists));
  return unflatten(ifSelect.getResults(), K);
}

} // namespace mlir::attn::cuda::landmark
