//===- TiledIndexScores.cpp - DSA's indexer by tiles on tensor cores ------===//
//
// attn.index_scores, I[t, s] = sum_j w[t, j] relu(qi[j, t] . ki[s]), a
// thread per score re-read qi's HI rows and ki's row from L2 for every
// score and ran on the CUDA cores: 317 ms of DSA's 490 ms step at N =
// 32768 on the H200. Here a block of 4 warps computes a 64 x 64 tile of
// scores by mma.sync m16n8k16: the tile's 64 key rows are staged once in
// padded shared memory, then per indexer head the 64 query rows; each warp
// multiplies its 16 query rows by the 64 keys, takes relu and adds w[t, j]
// times it into its accumulators (the weight is per row: two per lane).
//
// qi in f16/bf16 is exact on the tensor cores. ki in f32 (the example's
// keys and weights stay f32 for the float64 check) is split into two
// halves of qi's type, hi = round(ki) and lo = round(ki - hi), and both are
// multiplied (two MMAs): 16 significant bits of ki instead of 8, so the
// scores stay within f32-like rounding of the reference and top-k picks the
// same keys except at near ties. Tiles wholly past the causal diagonal are
// filled with -inf without staging anything, or skipped where only GPU
// selects read the matrix (they stop at each row's causal end:
// ScoreRowsOpInterface::legalRowEnd). The tile goes out through shared
// memory, each warp storing 32 consecutive scores of a row: stored from
// the MMA fragments, a warp's 32 stores hit 8 rows at 16 bytes each.
//
//===----------------------------------------------------------------------===//

#include "MmaFragments.h"
#include "SelectionKernels.h"
#include "attnir/Dialect/Attn/IR/AttnOps.h"
#include "attnir/Dialect/Attn/Utils/BuildHelpers.h"
#include "attnir/Dialect/Attn/Utils/EntryBindings.h"
#include "mlir/Dialect/GPU/IR/GPUDialect.h"
#include "mlir/Dialect/LLVMIR/NVVMDialect.h"
#include "mlir/Dialect/Math/IR/Math.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include <algorithm>
#include <limits>

using namespace mlir;
using namespace mlir::attn;

namespace {
constexpr int64_t kTile = 64, kThreads = 128;

/// The tile's shared memory: Q [64, DI + 8], K [64, DI + 8] (and K's low
/// half with f32 keys), rows padded by 16 bytes so that ldmatrix's 8 rows
/// hit 8 different bank groups.
struct IndexTileShape {
  int64_t di;
  Type elt;
  bool split;
  int64_t pad() const { return di + 8; }
  int64_t tileBytes() const { return kTile * pad() * 2; }
  /// The scores' staging tile, f32 [64, 72] (rows padded by 32 bytes),
  /// reusing the operands' space after the last head.
  static constexpr int64_t kOutPad = kTile + 8;
  int64_t bytes() const { return std::max(tileBytes() * (split ? 3 : 2), kTile * kOutPad * 4); }
};

class IndexTileBuilder : cuda::KernelMath {
public:
  /// `fillDead`: tiles wholly past the causal diagonal are written (-inf);
  /// false where no reader looks past a row's causal end.
  IndexTileBuilder(ImplicitLocOpBuilder &b, IndexScoresOp op, IndexTileShape s,
                   function_ref<Value(Value)> arg, bool fillDead)
      : KernelMath{b}, op(op), s(s), arg(arg), mf(b, s.elt), fillDead(fillDead) {}

  void build(Value block, Value tid, Value smem);

private:
  IndexScoresOp op;
  IndexTileShape s;
  function_ref<Value(Value)> arg;
  cuda::MmaFragments mf;
  bool fillDead;
  Value qi, ki, w, out, bi, n, m, t0, j0, tid, lane, warp;
  Value sQ, sK, sKlo;

  Value view(Value smem, int64_t offset) {
    return sharedView(smem, c(offset), {kTile, s.pad()}, s.elt);
  }
  /// Rows r0 + r (clamped to limit - 1) of `src` into `dst`, 16 bytes per
  /// thread and round; `at(row, col)` indexes src. An f32 source is split
  /// into `dst` (rounded) and `dstLo` (what rounding lost).
  void stage(Value src, Value dst, Value dstLo, Value r0, Value limit,
             function_ref<SmallVector<Value>(Value, Value)> at);
  /// relu(Q_h K^T) for this warp's 16 rows: [8][4] accumulators.
  SmallVector<SmallVector<Value>> headScores();
  /// The element (row, col) of the tile for accumulator e of n-tile nt.
  std::pair<Value, Value> cell(int64_t nt, int64_t e) {
    Value row = accumulatorRow(lane, mul(warp, 16), e);
    return {row, accumulatorCol(lane, nt, e)};
  }
  Value keyLimit(Value row);
  /// out[bi, 0, t0 + r, j0 + cl] = valueAt(r, cl, j0 + cl) for every cell
  /// of the tile inside [N, M]; a warp stores 32 consecutive cells of a row.
  void storeCells(function_ref<Value(Value, Value, Value)> valueAt);
  void fill(Value value);
  void store(ArrayRef<SmallVector<Value>> acc, Value smem);
};

void IndexTileBuilder::stage(Value src, Value dst, Value dstLo, Value r0, Value limit,
                             function_ref<SmallVector<Value>(Value, Value)> at) {
  Type srcElt = cast<MemRefType>(src.getType()).getElementType();
  int64_t per = 128 / srcElt.getIntOrFloatBitWidth(), perRow = s.di / per;
  Value last = arith::SubIOp::create(b, limit, c(1));
  auto srcVec = VectorType::get({per}, srcElt), eltVec = VectorType::get({per}, s.elt);
  for (int64_t p = 0; p < kTile * perRow; p += kThreads) {
    Value piece = add(tid, p);
    Value r = div(piece, perRow), col = mul(rem(piece, perRow), per);
    Value row = arith::MinUIOp::create(b, add(r0, r), last);
    Value v = vector::LoadOp::create(b, srcVec, src, at(row, col), false, llvm::MaybeAlign(16));
    if (srcElt == s.elt) {
      vector::StoreOp::create(b, v, dst, ValueRange{r, col});
      continue;
    }
    Value hi = arith::TruncFOp::create(b, eltVec, v);
    Value lo = arith::TruncFOp::create(
        b, eltVec, arith::SubFOp::create(b, v, arith::ExtFOp::create(b, srcVec, hi)));
    vector::StoreOp::create(b, hi, dst, ValueRange{r, col});
    vector::StoreOp::create(b, lo, dstLo, ValueRange{r, col});
  }
}

SmallVector<SmallVector<Value>> IndexTileBuilder::headScores() {
  SmallVector<SmallVector<Value>> acc(kTile / 8, SmallVector<Value>(4, cf(0.0)));
  Value r0 = mul(warp, 16);
  Value kColOff = mul(div(lane, 8), 8);
  for (int64_t kt = 0; kt < s.di / 16; kt += 2) {
    SmallVector<Value> qA[2];
    for (int64_t half = 0; half < 2; ++half)
      qA[half] = mf.ldmatrix(sQ, add(r0, rem(lane, 16)),
                             add(mul(div(lane, 16), 8), (kt + half) * 16), 4, false);
    for (int64_t nt = 0; nt < kTile / 8; ++nt)
      for (Value tile : {sK, sKlo}) {
        if (!tile)
          continue;
        SmallVector<Value> kB =
            mf.ldmatrix(tile, add(rem(lane, 8), nt * 8), add(kColOff, kt * 16), 4, false);
        for (int64_t half = 0; half < 2; ++half)
          acc[nt] = mf.mma(qA[half], ValueRange(kB).slice(2 * half, 2), acc[nt]);
      }
  }
  for (auto &a : acc)
    for (Value &x : a)
      x = arith::MaximumFOp::create(b, x, cf(0.0));
  return acc;
}

/// The last legal key of query row t0 + row (t + M - N, signed), or M - 1
/// without causal legality.
Value IndexTileBuilder::keyLimit(Value row) {
  Type i64 = b.getI64Type();
  auto wide = [&](Value x) { return arith::IndexCastOp::create(b, i64, x).getResult(); };
  if (!op.getCausal())
    return arith::SubIOp::create(b, wide(m), arith::ConstantIntOp::create(b, i64, 1));
  return arith::SubIOp::create(b, wide(add(add(t0, row), m)), wide(n));
}

void IndexTileBuilder::storeCells(function_ref<Value(Value, Value, Value)> valueAt) {
  for (int64_t e = 0; e < kTile * kTile; e += kThreads) {
    Value flat = add(tid, e);
    Value r = div(flat, kTile), cl = rem(flat, kTile);
    Value row = add(t0, r), col = add(j0, cl);
    Value in = arith::AndIOp::create(b, ult(row, n), ult(col, m));
    auto ifIn = scf::IfOp::create(b, in, /*withElse=*/false);
    OpBuilder::InsertionGuard g(b);
    b.setInsertionPointToStart(&ifIn.getThenRegion().front());
    memref::StoreOp::create(b, valueAt(r, cl, col), out, ValueRange{bi, c(0), row, col});
  }
}

void IndexTileBuilder::fill(Value value) {
  storeCells([&](Value, Value, Value) { return value; });
}

void IndexTileBuilder::store(ArrayRef<SmallVector<Value>> acc, Value smem) {
  Type i64 = b.getI64Type(), f32 = b.getF32Type();
  Value negInf = cf(-std::numeric_limits<double>::infinity());
  gpu::BarrierOp::create(b); // every warp's last reads of sQ and sK are done
  Value sOut = sharedView(smem, c(0), {kTile, IndexTileShape::kOutPad}, f32);
  for (int64_t nt = 0; nt < kTile / 8; ++nt)
    for (int64_t e = 0; e < 4; ++e) {
      auto [r, cl] = cell(nt, e);
      memref::StoreOp::create(b, acc[nt][e], sOut, ValueRange{r, cl});
    }
  gpu::BarrierOp::create(b);
  storeCells([&](Value r, Value cl, Value col) -> Value {
    Value legal = arith::CmpIOp::create(b, arith::CmpIPredicate::sle,
                                        arith::IndexCastOp::create(b, i64, col), keyLimit(r));
    Value v = memref::LoadOp::create(b, sOut, ValueRange{r, cl});
    return arith::SelectOp::create(b, legal, v, negInf);
  });
}

void IndexTileBuilder::build(Value block, Value thread, Value smem) {
  qi = arg(op.getQi()), ki = arg(op.getKi()), w = arg(op.getW()), out = arg(op.getScores());
  tid = thread, lane = rem(tid, 32), warp = div(tid, 32);
  n = dimOf(b, b.getLoc(), qi, 2), m = dimOf(b, b.getLoc(), ki, 1);
  Value nB = dimOf(b, b.getLoc(), qi, 0), heads = dimOf(b, b.getLoc(), qi, 1);
  // block -> (b, query tile, key tile), row-major.
  Value tk = arith::CeilDivUIOp::create(b, m, c(kTile));
  Value tq = arith::CeilDivUIOp::create(b, n, c(kTile));
  SmallVector<Value> at = unflattenIndex(b, b.getLoc(), block, {tq, tk});
  bi = at[0], t0 = mul(at[1], kTile), j0 = mul(at[2], kTile);
  // A whole block is in or out, and takes one branch (uniform barriers).
  auto ifIn = scf::IfOp::create(b, ult(bi, nB), /*withElse=*/false);
  b.setInsertionPointToStart(&ifIn.getThenRegion().front());
  Value lastRow = arith::MinUIOp::create(b, add(t0, kTile - 1), arith::SubIOp::create(b, n, c(1)));
  Value dead = arith::CmpIOp::create(b, arith::CmpIPredicate::sgt,
                                     arith::IndexCastOp::create(b, b.getI64Type(), j0),
                                     keyLimit(arith::SubIOp::create(b, lastRow, t0)));
  auto ifDead = scf::IfOp::create(b, dead, /*withElse=*/true);
  b.setInsertionPointToStart(&ifDead.getThenRegion().front());
  if (fillDead)
    fill(cf(-std::numeric_limits<double>::infinity()));
  b.setInsertionPointToStart(&ifDead.getElseRegion().front());

  sQ = view(smem, 0);
  sK = view(smem, s.tileBytes());
  sKlo = s.split ? view(smem, 2 * s.tileBytes()) : Value();
  stage(ki, sK, sKlo, j0, m,
        [&](Value row, Value col) -> SmallVector<Value> { return {bi, row, col}; });
  SmallVector<Value> init(kTile / 8 * 4, cf(0.0));
  Value lastW = arith::SubIOp::create(b, n, c(1));
  auto overHeads = scf::ForOp::create(b, c(0), heads, c(1), init);
  {
    OpBuilder::InsertionGuard g(b);
    b.setInsertionPointToStart(overHeads.getBody());
    Value h = overHeads.getInductionVar();
    ValueRange acc = overHeads.getRegionIterArgs();
    gpu::BarrierOp::create(b); // the previous head's reads of sQ are done
    stage(qi, sQ, {}, t0, n,
          [&](Value row, Value col) -> SmallVector<Value> { return {bi, h, row, col}; });
    gpu::BarrierOp::create(b);
    SmallVector<SmallVector<Value>> rs = headScores();
    Value wRow[2];
    for (int64_t half = 0; half < 2; ++half) {
      Value row = arith::MinUIOp::create(b, add(t0, cell(0, 2 * half).first), lastW);
      wRow[half] = toF32(b, b.getLoc(), memref::LoadOp::create(b, w, ValueRange{bi, row, h}));
    }
    SmallVector<Value> next;
    for (int64_t i = 0; i < kTile / 8 * 4; ++i)
      next.push_back(math::FmaOp::create(b, wRow[(i % 4) / 2], rs[i / 4][i % 4], acc[i]));
    scf::YieldOp::create(b, next);
  }
  SmallVector<SmallVector<Value>> acc(kTile / 8);
  for (int64_t i = 0; i < kTile / 8 * 4; ++i)
    acc[i / 4].push_back(overHeads.getResult(i));
  store(acc, smem);
}
} // namespace

bool mlir::attn::cuda::canTileIndexScores(IndexScoresOp op) {
  auto qi = cast<RankedTensorType>(op.getQi().getType());
  auto ki = cast<RankedTensorType>(op.getKi().getType());
  Type elt = qi.getElementType();
  int64_t di = qi.getDimSize(3);
  return (elt.isBF16() || elt.isF16()) && !ShapedType::isDynamic(di) && di % 32 == 0 &&
         di <= 256 && (ki.getElementType() == elt || ki.getElementType().isF32());
}

LogicalResult mlir::attn::cuda::buildTiledIndexScores(OpBuilder &gb, func::FuncOp fn,
                                                      IndexScoresOp op, StringRef name) {
  auto qi = cast<RankedTensorType>(op.getQi().getType());
  IndexTileShape s{qi.getDimSize(3), qi.getElementType(),
                   cast<RankedTensorType>(op.getKi().getType()).getElementType().isF32()};
  // One block of kThreads per 64 x 64 tile of the scores [B, 1, N, M].
  int64_t scores = op->getNumOperands();
  // An intermediate read by GPU selects alone: they stop at each row's
  // causal end, so the tiles past the diagonal (half the matrix) need no
  // -inf.
  bool onlySelects = llvm::all_of(op.getScores().getUsers(),
                                  [](Operation *u) { return isa<SelectOp>(u); });
  bool fillDead = !(onlySelects && bindingOf(fn, op.getScores()).front() == 'w');
  gpu::GPUFuncOp kfn = buildSharedStepKernel(
      gb, fn, op, name, {scores, 4, kThreads, kThreads, s.bytes()},
      [&](ImplicitLocOpBuilder &b, gpu::GPUFuncOp, function_ref<Value(Value)> arg, Value smem) {
        IndexTileBuilder(b, op, s, arg, fillDead)
            .build(gpu::BlockIdOp::create(b, gpu::Dimension::x),
                   gpu::ThreadIdOp::create(b, gpu::Dimension::x), smem);
      });
  kfn->setAttr("attn.grid_tile", gb.getDenseI64ArrayAttr({kTile, kTile}));
  // 4 blocks per SM (128 registers, 136 without the bound; no spills at
  // DI = 64): DSA's indexer 3.06 -> 2.77 ms on an H100
  // (docs/benchmarks/select.md). DI = 32 with bf16 keys spills under the
  // bound and DI = 128 needs 140 with f32 keys, so only DI = 64 asks.
  if (s.di == 64)
    kfn->setAttr(NVVM::NVVMDialect::getMinctasmAttrName(), gb.getI32IntegerAttr(4));
  return success();
}
