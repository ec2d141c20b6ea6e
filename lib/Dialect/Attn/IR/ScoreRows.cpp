//===- ScoreRows.cpp - ScoreRowsOpInterface of the score producers --------===//
//
// attn.block_scores and attn.index_scores as row fillers (the builders in
// Utils/SelectionBuilders.h), so that attn-lower-select fuses any of them
// into a select, or writes their matrix, without naming the op.
//
//===----------------------------------------------------------------------===//

#include "attnir/Dialect/Attn/IR/AttnOps.h"
#include "attnir/Dialect/Attn/Utils/BuildHelpers.h"
#include "attnir/Dialect/Attn/Utils/SelectionBuilders.h"

using namespace mlir;
using namespace mlir::attn;

ScoreRows BlockScoresOp::prepareScoreRows(OpBuilder &b, int64_t) {
  Location loc = getLoc();
  ScoreRow site = ScoreRow::of(
      b, loc, *this, [&](Value t) { return readBuffer(b, loc, t); });
  // [B, Hq or Hkv (shared), Nq, Nk].
  Value heads = dimOf(b, loc, site.share ? site.kp : site.qp, 1);
  ScoreRows rows;
  rows.dims = {dimOf(b, loc, site.qp, 0), heads, dimOf(b, loc, site.qp, 2),
               dimOf(b, loc, site.kp, 2)};
  rows.fill = [site](OpBuilder &ob, Location l, ArrayRef<Value> row,
                     Value buffer, ArrayRef<Value> prefix) {
    ScoreRow s = site;
    s.b = row[0], s.hOut = row[1], s.i = row[2];
    buildScoreRow(ob, l, s, RowRef{buffer, SmallVector<Value>(prefix)});
  };
  return rows;
}

ScoreRows IndexScoresOp::prepareScoreRows(OpBuilder &b, int64_t lanes) {
  Location loc = getLoc();
  IndexRow site;
  site.qi = readBuffer(b, loc, getQi());
  site.ki = readBuffer(b, loc, getKi());
  site.w = readBuffer(b, loc, getW());
  site.causal = getCausal();
  ScoreRows rows;
  rows.dims = {dimOf(b, loc, site.qi, 0), cIdx(b, loc, 1),
               dimOf(b, loc, site.qi, 2), dimOf(b, loc, site.ki, 1)};
  // Vector rows need the head count and DI at compile time (registers per
  // head, the packed keys' type).
  auto qi = getQi().getType();
  bool vectors = (lanes == 8 || lanes == 16) && !qi.isDynamicDim(1) &&
                 !qi.isDynamicDim(3);
  if (!vectors) {
    rows.fill = [site](OpBuilder &ob, Location l, ArrayRef<Value> row,
                       Value buffer, ArrayRef<Value> prefix) {
      IndexRow s = site;
      s.b = row[0], s.t = row[2];
      buildIndexScoreRow(ob, l, s, RowRef{buffer, SmallVector<Value>(prefix)});
    };
    return rows;
  }
  Value kT = packIndexKeys(b, loc, site.ki, lanes);
  rows.fill = [site, kT, lanes](OpBuilder &ob, Location l, ArrayRef<Value> row,
                                Value buffer, ArrayRef<Value> prefix) {
    IndexRow s = site;
    s.b = row[0], s.t = row[2];
    buildIndexScoreVectorRow(ob, l, s, kT,
                             RowRef{buffer, SmallVector<Value>(prefix)}, lanes);
  };
  rows.release = [kT](OpBuilder &ob, Location l) {
    memref::DeallocOp::create(ob, l, kT);
  };
  return rows;
}

Value IndexScoresOp::legalRowEnd(OpBuilder &b, Location loc, ValueRange dims,
                                 ArrayRef<Value> row) {
  if (!getCausal())
    return Value();
  // [B, 1, N, M]: the bound needs only N, M and the row's t.
  return causalRowEnd(b, loc, dims[2], dims[3], row[2]);
}

ScoreRows ProbsOp::prepareScoreRows(OpBuilder &b, int64_t) {
  Location loc = getLoc();
  ProbsRow site = ProbsRow::of(*this, readBuffer(b, loc, getQ()),
                               readBuffer(b, loc, getK()));
  ScoreRows rows;
  Value cols = dimOf(b, loc, site.k, 2);
  if (site.ontoBlock)
    cols = arith::CeilDivUIOp::create(b, loc, dimOf(b, loc, site.q, 2),
                                      cIdx(b, loc, site.ontoBlock));
  rows.dims = {dimOf(b, loc, site.q, 0),
               dimOf(b, loc, site.share ? site.k : site.q, 1),
               dimOf(b, loc, site.q, 2), cols};
  rows.fill = [site](OpBuilder &ob, Location l, ArrayRef<Value> row,
                     Value buffer, ArrayRef<Value> prefix) {
    ProbsRow s = site;
    s.b = row[0], s.h = row[1], s.i = row[2];
    buildProbsRow(ob, l, s, RowRef{buffer, SmallVector<Value>(prefix)});
  };
  return rows;
}
