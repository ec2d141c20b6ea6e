//===- AttnVerifySpec.cpp - what a spec may contain -----------------------===//
//
// A spec reaches upstream passes (one-shot bufferization, buffer results to
// out-params, the LLVM lowering) only after this check: those passes crash
// or loop on IR they were not written for (issue 15: returned constants,
// values returned twice, self-calls). Everything here is a located error.
//
//===----------------------------------------------------------------------===//

#include "attnir/Dialect/Attn/IR/AttnOps.h"
#include "attnir/Dialect/Attn/Transforms/Passes.h"
#include "llvm/ADT/DenseSet.h"

namespace mlir::attn {
#define GEN_PASS_DEF_ATTNVERIFYSPEC
#include "attnir/Dialect/Attn/Transforms/Passes.h.inc"
} // namespace mlir::attn

using namespace mlir;

namespace {

/// An op a program may hold: an attn op (not the tile-level ones) or an
/// upstream op on tensors that the reference evaluates
/// (Dialect/Attn/IR/UpstreamOps.cpp).
bool inProgram(Operation &op) {
  if (isa<attn::KVBlockUpdateOp>(op))
    return false;
  if (isa<attn::AttnDialect>(op.getDialect()))
    return true;
  return isa<attn::ReferenceOpInterface>(op) &&
         llvm::all_of(op.getResultTypes(),
                      [](Type t) { return isa<RankedTensorType>(t); });
}

LogicalResult checkTypes(func::FuncOp fn) {
  auto ranked = [](Type t) { return isa<RankedTensorType>(t); };
  for (auto [i, t] : llvm::enumerate(fn.getArgumentTypes()))
    if (!ranked(t))
      return fn.emitError() << "argument #" << i << " of @" << fn.getName()
                            << " is " << t << "; specs take ranked tensors";
  for (auto [i, t] : llvm::enumerate(fn.getResultTypes()))
    if (!ranked(t))
      return fn.emitError() << "result #" << i << " of @" << fn.getName()
                            << " is " << t << "; specs return ranked tensors";
  return success();
}

LogicalResult checkBody(func::FuncOp fn) {
  if (fn.getBody().getBlocks().size() != 1)
    return fn.emitError() << "@" << fn.getName()
                          << " must have a single block";
  for (Operation &op : fn.getBody().front()) {
    if (isa<func::ReturnOp>(op))
      continue;
    if (isa<func::CallOp, func::CallIndirectOp>(op))
      return op.emitError() << "calls are not supported in specs (inline "
                               "the callee's attn ops)";
    if (isa<attn::RuleBlocksOp>(op))
      return op.emitError() << "attn.rule_blocks is made by the CUDA "
                               "lowering (attn-rule-block-maps), not written "
                               "in a spec";
    if (auto a = dyn_cast<attn::AttentionOp>(op); a && a.getFullMarked())
      return op.emitError() << "full_marked is set by the CUDA lowering on "
                               "the lists of attn.rule_blocks, not written "
                               "in a spec";
    if (!inProgram(op))
      return op.emitError() << "'" << op.getName()
                            << "' is not an op AttnIR compiles in a spec "
                               "(attn ops, and arith's float binary ops and "
                               "linalg.broadcast on tensors)";
  }
  auto ret = cast<func::ReturnOp>(fn.getBody().front().getTerminator());
  llvm::DenseSet<Value> seen;
  for (auto [i, v] : llvm::enumerate(ret.getOperands())) {
    Operation *def = v.getDefiningOp();
    if (def && !inProgram(*def))
      return ret.emitError() << "result #" << i << " is not an argument or "
                                "an attn op's result";
    if (!seen.insert(v).second)
      return ret.emitError() << "result #" << i
                             << " returns a value already returned; return "
                                "it once";
  }
  return success();
}

} // namespace

LogicalResult mlir::attn::verifySpec(ModuleOp module) {
  for (Operation &op : module.getBody()->getOperations()) {
    auto fn = dyn_cast<func::FuncOp>(op);
    if (!fn)
      return op.emitError() << "'" << op.getName()
                            << "' at the top of a spec: specs hold "
                               "func.func definitions only";
    if (fn.isExternal())
      return fn.emitError() << "@" << fn.getName()
                            << " has no body; specs define their functions";
    if (failed(checkTypes(fn)) || failed(checkBody(fn)))
      return failure();
  }
  return success();
}

namespace {
struct AttnVerifySpecPass
    : public attn::impl::AttnVerifySpecBase<AttnVerifySpecPass> {
  void runOnOperation() override {
    if (failed(attn::verifySpec(getOperation())))
      signalPassFailure();
  }
};
} // namespace

LogicalResult mlir::attn::checkLowerable(Operation *root, StringRef target) {
  WalkResult r = root->walk([&](Operation *op) {
    if (!isa<attn::PoolOp, attn::ProjectOp, attn::BlockScoresOp,
             attn::IndexScoresOp, attn::ProbsOp, attn::SelectOp,
             attn::MergeOp, attn::LinearOp, attn::ScanOp>(op))
      return WalkResult::advance();
    if (target == "CPU")
      op->emitError() << "'" << op->getName()
                      << "' reached attn-tile: run attn-lower-select first "
                         "(the CPU pipeline does)";
    else
      op->emitError() << "'" << op->getName() << "' has no " << target
                      << " lowering yet: selection programs run on the CPU "
                         "and in the float64 reference until the selection "
                         "issue's GPU step lands";
    return WalkResult::interrupt();
  });
  return failure(r.wasInterrupted());
}
