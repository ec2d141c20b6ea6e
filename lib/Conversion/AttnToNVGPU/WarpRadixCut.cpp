//===- WarpRadixCut.cpp - topk's cut by a warp's radix select -------------===//
//
// attn.select's GPU kernel gives each row to a warp. Its cut for topk(k)
// was k arg-max passes over the row (SelectionKernels.cpp, buildCut): fine
// for block lists (k of a few dozen), O(k Nk) for token-level lists (DSA:
// k = 2048 of tens of thousands of keys). This is the CPU's radix cut
// (buildRadixCut) with the warp's lanes over the row: per 8-bit digit from
// the top, the candidates matching the digits fixed so far add to the
// warp's 256 bins by shared-memory atomics; the lanes' bin sums (lane l
// holding digits 255 - 8 l - (0..7)) and a shuffle scan find the digit
// that holds the rank still wanted. The first pass also counts the row
// (at most k candidates: no cut). When some tie of the k-th key falls out,
// a last pass ranks the ties by position (ballot prefix counts); when all
// are kept the cut is the k-th score itself. Either way the cut is the one
// the emit pass of buildWarpSelectRow already takes: same result as
// buildCut, in 4 or 5 reads of the row (there were 6).
//
//===----------------------------------------------------------------------===//

#include "SelectionKernels.h"
#include "attnir/Dialect/Attn/Utils/BuildHelpers.h"
#include "attnir/Dialect/Attn/Utils/SelectionBuilders.h"
#include "mlir/Dialect/GPU/IR/GPUDialect.h"
#include "mlir/Dialect/LLVMIR/LLVMDialect.h"
#include "mlir/Dialect/LLVMIR/NVVMDialect.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include <optional>

using namespace mlir;
using namespace mlir::attn;

namespace {

struct WarpOps {
  OpBuilder &b;
  Location loc;
  Type i32;

  Value ci(int64_t v) { return arith::ConstantIntOp::create(b, loc, i32, v); }
  Value add(Value x, Value y) { return arith::AddIOp::create(b, loc, x, y); }
  Value sub(Value x, Value y) { return arith::SubIOp::create(b, loc, x, y); }
  Value cmp(arith::CmpIPredicate p, Value x, Value y) {
    return arith::CmpIOp::create(b, loc, p, x, y);
  }
  Value sel(Value c, Value x, Value y) { return arith::SelectOp::create(b, loc, c, x, y); }
  Value ballot(Value pred) {
    return NVVM::VoteSyncOp::create(
        b, loc, i32, ci(-1), pred,
        NVVM::VoteSyncKindAttr::get(b.getContext(), NVVM::VoteSyncKind::ballot));
  }
  Value popc(Value x) { return LLVM::CtPopOp::create(b, loc, i32, x); }
  Value ctz(Value x) { return LLVM::CountTrailingZerosOp::create(b, loc, i32, x, false); }
  Value shuffle(Value x, Value src, gpu::ShuffleMode mode) {
    return gpu::ShuffleOp::create(b, loc, x, src, ci(32), mode).getShuffleResult();
  }
  void syncWarp() { NVVM::SyncWarpOp::create(b, loc, ci(-1)); }
};

/// The lane's 8 bins, digits top down to top - 7, and their sum.
std::pair<SmallVector<Value>, Value> laneBins(WarpOps &w, Value hist, Value slot, Value top) {
  SmallVector<Value> bins;
  Value laneSum = w.ci(0);
  for (int64_t i = 0; i < 8; ++i) {
    Value d = arith::IndexCastOp::create(w.b, w.loc, w.b.getIndexType(), w.sub(top, w.ci(i)));
    bins.push_back(memref::LoadOp::create(w.b, w.loc, hist, ValueRange{slot, d}));
    laneSum = w.add(laneSum, bins.back());
  }
  return {bins, laneSum};
}

/// Where a lane's bins reach rank `want`, counting from `above` (the
/// candidates in higher lanes' digits): the digit, the candidates ranked
/// above its bin, its bin's count, and whether the lane has it.
struct DigitHit {
  Value digit, before, count, found;
};
DigitHit walkBins(WarpOps &w, ArrayRef<Value> bins, Value top, Value above, Value want) {
  OpBuilder &b = w.b;
  Location loc = w.loc;
  Value digit = w.ci(0), before = w.ci(0), count = w.ci(0), acc = above;
  Value found = arith::ConstantIntOp::create(b, loc, 0, 1);
  for (int64_t i = 0; i < 8; ++i) {
    Value next = w.add(acc, bins[i]);
    Value hit = arith::AndIOp::create(
        b, loc, arith::XOrIOp::create(b, loc, found, arith::ConstantIntOp::create(b, loc, 1, 1)),
        w.cmp(arith::CmpIPredicate::sge, next, want));
    digit = w.sel(hit, w.sub(top, w.ci(i)), digit);
    before = w.sel(hit, acc, before);
    count = w.sel(hit, bins[i], count);
    found = arith::OrIOp::create(b, loc, found, hit);
    acc = next;
  }
  return {digit, before, count, found};
}

using CandidateAt = function_ref<std::pair<Value, Value>(OpBuilder &, Location, Value)>;

/// One radix pass's histogram: the warp's 256 bins zeroed, then each
/// candidate whose key matches `prefix` above bit shift + 8 counts its
/// digit at `shift`.
void countDigit(OpBuilder &b, Location loc, int64_t shift, Value prefix, Value lane, Value chunks,
                Value hist, Value slot, CandidateAt candidateAt) {
  using P = arith::CmpIPredicate;
  Type i32 = b.getI32Type(), idx = b.getIndexType();
  WarpOps w{b, loc, i32};
  Value c0 = cIdx(b, loc, 0), c1 = cIdx(b, loc, 1);
  for (int64_t i = 0; i < 8; ++i)
    memref::StoreOp::create(b, loc, w.ci(0), hist,
                            ValueRange{slot, arith::AddIOp::create(b, loc, lane, cIdx(b, loc, 32 * i))});
  w.syncWarp();
  Value pre = prefix;
  // selectBatch() chunks per iteration, their loads issued before any count: one
  // load per iteration left each warp waiting a memory round trip per 32
  // scores. Chunks past the row read position 0 and are no candidates.
  int64_t batch = cuda::selectBatch();
  Value batches = arith::CeilDivUIOp::create(b, loc, chunks, cIdx(b, loc, batch));
  scf::ForOp::create(b, loc, c0, batches, c1, ValueRange{},
                     [&](OpBuilder &fb, Location l, Value cb, ValueRange) {
                       WarpOps fw{fb, l, i32};
                       Value first = arith::MulIOp::create(fb, l, cb, cIdx(fb, l, batch));
                       SmallVector<std::pair<Value, Value>> got;
                       for (int64_t u = 0; u < batch; ++u)
                         got.push_back(candidateAt(fb, l, arith::AddIOp::create(
                                                             fb, l, first, cIdx(fb, l, u))));
                       for (auto [s, cand] : got) {
                         Value key = radixKey(fb, l, s);
                         Value match = cand;
                         if (shift < 24) {
                           Value high = arith::ShRUIOp::create(
                               fb, l, arith::XOrIOp::create(fb, l, key, pre), fw.ci(shift + 8));
                           match = arith::AndIOp::create(fb, l, match,
                                                         fw.cmp(P::eq, high, fw.ci(0)));
                         }
                         scf::IfOp::create(fb, l, match, [&](OpBuilder &ib, Location il) {
                           WarpOps iw{ib, il, i32};
                           Value digit = arith::AndIOp::create(
                               ib, il, arith::ShRUIOp::create(ib, il, key, iw.ci(shift)),
                               iw.ci(255));
                           memref::AtomicRMWOp::create(
                               ib, il, arith::AtomicRMWKind::addi, iw.ci(1), hist,
                               ValueRange{slot, arith::IndexCastOp::create(ib, il, idx, digit)});
                           scf::YieldOp::create(ib, il);
                         });
                       }
                       scf::YieldOp::create(fb, l);
                     });
  w.syncWarp();
}

/// The pass over positions: the want-th candidate (by position) whose key
/// is `prefix`; results (count, score, position) of which the last two
/// are the cut.
scf::ForOp pickByPosition(OpBuilder &b, Location loc, Value prefix, Value want, Value lane32,
                          Value chunks, CandidateAt candidateAt) {
  using P = arith::CmpIPredicate;
  Type i32 = b.getI32Type();
  WarpOps w{b, loc, i32};
  Value c0 = cIdx(b, loc, 0), c1 = cIdx(b, loc, 1);
  Value below = w.sub(arith::ShLIOp::create(b, loc, w.ci(1), lane32), w.ci(1));
  auto pick = scf::ForOp::create(
      b, loc, c0, chunks, c1, ValueRange{w.ci(0), cF32(b, loc, INFINITY), w.ci(-1)},
      [&](OpBuilder &pb, Location l, Value c, ValueRange st) {
        WarpOps pw{pb, l, i32};
        auto [s, cand] = candidateAt(pb, l, c);
        Value hit = arith::AndIOp::create(pb, l, cand,
                                          pw.cmp(P::eq, radixKey(pb, l, s), prefix));
        Value hits = pw.ballot(hit);
        Value rank = pw.add(pw.add(st[0], pw.popc(arith::AndIOp::create(pb, l, hits, below))),
                            pw.ci(1));
        Value cuts = pw.ballot(arith::AndIOp::create(pb, l, hit, pw.cmp(P::eq, rank, want)));
        Value any = pw.cmp(P::ne, cuts, pw.ci(0));
        Value src = pw.ctz(cuts);
        Value sCut = pw.shuffle(s, src, gpu::ShuffleMode::IDX);
        Value jCut = pw.add(arith::MulIOp::create(pb, l, arith::IndexCastOp::create(pb, l, i32, c),
                                                  pw.ci(32)),
                            src);
        scf::YieldOp::create(pb, l,
                             ValueRange{pw.add(st[0], pw.popc(hits)), pw.sel(any, sCut, st[1]),
                                        pw.sel(any, jCut, st[2])});
      });
  return pick;
}

} // namespace

int64_t mlir::attn::cuda::selectBatch() {
  // DSA's top-2048 at N = 32768 on an H100 (docs/benchmarks/select.md):
  // 1, 8 and 16 chunks took 8.7 (with 1 only in the counting passes), 4.9
  // and 5.5 ms.
  return 8;
}

std::pair<Value, Value> mlir::attn::cuda::buildWarpRadixCut(
    OpBuilder &b, Location loc, int64_t k, Value lane, Value chunks, Value nk, Value hist,
    Value slot,
    function_ref<std::pair<Value, Value>(OpBuilder &, Location, Value)> candidateAt) {
  Type i32 = b.getI32Type(), f32 = b.getF32Type();
  WarpOps w{b, loc, i32};
  Value lane32 = arith::IndexCastOp::create(b, loc, i32, lane);
  using P = arith::CmpIPredicate;

  Value prefix = w.ci(0), want = w.ci(k), ties = w.ci(0);
  std::optional<OpBuilder::InsertionGuard> guard;
  scf::IfOp all;
  for (int64_t shift = 24; shift >= 0; shift -= 8) {
    // Zero the warp's bins (8 per lane), count this digit of the matching
    // candidates, then read the lane's 8 bins from the top.
    countDigit(b, loc, shift, prefix, lane, chunks, hist, slot, candidateAt);
    Value top = w.sub(w.ci(255), arith::MulIOp::create(b, loc, lane32, w.ci(8)));
    auto [bins, laneSum] = laneBins(w, hist, slot, top);
    w.syncWarp(); // every lane has read its bins before the next zeroing
    // Candidates above this lane's digits: an exclusive scan of the lane sums.
    Value incl = warpInclusiveScan(b, loc, laneSum, lane32,
                                   [&](Value x, Value y) { return w.add(x, y); });
    Value above = w.sub(incl, laneSum);
    // The lane holding the wanted rank walks its bins: the digit, and how
    // many candidates rank above it.
    if (shift == 24) {
      // The first pass counts every candidate: at most k of them are all
      // kept, no cut.
      Value total = w.shuffle(incl, w.ci(31), gpu::ShuffleMode::IDX);
      all = scf::IfOp::create(b, loc, TypeRange{f32, i32}, w.cmp(P::sle, total, w.ci(k)),
                              /*withElseRegion=*/true);
      guard.emplace(b);
      b.setInsertionPointToStart(&all.getThenRegion().front());
      scf::YieldOp::create(b, loc,
                           ValueRange{cF32(b, loc, -INFINITY),
                                      arith::IndexCastOp::create(b, loc, i32, nk).getResult()});
      b.setInsertionPointToStart(&all.getElseRegion().front());
    }
    DigitHit hit = walkBins(w, bins, top, above, want);
    Value owner = arith::AndIOp::create(b, loc, hit.found, w.cmp(P::slt, above, want));
    Value src = w.ctz(w.ballot(owner));
    Value digit = w.shuffle(hit.digit, src, gpu::ShuffleMode::IDX);
    Value before = w.shuffle(hit.before, src, gpu::ShuffleMode::IDX);
    ties = w.shuffle(hit.count, src, gpu::ShuffleMode::IDX);
    prefix = arith::OrIOp::create(b, loc, prefix,
                                  arith::ShLIOp::create(b, loc, digit, w.ci(shift)));
    want = w.sub(want, before);
  }

  // Every tie of the k-th key kept: the cut is that score itself (the key
  // inverted: radixKey flips the sign bit of non-negative scores and every
  // bit of negative ones), no pass over positions.
  auto allTies = scf::IfOp::create(b, loc, TypeRange{f32, i32}, w.cmp(P::eq, ties, want),
                                   /*withElseRegion=*/true);
  b.setInsertionPointToStart(&allTies.getThenRegion().front());
  Value nonNegative = w.cmp(P::slt, prefix, w.ci(0));
  Value bits = w.sel(nonNegative, arith::XOrIOp::create(b, loc, prefix, w.ci(INT32_MIN)),
                     arith::XOrIOp::create(b, loc, prefix, w.ci(-1)));
  scf::YieldOp::create(b, loc,
                       ValueRange{arith::BitcastOp::create(b, loc, f32, bits).getResult(),
                                  arith::IndexCastOp::create(b, loc, i32, nk).getResult()});
  b.setInsertionPointToStart(&allTies.getElseRegion().front());

  // The cut: the want-th candidate by position whose key is the k-th's.
  scf::ForOp pick = pickByPosition(b, loc, prefix, want, lane32, chunks, candidateAt);
  scf::YieldOp::create(b, loc, ValueRange{pick.getResult(1), pick.getResult(2)});
  b.setInsertionPointAfter(allTies);
  scf::YieldOp::create(b, loc, allTies.getResults());
  return {all.getResult(0), all.getResult(1)};
}
