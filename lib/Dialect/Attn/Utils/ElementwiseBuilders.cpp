//===- ElementwiseBuilders.cpp - a program's upstream elementwise ops -----===//
//
// One result element of arith's float binary ops on equal shapes and of
// linalg.broadcast (UpstreamOps.cpp): the operands' elements read, the op
// applied to scalars in f32 (16-bit floats widened) and the result stored.
// The CPU runs it in loops over the elements, the GPU a thread per element.
//
//===----------------------------------------------------------------------===//

#include "attnir/Dialect/Attn/Utils/ElementwiseBuilders.h"
#include "attnir/Dialect/Attn/Utils/BuildHelpers.h"
#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"

using namespace mlir;

bool mlir::attn::isElementwiseStep(Operation *op) {
  auto t = op->getNumResults() == 1
               ? dyn_cast<RankedTensorType>(op->getResult(0).getType())
               : RankedTensorType();
  if (!t || t.getRank() > 4)
    return false;
  return isa<arith::AddFOp, arith::SubFOp, arith::MulFOp, arith::DivFOp,
             arith::MaximumFOp, arith::MinimumFOp, linalg::BroadcastOp>(op);
}

void mlir::attn::buildElementwiseAt(OpBuilder &b, Location loc,
                                          Operation *op,
                                          function_ref<Value(Value)> arg,
                                          ArrayRef<Value> at) {
  Value out = arg(op->getResult(0));
  Type elt = cast<MemRefType>(out.getType()).getElementType();
  if (auto bc = dyn_cast<linalg::BroadcastOp>(op)) {
    // The input's index: the result's without the added dimensions.
    SmallVector<Value> from;
    for (auto [d, v] : llvm::enumerate(at))
      if (!llvm::is_contained(bc.getDimensions(), static_cast<int64_t>(d)))
        from.push_back(v);
    Value x = memref::LoadOp::create(b, loc, arg(bc.getInput()), from);
    if (x.getType() != elt)
      x = fromF32(b, loc, toF32(b, loc, x), elt);
    memref::StoreOp::create(b, loc, x, out, at);
    return;
  }
  Type f32 = b.getF32Type();
  SmallVector<Value> scalars;
  for (Value operand : op->getOperands())
    scalars.push_back(
        toF32(b, loc, memref::LoadOp::create(b, loc, arg(operand), at)));
  OperationState state(loc, op->getName());
  state.addOperands(scalars);
  state.addTypes(f32);
  state.addAttributes(op->getAttrs()); // fastmath flags
  Value r = b.create(state)->getResult(0);
  memref::StoreOp::create(b, loc, fromF32(b, loc, r, elt), out, at);
}
