//===- ScanReference.cpp - float64 attn.scan, the left fold ---------------===//
//
// shared/patterns.md A9 as its definition: per (b, h) and feature f,
// y_t = result(((leaf(x_s) (+) leaf(x_s+1)) (+) ...) (+) leaf(x_t)) with s
// = 0 (s the start of t's segment under segment(L)), the
// regions interpreted in float64 (RuleProgram). The lowerings regroup the
// combines into chunks; for an associative combiner this is what they equal.
//
//===----------------------------------------------------------------------===//

#include "attnir/Reference/Reference.h"
#include "attnir/Reference/RuleProgram.h"

namespace attnir {

namespace {
/// The region `name` of the op, or null when the op has none.
const RefRule *ruleOf(const RefOp &op, const std::string &name) {
  auto it = op.rules.find(name);
  return it == op.rules.end() ? nullptr : &it->second;
}
} // namespace

bool referenceScanOp(const RefOp &op, std::map<int, HostTensor> &values,
                     ReferenceStats &, std::string &error) {
  auto count = [&](const char *key) {
    auto it = op.ints.find(key);
    return it == op.ints.end() ? int64_t(-1) : it->second;
  };
  int64_t numIn = count("inputs"), numOut = count("results"),
          S = count("state"), F = count("features"), L = count("segment");
  const RefRule *leaf = ruleOf(op, "leaf"), *combine = ruleOf(op, "combine"),
                *result = ruleOf(op, "result");
  auto fail = [&](const std::string &why) {
    error = "reference: scan: " + why;
    return false;
  };
  if (numIn < 1 || numIn > 64 || numOut < 1 || numOut > 64 || S < 1 ||
      S > 64 || F < 1 || !combine || L == 0 || L < -1)
    return fail("needs 1 to 64 inputs, results and state components, F >= 1 "
                "and a combine region");
  std::vector<const HostTensor *> xs;
  std::vector<int64_t> bhn;
  for (int64_t n = 0; n < numIn; ++n) {
    const HostTensor *x = operandValue(op, values, "x" + std::to_string(n));
    if (!x || x->shape.size() < 3 || x->shape.size() > 4)
      return fail("input #" + std::to_string(n) + " is not [B, H, N(, F)]");
    std::vector<int64_t> lead(x->shape.begin(), x->shape.begin() + 3);
    int64_t f = x->shape.size() == 4 ? x->shape[3] : 1;
    if ((!bhn.empty() && lead != bhn) || (f != 1 && f != F))
      return fail("input #" + std::to_string(n) + " " + x->shapeString() +
                  " does not match [B, H, N] of input #0 and F = " +
                  std::to_string(F));
    bhn = lead;
    xs.push_back(x);
  }
  // The regions: all arguments f32 (kind 0).
  RuleProgram leafP, combineP, resultP;
  // A segmented scan's leaf takes the position in the segment (an index).
  std::vector<int> leafKinds(numIn, 0);
  if (L > 0)
    leafKinds.push_back(64);
  if ((leaf && !RuleProgram::make(*leaf, leafKinds, {}, leafP, error)) ||
      !RuleProgram::make(*combine, std::vector<int>(2 * S, 0), {}, combineP, error) ||
      (result && !RuleProgram::make(*result, std::vector<int>(S, 0), {}, resultP, error)))
    return false;
  if ((leaf ? leafP.numYields() : size_t(numIn)) != size_t(S) ||
      combineP.numYields() != size_t(S) ||
      (result ? resultP.numYields() : size_t(S)) != size_t(numOut))
    return fail("regions do not agree on the state's " + std::to_string(S) +
                " components");
  int64_t B = bhn[0], H = bhn[1], N = bhn[2];
  std::vector<HostTensor> ys;
  for (int64_t r = 0; r < numOut; ++r)
    ys.push_back(HostTensor::zeros(DType::F64, F == 1 ? std::vector<int64_t>{B, H, N}
                                                      : std::vector<int64_t>{B, H, N, F}));
  std::vector<RuleValue> x(leafKinds.size()), acc(2 * S), y(numOut);
  for (int64_t row = 0; row < B * H; ++row)
    for (int64_t f = 0; f < F; ++f)
      for (int64_t t = 0; t < N; ++t) {
        int64_t tok = row * N + t;
        for (int64_t n = 0; n < numIn; ++n)
          x[n].f = xs[n]->shape.size() == 4 && xs[n]->shape[3] == F
                       ? xs[n]->get(tok * F + f)
                       : xs[n]->get(tok);
        // acc[0, S) is the prefix, acc[S, 2S) this token's leaf; a
        // segment's first token starts a new prefix.
        bool starts = t == 0 || (L > 0 && t % L == 0);
        if (L > 0)
          x[numIn].i = t % L;
        RuleValue *leafAt = starts ? acc.data() : acc.data() + S;
        if (leaf)
          leafP.runAll(x.data(), leafAt, S);
        else
          std::copy(x.begin(), x.begin() + numIn, leafAt);
        if (!starts)
          combineP.runAll(acc.data(), acc.data(), S);
        if (result)
          resultP.runAll(acc.data(), y.data(), numOut);
        else
          std::copy(acc.begin(), acc.begin() + S, y.begin());
        for (int64_t r = 0; r < numOut; ++r)
          ys[r].set(tok * F + f, y[r].f);
      }
  for (int64_t r = 0; r < numOut; ++r)
    values[op.results.at("y" + std::to_string(r))] = std::move(ys[r]);
  return true;
}

} // namespace attnir
