//===- attnir-run.cpp - run a bundle with the runtime only ----------------===//
//
//   attnir-run BUNDLE [--entry NAME] [--bench] [--check] IN.npy... -o OUT.npy...
//
// Loads a kernel compiled elsewhere (`attnc compile --emit bundle`) once and
// runs it on .npy inputs: CPU bundles in place, CUDA bundles through the
// runtime's CudaRunner (inputs copied to the GPU, outputs back). --bench
// prints the median time of 20 calls (CUDA events on the GPU). --check
// compares the outputs with the float64 reference, interpreted from the op
// graph the bundle records (the same reference as `attnc run --check`). Builds
// without LLVM/MLIR (ATTNIR_RUNTIME_ONLY=ON): this is what a machine with no
// compiler runs.
//
//===----------------------------------------------------------------------===//

#include "attnir/Reference/Compare.h"
#include "attnir/Reference/Reference.h"
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

/// Prints the largest relative error of `out` against the reference and
/// returns 0 when it is within the tolerance of the inputs' dtype.
static int checkOutputs(const EntryABI &abi, const std::vector<HostTensor> &in,
                        const std::vector<HostTensor> &out) {
  std::string err;
  RefProgram program;
  std::vector<HostTensor> ref;
  ReferenceStats stats;
  if (abi.program.empty())
    return fail("@" + abi.name + " carries no program for the reference: "
                "recompile the bundle");
  if (!RefProgram::parse(abi.program, program, err) ||
      !evaluateProgram(program, in, ref, err, &stats))
    return fail(err);
  double worst = 0;
  for (size_t i = 0; i < out.size(); ++i)
    worst = std::max(worst, maxRelError(out[i], ref[i]));
  DType dt = abi.inputs.empty() ? DType::F32 : abi.inputs[0].dtype;
  double tol = checkTolerance(dt, stats.maxAbsLogit);
  bool ok = worst <= tol;
  std::printf("check: max rel error %.3g (tolerance %.3g) %s\n", worst, tol,
              ok ? "ok" : "FAILED");
  return ok ? 0 : 1;
}

namespace {
struct Options {
  std::string bundle, entry;
  std::vector<std::string> ins, outs;
  bool bench = false, check = false;
};
} // namespace

/// BUNDLE [--entry NAME] [--bench] [--check] IN.npy... -o OUT.npy...;
/// false without a bundle.
static bool parseArgs(int argc, char **argv, Options &o) {
  bool toOutputs = false;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    if (a == "--entry" && i + 1 < argc)
      o.entry = argv[++i];
    else if (a == "--bench")
      o.bench = true;
    else if (a == "--check")
      o.check = true;
    else if (a == "-o")
      toOutputs = true;
    else if (o.bundle.empty())
      o.bundle = a;
    else
      (toOutputs ? o.outs : o.ins).push_back(a);
  }
  return !o.bundle.empty();
}

/// A CPU bundle's call in place, then with `bench` the median of 20 more.
static bool runOnHost(Kernel &kernel, int e, const std::vector<TensorRef> &views,
                      const std::vector<TensorRef> &outViews, bool bench, double &ms,
                      std::string &err) {
  auto call = [&] { return kernel.run(e, views, outViews, err); };
  if (!call())
    return false;
  if (!bench)
    return true;
  std::vector<double> t;
  for (int r = 0; r < 20; ++r) {
    auto t0 = std::chrono::steady_clock::now();
    if (!call())
      return false;
    t.push_back(
        std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0)
            .count());
  }
  std::sort(t.begin(), t.end());
  ms = t[t.size() / 2];
  return true;
}

int main(int argc, char **argv) {
  Options o;
  if (!parseArgs(argc, argv, o))
    return fail("usage: attnir-run BUNDLE [--entry NAME] [--bench] [--check] "
                "IN.npy... -o OUT.npy...");
  const std::vector<std::string> &ins = o.ins, &outs = o.outs;
  bool bench = o.bench;
  // One read of the bundle: the runtime's Kernel serves the signature, the
  // output shapes and the run (CPU in place, CUDA through device copies).
  std::string err;
  Bundle b;
  std::unique_ptr<Kernel> kernel;
  if (!Bundle::readFile(o.bundle, b, err) ||
      !(kernel = Kernel::load(std::move(b), err)))
    return fail(err);
  int e = o.entry.empty() ? 0 : kernel->findEntry(o.entry);
  if (e < 0)
    return fail("no entry @" + o.entry);
  // Copies: the kernel moves into the CUDA runner below and dies with it.
  const EntryABI abi = kernel->bundle().entries[e];
  const std::string target = kernel->bundle().target;
  std::vector<HostTensor> in(ins.size());
  std::vector<TensorRef> views;
  for (size_t i = 0; i < ins.size(); ++i) {
    if (!readNpy(ins[i], in[i], err))
      return fail(err);
    views.push_back({in[i].raw(), in[i].dtype, in[i].shape, {}});
  }
  size_t nOut = abi.outputs.size();
  if (outs.size() != nOut)
    return fail("@" + abi.name + " has " + std::to_string(nOut) +
                " outputs; give as many after -o");
  std::vector<std::vector<int64_t>> shapes;
  if (!kernel->outputShapes(e, views, shapes, err))
    return fail(err);
  std::vector<HostTensor> out(nOut);
  std::vector<TensorRef> outViews;
  std::vector<DType> outTypes;
  for (size_t i = 0; i < nOut; ++i) {
    out[i] = HostTensor::zeros(abi.outputs[i].dtype, shapes[i]);
    outViews.push_back({out[i].raw(), out[i].dtype, out[i].shape, {}});
    outTypes.push_back(out[i].dtype);
  }
  double ms = -1;
  if (kernel->isCuda()) {
    // Host arrays: through device copies.
    CudaRunner gpu;
    if (!gpu.prepare(std::move(kernel), e, in, outTypes, shapes, err) ||
        !gpu.run(err) || (bench && !gpu.time(20, ms, err)) ||
        !gpu.download(out, err))
      return fail("@" + abi.name + ": " + err);
  } else if (!runOnHost(*kernel, e, views, outViews, bench, ms, err)) {
    return fail(err);
  }
  if (bench)
    std::printf("%s  %s  %.3f ms\n", abi.name.c_str(), target.c_str(), ms);
  for (size_t i = 0; i < nOut; ++i)
    if (!writeNpy(outs[i], out[i], err))
      return fail(err);
  return o.check ? checkOutputs(abi, in, out) : 0;
}
