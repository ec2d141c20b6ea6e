//===- AttentionReference.cpp - float64 softmax attention -----------------===//
//
// The reference of attn.attention (shared/patterns.md A1, A2): every kept
// pair's logit in float64, a two-pass softmax per row, GQA by head groups.
//
//===----------------------------------------------------------------------===//

#include "attnir/Reference/Reference.h"
#include "attnir/Runtime/IndexChecks.h"
#include <algorithm>
#include <cmath>
#include <limits>
#include <thread>

namespace attnir {

void referenceAttention(const AttentionReferenceArgs &a, HostTensor &out,
                        HostTensor &lse, double *maxAbsLogit) {
  const std::vector<int64_t> &qs = a.q->shape, &ks = a.k->shape,
                             &vs = a.v->shape;
  int64_t B = qs[0], Hq = qs[1], N = qs[2], D = qs[3];
  int64_t Hkv = ks[1], M = ks[2], Dv = vs[3];
  int64_t group = Hq / Hkv;
  out = HostTensor::zeros(DType::F64, {B, Hq, N, Dv});
  lse = HostTensor::zeros(DType::F64, {B, Hq, N});
  std::vector<double> q = a.q->toDoubles(), k = a.k->toDoubles(),
                      v = a.v->toDoubles();
  double *o = reinterpret_cast<double *>(out.raw());
  double *l = reinterpret_cast<double *>(lse.raw());

  // The key blocks each query block of (b, h) lists, as a bitmap.
  int64_t nqb = a.kvIndices ? a.kvIndices->shape[2] : 0;
  int64_t nkb = a.kvIndices ? (M + a.blockK - 1) / a.blockK : 0;
  auto listedBlocks = [&](int64_t b, int64_t h, int64_t hk) {
    std::vector<char> listed(nqb * nkb, 0);
    int64_t hl = a.kvIndices->shape[1], kk = a.kvIndices->shape[3];
    int64_t lh = hl == 1 ? 0 : hl == Hq ? h : hk;
    for (int64_t qb = 0; qb < nqb; ++qb) {
      int64_t row = (b * hl + lh) * nqb + qb;
      int64_t cnt = a.kvCounts->getInt(row);
      for (int64_t t = 0; t < cnt; ++t)
        listed[qb * nkb + a.kvIndices->getInt(row * kk + t)] = 1;
    }
    return listed;
  };

  // One (b, h) per task; heads are independent.
  auto work = [&](int64_t bh, double &localMax) {
    int64_t b = bh / Hq, h = bh % Hq, hk = h / group;
    std::vector<char> listed;
    if (a.kvIndices)
      listed = listedBlocks(b, h, hk);
    RuleSite site{b, h, N, M, nullptr};
    if (a.qDoc)
      site.operand = [&](std::string_view role, int64_t pos) {
        return role == "q_doc" ? a.qDoc->getInt(b * N + pos)
                               : a.kDoc->getInt(b * M + pos);
      };
    if (a.maskRule)
      site.region = [&](const RuleSite &st, int64_t i, int64_t j) {
        RuleValue at[4];
        at[0].i = st.b, at[1].i = st.h, at[2].i = i, at[3].i = j;
        return a.maskRule->run(at).i != 0;
      };
    // Pointer arithmetic, not operator[]: with N = 0 or M = 0 the vectors
    // are empty (issue 15, case 9).
    const double *qb = q.data() + ((b * Hq + h) * N) * D;
    const double *kb = k.data() + ((b * Hkv + hk) * M) * D;
    const double *vb = v.data() + ((b * Hkv + hk) * M) * Dv;
    std::vector<double> s(M);
    std::vector<char> kept(M);
    for (int64_t i = 0; i < N; ++i) {
      double mx = -std::numeric_limits<double>::infinity();
      for (int64_t j = 0; j < M; ++j) {
        kept[j] = (!a.rule || a.rule(site, i, j)) &&
                  (!a.kvIndices ||
                   listed[(i / a.blockQ) * nkb + j / a.blockK]);
        if (!kept[j])
          continue;
        double dot = 0;
        for (int64_t e = 0; e < D; ++e)
          dot += qb[i * D + e] * kb[j * D + e];
        s[j] = a.scale * dot;
        if (a.scoreRule) {
          RuleValue at[5];
          at[0].f = s[j];
          at[1].i = b, at[2].i = h, at[3].i = i, at[4].i = j;
          s[j] = a.scoreRule->run(at).f;
        }
        mx = std::max(mx, s[j]);
        localMax = std::max(localMax, std::fabs(s[j]));
      }
      double *orow = &o[((b * Hq + h) * N + i) * Dv];
      double &lrow = l[(b * Hq + h) * N + i];
      if (mx == -std::numeric_limits<double>::infinity()) {
        lrow = mx; // no kept key: zeros and -inf
        continue;
      }
      double z = 0;
      for (int64_t j = 0; j < M; ++j) {
        if (!kept[j])
          continue;
        double p = std::exp(s[j] - mx);
        z += p;
        for (int64_t e = 0; e < Dv; ++e)
          orow[e] += p * vb[j * Dv + e];
      }
      for (int64_t e = 0; e < Dv; ++e)
        orow[e] /= z;
      lrow = mx + std::log(z);
    }
  };

  int64_t tasks = B * Hq;
  unsigned nThreads = std::max(1u, std::thread::hardware_concurrency());
  nThreads = static_cast<unsigned>(std::min<int64_t>(nThreads, tasks));
  std::vector<double> maxes(std::max(1u, nThreads), 0.0);
  std::vector<std::thread> pool;
  for (unsigned t = 0; t < nThreads; ++t)
    pool.emplace_back([&, t] {
      for (int64_t bh = t; bh < tasks; bh += nThreads)
        work(bh, maxes[t]);
    });
  for (std::thread &t : pool)
    t.join();
  if (maxAbsLogit)
    *maxAbsLogit = std::max(*maxAbsLogit,
                            *std::max_element(maxes.begin(), maxes.end()));
}

namespace {
std::string shapes(const HostTensor &q, const HostTensor &k,
                   const HostTensor &v) {
  return "q " + q.shapeString() + ", k " + k.shapeString() + ", v " +
         v.shapeString();
}

bool isFloat(const HostTensor &t) { return !isIntegerDType(t.dtype); }

/// The attention contract on (q, k, v): rank 4, float, equal B, Hkv, M, D,
/// Hq a multiple of Hkv.
bool checkOperands(const HostTensor &q, const HostTensor &k,
                   const HostTensor &v, std::string &error) {
  bool ok = q.shape.size() == 4 && k.shape.size() == 4 && v.shape.size() == 4 &&
            isFloat(q) && isFloat(k) && isFloat(v) &&
            q.shape[0] == k.shape[0] && k.shape[0] == v.shape[0] &&
            k.shape[1] == v.shape[1] && k.shape[2] == v.shape[2] &&
            q.shape[3] == k.shape[3] && k.shape[1] > 0 &&
            q.shape[1] % k.shape[1] == 0;
  if (!ok)
    error = "reference: operand shapes " + shapes(q, k, v) +
            " do not satisfy the attention contract";
  return ok;
}

/// Shapes of a block list against q and k (patterns.md A1), then its values.
bool checkBlockList(const AttentionReferenceArgs &a, std::string &error) {
  const HostTensor &idx = *a.kvIndices, &cnt = *a.kvCounts;
  int64_t B = a.q->shape[0], Hq = a.q->shape[1], N = a.q->shape[2];
  int64_t Hkv = a.k->shape[1];
  int64_t nqb = (N + a.blockQ - 1) / a.blockQ;
  if (!isIntegerDType(idx.dtype) || !isIntegerDType(cnt.dtype) ||
      idx.shape.size() != 4 || cnt.shape.size() != 3 || idx.shape[0] != B ||
      idx.shape[2] != nqb ||
      (idx.shape[1] != 1 && idx.shape[1] != Hq && idx.shape[1] != Hkv) ||
      cnt.shape != std::vector<int64_t>(idx.shape.begin(),
                                        idx.shape.begin() + 3)) {
    error = "reference: block list shapes kv_indices " + idx.shapeString() +
            ", kv_counts " + cnt.shapeString() + " do not fit q " +
            a.q->shapeString() + " with block_q = " +
            std::to_string(a.blockQ);
    return false;
  }
  return checkBlockListValues(IndexView::of(idx, "kv_indices"),
                              IndexView::of(cnt, "kv_counts"), a.k->shape[2],
                              a.blockK, error);
}

bool checkDocs(const HostTensor &qd, const HostTensor &kd, const HostTensor &q,
               const HostTensor &k, std::string &error) {
  if (qd.shape != std::vector<int64_t>{q.shape[0], q.shape[2]} ||
      kd.shape != std::vector<int64_t>{k.shape[0], k.shape[2]} ||
      !isIntegerDType(qd.dtype) || !isIntegerDType(kd.dtype)) {
    error = "reference: document ids q_doc " + qd.shapeString() + ", k_doc " +
            kd.shapeString() + " must be integer [B, N] and [B, M]";
    return false;
  }
  return checkDocumentIds(IndexView::of(qd, "q_doc"), error) &&
         checkDocumentIds(IndexView::of(kd, "k_doc"), error);
}
} // namespace

/// The rule regions of `op` (r.mask_rule, r.score_rule) over its rule
/// operands (roles rule0, rule1, ...), set into `a`.
static bool makeRules(const RefOp &op, const std::map<int, HostTensor> &values,
               RuleProgram &maskRule, RuleProgram &scoreRule,
               AttentionReferenceArgs &a, std::string &error) {
  std::vector<const HostTensor *> operands;
  for (int r = 0; op.operand("rule" + std::to_string(r)) >= 0; ++r)
    operands.push_back(operandValue(op, values, "rule" + std::to_string(r)));
  for (auto &[name, rule] : op.rules) {
    bool score = name == "score_rule";
    if (!score && name != "mask_rule") {
      error = "reference: attention has no rule '" + name + "'";
      return false;
    }
    std::vector<int> leading(4, 64);
    if (score)
      leading.insert(leading.begin(), 0);
    RuleProgram &p = score ? scoreRule : maskRule;
    if (!RuleProgram::make(rule, leading, operands, p, error)) {
      error = "reference: " + name + ": " + error;
      return false;
    }
    (score ? a.scoreRule : a.maskRule) = &p;
  }
  return true;
}

/// attn.attention: operands q, k, v and optionally kv_indices + kv_counts
/// (i.block_q, i.block_k) and q_doc + k_doc; results out and optionally lse;
/// f.scale; m.mask optional.
bool referenceAttentionOp(const RefOp &op, std::map<int, HostTensor> &values,
                          ReferenceStats &stats, std::string &error) {
  const HostTensor *q = operandValue(op, values, "q"),
                   *k = operandValue(op, values, "k"),
                   *v = operandValue(op, values, "v");
  auto scale = op.floats.find("scale");
  if (!q || !k || !v || scale == op.floats.end() ||
      !op.results.count("out")) {
    error = "reference: attention needs q, k, v, a scale and an out";
    return false;
  }
  if (!checkOperands(*q, *k, *v, error))
    return false;
  AttentionReferenceArgs a{q, k, v, scale->second, nullptr};
  HostTensor marked;
  if (op.operand("kv_indices") >= 0) {
    a.kvIndices = operandValue(op, values, "kv_indices");
    a.kvCounts = operandValue(op, values, "kv_counts");
    auto bq = op.ints.find("block_q"), bk = op.ints.find("block_k");
    if (!a.kvCounts || bq == op.ints.end() || bk == op.ints.end() ||
        bq->second <= 0 || bk->second <= 0) {
      error = "reference: a block list needs kv_counts and positive block "
              "sizes";
      return false;
    }
    a.blockQ = bq->second;
    a.blockK = bk->second;
    // A block map of attn.rule_blocks marks full blocks as ~id; the
    // reference applies the rule everywhere, so it only needs the ids.
    if (op.ints.count("full_marked") && op.ints.at("full_marked")) {
      marked = *a.kvIndices;
      for (int64_t t = 0; t < marked.numElements(); ++t)
        if (marked.getInt(t) < 0)
          marked.setInt(t, ~marked.getInt(t));
      a.kvIndices = &marked;
    }
    if (!checkBlockList(a, error))
      return false;
  }
  if (op.operand("q_doc") >= 0) {
    a.qDoc = operandValue(op, values, "q_doc");
    a.kDoc = operandValue(op, values, "k_doc");
    if (!a.kDoc) {
      error = "reference: document ids need both q_doc and k_doc";
      return false;
    }
    if (!checkDocs(*a.qDoc, *a.kDoc, *q, *k, error))
      return false;
  }
  auto mask = op.masks.find("mask");
  if (mask != op.masks.end() &&
      !makeElementRule(mask->second, a.rule, error))
    return false;
  RuleProgram maskRule, scoreRule;
  if (!makeRules(op, values, maskRule, scoreRule, a, error))
    return false;
  HostTensor out, lse;
  referenceAttention(a, out, lse, &stats.maxAbsLogit);
  if ((a.maskRule && maskRule.readOutOfBounds()) ||
      (a.scoreRule && scoreRule.readOutOfBounds())) {
    error = "reference: a rule region read one of its operands out of bounds "
            "(compiled kernels clamp such indices)";
    return false;
  }
  values[op.results.at("out")] = std::move(out);
  if (op.results.count("lse"))
    values[op.results.at("lse")] = std::move(lse);
  return true;
}

} // namespace attnir
