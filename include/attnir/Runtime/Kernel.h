//===- Kernel.h - a loaded kernel and checked calls -----------------------===//
//
// The runtime half of AttnIR, free of LLVM/MLIR: loads a bundle's shared
// object (from memory, through memfd), resolves its entries, and runs them
// on caller tensors after checking every argument against the entry's ABI.
//
//===----------------------------------------------------------------------===//

#ifndef ATTNIR_RUNTIME_KERNEL_H
#define ATTNIR_RUNTIME_KERNEL_H

#include "attnir/Runtime/Bundle.h"
#include <array>
#include <atomic>
#include <map>
#include <memory>

namespace attnir {
namespace cuda {
struct CUfunc_st;
struct CUctx_st;
struct Launch;
} // namespace cuda


/// A tensor as callers hand it over: strides in elements (empty: row-major
/// contiguous).
struct TensorRef {
  void *data = nullptr;
  DType dtype = DType::F32;
  std::vector<int64_t> shape;
  std::vector<int64_t> strides;
};

/// Row-major contiguous (empty strides, size-1 dims with any stride, and
/// tensors with no element count as contiguous).
bool isContiguous(const TensorRef &t);

/// The ranked memref descriptor of a contiguous buffer, as the kernels'
/// C interface takes it: {allocated, aligned, offset, sizes[r], strides[r]}.
std::vector<int64_t> memrefDescriptor(void *data,
                                      const std::vector<int64_t> &shape);

/// CPU bundles link the OpenMP runtime by its soname (libomp.so.5) and find
/// it through their run path. A runtime that carries its own copy (the
/// wheel's self-contained library) names it here: it is loaded before the
/// first CPU bundle, and the loader then binds every bundle to it, wherever
/// the bundle was made.
void setOpenMPRuntime(std::string path);

class Kernel {
public:
  ~Kernel();
  static std::unique_ptr<Kernel> load(Bundle bundle, std::string &error);
  const Bundle &bundle() const { return b; }
  int findEntry(const std::string &name) const;

  bool outputShapes(int entry, const std::vector<TensorRef> &inputs,
                    std::vector<std::vector<int64_t>> &shapes,
                    std::string &error) const;
  /// Checks everything, then runs. CPU kernels: host tensors, strided
  /// inputs copied to contiguous scratch, synchronous. CUDA kernels: device
  /// tensors (contiguous), launched on `stream` (a CUstream; nullptr: the
  /// default stream), asynchronous.
  bool run(int entry, const std::vector<TensorRef> &inputs,
           const std::vector<TensorRef> &outputs, std::string &error,
           void *stream = nullptr) const;

  bool isCuda() const { return b.target == "cuda"; }

  /// OpenMP threads of this kernel's CPU calls: n > 0 runs each call's
  /// parallel loops on n threads (set for the calling thread during the
  /// call, then restored); 0 keeps the OpenMP default (every core, or
  /// OMP_NUM_THREADS).
  void setThreads(int n) { threads.store(n); }
  int getThreads() const { return threads.load(); }

  /// One attention kernel's launch from the bundle's contract (a lone
  /// entry's kernel is named like the entry, a program's like its step):
  /// query rows per block, threads, dynamic shared bytes, and key rows of
  /// one K/V tensor-map box (0 when the kernel takes no tensor maps).
  struct AttentionLaunch {
    int64_t blockQ = 0, threads = 0, sharedBytes = 0, tmaRows = 0;
    /// Launch min(tiles x Hq x B, SMs) blocks, which loop over the tiles.
    bool persistent = false;
    /// Rows of one q tensor-map box where not blockQ (1: gathered rows).
    int64_t tmaQRows = 0;
  };

private:
  Kernel() = default;
  static std::unique_ptr<Kernel> loadCuda(Bundle bundle, std::string &error);
  bool checkCall(int entry, const std::vector<TensorRef> &inputs,
                 const std::vector<TensorRef> &outputs,
                 std::vector<std::vector<int64_t>> &shapes,
                 std::string &error) const;
  bool runHost(int entry, const std::vector<TensorRef> &inputs,
               const std::vector<TensorRef> &outputs,
               const std::vector<std::vector<int64_t>> &shapes,
               std::string &error) const;
  bool launchCuda(int entry, const std::vector<TensorRef> &inputs,
                  const std::vector<TensorRef> &outputs, void *stream,
                  std::string &error) const;
  /// The kernel `name` of the loaded module (loaded into context `ctx`, the
  /// current one, on first use), with `sharedBytes` of dynamic shared memory.
  bool cudaFunction(cuda::CUctx_st *ctx, const std::string &name,
                    int64_t sharedBytes, cuda::CUfunc_st *&fn,
                    std::string &error) const;
  /// The multiprocessor count of context `ctx`'s device (asked once).
  bool smCount(cuda::CUctx_st *ctx, int &sms, std::string &error) const;
  /// The attention kernel `kernelName` of `entry` on `args` (q, k, v, ...,
  /// then its results); `names` for messages, `dtype` of q, k and v.
  /// Launched on `stream`, or appended to `queue` when given.
  bool launchAttention(cuda::CUctx_st *ctx, int entry,
                       const std::string &kernelName,
                       const std::vector<TensorRef> &args,
                       const std::vector<std::string> &names, DType dtype,
                       void *stream, std::vector<cuda::Launch> *queue,
                       std::string &error) const;
  /// One step of a program over its grid argument (gridArg >= 0) on
  /// `args`, appended to `queue`; `ran` false where it had no work or its
  /// grid did not suit this GPU (a form the next step replaces).
  bool launchGridStep(cuda::CUctx_st *ctx, int entry, const KernelStep &st,
                      const std::vector<TensorRef> &args,
                      std::vector<cuda::Launch> &queue, bool &ran,
                      std::string &error) const;
  /// A program's steps in order on one stream, intermediates in the
  /// workspace the kernel owns per (context, stream).
  bool launchProgram(cuda::CUctx_st *ctx, int entry,
                     const std::vector<TensorRef> &inputs,
                     const std::vector<TensorRef> &outputs, void *stream,
                     std::string &error) const;

  Bundle b;
  /// CUDA: the launch contract from the bundle, and the module per context
  /// (loaded on first launch, so that loading needs no GPU).
  std::map<std::string, AttentionLaunch> attentionLaunch;
  /// The cubin's architecture (90 for sm_90); 0 for PTX (JIT on any GPU).
  int cubinArch = 0;
  struct CudaModules;
  std::shared_ptr<CudaModules> cudaModules; // shared_ptr: type completed in CudaKernel.cpp
  void *handle = nullptr;
  int memfd = -1;
  std::atomic<int> threads{0};
  /// The kernel's OpenMP runtime (its libomp), for `threads`.
  void (*ompSetNumThreads)(int) = nullptr;
  int (*ompGetMaxThreads)() = nullptr;
  std::vector<void *> fns;
  /// Per entry: fns[entry] is `_attnir_packed_<name>(void **args)` (any
  /// number of arguments) rather than the C interface.
  std::vector<bool> packed;
};

} // namespace attnir

#endif // ATTNIR_RUNTIME_KERNEL_H
