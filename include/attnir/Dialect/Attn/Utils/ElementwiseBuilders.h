//===- ElementwiseBuilders.h - a program's upstream elementwise ops -*- C++ -*-===//
//
// The body of one result element of the upstream ops a program combines
// branches with (arith's float binary ops, linalg.broadcast; UpstreamOps.cpp):
// shared by the CPU lowering (attn-lower-elementwise, loops over the
// elements) and the GPU step (a thread per element).
//
//===----------------------------------------------------------------------===//

#ifndef ATTNIR_DIALECT_ATTN_UTILS_ELEMENTWISEBUILDERS_H
#define ATTNIR_DIALECT_ATTN_UTILS_ELEMENTWISEBUILDERS_H

#include "mlir/IR/Builders.h"

namespace mlir::attn {

/// Whether `op` is one of those ops on tensors of rank 0..4.
bool isElementwiseStep(Operation *op);

/// Result element `at` of elementwise step `op`: loads its operands'
/// elements (a broadcast's input without the added dimensions), applies
/// the op in f32 and stores in the result's type. `arg` maps an op value
/// to its buffer.
void buildElementwiseAt(OpBuilder &b, Location loc, Operation *op,
                        function_ref<Value(Value)> arg, ArrayRef<Value> at);

} // namespace mlir::attn

#endif // ATTNIR_DIALECT_ATTN_UTILS_ELEMENTWISEBUILDERS_H
