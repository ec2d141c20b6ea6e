//===- ProgramTest.cpp - the reference's op graph and its text form -------===//
//
// The program text is what a bundle carries to the reference: it must
// round-trip exactly, and anything else (truncated, corrupted, hostile) must
// be refused with an error, never crash or be half-read.
//
//===----------------------------------------------------------------------===//

#include "attnir/Reference/Reference.h"
#include <cmath>
#include <gtest/gtest.h>
#include <random>

using namespace attnir;

namespace {

RefProgram listProgram() {
  RefProgram p;
  p.numArgs = 5;
  RefOp op;
  op.kind = "attention";
  op.operands = {{"q", 0}, {"k", 1}, {"v", 2}, {"kv_indices", 3},
                 {"kv_counts", 4}};
  op.results = {{"out", 5}, {"lse", 6}};
  op.floats["scale"] = 0.1; // not a short binary fraction: printed exactly
  op.ints = {{"block_q", 16}, {"block_k", 32}};
  op.masks["mask"] = {"all_of", {}, {{"causal", {}, {}},
                                     {"window", {255, 0}, {}}}};
  p.ops.push_back(op);
  p.returns = {6, 5};
  return p;
}

TEST(Program, RoundTripsExactly) {
  RefProgram p = listProgram(), q;
  std::string err;
  ASSERT_TRUE(RefProgram::parse(p.print(), q, err)) << err;
  EXPECT_EQ(q.print(), p.print());
  EXPECT_EQ(q.ops[0].floats["scale"], 0.1);
  EXPECT_EQ(q.ops[0].masks["mask"], p.ops[0].masks["mask"]);
  EXPECT_EQ(q.returns, (std::vector<int>{6, 5}));
}

TEST(Program, RefusesMalformedText) {
  std::string err;
  RefProgram out;
  for (const char *bad : {
           "",
           "args -1\nreturn\n",
           "args 1\nreturn %1\n",                        // undefined value
           "args 1\nattention q=%3 -> out=%4 |\nreturn %4\n", // use before def
           "args 1\nattention q=%0 -> out=%0 |\nreturn %0\n", // redefinition
           "args 1\nattention q=%0 out=%1\nreturn %1\n",  // no '->' and '|'
           "args 1\nattention q=%0 -> out=%1 | i.x=1e3\nreturn %1\n",
           "args 1\nattention q=%0 -> out=%1 | m.mask=window[1,\nreturn %1\n",
           "args 1\nattention q=%0 -> out=%1 | m.mask=not(\nreturn %1\n",
           "args 1\nattention q=%0 -> out=%1 | x.y=1\nreturn %1\n",
           "args 1\nreturn %0\nreturn %0\n",
           "args 1\n", // no return
       })
    EXPECT_FALSE(RefProgram::parse(bad, out, err)) << bad;
  // Every prefix and every one-byte corruption of a valid program either
  // parses or is refused; none crashes (run under the sanitizer suite).
  std::string text = listProgram().print();
  for (size_t n = 0; n < text.size(); ++n)
    (void)RefProgram::parse(text.substr(0, n), out, err);
  std::mt19937 rng(1);
  for (int t = 0; t < 2000; ++t) {
    std::string c = text;
    c[rng() % c.size()] = static_cast<char>(rng() % 256);
    (void)RefProgram::parse(c, out, err);
  }
  // Deep nesting is bounded, not a stack overflow.
  std::string deep = "args 0\nattention -> out=%0 | m.mask=";
  for (int i = 0; i < 100000; ++i)
    deep += "not(";
  EXPECT_FALSE(RefProgram::parse(deep, out, err));
}

TEST(Program, MaskRulesCheckTheirParameters) {
  std::string err;
  ElementRule rule;
  for (const char *bad :
       {"window[-1,0]", "window[1]", "chunked[0]", "balanced[0]", "compressed[0,1]", "compressed[4,0]", "key_part[2,2]", "key_part[0,1025]", "dilated[1099511627776,2]",
        "sink[1099511627777]", "not(causal,causal)", "all_of", "nope",
        "causal[1]", "segments(causal)"}) {
    RefMask m;
    ASSERT_TRUE(parseMask(bad, m, err)) << bad << ": " << err;
    EXPECT_FALSE(makeElementRule(m, rule, err)) << bad;
  }
}

HostTensor random(DType dt, std::vector<int64_t> shape, uint64_t seed) {
  HostTensor t = HostTensor::zeros(dt, std::move(shape));
  fillRandomNormal(t, seed);
  return t;
}

TEST(Program, EvaluatesAListAndRefusesBadIds) {
  HostTensor q = random(DType::F32, {1, 2, 40, 8}, 1),
             k = random(DType::F32, {1, 1, 70, 8}, 2),
             v = random(DType::F32, {1, 1, 70, 8}, 3);
  // ceil(40 / 16) = 3 query blocks, ceil(70 / 32) = 3 key blocks, K = 2.
  HostTensor idx = HostTensor::zeros(DType::I32, {1, 1, 3, 2}),
             cnt = HostTensor::zeros(DType::I64, {1, 1, 3});
  int ids[3][2] = {{0, 0}, {2, 1}, {1, 9}};
  int counts[3] = {2, 2, 1}; // the 9 lies past the count: never read
  for (int r = 0; r < 3; ++r) {
    cnt.setInt(r, counts[r]);
    for (int t = 0; t < 2; ++t)
      idx.setInt(r * 2 + t, ids[r][t]);
  }
  std::vector<HostTensor> res;
  std::string err;
  ASSERT_TRUE(evaluateProgram(listProgram(), {q, k, v, idx, cnt}, res, err))
      << err;
  ASSERT_EQ(res.size(), 2u);
  EXPECT_EQ(res[0].shape, (std::vector<int64_t>{1, 2, 40})); // lse first
  // The same through referenceAttention with the rule spelled out.
  AttentionReferenceArgs a{&q, &k, &v, 0.1, nullptr};
  ASSERT_TRUE(makeElementRule(listProgram().ops[0].masks["mask"], a.rule, err));
  a.kvIndices = &idx;
  a.kvCounts = &cnt;
  a.blockQ = 16;
  a.blockK = 32;
  HostTensor out, lse;
  referenceAttention(a, out, lse);
  for (int64_t i = 0; i < out.numElements(); ++i)
    ASSERT_EQ(out.get(i), res[1].get(i));
  idx.setInt(3, 3); // row 1, second id: block 3 of 3
  EXPECT_FALSE(evaluateProgram(listProgram(), {q, k, v, idx, cnt}, res, err));
  EXPECT_NE(err.find("outside [0, 3)"), std::string::npos) << err;
  EXPECT_FALSE(evaluateProgram(listProgram(), {q, k, v}, res, err));
  EXPECT_NE(err.find("takes 5 arguments"), std::string::npos) << err;
  RefProgram unknown = listProgram();
  unknown.ops[0].kind = "no_such_op";
  EXPECT_FALSE(evaluateProgram(unknown, {q, k, v, idx, cnt}, res, err));
  EXPECT_NE(err.find("unsupported op 'no_such_op'"), std::string::npos) << err;
}

/// attn.route on x (arg 0) with centroids (arg 1) or lsh(bits, seed):
/// results perm, bucket.
RefProgram routeProgram(bool lsh, int64_t bits = 0, int64_t seed = 0) {
  RefProgram p;
  p.numArgs = lsh ? 1 : 2;
  RefOp op;
  op.kind = "route";
  op.operands = {{"x", 0}};
  if (lsh)
    op.ints = {{"bits", bits}, {"seed", seed}};
  else
    op.operands["centroids"] = 1;
  op.results = {{"perm", 2}, {"bucket", 3}};
  p.ops.push_back(op);
  p.returns = {2, 3};
  return p;
}

/// perm is a permutation of each row, in (bucket, position) order.
void expectStableOrder(const HostTensor &perm, const HostTensor &bucket,
                       int64_t rows, int64_t n) {
  for (int64_t r = 0; r < rows; ++r) {
    std::vector<int> seen(n, 0);
    for (int64_t s = 0; s < n; ++s) {
      int64_t t = perm.getInt(r * n + s);
      ASSERT_TRUE(t >= 0 && t < n);
      ++seen[t];
      if (s == 0)
        continue;
      int64_t prev = perm.getInt(r * n + s - 1);
      int64_t bp = bucket.getInt(r * n + prev), bt = bucket.getInt(r * n + t);
      EXPECT_TRUE(bp < bt || (bp == bt && prev < t)) << "row " << r << " slot " << s;
    }
    for (int c : seen)
      ASSERT_EQ(c, 1);
  }
}

// attn.route (issue 21, first step): buckets by nearest centroid or LSH
// sign bits, and the stable (bucket, position) order.
TEST(Program, RouteIsAStableCountingSortOfExactBuckets) {
  // Philox4x32-10's known answer (Random123, counter 0, key 0), word 0.
  EXPECT_EQ(philox4x32Word0(0, 0, 0, 0, 0, 0), 0x6627e8d5u);
  HostTensor x = random(DType::F32, {2, 3, 57, 8}, 4);
  HostTensor one = random(DType::F32, {3, 1, 8}, 5),
             four = random(DType::F32, {3, 4, 8}, 6);
  std::vector<HostTensor> res;
  std::string err;
  // One centroid, or no LSH bits: one bucket, the identity order.
  for (auto [prog, args] :
       {std::pair{routeProgram(false), std::vector<HostTensor>{x, one}},
        {routeProgram(true, 0, 9), {x}}}) {
    ASSERT_TRUE(evaluateProgram(prog, args, res, err)) << err;
    for (int64_t i = 0; i < res[0].numElements(); ++i) {
      ASSERT_EQ(res[0].getInt(i), i % 57);
      ASSERT_EQ(res[1].getInt(i), 0);
    }
  }
  // Four centroids: the argmax of exact float64 dots, ties to the lower c.
  ASSERT_TRUE(evaluateProgram(routeProgram(false), {x, four}, res, err)) << err;
  expectStableOrder(res[0], res[1], 6, 57);
  std::vector<double> xs = x.toDoubles(), ms = four.toDoubles();
  for (int64_t r = 0; r < 6; ++r)
    for (int64_t t = 0; t < 57; ++t) {
      int64_t h = r % 3, best = 0;
      double top = 0;
      for (int64_t c = 0; c < 4; ++c) {
        double s = 0;
        for (int64_t d = 0; d < 8; ++d)
          s += xs[(r * 57 + t) * 8 + d] * ms[(h * 4 + c) * 8 + d];
        if (c == 0 || s > top)
          top = s, best = c;
      }
      ASSERT_EQ(res[1].getInt(r * 57 + t), best);
    }
  // LSH: 3 bits, deterministic in the seed, a new seed a new hash.
  ASSERT_TRUE(evaluateProgram(routeProgram(true, 3, 7), {x}, res, err)) << err;
  expectStableOrder(res[0], res[1], 6, 57);
  std::vector<HostTensor> again, other;
  ASSERT_TRUE(evaluateProgram(routeProgram(true, 3, 7), {x}, again, err));
  ASSERT_TRUE(evaluateProgram(routeProgram(true, 3, 8), {x}, other, err));
  int64_t differ = 0;
  for (int64_t i = 0; i < res[1].numElements(); ++i) {
    ASSERT_EQ(res[1].getInt(i), again[1].getInt(i));
    differ += res[1].getInt(i) != other[1].getInt(i);
  }
  EXPECT_GT(differ, 0);
  // Bad centroids are an error, not a crash.
  EXPECT_FALSE(evaluateProgram(routeProgram(false), {x, random(DType::F32, {2, 4, 8}, 7)},
                               res, err));
  EXPECT_NE(err.find("must be [H, C, D]"), std::string::npos) << err;
}

} // namespace

namespace {
/// score_rule (s, b, h, i, j, table[H, 4]) -> s + table[h, (j - i) / d]
/// with d = i - 3 (so 0 at i = 3: the guarded division gives 0).
RefRule tableRule() {
  RefRule r;
  r.numArgs = 6;
  r.instrs = {
      {"arith.subi", {4, 3}, {64}, 0},        // 6: j - i
      {"arith.constant", {}, {64, 3}, 0},     // 7: 3
      {"arith.subi", {3, 7}, {64}, 0},        // 8: i - 3
      {"arith.divsi", {6, 8}, {64}, 0},       // 9: (j - i) / (i - 3)
      {"tensor.extract", {5, 2, 9}, {0}, 0},  // 10: table[h, 9]
      {"arith.addf", {0, 10}, {0}, 0},        // 11
      {"yield", {11}, {}, 0},
  };
  return r;
}
} // namespace

TEST(Program, RulesRoundTripAndRefuseCorruption) {
  RefProgram p = listProgram(), q;
  p.ops[0].rules["score_rule"] = tableRule();
  p.ops[0].rules["score_rule"].instrs[1].value = -0.0; // printed with sign
  std::string err;
  ASSERT_TRUE(RefProgram::parse(p.print(), q, err)) << err;
  EXPECT_EQ(q.print(), p.print());
  EXPECT_EQ(q.ops[0].rules["score_rule"], p.ops[0].rules["score_rule"]);
  for (const char *bad : {"", "x", "2", "2;yield(2)", "2;arith.addf[0](0,5);yield(2)",
                          "1;arith.constant[64,{1}();yield(1)", "1;yield(0"}) {
    RefRule r;
    EXPECT_FALSE(parseRule(bad, r, err)) << bad;
  }
  // Corrupted rules parse or are refused; a parsed one is then checked
  // against its operands by RuleProgram::make, and runs only if accepted.
  HostTensor table = HostTensor::zeros(DType::F32, {2, 4});
  std::string text = printRule(tableRule());
  std::mt19937 rng(2);
  for (int t = 0; t < 3000; ++t) {
    std::string c = text;
    c[rng() % c.size()] = "0123456789,;()[]{}.-xaf"[rng() % 23];
    RefRule r;
    RuleProgram prog;
    if (parseRule(c, r, err) &&
        RuleProgram::make(r, {0, 64, 64, 64, 64}, {&table}, prog, err)) {
      RuleValue at[5];
      at[3].i = 3;
      (void)prog.run(at);
    }
  }
}

TEST(Program, RuleSemanticsGuardAndClamp) {
  HostTensor table = HostTensor::zeros(DType::F32, {2, 4});
  for (int64_t x = 0; x < 8; ++x)
    table.set(x, 10.0 * x);
  RuleProgram prog;
  std::string err;
  ASSERT_TRUE(RuleProgram::make(tableRule(), {0, 64, 64, 64, 64}, {&table},
                                prog, err))
      << err;
  auto run = [&](double s, int64_t h, int64_t i, int64_t j) {
    RuleValue at[5];
    at[0].f = s;
    at[2].i = h, at[3].i = i, at[4].i = j;
    return prog.run(at).f;
  };
  EXPECT_EQ(run(0.5, 1, 5, 7), 0.5 + 50.0); // (7 - 5) / 2 = 1
  EXPECT_FALSE(prog.readOutOfBounds());
  EXPECT_EQ(run(0.5, 1, 3, 9), 0.5 + 40.0); // / 0 gives 0
  EXPECT_EQ(run(0.5, 0, 2, 4), 0.5 + 0.0);  // / -1 gives -2, clamped to 0
  EXPECT_TRUE(prog.readOutOfBounds());
  // Kinds are checked: a float table indexed as an integer result.
  RefRule wrong = tableRule();
  wrong.instrs[4].ints = {64};
  EXPECT_FALSE(RuleProgram::make(wrong, {0, 64, 64, 64, 64}, {&table}, prog,
                                 err));
}

// attn.scan's regions yield a state of several values: the text form keeps
// them, runAll returns them in order (run the first), and a yield of no
// value or of a value not yet defined is refused.
TEST(Program, RulesYieldSeveralValues) {
  std::string err;
  RefRule r;
  ASSERT_TRUE(parseRule("2;arith.addf[0](0,1);arith.mulf[0](0,1);yield(3,2,0)", r, err))
      << err;
  EXPECT_EQ(printRule(r), "2;arith.addf[0](0,1);arith.mulf[0](0,1);yield(3,2,0)");
  RuleProgram prog;
  ASSERT_TRUE(RuleProgram::make(r, {0, 0}, {}, prog, err)) << err;
  EXPECT_EQ(prog.numYields(), 3u);
  RuleValue in[2], out[3];
  in[0].f = 3.0, in[1].f = 4.0;
  prog.runAll(in, out, 3);
  EXPECT_EQ(out[0].f, 12.0);
  EXPECT_EQ(out[1].f, 7.0);
  EXPECT_EQ(out[2].f, 3.0);
  EXPECT_EQ(prog.run(in).f, 12.0);
  for (const char *bad : {"2;yield()", "2;arith.addf[0](0,1);yield(2,3)"}) {
    RefRule b;
    EXPECT_FALSE(parseRule(bad, b, err)) << bad;
  }
}
