//===- RandomInputs.cpp - seeded inputs for an entry, by role -------------===//

#include "attnir/Runtime/RandomInputs.h"
#include <algorithm>
#include <cmath>
#include <random>
#include <string>

namespace attnir {

void fillRandomBlockList(HostTensor &indices, HostTensor &counts,
                         int64_t numKeyBlocks, double density,
                         uint64_t seed) {
  std::mt19937_64 gen(seed);
  auto uniform = [&gen] {
    return static_cast<double>(gen() >> 11) * 0x1.0p-53;
  };
  int64_t k = indices.shape.empty() ? 0 : indices.shape.back();
  int64_t rows = counts.numElements();
  std::vector<int64_t> listed;
  for (int64_t row = 0; row < rows; ++row) {
    listed.clear();
    for (int64_t kb = 0; kb < numKeyBlocks; ++kb)
      if (uniform() < density)
        listed.push_back(kb);
    // A duplicate now and then: it must count once.
    if (!listed.empty() && uniform() < 0.25)
      listed.push_back(listed[gen() % listed.size()]);
    // std::shuffle's algorithm is unspecified: Fisher-Yates by hand keeps a
    // seed's lists the same under every standard library.
    for (size_t i = listed.size(); i > 1; --i)
      std::swap(listed[i - 1], listed[gen() % i]);
    int64_t cnt = std::min<int64_t>(k, static_cast<int64_t>(listed.size()));
    counts.setInt(row, cnt);
    for (int64_t t = 0; t < k; ++t)
      indices.setInt(row * k + t, t < cnt ? listed[t] : -1);
  }
}

std::vector<HostTensor>
makeRandomInputs(const EntryABI &abi,
                 const std::vector<std::vector<int64_t>> &shapes,
                 uint64_t seed, double blockDensity) {
  std::vector<HostTensor> out(abi.inputs.size());
  for (size_t i = 0; i < abi.inputs.size(); ++i) {
    out[i] = HostTensor::zeros(abi.inputs[i].dtype, shapes[i]);
    if (!isIntegerDType(abi.inputs[i].dtype))
      fillRandomNormal(out[i], seed * 7919 + i);
  }
  // Decays and gates of linear recurrences promise [0, 1]: uniform in
  // [0.5, 1), so that the state neither explodes nor vanishes at once.
  // Log gates are the logarithms of such gates; the delta rule's beta and
  // Titans' step theta are uniform in [0.1, 0.9), its forgetting alpha in
  // [0, 0.5) and its momentum eta in [0.5, 1).
  for (const char *role : {"decay", "gate", "log_gate", "beta", "forget", "step",
                           "momentum"})
    if (int32_t i = abi.inputWithRole(role); i >= 0) {
      std::mt19937_64 gen(seed * 7919 + i);
      std::string r = role;
      bool isBeta = r == "beta" || r == "step";
      for (int64_t e = 0; e < out[i].numElements(); ++e) {
        double u = static_cast<double>(gen() >> 11) * 0x1.0p-53;
        double x = isBeta ? 0.1 + 0.8 * u : r == "forget" ? 0.5 * u : 0.5 + 0.5 * u;
        out[i].set(e, std::string(role) == "log_gate" ? std::log(x) : x);
      }
    }
  // Document ids: 1 to 6 packed documents over the keys, the queries
  // aligned with the last N keys (bottom-right, like causal).
  int32_t qd = abi.inputWithRole("q_doc"), kd = abi.inputWithRole("k_doc");
  if (qd >= 0 && kd >= 0) {
    std::mt19937_64 gen(seed * 7919 + qd);
    int64_t B = shapes[kd][0], M = shapes[kd][1], N = shapes[qd][1];
    for (int64_t b = 0; b < B; ++b) {
      std::vector<int64_t> starts;
      for (uint64_t d = gen() % 6; d > 0 && M > 1; --d)
        starts.push_back(1 + static_cast<int64_t>(gen() % (M - 1)));
      std::sort(starts.begin(), starts.end());
      auto docAt = [&](int64_t pos) {
        return static_cast<int64_t>(
            std::upper_bound(starts.begin(), starts.end(), pos) -
            starts.begin());
      };
      for (int64_t j = 0; j < M; ++j)
        out[kd].setInt(b * M + j, docAt(j));
      for (int64_t i = 0; i < N; ++i)
        out[qd].setInt(b * N + i, docAt(std::max<int64_t>(0, i + M - N)));
    }
  }
  // Permutations (attn.permute's perm): each row shuffled (Fisher-Yates
  // by hand, as above).
  for (size_t i = 0; i < abi.inputs.size(); ++i)
    if (abi.inputs[i].role == "perm" && shapes[i].size() == 3) {
      std::mt19937_64 gen(seed * 7919 + i);
      int64_t n = shapes[i][2], rows = shapes[i][0] * shapes[i][1];
      std::vector<int64_t> row(n);
      for (int64_t r = 0; r < rows; ++r) {
        for (int64_t t = 0; t < n; ++t)
          row[t] = t;
        for (int64_t t = n; t > 1; --t)
          std::swap(row[t - 1], row[gen() % t]);
        for (int64_t t = 0; t < n; ++t)
          out[i].setInt(r * n + t, row[t]);
      }
    }
  // Positions (attn.gather's rows): uniform in [0, M).
  for (auto [input, mClass] : abi.rowRanges) {
    int64_t m = abi.classValue(mClass, shapes);
    std::mt19937_64 gen(seed * 7919 + input);
    for (int64_t e = 0; m > 0 && e < out[input].numElements(); ++e)
      out[input].setInt(e, static_cast<int64_t>(gen() % static_cast<uint64_t>(m)));
  }
  for (const BlockListABI &bl : abi.blockLists) {
    int64_t m = abi.classValue(bl.mClass, shapes);
    int64_t blocks = m < 0 ? 0 : (m + bl.blockK - 1) / bl.blockK;
    fillRandomBlockList(out[bl.indices], out[bl.counts], blocks,
                        blockDensity, seed * 7919 + bl.indices);
  }
  return out;
}

} // namespace attnir
