//===- Reference.cpp - float64 interpreter of attn specs ------------------===//

#include "attnir/Reference/Reference.h"
#include "attnir/Dialect/Attn/IR/AttnOps.h"
#include "llvm/ADT/DenseMap.h"
#include <algorithm>
#include <cmath>
#include <limits>
#include <thread>

using namespace mlir;

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
    std::function<bool(int64_t, int64_t)> keepBH;
    if (a.keepFor)
      keepBH = a.keepFor(b, h);
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
        kept[j] = (keepBH ? keepBH(i, j) : (!a.keep || a.keep(i, j, N, M))) &&
                  (!a.kvIndices ||
                   listed[(i / a.blockQ) * nkb + j / a.blockK]);
        if (!kept[j])
          continue;
        double dot = 0;
        for (int64_t e = 0; e < D; ++e)
          dot += qb[i * D + e] * kb[j * D + e];
        s[j] = a.scale * dot;
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

static bool checkReferenceDocs(const HostTensor &qd, const HostTensor &kd,
                               const HostTensor &q, const HostTensor &k,
                               std::string &error) {
  if (qd.shape != std::vector<int64_t>{q.shape[0], q.shape[2]} ||
      kd.shape != std::vector<int64_t>{k.shape[0], k.shape[2]} ||
      !isIntegerDType(qd.dtype) || !isIntegerDType(kd.dtype)) {
    error = "reference: document ids q_doc " + qd.shapeString() + ", k_doc " +
            kd.shapeString() + " must be integer [B, N] and [B, M]";
    return false;
  }
  return true;
}

bool checkReferenceBlockList(const AttentionReferenceArgs &a,
                             std::string &error) {
  const HostTensor &idx = *a.kvIndices, &cnt = *a.kvCounts;
  int64_t B = a.q->shape[0], Hq = a.q->shape[1], N = a.q->shape[2];
  int64_t Hkv = a.k->shape[1], M = a.k->shape[2];
  int64_t nqb = (N + a.blockQ - 1) / a.blockQ;
  if (idx.shape.size() != 4 || cnt.shape.size() != 3 || idx.shape[0] != B ||
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
  int64_t k = idx.shape[3], nkb = (M + a.blockK - 1) / a.blockK;
  for (int64_t row = 0; row < cnt.numElements(); ++row) {
    int64_t c = cnt.getInt(row);
    if (c < 0 || c > k) {
      error = "reference: kv_counts holds " + std::to_string(c) +
              ", outside [0, " + std::to_string(k) + "]";
      return false;
    }
    for (int64_t t = 0; t < c; ++t) {
      int64_t id = idx.getInt(row * k + t);
      if (id < 0 || id >= nkb) {
        error = "reference: kv_indices holds block " + std::to_string(id) +
                ", outside [0, " + std::to_string(nkb) + ")";
        return false;
      }
    }
  }
  return true;
}

namespace {
bool shapeMatches(const HostTensor &t, RankedTensorType type) {
  if (static_cast<int64_t>(t.shape.size()) != type.getRank())
    return false;
  for (int64_t i = 0; i < type.getRank(); ++i)
    if (!type.isDynamicDim(i) && type.getDimSize(i) != t.shape[i])
      return false;
  return true;
}
} // namespace

bool evaluateReference(func::FuncOp fn, const std::vector<HostTensor> &args,
                       std::vector<HostTensor> &results, std::string &error,
                       ReferenceStats *stats) {
  if (args.size() != fn.getNumArguments()) {
    error = "reference: @" + fn.getName().str() + " takes " +
            std::to_string(fn.getNumArguments()) + " arguments, got " +
            std::to_string(args.size());
    return false;
  }
  llvm::DenseMap<Value, HostTensor> env;
  for (auto [arg, t] : llvm::zip(fn.getArguments(), args))
    env[arg] = t;
  double maxLogit = 0.0;
  for (Operation &op : fn.getBody().front()) {
    if (auto att = dyn_cast<attn::AttentionOp>(op)) {
      const HostTensor &q = env[att.getQ()], &k = env[att.getK()],
                       &v = env[att.getV()];
      if (!shapeMatches(q, att.getQ().getType()) ||
          !shapeMatches(k, att.getK().getType()) ||
          !shapeMatches(v, att.getV().getType()) ||
          q.shape[0] != k.shape[0] || k.shape[0] != v.shape[0] ||
          k.shape[1] != v.shape[1] || k.shape[2] != v.shape[2] ||
          q.shape[3] != k.shape[3] || k.shape[1] == 0 ||
          q.shape[1] % k.shape[1] != 0) {
        error = "reference: operand shapes q " + q.shapeString() + ", k " +
                k.shapeString() + ", v " + v.shapeString() +
                " do not satisfy the attention contract";
        return false;
      }
      AttentionReferenceArgs a{&q, &k, &v, att.getScaleValue(), nullptr};
      if (att.hasBlockList()) {
        a.kvIndices = &env[att.getKvIndices()];
        a.kvCounts = &env[att.getKvCounts()];
        a.blockQ = att.listBlockQ();
        a.blockK = att.listBlockK();
        if (!checkReferenceBlockList(a, error))
          return false;
      }
      attn::MaskAttrInterface mask = att.getMaskAttr();
      if (mask)
        a.keep = [mask](int64_t i, int64_t j, int64_t n, int64_t m) {
          return mask.keep(i, j, n, m);
        };
      if (mask && mask.readsOperands()) {
        const HostTensor *qd = &env[att.getQDoc()], *kd = &env[att.getKDoc()];
        if (!checkReferenceDocs(*qd, *kd, q, k, error))
          return false;
        int64_t N = q.shape[2], M = k.shape[2];
        a.keepFor = [=](int64_t b, int64_t h) {
          attn::MaskSite site{b, h, N, M,
                              [=](StringRef role, int64_t pos) {
                                return role == "q_doc"
                                           ? qd->getInt(b * N + pos)
                                           : kd->getInt(b * M + pos);
                              }};
          return std::function<bool(int64_t, int64_t)>(
              [mask, site](int64_t i, int64_t j) {
                return mask.keepAt(site, i, j);
              });
        };
      }
      HostTensor out, lse;
      referenceAttention(a, out, lse, &maxLogit);
      env[att.getOut()] = std::move(out);
      if (att.getLse())
        env[att.getLse()] = std::move(lse);
      continue;
    }
    if (auto ret = dyn_cast<func::ReturnOp>(op)) {
      results.clear();
      for (Value r : ret.getOperands()) {
        HostTensor t = env[r];
        if (t.dtype != DType::F64) { // a returned argument: widen it
          HostTensor w = HostTensor::zeros(DType::F64, t.shape);
          for (int64_t i = 0; i < t.numElements(); ++i)
            w.set(i, t.get(i));
          t = std::move(w);
        }
        results.push_back(std::move(t));
      }
      if (stats)
        stats->maxAbsLogit = maxLogit;
      return true;
    }
    error = "reference: unsupported op '" +
            op.getName().getStringRef().str() + "'";
    return false;
  }
  error = "reference: @" + fn.getName().str() + " has no return";
  return false;
}

} // namespace attnir
