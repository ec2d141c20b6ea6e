//===- AttentionToNVGPU.cpp - attn.attention as a tensor-core GPU kernel -===//
//
// Rewrites every entry whose body is one attn.attention into a gpu.func
// kernel (FlashAttention-2 structure) inside `gpu.module @attn_kernels`:
//
//   grid (ceil(N / BQ), Hq, B), `warps` warps per block, 16 query rows each.
//   Query tiles run heaviest-first (x reversed) so causal tails balance.
//
//   Q tile  -> shared (cp.async) -> A fragments in registers (ldmatrix x4),
//   per key block kb of the schedule:
//     K tile -> shared (cp.async); S = Q K^T by mma.sync m16n8k16 (f32 acc)
//     partial blocks only: s = -inf where the mask's element rule or j < M
//     fails; online softmax on the accumulator fragments (row max and sum
//     across each quad of lanes by shuffles), exp2 in log2 units;
//     V tile -> shared; O = alpha O + P V with P reused in registers as the
//     A operand (two m16n8 C tiles are one m16n8k16 A tile), V by
//     ldmatrix.trans.
//   With stages=2 the V copy of block t overlaps S = Q K^T, and the K copy
//   of block t+1 overlaps P V (two copies in flight).
//
// The key loop is driven by a block *schedule* t -> (kb, needs element
// rule): here built from MaskAttrInterface::buildKeyRange (full blocks
// first, then the partial ones; empty blocks never appear). A runtime block
// list or a chunked recurrence plugs in as another schedule.
//
// mma.sync is emitted as nvvm.mma.sync for both f16 (vector<2xf16>
// operands) and bf16 (i32 operands holding two bf16): nvgpu.mma.sync
// rejects bf16 (shared/notes/tc-probe pitfall 1).
//
//===----------------------------------------------------------------------===//

#include "attnir/Conversion/Passes.h"
#include "attnir/Dialect/Attn/IR/AttnOps.h"
#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/GPU/IR/GPUDialect.h"
#include "mlir/Dialect/LLVMIR/LLVMDialect.h"
#include "mlir/Dialect/LLVMIR/NVVMDialect.h"
#include "mlir/Dialect/NVGPU/IR/NVGPUDialect.h"
#include "mlir/IR/ImplicitLocOpBuilder.h"
#include <cmath>
#include <limits>

namespace mlir::attn {
#define GEN_PASS_DEF_CONVERTATTNTONVGPU
#include "attnir/Conversion/Passes.h.inc"
} // namespace mlir::attn

using namespace mlir;
using namespace mlir::attn;

namespace {

/// Tile shape of one kernel, fixed at compile time.
struct FlashShape {
  int64_t d, dv, warps, mtiles, bq, bk, stages;
  Type elt;
  bool hasLse;
  /// Hopper: S = Q K^T by warpgroup MMA (wgmma) reading Q and K from
  /// shared memory in the canonical no-swizzle core-matrix layout.
  bool wgmma = false;
  int64_t padD() const { return wgmma ? d : d + 8; } // +16 B per row: no
  int64_t padV() const { return dv + 8; }            // ldmatrix conflicts
  int64_t threads() const { return 32 * warps; }
  /// K tiles reuse the Q tile's buffer (Q lives in registers once loaded),
  /// so D = 128 fits 64-key blocks in 48 KB.
  bool kInQ() const { return qInRegs && bk <= bq; }
  int64_t sharedBytes() const {
    return 2 * ((kInQ() ? bq : bq + bk) * padD() + bk * padV());
  }
  /// Q fragments held in registers for the whole key loop, or re-read from
  /// shared memory per k-step (D = 128 with two m-tiles: the registers go
  /// to the accumulators).
  bool qInRegs = true;
  /// Past 48 KB the tiles live in dynamic shared memory (opt-in per kernel
  /// at launch).
  bool dynamicShared() const { return sharedBytes() > 48 * 1024; }
};

/// The key-block schedule of one query tile: `count` blocks; block t is
/// (kb(t), masked(t)). From a mask's block rule: the full blocks
/// [fullB, fullE) first, then the partial blocks [visB, fullB) and
/// [fullE, visE).
struct BlockSchedule {
  Value count, numFull, visB, fullB, fullE, numLeft;

  static BlockSchedule fromKeyRange(ImplicitLocOpBuilder &b,
                                    const KeyRangeValues &r, int64_t bk) {
    auto c = [&](int64_t v) { return arith::ConstantIndexOp::create(b, v); };
    Value cBK = c(bk);
    BlockSchedule s;
    s.visB = arith::DivUIOp::create(b, r.visibleBegin, cBK);
    Value visE = arith::MaxUIOp::create(
        b, arith::CeilDivUIOp::create(b, r.visibleEnd, cBK), s.visB);
    Value fb = arith::CeilDivUIOp::create(b, r.fullBegin, cBK);
    s.fullB = arith::MinUIOp::create(b, arith::MaxUIOp::create(b, fb, s.visB),
                                     visE);
    Value fe = arith::DivUIOp::create(b, r.fullEnd, cBK);
    s.fullE = arith::MaxUIOp::create(b, arith::MinUIOp::create(b, fe, visE),
                                     s.fullB);
    s.count = arith::SubIOp::create(b, visE, s.visB);
    s.numFull = arith::SubIOp::create(b, s.fullE, s.fullB);
    s.numLeft = arith::SubIOp::create(b, s.fullB, s.visB);
    return s;
  }

  /// The key block visited at step t.
  Value block(ImplicitLocOpBuilder &b, Value t) const {
    Value isFull =
        arith::CmpIOp::create(b, arith::CmpIPredicate::ult, t, numFull);
    Value p = arith::SubIOp::create(b, t, numFull);
    Value isLeft =
        arith::CmpIOp::create(b, arith::CmpIPredicate::ult, p, numLeft);
    Value left = arith::AddIOp::create(b, visB, p);
    Value right = arith::AddIOp::create(
        b, fullE, arith::SubIOp::create(b, p, numLeft));
    Value partial = arith::SelectOp::create(b, isLeft, left, right);
    return arith::SelectOp::create(b, isFull,
                                   arith::AddIOp::create(b, fullB, t), partial);
  }

  /// True when block t needs the element rule.
  Value masked(ImplicitLocOpBuilder &b, Value t) const {
    return arith::CmpIOp::create(b, arith::CmpIPredicate::uge, t, numFull);
  }
};

class FlashKernelBuilder {
public:
  FlashKernelBuilder(ImplicitLocOpBuilder &b, FlashShape s,
                     MaskAttrInterface mask, double scale)
      : b(b), s(s), mask(mask), scale(scale) {}

  /// Emits the kernel body into `fn` (arguments q, k, v, out[, lse]) using
  /// the shared buffers sQ, sK, sV.
  void build(gpu::GPUFuncOp fn, Value sQ, Value sK, Value sV);

private:
  ImplicitLocOpBuilder &b;
  FlashShape s;
  MaskAttrInterface mask;
  double scale;

  // Values common to the whole kernel.
  Value tid, lane, warp, bIdx, h, hkv, N, M, i0;
  Type f32, i32;

  Value c(int64_t v) { return arith::ConstantIndexOp::create(b, v); }
  Value cf(float v) {
    return arith::ConstantOp::create(b, b.getF32FloatAttr(v));
  }
  Value add(Value x, Value y) { return arith::AddIOp::create(b, x, y); }
  Value add(Value x, int64_t y) { return y ? add(x, c(y)) : x; }
  Value mul(Value x, int64_t y) { return arith::MulIOp::create(b, x, c(y)); }
  Value div(Value x, int64_t y) { return arith::DivUIOp::create(b, x, c(y)); }
  Value rem(Value x, int64_t y) { return arith::RemUIOp::create(b, x, c(y)); }

  /// cp.async of the rows [row0, row0 + rows) x [0, width) of src[b, head]
  /// into dst (rows past `limit` - 1 re-read the last row; they are masked
  /// or never stored).
  void copyTile(Value src, Value head, Value row0, Value limit, Value dst,
                int64_t rows, int64_t width) {
    int64_t chunks = width / 8; // 16-byte chunks per row
    int64_t total = rows * chunks;
    Value last = arith::SubIOp::create(b, limit, c(1));
    for (int64_t t = 0; t < total; t += s.threads()) {
      Value idx = add(tid, t);
      OpBuilder::InsertionGuard g(b);
      if (total - t < s.threads()) {
        // Threads past the end of the tile stay idle.
        Value active =
            arith::CmpIOp::create(b, arith::CmpIPredicate::ult, idx, c(total));
        auto ifOp = scf::IfOp::create(b, active, /*withElse=*/false);
        b.setInsertionPointToStart(&ifOp.getThenRegion().front());
      }
      Value r = div(idx, chunks);
      Value chunk = rem(idx, chunks);
      Value col = mul(chunk, 8);
      Value row = arith::MinUIOp::create(b, add(row0, r), last);
      SmallVector<Value> dstIdx = {r, col};
      if (cast<MemRefType>(dst.getType()).getRank() == 1) {
        // Core matrices of 8 rows x 16 bytes, K-adjacent ones 128 B apart,
        // row groups (D / 8) x 128 B apart (wgmma's no-swizzle K-major
        // layout: LBO = 128, SBO = D * 16).
        Value core = add(mul(div(r, 8), chunks), chunk);
        dstIdx = {add(mul(core, 64), mul(rem(r, 8), 8))};
      }
      nvgpu::DeviceAsyncCopyOp::create(
          b, nvgpu::DeviceAsyncTokenType::get(b.getContext()), dst, dstIdx,
          src, ValueRange{bIdx, head, row, col}, b.getIndexAttr(8), Value(),
          UnitAttr());
    }
  }
  void commit() { NVVM::CpAsyncCommitGroupOp::create(b); }
  void waitAll() { NVVM::CpAsyncWaitGroupOp::create(b, 0); }

  /// The wgmma matrix descriptor of a core-matrix tile at `base` (a 1-D
  /// shared memref), `offsetBytes` in: start address >> 4 (bits 0-13),
  /// LBO >> 4 (16-29), SBO >> 4 (32-45), no swizzle (bits 62-63 = 0).
  Value descriptor(Value base, int64_t offsetBytes, int64_t lbo, int64_t sbo) {
    Type i64 = b.getI64Type();
    Value addr = arith::IndexCastUIOp::create(
        b, i64, memref::ExtractAlignedPointerAsIndexOp::create(b, base));
    auto k = [&](int64_t v) {
      return arith::ConstantOp::create(b, b.getI64IntegerAttr(v));
    };
    addr = arith::AddIOp::create(b, addr, k(offsetBytes));
    Value start = arith::ShRUIOp::create(
        b, arith::AndIOp::create(b, addr, k(0x3FFFF)), k(4));
    return arith::OrIOp::create(b, start,
                                k(((lbo >> 4) << 16) | ((sbo >> 4) << 32)));
  }
  /// S (64 x BK per warpgroup, f32) = Q K^T by wgmma m64nBKk16, both
  /// operands K-major in shared memory. Returns the accumulator registers in
  /// the mma.sync C-fragment order per 8 columns (the layouts agree).
  SmallVector<Value> wgmmaScores(Value sQ, Value sK, Value warpgroupRow) {
    MLIRContext *ctx = b.getContext();
    int64_t n = s.bk * 64 / 128; // f32 accumulators per thread
    auto accTy = LLVM::LLVMStructType::getLiteral(
        ctx, SmallVector<Type>(n, f32));
    Value acc = LLVM::ZeroOp::create(b, accTy);
    NVVM::WgmmaFenceAlignedOp::create(b);
    auto ty = s.elt.isBF16() ? NVVM::WGMMATypes::bf16 : NVVM::WGMMATypes::f16;
    int64_t sbo = s.d * 16;
    for (int64_t kt = 0; kt < s.d / 16; ++kt) {
      // Q rows of this warpgroup start `warpgroupRow` x 16 x D bytes in.
      Value dq = descriptor(sQ, kt * 256, 128, sbo);
      if (warpgroupRow)
        dq = arith::AddIOp::create(
            b, dq,
            arith::ShRUIOp::create(
                b,
                arith::MulIOp::create(
                    b,
                    arith::IndexCastUIOp::create(b, b.getI64Type(),
                                                 warpgroupRow),
                    arith::ConstantOp::create(b, b.getI64IntegerAttr(s.d * 2))),
                arith::ConstantOp::create(b, b.getI64IntegerAttr(4))));
      Value dk = descriptor(sK, kt * 256, 128, sbo);
      acc = NVVM::WgmmaMmaAsyncOp::create(
          b, accTy, acc, dq, dk,
          NVVM::MMAShapeAttr::get(ctx, 64, s.bk, 16), ty, ty,
          NVVM::WGMMATypes::f32,
          kt == 0 ? NVVM::WGMMAScaleOut::zero : NVVM::WGMMAScaleOut::one,
          NVVM::WGMMAScaleIn::one, NVVM::WGMMAScaleIn::one,
          NVVM::MMALayout::row, NVVM::MMALayout::col, nullptr);
    }
    NVVM::WgmmaGroupSyncAlignedOp::create(b);
    NVVM::WgmmaWaitGroupSyncOp::create(b, uint64_t(0));
    SmallVector<Value> out;
    for (int64_t e = 0; e < n; ++e)
      out.push_back(LLVM::ExtractValueOp::create(b, acc, e));
    return out;
  }
  /// Makes this thread's cp.async writes visible to wgmma (the async proxy).
  void fenceForWgmma() {
    NVVM::FenceProxyOp::create(
        b, NVVM::ProxyKind::async_shared,
        NVVM::SharedSpaceAttr::get(b.getContext(), NVVM::SharedSpace::shared_cta));
  }

  /// Row r of an ldmatrix result as mma.sync takes it: vector<2xf16> for
  /// f16, an i32 holding two bf16 for bf16 (the op's verifier wants these).
  Value fragWord(Value frag, int64_t r) {
    Value pair = vector::ExtractOp::create(b, frag, ArrayRef<int64_t>{r});
    return asOperand(pair);
  }
  Value asOperand(Value pair) {
    if (!s.elt.isBF16())
      return pair;
    Value w = vector::BitCastOp::create(b, VectorType::get({1}, i32), pair);
    return vector::ExtractOp::create(b, w, ArrayRef<int64_t>{0});
  }
  SmallVector<Value> ldmatrix(Value smem, Value row, Value col, int64_t tiles,
                              bool trans) {
    auto ty = VectorType::get({tiles, 2}, s.elt);
    Value frag = nvgpu::LdMatrixOp::create(b, ty, smem, ValueRange{row, col},
                                           trans, tiles);
    SmallVector<Value> words;
    for (int64_t r = 0; r < tiles; ++r)
      words.push_back(fragWord(frag, r));
    return words;
  }
  /// Two f32 as one mma operand word of f16/bf16 (the A fragment of P).
  Value pack(Value x, Value y) {
    Value v = vector::FromElementsOp::create(
        b, VectorType::get({2}, f32), ValueRange{x, y});
    return asOperand(
        arith::TruncFOp::create(b, VectorType::get({2}, s.elt), v));
  }
  /// acc(4 x f32) += A(4 x i32) B(2 x i32), m16n8k16.
  SmallVector<Value> mma(ValueRange a, ValueRange bw, ValueRange acc) {
    auto ptx = s.elt.isBF16() ? NVVM::MMATypes::bf16 : NVVM::MMATypes::f16;
    auto resTy = LLVM::LLVMStructType::getLiteral(
        b.getContext(), {f32, f32, f32, f32});
    Value d = NVVM::MmaOp::create(
        b, resTy, a, bw, acc, ArrayRef<int64_t>{16, 8, 16}, std::nullopt,
        std::nullopt, std::array<NVVM::MMATypes, 2>{ptx, ptx},
        std::array<NVVM::MMALayout, 2>{NVVM::MMALayout::row,
                                       NVVM::MMALayout::col});
    SmallVector<Value> out;
    for (int64_t e = 0; e < 4; ++e)
      out.push_back(LLVM::ExtractValueOp::create(b, d, e));
    return out;
  }
  /// x reduced over the 4 lanes of a quad (lanes sharing accumulator rows).
  template <typename OpTy> Value quadReduce(Value x) {
    for (int32_t off : {1, 2}) {
      auto sh = gpu::ShuffleOp::create(b, x, off, 32, gpu::ShuffleMode::XOR);
      x = OpTy::create(b, x, sh.getShuffleResult());
    }
    return x;
  }
};

void FlashKernelBuilder::build(gpu::GPUFuncOp fn, Value sQ, Value sK,
                               Value sV) {
  f32 = b.getF32Type();
  i32 = b.getI32Type();
  Value q = fn.getArgument(0), k = fn.getArgument(1), v = fn.getArgument(2),
        o = fn.getArgument(3);
  Value lse = s.hasLse ? fn.getArgument(4) : Value();
  const float neginf = -std::numeric_limits<float>::infinity();
  const double log2e = 1.4426950408889634;

  tid = gpu::ThreadIdOp::create(b, gpu::Dimension::x);
  Value bx = gpu::BlockIdOp::create(b, gpu::Dimension::x);
  Value gx = gpu::GridDimOp::create(b, gpu::Dimension::x);
  h = gpu::BlockIdOp::create(b, gpu::Dimension::y);
  bIdx = gpu::BlockIdOp::create(b, gpu::Dimension::z);
  N = memref::DimOp::create(b, q, 2);
  M = memref::DimOp::create(b, k, 2);
  Value Hq = memref::DimOp::create(b, q, 1);
  Value Hkv = memref::DimOp::create(b, k, 1);
  hkv = arith::DivUIOp::create(b, h, arith::DivUIOp::create(b, Hq, Hkv));
  warp = div(tid, 32);
  lane = rem(tid, 32);
  // Heaviest query tiles first: under a causal mask the last tiles see the
  // most keys, and starting them first keeps the tail of the grid short.
  Value tile = arith::SubIOp::create(b, arith::SubIOp::create(b, gx, c(1)), bx);
  i0 = mul(tile, s.bq);
  Value i1 = arith::MinUIOp::create(b, add(i0, s.bq), N);

  // Q tile -> registers (A fragments, one x4 ldmatrix per 16 columns).
  copyTile(q, h, i0, N, sQ, s.bq, s.d);
  commit();
  waitAll();
  if (s.wgmma)
    fenceForWgmma();
  gpu::BarrierOp::create(b);
  const int64_t MT = s.mtiles;
  Value wrow = mul(warp, 16 * MT);
  Value qColOff = mul(div(lane, 16), 8);
  SmallVector<SmallVector<SmallVector<Value>>> qA(MT); // [mi][kt][4]
  for (int64_t mi = 0; mi < MT && s.qInRegs; ++mi) {
    Value qRow = add(add(wrow, mi * 16), rem(lane, 16));
    for (int64_t kt = 0; kt < s.d / 16; ++kt)
      qA[mi].push_back(ldmatrix(sQ, qRow, add(qColOff, kt * 16), 4, false));
  }
  if (s.kInQ())
    gpu::BarrierOp::create(b); // every warp has its Q before K overwrites it

  // Rows this thread owns in the accumulators (two per m-tile), and its
  // column pair.
  Value quad = div(lane, 4);
  SmallVector<Value> rows; // [mi * 2 + rr]
  for (int64_t mi = 0; mi < MT; ++mi) {
    Value r0 = add(add(add(i0, wrow), mi * 16), quad);
    rows.append({r0, add(r0, 8)});
  }
  Value colPair = mul(rem(lane, 4), 2);

  Value c0 = c(0), c1 = c(1);
  KeyRangeValues range = mask ? mask.buildKeyRange(b, b.getLoc(), i0, i1, N, M)
                              : KeyRangeValues{c0, M, c0, M};
  BlockSchedule sched = BlockSchedule::fromKeyRange(b, range, s.bk);

  Value zero = cf(0.0f), ninf = cf(neginf);
  Value scale2 = cf(static_cast<float>(scale * log2e));
  const int64_t numO = s.dv / 8, numS = s.bk / 8;
  // iter_args: O [mi][dt][4], then m [mi][rr], then l [mi][rr].
  const int64_t oSize = MT * numO * 4, mBase = oSize, lBase = oSize + 2 * MT;
  SmallVector<Value> init(oSize, zero);
  for (int64_t i = 0; i < 2 * MT; ++i)
    init.push_back(ninf);
  for (int64_t i = 0; i < 2 * MT; ++i)
    init.push_back(zero);

  // The parts of a key-block step shared by both loop shapes below.
  // Partial blocks: the element rule and the key tail, as -inf.
  auto maskScores = [&](SmallVector<SmallVector<Value>> &S, Value t, Value j0) {
    SmallVector<Value> flat;
    for (auto &sm : S)
      flat.append(sm);
    auto ifMasked = scf::IfOp::create(
        b, SmallVector<Type>(flat.size(), f32), sched.masked(b, t), true);
    {
      OpBuilder::InsertionGuard g2(b);
      b.setInsertionPointToStart(&ifMasked.getThenRegion().front());
      Type i64 = b.getI64Type();
      auto asI64 = [&](Value x) {
        return arith::IndexCastUIOp::create(b, i64, x);
      };
      Value n64 = asI64(N), m64 = asI64(M);
      SmallVector<Value> rows64;
      for (Value r : rows)
        rows64.push_back(asI64(r));
      SmallVector<Value> out;
      for (int64_t mi = 0; mi < MT; ++mi)
        for (int64_t nt = 0; nt < numS; ++nt)
          for (int64_t e = 0; e < 4; ++e) {
            Value j = add(add(j0, colPair), nt * 8 + (e & 1));
            Value keep =
                arith::CmpIOp::create(b, arith::CmpIPredicate::ult, j, M);
            if (mask)
              keep = arith::AndIOp::create(
                  b, keep,
                  mask.buildKeep(b, b.getLoc(), rows64[mi * 2 + e / 2],
                                 asI64(j), n64, m64));
            out.push_back(
                arith::SelectOp::create(b, keep, S[mi][nt * 4 + e], ninf));
          }
      scf::YieldOp::create(b, out);
      b.setInsertionPointToStart(&ifMasked.getElseRegion().front());
      scf::YieldOp::create(b, flat);
    }
    for (int64_t mi = 0, idx = 0; mi < MT; ++mi)
      for (Value &x : S[mi])
        x = ifMasked.getResult(idx++);
  };
  // Online softmax per owned row: P (as A fragments), alpha, new m and l.
  struct SoftmaxOut {
    SmallVector<SmallVector<SmallVector<Value>>> pA;
    SmallVector<Value> alpha, mNew, lNew;
  };
  auto softmax = [&](SmallVector<SmallVector<Value>> &S, ValueRange st) {
    SoftmaxOut so;
    SmallVector<Value> &mNew = so.mNew, &alpha = so.alpha, &lNew = so.lNew;
    mNew.resize(2 * MT);
    alpha.resize(2 * MT);
    lNew.resize(2 * MT);
    SmallVector<SmallVector<Value>> P(MT, SmallVector<Value>(numS * 4));
    for (int64_t mi = 0; mi < MT; ++mi)
      for (int64_t rr = 0; rr < 2; ++rr) {
        int64_t r = mi * 2 + rr;
        Value mOld = st[mBase + r], lOld = st[lBase + r];
        Value mx = mOld;
        for (int64_t nt = 0; nt < numS; ++nt)
          for (int64_t e = 0; e < 2; ++e)
            mx = arith::MaximumFOp::create(b, mx, S[mi][nt * 4 + 2 * rr + e]);
        mx = quadReduce<arith::MaximumFOp>(mx);
        // A row with no kept key so far keeps m = -inf; subtract 0 instead
        // so that exp2 sees -inf - 0 = -inf, not NaN.
        Value none =
            arith::CmpFOp::create(b, arith::CmpFPredicate::OEQ, mx, ninf);
        Value mUse = arith::SelectOp::create(b, none, zero, mx);
        alpha[r] =
            math::Exp2Op::create(b, arith::SubFOp::create(b, mOld, mUse));
        Value rowSum = zero;
        for (int64_t nt = 0; nt < numS; ++nt)
          for (int64_t e = 0; e < 2; ++e) {
            int64_t idx = nt * 4 + 2 * rr + e;
            P[mi][idx] = math::Exp2Op::create(
                b, arith::SubFOp::create(b, S[mi][idx], mUse));
            rowSum = arith::AddFOp::create(b, rowSum, P[mi][idx]);
          }
        mNew[r] = mx;
        lNew[r] = arith::AddFOp::create(
            b, arith::MulFOp::create(b, lOld, alpha[r]), rowSum);
      }
    // P as A fragments: k-step kt covers the S tiles 2kt and 2kt + 1.
    so.pA.resize(MT);
    for (int64_t mi = 0; mi < MT; ++mi)
      for (int64_t kt = 0; kt < s.bk / 16; ++kt) {
        auto &p = P[mi];
        int64_t lo = 2 * kt * 4, hi = (2 * kt + 1) * 4;
        so.pA[mi].push_back({pack(p[lo], p[lo + 1]), pack(p[lo + 2], p[lo + 3]),
                             pack(p[hi], p[hi + 1]), pack(p[hi + 2], p[hi + 3])});
      }
    return so;
  };
  // O += P V: one x4 ldmatrix.trans gives the V fragments of two 8-column
  // tiles, each used by every m-tile.
  auto accumulatePV = [&](SmallVector<Value> &O,
                          SmallVector<SmallVector<SmallVector<Value>>> &pA) {
    Value vRow = rem(lane, 16);
    Value vColOff = mul(div(lane, 16), 8);
    for (int64_t dt = 0; dt < numO; dt += 2)
      for (int64_t kt = 0; kt < s.bk / 16; ++kt) {
        SmallVector<Value> vB = ldmatrix(sV, add(vRow, kt * 16),
                                         add(vColOff, dt * 8), 4, true);
        for (int64_t half = 0; half < 2; ++half)
          for (int64_t mi = 0; mi < MT; ++mi) {
            int64_t base = mi * numO * 4 + (dt + half) * 4;
            SmallVector<Value> acc(O.begin() + base, O.begin() + base + 4);
            acc = mma(pA[mi][kt], ValueRange(vB).slice(2 * half, 2), acc);
            std::copy(acc.begin(), acc.end(), O.begin() + base);
          }
      }
  };

  auto loadK = [&](Value t) {
    Value j0 = mul(sched.block(b, t), s.bk);
    copyTile(k, hkv, j0, M, sK, s.bk, s.d);
    commit();
  };
  auto loadV = [&](Value t) {
    Value j0 = mul(sched.block(b, t), s.bk);
    copyTile(v, hkv, j0, M, sV, s.bk, s.dv);
    commit();
  };
  if (s.stages == 2) {
    Value any =
        arith::CmpIOp::create(b, arith::CmpIPredicate::ugt, sched.count, c0);
    auto pre = scf::IfOp::create(b, any, false);
    OpBuilder::InsertionGuard g(b);
    b.setInsertionPointToStart(&pre.getThenRegion().front());
    loadK(c0);
  }

  auto loop = scf::ForOp::create(b, c0, sched.count, c1, init);
  {
    OpBuilder::InsertionGuard g(b);
    b.setInsertionPointToStart(loop.getBody());
    Value t = loop.getInductionVar();
    ValueRange st = loop.getRegionIterArgs();
    Value j0 = mul(sched.block(b, t), s.bk);
    if (s.stages == 2) {
      waitAll(); // K(t) has landed
      if (s.wgmma)
        fenceForWgmma();
      gpu::BarrierOp::create(b);
      loadV(t); // overlaps S = Q K^T
    } else {
      loadK(t);
      loadV(t);
      waitAll();
      if (s.wgmma)
        fenceForWgmma();
      gpu::BarrierOp::create(b);
    }

    // S = Q K^T: per m-tile, BK / 8 tiles of m16n8 summed over D / 16
    // k-steps. Each K fragment feeds every m-tile of the warp; x4 ldmatrix
    // loads two k-steps at once when D is a multiple of 32.
    SmallVector<SmallVector<SmallVector<Value>>> acc(
        MT, SmallVector<SmallVector<Value>>(numS, SmallVector<Value>(4, zero)));
    if (s.wgmma) {
      // One warpgroup per 64 rows: warp / 4 selects this thread's group.
      Value group = div(warp, 4);
      SmallVector<Value> w = wgmmaScores(sQ, sK, s.warps > 4 ? mul(group, 64) : Value());
      for (int64_t nt = 0; nt < numS; ++nt)
        for (int64_t e = 0; e < 4; ++e)
          acc[0][nt][e] = w[nt * 4 + e];
    }
    // x4 K fragments cover two k-steps; with Q re-read from shared memory
    // that would keep two Q fragments live, which D = 128 cannot afford.
    const bool pair = s.d % 32 == 0 && s.qInRegs;
    Value kColOff = pair ? mul(div(lane, 8), 8) : mul(rem(div(lane, 8), 2), 8);
    for (int64_t kt = 0; kt < s.d / 16 && !s.wgmma; kt += pair ? 2 : 1) {
      // This k-step's Q fragments: held, or read now.
      SmallVector<SmallVector<SmallVector<Value>>> qf(MT);
      for (int64_t mi = 0; mi < MT; ++mi)
        for (int64_t half = 0; half < (pair ? 2 : 1); ++half)
          qf[mi].push_back(
              s.qInRegs ? qA[mi][kt + half]
                        : ldmatrix(sQ,
                                   add(add(wrow, mi * 16), rem(lane, 16)),
                                   add(qColOff, (kt + half) * 16), 4, false));
      for (int64_t nt = 0; nt < numS; ++nt) {
        SmallVector<Value> kB =
            ldmatrix(sK, add(rem(lane, 8), nt * 8), add(kColOff, kt * 16),
                     pair ? 4 : 2, false);
        for (int64_t half = 0; half < (pair ? 2 : 1); ++half)
          for (int64_t mi = 0; mi < MT; ++mi)
            acc[mi][nt] = mma(qf[mi][half], ValueRange(kB).slice(2 * half, 2),
                              acc[mi][nt]);
      }
    }
    SmallVector<SmallVector<Value>> S(MT); // [mi][nt * 4 + e]
    for (int64_t mi = 0; mi < MT; ++mi)
      for (int64_t nt = 0; nt < numS; ++nt)
        for (Value x : acc[mi][nt])
          S[mi].push_back(arith::MulFOp::create(b, x, scale2));

    maskScores(S, t, j0);
    SoftmaxOut so = softmax(S, st);
    SmallVector<Value> &mNew = so.mNew, &alpha = so.alpha, &lNew = so.lNew;
    auto &pA = so.pA;
    SmallVector<Value> O;
    for (int64_t e = 0; e < oSize; ++e) {
      int64_t mi = e / (numO * 4), rr = (e % 4) / 2;
      O.push_back(arith::MulFOp::create(b, st[e], alpha[mi * 2 + rr]));
    }

    if (s.stages == 2) {
      waitAll(); // V(t) has landed; every warp is done with sK
      gpu::BarrierOp::create(b);
      Value next = add(t, 1);
      Value more = arith::CmpIOp::create(b, arith::CmpIPredicate::ult, next,
                                         sched.count);
      auto pre = scf::IfOp::create(b, more, false);
      OpBuilder::InsertionGuard g3(b);
      b.setInsertionPointToStart(&pre.getThenRegion().front());
      loadK(next); // overlaps P V
    }
    accumulatePV(O, pA);
    if (s.stages == 1)
      gpu::BarrierOp::create(b); // before the next copies overwrite sK, sV
    SmallVector<Value> yield(O);
    yield.append(mNew);
    yield.append(lNew);
    scf::YieldOp::create(b, yield);
  }

  // Epilogue: l across the quad, normalise, store rows < N (and lse).
  ValueRange fin = loop.getResults();
  Value one = cf(1.0f);
  Value ln2 = cf(static_cast<float>(1.0 / log2e));
  Value firstOfQuad = arith::CmpIOp::create(b, arith::CmpIPredicate::eq,
                                            rem(lane, 4), c0);
  for (int64_t mi = 0; mi < MT; ++mi)
    for (int64_t rr = 0; rr < 2; ++rr) {
      int64_t r = mi * 2 + rr;
      Value l = quadReduce<arith::AddFOp>(fin[lBase + r]);
      Value pos = arith::CmpFOp::create(b, arith::CmpFPredicate::OGT, l, zero);
      Value inv = arith::SelectOp::create(
          b, pos, arith::DivFOp::create(b, one, l), zero);
      Value inside =
          arith::CmpIOp::create(b, arith::CmpIPredicate::ult, rows[r], N);
      auto ifIn = scf::IfOp::create(b, inside, false);
      OpBuilder::InsertionGuard g(b);
      b.setInsertionPointToStart(&ifIn.getThenRegion().front());
      auto pairTy = VectorType::get({2}, f32);
      Value invV = vector::BroadcastOp::create(b, pairTy, inv);
      for (int64_t dt = 0; dt < numO; ++dt) {
        int64_t base = mi * numO * 4 + dt * 4 + 2 * rr;
        Value pair = vector::FromElementsOp::create(
            b, pairTy, ValueRange{fin[base], fin[base + 1]});
        Value val = arith::TruncFOp::create(
            b, VectorType::get({2}, s.elt),
            arith::MulFOp::create(b, pair, invV));
        auto store = vector::StoreOp::create(
            b, val, o, ValueRange{bIdx, h, rows[r], add(colPair, dt * 8)});
        store.setAlignment(uint64_t(4));
      }
      if (lse) {
        // lse = (m + log2 l) ln 2 in natural units; -inf for empty rows.
        Value m = fin[mBase + r];
        Value val = arith::MulFOp::create(
            b, arith::AddFOp::create(b, m, math::Log2Op::create(b, l)), ln2);
        val = arith::SelectOp::create(b, pos, val, ninf);
        auto ifFirst = scf::IfOp::create(b, firstOfQuad, false);
        OpBuilder::InsertionGuard g2(b);
        b.setInsertionPointToStart(&ifFirst.getThenRegion().front());
        memref::StoreOp::create(b, val, lse, ValueRange{bIdx, h, rows[r]});
      }
    }
  gpu::ReturnOp::create(b);
}

/// The op of an entry the GPU path accepts: a body of exactly one
/// attn.attention on the entry's arguments (q, k, v) whose results are
/// returned as they are.
AttentionOp soleAttention(func::FuncOp fn) {
  Block &body = fn.getBody().front();
  if (body.getOperations().size() != 2)
    return nullptr;
  auto op = dyn_cast<AttentionOp>(body.front());
  auto ret = dyn_cast<func::ReturnOp>(body.back());
  if (!op || !ret || op->getNumOperands() != 3 ||
      fn.getNumArguments() != 3 ||
      ret->getOperands() != ValueRange(op->getResults()))
    return nullptr;
  for (unsigned i = 0; i < 3; ++i)
    if (op->getOperand(i) != fn.getArgument(i))
      return nullptr;
  return op;
}

constexpr const char *kDynamicShared = "attn_dsmem";

struct ConvertAttnToNVGPU
    : public attn::impl::ConvertAttnToNVGPUBase<ConvertAttnToNVGPU> {
  using Base::Base;

  void runOnOperation() override {
    ModuleOp module = getOperation();
    MLIRContext *ctx = &getContext();
    if (warps < 1 || warps > 8) {
      module.emitError() << "attn-to-nvgpu: warps=" << warps
                         << " out of range 1..8";
      return signalPassFailure();
    }
    if (stages < 0 || stages > 2) {
      module.emitError() << "attn-to-nvgpu: stages=" << stages
                         << " must be 0 (auto), 1 or 2";
      return signalPassFailure();
    }
    if (mTiles < 0 || mTiles > 2) {
      module.emitError() << "attn-to-nvgpu: m-tiles=" << mTiles
                         << " must be 0 (auto), 1 or 2";
      return signalPassFailure();
    }
    if (keyBlock != 0 && (keyBlock < 16 || keyBlock > 128 || keyBlock % 16)) {
      module.emitError() << "attn-to-nvgpu: key-block=" << keyBlock
                         << " must be 0 (auto) or a multiple of 16 in 16..128";
      return signalPassFailure();
    }
    SmallVector<func::FuncOp> entries;
    for (auto fn : module.getOps<func::FuncOp>())
      if (!fn.isExternal())
        entries.push_back(fn);

    OpBuilder mb(ctx);
    mb.setInsertionPointToEnd(module.getBody());
    auto gpuModule = gpu::GPUModuleOp::create(mb, module.getLoc(),
                                              "attn_kernels");
    module->setAttr(gpu::GPUDialect::getContainerModuleAttrName(),
                    UnitAttr::get(ctx));

    for (func::FuncOp fn : entries) {
      AttentionOp op = soleAttention(fn);
      if (!op) {
        fn.emitError() << "the CUDA target compiles entries whose body is one "
                          "attn.attention on the entry's arguments (q, k, v) "
                          "returning its results";
        return signalPassFailure();
      }
      auto qT = cast<RankedTensorType>(op.getQ().getType());
      auto kT = cast<RankedTensorType>(op.getK().getType());
      auto vT = cast<RankedTensorType>(op.getV().getType());
      FlashShape s;
      s.elt = qT.getElementType();
      s.d = qT.getDimSize(3);
      s.dv = vT.getDimSize(3);
      s.warps = warps;
      // Two 16-row m-tiles per warp halve the shared-memory reads per
      // mma.sync (each K/V fragment feeds both). Past D = 64 their
      // accumulators leave no registers for Q, which is then re-read from
      // shared memory (FlashAttention-2's layout for D = 128).
      s.wgmma = mma == "wgmma";
      if (mma != "sync" && mma != "wgmma") {
        module.emitError() << "attn-to-nvgpu: mma=" << mma
                           << " must be sync or wgmma";
        return signalPassFailure();
      }
      s.mtiles = s.wgmma ? 1 : (mTiles ? mTiles.getValue() : 2);
      s.qInRegs = !s.wgmma && (s.mtiles == 1 || std::max(s.d, s.dv) <= 64);
      if (s.wgmma && (warps % 4 || (mTiles && mTiles != 1) ||
                      (keyBlock && keyBlock != 64 && keyBlock != 128))) {
        op.emitError() << "mma=wgmma needs warps = 4 or 8 (whole warpgroups), "
                          "m-tiles=1 and 64- or 128-key blocks";
        return signalPassFailure();
      }
      s.bq = 16 * s.mtiles * warps;
      // Measured on the H100 (docs/benchmarks/gpu.md, tuning): at D <= 64
      // the second copy in flight costs more registers than it hides.
      s.stages = stages ? stages.getValue() : (s.qInRegs ? 1 : 2);
      s.hasLse = static_cast<bool>(op.getLse());
      if (!s.elt.isBF16() && !s.elt.isF16()) {
        op.emitError() << "the CUDA target needs f16 or bf16 inputs (tensor "
                          "cores); got "
                       << s.elt;
        return signalPassFailure();
      }
      if (kT.getElementType() != s.elt || vT.getElementType() != s.elt) {
        op.emitError() << "the CUDA target needs q, k and v of one dtype";
        return signalPassFailure();
      }
      for (auto [name, dim] : {std::pair<const char *, int64_t>{"D", s.d},
                               {"Dv", s.dv}})
        if (ShapedType::isDynamic(dim) || dim % 16 || dim < 16 || dim > 128) {
          op.emitError() << "the CUDA target needs a static head dim " << name
                         << " that is a multiple of 16 in 16..128; got "
                         << (ShapedType::isDynamic(dim) ? std::string("?")
                                                        : std::to_string(dim));
          return signalPassFailure();
        }
      // Key blocks: 64, or 48 when Q is re-read from shared memory (the S
      // accumulators of 64 keys spill beside O at 255 registers; 48 does
      // not, and re-reads Q 1.5x less often than 32: +6% causal on the
      // H100); both shrink to fit the shared memory of an sm_80 block.
      const int64_t maxShared = 160 * 1024;
      s.bk = keyBlock ? keyBlock.getValue() : (s.qInRegs || s.wgmma ? 64 : 48);
      while (!keyBlock && !s.wgmma && s.bk > 16 && s.sharedBytes() > maxShared)
        s.bk /= 2;
      if (s.sharedBytes() > maxShared) {
        op.emitError() << "attn-to-nvgpu: tiles need " << s.sharedBytes()
                       << " bytes of shared memory (> 160 KB); lower "
                          "key-block or warps";
        return signalPassFailure();
      }

      // Kernel arguments: q, k, v, out[, lse] as memrefs.
      SmallVector<Type> argTypes;
      for (Value x : op->getOperands())
        argTypes.push_back(MemRefType::get(
            cast<RankedTensorType>(x.getType()).getShape(), s.elt));
      for (Value x : op->getResults()) {
        auto t = cast<RankedTensorType>(x.getType());
        argTypes.push_back(MemRefType::get(t.getShape(), t.getElementType()));
      }
      Location loc = op.getLoc();
      OpBuilder gb(ctx);
      gb.setInsertionPointToEnd(gpuModule.getBody());
      auto wg = gpu::AddressSpaceAttr::get(ctx, gpu::AddressSpace::Workgroup);
      auto smemType = [&](int64_t rows, int64_t cols) {
        return MemRefType::get({rows, cols}, s.elt, MemRefLayoutAttrInterface(),
                               wg);
      };
      std::string name = fn.getName().str();
      MemRefType tyQ = smemType(s.bq, s.padD()), tyK = smemType(s.bk, s.padD()),
                 tyV = smemType(s.bk, s.padV());
      if (s.wgmma) { // core-matrix layout, addressed linearly
        tyQ = MemRefType::get({s.bq * s.d}, s.elt, MemRefLayoutAttrInterface(), wg);
        tyK = MemRefType::get({s.bk * s.d}, s.elt, MemRefLayoutAttrInterface(), wg);
      }
      if (!s.dynamicShared()) {
        SmallVector<std::pair<const char *, MemRefType>> buffers = {
            {"_sQ", tyQ}, {"_sV", tyV}};
        if (!s.kInQ())
          buffers.push_back({"_sK", tyK});
        for (auto [suffix, ty] : buffers)
          memref::GlobalOp::create(gb, loc, name + suffix,
                                   gb.getStringAttr("private"), ty,
                                   Attribute(), /*constant=*/false,
                                   gb.getI64IntegerAttr(128));
      } else if (!gpuModule.lookupSymbol(kDynamicShared)) {
        // One public zero-size extern: `.extern .shared .align 1024 .b8
        // attn_dsmem[]` (gpu.dynamic_shared_memory would make it a private
        // 1-byte array: shared/notes/tc-probe pitfall 3).
        memref::GlobalOp::create(
            gb, loc, kDynamicShared, gb.getStringAttr("public"),
            MemRefType::get({0}, gb.getI8Type(), MemRefLayoutAttrInterface(),
                            wg),
            Attribute(), /*constant=*/false, gb.getI64IntegerAttr(1024));
      }
      auto kfn = gpu::GPUFuncOp::create(gb, loc, name,
                                        FunctionType::get(ctx, argTypes, {}));
      kfn->setAttr(gpu::GPUDialect::getKernelFuncAttrName(),
                   UnitAttr::get(ctx));
      kfn.setKnownBlockSizeAttr(DenseI32ArrayAttr::get(
          ctx, {static_cast<int32_t>(s.threads()), 1, 1}));
      // The launch contract, read back by the driver for the bundle.
      kfn->setAttr("attn.block_q", gb.getI64IntegerAttr(s.bq));
      kfn->setAttr("attn.threads", gb.getI64IntegerAttr(s.threads()));
      kfn->setAttr("attn.dynamic_shared",
                   gb.getI64IntegerAttr(s.dynamicShared() ? s.sharedBytes()
                                                          : 0));
      ImplicitLocOpBuilder ib(loc, ctx);
      ib.setInsertionPointToStart(&kfn.getBody().front());
      Value sQ, sK, sV;
      if (!s.dynamicShared()) {
        sQ = memref::GetGlobalOp::create(ib, tyQ, name + "_sQ");
        sK = s.kInQ() ? sQ
                      : memref::GetGlobalOp::create(ib, tyK, name + "_sK")
                            .getResult();
        sV = memref::GetGlobalOp::create(ib, tyV, name + "_sV");
      } else {
        // Views at byte offsets into the dynamic window: Q, [K,] V.
        auto i8 = ib.getI8Type();
        Value g = memref::GetGlobalOp::create(
            ib, MemRefType::get({0}, i8, MemRefLayoutAttrInterface(), wg),
            kDynamicShared);
        auto rawTy = MemRefType::get({s.sharedBytes()}, i8,
                                     MemRefLayoutAttrInterface(), wg);
        Value raw = memref::ReinterpretCastOp::create(
            ib, rawTy, g, 0, ArrayRef<int64_t>{s.sharedBytes()},
            ArrayRef<int64_t>{1});
        int64_t off = 0;
        auto view = [&](MemRefType ty) {
          Value v = memref::ViewOp::create(
              ib, ty, raw, arith::ConstantIndexOp::create(ib, off),
              ValueRange{});
          off += ty.getNumElements() * 2;
          return v;
        };
        sQ = view(tyQ);
        sK = s.kInQ() ? sQ : view(tyK);
        sV = view(tyV);
      }
      FlashKernelBuilder(ib, s, op.getMaskAttr(), op.getScaleValue())
          .build(kfn, sQ, sK, sV);
      fn.erase();
    }
  }
};

} // namespace
