//===- RouteOps.cpp - attn.route: verifier, shapes, reference description ===//

#include "attnir/Dialect/Attn/IR/AttnOps.h"

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
  auto mismatch = [](int64_t a, int64_t b) {
    return !ShapedType::isDynamic(a) && !ShapedType::isDynamic(b) && a != b;
  };
  if (Value mu = getCentroids()) {
    auto m = cast<RankedTensorType>(mu.getType());
    if (m.getRank() != 3 || m.getElementType() != x.getElementType())
      return emitOpError() << "centroids must be [H, C, D] of x's element "
                              "type, got "
                           << m;
    if (mismatch(m.getDimSize(0), x.getDimSize(1)) ||
        mismatch(m.getDimSize(2), x.getDimSize(3)))
      return emitOpError() << "centroids " << m << " do not match x " << x
                           << " (heads and features)";
  }
  for (Value r : {getPerm(), getBucket()}) {
    auto t = cast<RankedTensorType>(r.getType());
    if (t.getRank() != 3)
      return emitOpError() << "perm and bucket are [B, H, N], got " << t;
    for (unsigned d = 0; d < 3; ++d)
      if (mismatch(t.getDimSize(d), x.getDimSize(d)))
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
  op.results["perm"] = idOf(getPerm());
  op.results["bucket"] = idOf(getBucket());
}
