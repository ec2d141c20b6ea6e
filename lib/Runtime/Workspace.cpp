//===- Workspace.cpp - the CPU kernels' heap, owned by the runtime --------===//
//
// Blocks of geometric size classes (8 per power of two: at most 12.5 %
// slack), each preceded by a header holding its class and alignment. A
// freed block goes to its class's list unless the lists already hold a
// quarter of the machine's memory, in which case it goes back to the
// system. One mutex: kernels allocate per task, not per element.
//
//===----------------------------------------------------------------------===//

#include "attnir/Runtime/Workspace.h"
#include <algorithm>
#include <cstdlib>
#include <map>
#include <mutex>
#include <unistd.h>
#include <utility>
#include <vector>

namespace attnir {
namespace {

struct Header {
  uint64_t size, align;
};

struct Pool {
  std::mutex mu;
  std::map<std::pair<uint64_t, uint64_t>, std::vector<void *>> free;
  uint64_t freeBytes = 0, held = 0, systemAllocations = 0;
  uint64_t limit = 0;
};

Pool &pool() {
  static Pool *p = [] {
    auto *q = new Pool(); // never destroyed: kernels may free at exit
    long pages = sysconf(_SC_PHYS_PAGES), page = sysconf(_SC_PAGESIZE);
    q->limit = pages > 0 && page > 0
                   ? static_cast<uint64_t>(pages) * page / 4
                   : uint64_t(1) << 30;
    return q;
  }();
  return *p;
}

uint64_t sizeClass(uint64_t n) {
  if (n <= 256)
    return 256;
  unsigned p = 63 - __builtin_clzll(n - 1); // 2^p < n <= 2^(p+1)
  uint64_t step = (uint64_t(1) << (p + 1)) / 8;
  return (n + step - 1) / step * step;
}

/// The system block behind a user block of class `cls`: the header's
/// alignment unit plus the class, a multiple of the alignment (C11's
/// aligned_alloc requires it; sanitizers check).
uint64_t blockBytes(uint64_t cls, uint64_t align) {
  return (cls + 2 * align - 1) / align * align;
}

void *take(uint64_t bytes, uint64_t align) {
  if (align & (align - 1) || bytes > (uint64_t(1) << 60))
    return nullptr; // not a power of two, or no machine has it
  align = std::max<uint64_t>(align, 64);
  uint64_t cls = sizeClass(bytes);
  Pool &p = pool();
  void *base = nullptr;
  {
    std::lock_guard<std::mutex> lock(p.mu);
    auto it = p.free.find({cls, align});
    if (it != p.free.end() && !it->second.empty()) {
      base = it->second.back();
      it->second.pop_back();
      p.freeBytes -= blockBytes(cls, align);
    }
  }
  if (!base) {
    base = std::aligned_alloc(align, blockBytes(cls, align));
    if (!base)
      return nullptr;
    std::lock_guard<std::mutex> lock(p.mu);
    ++p.systemAllocations;
    p.held += blockBytes(cls, align);
  }
  char *user = static_cast<char *>(base) + align;
  reinterpret_cast<Header *>(user)[-1] = {cls, align};
  return user;
}

} // namespace

void *workspaceAlloc(size_t bytes) { return take(bytes, 64); }

void *workspaceAlignedAlloc(size_t align, size_t bytes) {
  return take(bytes, align);
}

void workspaceFree(void *ptr) {
  if (!ptr)
    return;
  Header h = reinterpret_cast<Header *>(ptr)[-1];
  void *base = static_cast<char *>(ptr) - h.align;
  Pool &p = pool();
  {
    std::lock_guard<std::mutex> lock(p.mu);
    uint64_t block = blockBytes(h.size, h.align);
    if (p.freeBytes + block <= p.limit) {
      p.free[{h.size, h.align}].push_back(base);
      p.freeBytes += block;
      return;
    }
    p.held -= block;
  }
  std::free(base);
}

WorkspaceStats workspaceStats() {
  Pool &p = pool();
  std::lock_guard<std::mutex> lock(p.mu);
  return {p.systemAllocations, p.held};
}

void installWorkspaceHooks(void *table) {
  void **slots = static_cast<void **>(table);
  slots[0] = reinterpret_cast<void *>(&workspaceAlloc);
  slots[1] = reinterpret_cast<void *>(&workspaceAlignedAlloc);
  slots[2] = reinterpret_cast<void *>(&workspaceFree);
}

} // namespace attnir
