//===- HeadKernels.cpp - attn.split_heads and attn.join_heads on the GPU --===//
//
// A kernel per part (steps "<step>_c<p>", the last part's "<step>", which
// the pass marks as the step): a thread per 16 bytes of the
// innermost dimension where it is whole 16-byte pieces and not the heads'
// (consecutive threads copy consecutive pieces), else a thread per element.
//
//===----------------------------------------------------------------------===//

#include "SelectionKernels.h"
#include "attnir/Dialect/Attn/Utils/BuildHelpers.h"
#include "attnir/Dialect/Attn/Utils/HeadBuilders.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"

using namespace mlir;
using namespace mlir::attn;

namespace {

/// One copy kernel from `src` to `dst` over the elements of `grid` (the
/// part): `heads(b, src, dst, t)` gives the source and destination heads of
/// the part's head t. The kernel copies part `part` of `parts`; the
/// runtime skips it where that part is a contiguous run of the whole
/// (HeadView, EntryABI.h).
LogicalResult buildHeadCopyKernel(
    OpBuilder &gb, func::FuncOp fn, Operation *op, Value src, Value dst, bool gridIsDst,
    int64_t dim, int64_t part, int64_t parts, const std::string &name,
    function_ref<std::pair<Value, Value>(ImplicitLocOpBuilder &, Value, Value, Value)> heads) {
  auto type = cast<RankedTensorType>((gridIsDst ? dst : src).getType());
  int64_t rank = type.getRank();
  int64_t last = type.getDimSize(rank - 1);
  int64_t bytes = type.getElementTypeBitWidth() / 8, width = 16 / bytes;
  bool vec = dim != rank - 1 && !ShapedType::isDynamic(last) && (last * bytes) % 16 == 0;
  int64_t lanes = vec ? last / width : 1;
  unsigned gridDims = vec ? rank - 1 : rank;
  int64_t gridArg = gridIsDst ? 1 : 0;
  auto kfn = cuda::createStepKernel(gb, fn, {src, dst}, name, gridArg, gridDims, 128, lanes);
  // [join?, dim, part, parts]: the view the runtime may take instead.
  kfn->setAttr("attn.head_view",
               gb.getDenseI64ArrayAttr({gridIsDst ? 0 : 1, dim, part, parts}));
  OpBuilder ob(gb.getContext());
  ob.setInsertionPointToStart(&kfn.getBody().front());
  ImplicitLocOpBuilder b(op->getLoc(), ob);
  Value lane, s = kfn.getArgument(0), d = kfn.getArgument(1);
  SmallVector<Value> at = cuda::enterStepItem(b, kfn.getArgument(gridArg), gridDims, 128, lanes, lane);
  if (vec)
    at.push_back(arith::MulIOp::create(b, lane, cIdx(b, b.getLoc(), width)));
  auto [from, to] = heads(b, s, d, at[dim]);
  buildHeadCopyAt(b, b.getLoc(), s, d, at, dim, from, to, vec ? width : 1);
  cuda::endKernel(b, kfn);
  return success();
}

std::string partKernel(StringRef name, size_t p, size_t parts) {
  return p + 1 == parts ? name.str() : (name + "_c" + Twine(p)).str();
}

} // namespace

LogicalResult mlir::attn::cuda::buildSplitHeadsKernels(OpBuilder &gb, func::FuncOp fn,
                                                       SplitHeadsOp op, StringRef name) {
  int64_t dim = op.getDim(), P = static_cast<int64_t>(op.getParts().size());
  for (auto [p, part] : llvm::enumerate(op.getParts())) {
    int64_t pi = static_cast<int64_t>(p);
    auto heads = [&](ImplicitLocOpBuilder &b, Value x, Value, Value t) -> std::pair<Value, Value> {
      Value h = memref::DimOp::create(b, x, dim);
      return {arith::AddIOp::create(b, splitHeadStart(b, b.getLoc(), h, pi, P), t), t};
    };
    if (failed(buildHeadCopyKernel(gb, fn, op, op.getX(), part, /*gridIsDst=*/true, dim, pi, P,
                                   partKernel(name, p, P), heads)))
      return failure();
  }
  return success();
}

LogicalResult mlir::attn::cuda::buildJoinHeadsKernels(OpBuilder &gb, func::FuncOp fn,
                                                      JoinHeadsOp op, StringRef name) {
  int64_t dim = op.getDim(), P = static_cast<int64_t>(op.getParts().size());
  for (auto [p, part] : llvm::enumerate(op.getParts())) {
    int64_t pi = static_cast<int64_t>(p);
    auto heads = [&](ImplicitLocOpBuilder &b, Value src, Value, Value t) -> std::pair<Value, Value> {
      Value each = memref::DimOp::create(b, src, dim);
      return {t, arith::AddIOp::create(b, joinHeadStart(b, b.getLoc(), each, pi), t)};
    };
    if (failed(buildHeadCopyKernel(gb, fn, op, part, op.getOut(), /*gridIsDst=*/false, dim, pi, P,
                                   partKernel(name, p, P), heads)))
      return failure();
  }
  return success();
}
