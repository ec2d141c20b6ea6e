//===- SelectionKernels.h - selection ops as GPU kernels --------*- C++ -*-===//

#ifndef ATTNIR_CONVERSION_ATTNTONVGPU_SELECTIONKERNELS_H
#define ATTNIR_CONVERSION_ATTNTONVGPU_SELECTIONKERNELS_H

#include "attnir/Dialect/Attn/IR/AttnOps.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/IR/Builders.h"

namespace mlir::attn::cuda {

/// attn.pool, attn.block_scores and attn.select: the ops a program may run
/// before its attention on the GPU.
bool isSelectionOp(Operation *op);

/// Appends the kernel `name` of selection op `op` of entry `fn` at `gb`'s
/// insertion point (inside the gpu.module), with its launch contract.
LogicalResult buildSelectionKernel(OpBuilder &gb, func::FuncOp fn,
                                   Operation *op, StringRef name);

} // namespace mlir::attn::cuda

#endif // ATTNIR_CONVERSION_ATTNTONVGPU_SELECTIONKERNELS_H
