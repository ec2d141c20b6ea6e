//===- AttnOps.cpp - attn op verifiers and helpers ------------------------===//

#include "attnir/Dialect/Attn/IR/AttnOps.h"
#include "mlir/IR/Matchers.h"
#include "mlir/IR/OpImplementation.h"
#include "llvm/ADT/STLExtras.h"
#include <cmath>

using namespace mlir;
using namespace mlir::attn;

#define GET_OP_CLASSES
#include "attnir/Dialect/Attn/IR/AttnOps.cpp.inc"

//===----------------------------------------------------------------------===//
// AttentionOp
//===----------------------------------------------------------------------===//

double AttentionOp::getScaleValue() {
  if (FloatAttr s = getScaleAttr())
    return s.getValueAsDouble();
  int64_t d = getQ().getType().getDimSize(3);
  return 1.0 / std::sqrt(static_cast<double>(d));
}

void AttentionOp::describe(attnir::RefOp &op,
                           function_ref<int(Value)> idOf) {
  op.kind = "attention";
  auto operand = [&](const char *role, Value v) {
    if (v)
      op.operands[role] = idOf(v);
  };
  operand("q", getQ());
  operand("k", getK());
  operand("v", getV());
  operand("kv_indices", getKvIndices());
  operand("kv_counts", getKvCounts());
  operand("q_doc", getQDoc());
  operand("k_doc", getKDoc());
  if (getFullMarked())
    op.ints["full_marked"] = 1;
  op.results["out"] = idOf(getOut());
  if (getLse())
    op.results["lse"] = idOf(getLse());
  op.floats["scale"] = getScaleValue();
  if (hasBlockList()) {
    op.ints["block_q"] = listBlockQ();
    op.ints["block_k"] = listBlockK();
  }
  for (auto [r, v] : llvm::enumerate(getRuleOperands()))
    op.operands["rule" + std::to_string(r)] = idOf(v);
  if (MaskAttrInterface mask = getScheduleMask())
    op.masks["mask"] = mask.describe();
  if (hasMaskRule())
    op.rules["mask_rule"] = describeRule(getMaskRule());
  if (hasScoreRule())
    op.rules["score_rule"] = describeRule(getScoreRule());
}

// Values: 0 q, 1 k, 2 v, 3 out, 4 lse.
ArrayRef<DimEquality> AttentionOp::getDimEqualities() {
  static const DimEquality eqs[] = {
      {0, 0, 1, 0}, {0, 0, 2, 0}, {0, 0, 3, 0}, // B
      {1, 1, 2, 1},                             // Hkv
      {1, 2, 2, 2},                             // M
      {0, 3, 1, 3},                             // D
      {0, 1, 3, 1}, {0, 2, 3, 2},               // Hq, N of out
      {2, 3, 3, 3},                             // Dv
      {0, 0, 4, 0}, {0, 1, 4, 1}, {0, 2, 4, 2}, // lse [B, Hq, N]
  };
  return eqs;
}

namespace {
const char *const kValueNames[] = {"q", "k", "v", "out", "lse"};
const char *const kQDims[] = {"B", "Hq", "N", "D"};
const char *const kKDims[] = {"B", "Hkv", "M", "D"};
const char *const kVDims[] = {"B", "Hkv", "M", "Dv"};
const char *const kOutDims[] = {"B", "Hq", "N", "Dv"};
const char *const *const kDimNames[] = {kQDims, kKDims, kVDims, kOutDims,
                                        kOutDims};
} // namespace

LogicalResult AttentionOp::verify() {
  SmallVector<RankedTensorType> types = {
      getQ().getType(), getK().getType(), getV().getType(), getOut().getType()};
  if (getLse())
    types.push_back(cast<RankedTensorType>(getLse().getType()));

  for (auto [idx, t] : llvm::enumerate(types)) {
    int64_t want = idx == 4 ? 3 : 4;
    if (t.getRank() != want)
      return emitOpError() << kValueNames[idx] << " must have rank " << want
                           << (idx == 4 ? " [B, Hq, N]" : "") << ", got rank "
                           << t.getRank() << " (" << t << ")";
  }
  Type elt = types[0].getElementType();
  for (unsigned idx = 1; idx < 4; ++idx)
    if (types[idx].getElementType() != elt)
      return emitOpError() << kValueNames[idx] << " has element type "
                           << types[idx].getElementType()
                           << " but q has " << elt
                           << "; q, k, v and out must share one element type";

  for (const DimEquality &e : getDimEqualities()) {
    if (e.lhs >= types.size() || e.rhs >= types.size())
      continue;
    int64_t a = types[e.lhs].getDimSize(e.lhsDim);
    int64_t b = types[e.rhs].getDimSize(e.rhsDim);
    if (ShapedType::isDynamic(a) || ShapedType::isDynamic(b) || a == b)
      continue;
    return emitOpError() << kValueNames[e.rhs] << " dimension " << e.rhsDim
                         << " (" << kDimNames[e.rhs][e.rhsDim] << ") is " << b
                         << " but " << kValueNames[e.lhs] << " dimension "
                         << e.lhsDim << " (" << kDimNames[e.lhs][e.lhsDim]
                         << ") is " << a;
  }

  int64_t hq = types[0].getDimSize(1), hkv = types[1].getDimSize(1);
  if (!ShapedType::isDynamic(hkv) && hkv == 0)
    return emitOpError() << "k dimension 1 (Hkv) must be positive";
  if (!ShapedType::isDynamic(hq) && !ShapedType::isDynamic(hkv) &&
      hq % hkv != 0)
    return emitOpError() << "q dimension 1 (Hq) is " << hq
                         << ", not a multiple of k dimension 1 (Hkv) " << hkv;
  if (ShapedType::isDynamic(types[0].getDimSize(3)))
    return emitOpError() << "q dimension 3 (D) must be static";
  if (ShapedType::isDynamic(types[2].getDimSize(3)))
    return emitOpError() << "v dimension 3 (Dv) must be static";
  if (types[0].getDimSize(3) == 0 || types[2].getDimSize(3) == 0)
    return emitOpError() << "head dimensions D and Dv must be positive";
  if (FloatAttr s = getScaleAttr())
    if (!std::isfinite(s.getValueAsDouble()))
      return emitOpError() << "scale must be finite, got "
                           << s.getValueAsDouble();
  if (failed(verifyBlockList()) || failed(verifyRules()))
    return failure();
  if (MaskAttrInterface mask = getMaskAttr(); mask && isa<RuleAttr>(mask))
    return emitOpError() << "#attn.rule stands for a mask_rule region; write "
                            "the region instead";
  return verifySegments();
}

// q_doc [B, N] and k_doc [B, M], present exactly when a mask reads them.
LogicalResult AttentionOp::verifySegments() {
  bool have = static_cast<bool>(getQDoc());
  if (have != static_cast<bool>(getKDoc()))
    return emitOpError() << "q_doc and k_doc come together";
  MaskAttrInterface mask = getMaskAttr();
  bool reads = mask && mask.readsOperands();
  if (reads && !have)
    return emitOpError() << "mask " << mask
                         << " reads document ids: add segments(%q_doc, "
                            "%k_doc)";
  if (!have)
    return success();
  if (!reads)
    return emitOpError() << "segments(...) given but no mask reads them "
                            "(use #attn.segments)";
  for (auto [what, v, seq] :
       {std::tuple<const char *, Value, Value>{"q_doc", getQDoc(), getQ()},
        {"k_doc", getKDoc(), getK()}}) {
    auto t = cast<RankedTensorType>(v.getType());
    auto st = cast<RankedTensorType>(seq.getType());
    if (t.getRank() != 2)
      return emitOpError() << what << " must have rank 2 [B, "
                           << (v == getQDoc() ? "N" : "M") << "], got " << t;
    if (!dimsAgree(t.getDimSize(0), st.getDimSize(0)) ||
        !dimsAgree(t.getDimSize(1), st.getDimSize(2)))
      return emitOpError() << what << " " << t << " does not match "
                           << (v == getQDoc() ? "q " : "k ") << st;
  }
  return success();
}

// kv_indices [B, Hl, ceil(N / block_q), K], kv_counts [B, Hl, ceil(N /
// block_q)]; Hl in {1, Hq, Hkv} is checked at run time where it is dynamic.
LogicalResult AttentionOp::verifyBlockList() {
  bool haveIdx = static_cast<bool>(getKvIndices());
  if (haveIdx != static_cast<bool>(getKvCounts()))
    return emitOpError() << "kv_indices and kv_counts come together";
  if (!haveIdx) {
    if (getBlockQAttr() || getBlockKAttr())
      return emitOpError() << "block_size needs a block list";
    if (getFullMarked())
      return emitOpError() << "full_marked needs a block list";
    return success();
  }
  if (!getBlockQAttr() || !getBlockKAttr())
    return emitOpError() << "a block list needs block_size(block_q, block_k)";
  int64_t bq = listBlockQ(), bk = listBlockK();
  if (bq <= 0 || bk <= 0 || bq > (1 << 20) || bk > (1 << 20))
    return emitOpError() << "block sizes must be in [1, 2^20], got ("
                         << bq << ", " << bk << ")";
  auto idx = cast<RankedTensorType>(getKvIndices().getType());
  auto cnt = cast<RankedTensorType>(getKvCounts().getType());
  if (idx.getRank() != 4)
    return emitOpError() << "kv_indices must have rank 4 [B, H, "
                            "ceil(N / block_q), K], got "
                         << idx;
  if (cnt.getRank() != 3)
    return emitOpError() << "kv_counts must have rank 3 [B, H, "
                            "ceil(N / block_q)], got "
                         << cnt;
  RankedTensorType qT = getQ().getType();
  if (!dimsAgree(idx.getDimSize(0), qT.getDimSize(0)))
    return emitOpError() << "kv_indices dimension 0 (B) is "
                         << idx.getDimSize(0) << " but q's is "
                         << qT.getDimSize(0);
  for (int64_t d = 0; d < 3; ++d)
    if (!dimsAgree(idx.getDimSize(d), cnt.getDimSize(d)))
      return emitOpError() << "kv_counts dimension " << d << " is "
                           << cnt.getDimSize(d) << " but kv_indices' is "
                           << idx.getDimSize(d);
  int64_t n = qT.getDimSize(2), nqb = idx.getDimSize(2);
  if (!ShapedType::isDynamic(n) && !ShapedType::isDynamic(nqb) &&
      nqb != static_cast<int64_t>(llvm::divideCeil(n, bq)))
    return emitOpError() << "kv_indices dimension 2 must be ceil(N / "
                            "block_q) = "
                         << llvm::divideCeil(n, bq) << ", got " << nqb;
  int64_t hl = idx.getDimSize(1), hq = qT.getDimSize(1),
          hkv = getK().getType().getDimSize(1);
  if (!ShapedType::isDynamic(hl) && !ShapedType::isDynamic(hq) &&
      !ShapedType::isDynamic(hkv) && hl != 1 && hl != hq && hl != hkv)
    return emitOpError() << "kv_indices dimension 1 must be 1, Hq or Hkv, "
                            "got "
                         << hl;
  return success();
}

//===----------------------------------------------------------------------===//
// KVBlockUpdateOp
//===----------------------------------------------------------------------===//

/// The packed forms' rules: bf16 pairs (qT, kT and v of i32), AMX tiles
/// and the three-piece split.
static LogicalResult verifyPackedForm(KVBlockUpdateOp op, bool pairs, bool inPlace) {
  auto acc = op.getAcc().getType(), scores = op.getScores().getType();
  auto kT = cast<MemRefType>(op.getKT().getType());
  auto vT = cast<MemRefType>(op.getV().getType());
  int64_t rows = op.getMIn().getType().getDimSize(0);
  if (pairs != kT.getElementType().isInteger(32) ||
      pairs != vT.getElementType().isInteger(32) || (pairs && inPlace))
    return op.emitOpError() << "bf16 pairs need qT, packed kT and v all of i32";
  // split: v holds three pieces of each padded value row.
  int64_t vPieces = op.getSplit() ? 3 : 1;
  if (pairs && (!op.getScale() || scores.getDimSize(1) % 32 != 0 ||
                vT.getDimSize(3) != vPieces * acc.getDimSize(1)))
    return op.emitOpError() << "bf16 pairs need a scale, a key block that is a "
                               "multiple of 32 and v's last dimension equal to "
                               "acc's";
  if (op.getAmx() && (!pairs || rows % 16 != 0 || kT.getDimSize(3) % 16 != 0 ||
                      !op.getScoreRule().empty() || op.getScale()->convertToFloat() <= 0))
    return op.emitOpError() << "amx needs bf16 pairs, rows a multiple of 16, D "
                               "a multiple of 32, no score rule and a positive "
                               "scale";
  if (op.getSplit() && (!op.getAmx() || kT.getDimSize(3) % 3 != 0 ||
                        vT.getDimSize(3) % 3 != 0))
    return op.emitOpError() << "split needs amx and three pieces along kT "
                               "dimension 3 and v dimension 3";
  return success();
}

LogicalResult KVBlockUpdateOp::verify() {
  auto acc = getAcc().getType(), scores = getScores().getType();
  auto qT = getQT().getType();
  int64_t rows = getMIn().getType().getDimSize(0);
  if (!acc.hasStaticShape() || !scores.hasStaticShape() ||
      !qT.hasStaticShape())
    return emitOpError() << "qT, acc and scores must have static shapes";
  auto kT = cast<MemRefType>(getKT().getType());
  // qT [rows, D] against packed kT [B, Hkv, Mpad / BK, D, BK] or, in place
  // (decoding), K [B, Hkv, M, D]; bf16 pairs off AMX: qT [D / 2, rows].
  bool inPlace = kT.getRank() == 4;
  // bf16 pairs: qT, kT and v all of i32, packed (not in place).
  bool pairs = qT.getElementType().isInteger(32);
  if (failed(verifyPackedForm(*this, pairs, inPlace)))
    return failure();
  int64_t rowDim = pairs && !getAmx() ? 1 : 0;
  if (qT.getDimSize(rowDim) != rows)
    return emitOpError() << "qT dimension " << rowDim << " must be the tile's "
                         << rows << " rows, got " << qT.getDimSize(rowDim);
  if (qT.getDimSize(1 - rowDim) != kT.getDimSize(3))
    return emitOpError() << "qT dimension " << 1 - rowDim
                         << (pairs ? " (D / 2)" : " (D)")
                         << " must match kT dimension 3";
  // split: scores rows hold the scores and then P's three pieces.
  int64_t scoreCols = kT.getDimSize(4) * (getSplit() ? 2 : 1);
  if (!inPlace && scoreCols != scores.getDimSize(1))
    return emitOpError() << "scores dimension 1 must be "
                         << (getSplit() ? "twice " : "")
                         << "the key block size (kT dimension 4), got "
                         << scores.getDimSize(1);
  if (inPlace && (kT.getElementType() != getV().getType().getElementType() ||
                  getV().getType().getDimSize(3) != acc.getDimSize(1)))
    return emitOpError() << "keys in place need K and V of one element type "
                            "and V's last dimension equal to acc's";
  if (acc.getDimSize(0) != rows || scores.getDimSize(0) != rows)
    return emitOpError() << "acc, scores and the state vectors must have the "
                            "same number of rows ("
                         << rows << ")";
  if (scores.getDimSize(1) % 16 != 0)
    return emitOpError() << "key block (scores dimension 1) must be a "
                            "multiple of 16, got "
                         << scores.getDimSize(1);
  if (acc.getDimSize(1) % 16 != 0)
    return emitOpError() << "acc dimension 1 (padded Dv) must be a multiple "
                            "of 16, got "
                         << acc.getDimSize(1);
  if (getKeys() && !matchPattern(getMasked(), m_One()))
    return emitOpError() << "gathered keys need masked = true (padding "
                            "slots are masked by position)";
  return success();
}

void AttentionOp::describeEntryRoles(EntryRoles &roles) {
  Value q = getQ(), k = getK();
  roles.queriesKeysValues(q, k, getV());
  roles.role(getOut(), "out");
  if (getLse())
    roles.role(getLse(), "lse");
  if (hasBlockList()) {
    // kv_indices [B, Hl, ceil(N / block_q), K], kv_counts [B, Hl,
    // ceil(N / block_q)].
    Value idx = getKvIndices(), cnt = getKvCounts();
    roles.role(idx, "kv_indices");
    roles.dims(idx);
    roles.role(cnt, "kv_counts");
    roles.dims(cnt);
    roles.sameDim(idx, 0, q, 0);
    for (unsigned d = 0; d < 3; ++d)
      roles.sameDim(idx, d, cnt, d);
    roles.dimNames(idx, {"B", "list_heads", "q_blocks", "list_len"});
    roles.blockList(idx, cnt, q, k, listBlockQ(), listBlockK());
    // A list a select makes in the program names blocks of these keys:
    // the select's scores have one column per key block (a mismatch would
    // select blocks past M, or never the last ones).
    if (auto sel = idx.getDefiningOp<SelectOp>())
      roles.relation({sel.getScores(), 3, k, 2, listBlockK()});
  }
  if (Value qd = getQDoc()) {
    // q_doc [B, N], k_doc [B, M].
    Value kd = getKDoc();
    roles.role(qd, "q_doc");
    roles.dims(qd);
    roles.role(kd, "k_doc");
    roles.dims(kd);
    roles.sameDim(qd, 0, q, 0);
    roles.sameDim(qd, 1, q, 2);
    roles.sameDim(kd, 0, k, 0);
    roles.sameDim(kd, 1, k, 2);
  }
  SmallVector<Value> vals = {q, k, getV(), getOut()};
  if (getLse())
    vals.push_back(getLse());
  for (Value v : vals)
    roles.dims(v);
  for (const DimEquality &e : getDimEqualities())
    if (e.lhs < vals.size() && e.rhs < vals.size())
      roles.sameDim(vals[e.lhs], e.lhsDim, vals[e.rhs], e.rhsDim);
  for (Value r : getRuleOperands()) {
    roles.role(r, "rule");
    roles.dims(r);
  }
  SmallVector<ShapeRelation> ruleRels;
  ruleShapeRelations(ruleRels);
  for (const ShapeRelation &r : ruleRels)
    roles.sameDim(r.lhs, r.lhsDim, r.rhs, r.rhsDim);
}
