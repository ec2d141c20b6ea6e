//===- Compare.cpp - how results are checked against the reference --------===//

#include "attnir/Reference/Compare.h"
#include <algorithm>
#include <cmath>

namespace attnir {

double maxRelError(const HostTensor &got, const HostTensor &ref) {
  if (isIntegerDType(ref.dtype) || isIntegerDType(got.dtype)) {
    // Ids and counts are exact: one different block is a wrong program.
    for (int64_t i = 0; i < ref.numElements(); ++i)
      if (got.get(i) != ref.get(i))
        return INFINITY;
    return 0;
  }
  double maxRef = 0, maxErr = 0;
  for (int64_t i = 0; i < ref.numElements(); ++i) {
    double r = ref.get(i), g = got.get(i);
    if (std::isinf(r) && r == g)
      continue;
    if (std::isfinite(r))
      maxRef = std::max(maxRef, std::fabs(r));
    double e = std::fabs(g - r);
    if (std::isnan(e))
      return INFINITY;
    maxErr = std::max(maxErr, e);
  }
  if (maxErr == 0)
    return 0;
  return maxErr / std::max(maxRef, 1e-30);
}

double checkTolerance(DType inputType, double maxAbsLogit) {
  double base = inputType == DType::BF16  ? 1e-2
                : inputType == DType::F16 ? 2e-3
                                          : 1e-5;
  // |logit| * 2^-23 per rounding, a few roundings deep.
  return base + 8.0 * 0x1p-23 * maxAbsLogit;
}

} // namespace attnir
