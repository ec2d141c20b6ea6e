//===- EntryBindings.h - which buffer holds each value of an entry -*- C++ -*-===//
//
// A program's values live in three kinds of buffers: the caller's inputs
// ("i<k>": argument k), the caller's outputs ("o<k>": the first return
// position of the value) and buffers the runtime owns for one call ("w<k>":
// the k-th op result in program order that the entry does not return). The
// entry ABI (lib/Driver/Signature.cpp) sizes the workspace and the GPU
// lowering binds kernel arguments with the same numbering.
//
//===----------------------------------------------------------------------===//

#ifndef ATTNIR_DIALECT_ATTN_UTILS_ENTRYBINDINGS_H
#define ATTNIR_DIALECT_ATTN_UTILS_ENTRYBINDINGS_H

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include <string>

namespace mlir::attn {

/// The binding of `v` in entry `fn` ("i0", "o1", "w2"); empty for a value
/// of another function.
std::string bindingOf(func::FuncOp fn, Value v);

/// The values of `fn` that bind to workspace buffers, in order (w0, w1, ...).
SmallVector<Value> workspaceValues(func::FuncOp fn);

} // namespace mlir::attn

#endif // ATTNIR_DIALECT_ATTN_UTILS_ENTRYBINDINGS_H
