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
#include "attnir/Dialect/Attn/Utils/RuleEmitter.h"
#include "mlir/Dialect/Vector/IR/VectorOps.h"
#include "mlir/IR/PatternMatch.h"

namespace mlir::attn {
#define GEN_PASS_DEF_ATTNLOWERSCAN
#include "attnir/Dialect/Attn/Transforms/Passes.h.inc"
} // namespace mlir::attn

using namespace mlir;
using namespace mlir::attn;

namespace {

/// One scan's buffers and sizes, and how to read, combine and write it.
struct ScanLowering {
  mutable ScanOp op;
  int64_t F, w; // features; lanes per slice (0: scalars, F = 1)
  unsigned S;
  SmallVector<Value> xs, ys;
  Value B, H, N, totals; // totals [B, H, chunks, S * F] f32

  Type f32Of(OpBuilder &b) const {
    return w ? Type(VectorType::get({w}, b.getF32Type())) : b.getF32Type();
  }

  /// Input n at token t, features [f0, f0 + w) (one value broadcast by the
  /// region emitter when the input has a value per token), in f32.
  Value input(OpBuilder &b, Location l, unsigned n, Value bi, Value h, Value t,
              Value f0) const {
    auto mt = cast<MemRefType>(xs[n].getType());
    Type elt = mt.getElementType();
    bool perFeature = mt.getRank() == 4 && mt.getDimSize(3) == F && F > 1;
    Value v;
    if (perFeature) {
      v = vector::LoadOp::create(b, l, VectorType::get({w}, elt), xs[n],
                                 ValueRange{bi, h, t, f0});
      if (!elt.isF32())
        v = arith::ExtFOp::create(b, l, VectorType::get({w}, b.getF32Type()), v);
      return v;
    }
    SmallVector<Value> at{bi, h, t};
    if (mt.getRank() == 4)
      at.push_back(cIdx(b, l, 0));
    return toF32(b, l, memref::LoadOp::create(b, l, xs[n], at));
  }

  SmallVector<Value> leaf(OpBuilder &b, Location l, Value bi, Value h, Value t,
                          Value f0) const {
    SmallVector<Value> in;
    for (unsigned n = 0; n < xs.size(); ++n)
      in.push_back(input(b, l, n, bi, h, t, f0));
    if (op.getLeaf().empty())
      return broadcastAll(b, l, in);
    return emitRegion(b, l, op.getLeaf(), in, RuleOperands(), w);
  }

  /// Inputs taken as the state directly: every component in lanes.
  SmallVector<Value> broadcastAll(OpBuilder &b, Location l,
                                  SmallVector<Value> vals) const {
    if (w)
      for (Value &v : vals)
        if (!isa<VectorType>(v.getType()))
          v = vector::BroadcastOp::create(b, l, f32Of(b), v);
    return vals;
  }

  SmallVector<Value> combine(OpBuilder &b, Location l, ValueRange a,
                             ValueRange c) const {
    SmallVector<Value> args(a);
    llvm::append_range(args, c);
    return emitRegion(b, l, op.getCombine(), args, RuleOperands(), w);
  }

  /// Fold tokens [t0 + 1, t1) into `acc`.
  SmallVector<Value> fold(OpBuilder &b, Location l, Value bi, Value h, Value t0,
                          Value t1, Value f0, SmallVector<Value> acc) const {
    auto loop = scf::ForOp::create(
        b, l, arith::AddIOp::create(b, l, t0, cIdx(b, l, 1)), t1, cIdx(b, l, 1),
        acc, [&](OpBuilder &fb, Location fl, Value t, ValueRange cur) {
          scf::YieldOp::create(fb, fl,
                               combine(fb, fl, cur, leaf(fb, fl, bi, h, t, f0)));
        });
    return SmallVector<Value>(loop.getResults());
  }

  /// totals[bi, h, c, k * F + f0 ...] for component k.
  Value total(OpBuilder &b, Location l, Value bi, Value h, Value c, unsigned k,
              Value f0) const {
    Value at = arith::AddIOp::create(b, l, cIdx(b, l, k * F), f0);
    if (w)
      return vector::LoadOp::create(b, l, cast<VectorType>(f32Of(b)), totals,
                                    ValueRange{bi, h, c, at});
    return memref::LoadOp::create(b, l, totals, ValueRange{bi, h, c, at});
  }
  void setTotal(OpBuilder &b, Location l, Value v, Value bi, Value h, Value c,
                unsigned k, Value f0) const {
    Value at = arith::AddIOp::create(b, l, cIdx(b, l, k * F), f0);
    if (w)
      vector::StoreOp::create(b, l, v, totals, ValueRange{bi, h, c, at});
    else
      memref::StoreOp::create(b, l, v, totals, ValueRange{bi, h, c, at});
  }

  /// The results of prefix `acc` at token t.
  void write(OpBuilder &b, Location l, ValueRange acc, Value bi, Value h,
             Value t, Value f0) const {
    SmallVector<Value> vals =
        op.getFinalize().empty()
            ? SmallVector<Value>(acc)
            : emitRegion(b, l, op.getFinalize(), acc, RuleOperands(), w);
    vals = broadcastAll(b, l, vals);
    for (auto [v, y] : llvm::zip(vals, ys)) {
      auto mt = cast<MemRefType>(y.getType());
      Type elt = mt.getElementType();
      SmallVector<Value> at{bi, h, t};
      if (mt.getRank() == 4)
        at.push_back(f0);
      if (w) {
        Value o = elt.isF32() ? v
                              : arith::TruncFOp::create(
                                    b, l, VectorType::get({w}, elt), v);
        vector::StoreOp::create(b, l, o, y, at);
      } else {
        memref::StoreOp::create(b, l, fromF32(b, l, v, elt), y, at);
      }
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
  ScanLowering s;
  s.op = op;
  s.F = op.getNumFeatures();
  s.w = sliceWidth(s.F);
  s.S = op.getNumState();
  for (Value x : op.getInputs())
    s.xs.push_back(readBuffer(rw, loc, x));
  s.B = dimOf(rw, loc, s.xs[0], 0);
  s.H = dimOf(rw, loc, s.xs[0], 1);
  s.N = dimOf(rw, loc, s.xs[0], 2);
  SmallVector<Value> dims{s.B, s.H, s.N, cIdx(rw, loc, s.F)};
  for (Value y : op.getResults())
    s.ys.push_back(allocFor(rw, loc, y.getType(), dims));
  Value C = cIdx(rw, loc, chunk), one = cIdx(rw, loc, 1);
  Value chunks = arith::CeilDivUIOp::create(rw, loc, s.N, C);
  // Totals of every chunk but the last (max(chunks - 1, 0) of them).
  Value inner = arith::MaxSIOp::create(
      rw, loc, arith::SubIOp::create(rw, loc, chunks, one), cIdx(rw, loc, 0));
  auto totalsType = MemRefType::get(
      {ShapedType::kDynamic, ShapedType::kDynamic, ShapedType::kDynamic,
       static_cast<int64_t>(s.S) * s.F},
      rw.getF32Type());
  s.totals = memref::AllocOp::create(rw, loc, totalsType,
                                     ValueRange{s.B, s.H, inner});
  Value slices = cIdx(rw, loc, s.w ? s.F / s.w : 1);
  Value lanes = cIdx(rw, loc, std::max<int64_t>(s.w, 1));
  auto chunkStart = [&](OpBuilder &b, Location l, Value c) {
    return arith::MulIOp::create(b, l, c, C).getResult();
  };
  auto chunkEnd = [&](OpBuilder &b, Location l, Value c) {
    return arith::MinUIOp::create(
               b, l, arith::AddIOp::create(b, l, chunkStart(b, l, c), C), s.N)
        .getResult();
  };
  // 1. Chunk totals.
  parallelRows(rw, loc, {s.B, s.H, inner, slices},
               [&](OpBuilder &b, Location l, ValueRange iv) {
    Value f0 = arith::MulIOp::create(b, l, iv[3], lanes);
    Value t0 = chunkStart(b, l, iv[2]);
    SmallVector<Value> acc =
        s.fold(b, l, iv[0], iv[1], t0, chunkEnd(b, l, iv[2]), f0,
               s.leaf(b, l, iv[0], iv[1], t0, f0));
    for (unsigned k = 0; k < s.S; ++k)
      s.setTotal(b, l, acc[k], iv[0], iv[1], iv[2], k, f0);
  });
  // 2. The totals scanned in place: totals[c] = totals[0..c] combined.
  parallelRows(rw, loc, {s.B, s.H, slices},
               [&](OpBuilder &b, Location l, ValueRange iv) {
    Value f0 = arith::MulIOp::create(b, l, iv[2], lanes);
    forEach(b, l, one, inner, [&](OpBuilder &fb, Location fl, Value c) {
      Value prev = arith::SubIOp::create(fb, fl, c, cIdx(fb, fl, 1));
      SmallVector<Value> a, cur;
      for (unsigned k = 0; k < s.S; ++k) {
        a.push_back(s.total(fb, fl, iv[0], iv[1], prev, k, f0));
        cur.push_back(s.total(fb, fl, iv[0], iv[1], c, k, f0));
      }
      SmallVector<Value> sum = s.combine(fb, fl, a, cur);
      for (unsigned k = 0; k < s.S; ++k)
        s.setTotal(fb, fl, sum[k], iv[0], iv[1], c, k, f0);
    });
  });
  // 3. Each chunk from its carry, every prefix written.
  parallelRows(rw, loc, {s.B, s.H, chunks, slices},
               [&](OpBuilder &b, Location l, ValueRange iv) {
    Value bi = iv[0], h = iv[1], c = iv[2];
    Value f0 = arith::MulIOp::create(b, l, iv[3], lanes);
    Value t0 = chunkStart(b, l, c);
    SmallVector<Value> first = s.leaf(b, l, bi, h, t0, f0);
    Value hasCarry = arith::CmpIOp::create(b, l, arith::CmpIPredicate::ugt, c,
                                           cIdx(b, l, 0));
    SmallVector<Type> types(s.S, s.f32Of(b));
    auto start = scf::IfOp::create(
        b, l, types, hasCarry, /*withElseRegion=*/true);
    {
      OpBuilder tb = start.getThenBodyBuilder();
      Value prev = arith::SubIOp::create(tb, l, c, cIdx(tb, l, 1));
      SmallVector<Value> carry;
      for (unsigned k = 0; k < s.S; ++k)
        carry.push_back(s.total(tb, l, bi, h, prev, k, f0));
      scf::YieldOp::create(tb, l, s.combine(tb, l, carry, first));
      OpBuilder eb = start.getElseBodyBuilder();
      scf::YieldOp::create(eb, l, first);
    }
    SmallVector<Value> acc(start.getResults());
    s.write(b, l, acc, bi, h, t0, f0);
    auto loop = scf::ForOp::create(
        b, l, arith::AddIOp::create(b, l, t0, cIdx(b, l, 1)),
        chunkEnd(b, l, c), cIdx(b, l, 1), acc,
        [&](OpBuilder &fb, Location fl, Value t, ValueRange cur) {
          SmallVector<Value> next =
              s.combine(fb, fl, cur, s.leaf(fb, fl, bi, h, t, f0));
          s.write(fb, fl, next, bi, h, t, f0);
          scf::YieldOp::create(fb, fl, next);
        });
    (void)loop;
  });
  memref::DeallocOp::create(rw, loc, s.totals);
  SmallVector<Value> results;
  for (auto [y, buf] : llvm::zip(op.getResults(), s.ys))
    results.push_back(asTensor(rw, loc, y.getType(), buf));
  rw.replaceOp(op, results);
  for (auto [t, buf] : llvm::zip(results, s.ys))
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
