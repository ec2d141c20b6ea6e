//===- CudaDriver.cpp - the CUDA driver API, opened at run time -----------===//

#include "attnir/Runtime/CudaDriver.h"
#include <dlfcn.h>
#include <mutex>

namespace attnir::cuda {

namespace {

struct Loaded {
  Driver d{};
  std::string error;
  bool ok = false;
};

Loaded load() {
  Loaded l;
  void *h = dlopen("libcuda.so.1", RTLD_NOW | RTLD_LOCAL);
  if (!h) {
    l.error = "the CUDA driver (libcuda.so.1) is not available on this "
              "machine: no NVIDIA GPU driver is installed";
    return l;
  }
  bool missing = false;
  std::string which;
  // Optional entry points stay null when absent; required ones fail the load.
  auto optional = [&](auto &fn, const char *name) {
    fn = reinterpret_cast<std::remove_reference_t<decltype(fn)>>(dlsym(h, name));
  };
  auto sym = [&](auto &fn, const char *name) {
    optional(fn, name);
    if (!fn && !missing) {
      missing = true;
      which = name;
    }
  };
  Driver &d = l.d;
  sym(d.cuInit, "cuInit");
  sym(d.cuGetErrorString, "cuGetErrorString");
  sym(d.cuDeviceGet, "cuDeviceGet");
  sym(d.cuDeviceGetCount, "cuDeviceGetCount");
  sym(d.cuDeviceGetName, "cuDeviceGetName");
  sym(d.cuDeviceGetAttribute, "cuDeviceGetAttribute");
  sym(d.cuDevicePrimaryCtxRetain, "cuDevicePrimaryCtxRetain");
  sym(d.cuCtxGetCurrent, "cuCtxGetCurrent");
  sym(d.cuCtxSetCurrent, "cuCtxSetCurrent");
  sym(d.cuCtxGetDevice, "cuCtxGetDevice");
  sym(d.cuCtxSynchronize, "cuCtxSynchronize");
  sym(d.cuModuleLoadData, "cuModuleLoadData");
  sym(d.cuModuleGetFunction, "cuModuleGetFunction");
  sym(d.cuFuncSetAttribute, "cuFuncSetAttribute");
  sym(d.cuLaunchKernel, "cuLaunchKernel");
  sym(d.cuPointerGetAttribute, "cuPointerGetAttribute");
  sym(d.cuMemAlloc, "cuMemAlloc_v2");
  sym(d.cuMemFree, "cuMemFree_v2");
  sym(d.cuMemcpyHtoD, "cuMemcpyHtoD_v2");
  sym(d.cuMemcpyDtoH, "cuMemcpyDtoH_v2");
  sym(d.cuMemsetD8, "cuMemsetD8_v2");
  sym(d.cuMemsetD8Async, "cuMemsetD8Async");
  sym(d.cuStreamSynchronize, "cuStreamSynchronize");
  sym(d.cuEventCreate, "cuEventCreate");
  sym(d.cuEventRecord, "cuEventRecord");
  sym(d.cuEventSynchronize, "cuEventSynchronize");
  sym(d.cuEventElapsedTime, "cuEventElapsedTime");
  sym(d.cuEventDestroy, "cuEventDestroy_v2");
  optional(d.cuTensorMapEncodeTiled, "cuTensorMapEncodeTiled");
  optional(d.cuGraphCreate, "cuGraphCreate");
  optional(d.cuGraphAddKernelNode, "cuGraphAddKernelNode_v2");
  optional(d.cuGraphInstantiate, "cuGraphInstantiateWithFlags");
  optional(d.cuGraphLaunch, "cuGraphLaunch");
  optional(d.cuGraphExecDestroy, "cuGraphExecDestroy");
  optional(d.cuGraphDestroy, "cuGraphDestroy");
  optional(d.cuStreamIsCapturing, "cuStreamIsCapturing");
  if (missing) {
    l.error = "the CUDA driver lacks " + which + " (driver too old?)";
    return l;
  }
  CUresult r = d.cuInit(0);
  if (r != 0) {
    const char *msg = nullptr;
    d.cuGetErrorString(r, &msg);
    l.error = std::string("cuInit failed: ") + (msg ? msg : "unknown error") +
              " (no usable GPU?)";
    return l;
  }
  l.ok = true;
  return l;
}

} // namespace

const Driver *driver(std::string &error) {
  static Loaded l = load();
  if (!l.ok) {
    error = l.error;
    return nullptr;
  }
  return &l.d;
}

bool deviceSMCount(const Driver &d, int &sms, std::string &error) {
  CUdevice dev = 0;
  return check(d.cuCtxGetDevice(&dev), "cuCtxGetDevice", error) &&
         check(d.cuDeviceGetAttribute(&sms, 16, dev), // MULTIPROCESSOR_COUNT
               "cuDeviceGetAttribute", error);
}

bool check(CUresult r, const char *what, std::string &error) {
  if (r == 0)
    return true;
  std::string ignored;
  const Driver *d = driver(ignored);
  const char *msg = nullptr;
  if (d)
    d->cuGetErrorString(r, &msg);
  error = std::string(what) + ": " + (msg ? msg : "CUDA error") + " (" +
          std::to_string(r) + ")";
  return false;
}

bool currentContext(const Driver *&d, CUcontext &ctx, std::string &error) {
  ctx = nullptr;
  d = driver(error);
  return d && check(d->cuCtxGetCurrent(&ctx), "cuCtxGetCurrent", error);
}

bool ensureContext(std::string &error, CUcontext *current) {
  const Driver *d = nullptr;
  CUcontext ctx = nullptr;
  if (!currentContext(d, ctx, error))
    return false;
  if (current)
    *current = ctx;
  if (ctx)
    return true;
  CUdevice dev;
  if (!check(d->cuDeviceGet(&dev, 0), "cuDeviceGet", error) ||
      !check(d->cuDevicePrimaryCtxRetain(&ctx, dev),
             "cuDevicePrimaryCtxRetain", error) ||
      !check(d->cuCtxSetCurrent(ctx), "cuCtxSetCurrent", error))
    return false;
  if (current)
    *current = ctx;
  return true;
}

} // namespace attnir::cuda
