//===- BundleCompiler.h - spec to a loadable bundle -----------------------===//

#ifndef ATTNIR_DRIVER_BUNDLECOMPILER_H
#define ATTNIR_DRIVER_BUNDLECOMPILER_H

#include "attnir/Pipelines/Pipelines.h"
#include "attnir/Runtime/Bundle.h"
#include "mlir/IR/BuiltinOps.h"

namespace attnir {

/// Lowers a verified spec (left untouched) for the host CPU, emits an object
/// file and links it into a shared object with lld; fills `bundle` with the
/// object, the entries' ABIs and the host features the code assumes.
bool compileToBundle(mlir::ModuleOp spec,
                     const mlir::attn::CPUPipelineOptions &options,
                     Bundle &bundle, std::string &error);

} // namespace attnir

#endif // ATTNIR_DRIVER_BUNDLECOMPILER_H
