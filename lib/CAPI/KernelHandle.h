//===- KernelHandle.h - what attnir_kernel_t points to --------------------===//

#ifndef ATTNIR_LIB_CAPI_KERNELHANDLE_H
#define ATTNIR_LIB_CAPI_KERNELHANDLE_H

#include "attnir-c/attnir.h"
#include "attnir/Runtime/Kernel.h"
#include <map>
#include <memory>
#include <string>

struct attnir_kernel {
  std::unique_ptr<attnir::Kernel> kernel;
  /// Static shapes per entry, inputs then outputs, for attnir_arg_info.
  std::vector<std::vector<std::vector<int64_t>>> staticShapes;
  /// For attnir_ir: the spec and options it was compiled from (empty when
  /// loaded from a bundle), and the stages printed so far.
  std::string specText, options;
  std::map<std::string, std::string> irByStage;
};

namespace attnir::capi {
/// Records `msg` as this thread's last error.
void setError(const std::string &msg);
/// Wraps a loaded kernel (fills staticShapes).
attnir_kernel_t *wrap(std::unique_ptr<Kernel> kernel);
/// C tensors to TensorRefs; `what` ("input", "output") names them in errors.
bool convert(const attnir_tensor_t *ts, int32_t n, const char *what,
             std::vector<TensorRef> &out);
/// A (possibly strided) host tensor as a contiguous HostTensor.
HostTensor toHostTensor(const TensorRef &r);
} // namespace attnir::capi

/// What attnir_results_t points to: float64 tensors.
struct attnir_results {
  std::vector<attnir::HostTensor> tensors;
};

namespace attnir::capi {
/// The float64 reference of the entry `abi` describes on host `inputs`,
/// from the program it records; null with the error set on failure.
attnir_results_t *referenceOf(const EntryABI &abi,
                              const attnir_tensor_t *inputs,
                              int32_t numInputs);
} // namespace attnir::capi

#endif // ATTNIR_LIB_CAPI_KERNELHANDLE_H
