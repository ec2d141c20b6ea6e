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

/// One op: operands and results by role ("q", "kv_indices", "out", ...),
/// attributes as integers, floats and masks.
struct RefOp {
  std::string kind;
  std::map<std::string, int> operands, results;
  std::map<std::string, int64_t> ints;
  std::map<std::string, double> floats;
  std::map<std::string, RefMask> masks;

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

} // namespace attnir

#endif // ATTNIR_REFERENCE_PROGRAM_H
