//===- AttnLowerSelect.cpp - pool, block scores, select to loops ----------===//
//
// Each selection op becomes an scf.parallel over its rows on buffers (one
// task per (batch, head, block row)) whose body comes from
// SelectionBuilders.h; the results are tensors again (to_tensor of the
// filled buffer), so attn.attention's `blocks(...)` and the function's
// returns consume them as before and bufferization sees one producer.
//
// Fusion: a score producer (ScoreRowsOpInterface: block_scores,
// index_scores) whose only user is a select is not materialised. The
// select's row task scores its row into a [Nk] scratch row and selects
// from it, so neither a full-resolution nor a block-resolution
// score matrix is written. Pooled q and k are written (1 / block of q and
// k): every row task reads all pooled key blocks.
//
//===----------------------------------------------------------------------===//

#include "attnir/Dialect/Attn/IR/AttnOps.h"
#include "attnir/Dialect/Attn/Utils/BuildHelpers.h"
#include "attnir/Dialect/Attn/Utils/LoopLowering.h"
#include "attnir/Dialect/Attn/Transforms/Passes.h"
#include "attnir/Dialect/Attn/Utils/SelectionBuilders.h"
#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/IR/PatternMatch.h"

namespace mlir::attn {
#define GEN_PASS_DEF_ATTNLOWERSELECT
#include "attnir/Dialect/Attn/Transforms/Passes.h.inc"
} // namespace mlir::attn

using namespace mlir;
using namespace mlir::attn;

namespace {


void lowerPool(RewriterBase &rw, PoolOp op) {
  Location loc = op.getLoc();
  rw.setInsertionPoint(op);
  Value x = readBuffer(rw, loc, op.getX());
  int64_t c = static_cast<int64_t>(op.getBlock()), s = op.getStrideValue();
  Value B = dimOf(rw, loc, x, 0), H = dimOf(rw, loc, x, 1), D = dimOf(rw, loc, x, 3);
  Value nb = arith::CeilDivUIOp::create(rw, loc, dimOf(rw, loc, x, 2),
                                        cIdx(rw, loc, s));
  Value out = allocFor(rw, loc, op.getType(), {B, H, nb, D});
  parallelRows(rw, loc, {B, H, nb},
               [&](OpBuilder &b, Location l, ValueRange iv) {
                 Value scratch = memref::AllocaOp::create(
                     b, l,
                     MemRefType::get({ShapedType::kDynamic}, poolKindSums(op.getKind())
                                                                 ? b.getF64Type()
                                                                 : b.getF32Type()),
                     ValueRange{D});
                 buildPoolBlock(b, l, op.getKind(), c, s, x, out, scratch, iv[0],
                                iv[1], iv[2]);
               });
  Value result = asTensor(rw, loc, op.getType(), out);
  rw.replaceOp(op, result);
  freeUnlessReturned(rw, result, out);
}

void lowerProject(RewriterBase &rw, ProjectOp op) {
  Location loc = op.getLoc();
  rw.setInsertionPoint(op);
  ProjectSite site;
  for (Value x : op.getInputs())
    site.inputs.push_back(readBuffer(rw, loc, x));
  site.weight = readBuffer(rw, loc, op.getWeight());
  site.map = op.getFeatureMap();
  Value x0 = site.inputs.front();
  Value B = dimOf(rw, loc, x0, 0), H = dimOf(rw, loc, x0, 1),
        L = dimOf(rw, loc, x0, 2);
  Value out = allocFor(rw, loc, op.getType(), {B, H, L, Value()});
  int64_t dout = op.getType().getDimSize(3);
  parallelRows(rw, loc, {B, H, L},
               [&](OpBuilder &b, Location l, ValueRange iv) {
                 ProjectSite s = site;
                 s.b = iv[0], s.h = iv[1], s.l = iv[2];
                 Value scratch = memref::AllocaOp::create(
                     b, l, MemRefType::get({dout}, b.getF32Type()));
                 buildProjectRow(b, l, s, out, scratch);
               });
  Value result = asTensor(rw, loc, op.getType(), out);
  rw.replaceOp(op, result);
  freeUnlessReturned(rw, result, out);
}

/// A score matrix (block_scores, index_scores: any ScoreRowsOpInterface)
/// written row by row in parallel; used when its result has users other
/// than one select.
void lowerScoreRows(RewriterBase &rw, ScoreRowsOpInterface op, int64_t lanes) {
  Location loc = op.getLoc();
  rw.setInsertionPoint(op);
  ScoreRows rows = op.prepareScoreRows(rw, lanes);
  Type ty = op->getResult(0).getType();
  Value out = allocFor(rw, loc, ty, rows.dims);
  parallelRows(rw, loc, {rows.dims[0], rows.dims[1], rows.dims[2]},
               [&](OpBuilder &b, Location l, ValueRange task) {
                 SmallVector<Value> iv{
                     task[0], task[1],
                     foldedTask(b, l, task[2], rows.dims[2])};
                 rows.fill(b, l, iv, out, iv);
               });
  if (rows.release)
    rows.release(rw, loc);
  Value result = asTensor(rw, loc, ty, out);
  rw.replaceOp(op, result);
  freeUnlessReturned(rw, result, out);
}

void lowerSelect(RewriterBase &rw, SelectOp op, int64_t lanes) {
  Location loc = op.getLoc();
  rw.setInsertionPoint(op);
  auto producer = op.getScores().getDefiningOp<ScoreRowsOpInterface>();
  bool fused = producer && producer->hasOneUse();
  ScoreRows rows;
  SmallVector<Value> dims; // [B, H, Q, Nk]
  Value scores;
  if (fused) {
    rows = producer.prepareScoreRows(rw, lanes);
    dims.assign(rows.dims.begin(), rows.dims.end());
  } else {
    scores = readBuffer(rw, loc, op.getScores());
    for (int64_t d = 0; d < 4; ++d)
      dims.push_back(dimOf(rw, loc, scores, d));
  }
  SelectPolicy policy = SelectPolicy::of(op);
  Value width =
      policy.topk ? cIdx(rw, loc, *policy.topk + policy.first + policy.local +
                                      policy.last)
                  : dims[3];
  Value indices = allocFor(rw, loc, op.getKvIndices().getType(),
                           {dims[0], dims[1], dims[2], width});
  Value counts = allocFor(rw, loc, op.getKvCounts().getType(),
                          {dims[0], dims[1], dims[2]});
  // A fused row lives in scratch: on the task's stack when short (block
  // rows), on the heap when it is a token-level row of M scores (DSA's
  // M = 32768 is 128 KiB, too much for a worker thread's stack).
  parallelRows(
      rw, loc, {dims[0], dims[1], dims[2]},
      [&](OpBuilder &b, Location l, ValueRange task) {
        // Causal rows grow with their index: fold the order, as attn-tile
        // does, so both ends of the rows go to each thread.
        SmallVector<Value> iv{task[0], task[1],
                              foldedTask(b, l, task[2], dims[2])};
        RowRef row{scores, {iv[0], iv[1], iv[2]}};
        ScratchRow scratch;
        Value scanEnd;
        if (fused) {
          scratch = allocScratchRow(b, l, dims[3]);
          row = RowRef{scratch.buffer, {}};
          rows.fill(b, l, SmallVector<Value>(iv), row.buffer, {});
          // The passes skip the row's -inf tail.
          scanEnd = producer.legalRowEnd(b, l, dims, iv);
        }
        buildSelectRow(b, l, policy, row, indices, counts, ValueRange(iv),
                       scanEnd);
        if (fused) // a heap row is freed by its task
          freeScratchRow(b, l, scratch);
      });
  if (fused && rows.release)
    rows.release(rw, loc);
  Value idxT = asTensor(rw, loc, op.getKvIndices().getType(), indices);
  Value cntT = asTensor(rw, loc, op.getKvCounts().getType(), counts);
  rw.replaceOp(op, {idxT, cntT});
  freeUnlessReturned(rw, idxT, indices);
  freeUnlessReturned(rw, cntT, counts);
  if (fused)
    rw.eraseOp(producer);
}

struct AttnLowerSelectPass
    : public attn::impl::AttnLowerSelectBase<AttnLowerSelectPass> {
  using AttnLowerSelectBase::AttnLowerSelectBase;
  void runOnOperation() override {
    // Selects first, so that each can absorb (and erase) its score
    // producer; then the producers left (their matrix is used elsewhere),
    // then projections and pools (each reads only tensors).
    auto opsOf = [&](auto kind) {
      SmallVector<decltype(kind)> ops;
      getOperation().walk([&](decltype(kind) op) { ops.push_back(op); });
      return ops;
    };
    IRRewriter rw(&getContext());
    for (SelectOp op : opsOf(SelectOp()))
      lowerSelect(rw, op, lanes);
    for (ScoreRowsOpInterface op : opsOf(ScoreRowsOpInterface()))
      lowerScoreRows(rw, op, lanes);
    for (ProjectOp op : opsOf(ProjectOp()))
      lowerProject(rw, op);
    for (PoolOp op : opsOf(PoolOp()))
      lowerPool(rw, op);
  }
};

} // namespace
