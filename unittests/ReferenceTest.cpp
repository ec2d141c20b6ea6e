//===- ReferenceTest.cpp - the reference against independent formulas ----===//
//
// The reference computes softmax with a running max per row. These tests
// check it against closed forms and against a second, deliberately
// different formula (explicit probability matrix, log-sum-exp by sorting
// terms), so that a mistake in the reference cannot hide behind the
// lowering's agreement with it.
//
//===----------------------------------------------------------------------===//

#include "attnir/Reference/Reference.h"
#include <algorithm>
#include <cmath>
#include <gtest/gtest.h>
#include <limits>

using namespace attnir;

namespace {

HostTensor randomTensor(std::vector<int64_t> shape, uint64_t seed) {
  HostTensor t = HostTensor::zeros(DType::F64, std::move(shape));
  fillRandomNormal(t, seed);
  return t;
}

/// out = P V with P = exp(S) / rowsum(exp(S)) computed from an explicitly
/// materialised S, with the log-sum-exp of sorted terms; kept(i, j) a mask.
void independentAttention(const HostTensor &q, const HostTensor &k,
                          const HostTensor &v, double scale,
                          bool (*kept)(int64_t, int64_t, int64_t, int64_t),
                          std::vector<double> &out, std::vector<double> &lse) {
  int64_t B = q.shape[0], Hq = q.shape[1], N = q.shape[2], D = q.shape[3];
  int64_t Hkv = k.shape[1], M = k.shape[2], Dv = v.shape[3];
  out.assign(B * Hq * N * Dv, 0.0);
  lse.assign(B * Hq * N, 0.0);
  for (int64_t b = 0; b < B; ++b)
    for (int64_t h = 0; h < Hq; ++h) {
      int64_t hk = h * Hkv / Hq;
      for (int64_t i = 0; i < N; ++i) {
        std::vector<double> s;
        std::vector<int64_t> js;
        for (int64_t j = 0; j < M; ++j) {
          if (kept && !kept(i, j, N, M))
            continue;
          double dot = 0;
          for (int64_t e = 0; e < D; ++e)
            dot += q.get(((b * Hq + h) * N + i) * D + e) *
                   k.get(((b * Hkv + hk) * M + j) * D + e);
          s.push_back(dot * scale);
          js.push_back(j);
        }
        int64_t row = (b * Hq + h) * N + i;
        if (s.empty()) {
          lse[row] = -std::numeric_limits<double>::infinity();
          continue;
        }
        std::vector<double> sorted = s;
        std::sort(sorted.begin(), sorted.end());
        double top = sorted.back(), sum = 0;
        for (double x : sorted)
          sum += std::exp(x - top);
        lse[row] = top + std::log(sum);
        for (size_t t = 0; t < s.size(); ++t) {
          double p = std::exp(s[t] - lse[row]);
          for (int64_t e = 0; e < Dv; ++e)
            out[row * Dv + e] += p * v.get(((b * Hkv + hk) * M + js[t]) * Dv + e);
        }
      }
    }
}

/// A test's element rule as the reference takes it (null stays null).
ElementRule ruleOf(bool (*kept)(int64_t, int64_t, int64_t, int64_t)) {
  if (!kept)
    return nullptr;
  return [kept](const RuleSite &s, int64_t i, int64_t j) {
    return kept(i, j, s.n, s.m);
  };
}

bool causal(int64_t i, int64_t j, int64_t n, int64_t m) {
  return j <= i + (m - n);
}

void expectClose(const HostTensor &got, const std::vector<double> &want) {
  ASSERT_EQ(got.numElements(), static_cast<int64_t>(want.size()));
  for (int64_t i = 0; i < got.numElements(); ++i) {
    if (std::isinf(want[i])) {
      EXPECT_EQ(got.get(i), want[i]) << "at " << i;
      continue;
    }
    EXPECT_NEAR(got.get(i), want[i], 1e-12 * (1 + std::fabs(want[i])))
        << "at " << i;
  }
}

/// The reference and the independent formula agree on out and lse.
void expectMatchesIndependent(const HostTensor &q, const HostTensor &k,
                              const HostTensor &v, double scale,
                              bool (*kept)(int64_t, int64_t, int64_t,
                                           int64_t)) {
  HostTensor out, lse;
  referenceAttention({&q, &k, &v, scale, ruleOf(kept)}, out, lse);
  std::vector<double> wo, wl;
  independentAttention(q, k, v, scale, kept, wo, wl);
  expectClose(out, wo);
  expectClose(lse, wl);
}

TEST(Reference, MatchesIndependentFormulaDenseGQA) {
  HostTensor q = randomTensor({2, 4, 7, 5}, 1), k = randomTensor({2, 2, 9, 5}, 2),
             v = randomTensor({2, 2, 9, 3}, 3);
  expectMatchesIndependent(q, k, v, 0.37, nullptr);
}

TEST(Reference, MatchesIndependentFormulaCausalCross) {
  for (auto [n, m] : {std::pair<int64_t, int64_t>{6, 11}, {11, 6}, {1, 1}}) {
    HostTensor q = randomTensor({1, 2, n, 4}, 4),
               k = randomTensor({1, 1, m, 4}, 5),
               v = randomTensor({1, 1, m, 4}, 6);
    expectMatchesIndependent(q, k, v, 0.5, causal);
  }
}

TEST(Reference, IdenticalKeysAverageValues) {
  // All logits equal: softmax is uniform, out is the mean of v.
  HostTensor q = randomTensor({1, 1, 3, 4}, 7);
  HostTensor k = HostTensor::zeros(DType::F64, {1, 1, 5, 4});
  HostTensor v = randomTensor({1, 1, 5, 2}, 8);
  HostTensor out, lse;
  referenceAttention({&q, &k, &v, 1.0, nullptr}, out, lse);
  for (int64_t i = 0; i < 3; ++i) {
    for (int64_t e = 0; e < 2; ++e) {
      double mean = 0;
      for (int64_t j = 0; j < 5; ++j)
        mean += v.get(j * 2 + e) / 5;
      EXPECT_NEAR(out.get(i * 2 + e), mean, 1e-14);
    }
    EXPECT_NEAR(lse.get(i), std::log(5.0), 1e-14);
  }
}

TEST(Reference, FullyMaskedRowsAreZeroWithMinusInfLse) {
  // Causal with m < n: the first n - m queries see no key.
  HostTensor q = randomTensor({1, 1, 5, 4}, 9), k = randomTensor({1, 1, 2, 4}, 10),
             v = randomTensor({1, 1, 2, 4}, 11);
  HostTensor out, lse;
  referenceAttention({&q, &k, &v, 1.0, ruleOf(causal)}, out, lse);
  for (int64_t i = 0; i < 3; ++i) {
    EXPECT_EQ(lse.get(i), -std::numeric_limits<double>::infinity());
    for (int64_t e = 0; e < 4; ++e)
      EXPECT_EQ(out.get(i * 4 + e), 0.0);
  }
  EXPECT_TRUE(std::isfinite(lse.get(3)));
}

TEST(Reference, HugeLogitsStayFinite) {
  HostTensor q = randomTensor({1, 1, 4, 8}, 12), k = randomTensor({1, 1, 6, 8}, 13),
             v = randomTensor({1, 1, 6, 8}, 14);
  HostTensor out, lse;
  referenceAttention({&q, &k, &v, 1e4, nullptr}, out, lse);
  std::vector<double> wo, wl;
  independentAttention(q, k, v, 1e4, nullptr, wo, wl);
  for (int64_t i = 0; i < out.numElements(); ++i) {
    ASSERT_TRUE(std::isfinite(out.get(i)));
    EXPECT_NEAR(out.get(i), wo[i], 1e-9);
  }
}

} // namespace
