//===- Workspace.h - the CPU kernels' heap, owned by the runtime -*- C++ -*-===//
//
// A CPU kernel allocates its scratch (packed K and V, per-task buffers,
// a program's intermediates) through the hooks attn-alloc-hooks compiles
// into it; the runtime points them here when it loads the kernel. Freed
// blocks are kept by size class and handed to the next call that asks for
// that class, so a warm kernel allocates nothing from the system per call
// (docs/design/runtime.md).
//
//===----------------------------------------------------------------------===//

#ifndef ATTNIR_RUNTIME_WORKSPACE_H
#define ATTNIR_RUNTIME_WORKSPACE_H

#include <cstddef>
#include <cstdint>

namespace attnir {

void *workspaceAlloc(size_t bytes);
void *workspaceAlignedAlloc(size_t align, size_t bytes);
void workspaceFree(void *p);

struct WorkspaceStats {
  /// Blocks taken from the system so far, and the bytes held (in use or
  /// kept for reuse).
  uint64_t systemAllocations = 0, bytesHeld = 0;
};
WorkspaceStats workspaceStats();

/// Fills a loaded kernel's `_attnir_alloc_hooks` table (alloc,
/// aligned_alloc, free) with the functions above.
void installWorkspaceHooks(void *table);

} // namespace attnir

#endif // ATTNIR_RUNTIME_WORKSPACE_H
