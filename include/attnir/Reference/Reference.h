//===- Reference.h - float64 interpreter of attn specs --------------------===//
//
// Evaluates a spec function on host tensors in float64, written from the
// math of shared/patterns.md and independent of every lowering: it shares no
// code with the tiling or the vector body, only the ops' attributes and the
// masks' C++ element rule.
//
//===----------------------------------------------------------------------===//

#ifndef ATTNIR_REFERENCE_REFERENCE_H
#define ATTNIR_REFERENCE_REFERENCE_H

#include "attnir/Support/HostTensor.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include <functional>
#include <string>
#include <vector>

namespace attnir {

struct ReferenceStats {
  /// Largest |scale * q.k| over kept pairs: the conditioning of the softmax,
  /// used to widen tolerances for huge logits (docs/numerics.md).
  double maxAbsLogit = 0.0;
};

/// Evaluates `fn` on `args` (any dtype; values are widened exactly). On
/// success `results` holds one F64 tensor per function result. On failure
/// returns false with a one-line `error`.
bool evaluateReference(mlir::func::FuncOp fn,
                       const std::vector<HostTensor> &args,
                       std::vector<HostTensor> &results, std::string &error,
                       ReferenceStats *stats = nullptr);

/// softmax attention of one op on F64 tensors, exposed for unit tests.
/// q [B,Hq,N,D], k [B,Hkv,M,D], v [B,Hkv,M,Dv] -> out [B,Hq,N,Dv],
/// lse [B,Hq,N]. `keep(i, j, n, m)` is the element rule (null: no mask).
/// With a block list (kv_indices [B, Hl, ceil(N / blockQ), K], kv_counts
/// [B, Hl, ceil(N / blockQ)], ids already checked), key j is kept for query
/// i only when block j / blockK is among the first count ids of the list
/// of query block i / blockQ (shared/patterns.md A1).
struct AttentionReferenceArgs {
  const HostTensor *q, *k, *v;
  double scale;
  std::function<bool(int64_t, int64_t, int64_t, int64_t)> keep;
  /// For masks that read operands (document ids): the element rule of
  /// (b, h) as keep(i, j); used instead of `keep` when set.
  std::function<std::function<bool(int64_t, int64_t)>(int64_t, int64_t)>
      keepFor = nullptr;
  const HostTensor *kvIndices = nullptr, *kvCounts = nullptr;
  int64_t blockQ = 0, blockK = 0;
};

/// Checks a block list against patterns.md A1 (shapes, head dimension 1,
/// Hq or Hkv, counts in [0, K], ids in [0, ceil(M / blockK))); false with
/// a one-line `error` naming the first bad entry.
bool checkReferenceBlockList(const AttentionReferenceArgs &a,
                             std::string &error);
void referenceAttention(const AttentionReferenceArgs &a, HostTensor &out,
                        HostTensor &lse, double *maxAbsLogit = nullptr);

} // namespace attnir

#endif // ATTNIR_REFERENCE_REFERENCE_H
