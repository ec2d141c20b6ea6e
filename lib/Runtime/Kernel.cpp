//===- Kernel.cpp - a loaded kernel and checked calls ---------------------===//

#include "attnir/Runtime/Kernel.h"
#include "attnir/Runtime/AmxPermission.h"
#include "attnir/Runtime/Workspace.h"
#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <dlfcn.h>
#include <mutex>
#include <sys/mman.h>
#include <unistd.h>

namespace attnir {

static std::mutex ompMutex;
static std::string ompPath;

void setOpenMPRuntime(std::string path) {
  std::lock_guard<std::mutex> lock(ompMutex);
  ompPath = std::move(path);
}

/// Loads the OpenMP runtime named by setOpenMPRuntime, once; false with a
/// message when it cannot be loaded.
static bool loadOpenMPRuntime(std::string &error) {
  std::lock_guard<std::mutex> lock(ompMutex);
  static void *handle = nullptr;
  if (ompPath.empty() || handle)
    return true;
  handle = dlopen(ompPath.c_str(), RTLD_NOW | RTLD_LOCAL);
  if (!handle) {
    const char *e = dlerror();
    error = "cannot load the OpenMP runtime " + ompPath + ": " +
            (e ? e : "dlopen failed");
    return false;
  }
  return true;
}

/// With ATTNIR_PROFILE_DIR set, the kernel's shared object is also written
/// there (attnir-kernel-<pid>-<n>.so) and loaded from that file: perf and
/// other profilers then find its symbols, which a memfd mapping hides.
/// Returns the file's path, or "" when the variable is unset.
static std::string writeForProfilers(const std::string &obj,
                                     std::string &error) {
  const char *dir = std::getenv("ATTNIR_PROFILE_DIR");
  if (!dir || !*dir)
    return "";
  static std::atomic<int> count{0};
  std::string path = std::string(dir) + "/attnir-kernel-" +
                     std::to_string(getpid()) + "-" +
                     std::to_string(count++) + ".so";
  FILE *f = std::fopen(path.c_str(), "wb");
  if (!f || std::fwrite(obj.data(), 1, obj.size(), f) != obj.size() ||
      std::fclose(f) != 0) {
    error = "ATTNIR_PROFILE_DIR: cannot write " + path + ": " +
            std::strerror(errno);
    return "";
  }
  return path;
}

Kernel::~Kernel() {
  if (handle)
    dlclose(handle);
  if (memfd >= 0)
    close(memfd);
}

std::unique_ptr<Kernel> Kernel::load(Bundle bundle, std::string &error) {
  if (bundle.target == "cuda")
    return loadCuda(std::move(bundle), error);
  if (bundle.target != "cpu") {
    error = "bundle target '" + bundle.target +
            "' cannot run in this runtime (cpu, cuda)";
    return nullptr;
  }
  std::string missing = missingFeature(bundle.features);
  if (!missing.empty()) {
    error = "the kernel was compiled for a CPU with " + missing +
            ", which this CPU lacks; recompile it here";
    return nullptr;
  }
  if (!loadOpenMPRuntime(error))
    return nullptr;
  requestAmxTiles(); // kernels built with bf16-dot=2 use AMX tiles

  auto k = std::unique_ptr<Kernel>(new Kernel());
  // The shared object goes through an anonymous in-memory file: no temporary
  // files to clean up, nothing another process can swap underneath us.
  k->memfd = memfd_create("attnir-kernel", MFD_CLOEXEC);
  if (k->memfd < 0) {
    error = std::string("memfd_create failed: ") + std::strerror(errno);
    return nullptr;
  }
  const std::string &obj = bundle.object;
  for (size_t done = 0; done < obj.size();) {
    ssize_t n = write(k->memfd, obj.data() + done, obj.size() - done);
    if (n <= 0) {
      error = std::string("writing the kernel failed: ") + std::strerror(errno);
      return nullptr;
    }
    done += static_cast<size_t>(n);
  }
  std::string path = "/proc/self/fd/" + std::to_string(k->memfd);
  std::string profiled = writeForProfilers(obj, error);
  if (!error.empty())
    return nullptr;
  if (!profiled.empty())
    path = profiled;
  k->handle = dlopen(path.c_str(), RTLD_NOW | RTLD_LOCAL);
  if (!k->handle) {
    const char *e = dlerror();
    error = std::string("cannot load the kernel: ") + (e ? e : "dlopen failed");
    return nullptr;
  }
  // Kernel scratch from the runtime's workspace (attn-alloc-hooks; bundles
  // made before it call malloc).
  if (void *table = dlsym(k->handle, "_attnir_alloc_hooks"))
    installWorkspaceHooks(table);
  // The OpenMP runtime the kernel links (found through its dependencies).
  k->ompSetNumThreads = reinterpret_cast<void (*)(int)>(
      dlsym(k->handle, "omp_set_num_threads"));
  k->ompGetMaxThreads =
      reinterpret_cast<int (*)()>(dlsym(k->handle, "omp_get_max_threads"));
  for (const EntryABI &e : bundle.entries) {
    // The packed entry takes any number of arguments; bundles made before
    // it existed have only the C interface (at most 8 arguments).
    std::string sym = "_attnir_packed_" + e.name;
    void *fn = dlsym(k->handle, sym.c_str());
    k->packed.push_back(fn != nullptr);
    if (!fn) {
      sym = "_mlir_ciface_" + e.name;
      fn = dlsym(k->handle, sym.c_str());
    }
    // Issue 15, case 6: the entry description must match the kernel.
    const auto *arity = static_cast<const int32_t *>(
        dlsym(k->handle, ("_attnir_arity_" + e.name).c_str()));
    if (arity && static_cast<size_t>(*arity) !=
                     e.inputs.size() + e.outputs.size()) {
      error = "corrupt bundle: @" + e.name + " describes " +
              std::to_string(e.inputs.size() + e.outputs.size()) +
              " arguments but its kernel takes " + std::to_string(*arity);
      return nullptr;
    }
    if (!fn) {
      error = "the kernel has no symbol " + sym;
      return nullptr;
    }
    k->fns.push_back(fn);
  }
  k->b = std::move(bundle);
  return k;
}

int Kernel::findEntry(const std::string &name) const {
  for (size_t i = 0; i < b.entries.size(); ++i)
    if (b.entries[i].name == name)
      return static_cast<int>(i);
  return -1;
}

bool Kernel::outputShapes(int entry, const std::vector<TensorRef> &inputs,
                          std::vector<std::vector<int64_t>> &shapes,
                          std::string &error) const {
  if (entry < 0 || static_cast<size_t>(entry) >= b.entries.size()) {
    error = "no entry #" + std::to_string(entry);
    return false;
  }
  std::vector<DType> dtypes;
  std::vector<std::vector<int64_t>> inShapes;
  for (const TensorRef &t : inputs) {
    dtypes.push_back(t.dtype);
    inShapes.push_back(t.shape);
  }
  return b.entries[entry].check(dtypes, inShapes, shapes, error);
}

namespace {

int64_t numElements(const std::vector<int64_t> &shape) {
  int64_t n = 1;
  for (int64_t d : shape)
    n *= d;
  return n;
}


/// Copies a strided tensor into contiguous storage.
void gather(const TensorRef &t, std::vector<uint8_t> &out) {
  size_t es = dtypeSize(t.dtype);
  int64_t n = numElements(t.shape);
  out.resize(static_cast<size_t>(n) * es);
  std::vector<int64_t> idx(t.shape.size(), 0);
  const uint8_t *base = static_cast<const uint8_t *>(t.data);
  for (int64_t flat = 0; flat < n; ++flat) {
    int64_t off = 0;
    for (size_t d = 0; d < idx.size(); ++d)
      off += idx[d] * t.strides[d];
    std::memcpy(out.data() + flat * es, base + off * es, es);
    for (size_t d = idx.size(); d-- > 0;) {
      if (++idx[d] < t.shape[d])
        break;
      idx[d] = 0;
    }
  }
}

/// The C interface takes one descriptor pointer per argument.
bool callWithPointers(void *fn, std::vector<void *> &a) {
  using P = void *;
  switch (a.size()) {
  case 1: reinterpret_cast<void (*)(P)>(fn)(a[0]); return true;
  case 2: reinterpret_cast<void (*)(P, P)>(fn)(a[0], a[1]); return true;
  case 3: reinterpret_cast<void (*)(P, P, P)>(fn)(a[0], a[1], a[2]); return true;
  case 4: reinterpret_cast<void (*)(P, P, P, P)>(fn)(a[0], a[1], a[2], a[3]); return true;
  case 5: reinterpret_cast<void (*)(P, P, P, P, P)>(fn)(a[0], a[1], a[2], a[3], a[4]); return true;
  case 6: reinterpret_cast<void (*)(P, P, P, P, P, P)>(fn)(a[0], a[1], a[2], a[3], a[4], a[5]); return true;
  case 7: reinterpret_cast<void (*)(P, P, P, P, P, P, P)>(fn)(a[0], a[1], a[2], a[3], a[4], a[5], a[6]); return true;
  case 8: reinterpret_cast<void (*)(P, P, P, P, P, P, P, P)>(fn)(a[0], a[1], a[2], a[3], a[4], a[5], a[6], a[7]); return true;
  default:
    return false;
  }
}

} // namespace

bool isContiguous(const TensorRef &t) {
  // No element, no layout (torch gives empty tensors arbitrary strides).
  if (t.strides.empty() ||
      std::find(t.shape.begin(), t.shape.end(), 0) != t.shape.end())
    return true;
  int64_t expect = 1;
  for (size_t d = t.shape.size(); d-- > 0;) {
    if (t.shape[d] != 1 && t.strides[d] != expect)
      return false;
    expect *= t.shape[d];
  }
  return true;
}

std::vector<int64_t> memrefDescriptor(void *data,
                                      const std::vector<int64_t> &shape) {
  size_t rank = shape.size();
  std::vector<int64_t> d(3 + 2 * rank);
  d[0] = d[1] = reinterpret_cast<int64_t>(data);
  int64_t stride = 1;
  for (size_t r = rank; r-- > 0;) {
    d[3 + r] = shape[r];
    d[3 + rank + r] = stride;
    stride *= std::max<int64_t>(shape[r], 1);
  }
  return d;
}

bool Kernel::run(int entry, const std::vector<TensorRef> &inputs,
                 const std::vector<TensorRef> &outputs, std::string &error,
                 void *stream) const {
  std::vector<std::vector<int64_t>> shapes;
  if (!checkCall(entry, inputs, outputs, shapes, error))
    return false;
  if (isCuda())
    return launchCuda(entry, inputs, outputs, stream, error);
  return runHost(entry, inputs, outputs, shapes, error);
}

/// Checks that hold on every target: the ABI, strides, null data, outputs
/// of the right shape, contiguous and overlapping nothing.
bool Kernel::checkCall(int entry, const std::vector<TensorRef> &inputs,
                       const std::vector<TensorRef> &outputs,
                       std::vector<std::vector<int64_t>> &shapes,
                       std::string &error) const {
  if (!outputShapes(entry, inputs, shapes, error))
    return false;
  const EntryABI &abi = b.entries[entry];
  if (outputs.size() != abi.outputs.size()) {
    error = "@" + abi.name + " has " + std::to_string(abi.outputs.size()) +
            " outputs, got " + std::to_string(outputs.size());
    return false;
  }
  auto checkStrides = [&](const TensorRef &t, const std::string &name) {
    if (!t.strides.empty() && t.strides.size() != t.shape.size()) {
      error = "argument '" + name + "' has " +
              std::to_string(t.strides.size()) + " strides for rank " +
              std::to_string(t.shape.size());
      return false;
    }
    for (int64_t s : t.strides)
      if (s < 0) {
        error = "argument '" + name +
                "' has a negative stride, which is not supported";
        return false;
      }
    return true;
  };
  for (size_t i = 0; i < inputs.size(); ++i) {
    if (!checkStrides(inputs[i], abi.inputs[i].name))
      return false;
    if (!inputs[i].data && numElements(inputs[i].shape) > 0) {
      error = "argument '" + abi.inputs[i].name + "' has a null data pointer";
      return false;
    }
  }
  for (size_t i = 0; i < outputs.size(); ++i) {
    const TensorRef &o = outputs[i];
    const ABIArg &a = abi.outputs[i];
    if (o.dtype != a.dtype || o.shape != shapes[i]) {
      std::string want;
      for (int64_t d : shapes[i])
        want += (want.empty() ? "" : "x") + std::to_string(d);
      error = "output '" + a.name + "' must be a " + dtypeName(a.dtype) +
              " tensor of shape " + want;
      return false;
    }
    if (!checkStrides(o, a.name))
      return false;
    if (!isContiguous(o)) {
      error = "output '" + a.name + "' must be contiguous";
      return false;
    }
    if (!o.data && numElements(o.shape) > 0) {
      error = "output '" + a.name + "' has a null data pointer";
      return false;
    }
    // Outputs must not overlap any input or another output.
    auto span = [](const TensorRef &t, const uint8_t *&lo, const uint8_t *&hi) {
      lo = static_cast<const uint8_t *>(t.data);
      int64_t last = 0;
      for (size_t d = 0; d < t.shape.size(); ++d)
        if (t.shape[d] > 0)
          last += (t.shape[d] - 1) *
                  (t.strides.empty() ? 1 : t.strides[d]);
      hi = lo + (last + 1) * dtypeSize(t.dtype);
    };
    const uint8_t *olo, *ohi;
    span(o, olo, ohi);
    if (numElements(o.shape) == 0)
      continue;
    auto overlaps = [&](const TensorRef &t) {
      if (!t.data || numElements(t.shape) == 0)
        return false;
      const uint8_t *lo, *hi;
      span(t, lo, hi);
      return lo < ohi && olo < hi;
    };
    for (size_t j = 0; j < inputs.size(); ++j)
      if (overlaps(inputs[j])) {
        error = "output '" + a.name + "' overlaps input '" +
                abi.inputs[j].name + "'";
        return false;
      }
    for (size_t j = 0; j < i; ++j)
      if (overlaps(outputs[j])) {
        error = "output '" + a.name + "' overlaps output '" +
                abi.outputs[j].name + "'";
        return false;
      }
  }

  return true;
}

bool Kernel::runHost(int entry, const std::vector<TensorRef> &inputs,
                     const std::vector<TensorRef> &outputs,
                     const std::vector<std::vector<int64_t>> &shapes,
                     std::string &error) const {
  const EntryABI &abi = b.entries[entry];
  // Kernels pack their inputs into f32 scratch; refuse calls whose inputs,
  // outputs and scratch cannot fit in memory rather than let malloc fail
  // inside the kernel.
  std::vector<DType> inTypes, outTypes;
  std::vector<std::vector<int64_t>> inShapes;
  for (const TensorRef &t : inputs) {
    inTypes.push_back(t.dtype);
    inShapes.push_back(t.shape);
  }
  for (const ABIArg &a : abi.outputs)
    outTypes.push_back(a.dtype);
  double bytes = callFootprintBytes(inTypes, inShapes, outTypes, shapes);
  if (bytes > 0.9 * physicalMemoryBytes()) {
    error = "@" + abi.name + ": this call needs about " +
            std::to_string(static_cast<long long>(bytes / (1 << 20))) +
            " MiB, more than this machine's memory";
    return false;
  }

  std::vector<std::vector<uint8_t>> scratch(inputs.size());
  std::vector<std::vector<int64_t>> descs;
  for (size_t i = 0; i < inputs.size(); ++i) {
    void *data = inputs[i].data;
    if (!isContiguous(inputs[i])) {
      gather(inputs[i], scratch[i]);
      data = scratch[i].data();
    }
    descs.push_back(memrefDescriptor(data, inputs[i].shape));
  }
  std::vector<const void *> data;
  for (size_t i = 0; i < inputs.size(); ++i)
    data.push_back(scratch[i].empty() ? inputs[i].data : scratch[i].data());
  if (!abi.checkIndexOperands(data, inShapes, error))
    return false;
  for (const TensorRef &o : outputs)
    descs.push_back(memrefDescriptor(o.data, o.shape));
  std::vector<void *> ptrs;
  for (auto &d : descs)
    ptrs.push_back(d.data());
  // The caller's thread count, for this call's parallel regions only (an
  // OpenMP setting of the calling thread).
  int n = threads.load();
  int before = 0;
  bool setThreads = n > 0 && ompSetNumThreads && ompGetMaxThreads;
  if (setThreads) {
    before = ompGetMaxThreads();
    ompSetNumThreads(n);
  }
  bool ok = true;
  if (packed[entry])
    reinterpret_cast<void (*)(void **)>(fns[entry])(ptrs.data());
  else if (!callWithPointers(fns[entry], ptrs)) {
    error = "@" + abi.name + ": more than 8 arguments are not supported yet";
    ok = false;
  }
  if (setThreads)
    ompSetNumThreads(before);
  return ok;
}

} // namespace attnir
