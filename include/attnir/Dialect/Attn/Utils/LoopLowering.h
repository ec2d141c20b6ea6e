//===- LoopLowering.h - an op on tensors as loops on buffers ----*- C++ -*-===//
//
// What the CPU lowerings of attn ops (attn-lower-select, attn-lower-merge)
// share: a result buffer, the buffer seen as the op's result tensor again,
// its free when the entry does not return it, and a parallel loop over
// rows.
//
//===----------------------------------------------------------------------===//

#ifndef ATTNIR_DIALECT_ATTN_UTILS_LOOPLOWERING_H
#define ATTNIR_DIALECT_ATTN_UTILS_LOOPLOWERING_H

#include "mlir/IR/Builders.h"

namespace mlir::attn {

/// A buffer for result type `ty` whose dims are `dims` (only the dynamic
/// ones are used).
Value allocFor(OpBuilder &b, Location loc, Type ty, ArrayRef<Value> dims);

/// `buf` as a tensor of type `ty` (to_tensor, restrict and writable).
Value asTensor(OpBuilder &b, Location loc, Type ty, Value buf);

/// Frees `buf` before the function returns unless the function returns
/// `tensor` (then it becomes the caller's output buffer, as an attention
/// output does): intermediates are read by later ops of the same entry
/// only.
void freeUnlessReturned(OpBuilder &b, Value tensor, Value buf);

/// An f32 scratch row of `size` elements inside a row task: on the task's
/// stack when at most 4096 elements, else on the heap (a worker thread's
/// stack is small). freeScratchRow releases a heap row.
struct ScratchRow {
  Value buffer, onStack;
};
ScratchRow allocScratchRow(OpBuilder &b, Location loc, Value size);
void freeScratchRow(OpBuilder &b, Location loc, const ScratchRow &row);

/// scf.parallel over [0, ub) for each bound, with `body` given the
/// induction variables.
void parallelRows(OpBuilder &b, Location loc, ArrayRef<Value> ubs,
                  function_ref<void(OpBuilder &, Location, ValueRange)> body);

} // namespace mlir::attn

#endif // ATTNIR_DIALECT_ATTN_UTILS_LOOPLOWERING_H
