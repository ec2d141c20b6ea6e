//===- MergeOp.cpp - attn.merge: verifier, shapes, reference --------------===//

#include "attnir/Dialect/Attn/IR/AttnOps.h"
#include "attnir/Reference/Program.h"

using namespace mlir;
using namespace mlir::attn;

namespace {
/// Equal, or one of them dynamic.
bool agree(int64_t a, int64_t b) {
  return ShapedType::isDynamic(a) || ShapedType::isDynamic(b) || a == b;
}
} // namespace

LogicalResult MergeOp::verify() {
  size_t n = getParts().size();
  if (n < 2 || n % 2)
    return emitOpError() << "takes (out, lse) pairs: an even number of "
                            "operands, at least 2; got "
                         << n;
  auto out = cast<RankedTensorType>(getOut().getType());
  auto lse = cast<RankedTensorType>(getLse().getType());
  if (out.getRank() != 4 || lse.getRank() != 3)
    return emitOpError() << "returns out [B, H, N, Dv] and lse [B, H, N]";
  for (unsigned r = 0; r < getNumPairs(); ++r) {
    auto o = cast<RankedTensorType>(getPartOut(r).getType());
    auto l = cast<RankedTensorType>(getPartLse(r).getType());
    if (o.getRank() != 4 || l.getRank() != 3 || !l.getElementType().isF32())
      return emitOpError() << "pair #" << r << " must be out [B, H, N, Dv] "
                              "and lse [B, H, N] f32, got "
                           << o << " and " << l;
    for (int64_t d = 0; d < 4; ++d)
      if (!agree(o.getDimSize(d), out.getDimSize(d)) ||
          (d < 3 && !agree(l.getDimSize(d), out.getDimSize(d))))
        return emitOpError() << "pair #" << r << " (" << o << ", " << l
                             << ") does not match the result " << out;
  }
  return success();
}

void MergeOp::shapeRelations(SmallVectorImpl<ShapeRelation> &out) {
  for (unsigned r = 0; r < getNumPairs(); ++r)
    for (unsigned d = 0; d < 4; ++d) {
      out.push_back({getOut(), d, getPartOut(r), d});
      if (d < 3)
        out.push_back({getPartLse(r), d, getPartOut(r), d});
    }
  for (unsigned d = 0; d < 3; ++d)
    out.push_back({getLse(), d, getOut(), d});
}

void MergeOp::describe(attnir::RefOp &op, function_ref<int(Value)> idOf) {
  op.kind = "merge";
  op.ints["pairs"] = getNumPairs();
  for (unsigned r = 0; r < getNumPairs(); ++r) {
    op.operands["out" + std::to_string(r)] = idOf(getPartOut(r));
    op.operands["lse" + std::to_string(r)] = idOf(getPartLse(r));
  }
  op.results["out"] = idOf(getOut());
  op.results["lse"] = idOf(getLse());
}
