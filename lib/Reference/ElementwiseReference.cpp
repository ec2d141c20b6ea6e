//===- ElementwiseReference.cpp - float64 elementwise ops and broadcast ---===//
//
// The upstream ops a program may combine branches with
// (lib/Dialect/Attn/IR/UpstreamOps.cpp describes them): arith's float
// binary ops on equal shapes ("elementwise", op codes below) and
// linalg.broadcast ("broadcast", the added dimensions as a bit mask).
//
//===----------------------------------------------------------------------===//

#include "attnir/Reference/Reference.h"
#include <algorithm>
#include <cmath>

namespace attnir {

namespace {
/// maximumf / minimumf propagate NaN, as arith's do.
double apply(int64_t code, double a, double b) {
  switch (code) {
  case 0: return a + b;
  case 1: return a - b;
  case 2: return a * b;
  case 3: return a / b;
  case 4: return std::isnan(a) || std::isnan(b) ? NAN : std::max(a, b);
  default: return std::isnan(a) || std::isnan(b) ? NAN : std::min(a, b);
  }
}
} // namespace

bool referenceElementwiseOp(const RefOp &op, std::map<int, HostTensor> &values,
                            ReferenceStats &, std::string &error) {
  const HostTensor *a = operandValue(op, values, "lhs"),
                   *b = operandValue(op, values, "rhs");
  auto code = op.ints.find("op");
  if (!a || !b || code == op.ints.end() || code->second < 0 ||
      code->second > 5) {
    error = "reference: elementwise needs lhs, rhs and an op code in [0, 5]";
    return false;
  }
  if (a->shape != b->shape || isIntegerDType(a->dtype) ||
      isIntegerDType(b->dtype)) {
    error = "reference: elementwise operands " + a->shapeString() + " and " +
            b->shapeString() + " must be float tensors of one shape";
    return false;
  }
  std::vector<double> x = a->toDoubles(), y = b->toDoubles();
  HostTensor out = HostTensor::zeros(DType::F64, a->shape);
  for (size_t e = 0; e < x.size(); ++e)
    out.set(e, apply(code->second, x[e], y[e]));
  values[op.results.at("out")] = std::move(out);
  return true;
}

bool referenceBroadcastOp(const RefOp &op, std::map<int, HostTensor> &values,
                          ReferenceStats &, std::string &error) {
  const HostTensor *x = operandValue(op, values, "x"),
                   *init = operandValue(op, values, "init");
  auto dims = op.ints.find("dims");
  if (!x || !init || dims == op.ints.end() || isIntegerDType(x->dtype)) {
    error = "reference: broadcast needs a float x, an init and dims";
    return false;
  }
  const std::vector<int64_t> &shape = init->shape;
  int64_t rank = static_cast<int64_t>(shape.size());
  // The input's dims are the result's without the added ones, in order.
  std::vector<int64_t> kept;
  for (int64_t d = 0; d < rank; ++d)
    if (!(dims->second >> d & 1))
      kept.push_back(d);
  bool fits = dims->second >= 0 && dims->second < (int64_t(1) << rank) &&
              kept.size() == x->shape.size();
  for (size_t k = 0; fits && k < kept.size(); ++k)
    fits = x->shape[k] == shape[kept[k]];
  if (!fits) {
    error = "reference: broadcast of " + x->shapeString() + " to " +
            init->shapeString() + " does not fit its dimensions";
    return false;
  }
  std::vector<double> xs = x->toDoubles();
  HostTensor out = HostTensor::zeros(DType::F64, shape);
  std::vector<int64_t> at(rank, 0);
  for (int64_t e = 0; e < out.numElements(); ++e) {
    int64_t src = 0;
    for (int64_t d : kept)
      src = src * shape[d] + at[d];
    out.set(e, xs[src]);
    for (int64_t d = rank - 1; d >= 0 && ++at[d] == shape[d]; --d)
      at[d] = 0;
  }
  values[op.results.at("out")] = std::move(out);
  return true;
}

} // namespace attnir
