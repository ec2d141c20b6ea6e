//===- CudaDriver.h - the CUDA driver API, opened at run time -------------===//
//
// AttnIR never links libcuda: it is dlopen'ed on first use, so the compiler
// and the CPU runtime build and run on machines with no GPU or driver, and
// a missing driver is an error message, not a failed program start. Only
// the driver API entry points the runtime needs are declared here (no
// cuda.h at build time either).
//
//===----------------------------------------------------------------------===//

#ifndef ATTNIR_RUNTIME_CUDADRIVER_H
#define ATTNIR_RUNTIME_CUDADRIVER_H

#include <cstddef>
#include <cstdint>
#include <string>

namespace attnir::cuda {

using CUresult = int;
using CUdevice = int;
using CUdeviceptr = unsigned long long;
using CUcontext = struct CUctx_st *;
using CUmodule = struct CUmod_st *;
using CUfunction = struct CUfunc_st *;
using CUstream = struct CUstream_st *;
using CUevent = struct CUevent_st *;
using CUgraph = struct CUgraph_st *;
using CUgraphNode = struct CUgraphNode_st *;
using CUgraphExec = struct CUgraphExec_st *;

/// CUDA_KERNEL_NODE_PARAMS_v2 (cuda.h, CUDA 12 and later).
struct KernelNodeParams {
  CUfunction func;
  unsigned gridDimX, gridDimY, gridDimZ;
  unsigned blockDimX, blockDimY, blockDimZ;
  unsigned sharedMemBytes;
  void **kernelParams;
  void **extra;
  void *kern;
  CUcontext ctx;
};

struct Driver {
  CUresult (*cuInit)(unsigned);
  CUresult (*cuGetErrorString)(CUresult, const char **);
  CUresult (*cuDeviceGet)(CUdevice *, int);
  CUresult (*cuDeviceGetCount)(int *);
  CUresult (*cuDeviceGetName)(char *, int, CUdevice);
  CUresult (*cuDeviceGetAttribute)(int *, int, CUdevice);
  CUresult (*cuDevicePrimaryCtxRetain)(CUcontext *, CUdevice);
  CUresult (*cuCtxGetCurrent)(CUcontext *);
  CUresult (*cuCtxSetCurrent)(CUcontext);
  CUresult (*cuCtxGetDevice)(CUdevice *);
  CUresult (*cuCtxSynchronize)();
  CUresult (*cuModuleLoadData)(CUmodule *, const void *);
  CUresult (*cuModuleGetFunction)(CUfunction *, CUmodule, const char *);
  CUresult (*cuFuncSetAttribute)(CUfunction, int, int);
  CUresult (*cuLaunchKernel)(CUfunction, unsigned, unsigned, unsigned,
                             unsigned, unsigned, unsigned, unsigned, CUstream,
                             void **, void **);
  CUresult (*cuPointerGetAttribute)(void *, int, CUdeviceptr);
  CUresult (*cuMemAlloc)(CUdeviceptr *, size_t);
  CUresult (*cuMemFree)(CUdeviceptr);
  CUresult (*cuMemcpyHtoD)(CUdeviceptr, const void *, size_t);
  CUresult (*cuMemcpyDtoH)(void *, CUdeviceptr, size_t);
  CUresult (*cuMemsetD8)(CUdeviceptr, unsigned char, size_t);
  CUresult (*cuMemsetD8Async)(CUdeviceptr, unsigned char, size_t, CUstream);
  CUresult (*cuStreamSynchronize)(CUstream);
  CUresult (*cuEventCreate)(CUevent *, unsigned);
  CUresult (*cuEventRecord)(CUevent, CUstream);
  CUresult (*cuEventSynchronize)(CUevent);
  CUresult (*cuEventElapsedTime)(float *, CUevent, CUevent);
  CUresult (*cuEventDestroy)(CUevent);
  /// CUDA 12+ drivers only: nullptr when absent (only kernels that take
  /// tensor maps need it, and they say so).
  CUresult (*cuTensorMapEncodeTiled)(void *map, int dtype, unsigned rank,
                                     void *address, const uint64_t *dims,
                                     const uint64_t *strides,
                                     const unsigned *box,
                                     const unsigned *elementStrides,
                                     int interleave, int swizzle,
                                     int l2Promotion, int oobFill);
  /// CUDA graphs (CUDA 12+ drivers; nullptr when absent: programs then
  /// launch their kernels one by one).
  CUresult (*cuGraphCreate)(CUgraph *, unsigned);
  CUresult (*cuGraphAddKernelNode)(CUgraphNode *, CUgraph, const CUgraphNode *, size_t,
                                   const KernelNodeParams *);
  CUresult (*cuGraphInstantiate)(CUgraphExec *, CUgraph, unsigned long long);
  CUresult (*cuGraphLaunch)(CUgraphExec, CUstream);
  CUresult (*cuGraphExecDestroy)(CUgraphExec);
  CUresult (*cuGraphDestroy)(CUgraph);
  /// Whether a stream is being captured into a graph (torch.cuda.graph):
  /// then a program launches one by one, into the caller's capture.
  CUresult (*cuStreamIsCapturing)(CUstream, int *);
};

/// The driver, loaded and initialised once (thread-safe); nullptr with a
/// message when libcuda.so.1 is absent or cuInit fails.
const Driver *driver(std::string &error);

/// False with "<what>: <driver's message>" in `error` when `r` is not 0.
bool check(CUresult r, const char *what, std::string &error);

/// The multiprocessor count of the current context's device, in `sms`.
bool deviceSMCount(const Driver &d, int &sms, std::string &error);

/// Makes a context current on this thread: the caller's (torch sets one),
/// else device 0's primary context; that context in `*current` if given.
bool ensureContext(std::string &error, CUcontext *current = nullptr);
/// The driver and the calling thread's current context (null if none).
bool currentContext(const Driver *&d, CUcontext &ctx, std::string &error);

} // namespace attnir::cuda

#endif // ATTNIR_RUNTIME_CUDADRIVER_H
