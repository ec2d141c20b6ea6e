//===- attnir-run.cpp - run a bundle with the runtime only ----------------===//
//
//   attnir-run BUNDLE [--entry NAME] [--bench] IN.npy... -o OUT.npy...
//
// Loads a kernel compiled elsewhere (`attnc compile --emit bundle`) and runs
// it on .npy inputs: CPU bundles through the C API, CUDA bundles through the
// runtime's CudaRunner (inputs copied to the GPU, outputs back). --bench
// prints the median time of 20 calls (CUDA events on the GPU). Builds
// without LLVM/MLIR (ATTNIR_RUNTIME_ONLY=ON): this is what a machine with no
// compiler runs.
//
//===----------------------------------------------------------------------===//

#include "attnir-c/attnir.h"
#include "attnir/Runtime/CudaRunner.h"
#include "attnir/Support/Npy.h"
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

using namespace attnir;

static int fail(const std::string &msg) {
  std::fprintf(stderr, "attnir-run: error: %s\n", msg.c_str());
  return 1;
}

int main(int argc, char **argv) {
  std::string bundle, entry;
  std::vector<std::string> ins, outs;
  bool toOutputs = false, bench = false;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    if (a == "--entry" && i + 1 < argc)
      entry = argv[++i];
    else if (a == "--bench")
      bench = true;
    else if (a == "-o")
      toOutputs = true;
    else if (bundle.empty())
      bundle = a;
    else
      (toOutputs ? outs : ins).push_back(a);
  }
  if (bundle.empty())
    return fail("usage: attnir-run BUNDLE [--entry NAME] [--bench] IN.npy... "
                "-o OUT.npy...");
  attnir_kernel_t *k = attnir_load(bundle.c_str());
  if (!k)
    return fail(attnir_last_error());
  int32_t e = entry.empty() ? 0 : attnir_entry_index(k, entry.c_str());
  if (e < 0)
    return fail(attnir_last_error());
  std::vector<HostTensor> in(ins.size());
  std::vector<attnir_tensor_t> views;
  std::string err;
  for (size_t i = 0; i < ins.size(); ++i) {
    if (!readNpy(ins[i], in[i], err))
      return fail(err);
    views.push_back({in[i].raw(), static_cast<attnir_dtype_t>(in[i].dtype),
                     static_cast<int32_t>(in[i].shape.size()),
                     in[i].shape.data(), nullptr});
  }
  int32_t nOut = attnir_num_args(k, e, 1);
  if (nOut < 0)
    return fail(attnir_last_error());
  if (static_cast<int32_t>(outs.size()) != nOut)
    return fail("@" + std::string(attnir_entry_name(k, e)) + " has " +
                std::to_string(nOut) + " outputs; give as many after -o");
  std::vector<int64_t> shapes(64);
  if (attnir_output_shapes(k, e, views.data(),
                           static_cast<int32_t>(views.size()), shapes.data(),
                           static_cast<int32_t>(shapes.size())))
    return fail(attnir_last_error());
  std::vector<HostTensor> out(nOut);
  std::vector<attnir_tensor_t> outViews;
  size_t pos = 0;
  for (int32_t i = 0; i < nOut; ++i) {
    attnir_dtype_t dt;
    int32_t rank;
    attnir_arg_info(k, e, 1, i, nullptr, &dt, &rank, nullptr);
    std::vector<int64_t> s(shapes.begin() + pos, shapes.begin() + pos + rank);
    pos += rank;
    out[i] = HostTensor::zeros(static_cast<DType>(dt), s);
    outViews.push_back({out[i].raw(), dt, rank, out[i].shape.data(), nullptr});
  }
  double ms = -1;
  if (std::string(attnir_kernel_target(k)) == "cuda") {
    // Host arrays: through device copies (the C API takes device pointers).
    Bundle b;
    std::unique_ptr<Kernel> kernel;
    if (!Bundle::readFile(bundle, b, err) ||
        !(kernel = Kernel::load(std::move(b), err)))
      return fail(err);
    std::vector<DType> outTypes;
    std::vector<std::vector<int64_t>> outShapes;
    for (const HostTensor &t : out) {
      outTypes.push_back(t.dtype);
      outShapes.push_back(t.shape);
    }
    std::string name = attnir_entry_name(k, e);
    CudaRunner gpu;
    if (!gpu.prepare(std::move(kernel), e, in, outTypes, outShapes, err) ||
        !gpu.run(err) || (bench && !gpu.time(20, ms, err)) ||
        !gpu.download(out, err))
      return fail("@" + name + ": " + err);
  } else {
    auto call = [&] {
      return attnir_run(k, e, views.data(), static_cast<int32_t>(views.size()),
                        outViews.data(), nOut);
    };
    if (call())
      return fail(attnir_last_error());
    if (bench) {
      std::vector<double> t;
      for (int r = 0; r < 20; ++r) {
        auto t0 = std::chrono::steady_clock::now();
        call();
        t.push_back(std::chrono::duration<double, std::milli>(
                        std::chrono::steady_clock::now() - t0)
                        .count());
      }
      std::sort(t.begin(), t.end());
      ms = t[t.size() / 2];
    }
  }
  if (bench)
    std::printf("%s  %s  %.3f ms\n", attnir_entry_name(k, e),
                attnir_kernel_target(k), ms);
  for (int32_t i = 0; i < nOut; ++i)
    if (!writeNpy(outs[i], out[i], err))
      return fail(err);
  attnir_kernel_free(k);
  return 0;
}
