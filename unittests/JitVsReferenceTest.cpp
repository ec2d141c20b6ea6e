//===- JitVsReferenceTest.cpp - compiled kernels against the reference ----===//
//
// Each case compiles a spec with dynamic B, H, N, M once and runs it on fresh
// random inputs of a given shape, comparing every output with the float64
// reference under the tolerance of attnc --check.
//
//===----------------------------------------------------------------------===//

#include "attnir/Driver/Compiler.h"
#include "attnir/Reference/Compare.h"
#include "attnir/Driver/ProgramOf.h"
#include <gtest/gtest.h>
#include <map>
#include <sstream>

using namespace attnir;

namespace {

struct Case {
  const char *name;
  const char *dtype;
  int64_t d, dv;
  bool causal, lse;
  double scale; // 0: default
  int64_t b, hq, hkv, n, m;
  double stddev = 1.0;
  const char *mask = nullptr; // mask attribute text; overrides `causal`
};

// gtest prints parameters in test names and logs: show the case's name.
void PrintTo(const Case &c, std::ostream *os) { *os << c.name; }

std::string specText(const Case &c) {
  std::ostringstream os;
  auto t = [&](int64_t last) {
    return "tensor<?x?x?x" + std::to_string(last) + "x" + c.dtype + ">";
  };
  std::string q = t(c.d), k = t(c.d), v = t(c.dv), o = t(c.dv);
  std::string res = c.lse ? "(" + o + ", tensor<?x?x?xf32>)" : o;
  os << "func.func @f(%q: " << q << ", %k: " << k << ", %v: " << v
     << ") -> " << res << " {\n";
  os << (c.lse ? "  %o, %l = " : "  %o = ") << "attn.attention %q, %k, %v";
  if (c.mask)
    os << " mask(" << c.mask << ")";
  else if (c.causal)
    os << " mask(#attn.causal)";
  if (c.scale != 0)
    os << " scale(" << std::scientific << c.scale << std::defaultfloat
       << ")";
  os << " : (" << q << ", " << k << ", " << v << ") -> " << res << "\n";
  os << "  return " << (c.lse ? "%o, %l : " + o + ", tensor<?x?x?xf32>"
                              : "%o : " + o)
     << "\n}\n";
  return os.str();
}

class JitVsReference : public ::testing::TestWithParam<Case> {};

TEST_P(JitVsReference, MatchesFloat64Reference) {
  const Case &c = GetParam();
  // One compiled kernel per spec text, reused across shapes.
  // Leaked on purpose: JIT engines must not outlive LLVM's own statics.
  static auto &cache =
      *new std::map<std::string, std::unique_ptr<CompiledSpec>>();
  std::string text = specText(c);
  std::string err;
  auto &kernel = cache[text];
  if (!kernel)
    kernel = CompiledSpec::compile(text, err);
  ASSERT_TRUE(kernel) << err << "\n" << text;

  DType dt;
  ASSERT_TRUE(parseDType(c.dtype, dt));
  std::vector<HostTensor> in = {
      HostTensor::zeros(dt, {c.b, c.hq, c.n, c.d}),
      HostTensor::zeros(dt, {c.b, c.hkv, c.m, c.d}),
      HostTensor::zeros(dt, {c.b, c.hkv, c.m, c.dv})};
  static uint64_t seed = 1234;
  for (HostTensor &t : in)
    fillRandomNormal(t, seed++, c.stddev);

  std::vector<HostTensor> out, ref;
  ASSERT_TRUE(kernel->run("f", in, out, err)) << err;
  ReferenceStats stats;
  ASSERT_TRUE(evaluateReference(kernel->function("f"), in, ref, err, &stats))
      << err;
  ASSERT_EQ(out.size(), ref.size());
  double tol = checkTolerance(dt, stats.maxAbsLogit);
  for (size_t i = 0; i < out.size(); ++i) {
    ASSERT_EQ(out[i].shape, ref[i].shape);
    EXPECT_LE(maxRelError(out[i], ref[i]), tol)
        << "result " << i << " of " << c.name;
  }
}

// clang-format off
const Case kCases[] = {
  // name              dtype   D    Dv  causal lse   scale  B  Hq Hkv N     M
  {"n1_m1",            "f32",  64,  64, false, false, 0,    1, 1, 1,  1,    1},
  {"decode_n1",        "f32",  64,  64, false, false, 0,    1, 4, 4,  1,    1000},
  {"ragged_1000",      "f32",  64,  64, false, false, 0,    1, 2, 2,  1000, 1000},
  {"exact_blocks",     "f32",  64,  64, false, false, 0,    1, 2, 2,  128,  128},
  {"ragged_cross",     "f32",  64,  64, false, false, 0,    2, 2, 2,  65,   127},
  {"gqa",              "f32",  64,  64, false, false, 0,    1, 8, 2,  100,  100},
  {"mqa",              "f32",  64,  64, true,  false, 0,    1, 4, 1,  77,   77},
  {"batch3",           "f32",  64,  64, true,  false, 0,    3, 2, 2,  50,   50},
  {"dv32",             "f32",  64,  32, false, false, 0,    1, 2, 2,  70,   90},
  {"dv40_unpadded",    "f32",  64,  40, true,  false, 0,    1, 2, 1,  70,   70},
  {"d128",             "f32",  128, 128,false, false, 0,    1, 2, 2,  129,  129},
  {"d16",              "f32",  16,  16, true,  false, 0,    1, 2, 2,  33,   33},
  {"causal_square",    "f32",  64,  64, true,  false, 0,    1, 2, 2,  1000, 1000},
  {"causal_n1",        "f32",  64,  64, true,  false, 0,    1, 1, 1,  1,    1},
  {"causal_m_gt_n",    "f32",  64,  64, true,  true,  0,    1, 2, 2,  50,   200},
  {"causal_m_lt_n",    "f32",  64,  64, true,  true,  0,    1, 2, 2,  200,  50},
  {"lse_dense",        "f32",  64,  64, false, true,  0,    2, 2, 1,  90,   33},
  {"bf16",             "bf16", 64,  64, false, false, 0,    1, 2, 2,  150,  150},
  {"bf16_causal_cross","bf16", 64,  64, true,  true,  0,    1, 4, 2,  60,   170},
  {"f16",              "f16",  64,  64, true,  false, 0,    1, 2, 2,  99,   99},
  {"logits_1e4",       "f32",  64,  64, false, true,  1000, 1, 2, 2,  70,   70},
  {"logits_1e4_causal","f32",  64,  64, true,  false, 1000, 1, 2, 2,  70,   70},
  {"no_keys",          "f32",  64,  64, false, true,  0,    1, 2, 2,  5,    0},
  {"no_queries",       "f32",  64,  64, true,  false, 0,    1, 2, 2,  0,    9},
  {"many_heads",       "f32",  64,  64, true,  false, 0,    2, 16, 16, 333, 333},
  // Bands: key loops that start past 0 and end before M; ragged; cross.
  {"window_100_0",     "f32",  64,  64, false, true,  0,    1, 2, 2,  500,  500, 1.0, "#attn.window<100, 0>"},
  {"window_7_9_cross", "f32",  64,  64, false, true,  0,    1, 4, 2,  130,  300, 1.0, "#attn.window<7, 9>"},
  {"window_0_0",       "bf16", 64,  64, false, false, 0,    1, 2, 2,  65,   65,  1.0, "#attn.window<0, 0>"},
  {"window_m_lt_n",    "f32",  64,  64, false, true,  0,    1, 2, 1,  300,  70,  1.0, "#attn.window<30, 0>"},
};
// clang-format on

INSTANTIATE_TEST_SUITE_P(Shapes, JitVsReference, ::testing::ValuesIn(kCases),
                         [](const auto &info) {
                           return std::string(info.param.name);
                         });

} // namespace
