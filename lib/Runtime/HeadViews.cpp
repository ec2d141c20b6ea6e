//===- HeadViews.cpp - head parts that are runs of their parent's memory --===//

#include "attnir/Runtime/HeadViews.h"

namespace attnir {

namespace {

/// Where part `v.part` starts along `v.dim` of a parent of `parentHeads`
/// heads whose parts have `partHeads` each (AttnRouteOps.td: a split's
/// part p starts at floor(p H / P), a join's at p times a part's heads).
int64_t firstHead(const HeadView &v, int64_t parentHeads, int64_t partHeads) {
  return v.join ? v.part * partHeads : splitPartFirstHead(v.part, parentHeads, v.parts);
}

/// The byte offset of the part inside its parent, or -1 when the part is
/// not one contiguous run of it at these shapes.
int64_t runOffset(const HeadView &v, const std::vector<int64_t> &part,
                  const std::vector<int64_t> &parent, DType dtype) {
  size_t dim = static_cast<size_t>(v.dim);
  if (part.size() != parent.size() || dim >= part.size())
    return -1;
  for (size_t d = 0; d < dim; ++d)
    if (part[d] != 1 || parent[d] != 1)
      return -1;
  int64_t inner = 1;
  for (size_t d = dim + 1; d < part.size(); ++d) {
    if (part[d] != parent[d])
      return -1;
    inner *= part[d];
  }
  int64_t first = firstHead(v, parent[dim], part[dim]);
  if (first < 0 || part[dim] < 0 || first + part[dim] > parent[dim])
    return -1;
  int64_t bytes = first * inner * static_cast<int64_t>(dtypeSize(dtype));
  return bytes % 16 == 0 ? bytes : -1;
}

/// Whether following runs from `b` reaches workspace buffer `w`.
bool reaches(const HeadViewPlan &plan, Binding b, size_t w) {
  for (size_t hops = 0; hops <= plan.runs.size(); ++hops) {
    if (b.kind != 'w')
      return false;
    if (b.index == w)
      return true;
    if (!plan.runs[b.index].on)
      return false;
    b = plan.runs[b.index].parent;
  }
  return true; // a cycle already: never add to it
}

} // namespace

uintptr_t HeadViewPlan::address(const Binding &b,
                                const std::function<uintptr_t(const Binding &)> &own) const {
  size_t offset = 0;
  Binding at = b;
  // planHeadViews never closes a cycle, so this ends within runs.size() hops.
  for (size_t hops = 0; hops <= runs.size() && at.kind == 'w' && runs[at.index].on; ++hops) {
    offset += runs[at.index].bytes;
    at = runs[at.index].parent;
  }
  return own(at) + offset;
}

HeadViewPlan planHeadViews(const EntryABI &abi,
                           const std::function<std::vector<int64_t>(const Binding &)> &shapeOf,
                           const std::function<uintptr_t(const Binding &)> &userAddress) {
  HeadViewPlan plan;
  plan.runs.resize(abi.workspace.size());
  plan.skip.assign(abi.steps.size(), false);
  for (size_t s = 0; s < abi.steps.size(); ++s) {
    const KernelStep &st = abi.steps[s];
    if (!st.view.valid() || st.args.size() != 2)
      continue;
    Binding part, parent;
    if (!Binding::parse(st.args[st.view.join ? 0 : 1], part) ||
        !Binding::parse(st.args[st.view.join ? 1 : 0], parent))
      continue;
    if (part.kind != 'w' || part.index >= abi.workspace.size() ||
        abi.workspace[part.index].persistent || plan.runs[part.index].on ||
        reaches(plan, parent, part.index))
      continue;
    const ABIArg *parentArg = abi.bufferOf(st.args[st.view.join ? 1 : 0]);
    if (!parentArg || parentArg->dtype != abi.workspace[part.index].dtype)
      continue;
    int64_t bytes = runOffset(st.view, shapeOf(part), shapeOf(parent), parentArg->dtype);
    if (bytes < 0)
      continue;
    // Inputs are checked 16-byte aligned and workspace is 256-byte aligned;
    // outputs need only 4 bytes, so a run in one is checked.
    if (parent.kind == 'o' && (userAddress(parent) + static_cast<uintptr_t>(bytes)) % 16)
      continue;
    plan.runs[part.index] = {true, parent, static_cast<size_t>(bytes)};
    plan.skip[s] = true;
  }
  return plan;
}

} // namespace attnir
