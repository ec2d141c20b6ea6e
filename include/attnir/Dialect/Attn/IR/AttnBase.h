//===- AttnBase.h - plain types shared by the attn interfaces -------------===//
//
// Small value types that appear in interface and op signatures. They are
// declared before the generated code so that ODS declarations can name them.
//
//===----------------------------------------------------------------------===//

#ifndef ATTNIR_DIALECT_ATTN_IR_ATTNBASE_H
#define ATTNIR_DIALECT_ATTN_IR_ATTNBASE_H

#include "attnir/Reference/MaskRules.h"
#include "mlir/IR/BuiltinTypeInterfaces.h"
#include "mlir/IR/Value.h"
#include "llvm/ADT/SmallVector.h"
#include "llvm/ADT/StringRef.h"
#include <cstdint>
#include <functional>
#include <tuple>

namespace mlir {
class OpBuilder;
class Location;
} // namespace mlir

namespace mlir::attn {

/// Two sizes of a shape agree: equal, or one of them dynamic (the
/// verifiers' test; the runtime checks the dynamic ones).
inline bool dimsAgree(int64_t a, int64_t b) {
  return ShapedType::isDynamic(a) || ShapedType::isDynamic(b) || a == b;
}

/// Block rule result in C++: keys outside [visibleBegin, visibleEnd) are
/// masked for every query of the tile; keys in [fullBegin, fullEnd) are kept
/// for every query of the tile. Empty ranges have begin >= end.
struct KeyRange {
  int64_t visibleBegin, visibleEnd, fullBegin, fullEnd;
};

/// The block rule's answer for a (query tile, key block) pair.
enum class BlockKind { Empty, Partial, Full };

/// The same bounds as SSA `index` values, emitted by the mask as IR.
struct KeyRangeValues {
  Value visibleBegin, visibleEnd, fullBegin, fullEnd;
};

/// Where a rule is evaluated in C++: the batch, query head and lengths, and
/// the operands a mask reads by role (shared with the reference, which needs
/// no MLIR: attnir/Reference/MaskRules.h).
using MaskSite = ::attnir::RuleSite;

/// The same as IR. `n` and `m` are the index-typed lengths; `load(b, loc,
/// role, pos)` reads the operand of that role at (b, pos) as i64, for `pos`
/// an index, an i64 or a vector of i64 (then a vector). Null `load`: the op
/// has no operands a mask reads.
struct MaskSiteValues {
  Value b, h, n, m;
  std::function<Value(OpBuilder &, Location, llvm::StringRef, Value)> load;
  /// The op's mask_rule region at (i, j) (i64 scalars or vectors of one
  /// shape), as i1 of that shape; null when the op has none.
  std::function<Value(OpBuilder &, Location, Value, Value)> rule;
  /// The same rule over the pairs [i0, i1) x [j0, j1) (index values), as
  /// (some pair may be kept, every pair is kept): the key schedule then
  /// skips empty blocks and runs the element rule on partial ones only.
  /// Null: the rule's blocks are all partial.
  std::function<std::pair<Value, Value>(OpBuilder &, Location, Value, Value,
                                        Value, Value)>
      ruleBlock;
};

/// One shape relation between values of a program (computeEntryABI reads
/// them to size outputs): dimension `lhsDim` of `lhs` equals dimension
/// `rhsDim` of `rhs` when `divisor` is 1, else ceil(rhs dim / divisor).
struct ShapeRelation {
  Value lhs;
  unsigned lhsDim;
  Value rhs;
  unsigned rhsDim;
  int64_t divisor = 1;
};

/// One shape relation of an op: dimension `lhsDim` of value `lhs` equals
/// dimension `rhsDim` of value `rhs` (values numbered operands first, then
/// results).
struct DimEquality {
  unsigned lhs, lhsDim, rhs, rhsDim;
};

/// What an entry learns of an op's values (EntryRolesOpInterface): roles,
/// dimension names and relations between dimensions. For each value and
/// each dimension the first role or name given stays.
class EntryRoles {
public:
  virtual ~EntryRoles() = default;
  /// `v`'s role ("q", "kv_indices", "centroids", ...).
  virtual void role(Value v, const char *role) = 0;
  /// `v`'s dimensions take part in the entry's dimension classes.
  virtual void dims(Value v) = 0;
  /// Names of `v`'s first names.size() dimensions (null: no name); also
  /// dims(v).
  virtual void dimNames(Value v, llvm::ArrayRef<const char *> names) = 0;
  /// Dimension `a` of `x` equals dimension `b` of `y`.
  virtual void sameDim(Value x, unsigned a, Value y, unsigned b) = 0;
  /// Dimension `a` of `x` is a multiple of dimension `b` of `y` (query
  /// heads over the KV heads of their groups).
  virtual void multipleOf(Value x, unsigned a, Value y, unsigned b) = 0;
  /// A relation between dimensions stated for entries only (equal, or a
  /// ceiling division when its divisor is not 1).
  virtual void relation(const ShapeRelation &r) = 0;
  /// An attention's runtime block list over q's query blocks of `blockQ`
  /// and k's key blocks of `blockK` (checked before each call where the
  /// entry takes it; its query-block dimension is ceil(N / blockQ)).
  virtual void blockList(Value indices, Value counts, Value q, Value k,
                         int64_t blockQ, int64_t blockK) = 0;
  /// `rows` [B, H, S] holds positions along dimension 2 of `x` (checked
  /// to lie in [0, M) before each call where the entry takes them).
  virtual void rowsOf(Value rows, Value x) = 0;
  /// Dimension `dim` of `x` (its heads) is cut into `parts` groups
  /// (attn.split_heads): checked before each call to be a multiple or a
  /// divisor of `parts`.
  virtual void splitHeads(Value x, unsigned dim, int64_t parts) = 0;
  /// Dimension `dim` of `out` is `parts` times that of `part`
  /// (attn.join_heads): known where `part`'s is a split of some
  /// dimension into as many parts, which must then be a multiple of them.
  virtual void joinHeads(Value out, Value part, unsigned dim, int64_t parts) = 0;

  /// Queries [B, Hq, N, D], keys [B, Hkv, M, D] and values [B, Hkv, M, Dv]
  /// as an attention reads them (any may be null): roles q, k, v, their
  /// dimensions' names, and q's heads a multiple of k's.
  void queriesKeysValues(Value q, Value k, Value v) {
    static const char *qNames[] = {"B", "Hq", "N", "D"};
    static const char *kNames[] = {"B", "Hkv", "M", "D"};
    static const char *vNames[] = {"B", "Hkv", "M", "Dv"};
    for (auto [x, r, names] :
         {std::tuple<Value, const char *, const char **>{q, "q", qNames},
          {k, "k", kNames},
          {v, "v", vNames}}) {
      if (!x)
        continue;
      role(x, r);
      dimNames(x, llvm::ArrayRef<const char *>(names, 4));
    }
    if (q && k)
      multipleOf(q, 1, k, 1);
  }
};


/// A matrix of scores [B, H, Q, Nk] made one row at a time (see
/// ScoreRowsOpInterface): `dims` as index values, and `fill(b, loc, row,
/// buffer, prefix)` writes row (b, h, q) = `row` into buffer[prefix..., j]
/// for j in [0, Nk).
struct ScoreRows {
  llvm::SmallVector<Value, 4> dims;
  std::function<void(OpBuilder &, Location, llvm::ArrayRef<Value>, Value,
                     llvm::ArrayRef<Value>)>
      fill;
  /// Frees, after the loop over rows, buffers the preparation made (null:
  /// none).
  std::function<void(OpBuilder &, Location)> release;
};

} // namespace mlir::attn

#endif // ATTNIR_DIALECT_ATTN_IR_ATTNBASE_H
