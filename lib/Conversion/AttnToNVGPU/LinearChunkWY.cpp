//===- LinearChunkWY.cpp - the gated delta rule's WY form, on tensor cores ===//
//
// attn.linear with wy(C) (made by attn-linear-wy) runs the delta rule as
// fla's chunk_gated_delta_rule splits it. Within a chunk, with S the state
// at its start, the corrected values solve (I + A) U_S = beta (V - 2^G K S)
// (LinearChunkDelta.cpp); with T = (I + A)^{-1} that is
//
//   U_S = U - W S,   U = T diag(beta) V,   W = T diag(beta 2^G) K,
//
// and U, W do not depend on the state. So a first kernel, a block per
// (b, h, chunk) and all chunks at once, computes A (an mma.sync product),
// T by blocks in place of A (16 x 16 diagonal inverses merged by products,
// in f32) and W, U as mma.sync products of T's column-scaled fragments,
// rounded to the input type as fla keeps its inverse, into the op's wy
// results: the runtime's workspace. The sequential kernel then loads U's slice in V's
// place and W beside it, and its chain per chunk is U - W S (one product)
// followed by plain decayed linear attention.
//
//===----------------------------------------------------------------------===//

#include "LinearChunkKernel.h"
#include "SelectionKernels.h"
#include "mlir/Dialect/SCF/IR/SCF.h"

using namespace mlir;
using namespace mlir::attn;
using namespace mlir::attn::cuda;

namespace mlir::attn::cuda::linear_chunk {

namespace {
/// The prep kernel's shared memory: K [C, D + 8], V [C, Dv + 8] (the
/// input type), G and beta [C] f32, A [C, C + 4] f32 (T = (I + A)^{-1}
/// replaces it in place) and the merge products X [32, 33] f32: 56 KB at
/// D = Dv = 128, four blocks per SM.
struct PrepLayout {
  int64_t d, dv;
  static constexpr int64_t padA = kChunk + 4, padX = 33;
  int64_t offV() const { return kChunk * (d + 8) * 2; }
  int64_t offG() const { return offV() + kChunk * (dv + 8) * 2; }
  int64_t offBeta() const { return offG() + kChunk * 4; }
  int64_t offA() const { return offBeta() + kChunk * 4; }
  int64_t offX() const { return offA() + kChunk * padA * 4; }
  int64_t bytes() const { return offX() + 32 * padX * 4; }
};
} // namespace

int64_t LinearChunkBuilder::wyPrepBytes(int64_t d, int64_t dv) {
  return PrepLayout{d, dv}.bytes();
}

/// A warp's [16, width] rows of the product of A [16, C] (its k-step
/// fragments from aFrag) and bTile's columns col0 .. col0 + width (bTile
/// [C, .] row-major, read transposed by ldmatrix), added to `init` (or 0).
SmallVector<Value> LinearChunkBuilder::tileProduct(ArrayRef<SmallVector<Value>> aFrag, Value bTile,
                                                   int64_t col0, int64_t width,
                                                   ArrayRef<Value> init) {
  int64_t numO = width / 8;
  SmallVector<Value> O = init.empty() ? SmallVector<Value>(numO * 4, cf(0.0))
                                      : SmallVector<Value>(init);
  Value vRow = rem(lane, 16), vCol = add(mul(div(lane, 16), 8), col0);
  for (int64_t kt = 0; kt < kChunk / 16; ++kt)
    for (int64_t dt = 0; dt < numO; dt += 2) {
      SmallVector<Value> bF = mf.ldmatrix(bTile, add(vRow, kt * 16), add(vCol, dt * 8), 4, true);
      for (int64_t half = 0; half < 2; ++half) {
        SmallVector<Value> r = mf.mma(aFrag[kt], ValueRange(bF).slice(2 * half, 2),
                                      ArrayRef(O).slice((dt + half) * 4, 4));
        std::copy(r.begin(), r.end(), O.begin() + (dt + half) * 4);
      }
    }
  return O;
}

/// The A fragments of T diag(x) for this warp's rows r0 .. r0 + 15, T in
/// f32 in sA and x(col) a column's scale (pairs of columns): words 0-3 of
/// k-step kt are rows g, g + 8 at columns 2 c, then the same at 2 c + 8
/// (g = lane / 4, c = lane % 4: ldmatrix's order).
SmallVector<SmallVector<Value>>
LinearChunkBuilder::scaledInverse(Value r0, function_ref<Value(Value)> x) {
  auto pair = VectorType::get({2}, b.getF32Type());
  Value g = add(r0, div(lane, 4)), c2 = mul(rem(lane, 4), 2);
  SmallVector<SmallVector<Value>> frags;
  for (int64_t kt = 0; kt < kChunk / 16; ++kt) {
    SmallVector<Value> words;
    for (int64_t hi = 0; hi < 2; ++hi) {
      Value col = add(c2, kt * 16 + hi * 8);
      Value xs = x(col);
      for (int64_t lo = 0; lo < 2; ++lo) {
        Value t = vector::LoadOp::create(b, pair, sA, ValueRange{add(g, lo * 8), col});
        words.push_back(mf.asOperand(arith::TruncFOp::create(
            b, VectorType::get({2}, s.elt), arith::MulFOp::create(b, t, xs))));
      }
    }
    frags.push_back(words);
  }
  return frags;
}

/// For this thread: out[or0 + r + 4 q][oc0 + c] = sign * sum_{s < k}
/// L[lr0 + r + 4 q][lc0 + s] R[rr0 + s][rc0 + c], q < rows, all in f32
/// shared memory (L's rows read as vectors of 4, broadcast to the lanes
/// that share r; R's column c read once per s for all of the rows).
void LinearChunkBuilder::smemProduct(Value out, Value L, Value R, ProductTile t) {
  auto v4 = VectorType::get({4}, b.getF32Type());
  SmallVector<Value> acc(t.rows, cf(0.0));
  for (int64_t s0 = 0; s0 < t.k; s0 += 4) {
    Value rv[4];
    for (int64_t j = 0; j < 4; ++j)
      rv[j] = memref::LoadOp::create(b, R, ValueRange{add(t.rr0, s0 + j), add(t.rc0, t.c)});
    for (int64_t q = 0; q < t.rows; ++q) {
      Value lv = vector::LoadOp::create(b, v4, L, ValueRange{add(add(t.lr0, t.r), 4 * q),
                                                              add(t.lc0, s0)});
      for (int64_t j = 0; j < 4; ++j)
        acc[q] = math::FmaOp::create(b, vector::ExtractOp::create(b, lv, ArrayRef<int64_t>{j}),
                                     rv[j], acc[q]);
    }
  }
  for (int64_t q = 0; q < t.rows; ++q) {
    Value x = t.negate ? arith::NegFOp::create(b, acc[q]).getResult() : acc[q];
    memref::StoreOp::create(b, x, out, ValueRange{add(add(t.or0, t.r), 4 * q), add(t.oc0, t.c)});
  }
}

/// T = (I + A)^{-1} (A strictly lower, zero above) in f32, in place of A,
/// by blocks as fla's solve_tril: the four 16 x 16 diagonal blocks by
/// forward substitution (a thread per column, a 16-row chain in registers,
/// stored once every thread has read A's diagonal blocks), then the pairs
/// merged into 32 x 32 inverses and those into the whole, [[T1, 0], [-T2
/// A21 T1, T2]]: each merge two products over all threads, X = A21 T1
/// into sX, then -T2 X over A21 (which X has consumed). A's zeros above
/// the diagonal are T's.
void LinearChunkBuilder::solveInverse(Value sX) {
  auto v4 = VectorType::get({4}, b.getF32Type());
  Type f32 = b.getF32Type();
  Value r0 = mul(div(tid, 16), 16), col = rem(tid, 16);
  auto diag = scf::IfOp::create(b, SmallVector<Type>(16, f32), ult(tid, c(kChunk)),
                                /*withElseRegion=*/true);
  {
    OpBuilder::InsertionGuard guard(b);
    b.setInsertionPointToStart(&diag.getThenRegion().front());
    SmallVector<Value> u;
    for (int64_t r = 0; r < 16; ++r) {
      Value acc[2] = {cf(0.0), cf(0.0)};
      for (int64_t s0 = 0; s0 < r; s0 += 4) {
        Value a = vector::LoadOp::create(b, v4, sA, ValueRange{add(r0, r), add(r0, s0)});
        for (int64_t j = 0; j < 4 && s0 + j < r; ++j)
          acc[j % 2] = math::FmaOp::create(
              b, vector::ExtractOp::create(b, a, ArrayRef<int64_t>{j}), u[s0 + j], acc[j % 2]);
      }
      Value sum = arith::AddFOp::create(b, acc[0], acc[1]);
      Value isDiag = arith::CmpIOp::create(b, arith::CmpIPredicate::eq, col, c(r));
      u.push_back(arith::SelectOp::create(b, isDiag, cf(1.0), arith::NegFOp::create(b, sum)));
    }
    scf::YieldOp::create(b, u);
    b.setInsertionPointToStart(&diag.getElseRegion().front());
    scf::YieldOp::create(b, SmallVector<Value>(16, cf(0.0)));
  }
  barrier(); // every diagonal block of A has been read
  {
    auto store = scf::IfOp::create(b, ult(tid, c(kChunk)), /*withElseRegion=*/false);
    OpBuilder::InsertionGuard guard(b);
    b.setInsertionPointToStart(&store.getThenRegion().front());
    for (int64_t r = 0; r < 16; ++r)
      memref::StoreOp::create(b, diag.getResult(r), sA, ValueRange{add(r0, r), tid});
  }
  barrier();
  // Pairs of 16-blocks: (1, 0) and (3, 2). Thread: pair p = tid / 64,
  // column tid % 16, rows (tid % 64) / 16 + 4 q.
  Value p32 = mul(div(tid, 64), 32), r = div(rem(tid, 64), 16), c16 = rem(tid, 16);
  Value p16 = div(p32, 2);
  smemProduct(sX, sA, sA, {add(p32, 16), p32, p32, p32, c(0), p16, r, c16, 16, 4, false});
  barrier();
  smemProduct(sA, sA, sX, {add(p32, 16), add(p32, 16), c(0), p16, add(p32, 16), p32, r, c16, 16,
                           4, true});
  barrier();
  // The two halves: X = A21 T1 [32, 32], then T21 = -T2 X.
  Value r4 = div(tid, 32), c32 = rem(tid, 32);
  smemProduct(sX, sA, sA, {c(32), c(0), c(0), c(0), c(0), c(0), r4, c32, 32, 8, false});
  barrier();
  smemProduct(sA, sA, sX, {c(32), c(32), c(0), c(0), c(32), c(0), r4, c32, 32, 8, true});
  barrier();
}

void LinearChunkBuilder::buildWYPrep(Value bIdx, Value head, Value chunk, Value thread,
                                     Value window) {
  enter(bIdx, head, thread, window);
  v0 = c(0);
  PrepLayout L{s.d, s.dv};
  Type f32 = b.getF32Type();
  sK = view(c(0), {kChunk, s.padD()}, s.elt);
  sV = view(c(L.offV()), {kChunk, s.dv + 8}, s.elt);
  sG = view(c(L.offG()), {kChunk}, f32);
  sBeta = view(c(L.offBeta()), {kChunk}, f32);
  sA = view(c(L.offA()), {kChunk, PrepLayout::padA}, f32);
  Value sX = view(c(L.offX()), {32, PrepLayout::padX}, f32);

  Value t0 = mul(chunk, kChunk);
  copyRows(arg(op.getK()), t0, Value(), s.d, sK);
  copyRows(arg(op.getV()), t0, c(0), s.dv, sV);
  NVVM::CpAsyncCommitGroupOp::create(b);
  scanGates(t0); // warp 0
  loadBetas(t0, /*firstThread=*/64); // warps 2 and 3, beside warp 0's gates
  NVVM::CpAsyncWaitGroupOp::create(b, 0);
  barrier(); // K, V, G and beta have landed
  if (mapsFeatures()) {
    applyFeatureMap(sK, s.d);
    barrier();
  }
  if (op.getL2norm()) {
    l2normalize(sK);
    barrier();
  }
  Value r0 = mul(warp, 16);
  storeKeyScores(r0);
  barrier(); // A is whole
  solveInverse(sX); // ends with a barrier: T is whole
  auto pair = VectorType::get({2}, f32);
  auto pairAt = [&](Value buf, Value col) {
    return vector::LoadOp::create(b, pair, buf, ValueRange{col}).getResult();
  };
  auto beta = [&](Value col) { return pairAt(sBeta, col); };
  auto betaDecay = [&](Value col) {
    return arith::MulFOp::create(b, pairAt(sBeta, col), exp2(pairAt(sG, col))).getResult();
  };
  storeRows(arg(op.getWyW()), t0, r0, tileProduct(scaledInverse(r0, betaDecay), sK, 0, s.d), c(0),
            s.d);
  SmallVector<SmallVector<Value>> tu = scaledInverse(r0, beta);
  // U by slices of 64 columns (32 accumulators a lane).
  for (int64_t col0 = 0; col0 < s.dv; col0 += 64) {
    int64_t width = std::min<int64_t>(64, s.dv - col0);
    storeRows(arg(op.getWyU()), t0, r0, tileProduct(tu, sV, col0, width), c(col0), width);
  }
}

/// The sequential kernel's values: U's slice (in sV) minus W S for this
/// warp's rows, rounded to the input type as fla rounds its v_new.
void LinearChunkBuilder::correctValues(Value r0) {
  subtractFromValues(r0, queryTimesState(r0, sW));
}

void LinearChunkBuilder::subtractFromValues(Value r0, ArrayRef<Value> WS) {
  auto pairF32 = VectorType::get({2}, b.getF32Type()), pairElt = VectorType::get({2}, s.elt);
  for (int64_t half = 0; half < 2; ++half)
    for (int64_t nt = 0; nt < s.bv / 8; ++nt) {
      auto [row, col] = cell(r0, nt, 2 * half);
      SmallVector<Value> at = pieceAt(row, col, s.bv); // swizzled on wgmma
      Value u = arith::ExtFOp::create(b, pairF32,
                                      vector::LoadOp::create(b, pairElt, sV, at).getResult());
      Value ws = vector::FromElementsOp::create(
          b, pairF32, ValueRange{WS[nt * 4 + 2 * half], WS[nt * 4 + 2 * half + 1]});
      vector::StoreOp::create(
          b, arith::TruncFOp::create(b, pairElt, arith::SubFOp::create(b, u, ws)), sV, at);
    }
}

LogicalResult buildWYPrepKernel(OpBuilder &gb, func::FuncOp fn, LinearOp op, StringRef name) {
  auto k = cast<RankedTensorType>(op.getK().getType());
  auto v = cast<RankedTensorType>(op.getV().getType());
  int64_t d = k.getDimSize(3), dv = v.getDimSize(3);
  if (*op.getWy() != kChunk)
    return op.emitError() << "wy(" << *op.getWy() << "): the CUDA kernels take chunks of "
                          << kChunk << " tokens";
  ChunkShape s{d, dv, dv, k.getElementType()};
  // A block per (b, h, chunk): W [B, H, N, D] in tiles of C rows x D
  // columns is the grid.
  int64_t wArg = op->getNumOperands() + cast<OpResult>(op.getWyW()).getResultNumber();
  gpu::GPUFuncOp kfn = buildSharedStepKernel(
      gb, fn, op, name, {wArg, 4, kThreads, kThreads, LinearChunkBuilder::wyPrepBytes(d, dv)},
      [&](ImplicitLocOpBuilder &b, gpu::GPUFuncOp, function_ref<Value(Value)> arg, Value smem) {
        TileBlock t = decodeTileBlock(b, arg(op.getWyW()), 1);
        LinearChunkBuilder(b, op, s, arg)
            .buildWYPrep(t.bi, t.h, t.chunk, gpu::ThreadIdOp::create(b, gpu::Dimension::x), smem);
      });
  kfn->setAttr("attn.grid_tile", gb.getDenseI64ArrayAttr({kChunk, d}));
  return success();
}

} // namespace mlir::attn::cuda::linear_chunk
