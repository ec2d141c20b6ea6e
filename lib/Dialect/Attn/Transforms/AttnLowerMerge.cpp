//===- AttnLowerMerge.cpp - attn.merge to loops ----------------------------===//
//
// A parallel task per row (b, h, i) merges the parts' lse (Utils/
// MergeBuilders.h, shared with the GPU kernel) and then runs over the
// features, each the weighted sum of the parts' outputs. The results are
// tensors again, as attn-lower-select makes them.
//
//===----------------------------------------------------------------------===//

#include "attnir/Dialect/Attn/IR/AttnOps.h"
#include "attnir/Dialect/Attn/Transforms/Passes.h"
#include "attnir/Dialect/Attn/Utils/BuildHelpers.h"
#include "attnir/Dialect/Attn/Utils/LoopLowering.h"
#include "attnir/Dialect/Attn/Utils/MergeBuilders.h"
#include "mlir/IR/PatternMatch.h"

namespace mlir::attn {
#define GEN_PASS_DEF_ATTNLOWERMERGE
#include "attnir/Dialect/Attn/Transforms/Passes.h.inc"
} // namespace mlir::attn

using namespace mlir;
using namespace mlir::attn;

namespace {

void lowerMerge(RewriterBase &rw, MergeOp op) {
  Location loc = op.getLoc();
  rw.setInsertionPoint(op);
  SmallVector<Value> outs, lses, nums, dens;
  for (unsigned r = 0; r < op.getNumPairs(); ++r) {
    outs.push_back(readBuffer(rw, loc, op.getPartOut(r)));
    lses.push_back(readBuffer(rw, loc, op.getPartLse(r)));
  }
  for (unsigned u = 0; u < op.getNumTerms(); ++u) {
    nums.push_back(readBuffer(rw, loc, op.getTermNum(u)));
    dens.push_back(readBuffer(rw, loc, op.getTermDen(u)));
  }
  SmallVector<Value> dims;
  for (int64_t d = 0; d < 4; ++d)
    dims.push_back(dimOf(rw, loc, outs[0], d));
  Value out = allocFor(rw, loc, op.getOut().getType(), dims);
  Value lse = allocFor(rw, loc, op.getLse().getType(), ArrayRef(dims).take_front(3));
  Type elt = op.getOut().getType().getElementType();
  parallelRows(rw, loc, ArrayRef(dims).take_front(3),
               [&](OpBuilder &b, Location l, ValueRange row) {
    SmallVector<Value> at(row);
    SmallVector<Value> rowLse;
    SmallVector<MergeTerm> terms;
    for (Value buf : lses)
      rowLse.push_back(memref::LoadOp::create(b, l, buf, at));
    // A term's lse is log den, once per row; its output num / den per
    // feature below.
    for (Value buf : dens) {
      SmallVector<Value> atD(at);
      if (cast<MemRefType>(buf.getType()).getRank() == 4)
        atD.push_back(cIdx(b, l, 0));
      terms.push_back(
          buildMergeTerm(b, l, toF32(b, l, memref::LoadOp::create(b, l, buf, atD))));
      rowLse.push_back(terms.back().lse);
    }
    MergedRow m = buildMergedRow(b, l, rowLse);
    memref::StoreOp::create(b, l, m.lse, lse, at);
    forEach(b, l, cIdx(b, l, 0), dims[3], [&](OpBuilder &fb, Location fl, Value e) {
      SmallVector<Value> ate(at);
      ate.push_back(e);
      SmallVector<Value> vals;
      for (Value buf : outs)
        vals.push_back(toF32(fb, fl, memref::LoadOp::create(fb, fl, buf, ate)));
      for (auto [buf, term] : llvm::zip(nums, terms))
        vals.push_back(buildTermOut(
            fb, fl, term, toF32(fb, fl, memref::LoadOp::create(fb, fl, buf, ate))));
      memref::StoreOp::create(fb, fl, fromF32(fb, fl, buildMergedOut(fb, fl, m, vals), elt),
                              out, ate);
    });
  });
  Value outT = asTensor(rw, loc, op.getOut().getType(), out);
  Value lseT = asTensor(rw, loc, op.getLse().getType(), lse);
  rw.replaceOp(op, {outT, lseT});
  freeUnlessReturned(rw, outT, out);
  freeUnlessReturned(rw, lseT, lse);
}

struct AttnLowerMergePass
    : public attn::impl::AttnLowerMergeBase<AttnLowerMergePass> {
  void runOnOperation() override {
    SmallVector<MergeOp> ops;
    getOperation().walk([&](MergeOp op) { ops.push_back(op); });
    IRRewriter rw(&getContext());
    for (MergeOp op : ops)
      lowerMerge(rw, op);
  }
};

} // namespace
