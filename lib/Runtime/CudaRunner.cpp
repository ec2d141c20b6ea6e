//===- CudaRunner.cpp - a CUDA kernel on host tensors ---------------------===//

#include "attnir/Runtime/CudaRunner.h"
#include "attnir/Runtime/CudaDriver.h"
#include <algorithm>

namespace attnir {

using namespace cuda;

CudaRunner::~CudaRunner() {
  std::string ignored;
  if (const Driver *d = driver(ignored))
    for (CUdeviceptr p : buffers)
      d->cuMemFree(p);
}

bool CudaRunner::prepare(std::unique_ptr<Kernel> k, int e,
                         const std::vector<HostTensor> &inputs,
                         const std::vector<DType> &outTypes,
                         const std::vector<std::vector<int64_t>> &outShapes,
                         std::string &error) {
  kernel = std::move(k);
  entry = e;
  const Driver *d = driver(error);
  if (!d || !ensureContext(error))
    return false;
  auto alloc = [&](DType t, const std::vector<int64_t> &shape,
                   const void *host, TensorRef &ref) {
    size_t bytes = dtypeSize(t);
    for (int64_t s : shape)
      bytes *= static_cast<size_t>(s);
    CUdeviceptr p = 0;
    if (bytes) {
      if (!check(d->cuMemAlloc(&p, bytes), "cuMemAlloc", error))
        return false;
      buffers.push_back(p);
      if (!check(host ? d->cuMemcpyHtoD(p, host, bytes)
                      : d->cuMemsetD8(p, 0, bytes),
                 "copying to the GPU", error))
        return false;
    }
    ref.data = reinterpret_cast<void *>(p);
    ref.dtype = t;
    ref.shape = shape;
    return true;
  };
  in.assign(inputs.size(), TensorRef());
  out.assign(outTypes.size(), TensorRef());
  for (size_t i = 0; i < inputs.size(); ++i)
    if (!alloc(inputs[i].dtype, inputs[i].shape, inputs[i].raw(), in[i]))
      return false;
  for (size_t i = 0; i < outTypes.size(); ++i)
    if (!alloc(outTypes[i], outShapes[i], nullptr, out[i]))
      return false;
  return true;
}

bool CudaRunner::run(std::string &error) {
  const Driver *d = driver(error);
  return d && kernel->run(entry, in, out, error) &&
         check(d->cuCtxSynchronize(), "the CUDA kernel failed", error);
}

bool CudaRunner::time(int reps, double &medianMs, std::string &error) {
  const Driver *d = driver(error);
  if (!d || !run(error))
    return false;
  std::vector<double> ms;
  CUevent a = nullptr, b = nullptr;
  bool ok = check(d->cuEventCreate(&a, 0), "cuEventCreate", error) &&
            check(d->cuEventCreate(&b, 0), "cuEventCreate", error);
  for (int r = 0; ok && r < reps; ++r) {
    float t = 0;
    ok = check(d->cuEventRecord(a, nullptr), "cuEventRecord", error) &&
         kernel->run(entry, in, out, error) &&
         check(d->cuEventRecord(b, nullptr), "cuEventRecord", error) &&
         check(d->cuEventSynchronize(b), "the CUDA kernel failed", error) &&
         check(d->cuEventElapsedTime(&t, a, b), "cuEventElapsedTime", error);
    ms.push_back(t);
  }
  if (a)
    d->cuEventDestroy(a);
  if (b)
    d->cuEventDestroy(b);
  if (!ok)
    return false;
  std::sort(ms.begin(), ms.end());
  medianMs = ms[ms.size() / 2];
  return true;
}

bool CudaRunner::download(std::vector<HostTensor> &outputs,
                          std::string &error) {
  const Driver *d = driver(error);
  if (!d)
    return false;
  outputs.clear();
  for (const TensorRef &t : out) {
    HostTensor h = HostTensor::zeros(t.dtype, t.shape);
    size_t bytes = dtypeSize(t.dtype);
    for (int64_t s : t.shape)
      bytes *= static_cast<size_t>(s);
    if (bytes &&
        !check(d->cuMemcpyDtoH(h.raw(), reinterpret_cast<CUdeviceptr>(t.data),
                               bytes),
               "copying from the GPU", error))
      return false;
    outputs.push_back(std::move(h));
  }
  return true;
}

} // namespace attnir
