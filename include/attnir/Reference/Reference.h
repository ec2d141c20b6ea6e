//===- Reference.h - float64 interpreter of attn programs -----------------===//
//
// Evaluates an entry's op graph (Program.h) on host tensors in float64,
// written from the math of shared/patterns.md and independent of every
// lowering: it shares no code with the tiling or the vector body, only the
// masks' C++ element rules (MaskRules.h). MLIR-free, so the same reference
// serves `attnc run --check`, the C API and Python in compiler and
// runtime-only builds.
//
//===----------------------------------------------------------------------===//

#ifndef ATTNIR_REFERENCE_REFERENCE_H
#define ATTNIR_REFERENCE_REFERENCE_H

#include "attnir/Reference/MaskRules.h"
#include "attnir/Reference/Program.h"
#include "attnir/Reference/RuleProgram.h"
#include "attnir/Support/HostTensor.h"
#include <algorithm>
#include <cmath>
#include <functional>
#include <map>
#include <string>
#include <vector>

namespace attnir {

struct ReferenceStats {
  /// Largest |scale * q.k| over kept pairs: the conditioning of the softmax,
  /// used to widen tolerances for huge logits (docs/numerics.md).
  double maxAbsLogit = 0.0;
};

/// Evaluates `program` on `args` (any dtype; values are widened exactly).
/// On success `results` holds one F64 tensor per returned value. On failure
/// returns false with a one-line `error`.
bool evaluateProgram(const RefProgram &program,
                     const std::vector<HostTensor> &args,
                     std::vector<HostTensor> &results, std::string &error,
                     ReferenceStats *stats = nullptr);

/// The reference of one op kind: reads its operands from `values` (by the
/// ids in `op`), checks them, and stores its results there.
using ReferenceOpFn = std::function<bool(
    const RefOp &op, std::map<int, HostTensor> &values, ReferenceStats &stats,
    std::string &error)>;

/// The value of `op`'s operand of `role` in `values`, or null when the op
/// has no such operand (for ReferenceOpFn implementations).
/// phi(x) of a feature map by its code (attn::FeatureMap): 0 identity,
/// 1 elu + 1, 2 relu, 3 exp.
inline double applyFeatureMap(int64_t code, double x) {
  switch (code) {
  case 1: return x > 0 ? x + 1 : std::exp(x);
  case 2: return std::max(x, 0.0);
  case 3: return std::exp(x);
  default: return x;
  }
}

const HostTensor *operandValue(const RefOp &op,
                               const std::map<int, HostTensor> &values,
                               const std::string &role);

/// Adds the reference of op kind `kind` (an extension's op; attention is
/// registered already).
void registerReferenceOp(const std::string &kind, ReferenceOpFn fn);

/// softmax attention of one op on tensors of any float dtype, exposed for
/// unit tests. q [B,Hq,N,D], k [B,Hkv,M,D], v [B,Hkv,M,Dv] -> out
/// [B,Hq,N,Dv], lse [B,Hq,N] (F64). `rule` is the element rule (null: no
/// mask); `qDoc`, `kDoc` the document ids it may read. With a block list
/// (kv_indices [B, Hl, ceil(N / blockQ), K], kv_counts [B, Hl, ceil(N /
/// blockQ)], values already checked), key j is kept for query i only when
/// block j / blockK is among the first count ids of the list of query
/// block i / blockQ (shared/patterns.md A1).
struct AttentionReferenceArgs {
  const HostTensor *q, *k, *v;
  double scale;
  ElementRule rule;
  const HostTensor *qDoc = nullptr, *kDoc = nullptr;
  const HostTensor *kvIndices = nullptr, *kvCounts = nullptr;
  int64_t blockQ = 0, blockK = 0;
  /// The op's rule regions (RuleProgram.h), or null: mask_rule(b, h, i, j)
  /// keeps a pair (read through the mask kind "rule"), score_rule(s, b, h,
  /// i, j) replaces the logit s = scale q.k of a kept pair.
  const RuleProgram *maskRule = nullptr, *scoreRule = nullptr;
};

/// Word 0 of Philox4x32-10 (Salmon et al., SC'11) for `counter` (c0..c3)
/// under `key` (key0, key1): attn.route's LSH matrix entries.
uint32_t philox4x32Word0(uint32_t key0, uint32_t key1, uint32_t c0,
                         uint32_t c1, uint32_t c2, uint32_t c3);

/// attn.sample's row s of (b, h) over [0, m): floor(w m / 2^32), w = word 0
/// of Philox4x32-10(key = seed, counter = (s, h, b, 2 offset + 1)).
uint32_t sampleRow(uint64_t seed, int64_t offset, int64_t b, int64_t h, int64_t s, int64_t m);

void referenceAttention(const AttentionReferenceArgs &a, HostTensor &out,
                        HostTensor &lse, double *maxAbsLogit = nullptr);

} // namespace attnir

#endif // ATTNIR_REFERENCE_REFERENCE_H
