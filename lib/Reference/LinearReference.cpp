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

/// One (b, h) row's inputs as float64, and the options of the op.
struct LinearInputs {
  int64_t B = 0, H = 0, N = 0, D = 0, Dv = 0;
  std::vector<double> qs, ks, vs, lambdas, gates, logGates, betas, s0, alphas, thetas, etas;
  bool decay = false, gate = false, logGate = false, perFeature = false, beta = false,
       state = false, titans = false, normalize = false;
  double scale = 1;
  int64_t splitC = 0; // split(C), 0 without
  bool wy = false;

  /// The chunks of split(C): ceil(N / C), 0 without.
  int64_t chunks() const { return splitC ? (N + splitC - 1) / splitC : 0; }

  /// The token gate gamma_t of token bht (row bh of H).
  double gamma(int64_t bh, int64_t bht) const {
    return (decay ? lambdas[bh % H] : 1.0) * (gate ? gates[bht] : 1.0) *
           (logGate && !perFeature ? std::exp(logGates[bht]) : 1.0);
  }
};

/// The op's operands and options, checked; false with `error` set.
bool readLinearInputs(const RefOp &op, std::map<int, HostTensor> &values, LinearInputs &in,
                      std::string &error) {
  const HostTensor *q = operandValue(op, values, "q"), *k = operandValue(op, values, "k"),
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
  int64_t B = fits ? q->shape[0] : 0, H = fits ? q->shape[1] : 0, N = fits ? q->shape[2] : 0,
          D = fits ? q->shape[3] : 0, Dv = fits ? v->shape[3] : 0;
  bool perFeature = logGate && logGate->shape.size() == 4;
  fits = fits && shapeIs(decay, {H}) && shapeIs(gate, {B, H, N}) &&
         (perFeature ? shapeIs(logGate, {B, H, N, D}) : shapeIs(logGate, {B, H, N})) &&
         (!perFeature || !beta) && shapeIs(beta, {B, H, N}) && shapeIs(state, {B, H, D, Dv}) &&
         shapeIs(alpha, {B, H, N}) && shapeIs(theta, {B, H, N}) && shapeIs(eta, {B, H, N}) &&
         (!alpha == !theta) && (!alpha == !eta);
  if (!fits) {
    error = "reference: linear needs q, k [B, H, N, D], v [B, H, N, Dv], "
            "decay [H], gate, log_gate and beta [B, H, N] (log_gate also [B, H, N, D], "
            "not with beta), state [B, H, D, Dv]";
    return false;
  }
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
  bool useL2 = l2 != op.ints.end() && l2->second;
  auto doubles = [](const HostTensor *t) { return t ? t->toDoubles() : std::vector<double>(); };
  in.B = B, in.H = H, in.N = N, in.D = D, in.Dv = Dv;
  in.qs = features(*q, map->second, useL2, D), in.ks = features(*k, map->second, useL2, D);
  in.vs = v->toDoubles();
  in.lambdas = doubles(decay), in.gates = doubles(gate), in.logGates = doubles(logGate);
  in.betas = doubles(beta), in.s0 = doubles(state), in.alphas = doubles(alpha);
  in.thetas = doubles(theta), in.etas = doubles(eta);
  in.decay = decay, in.gate = gate, in.logGate = logGate, in.perFeature = perFeature;
  in.beta = beta, in.state = state, in.titans = alpha, in.normalize = norm->second;
  in.scale = scale->second;
  in.splitC = split != op.ints.end() ? split->second : 0;
  in.wy = wy != op.ints.end();
  return true;
}

/// The recurrence's results: out, the final state and log den per token;
/// with split(C) the states and normalizers at each chunk's start and the
/// values u_t the state update took (the delta rule's corrected values).
struct LinearResults {
  HostTensor out, last, lse, states, corrected, normalizers;
  std::vector<double> gammas; // per token, for wy
  explicit LinearResults(const LinearInputs &in) {
    int64_t B = in.B, H = in.H, N = in.N, D = in.D, Dv = in.Dv;
    int64_t chunks = in.chunks();
    out = HostTensor::zeros(DType::F64, {B, H, N, Dv});
    last = HostTensor::zeros(DType::F64, {B, H, D, Dv});
    lse = HostTensor::zeros(DType::F64, {B, H, N});
    states = HostTensor::zeros(DType::F64, {B, H, chunks, D, Dv});
    corrected = HostTensor::zeros(DType::F64, {B, H, N, Dv});
    normalizers = HostTensor::zeros(DType::F64, {B, H, chunks, D});
  }
};

/// The state S (D x Dv), normalizer z and Titans' momentum U of one (b, h)
/// row, advanced token by token.
struct LinearRow {
  const LinearInputs &in;
  LinearResults &res;
  int64_t bh, D, Dv;
  std::vector<double> S, z, u, U;

  LinearRow(const LinearInputs &in, LinearResults &res, int64_t bh)
      : in(in), res(res), bh(bh), D(in.D), Dv(in.Dv), S(D * Dv), z(D), u(Dv), U(D * Dv) {
    if (in.state)
      std::copy(in.s0.begin() + bh * D * Dv, in.s0.begin() + (bh + 1) * D * Dv, S.begin());
  }

  /// Titans: U = eta U - theta k (k^T S - v^T); S = (1 - alpha) S + U.
  void titansStep(int64_t bht, const double *kt, const double *vt) {
    for (int64_t e = 0; e < Dv; ++e) {
      double w = 0;
      for (int64_t d = 0; d < D; ++d)
        w += S[d * Dv + e] * kt[d];
      u[e] = w - vt[e];
    }
    for (int64_t d = 0; d < D; ++d)
      for (int64_t e = 0; e < Dv; ++e) {
        double &Ude = U[d * Dv + e];
        Ude = in.etas[bht] * Ude - in.thetas[bht] * kt[d] * u[e];
        S[d * Dv + e] = (1 - in.alphas[bht]) * S[d * Dv + e] + Ude;
      }
  }

  /// S = diag(gamma) S + k u^T, z = gamma z + k, with u = v or, under the
  /// delta rule, u = beta (v - g S^T k) with the old S.
  void gatedStep(int64_t bht, double g, const double *kt, const double *vt) {
    for (int64_t e = 0; e < Dv; ++e) {
      u[e] = vt[e];
      if (in.beta) {
        double w = 0;
        for (int64_t d = 0; d < D; ++d)
          w += S[d * Dv + e] * kt[d];
        u[e] = in.betas[bht] * (vt[e] - g * w);
      }
      if (in.splitC)
        res.corrected.set(bht * Dv + e, u[e]);
    }
    for (int64_t d = 0; d < D; ++d) {
      // gamma of state row d: g, times e^{g_td} for a per-feature gate.
      double gd = in.perFeature ? g * std::exp(in.logGates[bht * D + d]) : g;
      z[d] = gd * z[d] + kt[d];
      for (int64_t e = 0; e < Dv; ++e)
        S[d * Dv + e] = gd * S[d * Dv + e] + kt[d] * u[e];
    }
  }

  /// out_t = scale q^T S [/ q^T z], and log(q^T z).
  void readOut(int64_t bht, const double *qt) {
    double den = 0;
    for (int64_t d = 0; d < D; ++d)
      den += qt[d] * z[d];
    res.lse.set(bht, std::log(den)); // -inf at 0 (NaN below: the caller's map)
    for (int64_t e = 0; e < Dv; ++e) {
      double acc = 0;
      for (int64_t d = 0; d < D; ++d)
        acc += qt[d] * S[d * Dv + e];
      if (in.normalize)
        acc = den != 0 ? acc / den : 0.0;
      res.out.set(bht * Dv + e, in.scale * acc);
    }
  }

  void run() {
    int64_t N = in.N, C = in.splitC;
    int64_t chunks = in.chunks();
    for (int64_t t = 0; t < N; ++t) {
      int64_t bht = bh * N + t;
      double g = in.gamma(bh, bht);
      if (in.wy)
        res.gammas.push_back(g);
      if (C && t % C == 0) {
        for (int64_t i = 0; i < D * Dv; ++i)
          res.states.set((bh * chunks + t / C) * D * Dv + i, S[i]);
        for (int64_t d = 0; d < D; ++d)
          res.normalizers.set((bh * chunks + t / C) * D + d, z[d]);
      }
      const double *kt = &in.ks[bht * D], *vt = &in.vs[bht * Dv];
      if (in.titans)
        titansStep(bht, kt, vt);
      else
        gatedStep(bht, g, kt, vt);
      readOut(bht, &in.qs[bht * D]);
    }
    for (int64_t i = 0; i < D * Dv; ++i)
      res.last.set(bh * D * Dv + i, S[i]);
  }
};

} // namespace

bool referenceLinearOp(const RefOp &op, std::map<int, HostTensor> &values,
                       ReferenceStats &, std::string &error) {
  LinearInputs in;
  if (!readLinearInputs(op, values, in, error))
    return false;
  LinearResults res(in);
  for (int64_t bh = 0; bh < in.B * in.H; ++bh)
    LinearRow(in, res, bh).run();
  auto bind = [&](const char *name, HostTensor &t) {
    if (auto it = op.results.find(name); it != op.results.end())
      values[it->second] = std::move(t);
  };
  values[op.results.at("out")] = std::move(res.out);
  bind("final_state", res.last);
  bind("lse", res.lse);
  if (in.wy) {
    HostTensor W = HostTensor::zeros(DType::F64, {in.B, in.H, in.N, in.D});
    HostTensor U = HostTensor::zeros(DType::F64, {in.B, in.H, in.N, in.Dv});
    wyChunks(in.ks, in.vs, in.betas, res.gammas, in.B * in.H, in.N, in.D, in.Dv,
             op.ints.at("wy"), W, U);
    values[op.results.at("w")] = std::move(W);
    values[op.results.at("u")] = std::move(U);
  }
  if (in.splitC) {
    values[op.results.at("states")] = std::move(res.states);
    bind("corrected", res.corrected);
    bind("normalizers", res.normalizers);
  }
  return true;
}

} // namespace attnir
