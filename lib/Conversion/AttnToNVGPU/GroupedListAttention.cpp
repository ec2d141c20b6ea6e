//===- GroupedListAttention.cpp - a token list's keys for a KV group -----===//
//
// Token-level lists (block_size(1, 1)) that attn.select made with one list
// for all heads (DSA's top-2048 keys per query token, Recycled Attention,
// DARE): the row kernel (RowAttention.cpp) gives each query row a warp and
// reads each listed key once per query head on the CUDA cores, 154 ms of
// DSA's step at N = 32768 on the H200. Here, as in FlashMLA's sparse
// decoding, the query heads of a KV group are the rows of an MMA tile: a
// block of 4 warps takes a query token, gathers its listed keys by chunks
// of 64 (cp.async, two stages: the next chunk's rows fly during this one's
// products) into padded shared memory, and each warp multiplies the group's
// 16 head rows by 16 of the chunk's keys (ldmatrix, mma.sync), keeps its
// own online softmax, and adds P V; the 4 warps' partial rows merge through
// shared memory at the end. Groups above 16 heads take several tiles.
//
// The list must come from attn.select in the same program (ascending ids,
// no repeats: the tiles do not look for duplicates); masks: none or
// causal; no rule regions or documents. Anything else keeps the row kernel.
//
//===----------------------------------------------------------------------===//

#include "MmaFragments.h"
#include "SelectionKernels.h"
#include "attnir/Dialect/Attn/IR/AttnOps.h"
#include "attnir/Dialect/Attn/Utils/BuildHelpers.h"
#include "mlir/Dialect/GPU/IR/GPUDialect.h"
#include "mlir/Dialect/Math/IR/Math.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include <limits>

using namespace mlir;
using namespace mlir::attn;

namespace {
constexpr int64_t kThreads = 128, kWarps = 4, kChunk = 64, kRows = 16;
constexpr double kLog2e = 1.4426950408889634, kLn2 = 0.6931471805599453;

/// Shared memory: two stages of (K [64, D + 8], V [64, Dv + 8], the chunk's
/// ids [64] i32, -1 where masked), then Q [16, D + 8]; at the end of a head
/// tile the warps' partial rows (O [4][16][Dv + 4], m and l [4][16] f32)
/// reuse the stages.
struct GroupShape {
  int64_t d, dv;
  Type elt;
  int64_t padD() const { return d + 8; }
  int64_t padV() const { return dv + 8; }
  int64_t offV() const { return kChunk * padD() * 2; }
  int64_t offIds() const { return offV() + kChunk * padV() * 2; }
  int64_t stageBytes() const { return offIds() + kChunk * 4; }
  int64_t offQ() const { return 2 * stageBytes(); }
  int64_t padO() const { return dv + 4; }
  int64_t offM() const { return kWarps * kRows * padO() * 4; }
  int64_t offL() const { return offM() + kWarps * kRows * 4; }
  int64_t bytes() const {
    return std::max(offQ() + kRows * padD() * 2, offL() + kWarps * kRows * 4);
  }
};

class GroupTileBuilder : cuda::KernelMath {
public:
  GroupTileBuilder(ImplicitLocOpBuilder &b, AttentionOp op, GroupShape s,
                   function_ref<Value(Value)> arg)
      : KernelMath{b}, op(op), s(s), arg(arg), mf(b, s.elt) {}

  void build(Value bIdx, Value token, Value thread, Value smem);

private:
  AttentionOp op;
  GroupShape s;
  function_ref<Value(Value)> arg;
  cuda::MmaFragments mf;
  Value q, k, v, ids, out, bi, t, tid, lane, warp, smem;
  Value n, m, hkv, group, count, lastKey, head0, kvHead, rowsHere;

  Value view(Value offset, ArrayRef<int64_t> shape, Type elt) {
    return sharedView(smem, offset, shape, elt);
  }
  Value stageBase(Value stage) { return mul(stage, s.stageBytes()); }

  void headTile(Value tileIdx);
  /// The list's id at `slot` of this token if it is kept (in the count, in
  /// [0, M), not past the causal limit), else -1, as i64.
  Value keptId(Value slot);
  /// Chunk `chunk`'s ids, then its key and value rows, into stage `stage`
  /// (copies issued, not committed; a barrier inside).
  void gather(Value chunk, Value stage);
  /// One chunk's products for this warp's 16 keys: the online softmax state
  /// (m[2], l[2], O[Dv / 8 * 4]) updated.
  SmallVector<Value> visitChunk(Value stage, ArrayRef<SmallVector<Value>> qA, ValueRange st);
  void mergeAndStore(ValueRange st);
};

Value GroupTileBuilder::keptId(Value slot) {
  Type i64 = b.getI64Type();
  Value inCount = ult(slot, count);
  Value safe = arith::SelectOp::create(b, inCount, slot, c(0));
  Value raw = memref::LoadOp::create(b, ids, ValueRange{bi, c(0), t, safe});
  Value id = raw.getType() == i64 ? raw : arith::ExtSIOp::create(b, i64, raw).getResult();
  Value mI64 = arith::IndexCastOp::create(b, i64, m);
  Value zero = arith::ConstantIntOp::create(b, i64, 0);
  Value ok = arith::AndIOp::create(
      b, inCount,
      arith::AndIOp::create(
          b, arith::CmpIOp::create(b, arith::CmpIPredicate::sge, id, zero),
          arith::AndIOp::create(b, arith::CmpIOp::create(b, arith::CmpIPredicate::slt, id, mI64),
                                arith::CmpIOp::create(b, arith::CmpIPredicate::sle, id, lastKey))));
  return arith::SelectOp::create(b, ok, id, arith::ConstantIntOp::create(b, i64, -1));
}

void GroupTileBuilder::gather(Value chunk, Value stage) {
  Value base = stageBase(stage);
  Value sK = view(base, {kChunk, s.padD()}, s.elt);
  Value sV = view(add(base, s.offV()), {kChunk, s.padV()}, s.elt);
  Value sIds = view(add(base, s.offIds()), {kChunk}, b.getI32Type());
  Value slot0 = mul(chunk, kChunk);
  // Each slot's kept id once (a list load and the range tests), then the
  // copies read it from shared memory.
  auto first = scf::IfOp::create(b, ult(tid, c(kChunk)), /*withElse=*/false);
  {
    OpBuilder::InsertionGuard g(b);
    b.setInsertionPointToStart(&first.getThenRegion().front());
    memref::StoreOp::create(b, arith::TruncIOp::create(b, b.getI32Type(), keptId(add(slot0, tid))),
                            sIds, ValueRange{tid});
  }
  gpu::BarrierOp::create(b);
  auto copyRows = [&](Value src, Value dst, int64_t width) {
    int64_t perRow = width / 8, total = kChunk * perRow;
    for (int64_t p = 0; p < total; p += kThreads) {
      Value piece = add(tid, p);
      Value r = div(piece, perRow), col = mul(rem(piece, perRow), 8);
      Value id = memref::LoadOp::create(b, sIds, ValueRange{r});
      // A masked slot copies key 0: its score is -inf, its row unread.
      Value row = arith::IndexCastOp::create(
          b, b.getIndexType(),
          arith::MaxSIOp::create(b, id, arith::ConstantIntOp::create(b, b.getI32Type(), 0)));
      nvgpu::DeviceAsyncCopyOp::create(b, nvgpu::DeviceAsyncTokenType::get(b.getContext()), dst,
                                       ValueRange{r, col}, src, ValueRange{bi, kvHead, row, col},
                                       b.getIndexAttr(8), Value(), UnitAttr());
    }
  };
  copyRows(k, sK, s.d);
  copyRows(v, sV, s.dv);
}

SmallVector<Value> GroupTileBuilder::visitChunk(Value stage, ArrayRef<SmallVector<Value>> qA,
                                                ValueRange st) {
  Value base = stageBase(stage);
  Value sK = view(base, {kChunk, s.padD()}, s.elt);
  Value sV = view(add(base, s.offV()), {kChunk, s.padV()}, s.elt);
  Value sIds = view(add(base, s.offIds()), {kChunk}, b.getI32Type());
  Value key0 = mul(warp, 16);
  // S = Q K^T for the warp's 16 keys: two n-tiles of 8.
  SmallVector<SmallVector<Value>> S(2, SmallVector<Value>(4, cf(0.0)));
  Value kColOff = mul(div(lane, 8), 8);
  for (int64_t kt = 0; kt < s.d / 16; kt += 2)
    for (int64_t nt = 0; nt < 2; ++nt) {
      SmallVector<Value> kB =
          mf.ldmatrix(sK, add(add(key0, rem(lane, 8)), nt * 8), add(kColOff, kt * 16), 4, false);
      for (int64_t half = 0; half < 2; ++half)
        S[nt] = mf.mma(qA[kt + half], ValueRange(kB).slice(2 * half, 2), S[nt]);
    }
  // Scores in log2 units; masked keys -inf.
  Value scale = cf(op.getScaleValue() * kLog2e), negInf = cf(-INFINITY);
  for (int64_t nt = 0; nt < 2; ++nt)
    for (int64_t e = 0; e < 4; ++e) {
      Value col = add(add(key0, mul(rem(lane, 4), 2)), nt * 8 + e % 2);
      Value id = memref::LoadOp::create(b, sIds, ValueRange{col});
      Value kept = arith::CmpIOp::create(b, arith::CmpIPredicate::sge, id,
                                         arith::ConstantIntOp::create(b, b.getI32Type(), 0));
      S[nt][e] = arith::SelectOp::create(b, kept, arith::MulFOp::create(b, S[nt][e], scale), negInf);
    }
  // Online softmax per row (this lane's rows lane / 4 and lane / 4 + 8).
  int64_t numO = s.dv / 8;
  SmallVector<Value> next(st.begin(), st.end());
  SmallVector<Value> P[2] = {SmallVector<Value>(4), SmallVector<Value>(4)};
  for (int64_t half = 0; half < 2; ++half) {
    Value mx = cuda::quadReduce<arith::MaximumFOp>(
        b, arith::MaximumFOp::create(
               b, arith::MaximumFOp::create(b, S[0][2 * half], S[0][2 * half + 1]),
               arith::MaximumFOp::create(b, S[1][2 * half], S[1][2 * half + 1])));
    Value mOld = st[half];
    Value mNew = arith::MaximumFOp::create(b, mOld, mx);
    // A row with no key yet: subtract 0, so exp2(-inf) = 0, never NaN.
    Value mUse = arith::SelectOp::create(
        b, arith::CmpFOp::create(b, arith::CmpFPredicate::OEQ, mNew, negInf), cf(0.0), mNew);
    Value alpha = cuda::approxExp2(b, arith::SubFOp::create(b, mOld, mUse));
    Value rowSum = cf(0.0);
    for (int64_t nt = 0; nt < 2; ++nt)
      for (int64_t e = 2 * half; e < 2 * half + 2; ++e) {
        P[nt][e] = cuda::approxExp2(b, arith::SubFOp::create(b, S[nt][e], mUse));
        rowSum = arith::AddFOp::create(b, rowSum, P[nt][e]);
      }
    next[half] = mNew;
    next[2 + half] = math::FmaOp::create(b, st[2 + half], alpha, rowSum);
    for (int64_t dt = 0; dt < numO; ++dt)
      for (int64_t e = 2 * half; e < 2 * half + 2; ++e)
        next[4 + dt * 4 + e] = arith::MulFOp::create(b, st[4 + dt * 4 + e], alpha);
  }
  // O += P V: P's two n-tiles are one k-step of 16 keys.
  SmallVector<Value> pA = {mf.pack(P[0][0], P[0][1]), mf.pack(P[0][2], P[0][3]),
                           mf.pack(P[1][0], P[1][1]), mf.pack(P[1][2], P[1][3])};
  Value vRow = add(key0, rem(lane, 16)), vCol = mul(div(lane, 16), 8);
  for (int64_t dt = 0; dt < numO; dt += 2) {
    SmallVector<Value> vB = mf.ldmatrix(sV, vRow, add(vCol, dt * 8), 4, true);
    for (int64_t half = 0; half < 2; ++half) {
      SmallVector<Value> r = mf.mma(pA, ValueRange(vB).slice(2 * half, 2),
                                    ArrayRef(next).slice(4 + (dt + half) * 4, 4));
      std::copy(r.begin(), r.end(), next.begin() + 4 + (dt + half) * 4);
    }
  }
  return next;
}

void GroupTileBuilder::mergeAndStore(ValueRange st) {
  int64_t numO = s.dv / 8;
  Value sO = view(c(0), {kWarps, kRows, s.padO()}, b.getF32Type());
  Value sM = view(c(s.offM()), {kWarps, kRows}, b.getF32Type());
  Value sL = view(c(s.offL()), {kWarps, kRows}, b.getF32Type());
  gpu::BarrierOp::create(b); // every warp is done with the stages
  for (int64_t half = 0; half < 2; ++half) {
    Value row = add(div(lane, 4), half * 8);
    Value l = cuda::quadReduce<arith::AddFOp>(b, st[2 + half]);
    auto lead = scf::IfOp::create(b, arith::CmpIOp::create(b, arith::CmpIPredicate::eq,
                                                           rem(lane, 4), c(0)),
                                  /*withElse=*/false);
    {
      OpBuilder::InsertionGuard g(b);
      b.setInsertionPointToStart(&lead.getThenRegion().front());
      memref::StoreOp::create(b, st[half], sM, ValueRange{warp, row});
      memref::StoreOp::create(b, l, sL, ValueRange{warp, row});
    }
    for (int64_t dt = 0; dt < numO; ++dt)
      for (int64_t e = 2 * half; e < 2 * half + 2; ++e)
        memref::StoreOp::create(b, st[4 + dt * 4 + e], sO,
                                ValueRange{warp, row, add(mul(rem(lane, 4), 2), dt * 8 + e % 2)});
  }
  gpu::BarrierOp::create(b);
  Value outBuf = arg(op.getOut());
  Type outElt = cast<MemRefType>(outBuf.getType()).getElementType();
  auto rowStats = [&](Value row) {
    Value mStar = memref::LoadOp::create(b, sM, ValueRange{c(0), row});
    for (int64_t w = 1; w < kWarps; ++w)
      mStar = arith::MaximumFOp::create(b, mStar, memref::LoadOp::create(b, sM, ValueRange{c(w), row}));
    Value mUse = arith::SelectOp::create(
        b, arith::CmpFOp::create(b, arith::CmpFPredicate::OEQ, mStar, cf(-INFINITY)), cf(0.0), mStar);
    SmallVector<Value> weights;
    Value lStar = cf(0.0);
    for (int64_t w = 0; w < kWarps; ++w) {
      weights.push_back(cuda::approxExp2(
          b, arith::SubFOp::create(b, memref::LoadOp::create(b, sM, ValueRange{c(w), row}), mUse)));
      lStar = math::FmaOp::create(b, memref::LoadOp::create(b, sL, ValueRange{c(w), row}),
                                  weights.back(), lStar);
    }
    return std::make_tuple(mStar, lStar, weights);
  };
  for (int64_t e = 0; e < kRows * s.dv; e += kThreads) {
    Value flat = add(tid, e);
    Value row = div(flat, s.dv), col = rem(flat, s.dv);
    auto in = scf::IfOp::create(b, ult(row, rowsHere), /*withElse=*/false);
    OpBuilder::InsertionGuard g(b);
    b.setInsertionPointToStart(&in.getThenRegion().front());
    auto [mStar, lStar, weights] = rowStats(row);
    Value o = cf(0.0);
    for (int64_t w = 0; w < kWarps; ++w)
      o = math::FmaOp::create(b, memref::LoadOp::create(b, sO, ValueRange{c(w), row, col}),
                              weights[w], o);
    Value any = arith::CmpFOp::create(b, arith::CmpFPredicate::OGT, lStar, cf(0.0));
    o = arith::SelectOp::create(b, any, arith::DivFOp::create(b, o, lStar), cf(0.0));
    memref::StoreOp::create(b, fromF32(b, b.getLoc(), o, outElt), outBuf,
                            ValueRange{bi, add(head0, row), t, col});
  }
  if (!op.getLse())
    return;
  auto in = scf::IfOp::create(b, ult(tid, rowsHere), /*withElse=*/false);
  OpBuilder::InsertionGuard g(b);
  b.setInsertionPointToStart(&in.getThenRegion().front());
  auto [mStar, lStar, weights] = rowStats(tid);
  (void)weights;
  Value any = arith::CmpFOp::create(b, arith::CmpFPredicate::OGT, lStar, cf(0.0));
  Value lse = arith::MulFOp::create(
      b, arith::AddFOp::create(b, mStar, math::Log2Op::create(b, lStar)), cf(kLn2));
  memref::StoreOp::create(b, arith::SelectOp::create(b, any, lse, cf(-INFINITY)),
                          arg(op.getLse()), ValueRange{bi, add(head0, tid), t});
}

void GroupTileBuilder::headTile(Value tileIdx) {
  Value tilesPerGroup = arith::CeilDivUIOp::create(b, group, c(kRows));
  kvHead = arith::DivUIOp::create(b, tileIdx, tilesPerGroup);
  Value g0 = mul(arith::RemUIOp::create(b, tileIdx, tilesPerGroup), kRows);
  head0 = add(arith::MulIOp::create(b, kvHead, group), g0);
  rowsHere = arith::MinUIOp::create(b, c(kRows), arith::SubIOp::create(b, group, g0));
  gpu::BarrierOp::create(b); // the previous tile's merge has read the stages
  // Q rows of the tile's heads (rows past the group repeat its last head:
  // computed, never stored).
  Value sQ = view(c(s.offQ()), {kRows, s.padD()}, s.elt);
  Value lastRow = arith::SubIOp::create(b, rowsHere, c(1));
  for (int64_t p = 0; p < kRows * s.d / 8; p += kThreads) {
    Value piece = add(tid, p);
    OpBuilder::InsertionGuard g(b);
    if (kRows * s.d / 8 - p < kThreads) {
      auto ifIn = scf::IfOp::create(b, ult(piece, c(kRows * s.d / 8)), /*withElse=*/false);
      b.setInsertionPointToStart(&ifIn.getThenRegion().front());
    }
    Value r = div(piece, s.d / 8), col = mul(rem(piece, s.d / 8), 8);
    Value head = add(head0, arith::MinUIOp::create(b, r, lastRow));
    nvgpu::DeviceAsyncCopyOp::create(b, nvgpu::DeviceAsyncTokenType::get(b.getContext()), sQ,
                                     ValueRange{r, col}, q, ValueRange{bi, head, t, col},
                                     b.getIndexAttr(8), Value(), UnitAttr());
  }
  NVVM::CpAsyncCommitGroupOp::create(b);
  Value chunks = arith::CeilDivUIOp::create(b, count, c(kChunk));
  auto any = scf::IfOp::create(b, ult(c(0), chunks), /*withElse=*/false);
  {
    OpBuilder::InsertionGuard g(b);
    b.setInsertionPointToStart(&any.getThenRegion().front());
    gather(c(0), c(0));
  }
  NVVM::CpAsyncCommitGroupOp::create(b);
  NVVM::CpAsyncWaitGroupOp::create(b, 0);
  gpu::BarrierOp::create(b);
  SmallVector<SmallVector<Value>> qA;
  for (int64_t kt = 0; kt < s.d / 16; ++kt)
    qA.push_back(mf.ldmatrix(sQ, rem(lane, 16), add(mul(div(lane, 16), 8), kt * 16), 4, false));
  SmallVector<Value> init = {cf(-INFINITY), cf(-INFINITY), cf(0.0), cf(0.0)};
  init.append(s.dv / 8 * 4, cf(0.0));
  auto loop = scf::ForOp::create(b, c(0), chunks, c(1), init);
  {
    OpBuilder::InsertionGuard g(b);
    b.setInsertionPointToStart(loop.getBody());
    Value ch = loop.getInductionVar();
    Value stage = rem(ch, 2);
    Value nextChunk = add(ch, 1);
    auto more = scf::IfOp::create(b, ult(nextChunk, chunks), /*withElse=*/false);
    {
      OpBuilder::InsertionGuard g2(b);
      b.setInsertionPointToStart(&more.getThenRegion().front());
      gather(nextChunk, rem(nextChunk, 2));
    }
    // One group per chunk (empty past the last): wait_group 1 leaves only
    // the next chunk's copies in flight.
    NVVM::CpAsyncCommitGroupOp::create(b);
    NVVM::CpAsyncWaitGroupOp::create(b, 1);
    gpu::BarrierOp::create(b);
    SmallVector<Value> next = visitChunk(stage, qA, loop.getRegionIterArgs());
    gpu::BarrierOp::create(b); // the stage is read before the next gather refills it
    scf::YieldOp::create(b, next);
  }
  NVVM::CpAsyncWaitGroupOp::create(b, 0);
  mergeAndStore(loop.getResults());
}

void GroupTileBuilder::build(Value bIdx, Value token, Value thread, Value window) {
  bi = bIdx, t = token, tid = thread, smem = window;
  lane = rem(tid, 32), warp = div(tid, 32);
  q = arg(op.getQ()), k = arg(op.getK()), v = arg(op.getV()), ids = arg(op.getKvIndices());
  Location loc = b.getLoc();
  n = dimOf(b, loc, q, 2), m = dimOf(b, loc, k, 2), hkv = dimOf(b, loc, k, 1);
  group = arith::DivUIOp::create(b, dimOf(b, loc, q, 1), hkv);
  // The count, clamped to [0, K].
  Type i64 = b.getI64Type();
  Value raw = memref::LoadOp::create(b, arg(op.getKvCounts()), ValueRange{bi, c(0), t});
  Value cnt = raw.getType() == i64 ? raw : arith::ExtSIOp::create(b, i64, raw).getResult();
  cnt = arith::MaxSIOp::create(b, cnt, arith::ConstantIntOp::create(b, i64, 0));
  count = arith::MinUIOp::create(b, arith::IndexCastOp::create(b, b.getIndexType(), cnt),
                                 dimOf(b, loc, ids, 3));
  auto wide = [&](Value x) { return arith::IndexCastOp::create(b, i64, x).getResult(); };
  lastKey = isa_and_nonnull<CausalAttr>(op.getMaskAttr())
                ? arith::SubIOp::create(b, wide(add(t, m)), wide(n)).getResult()
                : arith::SubIOp::create(b, wide(m), arith::ConstantIntOp::create(b, i64, 1))
                      .getResult();
  Value tiles = arith::MulIOp::create(
      b, hkv, arith::CeilDivUIOp::create(b, group, c(kRows)));
  auto overTiles = scf::ForOp::create(b, c(0), tiles, c(1));
  OpBuilder::InsertionGuard g(b);
  b.setInsertionPoint(overTiles.getBody()->getTerminator());
  headTile(overTiles.getInductionVar());
}
} // namespace

bool mlir::attn::cuda::canGroupListAttention(AttentionOp op) {
  if (!op.hasBlockList() || op.listBlockQ() != 1 || op.listBlockK() != 1 ||
      !op.getKvIndices().getDefiningOp<SelectOp>() || op.getQDoc() || op.hasMaskRule() ||
      op.hasScoreRule() || !op.getRuleOperands().empty() || op.getFullMarked())
    return false;
  if (op.getMaskAttr() && !isa<CausalAttr>(op.getMaskAttr()))
    return false;
  auto list = cast<RankedTensorType>(op.getKvIndices().getType());
  auto qT = op.getQ().getType(), vT = op.getV().getType();
  Type elt = qT.getElementType();
  int64_t d = qT.getDimSize(3), dv = vT.getDimSize(3);
  auto fits = [](int64_t x) { return !ShapedType::isDynamic(x) && x % 16 == 0 && x <= 256; };
  return list.getDimSize(1) == 1 && (elt.isBF16() || elt.isF16()) && fits(d) && fits(dv) &&
         d % 32 == 0;
}

LogicalResult mlir::attn::cuda::buildGroupedListAttention(OpBuilder &gb, func::FuncOp fn,
                                                          AttentionOp op, StringRef name) {
  GroupShape s{op.getQ().getType().getDimSize(3), op.getV().getType().getDimSize(3),
               op.getQ().getType().getElementType()};
  // One block per (b, query token): the list counts [B, 1, N] are the grid.
  int64_t counts = llvm::find(op->getOperands(), op.getKvCounts()) - op->operand_begin();
  buildSharedStepKernel(
      gb, fn, op, name, {counts, 3, kThreads, kThreads, s.bytes()},
      [&](ImplicitLocOpBuilder &b, gpu::GPUFuncOp kfn, function_ref<Value(Value)> arg,
          Value smem) {
        Value lane;
        SmallVector<Value> at =
            enterStepItem(b, kfn.getArgument(counts), 3, kThreads, kThreads, lane);
        GroupTileBuilder(b, op, s, arg).build(at[0], at[2], lane, smem);
      });
  return success();
}
