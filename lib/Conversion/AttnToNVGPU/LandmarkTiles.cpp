//===- LandmarkTiles.cpp - Landmark retrieval by query tiles on tensor cores ===//
//
// attn.landmark with blocks of l = 64 tokens: the first CUDA form gave each
// query row a thread and recomputed every landmark logit per top-k pass on
// the CUDA cores (41.7 ms at B = 1, H = 8, N = 32768 on the H200, 16x
// AttnIR's causal attention). Here a block of 4 warps takes one query
// block c (its 64 rows are one m16n8k16 row tile per warp) and
//
//  1. attends to its own block under the causal rule (plain tokens);
//  2. with topk(K) and K < c, computes the landmark logits q_i . L_b of
//     every earlier block by chunks of 64 landmarks on the tensor cores and
//     selects each row's top K in registers (LandmarkSelect.cpp: a bound
//     pass, then a picks pass; ties to the lower block); the union of the
//     tile's picks is a bitmap in shared memory;
//  3. walks the union (every earlier block without topk, or when c <= K) in
//     ascending order, each block's keys, values and landmark row staged by
//     cp.async one step ahead: a warp whose 16 rows picked none of it skips
//     it; otherwise S = Q K_b^T, the block's own softmax and P V_b on the
//     tensor cores, and the rows that picked b fold the result in as one
//     unit with logit a_ib (recomputed as an extra n-tile against the
//     landmark row) into their outer online softmax.
//
// The tiles share what their rows share: rows that pick the same blocks
// (neighbouring queries usually do) cost one staging; rows that pick
// disjoint blocks cost one staging each, the worst case.
//
// Needs l = 64, q, k, v and landmarks of one f16/bf16 type, D a multiple of
// 32 and Dv of 16, both up to 128, topk absent or 1..8; anything else keeps
// the row kernel (RouteKernels.cpp).
//
//===----------------------------------------------------------------------===//

#include "LandmarkTileBuilder.h"
#include "SelectionKernels.h"
#include "attnir/Dialect/Attn/IR/AttnOps.h"
#include "attnir/Dialect/Attn/Utils/BuildHelpers.h"
#include "mlir/Dialect/GPU/IR/GPUDialect.h"
#include "mlir/Dialect/Math/IR/Math.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "mlir/Dialect/Vector/IR/VectorOps.h"

using namespace mlir;
using namespace mlir::attn;

using namespace mlir::attn::cuda::landmark;

namespace mlir::attn::cuda::landmark {

void LandmarkTileBuilder::stageBlock(Value beta, Value stage) {
  Value keys = keysOf(stage);
  Value row0 = mul(beta, kTile);
  stageRows(k, row0, n, keys, kTile, s.d);
  stageRows(v, row0, n, valuesOf(stage), kTile, s.dv);
  Value lmRows = sharedView(smem, add(stageBase(stage), kTile * s.padD() * 2), {8, s.padD()},
                            s.elt);
  // Eight copies of the one landmark row: an n-tile whose column 0 is a_ib.
  stageRows(lk, beta, add(beta, 1), lmRows, 8, s.d);
}

SmallVector<SmallVector<Value>> LandmarkTileBuilder::scores(Value keys, int64_t row0,
                                                            int64_t ntiles, bool scaled) {
  SmallVector<SmallVector<Value>> S(ntiles, SmallVector<Value>(4, cf(0.0)));
  Value kColOff = mul(div(lane, 8), 8);
  for (int64_t kt = 0; kt < s.d / 16; kt += 2)
    for (int64_t nt = 0; nt < ntiles; ++nt) {
      SmallVector<Value> kB =
          mf.ldmatrix(keys, add(rem(lane, 8), row0 + nt * 8), add(kColOff, kt * 16), 4, false);
      for (int64_t half = 0; half < 2; ++half)
        S[nt] = mf.mma(qA[kt + half], ValueRange(kB).slice(2 * half, 2), S[nt]);
    }
  if (!scaled)
    return S;
  Value scale = cf(op.getScaleValue() * kLog2e);
  for (auto &t : S)
    for (Value &x : t)
      x = fmul(x, scale);
  return S;
}

std::pair<SmallVector<Value>, SmallVector<Value>>
LandmarkTileBuilder::softmax(SmallVector<SmallVector<Value>> &S) {
  SmallVector<Value> mx(2), sum(2);
  for (int64_t half = 0; half < 2; ++half) {
    Value m = cf(-INFINITY);
    for (auto &t : S)
      m = fmax(m, fmax(t[2 * half], t[2 * half + 1]));
    mx[half] = quad(m, true);
    Value z = cf(0.0);
    for (auto &t : S)
      for (int64_t e = 2 * half; e < 2 * half + 2; ++e) {
        t[e] = cuda::approxExp2(b, fsub(t[e], mx[half]));
        z = arith::AddFOp::create(b, z, t[e]);
      }
    sum[half] = quad(z, false);
  }
  return {mx, sum};
}

SmallVector<Value> LandmarkTileBuilder::timesValues(ArrayRef<SmallVector<Value>> P,
                                                    Value values) {
  SmallVector<Value> acc(s.dv / 8 * 4, cf(0.0));
  Value vCol = mul(div(lane, 16), 8);
  for (int64_t ks = 0; ks < kTile / 16; ++ks) {
    const auto &lo = P[2 * ks], &hi = P[2 * ks + 1];
    SmallVector<Value> pA = {mf.pack(lo[0], lo[1]), mf.pack(lo[2], lo[3]),
                             mf.pack(hi[0], hi[1]), mf.pack(hi[2], hi[3])};
    Value vRow = add(rem(lane, 16), ks * 16);
    for (int64_t dt = 0; dt < s.dv / 8; dt += 2) {
      SmallVector<Value> vB = mf.ldmatrix(values, vRow, add(vCol, dt * 8), 4, true);
      for (int64_t half = 0; half < 2; ++half) {
        SmallVector<Value> r = mf.mma(pA, ValueRange(vB).slice(2 * half, 2),
                                      ArrayRef(acc).slice((dt + half) * 4, 4));
        std::copy(r.begin(), r.end(), acc.begin() + (dt + half) * 4);
      }
    }
  }
  return acc;
}

SmallVector<Value> LandmarkTileBuilder::localBlock() {
  Value zero = c(0);
  SmallVector<SmallVector<Value>> S = scores(keysOf(zero), 0, kTile / 8);
  // Keys after the query (the causal rule inside the block) are out; every
  // row keeps at least itself, so its max is finite.
  for (int64_t nt = 0; nt < kTile / 8; ++nt)
    for (int64_t e = 0; e < 4; ++e) {
      Value after = ult(rowOf(e / 2), colOf(nt, e));
      S[nt][e] = sel(after, cf(-INFINITY), S[nt][e]);
    }
  auto [mx, sum] = softmax(S);
  SmallVector<Value> st = {mx[0], mx[1], sum[0], sum[1]};
  llvm::append_range(st, timesValues(S, valuesOf(zero)));
  return st;
}

SmallVector<Value> LandmarkTileBuilder::pipelined(
    Value first, Value end, function_ref<Value(Value)> next,
    function_ref<void(Value, Value)> stageItem,
    function_ref<SmallVector<Value>(Value, Value, ValueRange)> visit, ValueRange init) {
  auto any = scf::IfOp::create(b, ult(first, end), /*withElse=*/false);
  {
    OpBuilder::InsertionGuard g(b);
    b.setInsertionPointToStart(&any.getThenRegion().front());
    stageItem(first, c(0));
  }
  NVVM::CpAsyncCommitGroupOp::create(b);
  SmallVector<Value> args = {first, c(0)};
  llvm::append_range(args, init);
  SmallVector<Type> types(ValueRange(args).getTypes());
  SmallVector<Location> locs(types.size(), b.getLoc());
  auto loop = scf::WhileOp::create(b, types, args);
  {
    OpBuilder::InsertionGuard g(b);
    Block *before = b.createBlock(&loop.getBefore(), {}, types, locs);
    scf::ConditionOp::create(b, ult(before->getArgument(0), end), before->getArguments());
    Block *after = b.createBlock(&loop.getAfter(), {}, types, locs);
    Value cur = after->getArgument(0), stage = after->getArgument(1);
    // This item's copies are the only ones in flight: wait for them; the
    // barrier makes them visible and tells that every warp is done with
    // the previous item, whose stage the next item's copies then refill
    // while this one is visited (one barrier per item).
    NVVM::CpAsyncWaitGroupOp::create(b, 0);
    gpu::BarrierOp::create(b);
    Value nxt = next(cur), other = arith::SubIOp::create(b, c(1), stage);
    auto more = scf::IfOp::create(b, ult(nxt, end), /*withElse=*/false);
    {
      OpBuilder::InsertionGuard g2(b);
      b.setInsertionPointToStart(&more.getThenRegion().front());
      stageItem(nxt, other);
    }
    NVVM::CpAsyncCommitGroupOp::create(b);
    SmallVector<Value> carried = visit(cur, stage, after->getArguments().drop_front(2));
    SmallVector<Value> yield = {nxt, other};
    llvm::append_range(yield, carried);
    scf::YieldOp::create(b, yield);
  }
  gpu::BarrierOp::create(b); // every warp is done with the stages
  return SmallVector<Value>(loop.getResults().drop_front(2));
}

Value LandmarkTileBuilder::nextPicked(Value bits, Value from, Value w0, Value wEnd) {
  Type idx = b.getIndexType();
  auto inWindow = scf::IfOp::create(b, TypeRange{idx}, ult(from, wEnd), /*withElse=*/true);
  OpBuilder::InsertionGuard g(b);
  b.setInsertionPointToStart(&inWindow.getElseRegion().front());
  scf::YieldOp::create(b, wEnd);
  b.setInsertionPointToStart(&inWindow.getThenRegion().front());
  Value bit = arith::SubIOp::create(b, from, w0);
  Value words = arith::CeilDivUIOp::create(b, arith::SubIOp::create(b, wEnd, w0), c(32));
  Value word0 = div(bit, 32);
  Value first = arith::AndIOp::create(
      b, memref::LoadOp::create(b, bits, ValueRange{word0}),
      arith::ShLIOp::create(b, ci(-1), asI32(rem(bit, 32))));
  // Words after the first until one has a bit (uniform: every thread reads
  // the same words).
  auto loop = scf::WhileOp::create(b, TypeRange{idx, i32()}, ValueRange{word0, first});
  {
    OpBuilder::InsertionGuard g2(b);
    Block *before = b.createBlock(&loop.getBefore(), {}, {idx, i32()}, {b.getLoc(), b.getLoc()});
    Value empty = arith::CmpIOp::create(b, arith::CmpIPredicate::eq, before->getArgument(1), ci(0));
    Value more = ult(add(before->getArgument(0), 1), words);
    scf::ConditionOp::create(b, arith::AndIOp::create(b, empty, more), before->getArguments());
    Block *after = b.createBlock(&loop.getAfter(), {}, {idx, i32()}, {b.getLoc(), b.getLoc()});
    Value w = add(after->getArgument(0), 1);
    scf::YieldOp::create(b, ValueRange{w, memref::LoadOp::create(b, bits, ValueRange{w})});
  }
  Value word = loop.getResult(0), mask = loop.getResult(1);
  Value tz = arith::IndexCastOp::create(
      b, idx, LLVM::CountTrailingZerosOp::create(b, i32(), mask, false));
  Value found = arith::MinUIOp::create(b, add(w0, add(mul(word, 32), tz)), wEnd);
  Value none = arith::CmpIOp::create(b, arith::CmpIPredicate::eq, mask, ci(0));
  scf::YieldOp::create(b, ValueRange{sel(none, wEnd, found)});
  return inWindow.getResult(0);
}

SmallVector<Value> LandmarkTileBuilder::visitBlock(Value beta, Value stage, Value all,
                                                   ArrayRef<TopList> picks, ValueRange st) {
  Value beta32 = asI32(beta);
  Value picked[2];
  for (int64_t half = 0; half < 2; ++half) {
    Value any = all;
    for (Value id : picks[half].ids)
      any = arith::OrIOp::create(
          b, any, arith::CmpIOp::create(b, arith::CmpIPredicate::eq, id, beta32));
    picked[half] = any;
  }
  // A warp none of whose rows picked the block skips it (uniform per warp).
  Value mine = arith::OrIOp::create(b, picked[0], picked[1]);
  Value ballot = NVVM::VoteSyncOp::create(
      b, i32(), ci(-1), mine, NVVM::VoteSyncKindAttr::get(b.getContext(), NVVM::VoteSyncKind::ballot));
  auto ifAny = scf::IfOp::create(
      b, st.getTypes(), arith::CmpIOp::create(b, arith::CmpIPredicate::ne, ballot, ci(0)), true);
  OpBuilder::InsertionGuard g(b);
  b.setInsertionPointToStart(&ifAny.getElseRegion().front());
  scf::YieldOp::create(b, st);
  b.setInsertionPointToStart(&ifAny.getThenRegion().front());
  Value keys = keysOf(stage);
  SmallVector<SmallVector<Value>> S = scores(keys, 0, kTile / 8);
  SmallVector<SmallVector<Value>> lmS = scores(keys, kTile, 1);
  auto [mx, sum] = softmax(S);
  (void)mx;
  SmallVector<Value> U = timesValues(S, valuesOf(stage));
  SmallVector<Value> next(st.begin(), st.end());
  Value lead = arith::AndIOp::create(b, asI32(lane), ci(~3));
  for (int64_t half = 0; half < 2; ++half) {
    // a_ib is column 0 of the landmark n-tile: lane 4 (l / 4) holds it.
    Value a = shuffle(lmS[0][2 * half], lead, gpu::ShuffleMode::IDX);
    Value mOld = st[half], mNew = sel(picked[half], fmax(mOld, a), mOld);
    Value alpha = cuda::approxExp2(b, fsub(mOld, mNew));
    Value w = sel(picked[half], cuda::approxExp2(b, fsub(a, mNew)), cf(0.0));
    next[half] = mNew;
    next[2 + half] = math::FmaOp::create(b, st[2 + half], alpha, w);
    Value f = arith::DivFOp::create(b, w, sum[half]);
    for (int64_t dt = 0; dt < s.dv / 8; ++dt)
      for (int64_t e = 2 * half; e < 2 * half + 2; ++e) {
        int64_t i = 4 + dt * 4 + e;
        next[i] = math::FmaOp::create(b, U[dt * 4 + e], f, fmul(st[i], alpha));
      }
  }
  scf::YieldOp::create(b, next);
  return SmallVector<Value>(ifAny.getResults());
}

SmallVector<Value> LandmarkTileBuilder::retrieve(Value all, ArrayRef<TopList> picks,
                                                 ValueRange st) {
  Value bits = sharedView(smem, c(s.offBits()), {kWindow / 32}, i32());
  Value windows = arith::CeilDivUIOp::create(b, tile, c(kWindow));
  auto overWindows = scf::ForOp::create(b, c(0), windows, c(1), st);
  OpBuilder::InsertionGuard g(b);
  b.setInsertionPointToStart(overWindows.getBody());
  Value w0 = mul(overWindows.getInductionVar(), kWindow);
  Value wEnd = arith::MinUIOp::create(b, add(w0, kWindow), tile);
  // The window's picks as bits (skipped when every block is visited).
  auto ifPick = scf::IfOp::create(b, all, /*withElse=*/true);
  {
    OpBuilder::InsertionGuard g2(b);
    b.setInsertionPointToStart(&ifPick.getElseRegion().front());
    gpu::BarrierOp::create(b); // the last window's walk has read its bits
    for (int64_t wd = 0; wd < kWindow / 32; wd += kThreads)
      memref::StoreOp::create(b, ci(0), bits, ValueRange{add(tid, wd)});
    gpu::BarrierOp::create(b);
    auto ifLead = scf::IfOp::create(b, arith::CmpIOp::create(b, arith::CmpIPredicate::eq,
                                                             rem(lane, 4), c(0)),
                                    /*withElse=*/false);
    {
      OpBuilder::InsertionGuard g3(b);
      b.setInsertionPointToStart(&ifLead.getThenRegion().front());
      Value w032 = asI32(w0), wEnd32 = asI32(wEnd);
      for (int64_t half = 0; half < 2; ++half) {
        // Rows past N (the last tile's tail) pick nothing.
        Value live = ult(add(i0, rowOf(half)), n);
        for (Value id : picks[half].ids) {
          Value in = arith::AndIOp::create(
              b, live,
              arith::AndIOp::create(
                  b, arith::CmpIOp::create(b, arith::CmpIPredicate::sge, id, w032),
                  arith::CmpIOp::create(b, arith::CmpIPredicate::slt, id, wEnd32)));
          auto ifIn = scf::IfOp::create(b, in, /*withElse=*/false);
          OpBuilder::InsertionGuard g4(b);
          b.setInsertionPointToStart(&ifIn.getThenRegion().front());
          Value rel = arith::SubIOp::create(b, id, w032);
          Value word = arith::IndexCastOp::create(b, b.getIndexType(),
                                                  arith::ShRUIOp::create(b, rel, ci(5)));
          Value bit = arith::ShLIOp::create(b, ci(1), arith::AndIOp::create(b, rel, ci(31)));
          memref::AtomicRMWOp::create(b, arith::AtomicRMWKind::ori, bit, bits, ValueRange{word});
        }
      }
    }
    gpu::BarrierOp::create(b);
  }
  auto next = [&](Value from) -> Value {
    auto ifAll = scf::IfOp::create(b, TypeRange{b.getIndexType()}, all, /*withElse=*/true);
    OpBuilder::InsertionGuard g2(b);
    b.setInsertionPointToStart(&ifAll.getThenRegion().front());
    scf::YieldOp::create(b, from);
    b.setInsertionPointToStart(&ifAll.getElseRegion().front());
    scf::YieldOp::create(b, nextPicked(bits, from, w0, wEnd));
    return ifAll.getResult(0);
  };
  SmallVector<Value> result = pipelined(
      next(w0), wEnd, [&](Value cur) { return next(add(cur, 1)); },
      [&](Value beta, Value stage) { stageBlock(beta, stage); },
      [&](Value beta, Value stage, ValueRange carried) {
        return visitBlock(beta, stage, all, picks, carried);
      },
      overWindows.getRegionIterArgs());
  scf::YieldOp::create(b, result);
  return SmallVector<Value>(overWindows.getResults());
}

void LandmarkTileBuilder::store(ValueRange st) {
  Value outBuf = arg(op.getOut());
  Type outElt = cast<MemRefType>(outBuf.getType()).getElementType();
  for (int64_t half = 0; half < 2; ++half) {
    Value row = add(i0, rowOf(half));
    auto ifIn = scf::IfOp::create(b, ult(row, n), /*withElse=*/false);
    OpBuilder::InsertionGuard g(b);
    b.setInsertionPointToStart(&ifIn.getThenRegion().front());
    Value inv = arith::DivFOp::create(b, cf(1.0), st[2 + half]);
    // Both columns of a lane's pair in one 4-byte store.
    auto pairTy = VectorType::get({2}, b.getF32Type());
    for (int64_t dt = 0; dt < s.dv / 8; ++dt) {
      int64_t e = 2 * half, i = 4 + dt * 4 + e;
      Value pair = vector::FromElementsOp::create(
          b, pairTy, ValueRange{fmul(st[i], inv), fmul(st[i + 1], inv)});
      vector::StoreOp::create(b, arith::TruncFOp::create(b, VectorType::get({2}, outElt), pair),
                              outBuf, ValueRange{bi, h, row, colOf(dt, e)})
          .setAlignment(uint64_t(4));
    }
    auto ifLead = scf::IfOp::create(
        b, arith::CmpIOp::create(b, arith::CmpIPredicate::eq, rem(lane, 4), c(0)), false);
    b.setInsertionPointToStart(&ifLead.getThenRegion().front());
    Value z2 = arith::AddFOp::create(b, st[half], math::Log2Op::create(b, st[2 + half]));
    // By blocks, the local part's log2 Z goes beside the picks' logits:
    // the merge reads it and writes lse (no row reads what another writes).
    if (op.isByBlocks())
      memref::StoreOp::create(b, z2, logitsBuf(), ValueRange{bi, h, row, c(topk)});
    else
      memref::StoreOp::create(b, fmul(z2, cf(kLn2)), arg(op.getLse()), ValueRange{bi, h, row});
  }
}

SmallVector<Value> LandmarkTileBuilder::startTile(Value block, Value thread, Value window) {
  q = arg(op.getQ()), k = arg(op.getK()), v = arg(op.getV()), lk = arg(op.getLandmarks());
  tid = thread, smem = window, lane = rem(tid, 32), warp = div(tid, 32);
  Location loc = b.getLoc();
  Value nB = dimOf(b, loc, q, 0), heads = dimOf(b, loc, q, 1);
  n = dimOf(b, loc, q, 2), nb = dimOf(b, loc, lk, 2);
  // block -> (b, h, query block), the last query blocks (the most work)
  // first.
  Value tiles = arith::CeilDivUIOp::create(b, n, c(kTile));
  SmallVector<Value> at = unflattenIndex(b, loc, block, {heads, tiles});
  bi = at[0], h = at[1];
  tile = arith::SubIOp::create(b, arith::SubIOp::create(b, tiles, c(1)), at[2]);
  auto ifIn = scf::IfOp::create(b, ult(bi, nB), /*withElse=*/false);
  b.setInsertionPointToStart(&ifIn.getThenRegion().front());
  kvHead = arith::DivUIOp::create(
      b, h, arith::DivUIOp::create(b, heads, dimOf(b, loc, k, 1)));
  i0 = mul(tile, kTile);
  // Q and the local block's keys and values.
  Value sQ = sharedView(smem, c(0), {kTile, s.padD()}, s.elt);
  cuda::copyRowsAsync(b, q, bi, h, i0, Value(), n, sQ, kTile, s.d, tid, kThreads);
  stageRows(k, i0, n, keysOf(c(0)), kTile, s.d);
  stageRows(v, i0, n, valuesOf(c(0)), kTile, s.dv);
  NVVM::CpAsyncCommitGroupOp::create(b);
  NVVM::CpAsyncWaitGroupOp::create(b, 0);
  gpu::BarrierOp::create(b);
  for (int64_t kt = 0; kt < s.d / 16; ++kt)
    qA.push_back(mf.ldmatrix(sQ, add(mul(warp, 16), rem(lane, 16)),
                             add(mul(div(lane, 16), 8), kt * 16), 4, false));
  SmallVector<Value> st = localBlock();
  gpu::BarrierOp::create(b); // stage 0 is free again
  return st;
}

void LandmarkTileBuilder::build(Value block, Value thread, Value window) {
  SmallVector<Value> st = startTile(block, thread, window);
  // Every earlier block is retrieved without topk or when c <= K.
  Value all = topk < 0 ? arith::ConstantIntOp::create(b, b.getI1Type(), 1).getResult()
                       : arith::CmpIOp::create(b, arith::CmpIPredicate::ule, tile, c(topk))
                             .getResult();
  SmallVector<TopList> picks;
  if (topk > 0)
    picks = selectTopk(all);
  else
    picks.resize(2);
  st = retrieve(all, picks, st);
  store(st);
}
} // namespace

bool mlir::attn::cuda::canTileLandmark(LandmarkOp op) {
  auto qT = cast<RankedTensorType>(op.getQ().getType());
  Type elt = qT.getElementType();
  auto same = [&](Value x) { return cast<RankedTensorType>(x.getType()).getElementType() == elt; };
  int64_t d = qT.getDimSize(3), dv = cast<RankedTensorType>(op.getV().getType()).getDimSize(3);
  auto fits = [](int64_t x, int64_t m) { return !ShapedType::isDynamic(x) && x % m == 0 && x <= 128; };
  bool topkOk = !op.getTopk() || (*op.getTopk() >= 1 && *op.getTopk() <= kTopkMax);
  return static_cast<int64_t>(op.getBlock()) == kTile && topkOk && (elt.isBF16() || elt.isF16()) && same(op.getK()) &&
         same(op.getV()) && same(op.getLandmarks()) && same(op.getOut()) && fits(d, 32) &&
         fits(dv, 16);
}

LogicalResult mlir::attn::cuda::buildLandmarkTiles(OpBuilder &gb, func::FuncOp fn, LandmarkOp op,
                                                   StringRef name) {
  if (op.isByBlocks())
    return buildLandmarkBlocks(gb, fn, op, name);
  LandmarkShape s{op.getQ().getType().getDimSize(3), op.getV().getType().getDimSize(3),
                  op.getQ().getType().getElementType()};
  // One block of kThreads per (b, h, query block): out [B, H, N, Dv] in
  // tiles of 64 rows x Dv columns is the grid.
  int64_t out = op->getNumOperands();
  // The per-block loop is latency bound (a barrier pair per staged block):
  // four blocks per SM at D = Dv = 64 (ptxas keeps 128 registers, spilling
  // a few bytes) beat two at 214 registers by 15 % on the H200
  // (docs/benchmarks/routing.md); wider rows keep ptxas's choice.
  buildTileKernel(gb, fn, op, s, name, {out, 4, kThreads, kThreads, s.bytes()},
                  &LandmarkTileBuilder::build, {kTile, s.dv}, 4);
  return success();
}

gpu::GPUFuncOp mlir::attn::cuda::landmark::buildTileKernel(
    OpBuilder &gb, func::FuncOp fn, LandmarkOp op, const LandmarkShape &s, StringRef name,
    const SharedStepLaunch &launch, TileBody body, ArrayRef<int64_t> gridTile, int64_t minCtas) {
  gpu::GPUFuncOp kfn = buildSharedStepKernel(
      gb, fn, op, name, launch,
      [&](ImplicitLocOpBuilder &b, gpu::GPUFuncOp, function_ref<Value(Value)> arg, Value smem) {
        LandmarkTileBuilder builder(b, op, s, arg);
        (builder.*body)(gpu::BlockIdOp::create(b, gpu::Dimension::x),
                        gpu::ThreadIdOp::create(b, gpu::Dimension::x), smem);
      });
  kfn->setAttr("attn.grid_tile", gb.getDenseI64ArrayAttr(gridTile));
  if (minCtas && s.d <= 64 && s.dv <= 64)
    kfn->setAttr(NVVM::NVVMDialect::getMinctasmAttrName(), gb.getI32IntegerAttr(minCtas));
  return kfn;
}
