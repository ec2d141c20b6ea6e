//===- TiledScores.cpp - attn.block_scores by shared-memory tiles ---------===//
//
// One thread per score re-reads both pooled rows from L2 for every score:
// at the SeerAttention setting (H = 32, 256 x 256 blocks, D = 128 bf16)
// that is 1 GB of loads for 2 M scores, and the kernel took a third of
// the selection's time. Here a block of 16 x 16 threads computes a 16 x 16
// tile of scores: it stages the tile's 16 key rows and, per query head it
// sums over (one, or the GQA group with share), its 16 query rows in
// shared memory with 16-byte loads, and each thread reads its two rows
// from there; loads from L2 drop 16-fold. Rows are padded by 16 bytes so
// that the 8 threads of a 16-byte shared load phase hit 8 different bank
// groups. Legality, the heads and the dot product are the builders of
// Utils/SelectionBuilders.h (ScoreRow::staged points them at the tiles).
//
//===----------------------------------------------------------------------===//

#include "SelectionKernels.h"
#include "attnir/Dialect/Attn/Utils/BuildHelpers.h"
#include "attnir/Dialect/Attn/Utils/SelectionBuilders.h"
#include "mlir/Dialect/GPU/IR/GPUDialect.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/Dialect/Vector/IR/VectorOps.h"
#include <limits>

using namespace mlir;
using namespace mlir::attn;

namespace {

int64_t elementBytes(Value v) {
  return cast<ShapedType>(v.getType()).getElementTypeBitWidth() / 8;
}

/// dst[r, :] = src[b, head, r0 + r, :] for the rows r0 + r < n, all threads
/// of the block copying 16-byte pieces.
void stageRows(OpBuilder &b, Location loc, Value dst, Value src, Value bi,
               Value head, Value r0, Value n, Value tid, int64_t threads) {
  auto srcType = cast<MemRefType>(src.getType());
  int64_t d = srcType.getDimSize(3), w = 16 / elementBytes(src);
  int64_t perRow = d / w;
  auto vt = VectorType::get({w}, srcType.getElementType());
  scf::ForOp::create(
      b, loc, tid, cIdx(b, loc, cuda::kScoreTile * perRow),
      cIdx(b, loc, threads), ValueRange{},
      [&](OpBuilder &fb, Location l, Value piece, ValueRange) {
        Value r = arith::DivUIOp::create(fb, l, piece, cIdx(fb, l, perRow));
        Value col = arith::MulIOp::create(
            fb, l, arith::RemUIOp::create(fb, l, piece, cIdx(fb, l, perRow)),
            cIdx(fb, l, w));
        Value g = arith::AddIOp::create(fb, l, r0, r);
        Value inRows =
            arith::CmpIOp::create(fb, l, arith::CmpIPredicate::ult, g, n);
        scf::IfOp::create(fb, l, inRows, [&](OpBuilder &tb, Location tl) {
          Value v = vector::LoadOp::create(tb, tl, vt, src,
                                           ValueRange{bi, head, g, col}, false,
                                           llvm::MaybeAlign(16));
          vector::StoreOp::create(tb, tl, v, dst, ValueRange{r, col}, false,
                                  llvm::MaybeAlign(16));
          scf::YieldOp::create(tb, tl);
        });
        scf::YieldOp::create(fb, l);
      });
}

} // namespace

bool mlir::attn::cuda::canTileScores(BlockScoresOp op) {
  auto qp = cast<RankedTensorType>(op.getQp().getType());
  auto kp = cast<RankedTensorType>(op.getKp().getType());
  int64_t d = qp.getDimSize(3), bytes = qp.getElementTypeBitWidth() / 8;
  return qp.getElementType() == kp.getElementType() &&
         !ShapedType::isDynamic(d) && (d * bytes) % 16 == 0 && d * bytes <= 1024;
}

MemRefType mlir::attn::cuda::scoreTileType(BlockScoresOp op) {
  auto qp = cast<RankedTensorType>(op.getQp().getType());
  int64_t pad = 16 / (qp.getElementTypeBitWidth() / 8);
  return MemRefType::get(
      {kScoreTile, qp.getDimSize(3) + pad}, qp.getElementType(),
      MemRefLayoutAttrInterface(),
      gpu::AddressSpaceAttr::get(op.getContext(), gpu::AddressSpace::Workgroup));
}

/// The tile's score of (i, j) summed (or maxed) over the query heads that
/// share a score: each head's query rows staged in turn into row.staged's
/// query tile.
static Value scoreOverHeads(OpBuilder &b, Location loc, const ScoreRow &row,
                            const ScoreHeads &heads, Value legal, Value j, Value nq,
                            Value tid, int64_t threads, bool useMax) {
  double inf = std::numeric_limits<double>::infinity();
  Value zero = cF32(b, loc, 0.0), scale = cF32(b, loc, row.scale);
  Value sQ = row.staged.q, i0 = row.staged.i0, bi = row.b;
  auto overHeads = scf::ForOp::create(
      b, loc, cIdx(b, loc, 0), heads.count, cIdx(b, loc, 1),
      ValueRange{useMax ? cF32(b, loc, -inf) : zero},
      [&](OpBuilder &hb, Location hl, Value r, ValueRange acc) {
        Value head = arith::AddIOp::create(hb, hl, heads.h0, r);
        // The previous head's reads of sQ (and the key rows' stores) are
        // done before the rows are replaced.
        gpu::BarrierOp::create(hb, hl);
        stageRows(hb, hl, sQ, row.qp, bi, head, i0, nq, tid, threads);
        gpu::BarrierOp::create(hb, hl);
        auto dot = scf::IfOp::create(
            hb, hl, legal,
            [&](OpBuilder &tb, Location tl) {
              Value v = buildScoreDot(tb, tl, row, head, heads.kvHead, j);
              scf::YieldOp::create(tb, tl,
                                   ValueRange{arith::MulFOp::create(tb, tl, v, scale)});
            },
            [&](OpBuilder &eb, Location el) {
              scf::YieldOp::create(eb, el, ValueRange{zero});
            });
        Value v = dot.getResult(0);
        Value next = useMax ? arith::MaximumFOp::create(hb, hl, acc[0], v).getResult()
                            : arith::AddFOp::create(hb, hl, acc[0], v).getResult();
        scf::YieldOp::create(hb, hl, next);
      });
  return overHeads.getResult(0);
}

void mlir::attn::cuda::buildTiledScores(OpBuilder &b, Location loc,
                                        BlockScoresOp op,
                                        function_ref<Value(Value)> arg,
                                        Value tile, Value tid, Value sQ,
                                        Value sK, int64_t threads) {
  constexpr int64_t T = kScoreTile;
  ScoreRow row = ScoreRow::of(b, loc, op, arg);
  row.lanes = 16 / elementBytes(row.qp);
  Value out = arg(op.getScores());
  Value nB = dimOf(b, loc, out, 0), nH = dimOf(b, loc, out, 1),
        nq = dimOf(b, loc, out, 2), nk = dimOf(b, loc, out, 3);
  Value cT = cIdx(b, loc, T);
  // tile -> (b, h, query tile, key tile), row-major.
  SmallVector<Value> at = unflattenIndex(
      b, loc, tile,
      {nH, arith::CeilDivUIOp::create(b, loc, nq, cT), arith::CeilDivUIOp::create(b, loc, nk, cT)});
  Value bi = at[0], h = at[1], ti = at[2], tj = at[3];
  // A whole block is in or out (so its barriers are uniform).
  auto ifIn = scf::IfOp::create(
      b, loc, arith::CmpIOp::create(b, loc, arith::CmpIPredicate::ult, bi, nB),
      /*withElse=*/false);
  OpBuilder::InsertionGuard g(b);
  b.setInsertionPointToStart(&ifIn.getThenRegion().front());

  Value i0 = arith::MulIOp::create(b, loc, ti, cT);
  Value j0 = arith::MulIOp::create(b, loc, tj, cT);
  Value i = arith::AddIOp::create(b, loc, i0, arith::DivUIOp::create(b, loc, tid, cT));
  Value j = arith::AddIOp::create(b, loc, j0, arith::RemUIOp::create(b, loc, tid, cT));
  row.b = bi, row.hOut = h, row.i = i;
  row.staged = {sQ, sK, i0, j0};
  ScoreHeads heads = scoreHeads(b, loc, row);
  stageRows(b, loc, sK, row.kp, bi, heads.kvHead, j0, nk, tid, threads);
  Value inTile = arith::AndIOp::create(
      b, loc, arith::CmpIOp::create(b, loc, arith::CmpIPredicate::ult, i, nq),
      arith::CmpIOp::create(b, loc, arith::CmpIPredicate::ult, j, nk));
  Value legal =
      arith::AndIOp::create(b, loc, inTile, buildScoreLegal(b, loc, row, j));
  bool useMax = row.share && *row.share == ShareKind::Max;
  double inf = std::numeric_limits<double>::infinity();
  Value total = scoreOverHeads(b, loc, row, heads, legal, j, nq, tid, threads, useMax);
  scf::IfOp::create(b, loc, inTile, [&](OpBuilder &tb, Location tl) {
    Value s = arith::SelectOp::create(tb, tl, legal, total,
                                      cF32(tb, tl, -inf));
    memref::StoreOp::create(tb, tl, s, out, ValueRange{bi, h, i, j});
    scf::YieldOp::create(tb, tl);
  });
}
