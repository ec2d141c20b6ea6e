//===- CudaLaunch.h - recorded kernel launches, replayed as CUDA graphs ---===//
//
// A program's kernels are recorded as launches first and then submitted:
// one by one (cuLaunchKernel, ~6 us of host time each on the GPU VMs we
// measure on), or, when a call makes exactly the launches of the previous
// call on the same (context, stream, entry), as one CUDA graph built from
// them and replayed while the launches stay the same. The signature is
// every byte of every launch (function, grid, block, shared memory,
// descriptor words, tensor maps), so a replay runs what direct launches
// would. A stream being captured (torch.cuda.graph around the call) gets
// the launches themselves. ATTNIR_CUDA_GRAPHS=0 turns the replays off.
//
//===----------------------------------------------------------------------===//

#ifndef ATTNIR_LIB_RUNTIME_CUDALAUNCH_H
#define ATTNIR_LIB_RUNTIME_CUDALAUNCH_H

#include "attnir/Runtime/CudaDriver.h"
#include <map>
#include <mutex>
#include <tuple>
#include <vector>

namespace attnir::cuda {

/// A CUtensorMap: 128 opaque bytes, 64-byte aligned.
struct alignas(64) TensorMap {
  uint64_t words[16];
};

/// One kernel launch with its parameters by value.
struct Launch {
  CUfunction fn = nullptr;
  unsigned grid[3] = {1, 1, 1};
  unsigned threads = 1, sharedBytes = 0;
  /// The arguments' memref descriptor words, then tensor maps.
  std::vector<int64_t> words;
  std::vector<TensorMap> maps;
  /// For messages: "launching <kernel>".
  std::string what;

  /// cuLaunchKernel's parameter pointers (into words and maps).
  std::vector<void *> params();
  /// Launched on `stream` now.
  bool run(const Driver &d, CUstream stream, std::string &error);
};

/// The graphs of programs' calls, per (context, stream, entry).
class GraphReplays {
public:
  using Key = std::tuple<CUcontext, void *, int>;
  ~GraphReplays();
  /// `launches` on `stream`: by a replay of the graph of the previous
  /// call's launches when they are the same, else one by one.
  bool submit(const Driver &d, const Key &key, std::vector<Launch> &launches, CUstream stream,
              std::string &error);

private:
  struct Replay {
    std::vector<uint64_t> signature;
    CUgraphExec exec = nullptr;
  };
  /// A graph of `launches` in order, instantiated; null when the driver
  /// cannot build one (the caller then launches them one by one).
  CUgraphExec build(const Driver &d, std::vector<Launch> &launches);
  std::mutex mu;
  std::map<Key, Replay> replays;
  const Driver *driver = nullptr;
};

} // namespace attnir::cuda

#endif // ATTNIR_LIB_RUNTIME_CUDALAUNCH_H
