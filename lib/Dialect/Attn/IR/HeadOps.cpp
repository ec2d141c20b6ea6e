//===- HeadOps.cpp - split_heads, join_heads: verifiers, shapes, reference ===//
//
// Groups of heads as values of their own, so that heads following
// different patterns run as separate ops of one program (AttnRouteOps.td).
//
//===----------------------------------------------------------------------===//

#include "attnir/Dialect/Attn/IR/AttnOps.h"

using namespace mlir;
using namespace mlir::attn;

/// The checks split and join share: `dim` inside `whole`'s rank, each part
/// of `whole`'s rank and element type, equal to it outside `dim`, with
/// ceil(H / P) heads where both are static.
static LogicalResult verifyHeadGroups(Operation *op, RankedTensorType whole, TypeRange parts,
                                      int64_t dim) {
  if (parts.empty() || parts.size() > 1024)
    return op->emitOpError() << "needs 1 to 1024 parts, got " << parts.size();
  if (dim < 0 || dim >= whole.getRank())
    return op->emitOpError() << "dim " << dim << " is outside the rank of " << whole;
  Type elt = whole.getElementType();
  if (!isa<FloatType>(elt) && !elt.isInteger(32) && !elt.isInteger(64))
    return op->emitOpError() << "takes float, i32 or i64 tensors, got " << whole;
  int64_t P = static_cast<int64_t>(parts.size()), H = whole.getDimSize(dim);
  for (Type t : parts) {
    auto pt = cast<RankedTensorType>(t);
    if (pt != parts.front())
      return op->emitOpError() << "parts must have one type, got " << parts.front() << " and "
                               << pt;
    if (pt.getRank() != whole.getRank() || pt.getElementType() != elt)
      return op->emitOpError() << "part " << pt << " must have the rank and element type of "
                               << whole;
    for (int64_t d = 0; d < whole.getRank(); ++d)
      if (d != dim && !dimsAgree(pt.getDimSize(d), whole.getDimSize(d)))
        return op->emitOpError() << "part " << pt << " and " << whole << " differ in dimension "
                                 << d;
  }
  int64_t Hp = cast<RankedTensorType>(parts.front()).getDimSize(dim);
  if (!ShapedType::isDynamic(H)) {
    if (H % P != 0 && (H == 0 || P % H != 0))
      return op->emitOpError() << H << " heads are neither a multiple nor a divisor of " << P
                               << " parts";
    if (!dimsAgree(Hp, (H + P - 1) / P))
      return op->emitOpError() << "parts of " << H << " heads in " << P << " have "
                               << (H + P - 1) / P << " heads each, got " << Hp;
  }
  return success();
}

LogicalResult SplitHeadsOp::verify() {
  return verifyHeadGroups(*this, cast<RankedTensorType>(getX().getType()),
                          getParts().getTypes(), getDim());
}

void SplitHeadsOp::shapeRelations(SmallVectorImpl<ShapeRelation> &out) {
  int64_t P = static_cast<int64_t>(getParts().size());
  unsigned dim = static_cast<unsigned>(getDim());
  for (Value part : getParts())
    for (unsigned d = 0; d < cast<RankedTensorType>(part.getType()).getRank(); ++d)
      out.push_back({part, d, getX(), d, d == dim ? P : 1});
}

void SplitHeadsOp::describe(attnir::RefOp &op, function_ref<int(Value)> idOf) {
  op.kind = "split_heads";
  op.operands["x"] = idOf(getX());
  op.ints["dim"] = getDim();
  op.ints["parts"] = static_cast<int64_t>(getParts().size());
  for (auto [p, v] : llvm::enumerate(getParts()))
    op.results["part" + std::to_string(p)] = idOf(v);
}

void SplitHeadsOp::describeEntryRoles(EntryRoles &roles) {
  roles.dims(getX());
  roles.splitHeads(getX(), static_cast<unsigned>(getDim()),
                   static_cast<int64_t>(getParts().size()));
}

LogicalResult JoinHeadsOp::verify() {
  auto out = cast<RankedTensorType>(getOut().getType());
  if (failed(verifyHeadGroups(*this, out, getParts().getTypes(), getDim())))
    return failure();
  int64_t P = static_cast<int64_t>(getParts().size());
  int64_t Hp = cast<RankedTensorType>(getParts().front().getType()).getDimSize(getDim());
  int64_t H = out.getDimSize(getDim());
  if (!ShapedType::isDynamic(Hp) && !dimsAgree(H, P * Hp))
    return emitOpError() << P << " parts of " << Hp << " heads join into " << P * Hp
                         << " heads, got " << out;
  return success();
}

void JoinHeadsOp::shapeRelations(SmallVectorImpl<ShapeRelation> &out) {
  Value first = getParts().front();
  unsigned rank = static_cast<unsigned>(cast<RankedTensorType>(first.getType()).getRank());
  for (Value part : getParts().drop_front())
    for (unsigned d = 0; d < rank; ++d)
      out.push_back({part, d, first, d});
  for (unsigned d = 0; d < rank; ++d)
    if (d != getDim())
      out.push_back({getOut(), d, first, d});
}

void JoinHeadsOp::describe(attnir::RefOp &op, function_ref<int(Value)> idOf) {
  op.kind = "join_heads";
  for (auto [p, v] : llvm::enumerate(getParts()))
    op.operands["part" + std::to_string(p)] = idOf(v);
  op.ints["dim"] = getDim();
  op.ints["parts"] = static_cast<int64_t>(getParts().size());
  op.results["out"] = idOf(getOut());
}

void JoinHeadsOp::describeEntryRoles(EntryRoles &roles) {
  roles.dims(getOut());
  roles.joinHeads(getOut(), getParts().front(), static_cast<unsigned>(getDim()),
                  static_cast<int64_t>(getParts().size()));
}
