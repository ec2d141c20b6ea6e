//===- RuleEmitter.h - a rule region inlined into a kernel ------*- C++ -*-===//
//
// attn.attention's mask_rule and score_rule regions are inlined where the
// lowerings evaluate them: one pair at a time (the CUDA kernels, one value
// per register) or `lanes` keys at once (the CPU vector body: every value
// of the region becomes a vector<lanes x T>). Reads of the rule operands go
// through the caller's `load` (a gather on the CPU), with every index
// clamped into its dimension first, so no input can read out of bounds;
// integer division and remainder are guarded against 0 and -1 as the
// reference defines them (attnir/Reference/RuleProgram.h).
//
//===----------------------------------------------------------------------===//

#ifndef ATTNIR_DIALECT_ATTN_UTILS_RULEEMITTER_H
#define ATTNIR_DIALECT_ATTN_UTILS_RULEEMITTER_H

#include "mlir/IR/Builders.h"
#include <functional>
#include <optional>

namespace mlir::attn {

struct RuleOperands {
  /// Element of rule operand `k` at `indices` (index values; vectors of
  /// index in vector mode, already clamped), of the operand's element type
  /// (a vector of it in vector mode).
  std::function<Value(OpBuilder &, Location, unsigned k, ValueRange indices)>
      load;
  /// Dimension `d` of rule operand `k` (a scalar index).
  std::function<Value(OpBuilder &, Location, unsigned k, unsigned d)> dim;
  /// Optional: a target's own form of `op` on mapped operands (the GPU's
  /// fast transcendentals), or null to clone the op.
  std::function<Value(OpBuilder &, Location, Operation &, ValueRange)> lower;
  /// Optional: the range reads of the interval block rule spread over
  /// `lanes` lanes (lane `lane` reads every lanes-th element of the last
  /// dimension), `combine(x, isMin)` then joins a bound across the lanes
  /// (the GPU's warp shuffles). Without it one thread reads the range.
  struct LaneSpread {
    Value lane;
    int64_t lanes = 1;
    std::function<Value(OpBuilder &, Location, Value, bool isMin)> combine;
  };
  std::optional<LaneSpread> spread;
};

/// Rule operands held in `buffers` (memrefs, one per operand): scalar loads
/// and dims, for the scalar emitter and the interval block rule.
RuleOperands memrefRuleOperands(SmallVector<Value> buffers);

/// The value `rule` yields for the `leading` arguments (the scalars before
/// the operands: (b, h, i, j) or (s, b, h, i, j)). Scalar mode (`lanes` = 0):
/// leading values are scalars of the block arguments' types, or integers
/// that are cast to index. Vector mode: each leading value is a scalar
/// (broadcast) or a vector of `lanes` (i64 vectors are cast to index).
Value emitRule(OpBuilder &b, Location loc, Region &rule, ValueRange leading,
               const RuleOperands &operands, int64_t lanes = 0);

/// Every value a region yields (attn.scan's regions yield a state of
/// several components), as emitRule.
SmallVector<Value> emitRegion(OpBuilder &b, Location loc, Region &rule,
                              ValueRange leading, const RuleOperands &operands,
                              int64_t lanes = 0);

/// The mask rule over a block of pairs, i in [i0, i1) and j in [j0, j1)
/// (non-empty, index values), b and h exact, evaluated on intervals
/// (RuleBlocks.cpp): (can some pair be kept, is every pair kept), as i1.
/// Sound: what the analysis cannot bound gives (true, false).
std::pair<Value, Value> emitRuleOnBlock(OpBuilder &b, Location loc,
                                        Region &rule, Value bIdx, Value h,
                                        Value i0, Value i1, Value j0, Value j1,
                                        const RuleOperands &operands);

} // namespace mlir::attn

#endif // ATTNIR_DIALECT_ATTN_UTILS_RULEEMITTER_H
