//===- MaskRules.h - the element rule of every mask, MLIR-free ------------===//
//
// The C++ element rule of each mask is written once, here, from
// shared/patterns.md A2: the mask attributes' keep() (flop counts, block-rule
// tests) call these functions, and the reference builds its rule from a
// RefMask through the registry below, in compiler and runtime-only builds
// alike. The IR form of each rule (the lowering) lives with its attribute;
// unittests/MaskRulesTest.cpp checks the two agree.
//
// Positions are global: query i in [0, n), key j in [0, m); masks aligned to
// the end of the keys use delta = m - n. Parameters are at most 2^40 (the
// verifiers' bound), so no formula overflows int64.
//
//===----------------------------------------------------------------------===//

#ifndef ATTNIR_REFERENCE_MASKRULES_H
#define ATTNIR_REFERENCE_MASKRULES_H

#include "attnir/Reference/Program.h"
#include <cstdint>
#include <functional>
#include <string>
#include <string_view>

namespace attnir {

/// Where an element rule is evaluated: batch b, query head h, lengths n, m,
/// and the operands a mask reads, by role ("q_doc", "k_doc"), at (b, pos).
/// Null `operand`: the op has none.
struct RuleSite {
  int64_t b = 0, h = 0, n = 0, m = 0;
  std::function<int64_t(std::string_view role, int64_t pos)> operand;
  /// The op's mask_rule region at (b, h, i, j) (mask kind "rule"); null:
  /// keeps every pair.
  std::function<bool(const RuleSite &site, int64_t i, int64_t j)> region;
};

namespace rules {
inline bool causal(int64_t i, int64_t j, int64_t n, int64_t m) {
  return j <= i + (m - n);
}
inline bool window(int64_t left, int64_t right, int64_t i, int64_t j,
                   int64_t n, int64_t m) {
  int64_t center = i + (m - n);
  return j >= center - left && j <= center + right;
}
inline bool sink(int64_t s, int64_t j) { return j < s; }
inline bool global(int64_t g, int64_t i, int64_t j) { return j < g || i < g; }
inline bool prefix(int64_t p, int64_t i, int64_t j, int64_t n, int64_t m) {
  return j < p || j <= i + (m - n);
}
inline bool chunked(int64_t c, int64_t i, int64_t j) {
  return i / c == j / c;
}
/// The chunk width of #attn.balanced<c> over m keys: ceil(m / c), at
/// least 1 (m and c are at most 2^40: no overflow).
inline int64_t balancedWidth(int64_t c, int64_t m) {
  int64_t w = (m + c - 1) / c;
  return w > 0 ? w : 1;
}
inline bool balanced(int64_t c, int64_t i, int64_t j, int64_t m) {
  int64_t w = balancedWidth(c, m);
  return i / w == j / w;
}
inline bool dilated(int64_t s, int64_t w, int64_t i, int64_t j, int64_t n,
                    int64_t m) {
  int64_t d = i + (m - n) - j;
  return d % s == 0 && d <= w * s && -d <= w * s;
}
/// The number of pooled keys (blocks of c at stride s) that end at or
/// before query i: key j is kept when j < this. Written without j * s, so
/// that no product overflows.
inline int64_t compressedEnd(int64_t c, int64_t s, int64_t i) {
  int64_t x = i - c + 1 + s;
  return x > 0 ? x / s : 0;
}
inline bool compressed(int64_t c, int64_t s, int64_t i, int64_t j) {
  return j < compressedEnd(c, s, i);
}
/// The first key of part p of P (ceil(p m / P); P <= 1024 keeps p m far
/// from overflow for any sequence length).
inline int64_t keyPartBegin(int64_t p, int64_t parts, int64_t m) {
  return (p * m + parts - 1) / parts;
}
inline bool keyPart(int64_t p, int64_t parts, int64_t j, int64_t m) {
  return j >= keyPartBegin(p, parts, m) && j < keyPartBegin(p + 1, parts, m);
}
/// Same document; without document ids (no operands) every pair.
inline bool segments(const RuleSite &site, int64_t i, int64_t j) {
  return !site.operand || site.operand("q_doc", i) == site.operand("k_doc", j);
}
} // namespace rules

using ElementRule =
    std::function<bool(const RuleSite &site, int64_t i, int64_t j)>;

/// Builds a mask's element rule from its children's. Checks `mask`'s
/// parameters (the program may come from a bundle) and returns false with
/// a one-line `error` when they are invalid.
using MaskRuleFactory = std::function<bool(
    const RefMask &mask, std::vector<ElementRule> children, ElementRule &out,
    std::string &error)>;

/// Adds the rule of mask kind `kind` (an extension's mask; the built-in
/// ones are registered already). Replaces an earlier rule of that kind.
void registerMaskRule(const std::string &kind, MaskRuleFactory factory);

/// The element rule of `mask` and its children; false with an error naming
/// an unknown kind or bad parameters.
bool makeElementRule(const RefMask &mask, ElementRule &out,
                     std::string &error);

} // namespace attnir

#endif // ATTNIR_REFERENCE_MASKRULES_H
