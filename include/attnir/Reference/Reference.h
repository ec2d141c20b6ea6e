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
struct AttentionReferenceArgs {
  const HostTensor *q, *k, *v;
  double scale;
  std::function<bool(int64_t, int64_t, int64_t, int64_t)> keep;
};
void referenceAttention(const AttentionReferenceArgs &a, HostTensor &out,
                        HostTensor &lse, double *maxAbsLogit = nullptr);

} // namespace attnir

#endif // ATTNIR_REFERENCE_REFERENCE_H
