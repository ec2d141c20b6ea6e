//===- EntryBindings.cpp - which buffer holds each value of an entry ------===//

#include "attnir/Dialect/Attn/Utils/EntryBindings.h"

using namespace mlir;

SmallVector<Value> mlir::attn::workspaceValues(func::FuncOp fn) {
  Block &body = fn.getBody().front();
  Operation *ret = body.getTerminator();
  SmallVector<Value> out;
  for (Operation &op : body.without_terminator())
    for (Value r : op.getResults())
      if (!llvm::is_contained(ret->getOperands(), r))
        out.push_back(r);
  return out;
}

std::string mlir::attn::bindingOf(func::FuncOp fn, Value v) {
  Block &body = fn.getBody().front();
  if (auto ba = dyn_cast<BlockArgument>(v))
    return ba.getOwner() == &body ? "i" + std::to_string(ba.getArgNumber())
                                  : "";
  for (auto [i, r] : llvm::enumerate(body.getTerminator()->getOperands()))
    if (r == v)
      return "o" + std::to_string(i);
  for (auto [i, w] : llvm::enumerate(workspaceValues(fn)))
    if (w == v)
      return "w" + std::to_string(i);
  return "";
}
