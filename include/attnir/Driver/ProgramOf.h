//===- ProgramOf.h - a spec function as the reference's op graph ----------===//

#ifndef ATTNIR_DRIVER_PROGRAMOF_H
#define ATTNIR_DRIVER_PROGRAMOF_H

#include "attnir/Reference/Program.h"
#include "attnir/Reference/Reference.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"

namespace attnir {

/// Records `fn` (a verified spec function) as a RefProgram: every op must
/// implement ReferenceOpInterface; false with a one-line `error` otherwise.
bool programOf(mlir::func::FuncOp fn, RefProgram &out, std::string &error);

/// The reference of `fn` on `args`: the static dims and rank of each
/// argument are checked against `fn`'s types, then programOf(fn) is
/// evaluated (evaluateProgram).
bool evaluateReference(mlir::func::FuncOp fn,
                       const std::vector<HostTensor> &args,
                       std::vector<HostTensor> &results, std::string &error,
                       ReferenceStats *stats = nullptr);

} // namespace attnir

#endif // ATTNIR_DRIVER_PROGRAMOF_H
