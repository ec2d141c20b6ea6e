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

mlir::attn::ScratchRow mlir::attn::allocScratchRow(OpBuilder &b, Location loc, Value size) {
  constexpr int64_t kStackRow = 4096;
  auto rowType = MemRefType::get({ShapedType::kDynamic}, b.getF32Type());
  Value onStack = arith::CmpIOp::create(b, loc, arith::CmpIPredicate::ule, size,
                                        cIdx(b, loc, kStackRow));
  auto where = scf::IfOp::create(
      b, loc, onStack,
      [&](OpBuilder &tb, Location tl) {
        scf::YieldOp::create(tb, tl, ValueRange{memref::AllocaOp::create(
                                         tb, tl, rowType, ValueRange{size})});
      },
      [&](OpBuilder &eb, Location el) {
        scf::YieldOp::create(eb, el, ValueRange{memref::AllocOp::create(
                                         eb, el, rowType, ValueRange{size})});
      });
  return {where.getResult(0), onStack};
}

void mlir::attn::freeScratchRow(OpBuilder &b, Location loc,
                                const ScratchRow &row) {
  scf::IfOp::create(
      b, loc, row.onStack,
      [&](OpBuilder &tb, Location tl) { scf::YieldOp::create(tb, tl); },
      [&](OpBuilder &eb, Location el) {
        memref::DeallocOp::create(eb, el, row.buffer);
        scf::YieldOp::create(eb, el);
      });
}
