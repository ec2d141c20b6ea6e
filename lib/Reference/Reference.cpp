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

  // One (b, h) per task; heads are independent.
  auto work = [&](int64_t bh, double &localMax) {
    int64_t b = bh / Hq, h = bh % Hq, hk = h / group;
    const double *qb = &q[((b * Hq + h) * N) * D];
    const double *kb = &k[((b * Hkv + hk) * M) * D];
    const double *vb = &v[((b * Hkv + hk) * M) * Dv];
    std::vector<double> s(M);
    std::vector<char> kept(M);
    for (int64_t i = 0; i < N; ++i) {
      double mx = -std::numeric_limits<double>::infinity();
      for (int64_t j = 0; j < M; ++j) {
        kept[j] = !a.keep || a.keep(i, j, N, M);
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
      if (attn::MaskAttrInterface mask = att.getMaskAttr())
        a.keep = [mask](int64_t i, int64_t j, int64_t n, int64_t m) {
          return mask.keep(i, j, n, m);
        };
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
