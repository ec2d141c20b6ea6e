//===- HeadReference.cpp - attn.split_heads and attn.join_heads -----------===//
//
// Copies of head slices (AttnRouteOps.td is the contract): part p of H
// heads in P holds heads floor(p H / P) + t, t < ceil(H / P); a join lays
// its parts side by side.
//
//===----------------------------------------------------------------------===//

#include "attnir/Reference/Reference.h"
#include "attnir/Runtime/EntryABI.h"
#include <cstring>

namespace attnir {
namespace {

/// x's shape around dimension `dim`: outer elements, heads, inner bytes.
struct HeadLayout {
  int64_t outer = 1, heads = 0;
  size_t inner = 1;
};

bool layoutOf(const HostTensor &x, int64_t dim, HeadLayout &l) {
  if (dim < 0 || dim >= static_cast<int64_t>(x.shape.size()))
    return false;
  for (int64_t d = 0; d < dim; ++d)
    l.outer *= x.shape[d];
  l.heads = x.shape[dim];
  l.inner = dtypeSize(x.dtype);
  for (size_t d = dim + 1; d < x.shape.size(); ++d)
    l.inner *= static_cast<size_t>(x.shape[d]);
  return true;
}

/// Copies head `from` of `src` to head `to` of `dst` for every outer index.
void copyHead(const HostTensor &src, const HeadLayout &s, int64_t from, HostTensor &dst,
              const HeadLayout &d, int64_t to) {
  for (int64_t o = 0; o < s.outer; ++o)
    std::memcpy(dst.data.data() + (o * d.heads + to) * d.inner,
                src.data.data() + (o * s.heads + from) * s.inner, s.inner);
}

} // namespace

bool referenceSplitHeadsOp(const RefOp &op, std::map<int, HostTensor> &values,
                           ReferenceStats &, std::string &error) {
  const HostTensor *x = operandValue(op, values, "x");
  int64_t dim = op.ints.count("dim") ? op.ints.at("dim") : 1;
  int64_t P = op.ints.count("parts") ? op.ints.at("parts") : 0;
  HeadLayout l;
  if (!x || P < 1 || !layoutOf(*x, dim, l)) {
    error = "reference: split_heads needs x, a dimension inside its rank and parts >= 1";
    return false;
  }
  int64_t H = l.heads;
  if (H % P != 0 && (H == 0 || P % H != 0)) {
    error = "reference: split_heads of " + std::to_string(H) + " heads into " +
            std::to_string(P) + " parts: neither a multiple nor a divisor";
    return false;
  }
  int64_t Hp = splitPartHeads(H, P);
  std::vector<int64_t> shape = x->shape;
  shape[dim] = Hp;
  for (int64_t p = 0; p < P; ++p) {
    auto r = op.results.find("part" + std::to_string(p));
    if (r == op.results.end()) {
      error = "reference: split_heads lacks result part" + std::to_string(p);
      return false;
    }
    HostTensor part = HostTensor::zeros(x->dtype, shape);
    HeadLayout pl = l;
    pl.heads = Hp;
    for (int64_t t = 0; t < Hp; ++t)
      copyHead(*x, l, splitPartFirstHead(p, H, P) + t, part, pl, t);
    values[r->second] = std::move(part);
  }
  return true;
}

bool referenceJoinHeadsOp(const RefOp &op, std::map<int, HostTensor> &values,
                          ReferenceStats &, std::string &error) {
  int64_t dim = op.ints.count("dim") ? op.ints.at("dim") : 1;
  int64_t P = op.ints.count("parts") ? op.ints.at("parts") : 0;
  std::vector<const HostTensor *> parts;
  for (int64_t p = 0; p < P; ++p)
    parts.push_back(operandValue(op, values, "part" + std::to_string(p)));
  HeadLayout l;
  if (P < 1 || !parts[0] || !layoutOf(*parts[0], dim, l) || !op.results.count("out")) {
    error = "reference: join_heads needs parts >= 1 inside their rank and a result";
    return false;
  }
  for (const HostTensor *t : parts)
    if (!t || t->shape != parts[0]->shape || t->dtype != parts[0]->dtype) {
      error = "reference: join_heads' parts must have one shape and dtype";
      return false;
    }
  std::vector<int64_t> shape = parts[0]->shape;
  shape[dim] = P * l.heads;
  HostTensor out = HostTensor::zeros(parts[0]->dtype, shape);
  HeadLayout ol = l;
  ol.heads = P * l.heads;
  for (int64_t p = 0; p < P; ++p)
    for (int64_t t = 0; t < l.heads; ++t)
      copyHead(*parts[p], l, t, out, ol, p * l.heads + t);
  values[op.results.at("out")] = std::move(out);
  return true;
}

} // namespace attnir
