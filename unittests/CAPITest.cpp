//===- CAPITest.cpp - the C API, driven directly --------------------------===//

#include "attnir-c/attnir.h"
#include "attnir/Driver/SpecLoader.h"
#include "attnir/Reference/Compare.h"
#include "attnir/Driver/ProgramOf.h"
#include "attnir/Runtime/Bundle.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Parser/Parser.h"
#include <cstdio>
#include <fstream>
#include <gtest/gtest.h>
#include <string>

using namespace attnir;

namespace {

const char *kCausal = R"(
func.func @causal(%q: tensor<?x?x?x64xf32>, %k: tensor<?x?x?x64xf32>,
                  %v: tensor<?x?x?x64xf32>) -> tensor<?x?x?x64xf32> {
  %o = attn.attention %q, %k, %v mask(#attn.causal)
       : (tensor<?x?x?x64xf32>, tensor<?x?x?x64xf32>, tensor<?x?x?x64xf32>)
       -> tensor<?x?x?x64xf32>
  return %o : tensor<?x?x?x64xf32>
}
)";

struct KernelPtr {
  attnir_kernel_t *k;
  ~KernelPtr() { attnir_kernel_free(k); }
};

attnir_tensor_t view(HostTensor &t, const int64_t *strides = nullptr) {
  return {t.raw(), static_cast<attnir_dtype_t>(t.dtype),
          static_cast<int32_t>(t.shape.size()), t.shape.data(), strides};
}

/// Runs the float64 reference of kCausal on `in`.
HostTensor reference(std::vector<HostTensor> in) {
  auto ctx = createContext();
  auto module = mlir::parseSourceString<mlir::ModuleOp>(kCausal, ctx.get());
  auto fn = *module->getOps<mlir::func::FuncOp>().begin();
  std::vector<HostTensor> out;
  std::string err;
  EXPECT_TRUE(evaluateReference(fn, in, out, err)) << err;
  return out[0];
}

class CAPI : public ::testing::Test {
protected:
  static void SetUpTestSuite() {
    kernel = attnir_compile(kCausal, std::strlen(kCausal), "cpu", nullptr);
    ASSERT_NE(kernel, nullptr) << attnir_last_error();
  }
  static void TearDownTestSuite() { attnir_kernel_free(kernel); }
  static attnir_kernel_t *kernel;

  std::vector<HostTensor> inputs(int64_t hq, int64_t hkv, int64_t n,
                                 int64_t m) {
    std::vector<HostTensor> in = {
        HostTensor::zeros(DType::F32, {1, hq, n, 64}),
        HostTensor::zeros(DType::F32, {1, hkv, m, 64}),
        HostTensor::zeros(DType::F32, {1, hkv, m, 64})};
    for (size_t i = 0; i < 3; ++i)
      fillRandomNormal(in[i], 100 + i);
    return in;
  }
  int run(std::vector<HostTensor> &in, HostTensor &out) {
    attnir_tensor_t ts[3] = {view(in[0]), view(in[1]), view(in[2])};
    attnir_tensor_t o = view(out);
    return attnir_run(kernel, 0, ts, 3, &o, 1);
  }
};
attnir_kernel_t *CAPI::kernel = nullptr;

TEST_F(CAPI, Signature) {
  EXPECT_EQ(attnir_num_entries(kernel), 1);
  EXPECT_STREQ(attnir_entry_name(kernel, 0), "causal");
  EXPECT_EQ(attnir_entry_index(kernel, "causal"), 0);
  EXPECT_EQ(attnir_entry_index(kernel, "nope"), -1);
  EXPECT_EQ(attnir_num_args(kernel, 0, 0), 3);
  EXPECT_EQ(attnir_num_args(kernel, 0, 1), 1);
  const char *name;
  attnir_dtype_t dt;
  int32_t rank;
  const int64_t *shape;
  ASSERT_EQ(attnir_arg_info(kernel, 0, 0, 1, &name, &dt, &rank, &shape), 0);
  EXPECT_STREQ(name, "k");
  EXPECT_EQ(dt, ATTNIR_F32);
  ASSERT_EQ(rank, 4);
  EXPECT_EQ(shape[0], -1);
  EXPECT_EQ(shape[3], 64);
  EXPECT_NE(attnir_arg_info(kernel, 0, 0, 7, &name, &dt, &rank, &shape), 0);
}

TEST_F(CAPI, RunsAgainstReferenceGQAAndStrides) {
  std::vector<HostTensor> in = inputs(4, 2, 37, 53);
  int64_t shapes[4];
  attnir_tensor_t ts[3] = {view(in[0]), view(in[1]), view(in[2])};
  ASSERT_EQ(attnir_output_shapes(kernel, 0, ts, 3, shapes, 4), 0);
  EXPECT_EQ(std::vector<int64_t>(shapes, shapes + 4),
            (std::vector<int64_t>{1, 4, 37, 64}));
  HostTensor out = HostTensor::zeros(DType::F32, {1, 4, 37, 64});
  ASSERT_EQ(run(in, out), 0) << attnir_last_error();
  HostTensor ref = reference(in);
  EXPECT_LE(maxRelError(out, ref), 1e-5);

  // The same q as a strided view: q stored as [1, 37, 4, 64] (heads inner),
  // passed with the strides of its transpose.
  HostTensor qT = HostTensor::zeros(DType::F32, {1, 37, 4, 64});
  for (int64_t h = 0; h < 4; ++h)
    for (int64_t i = 0; i < 37; ++i)
      for (int64_t e = 0; e < 64; ++e)
        qT.set((i * 4 + h) * 64 + e, in[0].get((h * 37 + i) * 64 + e));
  int64_t strides[4] = {37 * 4 * 64, 64, 4 * 64, 1};
  attnir_tensor_t tq = view(qT);
  tq.shape = in[0].shape.data();
  tq.strides = strides;
  attnir_tensor_t ts2[3] = {tq, view(in[1]), view(in[2])};
  HostTensor out2 = HostTensor::zeros(DType::F32, {1, 4, 37, 64});
  attnir_tensor_t o2 = view(out2);
  ASSERT_EQ(attnir_run(kernel, 0, ts2, 3, &o2, 1), 0) << attnir_last_error();
  EXPECT_EQ(out2.data, out.data);
}

TEST_F(CAPI, ThreadsFromTheCaller) {
  std::vector<HostTensor> in = inputs(4, 2, 37, 53);
  HostTensor first = HostTensor::zeros(DType::F32, {1, 4, 37, 64});
  ASSERT_EQ(run(in, first), 0) << attnir_last_error();
  for (int32_t n : {1, 2, 3, 0}) {
    ASSERT_EQ(attnir_set_threads(kernel, n), 0) << attnir_last_error();
    EXPECT_EQ(attnir_get_threads(kernel), n);
    HostTensor out = HostTensor::zeros(DType::F32, {1, 4, 37, 64});
    ASSERT_EQ(run(in, out), 0) << attnir_last_error();
    EXPECT_EQ(out.data, first.data); // each task writes its own rows
  }
  EXPECT_NE(attnir_set_threads(kernel, -1), 0);
  EXPECT_NE(std::string(attnir_last_error()).find("expected 0 (every core) to 4096"),
            std::string::npos);
  EXPECT_NE(attnir_set_threads(kernel, 4097), 0);
  EXPECT_NE(attnir_set_threads(nullptr, 1), 0);
  EXPECT_EQ(attnir_get_threads(nullptr), -1);
  EXPECT_EQ(attnir_get_threads(kernel), 0);
}

TEST_F(CAPI, WarmCallsTakeNothingFromTheSystem) {
  // One thread: the same sequence of scratch requests every call.
  ASSERT_EQ(attnir_set_threads(kernel, 1), 0);
  std::vector<HostTensor> in = inputs(4, 2, 300, 301);
  HostTensor out = HostTensor::zeros(DType::F32, {1, 4, 300, 64});
  ASSERT_EQ(run(in, out), 0) << attnir_last_error();
  uint64_t warm = 0, held = 0, after = 0;
  attnir_workspace_stats(&warm, &held);
  EXPECT_GT(warm, 0u); // the kernel's scratch came from the workspace
  EXPECT_GT(held, 0u);
  for (int i = 0; i < 3; ++i)
    ASSERT_EQ(run(in, out), 0) << attnir_last_error();
  attnir_workspace_stats(&after, nullptr);
  EXPECT_EQ(after, warm);
  ASSERT_EQ(attnir_set_threads(kernel, 0), 0);
  attnir_workspace_stats(nullptr, nullptr);
}

TEST_F(CAPI, RejectsBadArguments) {
  std::vector<HostTensor> in = inputs(4, 2, 10, 12);
  HostTensor out = HostTensor::zeros(DType::F32, {1, 4, 10, 64});
  auto expectError = [&](const char *needle) {
    EXPECT_NE(run(in, out), 0);
    EXPECT_NE(std::string(attnir_last_error()).find(needle), std::string::npos)
        << attnir_last_error();
  };
  in[1] = HostTensor::zeros(DType::F32, {1, 3, 12, 64}); // Hkv 3, v has 2
  expectError("'v' dimension 1 (Hkv)");
  in = inputs(4, 3, 10, 12); // Hq not a multiple of Hkv
  expectError("not a multiple");
  in = inputs(4, 2, 10, 12);
  in[2] = HostTensor::zeros(DType::F32, {1, 2, 13, 64}); // M differs
  expectError("'v' dimension 2 (M)");
  in = inputs(4, 2, 10, 12);
  in[0] = HostTensor::zeros(DType::F16, {1, 4, 10, 64});
  expectError("dtype f16");
  in = inputs(4, 2, 10, 12);
  in[0] = HostTensor::zeros(DType::F32, {1, 4, 10, 32});
  expectError("'q' dimension 3 (D)");
  in[0] = HostTensor::zeros(DType::F32, {4, 10, 64});
  expectError("rank 4");
  in = inputs(4, 2, 10, 12);
  out = HostTensor::zeros(DType::F32, {1, 4, 11, 64});
  expectError("output 'result0' must be a f32 tensor of shape 1x4x10x64");

  // Null pointers, aliasing, output strides, bad entries.
  out = HostTensor::zeros(DType::F32, {1, 4, 10, 64});
  attnir_tensor_t ts[3] = {view(in[0]), view(in[1]), view(in[2])};
  attnir_tensor_t o = view(out);
  ts[1].data = nullptr;
  EXPECT_NE(attnir_run(kernel, 0, ts, 3, &o, 1), 0);
  EXPECT_NE(std::string(attnir_last_error()).find("null data"),
            std::string::npos);
  ts[1] = view(in[1]);
  attnir_tensor_t alias = view(in[0]); // q has the output's shape
  EXPECT_NE(attnir_run(kernel, 0, ts, 3, &alias, 1), 0);
  EXPECT_NE(std::string(attnir_last_error()).find("overlaps input 'q'"),
            std::string::npos)
      << attnir_last_error();
  int64_t badStrides[4] = {1, 1, 4, 40};
  o.strides = badStrides;
  EXPECT_NE(attnir_run(kernel, 0, ts, 3, &o, 1), 0);
  EXPECT_NE(std::string(attnir_last_error()).find("contiguous"),
            std::string::npos);
  o.strides = nullptr;
  EXPECT_NE(attnir_run(kernel, 0, ts, 2, &o, 1), 0);
  EXPECT_NE(attnir_run(kernel, 5, ts, 3, &o, 1), 0);
  EXPECT_NE(attnir_run(nullptr, 0, ts, 3, &o, 1), 0);
  EXPECT_NE(attnir_run(kernel, 0, nullptr, 3, &o, 1), 0);
  ts[0].dtype = static_cast<attnir_dtype_t>(42);
  EXPECT_NE(attnir_run(kernel, 0, ts, 3, &o, 1), 0);
}

TEST_F(CAPI, CompileErrorsCarryLocations) {
  const char *bad = "func.func @f(%q: tensor<?x?x?x64xf32>) {\n  %x = "
                    "attn.nope %q\n}\n";
  EXPECT_EQ(attnir_compile(bad, std::strlen(bad), "cpu", nullptr), nullptr);
  EXPECT_NE(std::string(attnir_last_error()).find("spec:2:"),
            std::string::npos)
      << attnir_last_error();
  EXPECT_EQ(attnir_compile(kCausal, std::strlen(kCausal), "tpu", nullptr),
            nullptr);
  EXPECT_EQ(attnir_compile(kCausal, std::strlen(kCausal), "cpu", "nope=3"),
            nullptr);
  EXPECT_EQ(attnir_compile(nullptr, 0, "cpu", nullptr), nullptr);
}

TEST_F(CAPI, SaveLoadAndCorruption) {
  std::string path = ::testing::TempDir() + "/capi-test.bundle";
  ASSERT_EQ(attnir_save(kernel, path.c_str()), 0) << attnir_last_error();
  KernelPtr loaded{attnir_load(path.c_str())};
  ASSERT_NE(loaded.k, nullptr) << attnir_last_error();
  std::vector<HostTensor> in = inputs(2, 2, 20, 20);
  HostTensor a = HostTensor::zeros(DType::F32, {1, 2, 20, 64}), b = a;
  attnir_tensor_t ts[3] = {view(in[0]), view(in[1]), view(in[2])};
  attnir_tensor_t oa = view(a), ob = view(b);
  ASSERT_EQ(attnir_run(kernel, 0, ts, 3, &oa, 1), 0);
  ASSERT_EQ(attnir_run(loaded.k, 0, ts, 3, &ob, 1), 0);
  EXPECT_EQ(a.data, b.data);
  EXPECT_EQ(attnir_ir(loaded.k, "tiled"), nullptr);
  const char *ir = attnir_ir(kernel, "tiled");
  ASSERT_NE(ir, nullptr) << attnir_last_error();
  EXPECT_NE(std::string(ir).find("attn.kv_block_update"), std::string::npos);

  // Truncated and bit-flipped files are refused.
  std::string bytes;
  {
    std::ifstream f(path, std::ios::binary);
    bytes.assign(std::istreambuf_iterator<char>(f), {});
  }
  for (int variant = 0; variant < 2; ++variant) {
    std::string bad = bytes;
    if (variant == 0)
      bad.resize(bad.size() / 2);
    else
      bad[bad.size() / 2] ^= 0x40;
    {
      std::ofstream f(path, std::ios::binary | std::ios::trunc);
      f << bad;
    }
    EXPECT_EQ(attnir_load(path.c_str()), nullptr);
    EXPECT_NE(std::string(attnir_last_error()).find("bundle"),
              std::string::npos)
        << attnir_last_error();
  }
  EXPECT_EQ(attnir_load("/nonexistent/x.bundle"), nullptr);
  std::remove(path.c_str());
}

} // namespace

namespace {
// attnir_reference is the reference attnc --check uses: the same numbers as
// evaluating the spec in C++, strided inputs included; errors are reported.
TEST_F(CAPI, ReferenceMatchesEvaluatorAndReportsErrors) {
  std::vector<HostTensor> in = inputs(4, 2, 37, 53);
  HostTensor want = reference(in);
  int64_t strides[4] = {4 * 37 * 64, 37 * 64, 64, 1}; // row-major, explicit
  attnir_tensor_t ts[3] = {view(in[0], strides), view(in[1]), view(in[2])};
  attnir_results_t *r =
      attnir_reference(kCausal, std::strlen(kCausal), nullptr, ts, 3);
  ASSERT_NE(r, nullptr) << attnir_last_error();
  ASSERT_EQ(attnir_results_count(r), 1);
  ASSERT_EQ(attnir_results_rank(r, 0), 4);
  EXPECT_EQ(std::vector<int64_t>(attnir_results_shape(r, 0),
                                 attnir_results_shape(r, 0) + 4),
            want.shape);
  EXPECT_EQ(std::memcmp(attnir_results_data(r, 0), want.raw(),
                        want.data.size()),
            0);
  EXPECT_EQ(attnir_results_data(r, 1), nullptr);
  EXPECT_EQ(attnir_results_rank(r, -1), -1);
  attnir_results_free(r);

  EXPECT_EQ(attnir_reference(kCausal, std::strlen(kCausal), "nope", ts, 3),
            nullptr);
  EXPECT_STREQ(attnir_last_error(), "the spec has no entry @nope");
  EXPECT_EQ(attnir_reference(kCausal, std::strlen(kCausal), nullptr, ts, 2),
            nullptr);
  EXPECT_STREQ(attnir_last_error(), "@causal takes 3 inputs, got 2");
  EXPECT_EQ(attnir_reference("func.func @", 11, nullptr, ts, 3), nullptr);
  EXPECT_NE(std::string(attnir_last_error()).find("spec:1:"),
            std::string::npos);
}

// attnir_kernel_reference interprets the op graph the kernel records (the
// path runtime-only builds take): the same numbers, bit for bit, from the
// compiled kernel and from a bundle loaded back; a bundle edited to carry no
// program is refused with a message.
TEST_F(CAPI, KernelReferenceEqualsSpecReference) {
  std::vector<HostTensor> in = inputs(4, 2, 37, 53);
  HostTensor want = reference(in);
  attnir_tensor_t ts[3] = {view(in[0]), view(in[1]), view(in[2])};
  std::string path = ::testing::TempDir() + "/kref.bundle";
  ASSERT_EQ(attnir_save(kernel, path.c_str()), 0) << attnir_last_error();
  attnir_kernel_t *loaded = attnir_load(path.c_str());
  ASSERT_NE(loaded, nullptr) << attnir_last_error();
  for (const attnir_kernel_t *k : {(const attnir_kernel_t *)kernel,
                                   (const attnir_kernel_t *)loaded}) {
    attnir_results_t *r = attnir_kernel_reference(k, 0, ts, 3);
    ASSERT_NE(r, nullptr) << attnir_last_error();
    ASSERT_EQ(attnir_results_count(r), 1);
    EXPECT_EQ(std::memcmp(attnir_results_data(r, 0), want.raw(),
                          want.data.size()),
              0);
    attnir_results_free(r);
  }
  EXPECT_EQ(attnir_kernel_reference(loaded, 1, ts, 3), nullptr);
  EXPECT_STREQ(attnir_last_error(), "no entry #1");
  EXPECT_EQ(attnir_kernel_reference(loaded, 0, ts, 2), nullptr);
  EXPECT_STREQ(attnir_last_error(), "@causal takes 3 inputs, got 2");
  attnir_kernel_free(loaded);

  Bundle b;
  std::string err;
  ASSERT_TRUE(Bundle::readFile(path, b, err)) << err;
  b.entries[0].program.clear();
  ASSERT_TRUE(b.writeFile(path, err)) << err;
  loaded = attnir_load(path.c_str());
  ASSERT_NE(loaded, nullptr) << attnir_last_error();
  EXPECT_EQ(attnir_kernel_reference(loaded, 0, ts, 3), nullptr);
  EXPECT_NE(std::string(attnir_last_error()).find("carries no program"),
            std::string::npos);
  attnir_kernel_free(loaded);
}
} // namespace

namespace {
// Issue 15, case 6: hand-edited bundles with a recomputed checksum (an
// entry's output removed, no entries at all) are refused at load, not run
// with the wrong number of arguments.
TEST_F(CAPI, BundlesOfSeveralEntriesRoundTrip) {
  // A spec of several functions is one bundle of several entries (the
  // ring's programs, the Python cache); each comes back by name.
  std::string path = ::testing::TempDir() + "/capi-entries.bundle";
  ASSERT_EQ(attnir_save(kernel, path.c_str()), 0) << attnir_last_error();
  Bundle b;
  std::string err;
  ASSERT_TRUE(Bundle::readFile(path, b, err)) << err;
  ASSERT_EQ(b.entries.size(), 1u);
  for (const char *name : {"second", "third"}) {
    EntryABI copy = b.entries[0];
    copy.name = name;
    b.entries.push_back(copy);
  }
  ASSERT_TRUE(b.writeFile(path, err)) << err;
  Bundle back;
  ASSERT_TRUE(Bundle::readFile(path, back, err)) << err;
  ASSERT_EQ(back.entries.size(), 3u);
  EXPECT_EQ(back.entries[0].name, "causal");
  EXPECT_EQ(back.entries[1].name, "second");
  EXPECT_EQ(back.entries[2].name, "third");
  EXPECT_EQ(back.entries[2].serialize(), b.entries[2].serialize());
  std::remove(path.c_str());
}

TEST_F(CAPI, Issue15Case6EditedBundlesAreRefused) {
  std::string path = ::testing::TempDir() + "/edited.bundle";
  ASSERT_EQ(attnir_save(kernel, path.c_str()), 0) << attnir_last_error();
  Bundle b;
  std::string err;
  ASSERT_TRUE(Bundle::readFile(path, b, err)) << err;

  Bundle noOutput = b;
  noOutput.entries[0].outputs.clear();
  ASSERT_TRUE(noOutput.writeFile(path, err)) << err;
  EXPECT_EQ(attnir_load(path.c_str()), nullptr);
  EXPECT_NE(std::string(attnir_last_error())
                .find("corrupt bundle: @causal describes 3 arguments but its "
                      "kernel takes 4"),
            std::string::npos)
      << attnir_last_error();

  Bundle noEntries = b;
  noEntries.entries.clear();
  ASSERT_TRUE(noEntries.writeFile(path, err)) << err;
  EXPECT_EQ(attnir_load(path.c_str()), nullptr);
  EXPECT_NE(std::string(attnir_last_error()).find("entries"),
            std::string::npos)
      << attnir_last_error();
  std::remove(path.c_str());
}
} // namespace
