//===- FlashKernel.cpp - the steps both CUDA attention kernels share ------===//
//
// Setup of a query tile (ids, sizes, owned rows, key schedule), masking of
// partial blocks, the online softmax on accumulator fragments, and the
// epilogue. The accumulator layout is mma.sync's m16n8 C fragment: lane l
// of a warp owns rows l / 4 and l / 4 + 8 of its 16, and columns
// 2 (l % 4) + {0, 1} of every 8. A wgmma m64nN accumulator is four warps
// of exactly that, so the Hopper kernel uses the same code.
//
//===----------------------------------------------------------------------===//

#include "FlashKernel.h"
#include <cmath>
#include <limits>

using namespace mlir;
using namespace mlir::attn;
using namespace mlir::attn::cuda;

namespace {
const float kNegInf = -std::numeric_limits<float>::infinity();
const double kLog2e = 1.4426950408889634;
} // namespace

namespace {
/// `ptx` ("op.approx.f32") on one f32 register.
Value approx(OpBuilder &b, Location loc, StringRef ptx, Value x) {
  return LLVM::InlineAsmOp::create(
             b, loc, b.getF32Type(), ValueRange{x},
             (ptx + " $0, $1;").str(), "=f,f", /*has_side_effects=*/false,
             /*is_align_stack=*/false, LLVM::tailcallkind::TailCallKind::None,
             LLVM::AsmDialectAttr(), ArrayAttr())
      .getResult(0);
}

/// The fast hardware form of a math op on f32, or null (clone it).
Value fastTranscendental(OpBuilder &b, Location loc, Operation &op,
                         ValueRange args) {
  // div.full.f32: 2 ulp over the full range, a fraction of IEEE division's
  // instructions (CUDA's __fdividef without its range limit).
  if (isa<arith::DivFOp>(op) && args[0].getType().isF32())
    return LLVM::InlineAsmOp::create(
               b, loc, b.getF32Type(), args, "div.full.f32 $0, $1, $2;",
               "=f,f,f", /*has_side_effects=*/false, /*is_align_stack=*/false,
               LLVM::tailcallkind::TailCallKind::None, LLVM::AsmDialectAttr(),
               ArrayAttr())
        .getResult(0);
  if (args.size() != 1 || !args[0].getType().isF32())
    return Value();
  Value x = args[0];
  auto cst = [&](double v) {
    return arith::ConstantOp::create(b, loc,
                                     b.getF32FloatAttr(static_cast<float>(v)));
  };
  if (isa<math::TanhOp>(op))
    return approx(b, loc, "tanh.approx.f32", x);
  if (isa<math::Log2Op>(op))
    return approx(b, loc, "lg2.approx.f32", x);
  if (isa<math::LogOp>(op))
    return arith::MulFOp::create(b, loc, approx(b, loc, "lg2.approx.f32", x),
                                 cst(1.0 / kLog2e));
  if (isa<math::ExpOp>(op)) // exp2 lowers to ex2.approx.f32
    return math::Exp2Op::create(
        b, loc, arith::MulFOp::create(b, loc, x, cst(kLog2e)));
  if (isa<math::SinOp>(op))
    return approx(b, loc, "sin.approx.f32", x);
  if (isa<math::CosOp>(op))
    return approx(b, loc, "cos.approx.f32", x);
  if (isa<math::RsqrtOp>(op))
    return approx(b, loc, "rsqrt.approx.f32", x);
  return Value();
}
} // namespace

RuleOperands mlir::attn::cuda::gpuRuleOperands(gpu::GPUFuncOp fn,
                                               unsigned first,
                                               unsigned count) {
  SmallVector<Value> buffers;
  for (unsigned k = first; k < first + count; ++k)
    buffers.push_back(fn.getArgument(k));
  return gpuRuleBuffers(buffers);
}

RuleOperands mlir::attn::cuda::gpuRuleBuffers(SmallVector<Value> buffers) {
  RuleOperands ops = memrefRuleOperands(std::move(buffers));
  ops.lower = fastTranscendental;
  return ops;
}

Value mlir::attn::cuda::warpMinMax(OpBuilder &ob, Location loc, Value x,
                                  bool isMin) {
  ImplicitLocOpBuilder b(loc, ob);
  Type i32 = b.getI32Type(), f32 = b.getF32Type();
  bool isF = isa<FloatType>(x.getType());
  unsigned width = x.getType().getIntOrFloatBitWidth();
  Type i64 = b.getI64Type();
  // A shuffle moves 32 bits: 16-bit values widen, 64-bit ones go in halves.
  auto shuffle = [&](Value v, int32_t off) -> Value {
    return gpu::ShuffleOp::create(b, v, off, 32, gpu::ShuffleMode::XOR)
        .getShuffleResult();
  };
  for (int32_t off : {1, 2, 4, 8, 16}) {
    Value y;
    if (width == 64) {
      Value c32 = arith::ConstantIntOp::create(b, i64, 32);
      Value lo = shuffle(arith::TruncIOp::create(b, i32, x), off);
      Value hi = shuffle(arith::TruncIOp::create(
                             b, i32, arith::ShRUIOp::create(b, x, c32)),
                         off);
      y = arith::OrIOp::create(
          b, arith::ExtUIOp::create(b, i64, lo),
          arith::ShLIOp::create(b, arith::ExtUIOp::create(b, i64, hi), c32));
    } else if (width < 32) {
      y = isF ? arith::TruncFOp::create(
                    b, x.getType(), shuffle(arith::ExtFOp::create(b, f32, x), off))
                    .getResult()
              : arith::TruncIOp::create(
                    b, x.getType(), shuffle(arith::ExtSIOp::create(b, i32, x), off))
                    .getResult();
    } else {
      y = shuffle(x, off);
    }
    x = isF ? (isMin ? arith::MinimumFOp::create(b, x, y).getResult()
                     : arith::MaximumFOp::create(b, x, y).getResult())
            : (isMin ? arith::MinSIOp::create(b, x, y).getResult()
                     : arith::MaxSIOp::create(b, x, y).getResult());
  }
  return x;
}

RuleOperands mlir::attn::cuda::gpuWarpRuleOperands(gpu::GPUFuncOp fn,
                                                   unsigned first,
                                                   unsigned count, Value lane) {
  RuleOperands ops = gpuRuleOperands(fn, first, count);
  // The interval block rule reads a range over the warp's lanes.
  ops.spread = RuleOperands::LaneSpread{
      lane, 32, [](OpBuilder &ob, Location l, Value x, bool isMin) {
        return warpMinMax(ob, l, x, isMin);
      }};
  return ops;
}

void FlashKernelBuilder::setup(gpu::GPUFuncOp fn) {
  setupKernel(fn);
  Value bx = gpu::BlockIdOp::create(b, gpu::Dimension::x);
  Value gx = gpu::GridDimOp::create(b, gpu::Dimension::x);
  // Heaviest query tiles first: under a causal mask the last tiles see the
  // most keys, and starting them first keeps the tail of the grid short.
  Value tile = arith::SubIOp::create(b, arith::SubIOp::create(b, gx, c(1)), bx);
  setupTile(fn, tile, gpu::BlockIdOp::create(b, gpu::Dimension::y),
            gpu::BlockIdOp::create(b, gpu::Dimension::z));
}

void FlashKernelBuilder::setupKernel(gpu::GPUFuncOp fn) {
  f32 = b.getF32Type();
  i32 = b.getI32Type();
  Value q = fn.getArgument(0), k = fn.getArgument(1);
  tid = gpu::ThreadIdOp::create(b, gpu::Dimension::x);
  N = memref::DimOp::create(b, q, 2);
  M = memref::DimOp::create(b, k, 2);
  Hq = memref::DimOp::create(b, q, 1);
  Hkv = memref::DimOp::create(b, k, 1);
  warp = div(tid, 32);
  lane = rem(tid, 32);
  MT = s.mtiles;
  colPair = mul(rem(lane, 4), 2);
  if (maskRule || scoreRule)
    ruleOperands = gpuWarpRuleOperands(fn, s.ruleArg(), s.numRules, lane);

  zero = cf(0.0f);
  ninf = cf(kNegInf);
  // A score rule takes natural logits and gives natural logits: the
  // softmax folds only log2(e), after the rule.
  scale2 = cf(static_cast<float>((scoreRule ? 1.0 : scale) * kLog2e));
  foldScale = scoreRule || scale > 0;
  numO = s.dv / 8;
  numS = s.bk / 8;
  oSize = MT * numO * 4;
  mBase = oSize;
  lBase = oSize + 2 * MT;
}

void FlashKernelBuilder::setupTile(gpu::GPUFuncOp fn, Value tile, Value head,
                                   Value batch) {
  h = head;
  bIdx = batch;
  hkv = arith::DivUIOp::create(b, h, arith::DivUIOp::create(b, Hq, Hkv));
  i0 = mul(tile, s.bq);
  i1 = arith::MinUIOp::create(b, add(i0, s.bq), N);

  // Rows this thread owns in the accumulators (two per m-tile).
  Value wrow = mul(warp, 16 * MT);
  Value quad = div(lane, 4);
  rows.clear();
  for (int64_t mi = 0; mi < MT; ++mi) {
    Value r0 = add(add(add(i0, wrow), mi * 16), quad);
    rows.append({r0, add(r0, 8)});
  }

  site = documentSite(
      bIdx, h, N, M, s.segments ? fn.getArgument(s.docArg()) : Value(),
      s.segments ? fn.getArgument(s.docArg() + 1) : Value());
  if (maskRule) {
    site.rule = [this](OpBuilder &, Location, Value i, Value j) {
      return emitRule(b, b.getLoc(), *maskRule, ValueRange{bIdx, h, i, j},
                      ruleOperands);
    };
    // The rule's block rule on intervals: blocks it fills run without the
    // element rule. (A block it empties is still loaded and multiplied:
    // the kernels mask a skipped step rather than leave it out.) With a
    // block map (attn-rule-block-maps) the map has decided already.
    if (!s.listMarked)
      site.ruleBlock = [this](OpBuilder &, Location, Value bi0, Value bi1,
                              Value bj0, Value bj1) {
        return emitRuleOnBlock(b, b.getLoc(), *maskRule, bIdx, h, bi0, bi1,
                               bj0, bj1, ruleOperands);
      };
  }
  QueryTile qt{i0, i1, bIdx, h, hkv, N, M, site};
  sched = s.listQ ? KeySchedule::fromBlockList(
                        b, b.getLoc(),
                        BlockListOperands{fn.getArgument(3), fn.getArgument(4),
                                          Hq, Hkv, s.listQ, s.listK,
                                          s.listMarked},
                        mask, qt, s.bk)
                  : KeySchedule::fromMask(b, b.getLoc(), mask, qt, s.bk);
}

SmallVector<Value> FlashKernelBuilder::initialState() {
  SmallVector<Value> init(oSize, zero);
  for (int64_t i = 0; i < 2 * MT; ++i)
    init.push_back(ninf);
  for (int64_t i = 0; i < 2 * MT; ++i)
    init.push_back(zero);
  return init;
}

void FlashKernelBuilder::applyScoreRule(SmallVector<SmallVector<Value>> &S,
                                        Value j0) {
  Value natural = cf(static_cast<float>(scale));
  for (int64_t mi = 0; mi < MT; ++mi)
    for (int64_t nt = 0; nt < numS; ++nt)
      for (int64_t e = 0; e < 4; ++e) {
        Value j = add(add(j0, colPair), nt * 8 + (e & 1));
        Value &x = S[mi][nt * 4 + e];
        Value logit = arith::MulFOp::create(b, x, natural);
        x = emitRule(b, b.getLoc(), *scoreRule,
                     ValueRange{logit, bIdx, h, rows[mi * 2 + e / 2], j},
                     ruleOperands);
      }
}

void FlashKernelBuilder::maskScores(SmallVector<SmallVector<Value>> &S, Value t,
                                    Value j0) {
  if (scoreRule)
    applyScoreRule(S, j0);
  SmallVector<Value> flat;
  for (auto &sm : S)
    flat.append(sm);
  // Skipped steps (block lists only) were loaded all the same and keep
  // nothing; the warp shares the duplicate test.
  Value skip;
  if (sched.canSkip()) {
    LaneSplit split{lane, 32, [&](OpBuilder &, Location, Value x) -> Value {
                      Value w = arith::ExtUIOp::create(b, i32, x);
                      for (int32_t off : {1, 2, 4, 8, 16}) {
                        auto sh = gpu::ShuffleOp::create(
                            b, w, off, 32, gpu::ShuffleMode::XOR);
                        w = arith::OrIOp::create(b, w, sh.getShuffleResult());
                      }
                      return arith::TruncIOp::create(b, b.getI1Type(), w);
                    }};
    skip = sched.skipped(b, b.getLoc(), t, &split);
  }
  Value cond = sched.masked(b, b.getLoc(), t);
  if (skip)
    cond = arith::OrIOp::create(b, cond, skip);
  auto ifMasked =
      scf::IfOp::create(b, SmallVector<Type>(flat.size(), f32), cond, true);
  {
    OpBuilder::InsertionGuard g(b);
    b.setInsertionPointToStart(&ifMasked.getThenRegion().front());
    Type i64 = b.getI64Type();
    auto asI64 = [&](Value x) {
      return arith::IndexCastUIOp::create(b, i64, x);
    };
    Value n64 = asI64(N), m64 = asI64(M);
    Value live;
    if (skip)
      live = arith::XOrIOp::create(b, skip,
                                   arith::ConstantIntOp::create(b, 1, 1));
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
          if (live)
            keep = arith::AndIOp::create(b, keep, live);
          if (mask)
            keep = arith::AndIOp::create(
                b, keep,
                mask.buildKeepAt(b, b.getLoc(), site, rows64[mi * 2 + e / 2],
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
}

FlashKernelBuilder::SoftmaxOut
FlashKernelBuilder::softmax(SmallVector<SmallVector<Value>> &S, ValueRange st) {
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
      Value none = arith::CmpFOp::create(b, arith::CmpFPredicate::OEQ, mx, ninf);
      Value mUse = arith::SelectOp::create(b, none, zero, mx);
      // With the scale folded, m is kept in raw units: exponents are
      // fma(x, scale2, -m scale2).
      Value negM = arith::NegFOp::create(
          b, foldScale ? arith::MulFOp::create(b, mUse, scale2).getResult()
                       : mUse);
      auto exponent = [&](Value x) -> Value {
        if (foldScale)
          return math::FmaOp::create(b, x, scale2, negM);
        return arith::SubFOp::create(b, x, mUse);
      };
      alpha[r] = math::Exp2Op::create(b, exponent(mOld));
      Value rowSum = zero;
      for (int64_t nt = 0; nt < numS; ++nt)
        for (int64_t e = 0; e < 2; ++e) {
          int64_t idx = nt * 4 + 2 * rr + e;
          Value x = exponent(S[mi][idx]);
          P[mi][idx] = math::Exp2Op::create(b, x);
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
}

SmallVector<Value> FlashKernelBuilder::rescaled(ValueRange O,
                                                ArrayRef<Value> alpha) {
  SmallVector<Value> out;
  for (int64_t e = 0; e < oSize; ++e) {
    int64_t mi = e / (numO * 4), rr = (e % 4) / 2;
    out.push_back(arith::MulFOp::create(b, O[e], alpha[mi * 2 + rr]));
  }
  return out;
}

void FlashKernelBuilder::yieldState(ArrayRef<Value> O, const SoftmaxOut &so) {
  SmallVector<Value> yield(O);
  yield.append(so.mNew);
  yield.append(so.lNew);
  scf::YieldOp::create(b, yield);
}

void FlashKernelBuilder::epilogue(ValueRange fin, gpu::GPUFuncOp fn) {
  Value firstOfQuad = arith::CmpIOp::create(b, arith::CmpIPredicate::eq, rem(lane, 4), c(0));
  // A fused merge reads the other part's rows first, all of them before
  // any store (a load after a store to `o` cannot be hoisted above it, so
  // interleaved they wait out one memory latency each).
  SmallVector<PriorRow> prior;
  if (s.mergePrior)
    for (int64_t r = 0; r < 2 * MT; ++r)
      prior.push_back(loadPriorRow(fn, rows[r]));
  SmallVector<Value> rowLses;
  SmallVector<SmallVector<Value>> words = outputWords(fin, prior, rowLses);
  // 16-byte stores where Dv is a multiple of 32 (outputWordsByQuad).
  const bool wide = numO % 4 == 0;
  SmallVector<SmallVector<Value>> stored;
  if (wide)
    stored = outputWordsByQuad(words);
  storeOutputRows(fn, words, stored, rowLses, firstOfQuad);
}

// Each row's lse and its out as 32-bit words (two elements each, the
// accumulator layout: columns 8 dt + 2 (lane % 4) of the row), computed by
// every lane: the quad transpose shuffles across rows a block may not
// store (rows >= N).
SmallVector<SmallVector<Value>> FlashKernelBuilder::outputWords(ValueRange fin,
                                                                ArrayRef<PriorRow> prior,
                                                                SmallVector<Value> &rowLses) {
  Value one = cf(1.0f);
  Value ln2 = cf(static_cast<float>(1.0 / kLog2e));
  auto pairTy = VectorType::get({2}, f32), eltPairTy = VectorType::get({2}, s.elt);
  SmallVector<SmallVector<Value>> words(2 * MT);
  for (int64_t mi = 0; mi < MT; ++mi)
    for (int64_t rr = 0; rr < 2; ++rr) {
      int64_t r = mi * 2 + rr;
      Value l = quadReduce<arith::AddFOp>(fin[lBase + r]);
      Value pos = arith::CmpFOp::create(b, arith::CmpFPredicate::OGT, l, zero);
      Value inv = arith::SelectOp::create(b, pos, arith::DivFOp::create(b, one, l), zero);
      // The row's lse = (m + log2 l) ln 2 in natural units (m in log2
      // units); -inf for empty rows.
      Value m = fin[mBase + r];
      if (foldScale)
        m = arith::MulFOp::create(b, m, scale2);
      Value rowLse = arith::SelectOp::create(
          b, pos,
          arith::MulFOp::create(b, arith::AddFOp::create(b, m, math::Log2Op::create(b, l)), ln2),
          ninf);
      // The accumulators' weight, and the merged part's (a fused merge).
      Value w = inv, wPrior;
      if (s.mergePrior)
        std::tie(w, wPrior, rowLse) = mergeWeights(prior[r].lse, rowLse, inv);
      rowLses.push_back(rowLse);
      Value wV = vector::BroadcastOp::create(b, pairTy, w);
      Value wPriorV = wPrior ? vector::BroadcastOp::create(b, pairTy, wPrior).getResult() : Value();
      for (int64_t dt = 0; dt < numO; ++dt) {
        int64_t base = mi * numO * 4 + dt * 4 + 2 * rr;
        Value pair = arith::MulFOp::create(
            b, vector::FromElementsOp::create(b, pairTy, ValueRange{fin[base], fin[base + 1]}),
            wV);
        if (wPrior)
          pair = vector::FMAOp::create(b, arith::ExtFOp::create(b, pairTy, prior[r].out[dt]),
                                       wPriorV, pair);
        words[r].push_back(vector::BitCastOp::create(
            b, VectorType::get({1}, i32), arith::TruncFOp::create(b, eltPairTy, pair)));
      }
    }
  return words;
}

// A 4 x 4 transpose of words within each quad (lanes 4k .. 4k + 3 share a
// row) gives lane q the 8 consecutive columns 8 (4 g + q) .. + 7 of each
// group g of 4 words, where the accumulator layout gave it 2 columns of
// each of 8: a quarter of the store instructions, each filling whole
// 32-byte sectors (4-byte stores filled half of each).
SmallVector<SmallVector<Value>>
FlashKernelBuilder::outputWordsByQuad(ArrayRef<SmallVector<Value>> words) {
  auto scalarWord = [&](Value v1) {
    return vector::ExtractOp::create(b, v1, ArrayRef<int64_t>{0}).getResult();
  };
  SmallVector<SmallVector<Value>> stored(2 * MT);
  Value q = rem(lane, 4);
  auto bit = [&](int64_t k) {
    return arith::CmpIOp::create(b, arith::CmpIPredicate::ne, arith::AndIOp::create(b, q, c(k)),
                                 c(0))
        .getResult();
  };
  Value hi = bit(2), odd = bit(1);
  auto swap = [&](Value &lo, Value &up, Value upper, int32_t mask) {
    // The lane whose bit is set keeps `up` and trades `lo`; the other
    // keeps `lo` and trades `up`.
    Value send = arith::SelectOp::create(b, upper, lo, up);
    Value got =
        gpu::ShuffleOp::create(b, send, mask, 32, gpu::ShuffleMode::XOR).getShuffleResult();
    lo = arith::SelectOp::create(b, upper, got, lo);
    up = arith::SelectOp::create(b, upper, up, got);
  };
  for (int64_t r = 0; r < 2 * MT; ++r)
    for (int64_t g = 0; g < numO / 4; ++g) {
      SmallVector<Value> w4;
      for (int64_t j = 0; j < 4; ++j)
        w4.push_back(scalarWord(words[r][4 * g + j]));
      swap(w4[0], w4[2], hi, 2); // the off-diagonal 2 x 2 blocks
      swap(w4[1], w4[3], hi, 2);
      swap(w4[0], w4[1], odd, 1); // then within each block
      swap(w4[2], w4[3], odd, 1);
      stored[r].push_back(
          vector::BitCastOp::create(b, VectorType::get({8}, s.elt),
                                    vector::FromElementsOp::create(b, VectorType::get({4}, i32), w4)));
    }
  return stored;
}

// Rows < N: out from `stored` (16-byte groups) or `words` (4-byte pairs),
// and the lse from the first lane of each quad.
void FlashKernelBuilder::storeOutputRows(gpu::GPUFuncOp fn, ArrayRef<SmallVector<Value>> words,
                                         ArrayRef<SmallVector<Value>> stored,
                                         ArrayRef<Value> rowLses, Value firstOfQuad) {
  Value o = fn.getArgument(s.outArg());
  Value lse = s.hasLse ? fn.getArgument(s.outArg() + 1) : Value();
  auto eltPairTy = VectorType::get({2}, s.elt);
  for (int64_t r = 0; r < 2 * MT; ++r) {
    Value inside = arith::CmpIOp::create(b, arith::CmpIPredicate::ult, rows[r], N);
    auto ifIn = scf::IfOp::create(b, inside, false);
    OpBuilder::InsertionGuard g(b);
    b.setInsertionPointToStart(&ifIn.getThenRegion().front());
    // Gathered rows: routed row r is row perm[b, h, r] of out.
    Value row = rows[r];
    if (s.gatherRows)
      row = arith::IndexCastOp::create(
          b, b.getIndexType(),
          memref::LoadOp::create(b, fn.getArgument(s.rowsArg()), ValueRange{bIdx, h, rows[r]}));
    if (!stored.empty()) {
      Value col = mul(rem(lane, 4), 8);
      for (int64_t grp = 0; grp < numO / 4; ++grp) {
        auto store = vector::StoreOp::create(b, stored[r][grp], o,
                                             ValueRange{bIdx, h, row, add(col, grp * 32)});
        store.setAlignment(uint64_t(16));
      }
    } else {
      for (int64_t dt = 0; dt < numO; ++dt) {
        auto store =
            vector::StoreOp::create(b, vector::BitCastOp::create(b, eltPairTy, words[r][dt]), o,
                                    ValueRange{bIdx, h, row, add(colPair, dt * 8)});
        store.setAlignment(uint64_t(4));
      }
    }
    if (lse) {
      auto ifFirst = scf::IfOp::create(b, firstOfQuad, false);
      OpBuilder::InsertionGuard g2(b);
      b.setInsertionPointToStart(&ifFirst.getThenRegion().front());
      memref::StoreOp::create(b, rowLses[r], lse, ValueRange{bIdx, h, row});
    }
  }
}

/// The other part's lse and this thread's out pairs of `row` (row N - 1
/// for rows past N, whose results are not stored: N >= 1 where a tile
/// runs).
FlashKernelBuilder::PriorRow FlashKernelBuilder::loadPriorRow(gpu::GPUFuncOp fn, Value row) {
  Value at = arith::MinUIOp::create(b, row, arith::SubIOp::create(b, N, c(1)));
  PriorRow p;
  p.lse = memref::LoadOp::create(b, fn.getArgument(s.priorArg() + 1), ValueRange{bIdx, h, at});
  for (int64_t dt = 0; dt < numO; ++dt) {
    auto pair = vector::LoadOp::create(b, VectorType::get({2}, s.elt),
                                       fn.getArgument(s.priorArg()),
                                       ValueRange{bIdx, h, at, add(colPair, dt * 8)});
    pair.setAlignment(uint64_t(4));
    p.out.push_back(pair);
  }
  return p;
}

/// A fused attn.merge (shared/patterns.md A10) of this row (lse `rowLse`,
/// accumulators times `inv` = its out) with the other part's row (lse
/// `priorLse`): the weights of the accumulators and of the other part's
/// out, and the merged lse.
/// A row both parts leave empty gets weights 0 and lse -inf, never NaN.
std::tuple<Value, Value, Value> FlashKernelBuilder::mergeWeights(Value priorLse, Value rowLse,
                                                                 Value inv) {
  Value top = arith::MaximumFOp::create(b, priorLse, rowLse);
  Value empty = arith::CmpFOp::create(b, arith::CmpFPredicate::OEQ, top, ninf);
  top = arith::SelectOp::create(b, empty, zero, top);
  Value log2e = cf(static_cast<float>(kLog2e));
  auto weight = [&](Value x) { // e^{x - top}: 0 for x = -inf
    return math::Exp2Op::create(b, arith::MulFOp::create(b, arith::SubFOp::create(b, x, top),
                                                         log2e));
  };
  Value ePrior = weight(priorLse), eRow = weight(rowLse);
  Value sum = arith::AddFOp::create(b, ePrior, eRow);
  Value invSum = arith::SelectOp::create(b, empty, zero,
                                         arith::DivFOp::create(b, cf(1.0f), sum));
  Value merged = arith::SelectOp::create(
      b, empty, ninf,
      arith::AddFOp::create(
          b, top,
          arith::MulFOp::create(b, math::Log2Op::create(b, sum),
                                cf(static_cast<float>(1.0 / kLog2e)))));
  return {arith::MulFOp::create(b, arith::MulFOp::create(b, eRow, invSum), inv),
          arith::MulFOp::create(b, ePrior, invSum), merged};
}
