//===- HeadViews.h - head parts that are runs of their parent's memory ----===//
//
// attn.split_heads and attn.join_heads copy heads between a tensor and its
// parts. When every dimension before the heads is 1 at a call's shapes (B
// = 1), a part is one contiguous run of its parent, so the runtime makes
// the part's workspace buffer that run and skips the copy kernel: a split's
// part is read in place, a join's part is written by its producer straight
// into the joined tensor. Decided per call from the shapes, MLIR-free (the
// GPU runtime's step loop, lib/Runtime/CudaKernel.cpp, uses it).
//
//===----------------------------------------------------------------------===//

#ifndef ATTNIR_RUNTIME_HEADVIEWS_H
#define ATTNIR_RUNTIME_HEADVIEWS_H

#include "attnir/Runtime/EntryABI.h"
#include <cstdint>
#include <functional>
#include <vector>

namespace attnir {

struct HeadViewPlan {
  /// A workspace buffer that lies `bytes` into buffer `parent`.
  struct Run {
    bool on = false;
    Binding parent;
    size_t bytes = 0;
  };
  /// Per workspace buffer.
  std::vector<Run> runs;
  /// Per step of the entry: its copy is replaced by a run.
  std::vector<bool> skip;

  /// The address of a buffer: `own` for inputs, outputs and workspace
  /// buffers that are no run, else its parent's address plus the offset.
  uintptr_t address(const Binding &b,
                    const std::function<uintptr_t(const Binding &)> &own) const;
};

/// The runs of a call: `shapeOf` gives each buffer's shape at this call,
/// `userAddress` the address of an input or output (a run inside an output
/// must start 16-byte aligned, as the kernels' vector stores need). A
/// workspace buffer becomes at most one run, never of itself through
/// other runs, and never a persistent one.
HeadViewPlan planHeadViews(const EntryABI &abi,
                           const std::function<std::vector<int64_t>(const Binding &)> &shapeOf,
                           const std::function<uintptr_t(const Binding &)> &userAddress);

} // namespace attnir

#endif // ATTNIR_RUNTIME_HEADVIEWS_H
