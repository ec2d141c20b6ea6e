//===- LinearReference.cpp - float64 attn.linear, the token recurrence ----===//
//
// shared/patterns.md A8, token by token: S_t = gamma_t S_{t-1} + phi(k_t)
// u_t^T with u_t = v_t, or u_t = beta_t (v_t - gamma_t S_{t-1}^T phi(k_t))
// under the delta rule; out_t = scale phi(q_t)^T S_t [/ phi(q_t)^T z_t].
// S_{-1} is the initial state (or 0); S_{N-1} is the final state. The
// lowering is chunked; this is the definition it must equal.
//
//===----------------------------------------------------------------------===//

#include "attnir/Reference/Reference.h"

#include <algorithm>
#include <cmath>

namespace attnir {

namespace {

bool shapeIs(const HostTensor *t, std::vector<int64_t> shape) {
  return !t || t->shape == shape;
}

/// phi of every element, then (with l2norm) each row of D divided by
/// sqrt(|row|^2 + 1e-6), fla's l2norm.
std::vector<double> features(const HostTensor &x, int64_t map, bool l2, int64_t D) {
  std::vector<double> out = x.toDoubles();
  for (double &e : out)
    e = applyFeatureMap(map, e);
  if (l2)
    for (size_t r = 0; r + D <= out.size(); r += D) {
      double ss = 0;
      for (int64_t d = 0; d < D; ++d)
        ss += out[r + d] * out[r + d];
      double inv = 1.0 / std::sqrt(ss + 1e-6);
      for (int64_t d = 0; d < D; ++d)
        out[r + d] *= inv;
    }
  return out;
}

/// wy(C) of the delta rule, per chunk of C tokens from c0 (tokens up to N):
/// (I + A) W = diag(beta Gamma) K and (I + A) U = diag(beta) V, A_ts = beta_t
/// (Gamma_t / Gamma_s) k_t . k_s for s < t, by forward substitution (the
/// ratio as the product of the gates between, never a quotient).
void wyChunks(const std::vector<double> &ks, const std::vector<double> &vs,
              const std::vector<double> &betas, const std::vector<double> &gammas, int64_t BH,
              int64_t N, int64_t D, int64_t Dv, int64_t C, HostTensor &W, HostTensor &U) {
  std::vector<double> w(C * D), u(C * Dv), ratio(C);
  for (int64_t bh = 0; bh < BH; ++bh)
    for (int64_t c0 = 0; c0 < N; c0 += C) {
      int64_t len = std::min(C, N - c0);
      double cum = 1;
      for (int64_t t = 0; t < len; ++t) {
        int64_t bht = bh * N + c0 + t;
        const double *kt = &ks[bht * D];
        cum *= gammas[bht];
        for (int64_t d = 0; d < D; ++d)
          w[t * D + d] = betas[bht] * cum * kt[d];
        for (int64_t e = 0; e < Dv; ++e)
          u[t * Dv + e] = betas[bht] * vs[bht * Dv + e];
        ratio[t] = 1; // Gamma_t / Gamma_s for s = t, then downwards
        for (int64_t s = t - 1; s >= 0; --s)
          ratio[s] = ratio[s + 1] * gammas[bh * N + c0 + s + 1];
        for (int64_t s = 0; s < t; ++s) {
          const double *kS = &ks[(bh * N + c0 + s) * D];
          double dot = 0;
          for (int64_t d = 0; d < D; ++d)
            dot += kt[d] * kS[d];
          double a = betas[bht] * ratio[s] * dot;
          for (int64_t d = 0; d < D; ++d)
            w[t * D + d] -= a * w[s * D + d];
          for (int64_t e = 0; e < Dv; ++e)
            u[t * Dv + e] -= a * u[s * Dv + e];
        }
        for (int64_t d = 0; d < D; ++d)
          W.set(bht * D + d, w[t * D + d]);
        for (int64_t e = 0; e < Dv; ++e)
          U.set(bht * Dv + e, u[t * Dv + e]);
      }
    }
}

} // namespace

bool referenceLinearOp(const RefOp &op, std::map<int, HostTensor> &values,
                       ReferenceStats &, std::string &error) {
  const HostTensor *q = operandValue(op, values, "q"),
                   *k = operandValue(op, values, "k"),
                   *v = operandValue(op, values, "v"),
                   *decay = operandValue(op, values, "decay"),
                   *gate = operandValue(op, values, "gate"),
                   *logGate = operandValue(op, values, "log_gate"),
                   *beta = operandValue(op, values, "beta"),
                   *state = operandValue(op, values, "state"),
                   *alpha = operandValue(op, values, "forget"),
                   *theta = operandValue(op, values, "step"),
                   *eta = operandValue(op, values, "momentum");
  auto map = op.ints.find("feature_map"), norm = op.ints.find("normalize"),
       l2 = op.ints.find("l2norm");
  auto scale = op.floats.find("scale");
  bool fits = q && k && v && q->shape.size() == 4 && k->shape == q->shape &&
              v->shape.size() == 4 &&
              std::equal(v->shape.begin(), v->shape.begin() + 3, q->shape.begin()) &&
              map != op.ints.end() && map->second >= 0 && map->second <= 3 &&
              norm != op.ints.end() && scale != op.floats.end();
  int64_t B = fits ? q->shape[0] : 0, H = fits ? q->shape[1] : 0,
          N = fits ? q->shape[2] : 0, D = fits ? q->shape[3] : 0,
          Dv = fits ? v->shape[3] : 0;
  bool perFeature = logGate && logGate->shape.size() == 4;
  fits = fits && shapeIs(decay, {H}) && shapeIs(gate, {B, H, N}) &&
         (perFeature ? shapeIs(logGate, {B, H, N, D}) : shapeIs(logGate, {B, H, N})) &&
         (!perFeature || !beta) && shapeIs(beta, {B, H, N}) &&
         shapeIs(state, {B, H, D, Dv}) && shapeIs(alpha, {B, H, N}) &&
         shapeIs(theta, {B, H, N}) && shapeIs(eta, {B, H, N}) &&
         (!alpha == !theta) && (!alpha == !eta);
  if (!fits) {
    error = "reference: linear needs q, k [B, H, N, D], v [B, H, N, Dv], "
            "decay [H], gate, log_gate and beta [B, H, N] (log_gate also [B, H, N, D], "
            "not with beta), state [B, H, D, Dv]";
    return false;
  }
  bool useL2 = l2 != op.ints.end() && l2->second;
  std::vector<double> qs = features(*q, map->second, useL2, D),
                      ks = features(*k, map->second, useL2, D),
                      vs = v->toDoubles();
  auto doubles = [](const HostTensor *t) {
    return t ? t->toDoubles() : std::vector<double>();
  };
  std::vector<double> lambdas = doubles(decay), gates = doubles(gate),
                      logGates = doubles(logGate), betas = doubles(beta),
                      s0 = doubles(state), alphas = doubles(alpha),
                      thetas = doubles(theta), etas = doubles(eta);
  auto wy = op.ints.find("wy");
  if (wy != op.ints.end() && (!beta || perFeature || alpha || wy->second < 1 ||
                              !op.results.count("w") || !op.results.count("u"))) {
    error = "reference: linear's wy(C) needs delta(beta) with per-token gates, C >= 1 and "
            "the results w and u";
    return false;
  }
  auto split = op.ints.find("split");
  if (split != op.ints.end() &&
      (split->second < 1 || alpha || (beta && wy == op.ints.end()) ||
       !op.results.count("states") || (beta && !op.results.count("corrected")) ||
       (norm->second && !op.results.count("normalizers")))) {
    error = "reference: linear's split(C) needs C >= 1, no momentum, the delta rule only "
            "with wy(C), and the results states (and corrected with wy, normalizers with "
            "normalize)";
    return false;
  }
  int64_t splitC = split != op.ints.end() ? split->second : 0;
  int64_t chunks = splitC ? (N + splitC - 1) / splitC : 0;
  // split(C): the state at each chunk's start, and the values u_t the
  // state update takes (the delta rule's corrected values).
  HostTensor states = HostTensor::zeros(DType::F64, {B, H, chunks, D, Dv});
  HostTensor corrected = HostTensor::zeros(DType::F64, {B, H, N, Dv});
  HostTensor normalizers = HostTensor::zeros(DType::F64, {B, H, chunks, D});
  std::vector<double> gammas; // per token, for wy
  HostTensor out = HostTensor::zeros(DType::F64, {B, H, N, Dv});
  HostTensor last = HostTensor::zeros(DType::F64, {B, H, D, Dv});
  HostTensor lse = HostTensor::zeros(DType::F64, {B, H, N}); // log den
  std::vector<double> S(D * Dv), z(D), u(Dv), U(D * Dv);
  for (int64_t bh = 0; bh < B * H; ++bh) {
    if (state)
      std::copy(s0.begin() + bh * D * Dv, s0.begin() + (bh + 1) * D * Dv, S.begin());
    else
      std::fill(S.begin(), S.end(), 0.0);
    std::fill(z.begin(), z.end(), 0.0);
    std::fill(U.begin(), U.end(), 0.0);
    for (int64_t t = 0; t < N; ++t) {
      int64_t bht = bh * N + t;
      double g = (decay ? lambdas[bh % H] : 1.0) * (gate ? gates[bht] : 1.0) *
                 (logGate && !perFeature ? std::exp(logGates[bht]) : 1.0);
      if (wy != op.ints.end())
        gammas.push_back(g);
      // gamma of state row d: g, times e^{g_td} for a per-feature gate.
      auto gammaOf = [&](int64_t d) {
        return perFeature ? g * std::exp(logGates[bht * D + d]) : g;
      };
      const double *qt = &qs[bht * D], *kt = &ks[bht * D];
      const double *vt = &vs[bht * Dv];
      if (splitC && t % splitC == 0) {
        for (int64_t i = 0; i < D * Dv; ++i)
          states.set((bh * chunks + t / splitC) * D * Dv + i, S[i]);
        for (int64_t d = 0; d < D; ++d)
          normalizers.set((bh * chunks + t / splitC) * D + d, z[d]);
      }
      if (alpha) { // Titans: U = eta U - theta k (k^T S - v^T); S = (1 - alpha) S + U
        for (int64_t e = 0; e < Dv; ++e) {
          double w = 0;
          for (int64_t d = 0; d < D; ++d)
            w += S[d * Dv + e] * kt[d];
          u[e] = w - vt[e];
        }
        for (int64_t d = 0; d < D; ++d)
          for (int64_t e = 0; e < Dv; ++e) {
            double &Ude = U[d * Dv + e];
            Ude = etas[bht] * Ude - thetas[bht] * kt[d] * u[e];
            S[d * Dv + e] = (1 - alphas[bht]) * S[d * Dv + e] + Ude;
          }
      }
      for (int64_t e = 0; e < Dv && !alpha; ++e) {
        u[e] = vt[e];
        if (beta) { // u = beta (v - gamma S^T k), with the old S
          double w = 0;
          for (int64_t d = 0; d < D; ++d)
            w += S[d * Dv + e] * kt[d];
          u[e] = betas[bht] * (vt[e] - g * w);
        }
        if (splitC)
          corrected.set(bht * Dv + e, u[e]);
      }
      for (int64_t d = 0; d < D && !alpha; ++d) {
        double gd = gammaOf(d);
        z[d] = gd * z[d] + kt[d];
        for (int64_t e = 0; e < Dv; ++e)
          S[d * Dv + e] = gd * S[d * Dv + e] + kt[d] * u[e];
      }
      double den = 0;
      for (int64_t d = 0; d < D; ++d)
        den += qt[d] * z[d];
      lse.set(bht, std::log(den)); // -inf at 0 (NaN below: the caller's map)
      for (int64_t e = 0; e < Dv; ++e) {
        double acc = 0;
        for (int64_t d = 0; d < D; ++d)
          acc += qt[d] * S[d * Dv + e];
        if (norm->second)
          acc = den != 0 ? acc / den : 0.0;
        out.set(bht * Dv + e, scale->second * acc);
      }
    }
    for (int64_t i = 0; i < D * Dv; ++i)
      last.set(bh * D * Dv + i, S[i]);
  }
  values[op.results.at("out")] = std::move(out);
  if (auto it = op.results.find("final_state"); it != op.results.end())
    values[it->second] = std::move(last);
  if (auto it = op.results.find("lse"); it != op.results.end())
    values[it->second] = std::move(lse);
  if (wy != op.ints.end()) {
    HostTensor W = HostTensor::zeros(DType::F64, {B, H, N, D});
    HostTensor U = HostTensor::zeros(DType::F64, {B, H, N, Dv});
    wyChunks(ks, vs, betas, gammas, B * H, N, D, Dv, wy->second, W, U);
    values[op.results.at("w")] = std::move(W);
    values[op.results.at("u")] = std::move(U);
  }
  if (splitC) {
    values[op.results.at("states")] = std::move(states);
    if (auto it = op.results.find("corrected"); it != op.results.end())
      values[it->second] = std::move(corrected);
    if (auto it = op.results.find("normalizers"); it != op.results.end())
      values[it->second] = std::move(normalizers);
  }
  return true;
}

} // namespace attnir
