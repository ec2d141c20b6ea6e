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

/// Located errors for the ops a lowering does not handle: the selection
/// family reaching attn-tile (attn-lower-select runs first on the CPU) or
/// the CUDA lowering (not yet); `target` names the lowering.
LogicalResult checkLowerable(Operation *root, StringRef target);

#define GEN_PASS_REGISTRATION
#include "attnir/Dialect/Attn/Transforms/Passes.h.inc"

} // namespace mlir::attn

#endif // ATTNIR_DIALECT_ATTN_TRANSFORMS_PASSES_H
