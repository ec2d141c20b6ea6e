//===- SelectReference.cpp - float64 pool, block_scores, select -----------===//
//
// shared/patterns.md A4-A6, written from the definitions. Results are F64
// (pool, block_scores) or the declared index type (select).
//
//===----------------------------------------------------------------------===//

#include "attnir/Reference/MaskRules.h"
#include "attnir/Reference/Reference.h"
#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>

namespace attnir {
namespace {
constexpr double kInf = std::numeric_limits<double>::infinity();

bool rank4Float(const HostTensor *t) {
  return t && t->shape.size() == 4 && !isIntegerDType(t->dtype);
}

int64_t floorDiv(int64_t a, int64_t b) {
  return a >= 0 ? a / b : -((-a + b - 1) / b);
}
} // namespace

bool referencePoolOp(const RefOp &op, std::map<int, HostTensor> &values,
                     ReferenceStats &, std::string &error) {
  const HostTensor *x = operandValue(op, values, "x");
  auto block = op.ints.find("block"), kind = op.ints.find("kind");
  auto stride = op.ints.find("stride");
  int64_t s = stride == op.ints.end() ? 0 : stride->second;
  if (!rank4Float(x) || block == op.ints.end() || block->second < 1 ||
      block->second > (int64_t(1) << 30) || s < 0 || s > (int64_t(1) << 30) ||
      kind == op.ints.end() || kind->second < 0 || kind->second > 6) {
    error = "reference: pool needs a rank-4 float x, a block and stride in "
            "[1, 2^30] and a kind";
    return false;
  }
  int64_t B = x->shape[0], H = x->shape[1], L = x->shape[2], D = x->shape[3];
  int64_t c = block->second;
  if (s == 0) // programs written before strides: blocks tile the sequence
    s = c;
  int64_t nb = (L + s - 1) / s;
  // The declared bf16 / f16 result type rounds the summaries (set() rounds
  // to nearest even), as the kernel's store does.
  auto dtype = op.ints.find("dtype");
  DType outType = DType::F64;
  if (dtype != op.ints.end()) {
    if (dtype->second != int64_t(DType::BF16) &&
        dtype->second != int64_t(DType::F16)) {
      error = "reference: pool's dtype must be bf16 or f16";
      return false;
    }
    outType = static_cast<DType>(dtype->second);
  }
  HostTensor out = HostTensor::zeros(outType, {B, H, nb, D});
  std::vector<double> xs = x->toDoubles();
  for (int64_t bh = 0; bh < B * H; ++bh)
    for (int64_t blk = 0; blk < nb; ++blk) {
      int64_t lo = blk * s, hi = std::min(L, lo + c), size = hi - lo;
      for (int64_t d = 0; d < D; ++d) {
        auto at = [&](int64_t p) { return xs[(bh * L + p) * D + d]; };
        double acc = kind->second == 1 ? -kInf : kind->second == 2 ? kInf : 0;
        for (int64_t p = lo; p < hi; ++p)
          acc = kind->second == 1   ? std::max(acc, at(p))
                : kind->second == 2 ? std::min(acc, at(p))
                                    : acc + at(p);
        double v = acc;
        switch (kind->second) {
        case 0: v = acc / size; break;                       // mean
        case 4: v = acc / size * std::sqrt(double(size)); break; // mean_sqrt
        case 5: v = at(lo); break;                           // first
        case 6: v = at(hi - 1); break;                       // last
        default: break;                                      // max, min, sum
        }
        out.set((bh * nb + blk) * D + d, v);
      }
    }
  values[op.results.at("out")] = std::move(out);
  return true;
}

bool referenceProjectOp(const RefOp &op, std::map<int, HostTensor> &values,
                        ReferenceStats &, std::string &error) {
  auto count = op.ints.find("inputs");
  const HostTensor *w = operandValue(op, values, "weight");
  if (count == op.ints.end() || count->second < 1 || count->second > 64 || !w ||
      isIntegerDType(w->dtype) || (w->shape.size() != 2 && w->shape.size() != 3)) {
    error = "reference: project needs inputs and a rank-2 or rank-3 weight";
    return false;
  }
  std::vector<const HostTensor *> xs;
  int64_t din = 0;
  for (int64_t i = 0; i < count->second; ++i) {
    const HostTensor *x = operandValue(op, values, "x" + std::to_string(i));
    if (!rank4Float(x) || (!xs.empty() && (x->shape[0] != xs[0]->shape[0] ||
                                           x->shape[1] != xs[0]->shape[1] ||
                                           x->shape[2] != xs[0]->shape[2]))) {
      error = "reference: project's inputs must be rank-4 floats sharing [B, H, L]";
      return false;
    }
    xs.push_back(x);
    din += x->shape[3];
  }
  size_t r = w->shape.size();
  int64_t B = xs[0]->shape[0], H = xs[0]->shape[1], L = xs[0]->shape[2],
          dout = w->shape[r - 1];
  if (w->shape[r - 2] != din || (r == 3 && w->shape[0] != H)) {
    error = "reference: project's weight " + w->shapeString() +
            " does not fit its inputs";
    return false;
  }
  DType outType = DType::F64;
  if (auto dt = op.ints.find("dtype"); dt != op.ints.end()) {
    if (dt->second != int64_t(DType::BF16) && dt->second != int64_t(DType::F16)) {
      error = "reference: project's dtype must be bf16 or f16";
      return false;
    }
    outType = static_cast<DType>(dt->second);
  }
  auto fmap = op.ints.find("feature_map");
  int64_t map = fmap == op.ints.end() ? 0 : fmap->second;
  if (map < 0 || map > 3) {
    error = "reference: project's feature_map must be 0..3";
    return false;
  }
  std::vector<std::vector<double>> xv;
  for (const HostTensor *x : xs) {
    xv.push_back(x->toDoubles());
    for (double &e : xv.back())
      e = applyFeatureMap(map, e);
  }
  std::vector<double> wv = w->toDoubles();
  HostTensor out = HostTensor::zeros(outType, {B, H, L, dout});
  for (int64_t b = 0; b < B; ++b)
    for (int64_t h = 0; h < H; ++h)
      for (int64_t l = 0; l < L; ++l) {
        const double *wh = wv.data() + (r == 3 ? h * din * dout : 0);
        for (int64_t o = 0; o < dout; ++o) {
          double acc = 0;
          int64_t off = 0;
          for (size_t i = 0; i < xs.size(); ++i) {
            int64_t d = xs[i]->shape[3];
            for (int64_t e = 0; e < d; ++e)
              acc += xv[i][((b * H + h) * L + l) * d + e] * wh[(off + e) * dout + o];
            off += d;
          }
          out.set(((b * H + h) * L + l) * dout + o, acc);
        }
      }
  values[op.results.at("out")] = std::move(out);
  return true;
}

bool referenceBlockScoresOp(const RefOp &op, std::map<int, HostTensor> &values,
                            ReferenceStats &, std::string &error) {
  const HostTensor *qp = operandValue(op, values, "qp"), *kp = operandValue(op, values, "kp");
  auto scale = op.floats.find("scale");
  if (!rank4Float(qp) || !rank4Float(kp) || scale == op.floats.end()) {
    error = "reference: block_scores needs rank-4 float qp and kp and a scale";
    return false;
  }
  if (qp->shape[0] != kp->shape[0] || qp->shape[3] != kp->shape[3] ||
      kp->shape[1] == 0 || qp->shape[1] % kp->shape[1] != 0) {
    error = "reference: block_scores operands qp " + qp->shapeString() +
            ", kp " + kp->shapeString() + " do not fit";
    return false;
  }
  int64_t B = qp->shape[0], Hq = qp->shape[1], Nq = qp->shape[2],
          D = qp->shape[3], Hkv = kp->shape[1], Nk = kp->shape[2];
  int64_t group = Hq / Hkv, N = 0, M = 0, bq = 0, bk = 0;
  bool causal = op.operand("q") >= 0;
  if (causal) {
    const HostTensor *q = operandValue(op, values, "q"), *k = operandValue(op, values, "k");
    bq = op.ints.count("block_q") ? op.ints.at("block_q") : 0;
    bk = op.ints.count("block_k") ? op.ints.at("block_k") : 0;
    if (!rank4Float(q) || !rank4Float(k) || bq < 1 || bk < 1 ||
        (q->shape[2] + bq - 1) / bq != Nq || (k->shape[2] + bk - 1) / bk != Nk) {
      error = "reference: block_scores' causal(q, k) lengths do not give the "
              "pooled block counts";
      return false;
    }
    N = q->shape[2];
    M = k->shape[2];
  }
  std::vector<double> qs = qp->toDoubles(), ks = kp->toDoubles();
  auto map = op.ints.find("feature_map");
  if (map != op.ints.end()) {
    auto phi = [&](double x) { return applyFeatureMap(map->second, x); };
    if (map->second < 0 || map->second > 3) {
      error = "reference: block_scores' feature_map is out of range";
      return false;
    }
    for (double &x : qs)
      x = phi(x);
    for (double &x : ks)
      x = phi(x);
  }
  HostTensor s = HostTensor::zeros(DType::F64, {B, Hq, Nq, Nk});
  for (int64_t b = 0; b < B; ++b)
    for (int64_t h = 0; h < Hq; ++h)
      for (int64_t i = 0; i < Nq; ++i) {
        int64_t diag = causal ? floorDiv(std::min((i + 1) * bq, N) - 1 + M - N,
                                         bk)
                              : Nk;
        for (int64_t j = 0; j < Nk; ++j) {
          double dot = 0;
          for (int64_t d = 0; d < D; ++d)
            dot += qs[((b * Hq + h) * Nq + i) * D + d] *
                   ks[((b * Hkv + h / group) * Nk + j) * D + d];
          s.set(((b * Hq + h) * Nq + i) * Nk + j,
                j > diag ? -kInf : scale->second * dot);
        }
      }
  auto share = op.ints.find("share");
  if (share == op.ints.end()) {
    values[op.results.at("scores")] = std::move(s);
    return true;
  }
  // One row per KV head: the group's rows summed or maxed (-inf stays).
  HostTensor g = HostTensor::zeros(DType::F64, {B, Hkv, Nq, Nk});
  int64_t plane = Nq * Nk;
  for (int64_t b = 0; b < B; ++b)
    for (int64_t hk = 0; hk < Hkv; ++hk)
      for (int64_t e = 0; e < plane; ++e) {
        double acc = share->second == 0 ? 0.0 : -kInf;
        for (int64_t r = 0; r < group; ++r) {
          double v = s.get((b * Hq + hk * group + r) * plane + e);
          acc = share->second == 0 ? acc + v : std::max(acc, v);
        }
        g.set((b * Hkv + hk) * plane + e, acc);
      }
  values[op.results.at("scores")] = std::move(g);
  return true;
}

bool referenceIndexScoresOp(const RefOp &op, std::map<int, HostTensor> &values,
                            ReferenceStats &, std::string &error) {
  const HostTensor *qi = operandValue(op, values, "qi"),
                   *ki = operandValue(op, values, "ki"),
                   *w = operandValue(op, values, "w");
  auto causal = op.ints.find("causal");
  auto rank3Float = [](const HostTensor *t) {
    return t && t->shape.size() == 3 && !isIntegerDType(t->dtype);
  };
  if (!rank4Float(qi) || !rank3Float(ki) || !rank3Float(w) ||
      causal == op.ints.end()) {
    error = "reference: index_scores needs rank-4 qi, rank-3 ki and w";
    return false;
  }
  int64_t B = qi->shape[0], HI = qi->shape[1], N = qi->shape[2],
          DI = qi->shape[3], M = ki->shape[1];
  if (ki->shape[0] != B || ki->shape[2] != DI || w->shape[0] != B ||
      w->shape[1] != N || w->shape[2] != HI) {
    error = "reference: index_scores operands qi " + qi->shapeString() +
            ", ki " + ki->shapeString() + ", w " + w->shapeString() +
            " do not fit";
    return false;
  }
  std::vector<double> qs = qi->toDoubles(), ks = ki->toDoubles(),
                      ws = w->toDoubles();
  HostTensor s = HostTensor::zeros(DType::F64, {B, 1, N, M});
  for (int64_t b = 0; b < B; ++b)
    for (int64_t t = 0; t < N; ++t)
      for (int64_t j = 0; j < M; ++j) {
        double acc = 0;
        for (int64_t h = 0; h < HI; ++h) {
          double dot = 0;
          for (int64_t d = 0; d < DI; ++d)
            dot += qs[((b * HI + h) * N + t) * DI + d] *
                   ks[(b * M + j) * DI + d];
          acc += ws[(b * N + t) * HI + h] * std::max(dot, 0.0);
        }
        bool legal = !causal->second || j <= t + M - N;
        s.set((b * N + t) * M + j, legal ? acc : -kInf);
      }
  values[op.results.at("scores")] = std::move(s);
  return true;
}

namespace {
/// Where attn.probs sums its rows (onto(l) pooled(c, s)); l = 0: it does not.
struct ProbsOnto {
  int64_t l = 0, c = 0, s = 0;
  bool causal = false, share = false;
};

bool probsOntoOf(const RefOp &op, ProbsOnto &o, std::string &error) {
  auto l = op.ints.find("onto");
  if (l == op.ints.end())
    return true;
  auto get = [&](const char *name) {
    auto it = op.ints.find(name);
    return it == op.ints.end() ? -1 : it->second;
  };
  o = {l->second, get("pooled_block"), get("pooled_stride"),
       get("causal") == 1, get("share") == 1};
  const int64_t cap = int64_t(1) << 30;
  if (o.l < 1 || o.l > cap || o.c < 1 || o.c > cap || o.s < 1 || o.s > cap) {
    error = "reference: probs onto(l) pooled(c, s) need values in [1, 2^30]";
    return false;
  }
  return true;
}
} // namespace

bool referenceProbsOp(const RefOp &op, std::map<int, HostTensor> &values,
                      ReferenceStats &, std::string &error) {
  const HostTensor *q = operandValue(op, values, "q"),
                   *k = operandValue(op, values, "k");
  auto scale = op.floats.find("scale");
  if (!rank4Float(q) || !rank4Float(k) || scale == op.floats.end()) {
    error = "reference: probs needs rank-4 float q and k and a scale";
    return false;
  }
  int64_t B = q->shape[0], Hq = q->shape[1], N = q->shape[2], D = q->shape[3],
          Hkv = k->shape[1], M = k->shape[2];
  if (k->shape[0] != B || k->shape[3] != D || Hkv == 0 || Hq % Hkv != 0) {
    error = "reference: probs operands q " + q->shapeString() + ", k " +
            k->shapeString() + " do not fit";
    return false;
  }
  ElementRule rule;
  auto mask = op.masks.find("mask");
  if (mask != op.masks.end() && !makeElementRule(mask->second, rule, error))
    return false;
  ProbsOnto onto;
  if (!probsOntoOf(op, onto, error))
    return false;
  // Columns and heads of the result: keys, or blocks of l positions.
  int64_t cols = onto.l ? (N + onto.l - 1) / onto.l : M;
  int64_t heads = onto.share ? Hkv : Hq;
  std::vector<double> qs = q->toDoubles(), ks = k->toDoubles();
  std::vector<double> out(B * heads * N * cols, 0.0);
  std::vector<double> row(M);
  for (int64_t b = 0; b < B; ++b)
    for (int64_t h = 0; h < Hq; ++h) {
      RuleSite site{b, h, N, M, nullptr};
      int64_t ho = onto.share ? h / (Hq / Hkv) : h;
      for (int64_t i = 0; i < N; ++i) {
        double *dst = &out[((b * heads + ho) * N + i) * cols];
        double mx = -kInf;
        for (int64_t j = 0; j < M; ++j) {
          row[j] = -kInf;
          if (rule && !rule(site, i, j))
            continue;
          double dot = 0;
          for (int64_t d = 0; d < D; ++d)
            dot += qs[((b * Hq + h) * N + i) * D + d] *
                   ks[((b * Hkv + h / (Hq / Hkv)) * M + j) * D + d];
          row[j] = scale->second * dot;
          mx = std::max(mx, row[j]);
        }
        if (mx == -kInf)
          continue; // nothing kept: zeros
        double z = 0;
        for (int64_t j = 0; j < M; ++j)
          z += row[j] == -kInf ? 0 : std::exp(row[j] - mx);
        for (int64_t j = 0; j < M; ++j) {
          double pj = row[j] == -kInf ? 0 : std::exp(row[j] - mx) / z;
          if (!onto.l) {
            dst[j] = pj;
            continue;
          }
          // Key j covers [j s, j s + c): every block of l it overlaps.
          int64_t lo = j * onto.s, hi = lo + onto.c - 1;
          for (int64_t t = lo / onto.l; t <= hi / onto.l && t < cols; ++t)
            dst[t] += pj;
        }
      }
    }
  if (onto.causal)
    for (int64_t r = 0; r < B * heads * N; ++r)
      for (int64_t t = 0; t < cols; ++t)
        if (t * onto.l > r % N)
          out[r * cols + t] = -kInf;
  HostTensor p = HostTensor::zeros(DType::F64, {B, heads, N, cols});
  for (size_t e = 0; e < out.size(); ++e)
    p.set(e, out[e]);
  values[op.results.at("probs")] = std::move(p);
  return true;
}

namespace {
/// The selected ids of one row of scores (ascending).
std::vector<int64_t> selectRow(const double *s, int64_t nk, const RefOp &op) {
  std::vector<int64_t> legal;
  for (int64_t j = 0; j < nk; ++j)
    if (std::isfinite(s[j]))
      legal.push_back(j);
  std::vector<char> chosen(nk, 0);
  int64_t f = op.ints.at("first"), l = op.ints.at("local"),
          t = op.ints.at("last");
  for (int64_t j : legal)
    if (j < f || j >= nk - t)
      chosen[j] = 1;
  for (int64_t r = 0; r < l && r < static_cast<int64_t>(legal.size()); ++r)
    chosen[legal[legal.size() - 1 - r]] = 1;
  // The others, by descending score, ties to the lower id.
  std::vector<int64_t> rest;
  for (int64_t j : legal)
    if (!chosen[j])
      rest.push_back(j);
  std::sort(rest.begin(), rest.end(), [&](int64_t a, int64_t b) {
    return s[a] > s[b] || (s[a] == s[b] && a < b);
  });
  auto topk = op.ints.find("topk");
  if (topk != op.ints.end()) {
    for (int64_t r = 0; r < topk->second && r < int64_t(rest.size()); ++r)
      chosen[rest[r]] = 1;
  } else if (!legal.empty()) {
    double mx = -kInf, z = 0, mass = 0;
    for (int64_t j : legal)
      mx = std::max(mx, s[j]);
    for (int64_t j : legal)
      z += std::exp(s[j] - mx);
    for (int64_t j : legal)
      if (chosen[j])
        mass += std::exp(s[j] - mx) / z;
    // tau = 1 keeps every legal block (each has positive mass), whatever
    // the running sum rounds to; the kernels' cut does the same.
    double tau = op.floats.at("threshold");
    for (size_t r = 0; r < rest.size() && (tau >= 1.0 || mass < tau); ++r) {
      chosen[rest[r]] = 1;
      mass += std::exp(s[rest[r]] - mx) / z;
    }
  }
  std::vector<int64_t> ids;
  for (int64_t j = 0; j < nk; ++j)
    if (chosen[j])
      ids.push_back(j);
  return ids;
}
} // namespace

bool referenceSelectOp(const RefOp &op, std::map<int, HostTensor> &values,
                       ReferenceStats &, std::string &error) {
  const HostTensor *scores = operandValue(op, values, "scores");
  bool topk = op.ints.count("topk"), thr = op.floats.count("threshold");
  if (!rank4Float(scores) || topk == thr || !op.ints.count("first") ||
      !op.ints.count("local") || !op.ints.count("last")) {
    error = "reference: select needs rank-4 scores and one policy";
    return false;
  }
  for (const char *p : {"first", "local", "last", "topk"})
    if (op.ints.count(p) && (op.ints.at(p) < 0 || op.ints.at(p) > (1 << 30))) {
      error = std::string("reference: select's ") + p + " is out of range";
      return false;
    }
  int64_t B = scores->shape[0], H = scores->shape[1], Q = scores->shape[2],
          nk = scores->shape[3];
  int64_t K = topk ? op.ints.at("topk") + op.ints.at("first") +
                         op.ints.at("local") + op.ints.at("last")
                   : nk;
  DType it = op.ints.count("wide") && op.ints.at("wide") ? DType::I64
                                                         : DType::I32;
  HostTensor idx = HostTensor::zeros(it, {B, H, Q, K}),
             cnt = HostTensor::zeros(it, {B, H, Q});
  std::vector<double> s = scores->toDoubles();
  for (int64_t row = 0; row < B * H * Q; ++row) {
    std::vector<int64_t> ids = selectRow(s.data() + row * nk, nk, op);
    cnt.setInt(row, static_cast<int64_t>(ids.size()));
    for (int64_t t = 0; t < K; ++t)
      idx.setInt(row * K + t, t < int64_t(ids.size()) ? ids[t] : -1);
  }
  values[op.results.at("kv_indices")] = std::move(idx);
  values[op.results.at("kv_counts")] = std::move(cnt);
  return true;
}

} // namespace attnir
