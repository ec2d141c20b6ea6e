//===- SelectionKernels.cpp - attn.pool / block_scores / select on the GPU ===//
//
// One small kernel per selection op of a program, one thread per work item,
// with the per-row bodies the CPU uses (Utils/SelectionBuilders.h):
//   pool          one thread per (b, h, block, feature): a warp reads 32
//                 consecutive features of each position (coalesced);
//   block_scores  a block per 16 x 16 tile of scores, rows staged in
//                 shared memory (TiledScores.cpp); else one thread per
//                 score, its dot product in 16-byte vector loads;
//   project       one thread per output feature (learned gates);
//   probs         one thread per row (attention probabilities, pointer
//                 networks: small rows);
//   select        one warp per (b, h, query block): lanes scan 1/32 of the
//                 row per pass and reduce by shuffles; ids are written in
//                 ascending order through a ballot prefix count.
// The kernels take the op's operands and results as memrefs; each records
// which buffers of the entry it binds (attn.step_args: "i<k>", "o<k>",
// "w<k>", see Utils/EntryBindings.h) and its grid (attn.grid_arg: the
// argument whose first attn.grid_dims dims are the work items;
// attn.threads per block), which the runtime reads from the bundle.
//
//===----------------------------------------------------------------------===//

#include "SelectionKernels.h"
#include "FlashKernel.h"
#include "attnir/Dialect/Attn/Utils/BuildHelpers.h"
#include "attnir/Dialect/Attn/Utils/ElementwiseBuilders.h"
#include "attnir/Dialect/Attn/Utils/EntryBindings.h"
#include "attnir/Dialect/Attn/Utils/MergeBuilders.h"
#include "attnir/Dialect/Attn/Utils/SelectionBuilders.h"
#include "mlir/Dialect/GPU/IR/GPUDialect.h"
#include "mlir/Dialect/Vector/IR/VectorOps.h"
#include "mlir/Dialect/LLVMIR/LLVMDialect.h"
#include "mlir/Dialect/LLVMIR/NVVMDialect.h"
#include <cmath>
#include "mlir/Dialect/SCF/IR/SCF.h"

using namespace mlir;
using namespace mlir::attn;

namespace {

constexpr int64_t kThreads = 128;

/// The work-item indices of linear id `id` over the first `rank` dims of
/// `buf` (row-major).
SmallVector<Value> unflatten(OpBuilder &b, Location loc, Value id, Value buf,
                             unsigned rank) {
  SmallVector<Value> extents;
  for (unsigned d = 1; d < rank; ++d)
    extents.push_back(dimOf(b, loc, buf, d));
  return unflattenIndex(b, loc, id, extents);
}

/// A lane's butterfly arg-max over the warp: (s, j) of the highest score,
/// the lower id on ties; every lane ends with the warp's result.
std::pair<Value, Value> warpArgMax(OpBuilder &b, Location loc, Value s,
                                   Value j) {
  for (int32_t off : {16, 8, 4, 2, 1}) {
    Value os = gpu::ShuffleOp::create(b, loc, s, off, 32, gpu::ShuffleMode::XOR)
                   .getShuffleResult();
    Value oj = gpu::ShuffleOp::create(b, loc, j, off, 32, gpu::ShuffleMode::XOR)
                   .getShuffleResult();
    Value take = arith::OrIOp::create(
        b, loc, arith::CmpFOp::create(b, loc, arith::CmpFPredicate::OGT, os, s),
        arith::AndIOp::create(
            b, loc, arith::CmpFOp::create(b, loc, arith::CmpFPredicate::OEQ, os, s),
            arith::CmpIOp::create(b, loc, arith::CmpIPredicate::slt, oj, j)));
    s = arith::SelectOp::create(b, loc, take, os, s);
    j = arith::SelectOp::create(b, loc, take, oj, j);
  }
  return {s, j};
}


/// A pass over the lane's positions of the row (j = lane, lane + 32, ...
/// below nk), folding `step(j, s, acc)` into f32 accumulators.
SmallVector<Value> lanePass(
    OpBuilder &b, Location loc, const RowFacts &f, Value lane,
    ValueRange init,
    function_ref<SmallVector<Value>(OpBuilder &, Location, Value, Value,
                                    ValueRange)>
        step) {
  Value c32 = cIdx(b, loc, 32);
  auto loop = scf::ForOp::create(
      b, loc, lane, f.end(), c32, init,
      [&](OpBuilder &fb, Location l, Value j, ValueRange acc) {
        scf::YieldOp::create(fb, l, step(fb, l, j, f.score(fb, l, j), acc));
      });
  return SmallVector<Value>(loop.getResults());
}

/// buildLocalStart with a warp: the row from its end down in chunks of 32
/// positions (lane l at end - 1 - (32 c + l)), a ballot of the legal ones
/// per chunk, until `local` legal ids are counted; the start is the last
/// one counted (fewer legal ids: the lowest; none: nk). One chunk for the
/// usual local(1) at a causal row's end; it was `local` passes over the
/// whole row, each a loop the builder unrolled (local(2^20) took 20 s and
/// GBs to build).
Value warpLocalStart(OpBuilder &b, Location loc, const RowFacts &f,
                     Value lane) {
  Type i32 = b.getI32Type(), idx = b.getIndexType();
  auto ci = [&](OpBuilder &x, Location l, int64_t v) {
    return arith::ConstantIntOp::create(x, l, i32, v).getResult();
  };
  Value end = f.end();
  Value chunks = arith::CeilDivUIOp::create(b, loc, end, cIdx(b, loc, 32));
  Value want = ci(b, loc, std::min<int64_t>(f.policy.local, INT32_MAX));
  Value lane32 = arith::IndexCastOp::create(b, loc, i32, lane);
  Value below = arith::SubIOp::create(
      b, loc, arith::ShLIOp::create(b, loc, ci(b, loc, 1), lane32), ci(b, loc, 1));
  SmallVector<Value> init = {cIdx(b, loc, 0), ci(b, loc, 0),
                             arith::IndexCastOp::create(b, loc, i32, f.nk)};
  auto loop = scf::WhileOp::create(
      b, loc, TypeRange{idx, i32, i32}, init,
      [&](OpBuilder &wb, Location l, ValueRange st) {
        Value more = arith::AndIOp::create(
            wb, l, arith::CmpIOp::create(wb, l, arith::CmpIPredicate::ult, st[0], chunks),
            arith::CmpIOp::create(wb, l, arith::CmpIPredicate::slt, st[1], want));
        scf::ConditionOp::create(wb, l, more, st);
      },
      [&](OpBuilder &wb, Location l, ValueRange st) {
        Value t = arith::AddIOp::create(
            wb, l, arith::MulIOp::create(wb, l, st[0], cIdx(wb, l, 32)), lane);
        Value inRow = arith::CmpIOp::create(wb, l, arith::CmpIPredicate::ult, t, end);
        Value j = arith::SelectOp::create(
            wb, l, inRow,
            arith::SubIOp::create(wb, l, arith::SubIOp::create(wb, l, end, cIdx(wb, l, 1)), t),
            cIdx(wb, l, 0));
        Value legal = arith::AndIOp::create(wb, l, inRow, f.legal(wb, l, f.score(wb, l, j)));
        Value ballot = NVVM::VoteSyncOp::create(
            wb, l, i32, ci(wb, l, -1), legal,
            NVVM::VoteSyncKindAttr::get(wb.getContext(), NVVM::VoteSyncKind::ballot));
        auto popc = [&](Value x) { return LLVM::CtPopOp::create(wb, l, i32, x).getResult(); };
        // This chunk counts k = min(want - count, legal lanes) ids; the
        // start moves to the k-th (lanes in descending j).
        Value k = arith::MinSIOp::create(
            wb, l, arith::SubIOp::create(wb, l, want, st[1]), popc(ballot));
        Value last = arith::AndIOp::create(
            wb, l, legal,
            arith::CmpIOp::create(
                wb, l, arith::CmpIPredicate::eq,
                popc(arith::AndIOp::create(wb, l, ballot, below)),
                arith::SubIOp::create(wb, l, k, ci(wb, l, 1))));
        Value mine = arith::SelectOp::create(
            wb, l, last, arith::IndexCastOp::create(wb, l, i32, j), ci(wb, l, -1));
        Value at = cuda::warpReduce(wb, l, mine, [&](Value x, Value y) {
          return arith::MaxSIOp::create(wb, l, x, y);
        });
        Value moved = arith::CmpIOp::create(wb, l, arith::CmpIPredicate::sgt, k,
                                            ci(wb, l, 0));
        scf::YieldOp::create(
            wb, l,
            ValueRange{arith::AddIOp::create(wb, l, st[0], cIdx(wb, l, 1)),
                       arith::AddIOp::create(wb, l, st[1], k),
                       arith::SelectOp::create(wb, l, moved, at, st[2])});
      });
  return arith::IndexCastOp::create(b, loc, idx, loop.getResult(2));
}

/// buildRowMass with a warp: lane partial max and sums, reduced by shuffles.
RowMass warpRowMass(OpBuilder &b, Location loc, const RowFacts &f, Value lane) {
  Value zero = cF32(b, loc, 0.0);
  Value mx = lanePass(b, loc, f, lane, ValueRange{cF32(b, loc, -INFINITY)},
                      [&](OpBuilder &ob, Location l, Value, Value s,
                          ValueRange acc) -> SmallVector<Value> {
                        return {arith::SelectOp::create(
                            ob, l, f.legal(ob, l, s),
                            arith::MaximumFOp::create(ob, l, acc[0], s), acc[0])};
                      })[0];
  mx = cuda::warpReduce(b, loc, mx, [&](Value x, Value y) {
    return arith::MaximumFOp::create(b, loc, x, y);
  });
  SmallVector<Value> sums = lanePass(
      b, loc, f, lane, ValueRange{zero, zero},
      [&](OpBuilder &ob, Location l, Value j, Value s,
          ValueRange acc) -> SmallVector<Value> {
        Value isLegal = f.legal(ob, l, s);
        Value p = arith::SelectOp::create(
            ob, l, isLegal, expOf(ob, l, arith::SubFOp::create(ob, l, s, mx)),
            cF32(ob, l, 0.0));
        Value pf = arith::SelectOp::create(ob, l, f.forced(ob, l, j, isLegal), p,
                                           cF32(ob, l, 0.0));
        return {arith::AddFOp::create(ob, l, acc[0], p),
                arith::AddFOp::create(ob, l, acc[1], pf)};
      });
  auto add = [&](Value x, Value y) { return arith::AddFOp::create(b, loc, x, y); };
  return {mx, cuda::warpReduce(b, loc, sums[0], add), cuda::warpReduce(b, loc, sums[1], add)};
}

struct WarpSelectRow {
  OpBuilder &b;
  Location loc;
  const RowRef &row;
  Value indices, counts;
  ValueRange at;
  Value lane;
  bool ownRow;
  Type i32, idx;
  Value c0, c1, c32, nk, width;
  RowFacts f;
  Value end, chunks; // the scanned positions [0, end), 32 per chunk

  /// `scanEnd` (optional): every score at and past it is known -inf (the
  /// producer's causal bound), so no pass reads past it.
  WarpSelectRow(OpBuilder &b, Location loc, const SelectPolicy &policy, const RowRef &row,
                Value indices, Value counts, ValueRange at, Value lane, bool ownRow,
                Value scanEnd)
      : b(b), loc(loc), row(row), indices(indices), counts(counts), at(at), lane(lane),
        ownRow(ownRow), i32(b.getI32Type()), idx(b.getIndexType()), c0(cIdx(b, loc, 0)),
        c1(cIdx(b, loc, 1)), c32(cIdx(b, loc, 32)), nk(row.length(b, loc)),
        width(dimOf(b, loc, indices, 3)), f{policy, row, nk, nk} {
    f.stopAt(b, loc, scanEnd);
    end = f.end();
    chunks = arith::CeilDivUIOp::create(b, loc, end, c32);
  }

  /// The row rewritten in place to +inf (forced), the score (candidate) or
  /// -inf (neither).
  void encodeOwnRow() {
    lanePass(b, loc, f, lane, ValueRange{},
             [&](OpBuilder &ob, Location l, Value j, Value s, ValueRange) -> SmallVector<Value> {
               Value isLegal = f.legal(ob, l, s);
               Value coded = arith::SelectOp::create(
                   ob, l, f.forced(ob, l, j, isLegal), cF32(ob, l, INFINITY),
                   arith::SelectOp::create(ob, l, isLegal, s, cF32(ob, l, -INFINITY)));
               memref::StoreOp::create(ob, l, coded, row.buffer, row.at(j));
               return {};
             });
  }
  /// A candidate ranked by score / a block kept whatever its score.
  Value isCandidate(OpBuilder &ob, Location l, Value j, Value s) {
    if (!ownRow)
      return f.candidate(ob, l, j, s);
    return arith::AndIOp::create(
        ob, l, arith::CmpFOp::create(ob, l, arith::CmpFPredicate::OLT, s, inf),
        arith::CmpFOp::create(ob, l, arith::CmpFPredicate::OGT, s, cF32(ob, l, -INFINITY)));
  }
  Value isForced(OpBuilder &ob, Location l, Value j, Value s) {
    if (!ownRow)
      return f.forced(ob, l, j, f.legal(ob, l, s));
    return arith::CmpFOp::create(ob, l, arith::CmpFPredicate::OEQ, s, inf);
  }
  /// Position j of chunk c for this lane; its score (-inf past the row).
  Value position(OpBuilder &ob, Location l, Value c) {
    return arith::AddIOp::create(ob, l, arith::MulIOp::create(ob, l, c, c32), lane).getResult();
  }
  Value scoreAt(OpBuilder &ob, Location l, Value j, Value inRow) {
    Value safe = arith::SelectOp::create(ob, l, inRow, j, c0);
    return arith::SelectOp::create(ob, l, inRow, f.score(ob, l, safe), cF32(ob, l, -INFINITY))
        .getResult();
  }
  Value inRowOf(OpBuilder &ob, Location l, Value j) {
    return arith::CmpIOp::create(ob, l, arith::CmpIPredicate::ult, j, end).getResult();
  }

  Value inf, none, yes;

  /// The cut (score, position as i32): the last kept candidate's rank.
  std::pair<Value, Value> cut(const RowMass &mass, Value negInf, Value hist, Value slot) {
    const SelectPolicy &policy = f.policy;
    if (hist) // topk above kRadixAbove: the warp's radix select
      return cuda::buildWarpRadixCut(
          b, loc, *policy.topk, lane, chunks, nk, hist, slot,
          [&](OpBuilder &ob, Location l, Value c) {
            Value j = position(ob, l, c);
            Value inRow = inRowOf(ob, l, j);
            Value s = scoreAt(ob, l, j, inRow);
            return std::pair<Value, Value>(
                s, arith::AndIOp::create(ob, l, inRow, isCandidate(ob, l, j, s)));
          });
    auto [cutS, cutJ32] = buildCut(
        b, loc, policy, mass, i32, [&](OpBuilder &wb, Location l, Value cs, Value cj32) {
          Value cj = arith::IndexCastOp::create(wb, l, idx, cj32);
          auto scan = scf::ForOp::create(
              wb, l, c0, chunks, c1, ValueRange{negInf, none},
              [&](OpBuilder &sb, Location sl, Value c, ValueRange best) {
                Value j = position(sb, sl, c);
                Value inRow = inRowOf(sb, sl, j);
                Value s = scoreAt(sb, sl, j, inRow);
                Value better = arith::AndIOp::create(
                    sb, sl, arith::AndIOp::create(sb, sl, inRow, isCandidate(sb, sl, j, s)),
                    arith::AndIOp::create(
                        sb, sl, ranksAfter(sb, sl, s, j, cs, cj),
                        arith::CmpFOp::create(sb, sl, arith::CmpFPredicate::OGT, s, best[0])));
                Value j32 = arith::IndexCastOp::create(sb, sl, i32, j);
                scf::YieldOp::create(
                    sb, sl,
                    ValueRange{arith::SelectOp::create(sb, sl, better, s, best[0]),
                               arith::SelectOp::create(sb, sl, better, j32, best[1])});
              });
          auto [bestS, bestJ] = warpArgMax(wb, l, scan.getResult(0), scan.getResult(1));
          Value found = arith::CmpIOp::create(wb, l, arith::CmpIPredicate::slt, bestJ, none);
          return std::make_tuple(bestS, bestJ, found);
        });
    return {cutS, cutJ32};
  }

  Value popc(OpBuilder &ob, Location l, Value x) {
    return arith::IndexCastOp::create(ob, l, idx, LLVM::CtPopOp::create(ob, l, i32, x))
        .getResult();
  }

  /// One chunk of the emit: a ballot of the lanes that keep their
  /// position; each keeping lane writes at `count` plus the keeping lanes
  /// below it. Returns the count after the chunk.
  Value emitChunk(OpBuilder &eb, Location l, Value j, Value inRow, Value s, Value cutS,
                  Value cutJ, Value count, Value below, Type idType) {
    Value inCut = arith::XOrIOp::create(eb, l, ranksAfter(eb, l, s, j, cutS, cutJ), yes);
    Value keep = arith::AndIOp::create(
        eb, l, inRow,
        arith::OrIOp::create(eb, l, isForced(eb, l, j, s),
                             arith::AndIOp::create(eb, l, isCandidate(eb, l, j, s), inCut)));
    Value ballot = NVVM::VoteSyncOp::create(
        eb, l, i32, arith::ConstantIntOp::create(eb, l, i32, -1), keep,
        NVVM::VoteSyncKindAttr::get(eb.getContext(), NVVM::VoteSyncKind::ballot));
    Value slot = arith::AddIOp::create(
        eb, l, count, popc(eb, l, arith::AndIOp::create(eb, l, ballot, below)));
    Value fits = arith::CmpIOp::create(eb, l, arith::CmpIPredicate::ult, slot, width);
    scf::IfOp::create(eb, l, arith::AndIOp::create(eb, l, keep, fits),
                      [&](OpBuilder &tb, Location tl) {
                        memref::StoreOp::create(
                            tb, tl, arith::IndexCastOp::create(tb, tl, idType, j), indices,
                            ValueRange{at[0], at[1], at[2], slot});
                        scf::YieldOp::create(tb, tl);
                      });
    return arith::AddIOp::create(eb, l, count, popc(eb, l, ballot));
  }

  /// The kept positions in ascending order (emitChunk per chunk). Returns
  /// the number kept (at most the list's width).
  Value emitKept(Value cutS, Value cutJ) {
    Type idType = cast<MemRefType>(indices.getType()).getElementType();
    Value below = arith::SubIOp::create(
        b, loc,
        arith::ShLIOp::create(b, loc, arith::ConstantIntOp::create(b, loc, i32, 1),
                              arith::IndexCastOp::create(b, loc, i32, lane)),
        arith::ConstantIntOp::create(b, loc, i32, 1));
    // selectBatch() chunks per iteration, their scores loaded first (a
    // memory round trip per chunk otherwise), then ranked in order.
    int64_t batch = cuda::selectBatch();
    Value cB = cIdx(b, loc, batch);
    auto emit = scf::ForOp::create(
        b, loc, c0, arith::CeilDivUIOp::create(b, loc, chunks, cB), c1, ValueRange{c0},
        [&](OpBuilder &eb, Location l, Value cb, ValueRange st) {
          Value first = arith::MulIOp::create(eb, l, cb, cB);
          SmallVector<std::tuple<Value, Value, Value>> got; // j, inRow, s
          for (int64_t u = 0; u < batch; ++u) {
            Value j = position(eb, l, arith::AddIOp::create(eb, l, first, cIdx(eb, l, u)));
            Value inRow = inRowOf(eb, l, j);
            got.push_back({j, inRow, scoreAt(eb, l, j, inRow)});
          }
          Value count = st[0];
          for (auto [j, inRow, s] : got)
            count = emitChunk(eb, l, j, inRow, s, cutS, cutJ, count, below, idType);
          scf::YieldOp::create(eb, l, count);
        });
    return arith::MinUIOp::create(b, loc, emit.getResult(0), width);
  }

  /// Slots past `count` get -1; lane 0 writes the count.
  void padAndCount(Value count) {
    Type idType = cast<MemRefType>(indices.getType()).getElementType();
    Value minusOne = arith::ConstantIntOp::create(b, loc, idType, -1);
    scf::ForOp::create(b, loc, arith::AddIOp::create(b, loc, count, lane), width, c32,
                       ValueRange{}, [&](OpBuilder &fb, Location l, Value t, ValueRange) {
                         memref::StoreOp::create(fb, l, minusOne, indices,
                                                 ValueRange{at[0], at[1], at[2], t});
                         scf::YieldOp::create(fb, l);
                       });
    Value lane0 = arith::CmpIOp::create(b, loc, arith::CmpIPredicate::eq, lane, c0);
    scf::IfOp::create(b, loc, lane0, [&](OpBuilder &tb, Location tl) {
      memref::StoreOp::create(tb, tl, arith::IndexCastOp::create(tb, tl, idType, count), counts,
                              ValueRange{at[0], at[1], at[2]});
      scf::YieldOp::create(tb, tl);
    });
  }
};

/// attn.select with a warp per row: lane l owns the row's positions l,
/// l + 32, ...; each arg-max pass scans 1/32 of the row and reduces by
/// shuffles, and the kept ids are written in ascending order through a
/// ballot prefix count. Same rules as buildSelectRow (RowFacts), same
/// result.
///
/// With `ownRow` (the scores are an intermediate only this select reads),
/// the row is first rewritten in place to +inf (forced), the score
/// (candidate) or -inf (neither), so the passes and the emit compare one
/// value per position instead of re-deriving the policy each time.
void buildWarpSelectRow(OpBuilder &b, Location loc, const SelectPolicy &policy,
                        const RowRef &row, Value indices, Value counts,
                        ValueRange at, Value lane, bool ownRow, Value hist,
                        Value slot, Value scanEnd) {
  WarpSelectRow w(b, loc, policy, row, indices, counts, at, lane, ownRow, scanEnd);
  if (policy.local > 0)
    w.f.localStart = warpLocalStart(b, loc, w.f, lane);
  RowMass mass;
  Value negInf = cF32(b, loc, -INFINITY);
  if (policy.threshold)
    mass = warpRowMass(b, loc, w.f, lane);
  w.inf = cF32(b, loc, INFINITY);
  if (ownRow)
    w.encodeOwnRow();
  w.none = arith::IndexCastOp::create(b, loc, w.i32, w.nk); // "no candidate"
  w.yes = arith::ConstantIntOp::create(b, loc, 1, 1);
  auto [cutS, cutJ32] = w.cut(mass, negInf, hist, slot);
  Value cutJ = arith::IndexCastOp::create(b, loc, w.idx, cutJ32);
  w.padAndCount(w.emitKept(cutS, cutJ));
}

} // namespace

bool mlir::attn::cuda::isSelectionOp(Operation *op) {
  // Elementwise steps of rank 0 have no grid to run over.
  if (auto linear = dyn_cast<LinearOp>(op))
    return canRunLinear(linear);
  return isa<PoolOp, ProjectOp, BlockScoresOp, IndexScoresOp, ProbsOp,
             SelectOp, MergeOp, RuleBlocksOp>(op) ||
         (isElementwiseStep(op) &&
          cast<RankedTensorType>(op->getResult(0).getType()).getRank() > 0);
}

Value mlir::attn::cuda::warpReduce(OpBuilder &b, Location loc, Value x,
                                   function_ref<Value(Value, Value)> combine) {
  for (int32_t off : {16, 8, 4, 2, 1})
    x = combine(x, gpu::ShuffleOp::create(b, loc, x, off, 32,
                                          gpu::ShuffleMode::XOR)
                       .getShuffleResult());
  return x;
}

Value mlir::attn::cuda::warpInclusiveScan(OpBuilder &b, Location loc, Value x, Value lane32,
                                          function_ref<Value(Value, Value)> combine) {
  Type i32 = b.getI32Type();
  for (int32_t off : {1, 2, 4, 8, 16}) {
    Value up = gpu::ShuffleOp::create(b, loc, x, off, 32, gpu::ShuffleMode::UP).getShuffleResult();
    Value from = arith::CmpIOp::create(b, loc, arith::CmpIPredicate::sge, lane32,
                                       arith::ConstantIntOp::create(b, loc, i32, off));
    x = arith::SelectOp::create(b, loc, from, combine(x, up), x);
  }
  return x;
}

namespace {
/// How a step kernel's threads cover its op: threads per block, threads per
/// work item (`lanes`), the value whose leading `gridDims` dims are the
/// grid (an index into the kernel's values: operands, then results), and
/// the features a pool or merge thread takes at once.
struct StepShape {
  int64_t threads = kThreads, lanes = 1, gridArg = 0, gridDims = 3;
  int64_t poolWidth = 1, mergeWidth = 1;
  bool tiled = false; ///< block scores by tiles in shared memory
  bool radix = false; ///< select's warp radix select (topk > kRadixAbove)
};

StepShape stepShapeOf(Operation *op, bool radixSelect) {
  StepShape s;
  auto scoresOp = dyn_cast<BlockScoresOp>(op);
  s.tiled = scoresOp && cuda::canTileScores(scoresOp);
  s.threads = s.tiled ? cuda::kScoreTile * cuda::kScoreTile : kThreads;
  auto selectOp = dyn_cast<SelectOp>(op);
  s.radix = radixSelect && selectOp && SelectPolicy::of(selectOp).topk &&
            *SelectPolicy::of(selectOp).topk > kRadixAbove;
  // Threads per work item: a warp per select row; a pool row (b, h,
  // block) takes one thread per 16 bytes of features when rows allow it.
  // An attention here is a row kernel: a warp per query row.
  s.lanes = isa<SelectOp, AttentionOp, RuleBlocksOp>(op) ? 32
            : s.tiled                                     ? s.threads
                                                          : 1;
  if (auto pool = dyn_cast<PoolOp>(op)) {
    auto xt = cast<RankedTensorType>(pool.getX().getType());
    auto ot = pool.getOut().getType();
    int64_t d = xt.getDimSize(3);
    int64_t inBytes = xt.getElementTypeBitWidth() / 8;
    int64_t outBytes = ot.getElementTypeBitWidth() / 8;
    int64_t w = 16 / inBytes;
    if (!ShapedType::isDynamic(d) && d % w == 0 && (w * outBytes) % 4 == 0 &&
        (d * outBytes) % (w * outBytes) == 0) {
      s.poolWidth = w;
      s.lanes = d / w;
    }
  }
  // A merge row takes one thread per 16 bytes of its features where the
  // features are whole 16-byte pieces (the weights computed once per
  // thread, vector loads and stores): else one thread per feature.
  if (auto merge = dyn_cast<MergeOp>(op)) {
    auto ot = merge.getOut().getType();
    int64_t d = ot.getDimSize(3), w = 16 / (ot.getElementTypeBitWidth() / 8);
    if (!ShapedType::isDynamic(d) && d % w == 0) {
      s.mergeWidth = w;
      s.lanes = d / w;
    }
  }
  // attn.linear: a thread per value column of a (b, h) state.
  if (auto linear = dyn_cast<LinearOp>(op))
    s.lanes = cast<RankedTensorType>(linear.getV().getType()).getDimSize(3);
  // The grid: the first result's leading dims (pool: every element; scores:
  // the rows), or select's counts (its rows).
  unsigned numIn = op->getNumOperands();
  s.gridArg = isa<SelectOp, RuleBlocksOp>(op) ? numIn + 1 : numIn;
  if (isa<AttentionOp>(op))
    s.gridArg = 0; // q: (b, h, i)
  // Block scores: one thread per score (a row per thread leaves most of
  // the GPU idle: B x H x query blocks is a few thousand).
  s.gridDims = isa<LinearOp>(op)                                  ? 2
               : isa<BlockScoresOp, IndexScoresOp, ProjectOp>(op) ||
                       (isa<MergeOp>(op) && s.mergeWidth == 1) ||
                       (isa<PoolOp>(op) && s.lanes == 1)
                   ? 4
                   : 3;
  // Elementwise steps: one thread per element of the result (after the
  // operands, linalg.broadcast's init included).
  if (isElementwiseStep(op))
    s.gridDims = cast<RankedTensorType>(op->getResult(0).getType()).getRank();
  return s;
}

using ArgFn = function_ref<Value(Value)>;

/// A thread per 16 bytes of a merge row's features (or per feature): the
/// row's weights from the parts' lse (recomputed by each of the row's
/// threads: loads that hit in cache), the weighted sum; the row's first
/// thread also writes the lse.
void buildMergeThread(OpBuilder &b, Location loc, MergeOp merge, ArgFn arg,
                      ArrayRef<Value> at, Value lane, int64_t mergeWidth) {
  SmallVector<Value> row(at.take_front(3)), lses, outs;
  Value e = mergeWidth > 1
                ? arith::MulIOp::create(b, loc, lane, cIdx(b, loc, mergeWidth))
                      .getResult()
                : at[3];
  SmallVector<Value> atE(row);
  atE.push_back(e);
  Value out = arg(merge.getOut());
  Type elt = cast<MemRefType>(out.getType()).getElementType();
  Type f32 = b.getF32Type();
  auto vecOf = [&](Type t) -> Type {
    return mergeWidth > 1 ? VectorType::get({mergeWidth}, t) : t;
  };
  auto align = llvm::MaybeAlign(16);
  for (unsigned r = 0; r < merge.getNumPairs(); ++r) {
    lses.push_back(memref::LoadOp::create(b, loc, arg(merge.getPartLse(r)), row));
    Value part = arg(merge.getPartOut(r));
    Value x = mergeWidth > 1
                  ? vector::LoadOp::create(b, loc, cast<VectorType>(vecOf(elt)),
                                           part, atE, false, align)
                        .getResult()
                  : memref::LoadOp::create(b, loc, part, atE).getResult();
    outs.push_back(elt.isF32() ? x
                               : arith::ExtFOp::create(b, loc, vecOf(f32), x).getResult());
  }
  // Unnormalised terms as pairs (num / den, log den).
  for (unsigned u = 0; u < merge.getNumTerms(); ++u) {
    Value den = arg(merge.getTermDen(u)), num = arg(merge.getTermNum(u));
    SmallVector<Value> atD(row);
    if (cast<MemRefType>(den.getType()).getRank() == 4)
      atD.push_back(cIdx(b, loc, 0));
    Value d = toF32(b, loc, memref::LoadOp::create(b, loc, den, atD));
    Type nt = cast<MemRefType>(num.getType()).getElementType();
    Value x = mergeWidth > 1
                  ? vector::LoadOp::create(b, loc, cast<VectorType>(vecOf(nt)), num,
                                           atE)
                        .getResult()
                  : memref::LoadOp::create(b, loc, num, atE).getResult();
    if (!nt.isF32())
      x = arith::ExtFOp::create(b, loc, vecOf(f32), x);
    MergeTerm term = buildMergeTerm(b, loc, d);
    outs.push_back(buildTermOut(b, loc, term, x));
    lses.push_back(term.lse);
  }
  MergedRow m = buildMergedRow(b, loc, lses);
  if (mergeWidth > 1)
    for (Value &w : m.weights)
      w = vector::BroadcastOp::create(b, loc, vecOf(f32), w);
  Value v = buildMergedOut(b, loc, m, outs);
  if (!elt.isF32())
    v = arith::TruncFOp::create(b, loc, vecOf(elt), v);
  if (mergeWidth > 1)
    vector::StoreOp::create(b, loc, v, out, atE, false, align);
  else
    memref::StoreOp::create(b, loc, v, out, atE);
  Value first = arith::CmpIOp::create(b, loc, arith::CmpIPredicate::eq, e,
                                      cIdx(b, loc, 0));
  scf::IfOp::create(b, loc, first, [&](OpBuilder &tb, Location tl) {
    memref::StoreOp::create(tb, tl, m.lse, arg(merge.getLse()), row);
    scf::YieldOp::create(tb, tl);
  });
}

/// The work of item `at` (the grid's indices) for thread `lane` of it.
/// `hist` and `slot`: select's radix bins and the warp's row of them.
void buildStepThread(OpBuilder &b, Location loc, func::FuncOp fn,
                     gpu::GPUFuncOp kfn, Operation *op, const StepShape &s,
                     ArgFn arg, ArrayRef<Value> at, Value lane, Value hist,
                     Value slot) {
  if (isElementwiseStep(op)) {
    buildElementwiseAt(b, loc, op, arg, at);
  } else if (auto merge = dyn_cast<MergeOp>(op)) {
    buildMergeThread(b, loc, merge, arg, at, lane, s.mergeWidth);
  } else if (auto linear = dyn_cast<LinearOp>(op)) {
    cuda::buildLinearColumn(b, loc, linear, arg, at[0], at[1], lane);
  } else if (auto index = dyn_cast<IndexScoresOp>(op)) {
    // One thread per score (b, 0, t, s): the indexer heads' dots for one
    // key. DSA's scale (N x M scores) wants a tiled tensor-core form; this
    // is the correct first one.
    IndexRow site{arg(index.getQi()), arg(index.getKi()), arg(index.getW()),
                  at[0], at[2], index.getCausal()};
    memref::StoreOp::create(b, loc, buildIndexScoreAt(b, loc, site, at[3]),
                            arg(index.getScores()), at);
  } else if (auto map = dyn_cast<RuleBlocksOp>(op)) {
    cuda::buildRuleBlocksRow(b, loc, map, kfn, arg, at, lane);
  } else if (auto attention = dyn_cast<AttentionOp>(op)) {
    cuda::buildRowAttention(b, loc, attention, arg, at[0], at[1], at[2], lane);
  } else if (auto pool = dyn_cast<PoolOp>(op)) {
    Value e = s.poolWidth > 1
                  ? arith::MulIOp::create(b, loc, lane, cIdx(b, loc, s.poolWidth))
                        .getResult()
                  : at[3];
    buildPoolFeature(b, loc, pool.getKind(),
                     static_cast<int64_t>(pool.getBlock()),
                     pool.getStrideValue(), arg(pool.getX()),
                     arg(pool.getOut()), at[0], at[1], at[2], e, s.poolWidth);
  } else if (auto scores = dyn_cast<BlockScoresOp>(op)) {
    ScoreRow row = ScoreRow::of(b, loc, scores, arg);
    row.b = at[0], row.hOut = at[1], row.i = at[2];
    // 16-byte loads of each pooled row.
    int64_t d = cast<MemRefType>(row.qp.getType()).getDimSize(3);
    int64_t bytes = cast<MemRefType>(row.qp.getType()).getElementTypeBitWidth() / 8;
    // Rows of whole 16-byte multiples keep every row start aligned.
    row.lanes = (d * bytes) % 16 == 0 ? 16 / bytes : 1;
    memref::StoreOp::create(b, loc, buildScoreAt(b, loc, row, at[3]),
                            arg(scores.getScores()), at);
  } else if (auto project = dyn_cast<ProjectOp>(op)) {
    // One thread per output feature: consecutive threads read consecutive
    // weights of a row and share the input feature (a broadcast).
    ProjectSite site;
    for (Value x : project.getInputs())
      site.inputs.push_back(arg(x));
    site.weight = arg(project.getWeight());
    site.map = project.getFeatureMap();
    site.b = at[0], site.h = at[1], site.l = at[2];
    Value v = buildProjectAt(b, loc, site, at[3]);
    Type elt = project.getType().getElementType();
    if (!elt.isF32())
      v = arith::TruncFOp::create(b, loc, elt, v);
    memref::StoreOp::create(b, loc, v, arg(project.getOut()), at);
  } else if (auto probs = dyn_cast<ProbsOp>(op)) {
    // One thread per row: pointer-network sizes (a decoder step against
    // its inputs); passes over the row in the output buffer.
    ProbsRow row = ProbsRow::of(probs, arg(probs.getQ()), arg(probs.getK()));
    row.b = at[0], row.h = at[1], row.i = at[2];
    buildProbsRow(b, loc, row, RowRef{arg(probs.getProbs()), {at[0], at[1], at[2]}});
  } else {
    auto select = cast<SelectOp>(op);
    // The row rewritten in place where positions are kept whatever their
    // score (first, last, local): the passes then compare one value. With
    // no such rule the rewrite is a read and a write of the row for nothing.
    SelectPolicy policy = SelectPolicy::of(select);
    bool ownRow = bindingOf(fn, select.getScores()).front() == 'w' &&
                  select.getScores().hasOneUse() &&
                  (policy.first > 0 || policy.last > 0 || policy.local > 0);
    Value scores = arg(select.getScores()), scanEnd;
    // A causal producer's rows end early (DSA's indexer: half the matrix
    // on average); the passes stop there instead of reading its -inf tail.
    if (auto rows = select.getScores().getDefiningOp<ScoreRowsOpInterface>()) {
      SmallVector<Value> dims;
      for (int64_t d = 0; d < 4; ++d)
        dims.push_back(dimOf(b, loc, scores, d));
      scanEnd = rows.legalRowEnd(b, loc, dims, {at[0], at[1], at[2]});
    }
    buildWarpSelectRow(b, loc, policy,
                       RowRef{scores, {at[0], at[1], at[2]}},
                       arg(select.getKvIndices()), arg(select.getKvCounts()),
                       at, lane, ownRow, hist, slot, scanEnd);
  }
}
} // namespace

// topk above kRadixAbove: 256 digit bins per warp of the block.
static MemRefType binsType(MLIRContext *ctx) {
  return MemRefType::get({kThreads / 32, 256}, IntegerType::get(ctx, 32),
                         MemRefLayoutAttrInterface(),
                         gpu::AddressSpaceAttr::get(ctx, gpu::AddressSpace::Workgroup));
}

// The kernel's module-level shared buffers: block scores by tiles where the
// rows allow (two tiles of the kernel's own), the radix select's bins.
static void declareStepBuffers(OpBuilder &gb, Location loc, const StepShape &s,
                               BlockScoresOp scoresOp, StringRef sQName,
                               StringRef sKName, StringRef histName) {
  if (s.tiled)
    for (StringRef tileName : {sQName, sKName})
      memref::GlobalOp::create(gb, loc, tileName, gb.getStringAttr("private"),
                               cuda::scoreTileType(scoresOp), Attribute(),
                               /*constant=*/false, gb.getI64IntegerAttr(128));
  if (s.radix)
    memref::GlobalOp::create(gb, loc, histName, gb.getStringAttr("private"),
                             binsType(gb.getContext()), Attribute(),
                             /*constant=*/false, gb.getI64IntegerAttr(16));
}

// The thread's work item (a flat index over the grid) and its lane among the
// item's s.lanes threads.
static std::pair<Value, Value> itemAndLane(OpBuilder &b, Location loc,
                                           const StepShape &s) {
  Value id = arith::AddIOp::create(
      b, loc,
      arith::MulIOp::create(b, loc, gpu::BlockIdOp::create(b, loc, gpu::Dimension::x),
                            cIdx(b, loc, s.threads)),
      gpu::ThreadIdOp::create(b, loc, gpu::Dimension::x));
  Value lane = cIdx(b, loc, 0);
  if (s.lanes > 1) {
    lane = arith::RemUIOp::create(b, loc, id, cIdx(b, loc, s.lanes));
    id = arith::DivUIOp::create(b, loc, id, cIdx(b, loc, s.lanes));
  }
  return {id, lane};
}

LogicalResult mlir::attn::cuda::buildSelectionKernel(OpBuilder &gb,
                                                     func::FuncOp fn,
                                                     Operation *op,
                                                     StringRef name,
                                                     bool radixSelect) {
  MLIRContext *ctx = op->getContext();
  Location loc = op->getLoc();
  SmallVector<Value> values(op->getOperands());
  llvm::append_range(values, op->getResults());
  StepShape s = stepShapeOf(op, radixSelect);
  auto scoresOp = dyn_cast<BlockScoresOp>(op);
  std::string sQName = (name + "_sQ").str(), sKName = (name + "_sK").str(),
              histName = (name + "_bins").str();
  MemRefType histType = binsType(ctx);
  declareStepBuffers(gb, loc, s, scoresOp, sQName, sKName, histName);
  gpu::GPUFuncOp kfn = cuda::createStepKernel(gb, fn, values, name, s.gridArg,
                                              s.gridDims, s.threads, s.lanes);
  OpBuilder attrs(ctx);
  if (s.tiled)
    kfn->setAttr("attn.grid_tile", attrs.getDenseI64ArrayAttr(
                                       {cuda::kScoreTile, cuda::kScoreTile}));

  // The radix select of topk alone at 8 blocks per SM (64 registers, 72
  // without the bound; no spills): DSA's select 4.91 -> 4.83 ms on an H100
  // (docs/benchmarks/select.md). Forced positions (first, last, local)
  // need more registers and would spill under it.
  auto forcesNone = [&] {
    SelectPolicy p = SelectPolicy::of(cast<SelectOp>(op));
    return p.first == 0 && p.last == 0 && p.local == 0;
  };
  if (s.radix && forcesNone())
    kfn->setAttr(NVVM::NVVMDialect::getMinctasmAttrName(), attrs.getI32IntegerAttr(8));

  OpBuilder b(ctx);
  b.setInsertionPointToStart(&kfn.getBody().front());
  auto arg = [&](Value v) -> Value {
    return kfn.getArgument(llvm::find(values, v) - values.begin());
  };
  Value grid = kfn.getArgument(s.gridArg);
  auto [id, lane] = itemAndLane(b, loc, s);
  if (s.tiled) {
    // One block per tile: `id` is the tile, `lane` the thread.
    auto tileOf = [&](const std::string &n) {
      return memref::GetGlobalOp::create(b, loc, cuda::scoreTileType(scoresOp), n)
          .getResult();
    };
    cuda::buildTiledScores(b, loc, scoresOp, arg, id, lane, tileOf(sQName),
                           tileOf(sKName), s.threads);
    gpu::ReturnOp::create(b, loc);
    return success();
  }
  Value items = cIdx(b, loc, 1);
  for (int64_t d = 0; d < s.gridDims; ++d)
    items = arith::MulIOp::create(b, loc, items, dimOf(b, loc, grid, d));
  auto inRange =
      arith::CmpIOp::create(b, loc, arith::CmpIPredicate::ult, id, items);
  auto ifIn = scf::IfOp::create(b, loc, inRange, /*withElse=*/false);
  b.setInsertionPointToStart(&ifIn.getThenRegion().front());
  SmallVector<Value> at = unflatten(b, loc, id, grid, s.gridDims);
  Value hist, slot;
  if (s.radix) {
    hist = memref::GetGlobalOp::create(b, loc, histType, histName).getResult();
    slot = arith::DivUIOp::create(b, loc, gpu::ThreadIdOp::create(b, loc, gpu::Dimension::x),
                                  cIdx(b, loc, 32));
  }
  buildStepThread(b, loc, fn, kfn, op, s, arg, at, lane, hist, slot);
  b.setInsertionPointToEnd(&kfn.getBody().front());
  gpu::ReturnOp::create(b, loc);
  return success();
}
