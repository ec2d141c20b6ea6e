//===- attnir-run.cpp - run a bundle with the runtime only ----------------===//
//
//   attnir-run BUNDLE [--entry NAME] IN.npy... -o OUT.npy...
//
// Loads a kernel compiled elsewhere (`attnc compile --emit bundle`) through
// the C API and runs it on .npy inputs. Builds without LLVM/MLIR
// (ATTNIR_RUNTIME_ONLY=ON): this is what a machine with no compiler runs.
//
//===----------------------------------------------------------------------===//

#include "attnir-c/attnir.h"
#include "attnir/Support/Npy.h"
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
  bool toOutputs = false;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    if (a == "--entry" && i + 1 < argc)
      entry = argv[++i];
    else if (a == "-o")
      toOutputs = true;
    else if (bundle.empty())
      bundle = a;
    else
      (toOutputs ? outs : ins).push_back(a);
  }
  if (bundle.empty())
    return fail("usage: attnir-run BUNDLE [--entry NAME] IN.npy... -o "
                "OUT.npy...");
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
  if (attnir_run(k, e, views.data(), static_cast<int32_t>(views.size()),
                 outViews.data(), nOut))
    return fail(attnir_last_error());
  for (int32_t i = 0; i < nOut; ++i)
    if (!writeNpy(outs[i], out[i], err))
      return fail(err);
  attnir_kernel_free(k);
  return 0;
}
