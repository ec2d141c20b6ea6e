//===- RuleProgram.h - float64 interpreter of rule regions ----------------===//
//
// attn.attention's mask_rule and score_rule regions are recorded as RefRules
// (Program.h): a list of arith / math / tensor.extract instructions. This is
// their float64 semantics, written once: the reference evaluates the rules
// with it, and the dialect's verifier asks isRuleOp() which ops a region may
// hold, so the two can never disagree on the op set.
//
// Values: floats are doubles (f32 rules are evaluated exactly, not rounded
// to f32; f16 and bf16 results round to their type); integers are int64
// wrapped to their bit width. Integer division
// or remainder by 0 gives 0 and by -1 gives -x or 0 (never a trap; the
// lowering emits the same guards). tensor.extract clamps every index into
// its dimension, as the compiled kernels do, and the program remembers that
// a read was out of bounds so that the reference can report it.
//
//===----------------------------------------------------------------------===//

#ifndef ATTNIR_REFERENCE_RULEPROGRAM_H
#define ATTNIR_REFERENCE_RULEPROGRAM_H

#include "attnir/Reference/Program.h"
#include "attnir/Support/HostTensor.h"
#include <atomic>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace attnir {

/// True for the op names a rule region may hold ("arith.addf", ...,
/// "tensor.extract", "tensor.dim"; not the terminator).
bool isRuleOp(std::string_view name);

/// One value of a rule: `f` for floats, `i` for integers and i1.
struct RuleValue {
  double f = 0;
  int64_t i = 0;
};

class RuleProgram {
public:
  /// Checks `rule` (its ops, operand counts and kinds) for `leading` scalar
  /// arguments of the given kinds (0 f32, 116 f16, 117 bf16, else an
  /// integer bit width)
  /// followed by one argument per tensor of `operands`. False with a
  /// one-line `error`.
  static bool make(const RefRule &rule, std::vector<int> leadingKinds,
                   std::vector<const HostTensor *> operands, RuleProgram &out,
                   std::string &error);

  /// The (first) yielded value for these leading scalars. Thread safe.
  RuleValue run(const RuleValue *leading) const;
  /// The first `count` yielded values (a scan's state). Thread safe.
  void runAll(const RuleValue *leading, RuleValue *out, size_t count) const;
  /// How many values the region yields.
  size_t numYields() const;

  /// True once any run read a tensor out of bounds (then clamped).
  bool readOutOfBounds() const { return outOfBounds->load(); }

private:
  struct Instr {
    int code;
    std::vector<int> operands;
    int64_t param;
    double value;
    int width;
    /// Which evaluator takes the op, decided once by make().
    enum Family : uint8_t { kIntegerBinary, kFloatMath, kOther } family = kOther;
  };
  static Instr::Family familyOf(int code);
  std::vector<Instr> instrs;
  std::vector<int> kinds; // per value id
  int numLeading = 0;
  std::vector<const HostTensor *> tensors;
  std::shared_ptr<std::atomic<bool>> outOfBounds =
      std::make_shared<std::atomic<bool>>(false);
};

} // namespace attnir

#endif // ATTNIR_REFERENCE_RULEPROGRAM_H
