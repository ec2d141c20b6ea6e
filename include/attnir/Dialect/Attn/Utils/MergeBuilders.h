//===- MergeBuilders.h - attn.merge's arithmetic, one row -------*- C++ -*-===//
//
// The exact merge of (out, lse) pairs (shared/patterns.md A10) for one row,
// shared by the CPU lowering (a task per row, a loop over features) and
// the GPU kernel (a thread per feature), so both compute the same way.
//
//===----------------------------------------------------------------------===//

#ifndef ATTNIR_DIALECT_ATTN_UTILS_MERGEBUILDERS_H
#define ATTNIR_DIALECT_ATTN_UTILS_MERGEBUILDERS_H

#include "mlir/IR/Builders.h"

namespace mlir::attn {

/// A merged row: its lse (-inf when every part's is) and each part's
/// weight e^{lse_r - lse} (all 0 then).
struct MergedRow {
  Value lse;
  SmallVector<Value> weights;
};

/// The merged row of the parts' f32 lse values at one row.
MergedRow buildMergedRow(OpBuilder &b, Location loc, ArrayRef<Value> lses);

/// An unnormalised term (num, den) read as the pair (num / den, log den),
/// per row: its lse (log den, -inf at 0) and the factor 1 / den (0 where
/// den is 0) its numerators take.
struct MergeTerm {
  Value lse, inv;
};
MergeTerm buildMergeTerm(OpBuilder &b, Location loc, Value den);
/// The term's output at one feature, or a vector of features: num / den.
Value buildTermOut(OpBuilder &b, Location loc, const MergeTerm &term,
                   Value num);

/// sum_r weight_r * out_r for the parts' f32 outputs at one feature (or a
/// vector of features, the weights broadcast to it).
Value buildMergedOut(OpBuilder &b, Location loc, const MergedRow &row,
                     ArrayRef<Value> outs);

} // namespace mlir::attn

#endif // ATTNIR_DIALECT_ATTN_UTILS_MERGEBUILDERS_H
