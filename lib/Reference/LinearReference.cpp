//===- LinearReference.cpp - float64 attn.linear, the token recurrence ----===//
//
// shared/patterns.md A8, token by token: S_t = gamma_t S_{t-1} + phi(k_t)
// v_t^T, out_t = scale phi(q_t)^T S_t [/ phi(q_t)^T z_t]. The lowering is
// chunked; this is the definition it must equal.
//
//===----------------------------------------------------------------------===//

#include "attnir/Reference/Reference.h"

namespace attnir {

bool referenceLinearOp(const RefOp &op, std::map<int, HostTensor> &values,
                       ReferenceStats &, std::string &error) {
  const HostTensor *q = operandValue(op, values, "q"),
                   *k = operandValue(op, values, "k"),
                   *v = operandValue(op, values, "v"),
                   *decay = operandValue(op, values, "decay"),
                   *gate = operandValue(op, values, "gate");
  auto map = op.ints.find("feature_map"), norm = op.ints.find("normalize");
  auto scale = op.floats.find("scale");
  bool fits = q && k && v && q->shape.size() == 4 && k->shape == q->shape &&
              v->shape.size() == 4 &&
              std::equal(v->shape.begin(), v->shape.begin() + 3, q->shape.begin()) &&
              map != op.ints.end() && map->second >= 0 && map->second <= 3 &&
              norm != op.ints.end() && scale != op.floats.end();
  int64_t B = fits ? q->shape[0] : 0, H = fits ? q->shape[1] : 0,
          N = fits ? q->shape[2] : 0, D = fits ? q->shape[3] : 0,
          Dv = fits ? v->shape[3] : 0;
  fits = fits && (!decay || decay->shape == std::vector<int64_t>{H}) &&
         (!gate || gate->shape == std::vector<int64_t>{B, H, N});
  if (!fits) {
    error = "reference: linear needs q, k [B, H, N, D], v [B, H, N, Dv], "
            "decay [H] and gate [B, H, N]";
    return false;
  }
  std::vector<double> qs = q->toDoubles(), ks = k->toDoubles(),
                      vs = v->toDoubles();
  for (double &x : qs)
    x = applyFeatureMap(map->second, x);
  for (double &x : ks)
    x = applyFeatureMap(map->second, x);
  std::vector<double> lambdas = decay ? decay->toDoubles() : std::vector<double>();
  std::vector<double> gates = gate ? gate->toDoubles() : std::vector<double>();
  HostTensor out = HostTensor::zeros(DType::F64, {B, H, N, Dv});
  std::vector<double> S(D * Dv), z(D);
  for (int64_t bh = 0; bh < B * H; ++bh) {
    std::fill(S.begin(), S.end(), 0.0);
    std::fill(z.begin(), z.end(), 0.0);
    for (int64_t t = 0; t < N; ++t) {
      double g = (decay ? lambdas[bh % H] : 1.0) * (gate ? gates[bh * N + t] : 1.0);
      const double *qt = &qs[(bh * N + t) * D], *kt = &ks[(bh * N + t) * D];
      const double *vt = &vs[(bh * N + t) * Dv];
      for (int64_t d = 0; d < D; ++d) {
        z[d] = g * z[d] + kt[d];
        for (int64_t e = 0; e < Dv; ++e)
          S[d * Dv + e] = g * S[d * Dv + e] + kt[d] * vt[e];
      }
      double den = 0;
      for (int64_t d = 0; d < D; ++d)
        den += qt[d] * z[d];
      for (int64_t e = 0; e < Dv; ++e) {
        double acc = 0;
        for (int64_t d = 0; d < D; ++d)
          acc += qt[d] * S[d * Dv + e];
        if (norm->second)
          acc = den != 0 ? acc / den : 0.0;
        out.set((bh * N + t) * Dv + e, scale->second * acc);
      }
    }
  }
  values[op.results.at("out")] = std::move(out);
  return true;
}

} // namespace attnir
