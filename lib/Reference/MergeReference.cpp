//===- MergeReference.cpp - float64 attn.merge -----------------------------===//
//
// shared/patterns.md A10: lse = log sum_r e^{lse_r}, out = sum_r e^{lse_r -
// lse} out_r; a row whose parts are all -inf is zeros with lse -inf.
//
//===----------------------------------------------------------------------===//

#include "attnir/Reference/Reference.h"
#include <algorithm>
#include <cmath>
#include <limits>

namespace attnir {

bool referenceMergeOp(const RefOp &op, std::map<int, HostTensor> &values,
                      ReferenceStats &, std::string &error) {
  constexpr double inf = std::numeric_limits<double>::infinity();
  auto pairs = op.ints.find("pairs");
  if (pairs == op.ints.end() || pairs->second < 1 || pairs->second > 4096) {
    error = "reference: merge needs 1 to 4096 (out, lse) pairs";
    return false;
  }
  std::vector<std::vector<double>> outs, lses;
  std::vector<int64_t> shape;
  for (int64_t r = 0; r < pairs->second; ++r) {
    const HostTensor *o = operandValue(op, values, "out" + std::to_string(r)),
                     *l = operandValue(op, values, "lse" + std::to_string(r));
    bool fits = o && l && o->shape.size() == 4 && l->shape.size() == 3 &&
                std::equal(l->shape.begin(), l->shape.end(), o->shape.begin()) &&
                (shape.empty() || o->shape == shape);
    if (!fits) {
      error = "reference: merge pair #" + std::to_string(r) +
              " is not out [B, H, N, Dv] and lse [B, H, N] of one shape";
      return false;
    }
    shape = o->shape;
    outs.push_back(o->toDoubles());
    lses.push_back(l->toDoubles());
  }
  // Unnormalised terms (num, den) are the pairs (num / den, log den).
  auto terms = op.ints.find("terms");
  int64_t numTerms = terms == op.ints.end() ? 0 : terms->second;
  if (numTerms < 0 || numTerms > 4096) {
    error = "reference: merge needs 0 to 4096 unnormalized terms";
    return false;
  }
  for (int64_t u = 0; u < numTerms; ++u) {
    const HostTensor *num = operandValue(op, values, "num" + std::to_string(u)),
                     *den = operandValue(op, values, "den" + std::to_string(u));
    bool fits = num && den && num->shape == shape &&
                (den->shape.size() == 3 || (den->shape.size() == 4 && den->shape[3] == 1)) &&
                std::equal(shape.begin(), shape.begin() + 3, den->shape.begin());
    if (!fits) {
      error = "reference: merge term #" + std::to_string(u) +
              " is not num [B, H, N, Dv] and den [B, H, N(, 1)] of the result's shape";
      return false;
    }
    std::vector<double> o = num->toDoubles(), d = den->toDoubles(), l(d.size());
    int64_t dv = shape[3];
    for (size_t i = 0; i < d.size(); ++i) {
      l[i] = std::log(d[i]); // -inf at 0
      for (int64_t e = 0; e < dv; ++e)
        o[i * dv + e] = d[i] > 0 ? o[i * dv + e] / d[i] : 0.0;
    }
    outs.push_back(std::move(o));
    lses.push_back(std::move(l));
  }
  int64_t rows = shape[0] * shape[1] * shape[2], dv = shape[3];
  HostTensor out = HostTensor::zeros(DType::F64, shape);
  HostTensor lse = HostTensor::zeros(DType::F64, {shape[0], shape[1], shape[2]});
  for (int64_t i = 0; i < rows; ++i) {
    double mx = -inf;
    for (const auto &l : lses)
      mx = std::max(mx, l[i]);
    if (mx == -inf) {
      lse.set(i, -inf);
      continue; // no part kept a key: zeros
    }
    double z = 0;
    for (const auto &l : lses)
      z += std::exp(l[i] - mx);
    double total = mx + std::log(z);
    lse.set(i, total);
    for (int64_t e = 0; e < dv; ++e) {
      double acc = 0;
      for (size_t r = 0; r < outs.size(); ++r)
        acc += std::exp(lses[r][i] - total) * outs[r][i * dv + e];
      out.set(i * dv + e, acc);
    }
  }
  values[op.results.at("out")] = std::move(out);
  values[op.results.at("lse")] = std::move(lse);
  return true;
}

} // namespace attnir
