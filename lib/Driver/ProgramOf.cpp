//===- ProgramOf.cpp - a spec function as the reference's op graph --------===//

#include "attnir/Driver/ProgramOf.h"
#include "attnir/Dialect/Attn/IR/AttnOps.h"
#include "llvm/ADT/DenseMap.h"

using namespace mlir;

namespace attnir {

bool programOf(func::FuncOp fn, RefProgram &out, std::string &error) {
  out = RefProgram();
  llvm::DenseMap<Value, int> ids;
  for (BlockArgument arg : fn.getArguments())
    ids[arg] = static_cast<int>(arg.getArgNumber());
  out.numArgs = static_cast<int>(fn.getNumArguments());
  int next = out.numArgs;
  auto idOf = [&](Value v) {
    auto it = ids.find(v);
    return it == ids.end() ? -1 : it->second;
  };
  for (Operation &op : fn.getBody().front()) {
    if (auto ret = dyn_cast<func::ReturnOp>(op)) {
      for (Value r : ret.getOperands()) {
        if (idOf(r) < 0) {
          error = "reference: @" + fn.getName().str() +
                  " returns a value no op computes";
          return false;
        }
        out.returns.push_back(idOf(r));
      }
      return true;
    }
    auto described = dyn_cast<attn::ReferenceOpInterface>(op);
    if (!described) {
      error = "reference: unsupported op '" +
              op.getName().getStringRef().str() + "'";
      return false;
    }
    for (Value r : op.getResults())
      ids[r] = next++;
    RefOp ref;
    described.describe(ref, idOf);
    for (auto &[role, id] : ref.operands)
      if (id < 0) {
        error = "reference: operand '" + role + "' of '" +
                op.getName().getStringRef().str() +
                "' is not an argument or an earlier result";
        return false;
      }
    out.ops.push_back(std::move(ref));
  }
  error = "reference: @" + fn.getName().str() + " has no return";
  return false;
}

namespace {
bool shapeMatches(const HostTensor &t, RankedTensorType type) {
  if (static_cast<int64_t>(t.shape.size()) != type.getRank())
    return false;
  for (int64_t i = 0; i < type.getRank(); ++i)
    if (!type.isDynamicDim(i) && type.getDimSize(i) != t.shape[i])
      return false;
  return true;
}
} // namespace

bool evaluateReference(func::FuncOp fn, const std::vector<HostTensor> &args,
                       std::vector<HostTensor> &results, std::string &error,
                       ReferenceStats *stats) {
  if (args.size() != fn.getNumArguments()) {
    error = "reference: @" + fn.getName().str() + " takes " +
            std::to_string(fn.getNumArguments()) + " arguments, got " +
            std::to_string(args.size());
    return false;
  }
  for (auto [arg, t] : llvm::zip(fn.getArguments(), args)) {
    auto type = dyn_cast<RankedTensorType>(arg.getType());
    if (type && !shapeMatches(t, type)) {
      std::string want;
      llvm::raw_string_ostream os(want);
      os << type;
      error = "reference: argument #" + std::to_string(arg.getArgNumber()) +
              " has shape " + t.shapeString() + ", which does not fit " +
              want;
      return false;
    }
  }
  RefProgram program;
  return programOf(fn, program, error) &&
         evaluateProgram(program, args, results, error, stats);
}

} // namespace attnir
