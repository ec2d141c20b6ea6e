//===- LandmarkSelect.cpp - each row's top-K landmarks on the tile kernels ===//
//
// The selection of the landmark tile kernels (the fused kernel by query
// tiles and the by-blocks picks kernel). A lane holds 16 logits of each of
// its two rows per chunk of 64 landmarks (the m16n8k16 accumulator layout),
// and the 32 lanes of a warp run one instruction stream: inserting each
// candidate that beats its lane's list runs the insertion at nearly every
// candidate, because some lane of the 32 nearly always wins. So one pass
// over the chunks, each chunk in two steps:
//
//  1. bound: the K-th best of the row's 4 lanes' lists merged with each
//     lane's best ceil(K / 4) logits of the chunk, T, is at most the row's
//     K-th best logit so far (they are K distinct logits of the row), so a
//     logit below T cannot be picked, now or later (the lanes' values merge
//     by shuffles and a bitonic merge: ~40 instructions per row at K = 4,
//     where inserting them one by one took ~100);
//  2. picks: each lane marks (a bit each) the logits that reach T, then
//     inserts its marked logits one per iteration, lowest column first,
//     while any lane of the warp has one left: ~13 iterations per warp and
//     tile on random rows (bench/landmark_select_sim.py; ncu counted 13.0)
//     instead of ~120 insertions; two passes with the row's final bound
//     ran ~11.5 but computed every logit twice.
//
// The marks are a superset of what the lists take (the insertion compares
// strictly and refuses blocks at or after the tile); the logits of blocks
// at or after the tile are -inf (masked on the tile's last chunk only).
// With a positive scale the raw dots q . l are compared and the K picks
// scaled at the end (docs/benchmarks/routing.md, "The picks kernel in one
// pass"). Within a lane candidates arrive in increasing block order and an
// equal logit never displaces an earlier one, and the lists of a row's 4 lanes
// are merged (bitonic, by logit descending then block ascending) with ties
// to the lower block: the reference's order.
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

/// The top n of two sorted lists of n entries (n a power of two), sorted:
/// first(p, n - 1 - p) leaves the better of a[p] and b[n - 1 - p] in a[p],
/// which makes a hold the top n as a bitonic sequence; then the
/// half-cleaners of a bitonic merge, swap(i, j) leaving the better in a[i].
void bitonicTop(int64_t n, function_ref<void(int64_t, int64_t)> first,
                function_ref<void(int64_t, int64_t)> swap) {
  for (int64_t p = 0; p < n; ++p)
    first(p, n - 1 - p);
  for (int64_t stride = n / 2; stride > 0; stride /= 2)
    for (int64_t i = 0; i < n; ++i)
      if (!(i & stride))
        swap(i, i + stride);
}
} // namespace

Value LandmarkTileBuilder::better(Value v1, Value id1, Value v2, Value id2, bool tieOnId) {
  Value gt = arith::CmpFOp::create(b, arith::CmpFPredicate::OGT, v1, v2);
  if (!tieOnId)
    return gt;
  Value eq = arith::CmpFOp::create(b, arith::CmpFPredicate::OEQ, v1, v2);
  Value lower = arith::CmpIOp::create(b, arith::CmpIPredicate::slt, id1, id2);
  return arith::OrIOp::create(b, gt, arith::AndIOp::create(b, eq, lower));
}

void LandmarkTileBuilder::insert(TopList &list, Value v, Value id) {
  int64_t K = list.vals.size();
  SmallVector<Value> beats(K);
  for (int64_t p = 0; p < K; ++p)
    beats[p] = better(v, id, list.vals[p], list.ids[p], false);
  list.vals = shiftIn(b, beats, list.vals, v);
  list.ids = shiftIn(b, beats, list.ids, id);
}

void LandmarkTileBuilder::mergeQuadLists(MutableArrayRef<TopList> lists) {
  // The 4 lanes of a row hold disjoint columns, so both lanes of a pair
  // end with the same K best, ordered by (logit descending, block
  // ascending), padded with (-inf, -1) to a power of two (the entries an
  // empty slot holds).
  int64_t K = topk, n = llvm::PowerOf2Ceil(K);
  for (int64_t off : {1, 2})
    for (TopList &list : lists) {
      TopList c = list;
      c.vals.resize(n, cf(-INFINITY));
      c.ids.resize(n, ci(-1));
      TopList other;
      for (int64_t p = 0; p < n; ++p) {
        other.vals.push_back(shuffle(c.vals[p], ci(off), gpu::ShuffleMode::XOR));
        other.ids.push_back(shuffle(c.ids[p], ci(off), gpu::ShuffleMode::XOR));
      }
      // The better of (i, j) into i, the other into j.
      auto order = [&](Value &vi, Value &ii, Value &vj, Value &ij) {
        Value keep = better(vi, ii, vj, ij, true);
        Value v = sel(keep, vi, vj), id = sel(keep, ii, ij);
        vj = sel(keep, vj, vi);
        ij = sel(keep, ij, ii);
        vi = v, ii = id;
      };
      bitonicTop(
          n,
          [&](int64_t p, int64_t q) {
            order(c.vals[p], c.ids[p], other.vals[q], other.ids[q]);
          },
          [&](int64_t i, int64_t j) { order(c.vals[i], c.ids[i], c.vals[j], c.ids[j]); });
      c.vals.resize(K);
      c.ids.resize(K);
      list = c;
    }
}

SmallVector<SmallVector<Value>> LandmarkTileBuilder::chunkLogits(Value ch, Value stage) {
  // With a positive scale the order of q . l is the order of the logits:
  // the selection compares the raw dots and scales only the K picks.
  bool raw = op.getScaleValue() > 0;
  SmallVector<SmallVector<Value>> S = scores(keysOf(stage), 0, kTile / 8, !raw);
  // Candidate j of a half is n-tile j / 2, column 2 (lane % 4) + 8 (j / 2)
  // + j % 2 of the chunk: increasing in j.
  SmallVector<Value> flat;
  for (int64_t half = 0; half < 2; ++half)
    for (int64_t nt = 0; nt < kTile / 8; ++nt)
      for (int64_t e = 2 * half; e < 2 * half + 2; ++e)
        flat.push_back(S[nt][e]);
  // Only the tile's last chunk holds blocks at or after the tile: the
  // others skip the mask (a uniform branch).
  Value partial = ult(tile, add(mul(ch, kTile), kTile));
  auto ifPartial = scf::IfOp::create(b, ValueRange(flat).getTypes(), partial, true);
  {
    OpBuilder::InsertionGuard g(b);
    b.setInsertionPointToStart(&ifPartial.getThenRegion().front());
    // Column 2 (lane % 4) + 8 (j / 2) + j % 2 < tile - 64 ch.
    Value limit = arith::SubIOp::create(b, asI32(tile), asI32(mul(ch, kTile)));
    Value lane2 = asI32(mul(rem(lane, 4), 2));
    SmallVector<Value> masked;
    for (size_t p = 0; p < flat.size(); ++p) {
      int64_t j = p % kPerHalf;
      Value before = arith::CmpIOp::create(b, arith::CmpIPredicate::slt, lane2,
                                           arith::SubIOp::create(b, limit, ci(j / 2 * 8 + j % 2)));
      masked.push_back(sel(before, flat[p], cf(-INFINITY)));
    }
    scf::YieldOp::create(b, masked);
    b.setInsertionPointToStart(&ifPartial.getElseRegion().front());
    scf::YieldOp::create(b, flat);
  }
  SmallVector<SmallVector<Value>> out(2);
  for (int64_t half = 0; half < 2; ++half)
    out[half].assign(ifPartial.getResults().begin() + half * kPerHalf,
                     ifPartial.getResults().begin() + (half + 1) * kPerHalf);
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

/// The top n of sorted lists a and b (largest first, no NaN), sorted.
SmallVector<Value> mergeTop(ImplicitLocOpBuilder &b, ArrayRef<Value> a, ArrayRef<Value> other) {
  SmallVector<Value> c(a), o(other);
  auto order = [&](Value &x, Value &y) {
    Value hi = arith::MaximumFOp::create(b, x, y);
    y = arith::MinimumFOp::create(b, x, y);
    x = hi;
  };
  bitonicTop(
      a.size(), [&](int64_t p, int64_t q) { order(c[p], o[q]); },
      [&](int64_t i, int64_t j) { order(c[i], c[j]); });
  return c;
}

/// The k-th largest of the union of sorted lists a and b (at least k
/// each): the smallest of max(a[p], b[k - 1 - p]).
Value kthOfUnion(ImplicitLocOpBuilder &b, ArrayRef<Value> a, ArrayRef<Value> other, int64_t k) {
  Value t;
  for (int64_t p = 0; p < k; ++p) {
    Value m = arith::MaximumFOp::create(b, a[p], other[k - 1 - p]);
    t = t ? arith::MinimumFOp::create(b, t, m).getResult() : m;
  }
  return t;
}
} // namespace

SmallVector<Value> LandmarkTileBuilder::rowThresholds(ArrayRef<SmallVector<Value>> L,
                                                     ArrayRef<TopList> lists) {
  int64_t perLane = (topk + 3) / 4, width = llvm::PowerOf2Ceil(topk);
  SmallVector<Value> thresholds;
  for (int64_t half = 0; half < 2; ++half) {
    // The lane's list and its best perLane logits of the chunk (sorted,
    // padded with -inf to a power of two; NaN never enters) ...
    SmallVector<Value> best(perLane, cf(-INFINITY));
    for (Value x : L[half])
      insertValue(b, best, x);
    SmallVector<Value> row(lists[half].vals);
    for (Value v : best)
      insertValue(b, row, v);
    row.resize(width, cf(-INFINITY));
    // ... merged with the row's other 3 lanes' (disjoint columns): the
    // K-th best of the union is at most the row's K-th best logit so far.
    auto partner = [&](ArrayRef<Value> xs, int64_t off) {
      SmallVector<Value> out;
      for (Value x : xs)
        out.push_back(shuffle(x, ci(off), gpu::ShuffleMode::XOR));
      return out;
    };
    row = mergeTop(b, row, partner(row, 1));
    Value t = kthOfUnion(b, row, partner(row, 2), topk);
    // -inf (fewer than K finite logits) becomes the lowest finite value:
    // every finite logit passes, -inf and NaN never do.
    thresholds.push_back(
        arith::MaxNumFOp::create(b, t, cf(-std::numeric_limits<float>::max())));
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

void LandmarkTileBuilder::pickFromChunk(Value ch, ArrayRef<SmallVector<Value>> L,
                                        ArrayRef<Value> thresholds,
                                        MutableArrayRef<TopList> lists) {
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
    insert(cur[half], sel(valid, v, cf(-INFINITY)), id);
    yield.push_back(arith::AndIOp::create(b, m, arith::SubIOp::create(b, m, ci(1))));
  }
  llvm::append_range(yield, flatten(cur));
  scf::YieldOp::create(b, yield);
  b.setInsertionPointAfter(loop);
  SmallVector<TopList> out = unflatten(loop.getResults().drop_front(2), topk);
  std::copy(out.begin(), out.end(), lists.begin());
}

SmallVector<TopList> LandmarkTileBuilder::selectTopk(Value all) {
  int64_t K = topk;
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
  // One pass: the row's lists so far and each lane's best of the chunk
  // bound the row's K-th best from below; the logits that reach the bound
  // go to the insertion.
  SmallVector<Value> flat = pipelined(
      c(0), chunks, next, stageChunk,
      [&](Value ch, Value stage, ValueRange carried) {
        SmallVector<SmallVector<Value>> L = chunkLogits(ch, stage);
        SmallVector<TopList> lists = unflatten(carried, K);
        pickFromChunk(ch, L, rowThresholds(L, lists), lists);
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
