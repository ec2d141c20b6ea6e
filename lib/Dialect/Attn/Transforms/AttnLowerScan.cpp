//===- AttnLowerScan.cpp - attn.scan as a chunked scan on the CPU ---------===//
//
// Three parallel loops over buffers (docs/design/recurrent.md):
//  1. each chunk of `chunk` tokens of a (b, h) row is folded from its left
//     into its total (every chunk but the last);
//  2. per row, the totals are scanned in place (one combine per chunk);
//  3. each chunk is folded again from the carry (the total before it) and
//     every prefix written through the result region.
// 2N combines, parallel over (b, h, chunk) and over slices of w features:
// the regions are inlined in vector mode (RuleEmitter), a value per token
// broadcast along the features. No identity element is needed: a fold
// starts from its chunk's first leaf.
//
//===----------------------------------------------------------------------===//

#include "attnir/Dialect/Attn/IR/AttnOps.h"
#include "attnir/Dialect/Attn/Transforms/Passes.h"
#include "attnir/Dialect/Attn/Utils/BuildHelpers.h"
#include "attnir/Dialect/Attn/Utils/LoopLowering.h"
#include "attnir/Dialect/Attn/Utils/ScanBuilders.h"
#include "mlir/Dialect/Vector/IR/VectorOps.h"
#include "mlir/IR/PatternMatch.h"

namespace mlir::attn {
#define GEN_PASS_DEF_ATTNLOWERSCAN
#include "attnir/Dialect/Attn/Transforms/Passes.h.inc"
} // namespace mlir::attn

using namespace mlir;
using namespace mlir::attn;

namespace {

/// The chunk totals [B, H, chunks - 1, S * F] f32 of one scan.
struct Totals {
  Value buf;
  int64_t F, w;
  unsigned S;

  Value at(OpBuilder &b, Location l, unsigned k, Value f0) const {
    return arith::AddIOp::create(b, l, cIdx(b, l, k * F), f0);
  }
  SmallVector<Value> load(OpBuilder &b, Location l, Value bi, Value h, Value c,
                          Value f0) const {
    SmallVector<Value> out;
    for (unsigned k = 0; k < S; ++k) {
      SmallVector<Value> idx{bi, h, c, at(b, l, k, f0)};
      out.push_back(w ? vector::LoadOp::create(
                            b, l, VectorType::get({w}, b.getF32Type()), buf, idx)
                            .getResult()
                      : memref::LoadOp::create(b, l, buf, idx).getResult());
    }
    return out;
  }
  void store(OpBuilder &b, Location l, ValueRange vals, Value bi, Value h,
             Value c, Value f0) const {
    for (unsigned k = 0; k < S; ++k) {
      SmallVector<Value> idx{bi, h, c, at(b, l, k, f0)};
      if (w)
        vector::StoreOp::create(b, l, vals[k], buf, idx);
      else
        memref::StoreOp::create(b, l, vals[k], buf, idx);
    }
  }
};

/// Lanes per slice of F features: the widest of 16, 8, 4, 2 dividing F;
/// 0 (scalars) for F = 1.
int64_t sliceWidth(int64_t F) {
  for (int64_t w : {16, 8, 4, 2})
    if (F % w == 0)
      return w;
  return F == 1 ? 0 : 1;
}

void lowerScan(RewriterBase &rw, ScanOp op, int64_t chunk) {
  Location loc = op.getLoc();
  rw.setInsertionPoint(op);
  int64_t F = op.getNumFeatures(), w = sliceWidth(F);
  SmallVector<Value> xs, ys;
  for (Value x : op.getInputs())
    xs.push_back(readBuffer(rw, loc, x));
  Value B = dimOf(rw, loc, xs[0], 0), H = dimOf(rw, loc, xs[0], 1),
        N = dimOf(rw, loc, xs[0], 2);
  SmallVector<Value> dims{B, H, N, cIdx(rw, loc, F)};
  for (Value y : op.getResults())
    ys.push_back(allocFor(rw, loc, y.getType(), dims));
  ScanSite s(op, w, xs, ys);
  // A segmented scan's chunks are whole segments: no carries between them.
  if (s.segment)
    chunk = s.segment * std::max<int64_t>(1, chunk / s.segment);
  Value C = cIdx(rw, loc, chunk), one = cIdx(rw, loc, 1);
  Value chunks = arith::CeilDivUIOp::create(rw, loc, N, C);
  // Totals of every chunk but the last (max(chunks - 1, 0) of them).
  Value inner = s.segment ? cIdx(rw, loc, 0)
                          : arith::MaxSIOp::create(
                                rw, loc, arith::SubIOp::create(rw, loc, chunks, one),
                                cIdx(rw, loc, 0))
                                .getResult();
  Totals tot{Value(), F, w, op.getNumState()};
  auto totalsType = MemRefType::get(
      {ShapedType::kDynamic, ShapedType::kDynamic, ShapedType::kDynamic,
       static_cast<int64_t>(tot.S) * F},
      rw.getF32Type());
  tot.buf = memref::AllocOp::create(rw, loc, totalsType, ValueRange{B, H, inner});
  Value slices = cIdx(rw, loc, w ? F / w : 1);
  Value lanes = cIdx(rw, loc, std::max<int64_t>(w, 1));
  auto chunkStart = [&](OpBuilder &b, Location l, Value c) {
    return arith::MulIOp::create(b, l, c, C).getResult();
  };
  auto chunkEnd = [&](OpBuilder &b, Location l, Value c) {
    return arith::MinUIOp::create(
               b, l, arith::AddIOp::create(b, l, chunkStart(b, l, c), C), N)
        .getResult();
  };
  auto next = [&](OpBuilder &b, Location l, Value t) {
    return arith::AddIOp::create(b, l, t, cIdx(b, l, 1)).getResult();
  };
  // 1. Chunk totals; 2. the totals scanned in place per row (totals[c] =
  // totals[0..c] combined). A segmented scan has no carries: neither.
  if (!s.segment) {
    parallelRows(rw, loc, {B, H, inner, slices},
                 [&](OpBuilder &b, Location l, ValueRange iv) {
      Value f0 = arith::MulIOp::create(b, l, iv[3], lanes);
      Value t0 = chunkStart(b, l, iv[2]);
      tot.store(b, l,
                s.fold(b, l, iv[0], iv[1], next(b, l, t0), chunkEnd(b, l, iv[2]),
                       f0, s.leaf(b, l, iv[0], iv[1], t0, f0)),
                iv[0], iv[1], iv[2], f0);
    });
    parallelRows(rw, loc, {B, H, slices},
                 [&](OpBuilder &b, Location l, ValueRange iv) {
      Value f0 = arith::MulIOp::create(b, l, iv[2], lanes);
      forEach(b, l, one, inner, [&](OpBuilder &fb, Location fl, Value c) {
        Value prev = arith::SubIOp::create(fb, fl, c, cIdx(fb, fl, 1));
        tot.store(fb, fl,
                  s.combine(fb, fl, tot.load(fb, fl, iv[0], iv[1], prev, f0),
                            tot.load(fb, fl, iv[0], iv[1], c, f0)),
                  iv[0], iv[1], c, f0);
      });
    });
  }
  // 3. Each chunk from its carry, every prefix written.
  parallelRows(rw, loc, {B, H, chunks, slices},
               [&](OpBuilder &b, Location l, ValueRange iv) {
    Value bi = iv[0], h = iv[1], c = iv[2];
    Value f0 = arith::MulIOp::create(b, l, iv[3], lanes);
    Value t0 = chunkStart(b, l, c);
    SmallVector<Value> first = s.leaf(b, l, bi, h, t0, f0);
    SmallVector<Value> acc = first;
    // A chunk after the first starts from its carry (never when segmented:
    // every chunk starts a segment).
    if (!s.segment) {
      Value hasCarry = arith::CmpIOp::create(b, l, arith::CmpIPredicate::ugt, c,
                                             cIdx(b, l, 0));
      SmallVector<Type> types(tot.S, s.valueType(b));
      auto start = scf::IfOp::create(b, l, types, hasCarry,
                                     /*withElseRegion=*/true);
      OpBuilder tb = start.getThenBodyBuilder();
      Value prev = arith::SubIOp::create(tb, l, c, cIdx(tb, l, 1));
      scf::YieldOp::create(
          tb, l, s.combine(tb, l, tot.load(tb, l, bi, h, prev, f0), first));
      OpBuilder eb = start.getElseBodyBuilder();
      scf::YieldOp::create(eb, l, first);
      acc = SmallVector<Value>(start.getResults());
    }
    s.write(b, l, acc, bi, h, t0, f0);
    s.scanWriting(b, l, bi, h, next(b, l, t0), chunkEnd(b, l, c), f0, acc);
  });
  memref::DeallocOp::create(rw, loc, tot.buf);
  SmallVector<Value> results;
  for (auto [y, buf] : llvm::zip(op.getResults(), ys))
    results.push_back(asTensor(rw, loc, y.getType(), buf));
  rw.replaceOp(op, results);
  for (auto [t, buf] : llvm::zip(results, ys))
    freeUnlessReturned(rw, t, buf);
}

struct AttnLowerScanPass
    : public attn::impl::AttnLowerScanBase<AttnLowerScanPass> {
  using AttnLowerScanBase::AttnLowerScanBase;
  void runOnOperation() override {
    if (chunk < 1 || chunk > (int64_t(1) << 20)) {
      getOperation().emitError("attn-lower-scan: chunk must be 1..2^20");
      return signalPassFailure();
    }
    SmallVector<ScanOp> ops;
    getOperation().walk([&](ScanOp op) { ops.push_back(op); });
    IRRewriter rw(&getContext());
    for (ScanOp op : ops)
      lowerScan(rw, op, chunk);
  }
};

} // namespace
