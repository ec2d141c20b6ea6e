//===- CudaKernel.cpp - loading and launching CUDA bundles ----------------===//
//
// A CUDA bundle holds a cubin (or PTX) with one kernel per entry and the
// launch contract in its features ("sm_90,format=cubin,launch:NAME=
// <query rows per block>x<threads>x<dynamic shared bytes>" per kernel). The
// kernel takes each argument as the expanded memref descriptor (allocated,
// aligned, offset, sizes, strides: 3 + 2 rank 64-bit words) and runs on the
// grid (ceil(N / block_q), Hq, B). A Hopper kernel ("tma:NAME=<key rows>",
// or "tma:NAME=<key rows>x<query rows>" where q's box is not block_q
// rows: 1x1 for a kernel that gathers rows one TMA box each) also takes
// the TMA tensor maps of q, k and v by value, encoded here per launch: 4-D
// (D, rows, H, B) innermost first, boxes of 64 columns x (block_q or
// query rows | key rows) x 1 x 1, 128-byte swizzle, zero fill out of
// bounds.
//
//===----------------------------------------------------------------------===//

#include "CudaLaunch.h"
#include "attnir/Runtime/CudaDriver.h"
#include "attnir/Runtime/HeadViews.h"
#include "attnir/Runtime/Kernel.h"
#include <algorithm>
#include <array>
#include <map>
#include <set>
#include <tuple>
#include <mutex>
#include <cstdlib>

namespace attnir {

using namespace cuda;

struct Kernel::CudaModules {
  std::mutex mu;
  /// Per context: the loaded module; per (context, kernel name): its
  /// function, looked up on first use.
  std::map<CUcontext, CUmodule> modules;
  std::map<std::pair<CUcontext, std::string>, CUfunction> functions;
  /// Per context: its device's multiprocessor count.
  std::map<CUcontext, int> smCount;
  /// Per (context, stream): the buffers programs pass between their
  /// kernels, one allocation that grows to the largest call seen and is
  /// then reused (no allocation per call, no host synchronisation).
  struct Workspace {
    CUdeviceptr base = 0;
    size_t bytes = 0;
  };
  std::map<std::pair<CUcontext, void *>, Workspace> workspaces;
  /// Per (context, stream, entry): the persistent buffers (a block map and
  /// its snapshots, a landmark program's counts), which keep their contents
  /// between calls; zeroed when allocated, when the entry's input shapes
  /// change and after a failed call (`inputShapes`: the last call's, empty
  /// after a failure).
  struct Persistent : Workspace {
    std::vector<std::vector<int64_t>> inputShapes;
  };
  std::map<std::tuple<CUcontext, void *, int>, Persistent> persistent;
  /// Programs whose calls repeat their launches run as CUDA graphs.
  GraphReplays graphs;
  const Driver *driver = nullptr;

  /// `w` grown to at least `bytes` (a fresh allocation: its contents go).
  bool grow(Workspace &w, size_t bytes, std::string &error) {
    if (w.bytes >= bytes)
      return true;
    if (w.base)
      driver->cuMemFree(w.base);
    w = {};
    if (!check(driver->cuMemAlloc(&w.base, bytes),
               ("allocating the program's workspace (" + std::to_string(bytes >> 20) + " MiB)")
                   .c_str(),
               error))
      return false;
    w.bytes = bytes;
    return true;
  }

  /// The base addresses of a call's workspace (`total[0]` bytes per
  /// (context, stream)) and persistent buffers (`total[1]` per (context,
  /// stream, entry); `persist` set when there are any). Persistent memory
  /// that is new or laid out for other input shapes is cleared on the
  /// stream, before the call's kernels (no host sync).
  bool bind(const Driver *d, CUcontext ctx, void *stream, int entry,
            const std::vector<std::vector<int64_t>> &inShapes, const size_t total[2],
            CUdeviceptr base[2], Persistent *&persist, std::string &error) {
    std::lock_guard<std::mutex> lock(mu);
    driver = d;
    Workspace &w = workspaces[{ctx, stream}];
    if (!grow(w, total[0], error))
      return false;
    base[0] = w.base;
    if (!total[1])
      return true;
    Persistent &p = persistent[{ctx, stream, entry}];
    CUdeviceptr before = p.base;
    if (!grow(p, total[1], error))
      return false;
    if (p.base != before || p.inputShapes != inShapes) {
      if (!check(d->cuMemsetD8Async(p.base, 0, total[1], static_cast<CUstream>(stream)),
                 "clearing the block map's memory", error))
        return false;
      p.inputShapes = inShapes;
    }
    base[1] = p.base;
    persist = &p;
    return true;
  }
  ~CudaModules() {
    for (auto &[key, w] : workspaces)
      if (w.base && driver)
        driver->cuMemFree(w.base); // errors at exit (context gone) ignored
    for (auto &[key, w] : persistent)
      if (w.base && driver)
        driver->cuMemFree(w.base);
  }
};

namespace {

/// A CUDA bundle's launch contract, as its feature words say it:
/// `sm_NN,format=cubin|ptx,launch:<kernel>=BQxTHREADSxSHARED,
/// tma:<kernel>=ROWS[xQROWS],persistent:<kernel>=1`.
struct CudaContract {
  std::string chip, format;
  std::map<std::string, std::array<long long, 3>> launch;
  std::map<std::string, long long> tma, tmaQ;
  std::set<std::string> persistent;
};

void readContractWord(const std::string &item, CudaContract &c) {
  size_t eq = item.find('=');
  std::string key = item.substr(0, eq);
  std::string value = eq == std::string::npos ? "" : item.substr(eq + 1);
  if (eq == std::string::npos) {
    c.chip = key;
  } else if (key == "format") {
    c.format = value;
  } else if (key.rfind("launch:", 0) == 0) {
    char *end = nullptr;
    long long bq = std::strtoll(value.c_str(), &end, 10);
    long long th = *end == 'x' ? std::strtoll(end + 1, &end, 10) : 0;
    long long sh = *end == 'x' ? std::strtoll(end + 1, &end, 10) : -1;
    c.launch[key.substr(7)] = {bq, th, *end ? -1 : sh};
  } else if (key.rfind("tma:", 0) == 0) {
    char *end = nullptr;
    long long rows = std::strtoll(value.c_str(), &end, 10);
    long long qRows = *end == 'x' ? std::strtoll(end + 1, &end, 10) : 0;
    bool bad = *end || rows <= 0 || rows > 256 || qRows < 0 || qRows > 256;
    c.tma[key.substr(4)] = bad ? -1 : rows;
    c.tmaQ[key.substr(4)] = qRows;
  } else if (key.rfind("persistent:", 0) == 0 && value == "1") {
    c.persistent.insert(key.substr(11));
  }
}

CudaContract readContract(const std::string &f) {
  CudaContract c;
  size_t pos = 0;
  while (pos <= f.size()) {
    size_t comma = f.find(',', pos);
    readContractWord(f.substr(pos, comma == std::string::npos ? std::string::npos
                                                              : comma - pos),
                     c);
    pos = comma == std::string::npos ? f.size() + 1 : comma + 1;
  }
  return c;
}

/// The entry's attention kernels: its own (no steps), or its attention
/// steps. Each reads q, k, v (tensor maps, grid), then any lists, ids and
/// rule operands, and writes an output: rank-4 buffers first three and
/// somewhere after. False where a step breaks that.
bool attentionKernelsOf(const EntryABI &e, std::vector<std::string> &kernels) {
  if (e.steps.empty())
    kernels.push_back(e.name);
  auto rank4 = [&](const std::string &a) {
    const ABIArg *buf = e.bufferOf(a);
    return buf && buf->dimClass.size() == 4;
  };
  bool ok = e.steps.size() <= 64;
  for (const KernelStep &st : e.steps) {
    if (st.gridArg >= 0)
      continue;
    kernels.push_back(st.kernel);
    if (st.args.size() < 4 ||
        !std::all_of(st.args.begin(), st.args.begin() + 3, rank4) ||
        std::none_of(st.args.begin() + 3, st.args.end(), rank4))
      ok = false;
  }
  return ok;
}

/// Kernel `name`'s launch from the contract, checked: block rows and
/// threads in (0, 1024], shared memory within 256 KiB, tensor-map rows
/// only where the rows fit a box (and a lone kernel has q, k, v), a
/// persistent kernel only with tensor maps.
bool launchOf(const CudaContract &c, const EntryABI &e, const std::string &name,
              Kernel::AttentionLaunch &out) {
  auto it = c.launch.find(name);
  if (it == c.launch.end() || it->second[0] <= 0 || it->second[0] > 1024 ||
      it->second[1] <= 0 || it->second[1] > 1024 || it->second[2] < 0 ||
      it->second[2] > 256 * 1024)
    return false;
  auto t = c.tma.find(name);
  long long rows = t == c.tma.end() ? 0 : t->second;
  // Tensor maps are made for the kernel's first three arguments (q, k, v:
  // a lone kernel's first three inputs).
  if (rows < 0 ||
      (rows && (it->second[0] > 256 || (e.steps.empty() && e.inputs.size() < 3))))
    return false;
  bool loops = c.persistent.count(name) > 0;
  if (loops && !rows)
    return false;
  auto q = c.tmaQ.find(name);
  out = {it->second[0], it->second[1], it->second[2], rows, loops,
         rows && q != c.tmaQ.end() ? q->second : 0};
  return true;
}

} // namespace

std::unique_ptr<Kernel> Kernel::loadCuda(Bundle bundle, std::string &error) {
  auto k = std::unique_ptr<Kernel>(new Kernel());
  CudaContract c = readContract(bundle.features);
  bool ok = c.chip.rfind("sm_", 0) == 0 && (c.format == "cubin" || c.format == "ptx");
  for (size_t i = 0; ok && i < bundle.entries.size(); ++i) {
    const EntryABI &e = bundle.entries[i];
    std::vector<std::string> kernels;
    ok = attentionKernelsOf(e, kernels);
    for (size_t j = 0; ok && j < kernels.size(); ++j)
      ok = launchOf(c, e, kernels[j], k->attentionLaunch[kernels[j]]);
  }
  if (!ok) {
    error = "not a valid AttnIR bundle (CUDA launch contract '" +
            bundle.features + "')";
    return nullptr;
  }
  if (c.format == "ptx")
    bundle.object.push_back('\0'); // the driver JIT reads a C string
  else
    k->cubinArch = std::atoi(c.chip.c_str() + 3); // sm_90 -> 90
  k->b = std::move(bundle);
  k->cudaModules = std::make_shared<CudaModules>();
  return k;
}


namespace {

/// A launch of `fn` with the arguments' memref descriptor words.
Launch launchOf(CUfunction fn, const std::vector<TensorRef> &args, std::string what) {
  Launch l;
  l.fn = fn;
  for (const TensorRef &t : args) {
    std::vector<int64_t> desc = memrefDescriptor(t.data, t.shape);
    l.words.insert(l.words.end(), desc.begin(), desc.end());
  }
  l.what = std::move(what);
  return l;
}

/// The tensor map of a contiguous [B, H, rows, D] f16/bf16 tensor for boxes
/// of 64 columns x `boxRows` rows of one (b, h).
bool encodeTensorMap(const Driver &d, const TensorRef &t, DType dtype,
                     int64_t boxRows, TensorMap &map, const std::string &name,
                     std::string &error) {
  if (!d.cuTensorMapEncodeTiled) {
    error = "this kernel uses TMA, which needs a CUDA 12 or newer driver "
            "(cuTensorMapEncodeTiled is missing)";
    return false;
  }
  const std::vector<int64_t> &s = t.shape;
  uint64_t dims[4] = {uint64_t(s[3]), uint64_t(s[2]), uint64_t(s[1]),
                      uint64_t(s[0])};
  uint64_t strides[3] = {dims[0] * 2, dims[0] * dims[1] * 2,
                         dims[0] * dims[1] * dims[2] * 2};
  unsigned box[4] = {64, static_cast<unsigned>(boxRows), 1, 1};
  unsigned unit[4] = {1, 1, 1, 1};
  // CU_TENSOR_MAP_DATA_TYPE_FLOAT16 = 6, _BFLOAT16 = 9; interleave none;
  // CU_TENSOR_MAP_SWIZZLE_128B = 3; CU_TENSOR_MAP_L2_PROMOTION_L2_256B = 3;
  // CU_TENSOR_MAP_FLOAT_OOB_FILL_NONE = 0 (zeros).
  int type = dtype == DType::BF16 ? 9 : 6;
  for (uint64_t dim : dims)
    if (dim == 0 || dim > (uint64_t(1) << 32)) {
      error = "argument '" + name + "' has a dimension TMA cannot address";
      return false;
    }
  return check(d.cuTensorMapEncodeTiled(&map, type, 4, t.data, dims, strides,
                                        box, unit, 0, 3, 3, 0),
               ("encoding the TMA tensor map of '" + name + "'").c_str(),
               error);
}

/// Where each workspace buffer of a call lies: 256-byte aligned offsets
/// inside one allocation per kind (index 0: per call, shared by the
/// kernel's entries; 1: persistent, per entry), and each kind's bytes.
struct WorkspaceLayout {
  std::vector<size_t> offsets;
  size_t total[2] = {0, 0};
};

bool layoutWorkspace(const EntryABI &abi, const std::vector<std::vector<int64_t>> &wsShapes,
                     WorkspaceLayout &layout, std::string &error) {
  for (size_t i = 0; i < wsShapes.size(); ++i) {
    double elems = 1;
    for (int64_t s : wsShapes[i])
      elems *= static_cast<double>(s);
    double bytes = elems * dtypeSize(abi.workspace[i].dtype);
    if (bytes > 1e13) {
      error = "@" + abi.name + ": an intermediate of " + std::to_string(bytes / 1e9) +
              " GB is too large";
      return false;
    }
    size_t &t = layout.total[abi.workspace[i].persistent];
    layout.offsets.push_back(t);
    t += (static_cast<size_t>(bytes) + 255) / 256 * 256;
  }
  return true;
}

} // namespace

bool Kernel::launchCuda(int entry, const std::vector<TensorRef> &inputs,
                        const std::vector<TensorRef> &outputs, void *stream,
                        std::string &error) const {
  const EntryABI &abi = b.entries[entry];
  const Driver *d = driver(error);
  CUcontext ctx = nullptr;
  if (!d || !ensureContext(error, &ctx))
    return false;
  // Every pointer must be device memory of this context, contiguous, and
  // aligned for the kernel's 16-byte copies (inputs) or 4-byte stores.
  auto checkArg = [&](const TensorRef &t, const std::string &name,
                      size_t align) {
    if (!isContiguous(t)) {
      error = "argument '" + name +
              "' must be contiguous on the CUDA target (call .contiguous())";
      return false;
    }
    int64_t n = 1;
    for (int64_t s : t.shape)
      n *= s;
    if (n == 0)
      return true;
    auto p = reinterpret_cast<CUdeviceptr>(t.data);
    unsigned memType = 0;
    // CU_POINTER_ATTRIBUTE_MEMORY_TYPE = 2; CU_MEMORYTYPE_DEVICE = 2,
    // CU_MEMORYTYPE_UNIFIED = 4.
    if (d->cuPointerGetAttribute(&memType, 2, p) != 0 ||
        (memType != 2 && memType != 4)) {
      error = "argument '" + name +
              "' is not CUDA device memory (the CUDA target takes GPU "
              "tensors)";
      return false;
    }
    if (p % align) {
      error = "argument '" + name + "' must be " + std::to_string(align) +
              "-byte aligned on the CUDA target";
      return false;
    }
    return true;
  };
  for (size_t i = 0; i < inputs.size(); ++i)
    if (!checkArg(inputs[i], abi.inputs[i].name, 16))
      return false;
  // A program's kernels may read an output another kernel wrote (a pooled
  // tensor the entry also returns) with 16-byte loads.
  for (size_t i = 0; i < outputs.size(); ++i)
    if (!checkArg(outputs[i], abi.outputs[i].name, abi.steps.empty() ? 4 : 16))
      return false;

  if (abi.steps.empty()) {
    // One attention kernel on the inputs, then the outputs.
    std::vector<TensorRef> args(inputs);
    args.insert(args.end(), outputs.begin(), outputs.end());
    std::vector<std::string> names;
    for (const ABIArg &a : abi.inputs)
      names.push_back(a.name);
    return launchAttention(ctx, entry, abi.name, args, names,
                           abi.inputs[0].dtype, stream, nullptr, error);
  }
  return launchProgram(ctx, entry, inputs, outputs, stream, error);
}

bool Kernel::smCount(CUcontext ctx, int &sms, std::string &error) const {
  {
    std::lock_guard<std::mutex> lock(cudaModules->mu);
    auto known = cudaModules->smCount.find(ctx);
    if (known != cudaModules->smCount.end()) {
      sms = known->second;
      return true;
    }
  }
  const Driver *d = driver(error);
  if (!d || !deviceSMCount(*d, sms, error))
    return false;
  std::lock_guard<std::mutex> lock(cudaModules->mu);
  cudaModules->smCount[ctx] = sms;
  return true;
}

bool Kernel::cudaFunction(CUcontext ctx, const std::string &name,
                          int64_t sharedBytes, cuda::CUfunction &fn,
                          std::string &error) const {
  const Driver *d = driver(error);
  if (!d)
    return false;
  std::lock_guard<std::mutex> lock(cudaModules->mu);
  cudaModules->driver = d;
  auto known = cudaModules->functions.find({ctx, name});
  if (known != cudaModules->functions.end()) {
    fn = known->second;
    return true;
  }
  auto mod = cudaModules->modules.find(ctx);
  if (mod == cudaModules->modules.end()) {
    // A cubin runs on its major architecture at the same or a later minor
    // version; say so instead of the driver's "no kernel image".
    CUdevice dev;
    int major = 0, minor = 0;
    if (cubinArch && d->cuCtxGetDevice(&dev) == 0 &&
        d->cuDeviceGetAttribute(&major, 75, dev) == 0 && // CC major
        d->cuDeviceGetAttribute(&minor, 76, dev) == 0 && // CC minor
        (major != cubinArch / 10 || minor < cubinArch % 10)) {
      error = "the kernel was compiled for sm_" + std::to_string(cubinArch) +
              " but this GPU is sm_" + std::to_string(major * 10 + minor) +
              ": recompile with --cuda-options chip=sm_" +
              std::to_string(major * 10 + minor) +
              " (attnir.compile(..., chip=...))";
      return false;
    }
    CUmodule m = nullptr;
    if (!check(d->cuModuleLoadData(&m, b.object.data()),
               "loading the CUDA kernel (cuModuleLoadData; built for "
               "another GPU?)",
               error))
      return false;
    mod = cudaModules->modules.emplace(ctx, m).first;
  }
  CUfunction f = nullptr;
  if (!check(d->cuModuleGetFunction(&f, mod->second, name.c_str()),
             "cuModuleGetFunction", error))
    return false;
  // Dynamic shared memory past 48 KB is opt-in per kernel.
  // CU_FUNC_ATTRIBUTE_MAX_DYNAMIC_SHARED_SIZE_BYTES = 8.
  if (sharedBytes > 48 * 1024 &&
      !check(d->cuFuncSetAttribute(f, 8, static_cast<int>(sharedBytes)),
             "this GPU cannot give the kernel its shared memory "
             "(cuFuncSetAttribute)",
             error))
    return false;
  cudaModules->functions[{ctx, name}] = f;
  fn = f;
  return true;
}

bool Kernel::launchAttention(CUcontext ctx, int entry,
                             const std::string &kernelName,
                             const std::vector<TensorRef> &args,
                             const std::vector<std::string> &names,
                             DType dtype, void *stream,
                             std::vector<Launch> *queue,
                             std::string &error) const {
  const EntryABI &abi = b.entries[entry];
  const Driver *d = driver(error);
  if (!d)
    return false;
  const std::vector<int64_t> &q = args[0].shape;
  int64_t B = q[0], H = q[1], N = q[2];
  if (B == 0 || H == 0 || N == 0)
    return true; // nothing to compute
  if (B > 65535 || H > 65535) {
    error = "@" + abi.name + ": B and H must be <= 65535 on the CUDA target";
    return false;
  }
  // Validated when the bundle was read: every attention kernel has one.
  const AttentionLaunch &contract = attentionLaunch.at(kernelName);
  int64_t blockQ = contract.blockQ, threads = contract.threads,
          sharedBytes = contract.sharedBytes;
  int64_t tiles = (N + blockQ - 1) / blockQ;
  if (tiles > 0x7fffffff) {
    error = "@" + abi.name + ": N is too large for one launch";
    return false;
  }
  CUfunction fn = nullptr;
  if (!cudaFunction(ctx, kernelName, sharedBytes, fn, error))
    return false;
  Launch l = launchOf(fn, args, "launching the CUDA kernel");
  if (contract.tmaRows) {
    l.maps.resize(3);
    for (int i = 0; i < 3; ++i) {
      // An empty K/V (M = 0) is never read: any valid map will do.
      const TensorRef &t = args[i].shape[2] == 0 ? args[0] : args[i];
      int64_t rows = i == 0 ? (contract.tmaQRows ? contract.tmaQRows : blockQ)
                            : contract.tmaRows;
      if (!encodeTensorMap(*d, t, dtype, rows, l.maps[i], names[i], error))
        return false;
    }
  }
  l.grid[0] = static_cast<unsigned>(tiles);
  l.grid[1] = static_cast<unsigned>(H);
  l.grid[2] = static_cast<unsigned>(B);
  if (contract.persistent) {
    // One block per SM, each looping over the tiles (tiles x H x B work
    // items; the kernel stops at that count).
    int sms = 0;
    if (!smCount(ctx, sms, error))
      return false;
    double items = static_cast<double>(tiles) * H * B;
    l.grid[0] = static_cast<unsigned>(std::min<double>(items, std::max(sms, 1)));
    l.grid[1] = l.grid[2] = 1;
  }
  l.threads = static_cast<unsigned>(threads);
  l.sharedBytes = static_cast<unsigned>(sharedBytes);
  if (queue) {
    queue->push_back(std::move(l));
    return true;
  }
  return l.run(*d, static_cast<CUstream>(stream), error);
}

namespace {

/// A call's buffers by binding ("i0", "o1", "w2"): the entry's inputs and
/// outputs, and the workspace buffers at their offsets in the call's
/// allocations, or inside their parents where the head views make them
/// runs (HeadViews.h; planned before any step runs, since a join's part is
/// written by the step that produces it).
class CallBuffers {
public:
  CallBuffers(const EntryABI &abi, const std::vector<TensorRef> &inputs,
              const std::vector<TensorRef> &outputs,
              const std::vector<std::vector<int64_t>> &wsShapes, const CUdeviceptr base[2],
              const std::vector<size_t> &offsets)
      : abi(abi), inputs(inputs), outputs(outputs), wsShapes(wsShapes), base(base),
        offsets(offsets) {
    views = planHeadViews(
        abi,
        [&](const Binding &bd) {
          return bd.kind == 'i'   ? inputs[bd.index].shape
                 : bd.kind == 'o' ? outputs[bd.index].shape
                                  : wsShapes[bd.index];
        },
        [&](const Binding &bd) { return ownAddress(bd); });
  }

  /// Step `s` copies a head part that is a run of its parent: skip it.
  bool skipped(size_t s) const { return views.skip[s]; }

  /// The tensor and name of a binding (checked when the bundle was read,
  /// EntryABI::deserialize).
  void bind(const std::string &binding, TensorRef &t, std::string &name) const {
    Binding bd;
    Binding::parse(binding, bd);
    size_t idx = bd.index;
    if (bd.kind == 'i') {
      t = inputs[idx];
      name = abi.inputs[idx].name;
    } else if (bd.kind == 'o') {
      t = outputs[idx];
      name = abi.outputs[idx].name;
    } else {
      t.data = reinterpret_cast<void *>(
          views.address(bd, [&](const Binding &b) { return ownAddress(b); }));
      t.dtype = abi.workspace[idx].dtype;
      t.shape = wsShapes[idx];
      t.strides.clear();
      name = abi.workspace[idx].name;
    }
  }

private:
  uintptr_t ownAddress(const Binding &bd) const {
    const TensorRef *user = bd.kind == 'i'   ? &inputs[bd.index]
                            : bd.kind == 'o' ? &outputs[bd.index]
                                             : nullptr;
    if (user)
      return reinterpret_cast<uintptr_t>(user->data);
    return static_cast<uintptr_t>(base[abi.workspace[bd.index].persistent] + offsets[bd.index]);
  }

  const EntryABI &abi;
  const std::vector<TensorRef> &inputs, &outputs;
  const std::vector<std::vector<int64_t>> &wsShapes;
  const CUdeviceptr *base;
  const std::vector<size_t> &offsets;
  HeadViewPlan views;
};

} // namespace

bool Kernel::launchGridStep(CUcontext ctx, int entry, const KernelStep &st,
                            const std::vector<TensorRef> &args,
                            std::vector<Launch> &queue, bool &ran,
                            std::string &error) const {
  ran = false;
  int64_t items = st.items(args[st.gridArg].shape);
  if (items == 0)
    return true;
  int64_t blocks = (items + st.threads - 1) / st.threads;
  if (st.smBlocksMin || st.smBlocksMax) {
    // One of two forms of a step: the one whose grid suits this GPU.
    int sms = 0;
    if (!smCount(ctx, sms, error))
      return false;
    // Bounds per smBlocksPer SMs: blocks x per against bound x SMs.
    int64_t scaled = blocks * st.smBlocksPer;
    if ((st.smBlocksMin && scaled < st.smBlocksMin * sms) ||
        (st.smBlocksMax && scaled >= st.smBlocksMax * sms))
      return true;
  }
  if (blocks > 0x7fffffff) {
    error = "@" + b.entries[entry].name + ": too many rows for one launch of " + st.kernel;
    return false;
  }
  const Driver *d = driver(error);
  CUfunction fn = nullptr;
  if (!d || !cudaFunction(ctx, st.kernel, st.sharedBytes, fn, error))
    return false;
  Launch l = launchOf(fn, args, "launching " + st.kernel);
  l.grid[0] = static_cast<unsigned>(blocks);
  l.threads = static_cast<unsigned>(st.threads);
  l.sharedBytes = static_cast<unsigned>(st.sharedBytes);
  queue.push_back(std::move(l));
  ran = true;
  return true;
}

bool Kernel::launchProgram(CUcontext ctx, int entry,
                           const std::vector<TensorRef> &inputs,
                           const std::vector<TensorRef> &outputs, void *stream,
                           std::string &error) const {
  const EntryABI &abi = b.entries[entry];
  const Driver *d = driver(error);
  if (!d)
    return false;
  std::vector<std::vector<int64_t>> inShapes, wsShapes;
  for (const TensorRef &t : inputs)
    inShapes.push_back(t.shape);
  if (!abi.resolveWorkspace(inShapes, wsShapes, error))
    return false;
  WorkspaceLayout layout;
  if (!layoutWorkspace(abi, wsShapes, layout, error))
    return false;
  CUdeviceptr base[2] = {0, 0};
  // Persistent memory that kernels keep in a state between calls (a block
  // map, counts left at 0): a call that fails part way leaves it unknown,
  // so the next call clears it again.
  CudaModules::Persistent *persist = nullptr;
  struct ClearAfterFailure {
    CudaModules::Persistent *&p;
    std::mutex &mu;
    bool done = false;
    ~ClearAfterFailure() {
      if (p && !done) {
        std::lock_guard<std::mutex> lock(mu);
        p->inputShapes.clear();
      }
    }
  } clearAfterFailure{persist, cudaModules->mu};
  if (!cudaModules->bind(d, ctx, stream, entry, inShapes, layout.total, base, persist, error))
    return false;
  CallBuffers buffers(abi, inputs, outputs, wsShapes, base, layout.offsets);
  std::vector<Launch> launches;
  bool previousRan = true;
  for (size_t s = 0; s < abi.steps.size(); ++s) {
    const KernelStep &st = abi.steps[s];
    if (st.afterPrevious && !previousRan)
      continue;
    if (buffers.skipped(s)) {
      // The part is a run of its parent: nothing to copy.
      previousRan = true;
      continue;
    }
    std::vector<TensorRef> args(st.args.size());
    std::vector<std::string> names(st.args.size());
    for (size_t i = 0; i < st.args.size(); ++i)
      buffers.bind(st.args[i], args[i], names[i]);
    if (st.gridArg < 0) {
      if (!launchAttention(ctx, entry, st.kernel, args, names, args[0].dtype, stream,
                           &launches, error))
        return false;
      previousRan = true;
    } else if (!launchGridStep(ctx, entry, st, args, launches, previousRan, error)) {
      return false;
    }
  }
  if (!cudaModules->graphs.submit(*d, {ctx, stream, entry}, launches,
                                  static_cast<CUstream>(stream), error))
    return false;
  clearAfterFailure.done = true;
  return true;
}

} // namespace attnir
