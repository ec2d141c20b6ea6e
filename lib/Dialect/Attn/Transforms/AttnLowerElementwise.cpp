//===- AttnLowerElementwise.cpp - upstream elementwise ops to loops -------===//
//
// arith's float binary ops and linalg.broadcast on tensors in a program
// (UpstreamOps.cpp) become an scf.parallel over the result's elements on a
// buffer of their own, freed before the return unless the entry returns
// it: upstream's bufferization of such ops allocates and never frees (a
// leak per call that LeakSanitizer found in examples/nsa.mlir). The element
// body is the GPU step's (Utils/ElementwiseBuilders.h).
//
//===----------------------------------------------------------------------===//

#include "attnir/Dialect/Attn/IR/AttnOps.h"
#include "attnir/Dialect/Attn/Transforms/Passes.h"
#include "attnir/Dialect/Attn/Utils/BuildHelpers.h"
#include "attnir/Dialect/Attn/Utils/ElementwiseBuilders.h"
#include "attnir/Dialect/Attn/Utils/LoopLowering.h"
#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/IR/PatternMatch.h"

namespace mlir::attn {
#define GEN_PASS_DEF_ATTNLOWERELEMENTWISE
#include "attnir/Dialect/Attn/Transforms/Passes.h.inc"
} // namespace mlir::attn

using namespace mlir;
using namespace mlir::attn;

namespace {

void lowerElementwise(RewriterBase &rw, Operation *op) {
  Location loc = op->getLoc();
  rw.setInsertionPoint(op);
  llvm::DenseMap<Value, Value> buffers;
  for (Value operand : op->getOperands())
    buffers[operand] = readBuffer(rw, loc, operand);
  Value result = op->getResult(0);
  auto type = cast<RankedTensorType>(result.getType());
  // The result's shape is its first operand's (arith) or the init's
  // (broadcast: the last operand).
  Value shapeOf = buffers[isa<linalg::BroadcastOp>(op) ? op->getOperands().back()
                                                        : op->getOperand(0)];
  SmallVector<Value> dims;
  for (int64_t d = 0; d < type.getRank(); ++d)
    dims.push_back(dimOf(rw, loc, shapeOf, d));
  Value out = allocFor(rw, loc, type, dims);
  buffers[result] = out;
  auto arg = [&](Value v) { return buffers.lookup(v); };
  if (dims.empty())
    buildElementwiseAt(rw, loc, op, arg, {});
  else
    parallelRows(rw, loc, dims, [&](OpBuilder &b, Location l, ValueRange at) {
      buildElementwiseAt(b, l, op, arg, SmallVector<Value>(at));
    });
  Value tensor = asTensor(rw, loc, type, out);
  rw.replaceOp(op, tensor);
  freeUnlessReturned(rw, tensor, out);
}

struct AttnLowerElementwisePass
    : public attn::impl::AttnLowerElementwiseBase<AttnLowerElementwisePass> {
  void runOnOperation() override {
    SmallVector<Operation *> ops;
    getOperation().walk([&](Operation *op) {
      if (isElementwiseStep(op) && op->getParentOp() == getOperation().getOperation())
        ops.push_back(op);
    });
    IRRewriter rw(&getContext());
    for (Operation *op : ops)
      lowerElementwise(rw, op);
  }
};

} // namespace
