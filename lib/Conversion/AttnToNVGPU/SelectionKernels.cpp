//===- SelectionKernels.cpp - attn.pool / block_scores / select on the GPU ===//
//
// One small kernel per selection op of a program, one thread per work item,
// with the per-row bodies the CPU uses (Utils/SelectionBuilders.h):
//   pool          one thread per (b, h, block, feature): a warp reads 32
//                 consecutive features of each position (coalesced);
//   block_scores  one thread per score (b, h, query block, key block), its
//                 dot product in 16-byte vector loads;
//   select        one thread per (b, h, query block): the row's list.
// The kernels take the op's operands and results as memrefs; each records
// which buffers of the entry it binds (attn.step_args: "i<k>", "o<k>",
// "w<k>", see Utils/EntryBindings.h) and its grid (attn.grid_arg: the
// argument whose first attn.grid_dims dims are the work items;
// attn.threads per block), which the runtime reads from the bundle.
//
//===----------------------------------------------------------------------===//

#include "SelectionKernels.h"
#include "attnir/Dialect/Attn/Utils/BuildHelpers.h"
#include "attnir/Dialect/Attn/Utils/EntryBindings.h"
#include "attnir/Dialect/Attn/Utils/SelectionBuilders.h"
#include "mlir/Dialect/GPU/IR/GPUDialect.h"
#include "mlir/Dialect/SCF/IR/SCF.h"

using namespace mlir;
using namespace mlir::attn;

namespace {

/// Threads per block: 128; 32 for select, whose few thousand rows (one
/// thread each) should spread over every SM rather than fill a few.
int64_t threadsFor(Operation *op) { return isa<SelectOp>(op) ? 32 : 128; }

/// The work-item indices of linear id `id` over the first `rank` dims of
/// `buf` (row-major).
SmallVector<Value> unflatten(OpBuilder &b, Location loc, Value id, Value buf,
                             unsigned rank) {
  SmallVector<Value> idx(rank);
  for (int d = rank - 1; d >= 0; --d) {
    Value size = dimOf(b, loc, buf, d);
    idx[d] = d ? arith::RemUIOp::create(b, loc, id, size).getResult() : id;
    if (d)
      id = arith::DivUIOp::create(b, loc, id, size);
  }
  return idx;
}

} // namespace

bool mlir::attn::cuda::isSelectionOp(Operation *op) {
  return isa<PoolOp, BlockScoresOp, SelectOp>(op);
}

LogicalResult mlir::attn::cuda::buildSelectionKernel(OpBuilder &gb,
                                                     func::FuncOp fn,
                                                     Operation *op,
                                                     StringRef name) {
  MLIRContext *ctx = op->getContext();
  Location loc = op->getLoc();
  SmallVector<Value> values(op->getOperands());
  llvm::append_range(values, op->getResults());
  SmallVector<Type> argTypes;
  SmallVector<Attribute> bindings;
  for (Value v : values) {
    auto t = cast<RankedTensorType>(v.getType());
    argTypes.push_back(MemRefType::get(t.getShape(), t.getElementType()));
    bindings.push_back(StringAttr::get(ctx, bindingOf(fn, v)));
  }
  auto kfn = gpu::GPUFuncOp::create(gb, loc, name,
                                    FunctionType::get(ctx, argTypes, {}));
  kfn->setAttr(gpu::GPUDialect::getKernelFuncAttrName(), UnitAttr::get(ctx));
  int64_t threads = threadsFor(op);
  kfn.setKnownBlockSizeAttr(
      DenseI32ArrayAttr::get(ctx, {static_cast<int32_t>(threads), 1, 1}));
  // The grid: the first result's leading dims (pool: every element; scores:
  // the rows), or select's counts (its rows).
  unsigned numIn = op->getNumOperands();
  int64_t gridArg = isa<SelectOp>(op) ? numIn + 1 : numIn;
  // Block scores: one thread per score (a row per thread leaves most of
  // the GPU idle: B x H x query blocks is a few thousand).
  int64_t gridDims = isa<PoolOp, BlockScoresOp>(op) ? 4 : 3;
  OpBuilder attrs(ctx);
  kfn->setAttr("attn.step_args", ArrayAttr::get(ctx, bindings));
  kfn->setAttr("attn.grid_arg", attrs.getI64IntegerAttr(gridArg));
  kfn->setAttr("attn.grid_dims", attrs.getI64IntegerAttr(gridDims));
  kfn->setAttr("attn.threads", attrs.getI64IntegerAttr(threads));

  OpBuilder b(ctx);
  b.setInsertionPointToStart(&kfn.getBody().front());
  auto arg = [&](Value v) -> Value {
    return kfn.getArgument(llvm::find(values, v) - values.begin());
  };
  Value grid = kfn.getArgument(gridArg);
  Value id = arith::AddIOp::create(
      b, loc,
      arith::MulIOp::create(b, loc, gpu::BlockIdOp::create(b, loc, gpu::Dimension::x),
                            cIdx(b, loc, threads)),
      gpu::ThreadIdOp::create(b, loc, gpu::Dimension::x));
  Value items = cIdx(b, loc, 1);
  for (int64_t d = 0; d < gridDims; ++d)
    items = arith::MulIOp::create(b, loc, items, dimOf(b, loc, grid, d));
  auto inRange =
      arith::CmpIOp::create(b, loc, arith::CmpIPredicate::ult, id, items);
  auto ifIn = scf::IfOp::create(b, loc, inRange, /*withElse=*/false);
  b.setInsertionPointToStart(&ifIn.getThenRegion().front());
  SmallVector<Value> at = unflatten(b, loc, id, grid, gridDims);
  if (auto pool = dyn_cast<PoolOp>(op)) {
    buildPoolFeature(b, loc, pool.getKind(),
                     static_cast<int64_t>(pool.getBlock()), arg(pool.getX()),
                     arg(pool.getOut()), at[0], at[1], at[2], at[3]);
  } else if (auto scores = dyn_cast<BlockScoresOp>(op)) {
    ScoreRow row;
    row.qp = arg(scores.getQp());
    row.kp = arg(scores.getKp());
    row.b = at[0], row.hOut = at[1], row.i = at[2];
    row.scale = scores.getScaleValue();
    row.share = scores.getShare();
    if (scores.getQ()) {
      row.n = dimOf(b, loc, arg(scores.getQ()), 2);
      row.m = dimOf(b, loc, arg(scores.getK()), 2);
      row.blockQ = static_cast<int64_t>(*scores.getBlockQ());
      row.blockK = static_cast<int64_t>(*scores.getBlockK());
    }
    // 16-byte loads of each pooled row.
    int64_t d = cast<MemRefType>(row.qp.getType()).getDimSize(3);
    int64_t bytes = cast<MemRefType>(row.qp.getType()).getElementTypeBitWidth() / 8;
    // Rows of whole 16-byte multiples keep every row start aligned.
    row.lanes = (d * bytes) % 16 == 0 ? 16 / bytes : 1;
    memref::StoreOp::create(b, loc, buildScoreAt(b, loc, row, at[3]),
                            arg(scores.getScores()), at);
  } else {
    auto select = cast<SelectOp>(op);
    buildSelectRow(b, loc, SelectPolicy::of(select),
                   RowRef{arg(select.getScores()), {at[0], at[1], at[2]}},
                   arg(select.getKvIndices()), arg(select.getKvCounts()), at);
  }
  b.setInsertionPointToEnd(&kfn.getBody().front());
  gpu::ReturnOp::create(b, loc);
  return success();
}
