//===- LoopLowering.cpp - an op on tensors as loops on buffers ------------===//

#include "attnir/Dialect/Attn/Utils/LoopLowering.h"
#include "attnir/Dialect/Attn/Utils/BuildHelpers.h"
#include "mlir/Dialect/Bufferization/IR/Bufferization.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "mlir/Dialect/SCF/IR/SCF.h"

using namespace mlir;

Value mlir::attn::allocFor(OpBuilder &b, Location loc, Type ty, ArrayRef<Value> dims) {
  auto tt = cast<RankedTensorType>(ty);
  auto mt = MemRefType::get(tt.getShape(), tt.getElementType());
  return memref::AllocOp::create(b, loc, mt, dynamicSizes(mt, dims));
}

Value mlir::attn::asTensor(OpBuilder &b, Location loc, Type ty, Value buf) {
  return bufferization::ToTensorOp::create(b, loc, ty, buf, /*restrict=*/true,
                                           /*writable=*/true);
}

void mlir::attn::freeUnlessReturned(OpBuilder &b, Value tensor, Value buf) {
  Operation *ret = tensor.getParentBlock()->getTerminator();
  if (llvm::is_contained(ret->getOperands(), tensor))
    return;
  OpBuilder::InsertionGuard g(b);
  b.setInsertionPoint(ret);
  memref::DeallocOp::create(b, buf.getLoc(), buf);
}

void mlir::attn::parallelRows(OpBuilder &b, Location loc, ArrayRef<Value> ubs,
                  function_ref<void(OpBuilder &, Location, ValueRange)> body) {
  SmallVector<Value> lbs(ubs.size(), cIdx(b, loc, 0)),
      steps(ubs.size(), cIdx(b, loc, 1));
  auto par = scf::ParallelOp::create(b, loc, lbs, ubs, steps);
  OpBuilder::InsertionGuard g(b);
  b.setInsertionPointToStart(par.getBody());
  body(b, loc, par.getInductionVars());
}
