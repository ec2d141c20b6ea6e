//===- RouteBucketScreen.cpp - nearest centroids by float32, exactly ------===//
//
// The bucket kernel's k-means buckets must equal the reference's, which
// takes the argmax of float64 dots. Hopper's float64 rate is half its
// float32 rate and float64 centroids take twice the shared-memory loads,
// so the kernel first scores in float32 and keeps that answer only where
// it provably equals the float64 one (docs/design/routing.md, "Buckets
// by float32, checked"):
//
//   |f_c - d_c| <= 2 D 2^-24 |x| |mu_c|   (f the float32 fma sums, d the
//                                          float64 ones, both within
//                                          gamma_D sum |x_d mu_cd| of the
//                                          exact dot; Cauchy-Schwarz)
//
// so where the float32 best beats the runner-up by more than
// 4 D 2^-24 |x| max_c |mu_c| (and by more than 1e-30, which covers float32
// underflow), the float64 argmax is the same centroid. The tensor-core
// screen (f16/bf16 rows, buildMmaBuckets) asks for 16 D 2^-24: the
// accumulation order and rounding of mma.sync are not documented. Every
// other token (near ties, NaN, overflow) takes the float64 sums: the same
// result as the reference, bit for bit, at the float64 cost for those few
// tokens (on tensor cores only over the centroids not provably below the
// best).
//
//===----------------------------------------------------------------------===//

#include "MmaFragments.h"
#include "SelectionKernels.h"
#include "attnir/Dialect/Attn/Utils/BuildHelpers.h"
#include "attnir/Dialect/Attn/Utils/RouteBuilders.h"
#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/GPU/IR/GPUDialect.h"
#include "mlir/Dialect/LLVMIR/NVVMDialect.h"
#include "mlir/Dialect/Math/IR/Math.h"
#include "mlir/Dialect/NVGPU/IR/NVGPUDialect.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/Dialect/Vector/IR/VectorOps.h"

using namespace mlir;
using namespace mlir::attn;

bool mlir::attn::cuda::screensBuckets(Type elt) {
  return elt.isF32() || elt.isBF16() || elt.isF16();
}

namespace {
int64_t pieceWidth(Value x) {
  return 16 / (cast<MemRefType>(x.getType()).getElementTypeBitWidth() / 8);
}
/// A piece as f32 values.
SmallVector<Value> widen(ImplicitLocOpBuilder &b, Value v) {
  SmallVector<Value> out;
  for (int64_t e = 0, n = cast<VectorType>(v.getType()).getNumElements(); e < n; ++e) {
    Value x = vector::ExtractOp::create(b, v, ArrayRef<int64_t>{e});
    out.push_back(x.getType().isF32() ? x : arith::ExtFOp::create(b, b.getF32Type(), x).getResult());
  }
  return out;
}
Value loadPiece(ImplicitLocOpBuilder &b, Value buf, ValueRange at, int64_t width) {
  auto elt = cast<MemRefType>(buf.getType()).getElementType();
  return vector::LoadOp::create(b, VectorType::get({width}, elt), buf, at, false,
                                llvm::MaybeAlign(16));
}
} // namespace

Value mlir::attn::cuda::maxCentroidNorm2(ImplicitLocOpBuilder &b, Value mu, Value norms,
                                         Value tid, int64_t C, int64_t D) {
  Location loc = b.getLoc();
  auto c = [&](int64_t v) { return cIdx(b, loc, v); };
  Value f0 = arith::ConstantOp::create(b, b.getF32FloatAttr(0.0f));
  auto own = scf::IfOp::create(b, arith::CmpIOp::create(b, arith::CmpIPredicate::ult, tid, c(C)),
                               false);
  {
    OpBuilder::InsertionGuard g(b);
    b.setInsertionPointToStart(&own.getThenRegion().front());
    // Unrolled, four sums: the loads issue together (a loop of dependent
    // loads and fmas kept the other threads at the barrier below).
    SmallVector<Value> part(4, f0);
    int64_t width = pieceWidth(mu);
    for (int64_t d = 0, p = 0; d < D; d += width) {
      SmallVector<Value> at(cast<MemRefType>(mu.getType()).getRank() - 2, c(0));
      at.append({tid, c(d)});
      for (Value m : widen(b, loadPiece(b, mu, at, width)))
        part[p % 4] = math::FmaOp::create(b, m, m, part[p % 4]), ++p;
    }
    Value sum = arith::AddFOp::create(b, arith::AddFOp::create(b, part[0], part[1]),
                                      arith::AddFOp::create(b, part[2], part[3]));
    memref::StoreOp::create(b, sum, norms, ValueRange{tid});
  }
  gpu::BarrierOp::create(b);
  // maximumf keeps a NaN norm: then no token passes the screen.
  Value most = f0;
  for (int64_t k = 0; k < C; ++k)
    most = arith::MaximumFOp::create(b, most, memref::LoadOp::create(b, norms, ValueRange{c(k)}));
  return most;
}


SmallVector<Value> mlir::attn::cuda::loadTokenPieces(ImplicitLocOpBuilder &b, Value x, Value bi,
                                                     Value h, ArrayRef<Value> ts, Value d) {
  SmallVector<Value> out;
  for (Value t : ts)
    out.push_back(loadPiece(b, x, {bi, h, t, d}, pieceWidth(x)));
  return out;
}

/// The screen's sums over D: token-major x . mu (result u * C + c), each
/// token's |x|^2 (result T C + u), then the next step's pieces of x, loaded
/// a step ahead (`first`: the first step's) so their latency hides behind a
/// step of fmas.
static scf::ForOp screenSums(ImplicitLocOpBuilder &b, const RouteSite &site, int64_t C,
                             int64_t D, Value bi, Value h, ArrayRef<Value> ts,
                             ArrayRef<Value> first) {
  Location loc = b.getLoc();
  const int64_t T = ts.size();
  int64_t width = pieceWidth(site.x);
  SmallVector<Value> init(T * C + T, arith::ConstantOp::create(b, b.getF32FloatAttr(0.0f)));
  llvm::append_range(init, first);
  return scf::ForOp::create(
      b, cIdx(b, loc, 0), cIdx(b, loc, D), cIdx(b, loc, width), init,
      [&](OpBuilder &ob, Location l, Value d, ValueRange acc) {
        ImplicitLocOpBuilder db(l, ob);
        // The last step reloads its own piece (a cache hit, never past D).
        Value ahead = arith::MinUIOp::create(db, arith::AddIOp::create(db, d, cIdx(db, l, width)),
                                             cIdx(db, l, D - width));
        SmallVector<Value> nextX = cuda::loadTokenPieces(db, site.x, bi, h, ts, ahead);
        SmallVector<SmallVector<Value>> x;
        for (int64_t u = 0; u < T; ++u)
          x.push_back(widen(db, acc[T * C + T + u]));
        SmallVector<Value> next(acc.take_front(T * C + T));
        for (int64_t k = 0; k < C; ++k) {
          SmallVector<Value> m = widen(
              db, loadPiece(db, site.centroids, {site.centroidHead, cIdx(db, l, k), d}, width));
          for (int64_t u = 0; u < T; ++u)
            for (int64_t e = 0; e < width; ++e)
              next[u * C + k] = math::FmaOp::create(db, x[u][e], m[e], next[u * C + k]);
        }
        for (int64_t u = 0; u < T; ++u)
          for (int64_t e = 0; e < width; ++e)
            next[T * C + u] = math::FmaOp::create(db, x[u][e], x[u][e], next[T * C + u]);
        llvm::append_range(next, nextX);
        scf::YieldOp::create(db, next);
      });
}

/// Token t's bucket from its C sums: the best centroid where it beats the
/// runner-up by more than the float32 sums' error bound (`norm2`: the
/// token's |x|^2), else the reference's float64 assignment.
static Value screenedBucket(ImplicitLocOpBuilder &b, const RouteSite &site, ValueRange sums,
                            Value norm2, Value maxNorm2, int64_t D, Value bi, Value h,
                            Value t) {
  Location loc = b.getLoc();
  auto f32 = [&](float v) -> Value {
    return arith::ConstantOp::create(b, b.getF32FloatAttr(v));
  };
  // (4 D 2^-24)^2: the squared margin per |x|^2 max |mu|^2.
  float margin2 = static_cast<float>(std::ldexp(double(D) * double(D), -44));
  Value best = sums[0], bestC = cIdx(b, loc, 0);
  Value second = f32(-std::numeric_limits<float>::infinity());
  for (int64_t k = 1; k < static_cast<int64_t>(sums.size()); ++k) {
    Value s = sums[k];
    Value better = arith::CmpFOp::create(b, arith::CmpFPredicate::OGT, s, best);
    // maximumf: a NaN sum makes the runner-up NaN and fails the screen.
    second = arith::SelectOp::create(b, better, best, arith::MaximumFOp::create(b, second, s));
    best = arith::SelectOp::create(b, better, s, best);
    bestC = arith::SelectOp::create(b, better, cIdx(b, loc, k), bestC);
  }
  Value gap = arith::SubFOp::create(b, best, second);
  Value bound2 =
      arith::MulFOp::create(b, f32(margin2), arith::MulFOp::create(b, norm2, maxNorm2));
  Value clear = arith::AndIOp::create(
      b, arith::CmpFOp::create(b, arith::CmpFPredicate::OGT, gap, f32(1e-30f)),
      arith::CmpFOp::create(b, arith::CmpFPredicate::OGT, arith::MulFOp::create(b, gap, gap),
                            bound2));
  auto pick = scf::IfOp::create(
      b, clear,
      [&](OpBuilder &tb, Location l) { scf::YieldOp::create(tb, l, ValueRange{bestC}); },
      [&](OpBuilder &eb, Location l) {
        // The reference's float64 sums (the staged float32 centroids
        // widen exactly).
        Value k = buildRouteBucketsAt(eb, l, site, bi, h, {t}).front();
        scf::YieldOp::create(eb, l, ValueRange{k});
      });
  return pick.getResult(0);
}

SmallVector<Value> mlir::attn::cuda::screenedNearest(ImplicitLocOpBuilder &b,
                                                     const RouteSite &site, Value maxNorm2,
                                                     int64_t C, int64_t D, Value bi, Value h,
                                                     ArrayRef<Value> ts, ArrayRef<Value> first) {
  const int64_t T = ts.size();
  scf::ForOp loop = screenSums(b, site, C, D, bi, h, ts, first);
  SmallVector<Value> buckets;
  for (int64_t u = 0; u < T; ++u)
    buckets.push_back(screenedBucket(b, site, loop.getResults().slice(u * C, C),
                                     loop.getResult(T * C + u), maxNorm2, D, bi, h, ts[u]));
  return buckets;
}

//===----------------------------------------------------------------------===//
// The screen on tensor cores: x of f16/bf16 against few static centroids.
//===----------------------------------------------------------------------===//

bool mlir::attn::cuda::screensBucketsByMma(Type elt, int64_t C, int64_t D) {
  return (elt.isBF16() || elt.isF16()) && C % 8 == 0 && C <= 32 && D % 16 == 0 && D <= 128;
}

namespace {
/// Best, runner-up and the best's centroid of (value, centroid) pairs seen
/// in increasing centroid order: the first strictly greater wins, and
/// maximumf carries a NaN into the runner-up (the screen then fails).
struct Top2 {
  Value best, second, idx;
  void see(ImplicitLocOpBuilder &b, Value v, Value vSecond, Value vIdx) {
    Value better = arith::CmpFOp::create(b, arith::CmpFPredicate::OGT, v, best);
    second = arith::SelectOp::create(b, better, arith::MaximumFOp::create(b, best, vSecond),
                                     arith::MaximumFOp::create(b, second, v));
    best = arith::SelectOp::create(b, better, v, best);
    idx = arith::SelectOp::create(b, better, vIdx, idx);
  }
};

/// An mma operand word as its two elements.
Value wordPair(ImplicitLocOpBuilder &b, cuda::MmaFragments &mf, Type elt, Value word) {
  return vector::BitCastOp::create(
      b, VectorType::get({2}, elt),
      vector::BroadcastOp::create(b, VectorType::get({1}, b.getI32Type()), mf.asWord(word)));
}

Value shuffleXor(ImplicitLocOpBuilder &b, Value v, int32_t off) {
  return gpu::ShuffleOp::create(b, v, off, 32, gpu::ShuffleMode::XOR).getShuffleResult();
}
} // namespace

namespace {
/// Token t's bucket by the reference's float64 sums (each centroid's dot in
/// feature order, one fma per term: the products are exact in f64) over the
/// centroids in `mask` (i32 bits), in index order, the first strictly
/// greater winning. The screen leaves out only centroids whose float64 dot
/// is provably below another's, so this is the reference's argmax.
/// `ms` [C, D + 8] holds the staged centroids.
Value float64Nearest(ImplicitLocOpBuilder &b, const cuda::MmaBucketTile &tile, Value t,
                     Value mask) {
  int64_t width = pieceWidth(tile.x);
  Type i32 = b.getI32Type();
  auto toF64 = [&](ImplicitLocOpBuilder &db, Value v) {
    SmallVector<Value> out;
    for (Value x : widen(db, v))
      out.push_back(arith::ExtFOp::create(db, db.getF64Type(), x));
    return out;
  };
  auto inMask = [&](OpBuilder &ob, Location l, Value k) -> Value {
    ImplicitLocOpBuilder db(l, ob);
    Value bit = arith::AndIOp::create(
        db, arith::ShRUIOp::create(db, mask, arith::IndexCastOp::create(db, i32, k)),
        arith::ConstantIntOp::create(db, i32, 1));
    return arith::CmpIOp::create(db, arith::CmpIPredicate::ne, bit,
                                 arith::ConstantIntOp::create(db, i32, 0));
  };
  auto score = [&](OpBuilder &ob, Location l, Value k) -> Value {
    ImplicitLocOpBuilder vb(l, ob);
    Value f0 = arith::ConstantOp::create(vb, vb.getF64FloatAttr(0.0));
    auto dot = scf::ForOp::create(
        vb, cIdx(vb, l, 0), cIdx(vb, l, tile.D), cIdx(vb, l, width), ValueRange{f0},
        [&](OpBuilder &pb, Location pl, Value d, ValueRange acc) {
          ImplicitLocOpBuilder p(pl, pb);
          SmallVector<Value> x = toF64(p, loadPiece(p, tile.x, {tile.bi, tile.h, t, d}, width));
          SmallVector<Value> m = toF64(p, loadPiece(p, tile.ms, {k, d}, width));
          Value s = acc[0];
          for (int64_t e = 0; e < width; ++e)
            s = math::FmaOp::create(p, x[e], m[e], s);
          scf::YieldOp::create(p, ValueRange{s});
        });
    return dot.getResult(0);
  };
  return buildReferenceArgmax(b, b.getLoc(), cIdx(b, b.getLoc(), tile.C), score, inMask);
}
} // namespace

namespace {
/// The tensor-core bucket kernel's block (cuda::buildMmaBuckets), in the
/// order it runs: stage x and the centroids, the centroids' fragments and
/// max |mu|^2, per 16-row tile the scores and each row's screen, then the
/// listed rows' float64 sums.
using cuda::copyRowsAsync;
using cuda::KernelMath;
using cuda::MmaFragments;
using cuda::quadReduce;

struct MmaBucketBuilder : KernelMath {
  const cuda::MmaBucketTile &tile;
  Type elt;
  MmaFragments mf;
  Value tid, warp, lane;
  const int64_t rows = cuda::kMmaBucketRows, threads = cuda::kMmaBucketThreads;
  const int64_t nTiles, perWarp;
  SmallVector<SmallVector<Value>> bFrag; // [ks]: the n-tiles' word pairs
  Value maxNorm2;

  MmaBucketBuilder(ImplicitLocOpBuilder &b, const cuda::MmaBucketTile &tile)
      : KernelMath{b}, tile(tile), elt(cast<MemRefType>(tile.x.getType()).getElementType()),
        mf(b, elt), nTiles(tile.C / 8), perWarp(rows / 16 / (threads / 32)),
        bFrag(tile.D / 16) {
    tid = tile.tid;
    warp = div(tid, 32);
    lane = rem(tid, 32);
  }
  Value f32(float v) { return arith::ConstantOp::create(b, b.getF32FloatAttr(v)); }
  Value i32(int64_t v) { return arith::ConstantIntOp::create(b, b.getI32Type(), v); }

  /// x's rows of this tile (rows past n re-read row n - 1) and the head's
  /// centroids by 16-byte cp.async, rows padded so ldmatrix's 8 rows hit 8
  /// bank groups; the list of rows for the float64 sums starts empty.
  void stage() {
    const int64_t C = tile.C, D = tile.D, perRow = D / 8;
    copyRowsAsync(b, tile.x, tile.bi, tile.h, tile.t0, Value(), tile.n, tile.xs, rows, D, tid,
                  threads);
    for (int64_t e = 0; e < C * perRow; e += threads) {
      OpBuilder::InsertionGuard g(b);
      Value i = add(tid, e);
      if (C * perRow - e < threads) {
        auto in = scf::IfOp::create(b, ult(i, c(C * perRow)), false);
        b.setInsertionPointToStart(&in.getThenRegion().front());
      }
      Value ci = div(i, perRow), col = mul(rem(i, perRow), 8);
      nvgpu::DeviceAsyncCopyOp::create(b, nvgpu::DeviceAsyncTokenType::get(b.getContext()),
                                       tile.ms, ValueRange{ci, col}, tile.mu,
                                       ValueRange{tile.h, ci, col}, b.getIndexAttr(8), Value(),
                                       UnitAttr());
    }
    NVVM::CpAsyncCommitGroupOp::create(b);
    {
      OpBuilder::InsertionGuard g(b);
      auto first = scf::IfOp::create(
          b, arith::CmpIOp::create(b, arith::CmpIPredicate::eq, tid, c(0)), false);
      b.setInsertionPointToStart(&first.getThenRegion().front());
      memref::StoreOp::create(b, i32(0), tile.todo, ValueRange{c(2 * rows)});
    }
    NVVM::CpAsyncWaitGroupOp::create(b, 0);
    gpu::BarrierOp::create(b);
  }

  /// Every warp's B fragments of all centroids, once: lane l holds a
  /// quarter of centroid 8 nt + l / 4's features, so its squares summed
  /// over the quad are that centroid's |mu|^2, and their max over the
  /// warp's lanes is max_c |mu_c|^2 (no shared table, no barrier).
  void centroidFragments() {
    maxNorm2 = f32(0.0f);
    for (int64_t nt = 0; nt < nTiles; ++nt) {
      Value sq = f32(0.0f);
      for (int64_t ks = 0; ks < tile.D / 16; ++ks) {
        SmallVector<Value> bw = mf.ldmatrix(tile.ms, add(rem(lane, 8), nt * 8),
                                            add(mul(rem(div(lane, 8), 2), 8), ks * 16), 2, false);
        for (Value w : bw)
          for (Value v : widen(b, wordPair(b, mf, elt, w)))
            sq = math::FmaOp::create(b, v, v, sq);
        llvm::append_range(bFrag[ks], bw);
      }
      // maximumf keeps a NaN norm: then no token passes the screen.
      maxNorm2 = arith::MaximumFOp::create(b, maxNorm2, quadReduce<arith::AddFOp>(b, sq));
    }
    for (int32_t off : {4, 8, 16})
      maxNorm2 = arith::MaximumFOp::create(b, maxNorm2, shuffleXor(b, maxNorm2, off));
  }

  /// Rows r0 .. r0 + 15: scores (acc[nt], the mma layout) and each of this
  /// lane's two rows' |x|^2 partial sums.
  void score(Value r0, SmallVector<SmallVector<Value>> &acc, Value (&xx)[2]) {
    acc.assign(nTiles, SmallVector<Value>(4, f32(0.0f)));
    xx[0] = xx[1] = f32(0.0f);
    for (int64_t ks = 0; ks < tile.D / 16; ++ks) {
      SmallVector<Value> a = mf.ldmatrix(tile.xs, add(r0, rem(lane, 16)),
                                         add(mul(div(lane, 16), 8), ks * 16), 4, false);
      for (int64_t nt = 0; nt < nTiles; ++nt)
        acc[nt] = mf.mma(a, ArrayRef<Value>(bFrag[ks]).slice(2 * nt, 2), acc[nt]);
      // Words 0, 2 hold row lane / 4; words 1, 3 row lane / 4 + 8.
      for (int64_t w = 0; w < 4; ++w)
        for (Value v : widen(b, wordPair(b, mf, elt, a[w])))
          xx[w % 2] = math::FmaOp::create(b, v, v, xx[w % 2]);
    }
  }

  /// The screen of one row (this lane's `half`, token t): its bucket where
  /// the float32 argmax is provably the float64 one, else the row joins the
  /// list with its candidates.
  void screenRow(ArrayRef<SmallVector<Value>> acc, int64_t half, Value xx, Value t) {
    const float inf = std::numeric_limits<float>::infinity();
    Value q2 = mul(rem(lane, 4), 2);
    auto colOf = [&](int64_t nt, int64_t e) {
      return arith::IndexCastOp::create(b, b.getI32Type(), add(q2, nt * 8 + e)).getResult();
    };
    Top2 top{acc[0][2 * half], f32(-inf), colOf(0, 0)};
    for (int64_t nt = 0; nt < nTiles; ++nt)
      for (int64_t e = nt ? 0 : 1; e < 2; ++e)
        top.see(b, acc[nt][2 * half + e], f32(-inf), colOf(nt, e));
    // The quad's four lanes hold the row's columns; lower lanes' columns
    // come first within each n-tile, so ties are not ordered here: a tie
    // leaves a zero gap and goes to the float64 sums.
    for (int32_t off : {1, 2})
      top.see(b, shuffleXor(b, top.best, off), shuffleXor(b, top.second, off),
              shuffleXor(b, top.idx, off));
    // (16 D 2^-24)^2 per |x|^2 max |mu|^2: 16 times the float32 bound of
    // an fma chain, room for the tensor cores' truncating accumulation.
    float margin2 = static_cast<float>(std::ldexp(double(tile.D) * double(tile.D), -40));
    Value norm2 = quadReduce<arith::AddFOp>(b, xx);
    Value gap = arith::SubFOp::create(b, top.best, top.second);
    Value bound2 = arith::MulFOp::create(b, f32(margin2), arith::MulFOp::create(b, norm2, maxNorm2));
    Value clear = arith::AndIOp::create(
        b, arith::CmpFOp::create(b, arith::CmpFPredicate::OGT, gap, f32(1e-30f)),
        arith::CmpFOp::create(b, arith::CmpFPredicate::OGT, arith::MulFOp::create(b, gap, gap),
                              bound2));
    // The float64 sums' candidates: every centroid not provably below the
    // best, i.e. not under best - (the margin + 1e-30). UGE: a NaN
    // anywhere (or an overflowing bound) makes every centroid one.
    Value floor = arith::SubFOp::create(
        b, top.best, arith::AddFOp::create(b, math::SqrtOp::create(b, bound2), f32(1e-30f)));
    Value bits = i32(0);
    for (int64_t nt = 0; nt < nTiles; ++nt)
      for (int64_t e = 0; e < 2; ++e) {
        Value cand =
            arith::CmpFOp::create(b, arith::CmpFPredicate::UGE, acc[nt][2 * half + e], floor);
        bits = arith::OrIOp::create(
            b, bits,
            arith::SelectOp::create(b, cand, arith::ShLIOp::create(b, i32(1), colOf(nt, e)),
                                    i32(0)));
      }
    Value mask = quadReduce<arith::OrIOp>(b, bits);
    Value stores = arith::AndIOp::create(
        b, ult(t, tile.n), arith::CmpIOp::create(b, arith::CmpIPredicate::eq, rem(lane, 4), c(0)));
    auto store = scf::IfOp::create(b, stores, false);
    OpBuilder::InsertionGuard g(b);
    b.setInsertionPointToStart(&store.getThenRegion().front());
    auto pick = scf::IfOp::create(b, clear, true);
    b.setInsertionPointToStart(&pick.getThenRegion().front());
    memref::StoreOp::create(b, top.idx, tile.bucket, ValueRange{tile.bi, tile.h, t});
    b.setInsertionPointToStart(&pick.getElseRegion().front());
    Value at = memref::AtomicRMWOp::create(b, arith::AtomicRMWKind::addi, i32(1), tile.todo,
                                           ValueRange{c(2 * rows)});
    Value slot = mul(arith::IndexCastOp::create(b, b.getIndexType(), at), 2);
    memref::StoreOp::create(b, arith::IndexCastOp::create(b, b.getI32Type(), t), tile.todo,
                            ValueRange{slot});
    memref::StoreOp::create(b, mask, tile.todo, ValueRange{add(slot, 1)});
  }

  /// The listed rows' float64 sums, a thread each, after the screen (its
  /// registers free: one copy of this loop, not one per row of a lane).
  void listed() {
    gpu::BarrierOp::create(b);
    Value count = arith::IndexCastOp::create(
        b, b.getIndexType(), memref::LoadOp::create(b, tile.todo, ValueRange{c(2 * rows)}));
    scf::ForOp::create(b, tid, count, c(threads), ValueRange{},
                       [&](OpBuilder &fb, Location l, Value i, ValueRange) {
                         ImplicitLocOpBuilder ib(l, fb);
                         Value slot = arith::MulIOp::create(ib, i, cIdx(ib, l, 2));
                         Value t = arith::IndexCastOp::create(
                             ib, ib.getIndexType(),
                             memref::LoadOp::create(ib, tile.todo, ValueRange{slot}));
                         Value mask = memref::LoadOp::create(
                             ib, tile.todo,
                             ValueRange{arith::AddIOp::create(ib, slot, cIdx(ib, l, 1))});
                         Value k = float64Nearest(ib, tile, t, mask);
                         memref::StoreOp::create(
                             ib, arith::IndexCastOp::create(ib, ib.getI32Type(), k), tile.bucket,
                             ValueRange{tile.bi, tile.h, t});
                         scf::YieldOp::create(ib);
                       });
  }

  void build() {
    stage();
    centroidFragments();
    for (int64_t mt = 0; mt < perWarp; ++mt) {
      Value r0 = add(mul(warp, perWarp * 16), mt * 16);
      SmallVector<SmallVector<Value>> acc;
      Value xx[2];
      score(r0, acc, xx);
      for (int64_t half = 0; half < 2; ++half)
        screenRow(acc, half, xx[half], add(add(add(tile.t0, r0), div(lane, 4)), half * 8));
    }
    listed();
  }
};
} // namespace

void mlir::attn::cuda::buildMmaBuckets(ImplicitLocOpBuilder &b, const MmaBucketTile &tile) {
  MmaBucketBuilder(b, tile).build();
}
