//===- LandmarkReference.cpp - attn.landmark in float64 -------------------===//
//
// Landmark Attention's grouped softmax with top-k retrieval, as the op's
// description in AttnRouteOps.td defines it, written plainly per query row.
//
//===----------------------------------------------------------------------===//

#include "attnir/Reference/Reference.h"
#include <algorithm>
#include <cmath>
#include <limits>

namespace attnir {

bool referenceLandmarkOp(const RefOp &op, std::map<int, HostTensor> &values,
                         ReferenceStats &stats, std::string &error) {
  const HostTensor *q = operandValue(op, values, "q");
  const HostTensor *k = operandValue(op, values, "k");
  const HostTensor *v = operandValue(op, values, "v");
  const HostTensor *lk = operandValue(op, values, "landmarks");
  if (!q || !k || !v || !lk || q->shape.size() != 4 || k->shape.size() != 4 ||
      v->shape.size() != 4 || lk->shape.size() != 4) {
    error = "reference: landmark needs q, k, v and landmarks of rank 4";
    return false;
  }
  int64_t B = q->shape[0], H = q->shape[1], N = q->shape[2], D = q->shape[3];
  int64_t Hk = k->shape[1], Dv = v->shape[3];
  int64_t l = op.ints.at("block"), K = op.ints.at("topk");
  int64_t nb = (N + l - 1) / l;
  if (k->shape != std::vector<int64_t>{B, Hk, N, D} || v->shape[0] != B ||
      v->shape[1] != Hk || v->shape[2] != N || Hk < 1 || H % Hk ||
      lk->shape != std::vector<int64_t>{B, Hk, nb, D}) {
    error = "reference: landmark shapes q " + q->shapeString() + ", k " +
            k->shapeString() + ", v " + v->shapeString() + ", landmarks " +
            lk->shapeString() + " do not fit (landmarks [B, Hkv, ceil(N / " +
            std::to_string(l) + "), D])";
    return false;
  }
  double scale = op.floats.at("scale");
  std::vector<double> Q = q->toDoubles(), Kd = k->toDoubles(),
                      V = v->toDoubles(), L = lk->toDoubles();
  HostTensor out = HostTensor::zeros(DType::F64, {B, H, N, Dv}),
             lse = HostTensor::zeros(DType::F64, {B, H, N});
  std::vector<double> a, o(Dv), blockOut(Dv);
  std::vector<int64_t> order;
  for (int64_t b = 0; b < B; ++b)
    for (int64_t h = 0; h < H; ++h) {
      int64_t g = h / (H / Hk);
      auto dot = [&](const double *x, const double *y) {
        double s = 0;
        for (int64_t d = 0; d < D; ++d)
          s += x[d] * y[d];
        return s * scale;
      };
      for (int64_t i = 0; i < N; ++i) {
        const double *qi = &Q[((b * H + h) * N + i) * D];
        const double *kb = &Kd[(b * Hk + g) * N * D];
        const double *vb = &V[(b * Hk + g) * N * Dv];
        int64_t c = i / l;
        // The units of the outer softmax: (logit, value row).
        std::vector<std::pair<double, std::vector<double>>> units;
        for (int64_t j = c * l; j <= i; ++j) {
          double s = dot(qi, kb + j * D);
          stats.maxAbsLogit = std::max(stats.maxAbsLogit, std::fabs(s));
          units.push_back({s, std::vector<double>(vb + j * Dv, vb + (j + 1) * Dv)});
        }
        a.assign(c, 0);
        for (int64_t beta = 0; beta < c; ++beta)
          a[beta] = dot(qi, &L[((b * Hk + g) * nb + beta) * D]);
        order.resize(c);
        for (int64_t beta = 0; beta < c; ++beta)
          order[beta] = beta;
        // The K largest, ties to the lower block (a stable sort).
        std::stable_sort(order.begin(), order.end(),
                         [&](int64_t x, int64_t y) { return a[x] > a[y]; });
        int64_t kept = K < 0 ? c : std::min<int64_t>(K, c);
        for (int64_t r = 0; r < kept; ++r) {
          int64_t beta = order[r];
          double mb = -std::numeric_limits<double>::infinity();
          std::vector<double> s(l);
          for (int64_t t = 0; t < l; ++t) {
            s[t] = dot(qi, kb + (beta * l + t) * D);
            mb = std::max(mb, s[t]);
          }
          double z = 0;
          std::fill(blockOut.begin(), blockOut.end(), 0.0);
          for (int64_t t = 0; t < l; ++t) {
            double p = std::exp(s[t] - mb);
            z += p;
            for (int64_t e = 0; e < Dv; ++e)
              blockOut[e] += p * vb[(beta * l + t) * Dv + e];
          }
          for (double &x : blockOut)
            x /= z;
          stats.maxAbsLogit = std::max(stats.maxAbsLogit, std::fabs(a[beta]));
          units.push_back({a[beta], blockOut});
        }
        double m = -std::numeric_limits<double>::infinity();
        for (auto &u : units)
          m = std::max(m, u.first);
        double z = 0;
        std::fill(o.begin(), o.end(), 0.0);
        for (auto &u : units) {
          double p = std::exp(u.first - m);
          z += p;
          for (int64_t e = 0; e < Dv; ++e)
            o[e] += p * u.second[e];
        }
        int64_t row = (b * H + h) * N + i;
        for (int64_t e = 0; e < Dv; ++e)
          out.set(row * Dv + e, o[e] / z);
        lse.set(row, m + std::log(z));
      }
    }
  values[op.results.at("out")] = std::move(out);
  values[op.results.at("lse")] = std::move(lse);
  return true;
}

} // namespace attnir
