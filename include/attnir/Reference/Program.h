//===- Program.h - a spec's op graph, MLIR-free ---------------------------===//
//
// What the float64 reference interprets: the ops of one entry in order, each
// with its operands and results named by role and its attributes as plain
// values. The compiler records it from the spec (lib/Driver/ProgramOf.cpp);
// bundles carry it in their entry descriptions, so that the reference runs
// in runtime-only builds too, with no second reader of spec text. Its text
// form is line based:
//
//   args 5
//   attention q=%0 k=%1 v=%2 kv_indices=%3 kv_counts=%4 -> out=%5 lse=%6 | scale=0x1p-3 block_q=64 block_k=64 mask=all_of(causal,window[255,0])
//   return %5 %6
//
// Rule regions print as r.NAME=RULE (see printRule).
//
// Values are numbered: the entry's arguments first, then op results in
// order. Masks are rule trees: kind[params](children).
//
//===----------------------------------------------------------------------===//

#ifndef ATTNIR_REFERENCE_PROGRAM_H
#define ATTNIR_REFERENCE_PROGRAM_H

#include <cstdint>
#include <map>
#include <string>
#include <vector>

namespace attnir {

/// A mask as data: its kind ("causal", "window", "all_of", ...), integer
/// parameters and child masks (combinators). lib/Reference/MaskRules.cpp
/// turns it into the element rule.
struct RefMask {
  std::string kind;
  std::vector<int64_t> params;
  std::vector<RefMask> children;

  bool operator==(const RefMask &o) const {
    return kind == o.kind && params == o.params && children == o.children;
  }
};

/// One instruction of a rule region (attn.attention's mask_rule and
/// score_rule): the MLIR op name ("arith.addf", "tensor.extract", "yield"),
/// its operands as value ids (the region's arguments first, then one id per
/// instruction result, in order), integers (first the result's kind: 0 f32,
/// 116 f16, 117 bf16, else the integer bit width, 1 for i1; then a comparison predicate
/// or an integer constant) and a float constant. attnir/Reference/
/// RuleProgram.h interprets it in float64.
struct RefInstr {
  std::string name;
  std::vector<int> operands;
  std::vector<int64_t> ints;
  double value = 0;

  bool operator==(const RefInstr &o) const {
    return name == o.name && operands == o.operands && ints == o.ints &&
           (value == o.value || (value != value && o.value != o.value));
  }
};

/// A rule region as data: `numArgs` arguments (the scalars, then the rule
/// operands), instructions ending in "yield".
struct RefRule {
  int numArgs = 0;
  std::vector<RefInstr> instrs;

  bool operator==(const RefRule &o) const {
    return numArgs == o.numArgs && instrs == o.instrs;
  }
};

/// One op: operands and results by role ("q", "kv_indices", "out", ...),
/// attributes as integers, floats and masks.
struct RefOp {
  std::string kind;
  std::map<std::string, int> operands, results;
  std::map<std::string, int64_t> ints;
  std::map<std::string, double> floats;
  std::map<std::string, RefMask> masks;
  std::map<std::string, RefRule> rules;

  /// The operand of `role`, or -1.
  int operand(const std::string &role) const;
};

struct RefProgram {
  int numArgs = 0;
  std::vector<RefOp> ops;
  std::vector<int> returns;

  /// The text form above (floats exact, in hexadecimal).
  std::string print() const;
  /// Parses print()'s form; false with a one-line `error` on anything else,
  /// including value ids that are used before they are defined.
  static bool parse(const std::string &text, RefProgram &out,
                    std::string &error);
};

/// A mask in the text form: kind, [p0,p1,...] when it has parameters,
/// (child,child,...) when it has children.
std::string printMask(const RefMask &mask);
bool parseMask(const std::string &text, RefMask &out, std::string &error);

/// A rule in the text form: NUMARGS, then `;NAME[INT,...]{HEXFLOAT}(ID,...)`
/// per instruction (brackets and braces only when non-empty / non-zero).
std::string printRule(const RefRule &rule);
bool parseRule(const std::string &text, RefRule &out, std::string &error);

} // namespace attnir

#endif // ATTNIR_REFERENCE_PROGRAM_H
