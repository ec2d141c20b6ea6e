//===- SampleKernels.cpp - attn.sample and attn.gather as step kernels ----===//
//
// attn.sample: a thread per drawn position (the Philox rounds of
// Utils/SampleBuilders.h, the same arithmetic as the CPU and the
// reference). attn.gather: a thread per 16 bytes of a gathered row where
// rows are whole 16-byte pieces, else a thread per element; a position
// outside [0, M) writes zeros and reads nothing.
//
//===----------------------------------------------------------------------===//

#include "SelectionKernels.h"
#include "attnir/Dialect/Attn/Utils/BuildHelpers.h"
#include "attnir/Dialect/Attn/Utils/SampleBuilders.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"

using namespace mlir;
using namespace mlir::attn;

LogicalResult mlir::attn::cuda::buildSampleKernel(OpBuilder &gb, func::FuncOp fn, SampleOp op,
                                                  StringRef name) {
  SmallVector<Value> values = {op.getX()};
  if (Value per = op.getPer())
    values.push_back(per);
  if (Value o = op.getOffset())
    values.push_back(o);
  values.push_back(op.getRows());
  int64_t rowsArg = static_cast<int64_t>(values.size()) - 1;
  auto kfn = createStepKernel(gb, fn, values, name, rowsArg, 3, 128, 1);
  OpBuilder ob(gb.getContext());
  ob.setInsertionPointToStart(&kfn.getBody().front());
  ImplicitLocOpBuilder b(op.getLoc(), ob);
  Value lane, rows = kfn.getArgument(rowsArg);
  SmallVector<Value> at = enterStepItem(b, rows, 3, 128, 1, lane);
  Value m = dimOf(b, b.getLoc(), kfn.getArgument(0), 2);
  Value stream = buildSampleStream(
      b, b.getLoc(), op.getOffset() ? kfn.getArgument(rowsArg - 1) : Value());
  Value r = buildSampleAt(b, b.getLoc(), op.getSeed(), stream, m, at[0], at[1], at[2]);
  memref::StoreOp::create(b, r, rows, at);
  endKernel(b, kfn);
  return success();
}

LogicalResult mlir::attn::cuda::buildGatherKernel(OpBuilder &gb, func::FuncOp fn, GatherOp op,
                                                  StringRef name) {
  return buildRowCopyKernel(gb, fn, op, op.getX(), op.getRows(), name,
                            [](ImplicitLocOpBuilder &b, Value x, Value rows, Value out,
                               ArrayRef<Value> at, int64_t width) {
                              buildGatherAt(b, b.getLoc(), x, rows, out, at, width);
                            });
}
