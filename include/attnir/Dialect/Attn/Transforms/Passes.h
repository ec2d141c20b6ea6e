//===- Passes.h - attn dialect passes -------------------------------------===//

#ifndef ATTNIR_DIALECT_ATTN_TRANSFORMS_PASSES_H
#define ATTNIR_DIALECT_ATTN_TRANSFORMS_PASSES_H

#include "mlir/Dialect/Bufferization/IR/Bufferization.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/Math/IR/Math.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/Dialect/Vector/IR/VectorOps.h"
#include "mlir/Pass/Pass.h"

namespace mlir::attn {

#define GEN_PASS_DECL
#include "attnir/Dialect/Attn/Transforms/Passes.h.inc"

/// The checks of attn-verify-spec, for drivers that load specs: errors are
/// emitted at the offending ops.
LogicalResult verifySpec(ModuleOp module);

/// Located errors for the ops the CPU and CUDA lowerings do not handle yet
/// (the selection family: evaluated by the reference, compiled in a later
/// step); `target` names the lowering in the message.
LogicalResult checkLowerable(Operation *root, StringRef target);

#define GEN_PASS_REGISTRATION
#include "attnir/Dialect/Attn/Transforms/Passes.h.inc"

} // namespace mlir::attn

#endif // ATTNIR_DIALECT_ATTN_TRANSFORMS_PASSES_H
