//===- RouteReference.cpp - attn.route in float64 -------------------------===//
//
// Buckets by nearest centroid or by LSH sign bits, then the stable order by
// (bucket, position) as a counting sort (shared/patterns.md A7; the op's
// description in AttnRouteOps.td is the contract). Every dot product is a
// float64 sum in index order of exact products, which the kernels repeat,
// so buckets and the permutation agree bit for bit.
//
//===----------------------------------------------------------------------===//

#include "attnir/Reference/Reference.h"
#include "attnir/Runtime/IndexChecks.h"
#include <cstring>
#include <algorithm>
#include <cstdint>

namespace attnir {

/// Philox4x32-10 (Salmon et al., SC'11): word 0 of the block for `counter`
/// under `key`.
uint32_t philox4x32Word0(uint32_t key0, uint32_t key1, uint32_t c0,
                         uint32_t c1, uint32_t c2, uint32_t c3) {
  const uint32_t m0 = 0xD2511F53u, m1 = 0xCD9E8D57u;
  const uint32_t w0 = 0x9E3779B9u, w1 = 0xBB67AE85u;
  for (int round = 0; round < 10; ++round) {
    uint64_t p0 = static_cast<uint64_t>(m0) * c0;
    uint64_t p1 = static_cast<uint64_t>(m1) * c2;
    uint32_t n0 = static_cast<uint32_t>(p1 >> 32) ^ c1 ^ key0;
    uint32_t n2 = static_cast<uint32_t>(p0 >> 32) ^ c3 ^ key1;
    c1 = static_cast<uint32_t>(p1);
    c3 = static_cast<uint32_t>(p0);
    c0 = n0;
    c2 = n2;
    key0 += w0;
    key1 += w1;
  }
  return c0;
}

bool referenceRouteOp(const RefOp &op, std::map<int, HostTensor> &values,
                      ReferenceStats &, std::string &error) {
  const HostTensor *x = operandValue(op, values, "x");
  const HostTensor *mu = op.operand("centroids") >= 0
                             ? operandValue(op, values, "centroids")
                             : nullptr;
  bool lsh = op.ints.count("bits");
  if (!x || x->shape.size() != 4 || lsh == (mu != nullptr) ||
      !op.results.count("perm") || !op.results.count("bucket")) {
    error = "reference: route needs x [B, H, N, D], exactly one of "
            "centroids and lsh bits, and two results";
    return false;
  }
  int64_t B = x->shape[0], H = x->shape[1], N = x->shape[2], D = x->shape[3];
  int64_t C = 0, bits = 0;
  if (mu) {
    if (mu->shape.size() != 3 || mu->shape[0] != H || mu->shape[2] != D ||
        mu->shape[1] < 1) {
      error = "reference: centroids " + mu->shapeString() +
              " must be [H, C, D] for x " + x->shapeString();
      return false;
    }
    C = mu->shape[1];
  } else {
    bits = op.ints.at("bits");
    if (bits < 0 || bits > 16) {
      error = "reference: lsh bits must be in [0, 16]";
      return false;
    }
    C = int64_t(1) << bits;
  }
  std::vector<double> xs = x->toDoubles(), ms;
  if (mu)
    ms = mu->toDoubles();
  // R[d][k] in {-1, +1} from the counter-based generator.
  std::vector<double> R;
  if (!mu) {
    uint64_t seed = static_cast<uint64_t>(op.ints.count("seed") ? op.ints.at("seed") : 0);
    R.resize(D * bits);
    for (int64_t d = 0; d < D; ++d)
      for (int64_t k = 0; k < bits; ++k)
        R[d * bits + k] =
            (philox4x32Word0(static_cast<uint32_t>(seed),
                             static_cast<uint32_t>(seed >> 32),
                             static_cast<uint32_t>(d), static_cast<uint32_t>(k),
                             0, 0) & 1u)
                ? 1.0
                : -1.0;
  }
  HostTensor perm = HostTensor::zeros(DType::I32, {B, H, N}),
             bucket = HostTensor::zeros(DType::I32, {B, H, N});
  std::vector<int64_t> ids(N), start(C + 1), slot(N);
  int64_t chunks = op.ints.count("chunks") ? op.ints.at("chunks") : 0;
  if (chunks > (int64_t(1) << 20)) {
    error = "reference: route chunks must be in [1, 2^20]";
    return false;
  }
  for (int64_t b = 0; b < B; ++b)
    for (int64_t h = 0; h < H; ++h) {
      const double *row = xs.data() + ((b * H + h) * N) * D;
      for (int64_t t = 0; t < N; ++t) {
        const double *xt = row + t * D;
        int64_t best = 0;
        if (mu) {
          double top = 0;
          for (int64_t c = 0; c < C; ++c) {
            const double *mc = ms.data() + (h * C + c) * D;
            double s = 0;
            for (int64_t d = 0; d < D; ++d)
              s += xt[d] * mc[d];
            if (c == 0 || s > top)
              top = s, best = c;
          }
        } else {
          for (int64_t k = 0; k < bits; ++k) {
            double s = 0;
            for (int64_t d = 0; d < D; ++d)
              s += xt[d] * R[d * bits + k];
            if (s >= 0)
              best |= int64_t(1) << k;
          }
        }
        ids[t] = best;
      }
      // Counting sort, stable in position.
      std::fill(start.begin(), start.end(), 0);
      for (int64_t t = 0; t < N; ++t)
        ++start[ids[t] + 1];
      for (int64_t c = 0; c < C; ++c)
        start[c + 1] += start[c];
      int64_t base = (b * H + h) * N;
      for (int64_t t = 0; t < N; ++t) {
        bucket.setInt(base + t, ids[t]);
        slot[t] = start[ids[t]]++;
        perm.setInt(base + slot[t], t);
      }
      if (chunks <= 0)
        continue;
      // chunks(C): by (chunk of the slot, position), again a counting sort.
      int64_t w = std::max<int64_t>(1, (N + chunks - 1) / chunks);
      std::vector<int64_t> at(chunks + 1, 0);
      for (int64_t t = 0; t < N; ++t)
        ++at[slot[t] / w + 1];
      for (int64_t c = 0; c < chunks; ++c)
        at[c + 1] += at[c];
      for (int64_t t = 0; t < N; ++t)
        perm.setInt(base + at[slot[t] / w]++, t);
    }
  values[op.results.at("perm")] = std::move(perm);
  values[op.results.at("bucket")] = std::move(bucket);
  return true;
}

bool referencePermuteOp(const RefOp &op, std::map<int, HostTensor> &values,
                        ReferenceStats &, std::string &error) {
  const HostTensor *x = operandValue(op, values, "x");
  const HostTensor *perm = operandValue(op, values, "perm");
  if (!x || !perm || (x->shape.size() != 3 && x->shape.size() != 4) ||
      perm->shape.size() != 3 || !op.results.count("out")) {
    error = "reference: permute needs x [B, Hx, N(, D)], perm [B, H, N] "
            "and a result";
    return false;
  }
  bool inverse = op.ints.count("inverse") && op.ints.at("inverse");
  int64_t B = perm->shape[0], H = perm->shape[1], N = perm->shape[2];
  int64_t Hx = x->shape[1], D = x->shape.size() == 4 ? x->shape[3] : 1;
  if (x->shape[0] != B || x->shape[2] != N || Hx < 1 ||
      (inverse ? Hx != H : H % Hx != 0)) {
    error = "reference: permute of x " + x->shapeString() + " by perm " +
            perm->shapeString() + ": batch and length must match, and x's "
            "heads " + (inverse ? "equal" : "divide") + " perm's";
    return false;
  }
  if (!checkPermutation(IndexView::of(*perm, "perm"), error))
    return false;
  std::vector<int64_t> shape = x->shape;
  shape[1] = H;
  HostTensor out = HostTensor::zeros(x->dtype, shape);
  size_t row = static_cast<size_t>(D) * dtypeSize(x->dtype);
  for (int64_t b = 0; b < B; ++b)
    for (int64_t h = 0; h < H; ++h)
      for (int64_t s = 0; s < N; ++s) {
        int64_t p = perm->getInt((b * H + h) * N + s);
        int64_t hx = h / (H / Hx);
        int64_t from = ((b * Hx + hx) * N + (inverse ? s : p));
        int64_t to = ((b * H + h) * N + (inverse ? p : s));
        std::memcpy(out.data.data() + to * row, x->data.data() + from * row,
                    row);
      }
  values[op.results.at("out")] = std::move(out);
  return true;
}

uint32_t sampleRow(uint64_t seed, int64_t offset, int64_t b, int64_t h, int64_t s, int64_t m) {
  uint32_t stream = 2u * static_cast<uint32_t>(offset) + 1u;
  uint32_t w = philox4x32Word0(static_cast<uint32_t>(seed), static_cast<uint32_t>(seed >> 32),
                               static_cast<uint32_t>(s), static_cast<uint32_t>(h),
                               static_cast<uint32_t>(b), stream);
  return static_cast<uint32_t>((static_cast<uint64_t>(w) * static_cast<uint64_t>(m)) >> 32);
}

bool referenceSampleOp(const RefOp &op, std::map<int, HostTensor> &values,
                       ReferenceStats &, std::string &error) {
  const HostTensor *x = operandValue(op, values, "x");
  const HostTensor *per = op.operand("per") >= 0 ? operandValue(op, values, "per") : nullptr;
  const HostTensor *heads = per ? per : x;
  const HostTensor *offset =
      op.operand("offset") >= 0 ? operandValue(op, values, "offset") : nullptr;
  if (!x || x->shape.size() < 3 || heads->shape.size() < 2 || !op.ints.count("count") ||
      !op.results.count("rows")) {
    error = "reference: sample needs x [B, H, M, ...], a count and a result";
    return false;
  }
  int64_t B = x->shape[0], H = heads->shape[1], M = x->shape[2], S = op.ints.at("count");
  uint64_t seed = static_cast<uint64_t>(op.ints.count("seed") ? op.ints.at("seed") : 0);
  if (offset && offset->numElements() != 1) {
    error = "reference: sample's offset must hold one value, got " + offset->shapeString();
    return false;
  }
  int64_t o = offset ? offset->getInt(0) : 0;
  HostTensor rows = HostTensor::zeros(DType::I32, {B, H, S});
  for (int64_t b = 0; b < B; ++b)
    for (int64_t h = 0; h < H; ++h)
      for (int64_t s = 0; s < S; ++s)
        rows.setInt((b * H + h) * S + s, sampleRow(seed, o, b, h, s, M));
  values[op.results.at("rows")] = std::move(rows);
  return true;
}

bool referenceGatherOp(const RefOp &op, std::map<int, HostTensor> &values,
                       ReferenceStats &, std::string &error) {
  const HostTensor *x = operandValue(op, values, "x");
  const HostTensor *rows = operandValue(op, values, "rows");
  if (!x || !rows || (x->shape.size() != 3 && x->shape.size() != 4) ||
      rows->shape.size() != 3 || !op.results.count("out")) {
    error = "reference: gather needs x [B, Hx, M(, D)], rows [B, H, S] and a result";
    return false;
  }
  int64_t B = rows->shape[0], H = rows->shape[1], S = rows->shape[2];
  int64_t Hx = x->shape[1], M = x->shape[2], D = x->shape.size() == 4 ? x->shape[3] : 1;
  if (x->shape[0] != B || Hx < 1 || H % Hx != 0) {
    error = "reference: gather of x " + x->shapeString() + " at rows " + rows->shapeString() +
            ": batch must match, and x's heads divide rows'";
    return false;
  }
  std::vector<int64_t> shape = x->shape;
  shape[1] = H;
  shape[2] = S;
  HostTensor out = HostTensor::zeros(x->dtype, shape);
  size_t row = static_cast<size_t>(D) * dtypeSize(x->dtype);
  for (int64_t b = 0; b < B; ++b)
    for (int64_t h = 0; h < H; ++h)
      for (int64_t s = 0; s < S; ++s) {
        int64_t p = rows->getInt((b * H + h) * S + s);
        if (p < 0 || p >= M) // outside: a row of zeros
          continue;
        int64_t from = (b * Hx + h / (H / Hx)) * M + p, to = (b * H + h) * S + s;
        std::memcpy(out.data.data() + to * row, x->data.data() + from * row, row);
      }
  values[op.results.at("out")] = std::move(out);
  return true;
}

} // namespace attnir
