//===- Compare.h - how results are checked against the reference ----------===//

#ifndef ATTNIR_REFERENCE_COMPARE_H
#define ATTNIR_REFERENCE_COMPARE_H

#include "attnir/Support/HostTensor.h"

namespace attnir {

/// max |got - ref| / max |ref| over finite reference values; equal infinities
/// (the lse of a fully masked row) count as exact; any NaN gives +inf.
/// Integer tensors (block ids, counts) must match exactly: 0 or +inf.
double maxRelError(const HostTensor &got, const HostTensor &ref);

/// The tolerance of a check: the input dtype's rounding of the output plus
/// the f32 rounding of the logits, which exp turns into a relative error
/// proportional to their magnitude (docs/numerics.md).
double checkTolerance(DType inputType, double maxAbsLogit);

} // namespace attnir

#endif // ATTNIR_REFERENCE_COMPARE_H
