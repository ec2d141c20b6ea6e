//===- RuleRegions.cpp - attn.attention's mask_rule and score_rule --------===//
//
// The verifier of the rule regions, their description for the float64
// reference (a RefRule: one instruction per op) and #attn.rule, the mask
// that stands for a mask_rule region in the lowerings. The op set a region
// may hold is the reference's (attnir::isRuleOp), so what verifies is what
// the reference can evaluate.
//
//===----------------------------------------------------------------------===//

#include "MaskIR.h"
#include "attnir/Dialect/Attn/IR/AttnOps.h"
#include "attnir/Reference/RuleProgram.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "mlir/IR/Matchers.h"

using namespace mlir;
using namespace mlir::attn;

//===----------------------------------------------------------------------===//
// #attn.rule
//===----------------------------------------------------------------------===//

attnir::RefMask RuleAttr::describe() const { return {"rule", {}, {}}; }

bool RuleAttr::keep(int64_t, int64_t, int64_t, int64_t) const { return true; }

KeyRange RuleAttr::keyRange(int64_t, int64_t, int64_t, int64_t m) const {
  return {0, m, 0, 0};
}

Value RuleAttr::buildKeep(OpBuilder &b, Location loc, Value i, Value, Value,
                          Value) const {
  return maskir::keepAll(b, loc, i);
}

KeyRangeValues RuleAttr::buildKeyRange(OpBuilder &b, Location loc, Value,
                                       Value, Value, Value m) const {
  return maskir::allVisible(b, loc, m);
}

SmallVector<KeyRangeValues>
RuleAttr::buildKeyRangesAt(OpBuilder &b, Location loc,
                           const MaskSiteValues &site, Value, Value) const {
  KeyRangeValues r = maskir::allVisible(b, loc, site.m);
  // The key schedule asks site.ruleBlock per block (KeySchedule.cpp).
  if (site.ruleBlock)
    r.fullEnd = site.m;
  return {r};
}

bool RuleAttr::keepAt(const MaskSite &site, int64_t i, int64_t j) const {
  return !site.region || site.region(site, i, j);
}

Value RuleAttr::buildKeepAt(OpBuilder &b, Location loc,
                            const MaskSiteValues &site, Value i, Value j,
                            Value n, Value m) const {
  if (!site.rule)
    return buildKeep(b, loc, i, j, n, m);
  return site.rule(b, loc, i, j);
}

//===----------------------------------------------------------------------===//
// AttentionOp
//===----------------------------------------------------------------------===//

MaskAttrInterface AttentionOp::getScheduleMask() {
  MaskAttrInterface mask = getMaskAttr();
  if (!hasMaskRule())
    return mask;
  auto rule = cast<MaskAttrInterface>(RuleAttr::get(getContext()));
  if (!mask)
    return rule;
  return cast<MaskAttrInterface>(
      AllOfAttr::get(getContext(), ArrayRef<MaskAttrInterface>{mask, rule}));
}

namespace {
/// The scalar types a rule may compute in (the reference's kinds).
bool isScalar(Type t) {
  if (auto it = dyn_cast<IntegerType>(t))
    return it.getWidth() <= 64;
  return isa<IndexType>(t) || t.isF32() || t.isF16() || t.isBF16();
}
} // namespace

/// The region's block arguments: `leading`, then one per rule operand.
static LogicalResult verifyRuleArguments(Operation *op, ValueRange ruleOperands, Block &blk,
                                         StringRef name, ArrayRef<Type> leading) {
  SmallVector<Type> want(leading);
  for (Value v : ruleOperands)
    want.push_back(v.getType());
  if (blk.getNumArguments() != want.size()) {
    InFlightDiagnostic d = op->emitOpError()
                           << name << " takes " << want.size()
                           << " arguments (";
    llvm::interleaveComma(want, d);
    return d << "), got " << blk.getNumArguments();
  }
  for (auto [k, arg] : llvm::enumerate(blk.getArguments()))
    if (arg.getType() != want[k])
      return op->emitOpError() << name << " argument " << k << " must be "
                              << want[k] << ", got " << arg.getType();
  return success();
}

/// One op of a rule body (not the yield): an op the reference knows, with
/// one scalar result, scalar operands, reading only the rule operands.
static LogicalResult verifyRuleBodyOp(Operation &inner, Block &blk, StringRef name,
                                      size_t numLeading) {
  auto isOperandArg = [&](Value v) {
    auto arg = dyn_cast<BlockArgument>(v);
    return arg && arg.getOwner() == &blk && arg.getArgNumber() >= numLeading;
  };
  StringRef opName = inner.getName().getStringRef();
  if (!attnir::isRuleOp(std::string_view(opName.data(), opName.size())))
    return inner.emitOpError()
           << "may not appear in " << name
           << " (rules use arith and math ops on scalars, tensor.extract "
              "and tensor.dim of the rule operands)";
  if (inner.getNumRegions() || inner.getNumResults() != 1 ||
      !isScalar(inner.getResult(0).getType()))
    return inner.emitOpError()
           << "in " << name
           << " must have one scalar result (i1 to i64, index, f32, f16 or "
              "bf16)";
  if (auto c = dyn_cast<arith::ConstantOp>(inner))
    if (!isa<IntegerAttr, FloatAttr>(c.getValue()))
      return inner.emitOpError() << "in " << name
                                 << " must be a scalar constant";
  if (isa<tensor::ExtractOp, tensor::DimOp>(inner) &&
      !isOperandArg(inner.getOperand(0)))
    return inner.emitOpError() << "in " << name
                               << " must read one of the rule operands "
                                  "(an argument of the region)";
  if (isa<tensor::DimOp>(inner) &&
      !matchPattern(inner.getOperand(1), m_Constant()))
    return inner.emitOpError() << "in " << name
                               << " needs a constant dimension";
  for (Value v : inner.getOperands())
    if (!isScalar(v.getType()) && !isa<tensor::ExtractOp, tensor::DimOp>(inner))
      return inner.emitOpError() << "in " << name
                                 << " must take scalars only";
  return success();
}

/// One region: one block whose arguments are `leading` then one tensor per
/// rule operand, ops the reference knows with scalar results, tensor reads
/// of the block's own tensor arguments only, ending in attn.yield of
/// `results`.
LogicalResult mlir::attn::verifyRule(Operation *op, ValueRange ruleOperands,
                                     Region &r, StringRef name,
                                     ArrayRef<Type> leading,
                                     ArrayRef<Type> results) {
  if (r.empty())
    return success();
  if (!r.hasOneBlock())
    return op->emitOpError() << name << " must have exactly one block";
  Block &blk = r.front();
  if (failed(verifyRuleArguments(op, ruleOperands, blk, name, leading)))
    return failure();
  for (Operation &inner : blk) {
    if (auto y = dyn_cast<YieldOp>(inner)) {
      if (TypeRange(y.getValues().getTypes()) != TypeRange(results)) {
        InFlightDiagnostic d = y.emitOpError() << "of " << name << " must yield ";
        llvm::interleaveComma(results, d);
        d << ", got ";
        llvm::interleaveComma(y.getValues().getTypes(), d);
        return d;
      }
      continue;
    }
    if (failed(verifyRuleBodyOp(inner, blk, name, leading.size())))
      return failure();
  }
  if (blk.empty() || !isa<YieldOp>(blk.back()))
    return op->emitOpError() << name << " must end in attn.yield";
  return success();
}

LogicalResult AttentionOp::verifyRules() {
  if (!getRuleOperands().empty() && !hasMaskRule() && !hasScoreRule())
    return emitOpError() << "rules(...) operands are read by no mask_rule or "
                            "score_rule region";
  Builder b(getContext());
  Type idx = b.getIndexType(), f32 = b.getF32Type();
  if (failed(verifyRule(*this, getRuleOperands(), getMaskRule(), "mask_rule",
                        {idx, idx, idx, idx}, {b.getI1Type()})))
    return failure();
  return verifyRule(*this, getRuleOperands(), getScoreRule(), "score_rule",
                    {f32, idx, idx, idx, idx}, {f32});
}

namespace {
int64_t kindOf(Type t) {
  if (t.isF16())
    return 116;
  if (t.isBF16())
    return 117;
  if (isa<FloatType>(t))
    return 0;
  if (isa<IndexType>(t))
    return 64;
  return cast<IntegerType>(t).getWidth();
}
} // namespace

attnir::RefRule mlir::attn::describeRule(Region &r) {
  attnir::RefRule rule;
  Block &blk = r.front();
  DenseMap<Value, int> ids;
  for (BlockArgument a : blk.getArguments())
    ids[a] = rule.numArgs++;
  int next = rule.numArgs;
  for (Operation &op : blk) {
    attnir::RefInstr in;
    for (Value v : op.getOperands())
      in.operands.push_back(ids.lookup(v));
    if (isa<YieldOp>(op)) {
      in.name = "yield";
      rule.instrs.push_back(std::move(in));
      break;
    }
    in.name = op.getName().getStringRef().str();
    Type t = op.getResult(0).getType();
    in.ints.push_back(kindOf(t));
    if (auto c = dyn_cast<arith::CmpIOp>(op))
      in.ints.push_back(static_cast<int64_t>(c.getPredicate()));
    else if (auto c = dyn_cast<arith::CmpFOp>(op))
      in.ints.push_back(static_cast<int64_t>(c.getPredicate()));
    else if (auto c = dyn_cast<arith::ConstantOp>(op)) {
      if (auto f = dyn_cast<FloatAttr>(c.getValue()))
        in.value = f.getValueAsDouble();
      else
        in.ints.push_back(cast<IntegerAttr>(c.getValue()).getValue().getSExtValue());
    }
    rule.instrs.push_back(std::move(in));
    ids[op.getResult(0)] = next++;
  }
  return rule;
}

void AttentionOp::ruleShapeRelations(SmallVectorImpl<ShapeRelation> &out) {
  for (auto [region, firstArg] : {std::pair<Region *, unsigned>{&getMaskRule(), 0},
                                  {&getScoreRule(), 1}}) {
    unsigned first = firstArg; // lambdas capture no structured bindings
    if (region->empty())
      continue;
    Block &blk = region->front();
    unsigned numLeading = blk.getNumArguments() - getRuleOperands().size();
    // (b, h, i, j) -> (value, dim) of the sequence dimension they range over.
    std::pair<Value, unsigned> ranges[] = {
        {getQ(), 0}, {getQ(), 1}, {getQ(), 2}, {getK(), 2}};
    blk.walk([&](tensor::ExtractOp x) {
      auto src = dyn_cast<BlockArgument>(x.getTensor());
      if (!src || src.getOwner() != &blk || src.getArgNumber() < numLeading)
        return;
      Value operand = getRuleOperands()[src.getArgNumber() - numLeading];
      for (auto [d, idx] : llvm::enumerate(x.getIndices())) {
        auto arg = dyn_cast<BlockArgument>(idx);
        if (!arg || arg.getOwner() != &blk || arg.getArgNumber() < first ||
            arg.getArgNumber() >= first + 4)
          continue;
        auto [seq, seqDim] = ranges[arg.getArgNumber() - first];
        out.push_back({operand, static_cast<unsigned>(d), seq, seqDim});
      }
    });
  }
}

//===----------------------------------------------------------------------===//
// RuleBlocksOp
//===----------------------------------------------------------------------===//

LogicalResult RuleBlocksOp::verify() {
  if (getBlockQ() <= 0 || getBlockK() <= 0)
    return emitOpError() << "block sizes must be positive";
  auto idx = getKvIndices().getType(), cnt = getKvCounts().getType();
  if (idx.getRank() != 4 || cnt.getRank() != 3)
    return emitOpError() << "kv_indices has rank 4 and kv_counts rank 3";
  if (getStamps().getType() != cnt)
    return emitOpError() << "stamps must have the type of kv_counts";
  if (getChanges().getType() !=
      RankedTensorType::get({1}, IntegerType::get(getContext(), 32)))
    return emitOpError() << "changes must be a tensor<1xi32>";
  if (getSnapshots().size() != getRuleOperands().size() ||
      !llvm::equal(getSnapshots().getTypes(), getRuleOperands().getTypes()))
    return emitOpError() << "needs one snapshot of each rule operand's type";
  Builder b(getContext());
  Type index = b.getIndexType();
  if (failed(verifyRule(*this, getRuleOperands(), getMaskRule(), "mask_rule",
                        {index, index, index, index}, b.getI1Type())))
    return failure();
  // One map for all heads is only right when the rule ignores the head.
  if (isShared() && !getMaskRule().front().getArgument(1).use_empty())
    return emitOpError() << "a map shared by all heads (dimension 1 of "
                            "kv_indices is 1) needs a rule that does not read h";
  return success();
}

bool RuleBlocksOp::keepsBetweenCalls(unsigned) {
  // The map is kept while the rule's operands do not change (the snapshot
  // kernels compare them).
  return true;
}

void RuleBlocksOp::shapeRelations(SmallVectorImpl<ShapeRelation> &out) {
  Value idx = getKvIndices(), cnt = getKvCounts();
  out.push_back({idx, 0, getQ(), 0});
  if (!isShared())
    out.push_back({idx, 1, getQ(), 1});
  out.push_back({idx, 2, getQ(), 2, static_cast<int64_t>(getBlockQ())});
  out.push_back({idx, 3, getK(), 2, static_cast<int64_t>(getBlockK())});
  for (unsigned d = 0; d < 3; ++d) {
    out.push_back({cnt, d, idx, d});
    out.push_back({getStamps(), d, idx, d});
  }
  for (auto [snap, operand] : llvm::zip(getSnapshots(), getRuleOperands()))
    for (unsigned d = 0; d < cast<RankedTensorType>(snap.getType()).getRank();
         ++d)
      out.push_back({snap, d, operand, d});
}

void RuleBlocksOp::describe(attnir::RefOp &op, function_ref<int(Value)> idOf) {
  op.kind = "rule_blocks";
  op.operands["q"] = idOf(getQ());
  op.operands["k"] = idOf(getK());
  for (auto [r, v] : llvm::enumerate(getRuleOperands()))
    op.operands["rule" + std::to_string(r)] = idOf(v);
  op.results["kv_indices"] = idOf(getKvIndices());
  op.results["kv_counts"] = idOf(getKvCounts());
  op.ints["block_q"] = getBlockQ();
  op.ints["block_k"] = getBlockK();
  if (MaskAttrInterface mask = getMaskAttr())
    op.masks["mask"] = mask.describe();
  op.rules["mask_rule"] = describeRule(getMaskRule());
}
