//===- CAPI.cpp - the runtime half of the C API ---------------------------===//
//
// Loading, inspecting and running kernels. No LLVM/MLIR here: this file is
// all of the C API in a runtime-only build. Every entry point catches
// everything, so no C++ exception or bad argument crosses into C.
//
//===----------------------------------------------------------------------===//

#include "KernelHandle.h"
#include "attnir/Runtime/Workspace.h"
#include "attnir/Reference/Reference.h"
#include "attnir/Runtime/Bundle.h"
#include <cstring>

using namespace attnir;

namespace {
thread_local std::string lastError;

/// The dtype code of a C tensor, read as the integer a C caller stored: C
/// allows any int in an enum field, while loading a C++ enum outside its
/// range is undefined (issue 15, case 9).
int dtypeCode(const attnir_dtype_t &field) {
  static_assert(sizeof(attnir_dtype_t) == sizeof(int), "C enum is an int");
  int code;
  std::memcpy(&code, &field, sizeof code);
  return code;
}

bool toDType(int code, DType &out) {
  switch (code) {
  case ATTNIR_F32: out = DType::F32; return true;
  case ATTNIR_BF16: out = DType::BF16; return true;
  case ATTNIR_F16: out = DType::F16; return true;
  case ATTNIR_F64: out = DType::F64; return true;
  case ATTNIR_I32: out = DType::I32; return true;
  case ATTNIR_I64: out = DType::I64; return true;
  }
  return false;
}

attnir_dtype_t fromDType(DType dt) {
  switch (dt) {
  case DType::F32: return ATTNIR_F32;
  case DType::BF16: return ATTNIR_BF16;
  case DType::F16: return ATTNIR_F16;
  case DType::F64: return ATTNIR_F64;
  case DType::I32: return ATTNIR_I32;
  case DType::I64: return ATTNIR_I64;
  }
  return ATTNIR_F32;
}

bool validEntry(const attnir_kernel_t *k, int32_t entry) {
  if (!k) {
    capi::setError("null kernel");
    return false;
  }
  if (entry < 0 ||
      static_cast<size_t>(entry) >= k->kernel->bundle().entries.size()) {
    capi::setError("no entry #" + std::to_string(entry));
    return false;
  }
  return true;
}

} // namespace

/// C tensors to TensorRefs; `what` is "input" or "output".
bool capi::convert(const attnir_tensor_t *ts, int32_t n, const char *what,
                   std::vector<TensorRef> &out) {
  if (n < 0 || (n > 0 && !ts)) {
    capi::setError(std::string("null ") + what + " array");
    return false;
  }
  for (int32_t i = 0; i < n; ++i) {
    const attnir_tensor_t &t = ts[i];
    TensorRef r;
    r.data = t.data;
    if (!toDType(dtypeCode(t.dtype), r.dtype)) {
      capi::setError(std::string(what) + " #" + std::to_string(i) +
                     ": unknown dtype code " +
                     std::to_string(dtypeCode(t.dtype)));
      return false;
    }
    if (t.rank < 0 || t.rank > 16 || (t.rank > 0 && !t.shape)) {
      capi::setError(std::string(what) + " #" + std::to_string(i) +
                     ": bad rank or null shape");
      return false;
    }
    r.shape.assign(t.shape, t.shape + t.rank);
    if (t.strides)
      r.strides.assign(t.strides, t.strides + t.rank);
    out.push_back(std::move(r));
  }
  return true;
}

void attnir::capi::setError(const std::string &msg) { lastError = msg; }

attnir_kernel_t *attnir::capi::wrap(std::unique_ptr<Kernel> kernel) {
  auto *h = new attnir_kernel();
  for (const EntryABI &e : kernel->bundle().entries) {
    std::vector<std::vector<int64_t>> shapes;
    for (auto *list : {&e.inputs, &e.outputs})
      for (const ABIArg &a : *list) {
        std::vector<int64_t> s;
        for (int32_t c : a.dimClass)
          s.push_back(e.classSize[c]);
        shapes.push_back(std::move(s));
      }
    h->staticShapes.push_back(std::move(shapes));
  }
  h->kernel = std::move(kernel);
  return h;
}

/// A (possibly strided) host tensor as a contiguous HostTensor.
HostTensor capi::toHostTensor(const TensorRef &r) {
  HostTensor t = HostTensor::zeros(r.dtype, r.shape);
  size_t es = dtypeSize(r.dtype);
  int64_t n = t.numElements(), rank = static_cast<int64_t>(r.shape.size());
  std::vector<int64_t> idx(rank, 0);
  const auto *src = static_cast<const uint8_t *>(r.data);
  for (int64_t flat = 0; flat < n; ++flat) {
    int64_t off = 0, stride = 1;
    for (int64_t d = rank - 1; d >= 0; --d) {
      off += idx[d] * (r.strides.empty() ? stride : r.strides[d]);
      stride *= r.shape[d];
    }
    std::memcpy(t.data.data() + flat * es, src + off * es, es);
    for (int64_t d = rank - 1; d >= 0 && ++idx[d] == r.shape[d]; --d)
      idx[d] = 0;
  }
  return t;
}

attnir_results_t *capi::referenceOf(const EntryABI &abi,
                                     const attnir_tensor_t *inputs,
                                     int32_t numInputs) {
  try {
    std::vector<TensorRef> refs;
    if (!capi::convert(inputs, numInputs, "input", refs))
      return nullptr;
    std::vector<HostTensor> args;
    std::vector<std::vector<int64_t>> shapes, outShapes;
    for (size_t i = 0; i < refs.size(); ++i) {
      const TensorRef &r = refs[i];
      bool empty = false;
      for (int64_t d : r.shape)
        empty |= d == 0;
      if (!r.data && !empty) {
        setError("input #" + std::to_string(i) + ": null data");
        return nullptr;
      }
      shapes.push_back(r.shape);
    }
    // Shapes first: a tensor is read only once its shape is known to fit.
    std::string err;
    if (!abi.resolve(shapes, outShapes, err)) {
      setError(err);
      return nullptr;
    }
    for (const TensorRef &r : refs)
      args.push_back(toHostTensor(r));
    if (abi.program.empty()) {
      setError("@" + abi.name + " carries no program for the reference (a "
               "bundle from before the reference was recorded): recompile "
               "it");
      return nullptr;
    }
    // Any dtype: values are widened.
    RefProgram program;
    auto results = std::make_unique<attnir_results>();
    if (!RefProgram::parse(abi.program, program, err) ||
        !evaluateProgram(program, args, results->tensors, err)) {
      setError(err);
      return nullptr;
    }
    return results.release();
  } catch (const std::exception &ex) {
    setError(std::string("internal error: ") + ex.what());
    return nullptr;
  }
}

extern "C" {

const char *attnir_last_error(void) { return lastError.c_str(); }

attnir_kernel_t *attnir_load(const char *path) {
  try {
    if (!path) {
      capi::setError("null path");
      return nullptr;
    }
    Bundle b;
    std::string err;
    if (!Bundle::readFile(path, b, err)) {
      capi::setError(err);
      return nullptr;
    }
    std::unique_ptr<Kernel> k = Kernel::load(std::move(b), err);
    if (!k) {
      capi::setError("'" + std::string(path) + "': " + err);
      return nullptr;
    }
    return capi::wrap(std::move(k));
  } catch (const std::exception &e) {
    capi::setError(e.what());
    return nullptr;
  }
}

int attnir_save(const attnir_kernel_t *kernel, const char *path) {
  if (!kernel || !path) {
    capi::setError("null kernel or path");
    return 1;
  }
  std::string err;
  if (!kernel->kernel->bundle().writeFile(path, err)) {
    capi::setError(err);
    return 1;
  }
  return 0;
}

void attnir_kernel_free(attnir_kernel_t *kernel) { delete kernel; }

int32_t attnir_num_entries(const attnir_kernel_t *kernel) {
  return kernel ? static_cast<int32_t>(kernel->kernel->bundle().entries.size())
                : -1;
}

const char *attnir_entry_name(const attnir_kernel_t *kernel, int32_t entry) {
  if (!validEntry(kernel, entry))
    return nullptr;
  return kernel->kernel->bundle().entries[entry].name.c_str();
}

int32_t attnir_entry_index(const attnir_kernel_t *kernel, const char *name) {
  if (!kernel || !name) {
    capi::setError("null kernel or name");
    return -1;
  }
  int i = kernel->kernel->findEntry(name);
  if (i < 0)
    capi::setError("no entry @" + std::string(name));
  return i;
}

int32_t attnir_num_args(const attnir_kernel_t *kernel, int32_t entry,
                        int is_output) {
  if (!validEntry(kernel, entry))
    return -1;
  const EntryABI &e = kernel->kernel->bundle().entries[entry];
  return static_cast<int32_t>(is_output ? e.outputs.size() : e.inputs.size());
}

int attnir_arg_info(const attnir_kernel_t *kernel, int32_t entry,
                    int is_output, int32_t index, const char **name,
                    attnir_dtype_t *dtype, int32_t *rank,
                    const int64_t **static_shape) {
  if (!validEntry(kernel, entry))
    return 1;
  const EntryABI &e = kernel->kernel->bundle().entries[entry];
  const auto &list = is_output ? e.outputs : e.inputs;
  if (index < 0 || static_cast<size_t>(index) >= list.size()) {
    capi::setError("no argument #" + std::to_string(index));
    return 1;
  }
  const ABIArg &a = list[index];
  const auto &shape =
      kernel->staticShapes[entry][(is_output ? e.inputs.size() : 0) + index];
  if (name)
    *name = a.name.c_str();
  if (dtype)
    *dtype = fromDType(a.dtype);
  if (rank)
    *rank = static_cast<int32_t>(shape.size());
  if (static_shape)
    *static_shape = shape.data();
  return 0;
}

int attnir_output_dim_source(const attnir_kernel_t *kernel, int32_t entry,
                             int32_t output, int32_t dim, int64_t *size,
                             int32_t *input, int32_t *input_dim,
                             int64_t *divisor) {
  if (!validEntry(kernel, entry))
    return 1;
  const EntryABI &e = kernel->kernel->bundle().entries[entry];
  DimSource src;
  if (output < 0 || dim < 0 ||
      !e.outputDimSource(static_cast<size_t>(output), static_cast<size_t>(dim),
                         src)) {
    capi::setError("output #" + std::to_string(output) + " dimension " +
                   std::to_string(dim) + " has no known source");
    return 1;
  }
  if (size)
    *size = src.size;
  if (input)
    *input = src.input;
  if (input_dim)
    *input_dim = src.inputDim;
  if (divisor)
    *divisor = src.divisor;
  return 0;
}

int attnir_output_shapes(const attnir_kernel_t *kernel, int32_t entry,
                         const attnir_tensor_t *inputs, int32_t num_inputs,
                         int64_t *shapes, int32_t capacity) {
  try {
    if (!validEntry(kernel, entry))
      return 1;
    std::vector<TensorRef> in;
    if (!capi::convert(inputs, num_inputs, "input", in))
      return 1;
    std::vector<std::vector<int64_t>> out;
    std::string err;
    if (!kernel->kernel->outputShapes(entry, in, out, err)) {
      capi::setError(err);
      return 1;
    }
    int32_t pos = 0;
    for (auto &s : out)
      for (int64_t d : s) {
        if (!shapes || pos >= capacity) {
          capi::setError("output shape buffer too small");
          return 1;
        }
        shapes[pos++] = d;
      }
    return 0;
  } catch (const std::exception &e) {
    capi::setError(e.what());
    return 1;
  }
}

int attnir_run(const attnir_kernel_t *kernel, int32_t entry,
               const attnir_tensor_t *inputs, int32_t num_inputs,
               const attnir_tensor_t *outputs, int32_t num_outputs) {
  return attnir_run_on_stream(kernel, entry, inputs, num_inputs, outputs,
                              num_outputs, nullptr);
}

const char *attnir_kernel_target(const attnir_kernel_t *kernel) {
  if (!kernel) {
    capi::setError("null kernel");
    return nullptr;
  }
  return kernel->kernel->bundle().target.c_str();
}

int attnir_set_threads(attnir_kernel_t *kernel, int32_t threads) {
  if (!kernel) {
    capi::setError("null kernel");
    return 1;
  }
  if (threads < 0 || threads > 4096) {
    capi::setError("threads = " + std::to_string(threads) +
                   ": expected 0 (every core) to 4096");
    return 1;
  }
  if (threads && kernel->kernel->isCuda()) {
    capi::setError("threads applies to CPU kernels; this kernel runs on "
                   "CUDA");
    return 1;
  }
  kernel->kernel->setThreads(threads);
  return 0;
}

void attnir_workspace_stats(uint64_t *system_allocations,
                            uint64_t *bytes_held) {
  attnir::WorkspaceStats st = attnir::workspaceStats();
  if (system_allocations)
    *system_allocations = st.systemAllocations;
  if (bytes_held)
    *bytes_held = st.bytesHeld;
}

int32_t attnir_get_threads(const attnir_kernel_t *kernel) {
  if (!kernel) {
    capi::setError("null kernel");
    return -1;
  }
  return kernel->kernel->getThreads();
}

int attnir_run_on_stream(const attnir_kernel_t *kernel, int32_t entry,
                         const attnir_tensor_t *inputs, int32_t num_inputs,
                         const attnir_tensor_t *outputs, int32_t num_outputs,
                         void *stream) {
  try {
    if (!validEntry(kernel, entry))
      return 1;
    std::vector<TensorRef> in, out;
    if (!capi::convert(inputs, num_inputs, "input", in) ||
        !capi::convert(outputs, num_outputs, "output", out))
      return 1;
    std::string err;
    if (!kernel->kernel->run(entry, in, out, err, stream)) {
      capi::setError(err);
      return 1;
    }
    return 0;
  } catch (const std::exception &e) {
    capi::setError(e.what());
    return 1;
  }
}

int32_t attnir_results_count(const attnir_results_t *r) {
  return r ? static_cast<int32_t>(r->tensors.size()) : -1;
}

const double *attnir_results_data(const attnir_results_t *r, int32_t i) {
  if (!r || i < 0 || static_cast<size_t>(i) >= r->tensors.size())
    return nullptr;
  return reinterpret_cast<const double *>(r->tensors[i].raw());
}

int32_t attnir_results_rank(const attnir_results_t *r, int32_t i) {
  if (!r || i < 0 || static_cast<size_t>(i) >= r->tensors.size())
    return -1;
  return static_cast<int32_t>(r->tensors[i].shape.size());
}

const int64_t *attnir_results_shape(const attnir_results_t *r, int32_t i) {
  if (!r || i < 0 || static_cast<size_t>(i) >= r->tensors.size())
    return nullptr;
  return r->tensors[i].shape.data();
}

void attnir_results_free(attnir_results_t *r) { delete r; }

attnir_results_t *attnir_kernel_reference(const attnir_kernel_t *kernel,
                                          int32_t entry,
                                          const attnir_tensor_t *inputs,
                                          int32_t num_inputs) {
  if (!kernel) {
    capi::setError("null kernel");
    return nullptr;
  }
  const std::vector<EntryABI> &entries = kernel->kernel->bundle().entries;
  if (entry < 0 || static_cast<size_t>(entry) >= entries.size()) {
    capi::setError("no entry #" + std::to_string(entry));
    return nullptr;
  }
  return capi::referenceOf(entries[entry], inputs, num_inputs);
}

} // extern "C"
