//===- RuleBlocksReference.cpp - the exact block map of a mask_rule -------===//
//
// attn.rule_blocks (made by the CUDA pipeline, docs/design/rules.md): per
// query block and key block, whether the mask attribute and the region keep
// some pair (listed, ascending) and whether they keep every pair of a block
// that lies below M (listed as ~id). The reference decides exactly, pair by
// pair; kernels decide on intervals and may list more blocks or mark fewer
// full, which changes no attention result.
//
//===----------------------------------------------------------------------===//

#include "attnir/Reference/MaskRules.h"
#include "attnir/Reference/Reference.h"
#include "attnir/Reference/RuleProgram.h"

#include <algorithm>

namespace attnir {

namespace {
bool readsArg(const RefRule &rule, int arg) {
  for (const RefInstr &in : rule.instrs)
    if (std::find(in.operands.begin(), in.operands.end(), arg) !=
        in.operands.end())
      return true;
  return false;
}
} // namespace

bool referenceRuleBlocksOp(const RefOp &op, std::map<int, HostTensor> &values,
                           ReferenceStats &, std::string &error) {
  const HostTensor *q = operandValue(op, values, "q"),
                   *k = operandValue(op, values, "k");
  auto bqIt = op.ints.find("block_q"), bkIt = op.ints.find("block_k");
  auto rule = op.rules.find("mask_rule");
  if (!q || !k || bqIt == op.ints.end() || bkIt == op.ints.end() ||
      bqIt->second <= 0 || bkIt->second <= 0 || rule == op.rules.end() ||
      !op.results.count("kv_indices") || !op.results.count("kv_counts") ||
      q->shape.size() != 4 || k->shape.size() != 4) {
    error = "reference: rule_blocks needs q, k, positive block sizes, a "
            "mask_rule and two results";
    return false;
  }
  std::vector<const HostTensor *> operands;
  for (int r = 0; op.operand("rule" + std::to_string(r)) >= 0; ++r)
    operands.push_back(operandValue(op, values, "rule" + std::to_string(r)));
  RuleProgram region;
  if (!RuleProgram::make(rule->second, std::vector<int>(4, 64), operands,
                         region, error)) {
    error = "reference: mask_rule: " + error;
    return false;
  }
  ElementRule maskRule;
  auto mask = op.masks.find("mask");
  if (mask != op.masks.end() &&
      !makeElementRule(mask->second, maskRule, error))
    return false;
  // The map is shared by all heads exactly when the region ignores h: it
  // has one head then (the op's verifier), and evaluating at h = 0 is exact.
  int64_t B = q->shape[0], Hq = q->shape[1], N = q->shape[2], M = k->shape[2];
  int64_t bq = bqIt->second, bk = bkIt->second;
  int64_t heads = readsArg(rule->second, 1) ? Hq : 1;
  int64_t nqb = (N + bq - 1) / bq, nkb = (M + bk - 1) / bk;
  HostTensor idx = HostTensor::zeros(DType::I32, {B, heads, nqb, nkb}),
             cnt = HostTensor::zeros(DType::I32, {B, heads, nqb});
  for (int64_t b = 0; b < B; ++b)
    for (int64_t h = 0; h < heads; ++h) {
      RuleSite site{b, h, N, M, nullptr};
      for (int64_t qb = 0; qb < nqb; ++qb) {
        int64_t row = (b * heads + h) * nqb + qb, count = 0;
        for (int64_t kb = 0; kb < nkb; ++kb) {
          bool any = false, all = (kb + 1) * bk <= M;
          for (int64_t i = qb * bq; i < std::min(N, (qb + 1) * bq); ++i)
            for (int64_t j = kb * bk; j < std::min(M, (kb + 1) * bk); ++j) {
              RuleValue at[4];
              at[0].i = b, at[1].i = h, at[2].i = i, at[3].i = j;
              bool keep = (!maskRule || maskRule(site, i, j)) &&
                          region.run(at).i != 0;
              any = any || keep;
              all = all && keep;
            }
          if (any)
            idx.setInt(row * nkb + count++, all ? ~kb : kb);
        }
        cnt.setInt(row, count);
        for (int64_t t = count; t < nkb; ++t)
          idx.setInt(row * nkb + t, -1);
      }
    }
  if (region.readOutOfBounds()) {
    error = "reference: a rule region read one of its operands out of bounds "
            "(compiled kernels clamp such indices)";
    return false;
  }
  values[op.results.at("kv_indices")] = std::move(idx);
  values[op.results.at("kv_counts")] = std::move(cnt);
  return true;
}

} // namespace attnir
