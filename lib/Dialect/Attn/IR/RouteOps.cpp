//===- RouteOps.cpp - route, permute, landmark: verifiers, shapes, reference ===//

#include "attnir/Dialect/Attn/IR/AttnOps.h"
#include <cmath>

using namespace mlir;
using namespace mlir::attn;

LogicalResult RouteOp::verify() {
  auto x = cast<RankedTensorType>(getX().getType());
  if (x.getRank() != 4)
    return emitOpError() << "x must be [B, H, N, D], got rank " << x.getRank();
  bool lsh = static_cast<bool>(getBitsAttr());
  if (lsh == static_cast<bool>(getCentroids()))
    return emitOpError() << "takes exactly one of centroids(...) and "
                            "lsh(bits, seed)";
  if (lsh && (*getBits() < 0 || *getBits() > 16))
    return emitOpError() << "lsh bits must be in [0, 16], got " << *getBits();
  if (getChunks() && (*getChunks() < 1 || *getChunks() > (int64_t(1) << 20)))
    return emitOpError() << "chunks must be in [1, 2^20], got " << *getChunks();
  // The sign words of R are made at compile time, one per feature.
  if (lsh && x.isDynamicDim(3))
    return emitOpError() << "lsh needs a static feature dimension D, got "
                         << x;
  if (Value mu = getCentroids()) {
    auto m = cast<RankedTensorType>(mu.getType());
    if (m.getRank() != 3 || m.getElementType() != x.getElementType())
      return emitOpError() << "centroids must be [H, C, D] of x's element "
                              "type, got "
                           << m;
    if (!dimsAgree(m.getDimSize(0), x.getDimSize(1)) ||
        !dimsAgree(m.getDimSize(2), x.getDimSize(3)))
      return emitOpError() << "centroids " << m << " do not match x " << x
                           << " (heads and features)";
  }
  for (Value r : {getPerm(), getBucket()}) {
    auto t = cast<RankedTensorType>(r.getType());
    if (t.getRank() != 3)
      return emitOpError() << "perm and bucket are [B, H, N], got " << t;
    for (unsigned d = 0; d < 3; ++d)
      if (!dimsAgree(t.getDimSize(d), x.getDimSize(d)))
        return emitOpError() << "result " << t << " does not match x " << x;
  }
  return success();
}

void RouteOp::shapeRelations(SmallVectorImpl<ShapeRelation> &out) {
  for (unsigned d = 0; d < 3; ++d) {
    out.push_back({getPerm(), d, getX(), d});
    out.push_back({getBucket(), d, getX(), d});
  }
  if (Value mu = getCentroids()) {
    out.push_back({mu, 0, getX(), 1});
    out.push_back({mu, 2, getX(), 3});
  }
}

void RouteOp::describe(attnir::RefOp &op, function_ref<int(Value)> idOf) {
  op.kind = "route";
  op.operands["x"] = idOf(getX());
  if (Value mu = getCentroids())
    op.operands["centroids"] = idOf(mu);
  if (getBitsAttr()) {
    op.ints["bits"] = *getBits();
    op.ints["seed"] = getSeed() ? static_cast<int64_t>(*getSeed()) : 0;
  }
  if (getChunks())
    op.ints["chunks"] = *getChunks();
  op.results["perm"] = idOf(getPerm());
  op.results["bucket"] = idOf(getBucket());
}

//===----------------------------------------------------------------------===//
// attn.permute
//===----------------------------------------------------------------------===//

LogicalResult PermuteOp::verify() {
  auto x = cast<RankedTensorType>(getX().getType());
  auto p = cast<RankedTensorType>(getPerm().getType());
  auto out = cast<RankedTensorType>(getOut().getType());
  if (x.getRank() != 3 && x.getRank() != 4)
    return emitOpError() << "x must be [B, H, N, D] or [B, H, N], got " << x;
  if (p.getRank() != 3)
    return emitOpError() << "perm must be [B, H, N], got " << p;
  if (out.getRank() != x.getRank() ||
      out.getElementType() != x.getElementType())
    return emitOpError() << "result " << out << " must have x's rank and "
                            "element type (x is " << x << ")";
  for (unsigned d = 0; d < 3; ++d)
    if (!dimsAgree(out.getDimSize(d), p.getDimSize(d)))
      return emitOpError() << "result " << out << " does not match perm " << p
                           << " in dimension " << d;
  if (!dimsAgree(x.getDimSize(0), p.getDimSize(0)) ||
      !dimsAgree(x.getDimSize(2), p.getDimSize(2)))
    return emitOpError() << "x " << x << " and perm " << p
                         << " differ in batch or sequence length";
  if (x.getRank() == 4 && !dimsAgree(x.getDimSize(3), out.getDimSize(3)))
    return emitOpError() << "result " << out << " must keep x's features";
  int64_t hx = x.getDimSize(1), h = p.getDimSize(1);
  if (getInverse() ? !dimsAgree(hx, h)
                   : (!ShapedType::isDynamic(hx) && !ShapedType::isDynamic(h) &&
                      (hx == 0 || h % hx)))
    return emitOpError() << "x has " << hx << " heads and perm " << h
                         << (getInverse() ? "; inverse needs the same number"
                                          : "; x's heads must divide perm's");
  return success();
}

void PermuteOp::shapeRelations(SmallVectorImpl<ShapeRelation> &out) {
  for (unsigned d = 0; d < 3; ++d)
    out.push_back({getOut(), d, getPerm(), d});
  out.push_back({getX(), 0, getPerm(), 0});
  out.push_back({getX(), 2, getPerm(), 2});
  if (getInverse())
    out.push_back({getX(), 1, getPerm(), 1});
  if (cast<RankedTensorType>(getX().getType()).getRank() == 4)
    out.push_back({getOut(), 3, getX(), 3});
}

void PermuteOp::describe(attnir::RefOp &op, function_ref<int(Value)> idOf) {
  op.kind = "permute";
  op.operands["x"] = idOf(getX());
  op.operands["perm"] = idOf(getPerm());
  op.ints["inverse"] = getInverse() ? 1 : 0;
  op.results["out"] = idOf(getOut());
}

//===----------------------------------------------------------------------===//
// attn.sample, attn.gather
//===----------------------------------------------------------------------===//

LogicalResult SampleOp::verify() {
  auto x = cast<RankedTensorType>(getX().getType());
  auto rows = cast<RankedTensorType>(getRows().getType());
  if (x.getRank() < 3)
    return emitOpError() << "x must be [B, H, M, ...] (rows sampled from dimension 2), got "
                         << x;
  int64_t count = static_cast<int64_t>(getCount());
  if (count < 0 || count > (int64_t(1) << 24))
    return emitOpError() << "count must be in [0, 2^24], got " << count;
  int64_t heads = x.getDimSize(1);
  if (Value per = getPer()) {
    auto p = cast<RankedTensorType>(per.getType());
    if (p.getRank() < 2 || !dimsAgree(p.getDimSize(0), x.getDimSize(0)))
      return emitOpError() << "per must be [B, H, ...] with x's batch, got " << p;
    heads = p.getDimSize(1);
  }
  if (rows.getRank() != 3 || !dimsAgree(rows.getDimSize(0), x.getDimSize(0)) ||
      !dimsAgree(rows.getDimSize(1), heads) || rows.getDimSize(2) != count)
    return emitOpError() << "rows must be [B, H, " << count
                         << "] (H: the heads of per, else of x), got " << rows;
  if (Value o = getOffset()) {
    auto t = cast<RankedTensorType>(o.getType());
    // Static, so that the entry's shape check refuses any other length.
    if (t.getRank() != 1 || t.getDimSize(0) != 1)
      return emitOpError() << "offset must be a one-element tensor<1xi32> or tensor<1xi64>, got "
                           << t;
  }
  return success();
}

void SampleOp::shapeRelations(SmallVectorImpl<ShapeRelation> &out) {
  out.push_back({getRows(), 0, getX(), 0});
  out.push_back({getRows(), 1, getPer() ? getPer() : getX(), 1});
  if (Value per = getPer())
    out.push_back({per, 0, getX(), 0});
}

void SampleOp::describe(attnir::RefOp &op, function_ref<int(Value)> idOf) {
  op.kind = "sample";
  op.operands["x"] = idOf(getX());
  if (Value per = getPer())
    op.operands["per"] = idOf(per);
  if (Value o = getOffset())
    op.operands["offset"] = idOf(o);
  op.ints["count"] = static_cast<int64_t>(getCount());
  op.ints["seed"] = static_cast<int64_t>(getSeed());
  op.results["rows"] = idOf(getRows());
}

void SampleOp::describeEntryRoles(EntryRoles &roles) {
  roles.dims(getX());
  if (Value per = getPer())
    roles.dims(per);
  if (Value o = getOffset())
    roles.role(o, "offset");
}

LogicalResult GatherOp::verify() {
  auto x = cast<RankedTensorType>(getX().getType());
  auto r = cast<RankedTensorType>(getRows().getType());
  auto out = cast<RankedTensorType>(getOut().getType());
  if (x.getRank() != 3 && x.getRank() != 4)
    return emitOpError() << "x must be [B, Hx, M, D] or [B, Hx, M], got " << x;
  if (r.getRank() != 3)
    return emitOpError() << "rows must be [B, H, S], got " << r;
  if (out.getRank() != x.getRank() || out.getElementType() != x.getElementType())
    return emitOpError() << "result " << out << " must have x's rank and element type (x is "
                         << x << ")";
  for (unsigned d = 0; d < 3; ++d)
    if (!dimsAgree(out.getDimSize(d), r.getDimSize(d)))
      return emitOpError() << "result " << out << " does not match rows " << r
                           << " in dimension " << d;
  if (!dimsAgree(x.getDimSize(0), r.getDimSize(0)))
    return emitOpError() << "x " << x << " and rows " << r << " differ in batch";
  if (x.getRank() == 4 && !dimsAgree(x.getDimSize(3), out.getDimSize(3)))
    return emitOpError() << "result " << out << " must keep x's features";
  int64_t hx = x.getDimSize(1), h = r.getDimSize(1);
  if (!ShapedType::isDynamic(hx) && !ShapedType::isDynamic(h) && (hx == 0 || h % hx))
    return emitOpError() << "x has " << hx << " heads and rows " << h
                         << "; x's heads must divide rows'";
  return success();
}

void GatherOp::shapeRelations(SmallVectorImpl<ShapeRelation> &out) {
  for (unsigned d = 0; d < 3; ++d)
    out.push_back({getOut(), d, getRows(), d});
  out.push_back({getX(), 0, getRows(), 0});
  if (cast<RankedTensorType>(getX().getType()).getRank() == 4)
    out.push_back({getOut(), 3, getX(), 3});
}

void GatherOp::describe(attnir::RefOp &op, function_ref<int(Value)> idOf) {
  op.kind = "gather";
  op.operands["x"] = idOf(getX());
  op.operands["rows"] = idOf(getRows());
  op.results["out"] = idOf(getOut());
}

void GatherOp::describeEntryRoles(EntryRoles &roles) {
  // Rows given as input are checked to lie in [0, M) before each call.
  roles.role(getRows(), "rows");
  roles.dims(getRows());
  roles.dimNames(getX(), {nullptr, "Hkv"});
  roles.multipleOf(getRows(), 1, getX(), 1);
  roles.rowsOf(getRows(), getX());
}

//===----------------------------------------------------------------------===//
// attn.landmark
//===----------------------------------------------------------------------===//

double LandmarkOp::getScaleValue() {
  if (auto s = getScaleAttr())
    return s.getValueAsDouble();
  return 1.0 / std::sqrt(static_cast<double>(
                   cast<RankedTensorType>(getQ().getType()).getDimSize(3)));
}

LogicalResult LandmarkOp::verify() {
  auto q = cast<RankedTensorType>(getQ().getType());
  auto k = cast<RankedTensorType>(getK().getType());
  auto v = cast<RankedTensorType>(getV().getType());
  auto lk = cast<RankedTensorType>(getLandmarks().getType());
  auto out = cast<RankedTensorType>(getOut().getType());
  auto lse = cast<RankedTensorType>(getLse().getType());
  for (RankedTensorType t : {q, k, v, lk, out})
    if (t.getRank() != 4)
      return emitOpError() << "q, k, v, landmarks and out are [B, H, ., .], got "
                           << t;
  if (lse.getRank() != 3)
    return emitOpError() << "lse is [B, Hq, N], got " << lse;
  if (getBlock() < 1 || getBlock() > (int64_t(1) << 20))
    return emitOpError() << "block must be in [1, 2^20], got " << getBlock();
  if (getTopk() && (*getTopk() < 0 || *getTopk() > (int64_t(1) << 20)))
    return emitOpError() << "topk must be in [0, 2^20], got " << *getTopk();
  if (k.getElementType() != q.getElementType() ||
      v.getElementType() != q.getElementType() ||
      lk.getElementType() != q.getElementType() ||
      out.getElementType() != q.getElementType())
    return emitOpError() << "q, k, v, landmarks and out share one element type";
  if (q.isDynamicDim(3) || v.isDynamicDim(3))
    return emitOpError() << "needs static head dims D and Dv";
  if (!dimsAgree(k.getDimSize(3), q.getDimSize(3)) ||
      !dimsAgree(lk.getDimSize(3), q.getDimSize(3)))
    return emitOpError() << "k and landmarks need q's head dim";
  for (unsigned d : {0u, 1u, 2u})
    if (!dimsAgree(v.getDimSize(d), k.getDimSize(d)))
      return emitOpError() << "v must match k in batch, heads and length";
  for (unsigned d : {0u, 1u})
    if (!dimsAgree(lk.getDimSize(d), k.getDimSize(d)))
      return emitOpError() << "landmarks must match k in batch and heads";
  if (!dimsAgree(k.getDimSize(2), q.getDimSize(2)))
    return emitOpError() << "is self-attention: q and k need one length";
  int64_t hq = q.getDimSize(1), hk = k.getDimSize(1);
  if (!ShapedType::isDynamic(hq) && !ShapedType::isDynamic(hk) &&
      (hk == 0 || hq % hk))
    return emitOpError() << "q's heads (" << hq
                         << ") must be a multiple of k's (" << hk << ")";
  for (unsigned d : {0u, 1u, 2u})
    if (!dimsAgree(out.getDimSize(d), q.getDimSize(d)) ||
        !dimsAgree(lse.getDimSize(d), q.getDimSize(d)))
      return emitOpError() << "out and lse follow q's batch, heads and length";
  if (!dimsAgree(out.getDimSize(3), v.getDimSize(3)))
    return emitOpError() << "out has v's head dim";
  return verifyScratch();
}

LogicalResult LandmarkOp::verifyScratch() {
  if (getScratch().empty())
    return success();
  if (getScratch().size() != kScratchResults || !getTopk() || *getTopk() < 1)
    return emitOpError() << "by blocks (attn-landmark-split) needs topk(K >= 1) and "
                         << kScratchResults << " scratch results, got "
                         << getScratch().size();
  auto q = cast<RankedTensorType>(getQ().getType());
  int64_t K = static_cast<int64_t>(*getTopk());
  Type i32 = IntegerType::get(getContext(), 32);
  // picks, logits, units, table, entries (AttnRouteOps.td).
  struct Want {
    Type elt;
    SmallVector<int64_t> tail;
  } want[] = {{i32, {2 * K}},
              {Float32Type::get(getContext()), {K + 1}},
              {q.getElementType(), {K, getOut().getType().getDimSize(3)}},
              {i32, {ShapedType::kDynamic, kTableRow}},
              {i32, {ShapedType::kDynamic}}};
  for (auto [i, x] : llvm::enumerate(getScratch())) {
    auto t = dyn_cast<RankedTensorType>(x.getType());
    const Want &w = want[i];
    bool ok = t && t.getElementType() == w.elt &&
              t.getRank() == 2 + static_cast<int64_t>(w.tail.size()) + (i == 3 ? 0 : 1);
    for (unsigned d = 0; ok && d < 2; ++d)
      ok = dimsAgree(t.getDimSize(d), q.getDimSize(d));
    if (ok && i != 3)
      ok = dimsAgree(t.getDimSize(2), q.getDimSize(2));
    unsigned first = i == 3 ? 2 : 3;
    for (unsigned d = 0; ok && d < w.tail.size(); ++d)
      ok = ShapedType::isDynamic(w.tail[d]) || t.getDimSize(first + d) == w.tail[d];
    // The entries: K pairs per row, or K + 1 with one-block groups.
    if (ok && i == 4)
      ok = t.getDimSize(3) == 2 * K || t.getDimSize(3) == 2 * (K + 1);
    if (!ok)
      return emitOpError() << "scratch result #" << i
                           << " does not have the by-blocks shape (AttnRouteOps.td), got "
                           << x.getType();
  }
  return success();
}

bool LandmarkOp::keepsBetweenCalls(unsigned index) {
  // The by-blocks table: its counts start at 0, and the scan returns them
  // to 0 (LandmarkBlocks.cpp).
  return isByBlocks() && index == cast<OpResult>(getScratch()[3]).getResultNumber();
}

void LandmarkOp::shapeRelations(SmallVectorImpl<ShapeRelation> &out) {
  for (unsigned d = 0; d < 3; ++d) {
    out.push_back({getOut(), d, getQ(), d});
    out.push_back({getLse(), d, getQ(), d});
    out.push_back({getV(), d, getK(), d});
  }
  out.push_back({getK(), 0, getQ(), 0});
  out.push_back({getK(), 2, getQ(), 2});
  out.push_back({getK(), 3, getQ(), 3});
  out.push_back({getLandmarks(), 0, getK(), 0});
  out.push_back({getLandmarks(), 1, getK(), 1});
  out.push_back({getLandmarks(), 3, getK(), 3});
  out.push_back({getLandmarks(), 2, getK(), 2, static_cast<int64_t>(getBlock())});
  out.push_back({getOut(), 3, getV(), 3});
  // The by-blocks scratch: q's batch, heads and length (the table: blocks).
  for (auto [i, x] : llvm::enumerate(getScratch()))
    for (unsigned d = 0; d < 3; ++d)
      out.push_back({x, d, getQ(), d == 2 && i == 3 ? 2 : d,
                     d == 2 && i == 3 ? static_cast<int64_t>(getBlock()) : 1});
}

void LandmarkOp::describe(attnir::RefOp &op, function_ref<int(Value)> idOf) {
  op.kind = "landmark";
  op.operands["q"] = idOf(getQ());
  op.operands["k"] = idOf(getK());
  op.operands["v"] = idOf(getV());
  op.operands["landmarks"] = idOf(getLandmarks());
  op.ints["block"] = getBlock();
  op.ints["topk"] = getTopk() ? static_cast<int64_t>(*getTopk()) : -1;
  op.floats["scale"] = getScaleValue();
  op.results["out"] = idOf(getOut());
  op.results["lse"] = idOf(getLse());
}

void RouteOp::describeEntryRoles(EntryRoles &roles) {
  if (Value mu = getCentroids())
    roles.role(mu, "centroids");
}

void PermuteOp::describeEntryRoles(EntryRoles &roles) {
  // A permutation given as input is checked before each call
  // (EntryABI::checkIndexOperands); a gather reads x's heads by group.
  roles.role(getPerm(), "perm");
  roles.dims(getPerm());
  roles.dims(getX());
  if (!getInverse()) {
    roles.multipleOf(getPerm(), 1, getX(), 1);
    // Gathered k and v of a GQA group: their heads default like Hkv.
    roles.dimNames(getX(), {nullptr, "Hkv"});
  }
}

void LandmarkOp::describeEntryRoles(EntryRoles &roles) {
  // Self-attention with GQA: an attention's roles and dimension names (k's
  // length is q's by its shape relations).
  roles.queriesKeysValues(getQ(), getK(), getV());
  roles.role(getLandmarks(), "landmarks");
  roles.role(getOut(), "out");
  roles.role(getLse(), "lse");
}
