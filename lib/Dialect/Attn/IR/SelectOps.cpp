//===- SelectOps.cpp - attn.pool, attn.block_scores, attn.select ----------===//
//
// Verifiers (shapes that relate, block sizes, policies) and the description
// the reference interprets (lib/Reference/SelectReference.cpp).
//
//===----------------------------------------------------------------------===//

#include "attnir/Dialect/Attn/IR/AttnOps.h"
#include "attnir/Support/HostTensor.h"
#include "llvm/Support/MathExtras.h"
#include <cmath>

using namespace mlir;
using namespace mlir::attn;

namespace {
RankedTensorType rankedType(Value v) {
  return cast<RankedTensorType>(v.getType());
}

/// The `scale` attribute, or 1/sqrt(D) of `q`'s head dim.
double scaleOr(FloatAttr scale, Value q) {
  if (scale)
    return scale.getValueAsDouble();
  return 1.0 / std::sqrt(static_cast<double>(rankedType(q).getDimSize(3)));
}

/// Rows of q [B, Hq, ., D] scored against rows of k [B, Hkv, ., D]: a
/// static D, the same B and D, and Hq a multiple of Hkv (`what` names them
/// in messages).
LogicalResult verifyScoredPair(Operation *op, RankedTensorType q,
                               RankedTensorType k, StringRef what) {
  if (ShapedType::isDynamic(q.getDimSize(3)))
    return op->emitOpError() << "needs a static head dimension D";
  if (!dimsAgree(q.getDimSize(3), k.getDimSize(3)) ||
      !dimsAgree(q.getDimSize(0), k.getDimSize(0)))
    return op->emitOpError() << what << " " << q << " and k " << k
                             << " must agree in B and D";
  int64_t hq = q.getDimSize(1), hkv = k.getDimSize(1);
  if (!ShapedType::isDynamic(hq) && !ShapedType::isDynamic(hkv) &&
      (hkv == 0 || hq % hkv != 0))
    return op->emitOpError() << "Hq = " << hq << " must be a multiple of Hkv = "
                             << hkv;
  return success();
}
} // namespace

//===----------------------------------------------------------------------===//
// pool
//===----------------------------------------------------------------------===//

LogicalResult PoolOp::verify() {
  RankedTensorType x = rankedType(getX()), out = rankedType(getOut());
  if (x.getRank() != 4 || out.getRank() != 4)
    return emitOpError() << "takes and returns rank-4 tensors [B, H, L, D], "
                            "got "
                         << x << " -> " << out;
  int64_t c = getBlock();
  if (c < 1 || c > (int64_t(1) << 30))
    return emitOpError() << "block must be in [1, 2^30], got " << c;
  int64_t s = getStrideValue();
  if (s < 1 || s > (int64_t(1) << 30))
    return emitOpError() << "stride must be in [1, 2^30], got " << s;
  for (int64_t d : {0, 1, 3})
    if (!dimsAgree(x.getDimSize(d), out.getDimSize(d)))
      return emitOpError() << "result dimension " << d << " is "
                           << out.getDimSize(d) << " but the input's is "
                           << x.getDimSize(d);
  int64_t l = x.getDimSize(2), n = out.getDimSize(2);
  if (!ShapedType::isDynamic(l) && !ShapedType::isDynamic(n) &&
      n != static_cast<int64_t>(llvm::divideCeil(l, s)))
    return emitOpError() << "result dimension 2 must be ceil(L / "
                         << (getStride() ? "stride" : "block")
                         << ") = " << llvm::divideCeil(l, s) << ", got " << n;
  return success();
}

void PoolOp::shapeRelations(SmallVectorImpl<ShapeRelation> &out) {
  for (unsigned d : {0u, 1u, 3u})
    out.push_back({getOut(), d, getX(), d});
  out.push_back({getOut(), 2, getX(), 2, getStrideValue()});
}

void PoolOp::describe(attnir::RefOp &op, function_ref<int(Value)> idOf) {
  op.kind = "pool";
  op.operands["x"] = idOf(getX());
  op.results["out"] = idOf(getOut());
  op.ints["block"] = getBlock();
  op.ints["stride"] = getStrideValue();
  op.ints["kind"] = static_cast<int64_t>(getKind());
  // A bf16 or f16 result is rounded before anything scores it: the
  // reference rounds too, or its selections would differ from the kernel's.
  Type elt = getOut().getType().getElementType();
  if (elt.isBF16() || elt.isF16())
    op.ints["dtype"] = static_cast<int64_t>(elt.isBF16() ? attnir::DType::BF16
                                                         : attnir::DType::F16);
}

//===----------------------------------------------------------------------===//
// project
//===----------------------------------------------------------------------===//

LogicalResult ProjectOp::verify() {
  if (getInputs().empty())
    return emitOpError() << "needs at least one input";
  RankedTensorType out = rankedType(getOut()), w = rankedType(getWeight());
  if (out.getRank() != 4 || ShapedType::isDynamic(out.getDimSize(3)))
    return emitOpError() << "returns [B, H, L, Dout] with a static Dout, got "
                         << out;
  int64_t din = 0;
  for (Value x : getInputs()) {
    RankedTensorType t = rankedType(x);
    if (t.getRank() != 4 || ShapedType::isDynamic(t.getDimSize(3)))
      return emitOpError() << "inputs are [B, H, L, D] with a static D, got "
                           << t;
    for (int64_t d = 0; d < 3; ++d)
      if (!dimsAgree(t.getDimSize(d), out.getDimSize(d)))
        return emitOpError() << "input " << t << " and result " << out
                             << " must share [B, H, L]";
    din += t.getDimSize(3);
  }
  if (w.getRank() != 2 && w.getRank() != 3)
    return emitOpError() << "weight is [Din, Dout] or [H, Din, Dout], got "
                         << w;
  int64_t r = w.getRank();
  if (w.getDimSize(r - 2) != din || w.getDimSize(r - 1) != out.getDimSize(3))
    return emitOpError() << "weight " << w << " must be [" << (r == 3 ? "H, " : "")
                         << din << ", " << out.getDimSize(3)
                         << "] (the inputs' features, the result's)";
  if (r == 3 && !dimsAgree(w.getDimSize(0), out.getDimSize(1)))
    return emitOpError() << "a per-head weight " << w
                         << " needs the inputs' H heads";
  return success();
}

void ProjectOp::shapeRelations(SmallVectorImpl<ShapeRelation> &out) {
  Value o = getOut();
  for (Value x : getInputs())
    for (unsigned d : {0u, 1u, 2u})
      out.push_back({x, d, o, d});
  if (rankedType(getWeight()).getRank() == 3)
    out.push_back({getWeight(), 0, o, 1});
}

void ProjectOp::describe(attnir::RefOp &op, function_ref<int(Value)> idOf) {
  op.kind = "project";
  for (auto [i, x] : llvm::enumerate(getInputs()))
    op.operands["x" + std::to_string(i)] = idOf(x);
  op.operands["weight"] = idOf(getWeight());
  op.results["out"] = idOf(getOut());
  op.ints["inputs"] = static_cast<int64_t>(getInputs().size());
  if (auto map = getFeatureMap())
    op.ints["feature_map"] = static_cast<int64_t>(*map);
  Type elt = getOut().getType().getElementType();
  if (elt.isBF16() || elt.isF16())
    op.ints["dtype"] = static_cast<int64_t>(elt.isBF16() ? attnir::DType::BF16
                                                         : attnir::DType::F16);
}

//===----------------------------------------------------------------------===//
// block_scores
//===----------------------------------------------------------------------===//

double BlockScoresOp::getScaleValue() {
  return scaleOr(getScaleAttr(), getQp());
}

LogicalResult BlockScoresOp::verify() {
  RankedTensorType qp = rankedType(getQp()), kp = rankedType(getKp()),
                   s = rankedType(getScores());
  if (qp.getRank() != 4 || kp.getRank() != 4 || s.getRank() != 4)
    return emitOpError() << "takes pooled q [B, Hq, Nq, D] and k [B, Hkv, "
                            "Nk, D] and returns [B, H, Nq, Nk]";
  if (failed(verifyScoredPair(*this, qp, kp, "pooled q")))
    return failure();
  int64_t hq = qp.getDimSize(1), hkv = kp.getDimSize(1);
  int64_t heads = getShare() ? hkv : hq;
  if (!dimsAgree(s.getDimSize(0), qp.getDimSize(0)) ||
      !dimsAgree(s.getDimSize(1), heads) ||
      !dimsAgree(s.getDimSize(2), qp.getDimSize(2)) ||
      !dimsAgree(s.getDimSize(3), kp.getDimSize(2)))
    return emitOpError() << "result " << s << " must be [B, "
                         << (getShare() ? "Hkv" : "Hq") << ", Nq, Nk]";
  if (static_cast<bool>(getQ()) != static_cast<bool>(getBlockQAttr()))
    return emitOpError() << "causal(q, k) needs block_size(bq, bk)";
  if (getQ()) {
    // I64Attr reads back unsigned: compare signed, so a negative size is
    // refused (fuzz-spec seed negative-score-block).
    int64_t bq = static_cast<int64_t>(getBlockQ().value_or(0)),
            bk = static_cast<int64_t>(getBlockK().value_or(0));
    if (bq < 1 || bk < 1 || bq > (int64_t(1) << 30) || bk > (int64_t(1) << 30))
      return emitOpError() << "block sizes must be in [1, 2^30], got (" << bq
                           << ", " << bk << ")";
    RankedTensorType q = rankedType(getQ()), k = rankedType(getK());
    if (q.getRank() != 4 || k.getRank() != 4)
      return emitOpError() << "causal(q, k) takes the unpooled rank-4 q and k";
    int64_t n = q.getDimSize(2), m = k.getDimSize(2);
    if (!ShapedType::isDynamic(n) && !ShapedType::isDynamic(qp.getDimSize(2)) &&
        qp.getDimSize(2) !=
            static_cast<int64_t>(llvm::divideCeil(n, *getBlockQ())))
      return emitOpError() << "pooled q has " << qp.getDimSize(2)
                           << " blocks but ceil(N / block_q) is "
                           << llvm::divideCeil(n, *getBlockQ());
    if (!ShapedType::isDynamic(m) && !ShapedType::isDynamic(kp.getDimSize(2)) &&
        kp.getDimSize(2) !=
            static_cast<int64_t>(llvm::divideCeil(m, *getBlockK())))
      return emitOpError() << "pooled k has " << kp.getDimSize(2)
                           << " blocks but ceil(M / block_k) is "
                           << llvm::divideCeil(m, *getBlockK());
  }
  return success();
}

void BlockScoresOp::shapeRelations(SmallVectorImpl<ShapeRelation> &out) {
  Value s = getScores();
  out.push_back({s, 0, getQp(), 0});
  out.push_back({s, 1, getShare() ? getKp() : getQp(), 1});
  out.push_back({s, 2, getQp(), 2});
  out.push_back({s, 3, getKp(), 2});
  out.push_back({getKp(), 0, getQp(), 0});
  out.push_back({getKp(), 3, getQp(), 3});
  if (getQ()) {
    out.push_back({getQp(), 2, getQ(), 2, static_cast<int64_t>(*getBlockQ())});
    out.push_back({getKp(), 2, getK(), 2, static_cast<int64_t>(*getBlockK())});
  }
}

void BlockScoresOp::describe(attnir::RefOp &op,
                             function_ref<int(Value)> idOf) {
  op.kind = "block_scores";
  op.operands["qp"] = idOf(getQp());
  op.operands["kp"] = idOf(getKp());
  if (getQ()) {
    op.operands["q"] = idOf(getQ());
    op.operands["k"] = idOf(getK());
    op.ints["block_q"] = *getBlockQ();
    op.ints["block_k"] = *getBlockK();
  }
  op.results["scores"] = idOf(getScores());
  op.floats["scale"] = getScaleValue();
  if (getShare())
    op.ints["share"] = static_cast<int64_t>(*getShare());
  if (getFeatureMap())
    op.ints["feature_map"] = static_cast<int64_t>(*getFeatureMap());
}

//===----------------------------------------------------------------------===//
// index_scores
//===----------------------------------------------------------------------===//

LogicalResult IndexScoresOp::verify() {
  RankedTensorType qi = rankedType(getQi()), ki = rankedType(getKi()),
                   w = rankedType(getW()), s = rankedType(getScores());
  if (qi.getRank() != 4 || ki.getRank() != 3 || w.getRank() != 3 ||
      s.getRank() != 4)
    return emitOpError() << "takes qi [B, HI, N, DI], ki [B, M, DI] and w "
                            "[B, N, HI] and returns [B, 1, N, M]";
  if (ShapedType::isDynamic(qi.getDimSize(3)))
    return emitOpError() << "needs a static indexer dimension DI";
  if (!dimsAgree(ki.getDimSize(2), qi.getDimSize(3)))
    return emitOpError() << "ki " << ki << " must have qi's DI = "
                         << qi.getDimSize(3);
  for (RankedTensorType t : {ki, w, s})
    if (!dimsAgree(t.getDimSize(0), qi.getDimSize(0)))
      return emitOpError() << "qi, ki, w and the result must share B";
  if (!dimsAgree(w.getDimSize(1), qi.getDimSize(2)) ||
      !dimsAgree(w.getDimSize(2), qi.getDimSize(1)))
    return emitOpError() << "w " << w << " must be [B, N, HI] of qi " << qi;
  if (s.getDimSize(1) != 1 || !dimsAgree(s.getDimSize(2), qi.getDimSize(2)) ||
      !dimsAgree(s.getDimSize(3), ki.getDimSize(1)))
    return emitOpError() << "result " << s
                         << " must be [B, 1, N, M] (dimension 1 static)";
  return success();
}

void IndexScoresOp::shapeRelations(SmallVectorImpl<ShapeRelation> &out) {
  Value s = getScores(), qi = getQi(), ki = getKi(), w = getW();
  out.push_back({s, 0, qi, 0});
  out.push_back({s, 2, qi, 2});
  out.push_back({s, 3, ki, 1});
  out.push_back({ki, 0, qi, 0});
  out.push_back({ki, 2, qi, 3});
  out.push_back({w, 0, qi, 0});
  out.push_back({w, 1, qi, 2});
  out.push_back({w, 2, qi, 1});
}

void IndexScoresOp::describe(attnir::RefOp &op, function_ref<int(Value)> idOf) {
  op.kind = "index_scores";
  op.operands["qi"] = idOf(getQi());
  op.operands["ki"] = idOf(getKi());
  op.operands["w"] = idOf(getW());
  op.results["scores"] = idOf(getScores());
  op.ints["causal"] = getCausal() ? 1 : 0;
}

//===----------------------------------------------------------------------===//
// probs
//===----------------------------------------------------------------------===//

double ProbsOp::getScaleValue() { return scaleOr(getScaleAttr(), getQ()); }

LogicalResult ProbsOp::verify() {
  RankedTensorType q = rankedType(getQ()), k = rankedType(getK()),
                   p = rankedType(getProbs());
  if (q.getRank() != 4 || k.getRank() != 4 || p.getRank() != 4)
    return emitOpError() << "takes q [B, Hq, N, D] and k [B, Hkv, M, D] and "
                            "returns [B, Hq, N, M]";
  if (failed(verifyScoredPair(*this, q, k, "q")))
    return failure();
  if (failed(verifyOnto()))
    return failure();
  int64_t hq = q.getDimSize(1), n = q.getDimSize(2);
  int64_t heads = getShare() ? k.getDimSize(1) : hq;
  int64_t cols = k.getDimSize(2);
  if (std::optional<uint64_t> l = getOnto())
    cols = ShapedType::isDynamic(n)
               ? ShapedType::kDynamic
               : static_cast<int64_t>(llvm::divideCeil(n, *l));
  for (auto [d, want] : {std::pair<int64_t, int64_t>{0, q.getDimSize(0)},
                         {1, heads}, {2, n}, {3, cols}})
    if (!dimsAgree(p.getDimSize(d), want))
      return emitOpError() << "result " << p << " must be "
                           << (getOnto() ? (getShare()
                                                ? "[B, Hkv, N, ceil(N / onto)]"
                                                : "[B, Hq, N, ceil(N / onto)]")
                                         : "[B, Hq, N, M]");
  if (MaskAttrInterface mask = getMaskAttr(); mask && mask.readsOperands())
    return emitOpError() << "mask " << mask
                         << " reads document ids, which attn.probs does not "
                            "take";
  return success();
}

LogicalResult ProbsOp::verifyOnto() {
  std::optional<uint64_t> l = getOnto(), c = getPooledBlock(),
                          s = getPooledStride();
  if (!l) {
    if (getCausal() || getShare())
      return emitOpError() << "causal and share apply to rows summed onto "
                              "blocks: they need onto(l) pooled(c, s)";
    return success();
  }
  for (auto [name, v] : {std::pair<const char *, std::optional<uint64_t>>{
                             "onto", l},
                         {"pooled block", c}, {"pooled stride", s}})
    if (!v || *v < 1 || *v > (uint64_t(1) << 30))
      return emitOpError() << name << " must be in [1, 2^30]";
  if (getShare() && *getShare() != ShareKind::Sum)
    return emitOpError() << "shares a GQA group's probabilities by sum only";
  return success();
}

void ProbsOp::shapeRelations(SmallVectorImpl<ShapeRelation> &out) {
  Value p = getProbs(), q = getQ(), k = getK();
  out.push_back({p, 0, q, 0});
  out.push_back({p, 2, q, 2});
  out.push_back(getShare() ? ShapeRelation{p, 1, k, 1}
                           : ShapeRelation{p, 1, q, 1});
  if (std::optional<uint64_t> l = getOnto())
    out.push_back({p, 3, q, 2, static_cast<int64_t>(*l)});
  else
    out.push_back({p, 3, k, 2});
  out.push_back({k, 0, q, 0});
  out.push_back({k, 3, q, 3});
}

void ProbsOp::describe(attnir::RefOp &op, function_ref<int(Value)> idOf) {
  op.kind = "probs";
  op.operands["q"] = idOf(getQ());
  op.operands["k"] = idOf(getK());
  op.results["probs"] = idOf(getProbs());
  op.floats["scale"] = getScaleValue();
  if (MaskAttrInterface mask = getMaskAttr())
    op.masks["mask"] = mask.describe();
  if (std::optional<uint64_t> l = getOnto()) {
    op.ints["onto"] = static_cast<int64_t>(*l);
    op.ints["pooled_block"] = static_cast<int64_t>(*getPooledBlock());
    op.ints["pooled_stride"] = static_cast<int64_t>(*getPooledStride());
    op.ints["causal"] = getCausal() ? 1 : 0;
    op.ints["share"] = getShare() ? 1 : 0;
  }
}

//===----------------------------------------------------------------------===//
// select
//===----------------------------------------------------------------------===//

LogicalResult SelectOp::verify() {
  RankedTensorType s = rankedType(getScores()),
                   idx = rankedType(getKvIndices()),
                   cnt = rankedType(getKvCounts());
  if (s.getRank() != 4 || idx.getRank() != 4 || cnt.getRank() != 3)
    return emitOpError() << "takes scores [B, H, Q, Nk] and returns "
                            "kv_indices [B, H, Q, K] and kv_counts [B, H, Q]";
  if (static_cast<bool>(getTopk()) == static_cast<bool>(getThreshold()))
    return emitOpError() << "needs exactly one of topk(k) and threshold(tau)";
  for (auto [name, v] : {std::pair<const char *, int64_t>{"first", getFirst()},
                         {"local", getLocal()},
                         {"last", getLast()},
                         {"topk", getTopk().value_or(0)}})
    if (v < 0 || v > (int64_t(1) << 30))
      return emitOpError() << name << " must be in [0, 2^30], got " << v;
  if (FloatAttr tau = getThresholdAttr()) {
    double t = tau.getValueAsDouble();
    if (!(t > 0.0 && t <= 1.0))
      return emitOpError() << "threshold must be in (0, 1], got " << t;
  }
  for (int64_t d = 0; d < 3; ++d)
    if (!dimsAgree(idx.getDimSize(d), s.getDimSize(d)) ||
        !dimsAgree(cnt.getDimSize(d), s.getDimSize(d)))
      return emitOpError() << "kv_indices and kv_counts must share [B, H, Q] "
                              "with the scores "
                           << s;
  int64_t want = getTopk() ? *getTopk() + getFirst() + getLocal() + getLast()
                           : s.getDimSize(3);
  if (!dimsAgree(idx.getDimSize(3), want))
    return emitOpError() << "kv_indices dimension 3 must be "
                         << (getTopk() ? "topk + first + local + last = "
                                       : "Nk = ")
                         << want << ", got " << idx.getDimSize(3);
  if (getTopk() && ShapedType::isDynamic(idx.getDimSize(3)))
    return emitOpError() << "with topk, kv_indices dimension 3 is static: "
                         << want;
  if (idx.getElementType() != cnt.getElementType())
    return emitOpError() << "kv_indices and kv_counts must have one element "
                            "type";
  return success();
}

void SelectOp::shapeRelations(SmallVectorImpl<ShapeRelation> &out) {
  for (unsigned d = 0; d < 3; ++d) {
    out.push_back({getKvIndices(), d, getScores(), d});
    out.push_back({getKvCounts(), d, getScores(), d});
  }
  if (getThreshold())
    out.push_back({getKvIndices(), 3, getScores(), 3});
}

void SelectOp::describe(attnir::RefOp &op, function_ref<int(Value)> idOf) {
  op.kind = "select";
  op.operands["scores"] = idOf(getScores());
  op.results["kv_indices"] = idOf(getKvIndices());
  op.results["kv_counts"] = idOf(getKvCounts());
  if (getTopk())
    op.ints["topk"] = *getTopk();
  if (FloatAttr tau = getThresholdAttr())
    op.floats["threshold"] = tau.getValueAsDouble();
  op.ints["first"] = getFirst();
  op.ints["local"] = getLocal();
  op.ints["last"] = getLast();
  op.ints["wide"] =
      rankedType(getKvIndices()).getElementType().isInteger(64) ? 1 : 0;
}

void ProbsOp::describeEntryRoles(EntryRoles &roles) {
  // q and k as an attention reads them: the same roles and dimension names
  // (shape defaults, messages) in a program without an attention.
  roles.queriesKeysValues(getQ(), getK(), Value());
}
