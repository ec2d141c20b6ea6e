//===- UpstreamOps.cpp - upstream elementwise ops inside a program --------===//
//
// A program may combine its branches with upstream ops on tensors (Native
// Sparse Attention's gated sum g_c o_c + g_s o_s + g_w o_w): the float
// binary ops of arith and linalg.broadcast. They get the two interfaces the
// driver asks every op of a program for, as external models, so that the
// reference evaluates them and the entry ABI sizes their results, without
// a parallel set of attn ops. attn-lower-elementwise lowers them for the
// CPU, a GPU step a thread per element (Utils/ElementwiseBuilders.h).
//
//===----------------------------------------------------------------------===//

#include "attnir/Dialect/Attn/IR/AttnOps.h"
#include "attnir/Reference/Program.h"
#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Linalg/IR/Linalg.h"

using namespace mlir;

namespace {

/// The reference's code of each binary op (lib/Reference/Elementwise.cpp).
template <typename OpT> constexpr int64_t binaryCode();
template <> constexpr int64_t binaryCode<arith::AddFOp>() { return 0; }
template <> constexpr int64_t binaryCode<arith::SubFOp>() { return 1; }
template <> constexpr int64_t binaryCode<arith::MulFOp>() { return 2; }
template <> constexpr int64_t binaryCode<arith::DivFOp>() { return 3; }
template <> constexpr int64_t binaryCode<arith::MaximumFOp>() { return 4; }
template <> constexpr int64_t binaryCode<arith::MinimumFOp>() { return 5; }

template <typename OpT>
struct BinaryReference
    : attn::ReferenceOpInterface::ExternalModel<BinaryReference<OpT>, OpT> {
  void describe(Operation *op, attnir::RefOp &ref,
                function_ref<int(Value)> idOf) const {
    ref.kind = "elementwise";
    ref.operands["lhs"] = idOf(op->getOperand(0));
    ref.operands["rhs"] = idOf(op->getOperand(1));
    ref.results["out"] = idOf(op->getResult(0));
    ref.ints["op"] = binaryCode<OpT>();
  }
};

template <typename OpT>
struct BinaryShapes
    : attn::ShapeRelationsOpInterface::ExternalModel<BinaryShapes<OpT>, OpT> {
  void shapeRelations(Operation *op,
                      SmallVectorImpl<attn::ShapeRelation> &out) const {
    auto t = dyn_cast<RankedTensorType>(op->getResult(0).getType());
    if (!t)
      return; // a scalar op inside a region: no shapes to relate
    for (unsigned d = 0; d < t.getRank(); ++d) {
      out.push_back({op->getResult(0), d, op->getOperand(0), d});
      out.push_back({op->getOperand(1), d, op->getOperand(0), d});
    }
  }
};

struct BroadcastReference
    : attn::ReferenceOpInterface::ExternalModel<BroadcastReference,
                                                linalg::BroadcastOp> {
  void describe(Operation *op, attnir::RefOp &ref,
                function_ref<int(Value)> idOf) const {
    auto b = cast<linalg::BroadcastOp>(op);
    ref.kind = "broadcast";
    ref.operands["x"] = idOf(b.getInput());
    ref.operands["init"] = idOf(b.getInit());
    ref.results["out"] = idOf(b->getResult(0));
    int64_t mask = 0;
    for (int64_t d : b.getDimensions())
      mask |= int64_t(1) << d;
    ref.ints["dims"] = mask;
  }
};

struct BroadcastShapes
    : attn::ShapeRelationsOpInterface::ExternalModel<BroadcastShapes,
                                                     linalg::BroadcastOp> {
  void shapeRelations(Operation *op,
                      SmallVectorImpl<attn::ShapeRelation> &out) const {
    auto b = cast<linalg::BroadcastOp>(op);
    if (b->getNumResults() != 1)
      return;
    Value result = b->getResult(0);
    auto t = cast<RankedTensorType>(result.getType());
    ArrayRef<int64_t> added = b.getDimensions();
    unsigned in = 0;
    for (unsigned d = 0; d < t.getRank(); ++d) {
      out.push_back({result, d, b.getInit(), d});
      if (!llvm::is_contained(added, static_cast<int64_t>(d)))
        out.push_back({result, d, b.getInput(), in++});
    }
  }
};

template <typename... Ops> void attachBinary(MLIRContext *ctx) {
  (Ops::template attachInterface<BinaryReference<Ops>, BinaryShapes<Ops>>(*ctx),
   ...);
}

} // namespace

void mlir::attn::registerUpstreamOpModels(DialectRegistry &registry) {
  registry.addExtension(+[](MLIRContext *ctx, arith::ArithDialect *) {
    attachBinary<arith::AddFOp, arith::SubFOp, arith::MulFOp, arith::DivFOp,
                 arith::MaximumFOp, arith::MinimumFOp>(ctx);
  });
  registry.addExtension(+[](MLIRContext *ctx, linalg::LinalgDialect *) {
    linalg::BroadcastOp::attachInterface<BroadcastReference, BroadcastShapes>(
        *ctx);
  });
}
