//===- CudaRunner.h - a CUDA kernel on host tensors ------------------------===//
//
// Host tensors in, host tensors out, through the same runtime path as
// Python and C users (a CUDA bundle loaded by attnir::Kernel): device
// buffers, copies, the launch, CUDA-event timing. Used by `attnc run
// --target cuda` and by the runtime-only `attnir-run`.
//
//===----------------------------------------------------------------------===//

#ifndef ATTNIR_RUNTIME_CUDARUNNER_H
#define ATTNIR_RUNTIME_CUDARUNNER_H

#include "attnir/Runtime/Kernel.h"
#include "attnir/Support/HostTensor.h"
#include <memory>
#include <vector>

namespace attnir {

class CudaRunner {
public:
  ~CudaRunner();
  /// Device copies of `inputs` and zeroed outputs of the given types/shapes.
  bool prepare(std::unique_ptr<Kernel> kernel, int entry,
               const std::vector<HostTensor> &inputs,
               const std::vector<DType> &outTypes,
               const std::vector<std::vector<int64_t>> &outShapes,
               std::string &error);
  /// One launch, waited for.
  bool run(std::string &error);
  /// Median milliseconds of `reps` launches (after one warm-up), by events.
  bool time(int reps, double &medianMs, std::string &error);
  bool download(std::vector<HostTensor> &outputs, std::string &error);

private:
  std::unique_ptr<Kernel> kernel;
  int entry = 0;
  std::vector<TensorRef> in, out;
  std::vector<unsigned long long> buffers;
};

} // namespace attnir

#endif // ATTNIR_RUNTIME_CUDARUNNER_H
