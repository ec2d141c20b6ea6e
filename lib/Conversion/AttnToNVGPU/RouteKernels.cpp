//===- RouteKernels.cpp - attn.route and attn.permute on the GPU ----------===//
//
// attn.route is two kernels of one program step (docs/design/routing.md):
//   "<step>_c0"  buckets: a thread per token, the float64 dots of
//                Utils/RouteBuilders.h (the reference's sums, so buckets
//                agree bit for bit);
//   "<step>"     order: a block per (b, h) row, a stable counting sort. Each
//                warp owns a contiguous segment of the row and counts its
//                buckets in shared memory (match.any gives a lane its peers:
//                the lowest adds their number), the counts become slots
//                (bucket-major, then warp: the order of positions), and a
//                second walk writes each token to its slot + its rank among
//                its peers of lower lanes.
// attn.permute is a thread per element (coalesced along the features).
// No host round trip and no sort network: 2 reads of the buckets per row.
//
//===----------------------------------------------------------------------===//

#include "FlashKernel.h"
#include "SelectionKernels.h"
#include "attnir/Dialect/Attn/Utils/BuildHelpers.h"
#include "attnir/Dialect/Attn/Utils/EntryBindings.h"
#include "attnir/Dialect/Attn/Utils/LandmarkBuilders.h"
#include "attnir/Dialect/Attn/Utils/RouteBuilders.h"
#include "mlir/Dialect/GPU/IR/GPUDialect.h"
#include "mlir/Dialect/LLVMIR/LLVMDialect.h"
#include "mlir/Dialect/LLVMIR/NVVMDialect.h"
#include "mlir/IR/ImplicitLocOpBuilder.h"

using namespace mlir;
using namespace mlir::attn;

gpu::GPUFuncOp mlir::attn::cuda::createStepKernel(OpBuilder &gb, func::FuncOp fn,
                                ArrayRef<Value> values, StringRef name,
                                int64_t gridArg, int64_t gridDims,
                                int64_t threads, int64_t lanes) {
  MLIRContext *ctx = gb.getContext();
  SmallVector<Type> types;
  SmallVector<Attribute> bindings;
  for (Value v : values) {
    auto t = cast<RankedTensorType>(v.getType());
    types.push_back(MemRefType::get(t.getShape(), t.getElementType()));
    bindings.push_back(StringAttr::get(ctx, bindingOf(fn, v)));
  }
  auto kfn = gpu::GPUFuncOp::create(gb, fn.getLoc(), name,
                                    FunctionType::get(ctx, types, {}));
  kfn->setAttr(gpu::GPUDialect::getKernelFuncAttrName(), UnitAttr::get(ctx));
  kfn.setKnownBlockSizeAttr(
      DenseI32ArrayAttr::get(ctx, {static_cast<int32_t>(threads), 1, 1}));
  OpBuilder attrs(ctx);
  kfn->setAttr("attn.step_args", ArrayAttr::get(ctx, bindings));
  kfn->setAttr("attn.grid_arg", attrs.getI64IntegerAttr(gridArg));
  kfn->setAttr("attn.grid_dims", attrs.getI64IntegerAttr(gridDims));
  kfn->setAttr("attn.threads", attrs.getI64IntegerAttr(threads));
  kfn->setAttr("attn.grid_lanes", attrs.getI64IntegerAttr(lanes));
  return kfn;
}

SmallVector<Value> mlir::attn::cuda::enterStepItem(ImplicitLocOpBuilder &b,
                                                   Value grid, unsigned rank,
                                                   int64_t threads,
                                                   int64_t lanes, Value &lane) {
  auto c = [&](int64_t v) -> Value { return cIdx(b, b.getLoc(), v); };
  Value id = arith::AddIOp::create(
      b, arith::MulIOp::create(b, gpu::BlockIdOp::create(b, gpu::Dimension::x),
                               c(threads)),
      gpu::ThreadIdOp::create(b, gpu::Dimension::x));
  lane = arith::RemUIOp::create(b, id, c(lanes));
  id = arith::DivUIOp::create(b, id, c(lanes));
  Value items = c(1);
  for (unsigned d = 0; d < rank; ++d)
    items = arith::MulIOp::create(b, items, memref::DimOp::create(b, grid, d));
  auto in = scf::IfOp::create(
      b, arith::CmpIOp::create(b, arith::CmpIPredicate::ult, id, items),
      /*withElseRegion=*/false);
  b.setInsertionPointToStart(&in.getThenRegion().front());
  SmallVector<Value> at(rank);
  for (int d = rank - 1; d >= 0; --d) {
    Value size = memref::DimOp::create(b, grid, d);
    at[d] = d ? arith::RemUIOp::create(b, id, size).getResult() : id;
    if (d)
      id = arith::DivUIOp::create(b, id, size);
  }
  return at;
}

namespace {

void endKernel(ImplicitLocOpBuilder &b, gpu::GPUFuncOp kfn) {
  b.setInsertionPointToEnd(&kfn.getBody().front());
  gpu::ReturnOp::create(b);
}

/// Warps per row of the order kernel for `buckets` buckets: as many as
/// fit their counters (and the totals) in 48 KiB of shared memory.
int64_t orderWarps(int64_t buckets) {
  return std::clamp<int64_t>(12288 / buckets - 1, 1, 32);
}

void buildOrderRow(ImplicitLocOpBuilder &b, Value bucket, Value perm,
                   Value counts, int64_t C, int64_t W, Value bi, Value h,
                   Value tid) {
  auto c = [&](int64_t v) -> Value { return cIdx(b, b.getLoc(), v); };
  Type i32 = b.getI32Type();
  auto ci32 = [&](int32_t v) -> Value {
    return arith::ConstantIntOp::create(b, i32, v);
  };
  int64_t T = 32 * W;
  Value warp = arith::DivUIOp::create(b, tid, c(32));
  Value lane = arith::RemUIOp::create(b, tid, c(32));
  Value all = ci32(-1);
  Value below = arith::SubIOp::create(
      b, arith::ShLIOp::create(b, ci32(1), arith::IndexCastOp::create(b, i32, lane)),
      ci32(1));
  auto popc = [&](OpBuilder &pb, Location l, Value x) -> Value {
    return arith::IndexCastOp::create(pb, l, pb.getIndexType(),
                                      LLVM::CtPopOp::create(pb, l, i32, x));
  };
  // counts[w * C + c]: warp w's tokens of bucket c; counts[W C + c]: totals.
  auto strided = [&](int64_t n, function_ref<void(OpBuilder &, Location, Value)> body) {
    scf::ForOp::create(b, tid, c(n), c(T), ValueRange{},
                       [&](OpBuilder &fb, Location l, Value i, ValueRange) {
                         body(fb, l, i);
                         scf::YieldOp::create(fb, l);
                       });
  };
  strided((W + 1) * C, [&](OpBuilder &fb, Location l, Value i) {
    memref::StoreOp::create(fb, l, arith::ConstantIntOp::create(fb, l, i32, 0),
                            counts, ValueRange{i});
  });
  gpu::BarrierOp::create(b);
  Value N = memref::DimOp::create(b, bucket, 2);
  Value seg = arith::CeilDivUIOp::create(b, N, c(W));
  Value segBegin = arith::MulIOp::create(b, warp, seg);
  Value segEnd = arith::MinUIOp::create(b, arith::AddIOp::create(b, segBegin, seg), N);
  Value rowBase = arith::MulIOp::create(b, warp, c(C));
  // Walks the warp's segment 32 tokens at a time: `body` gets the token,
  // whether it is in the segment, its bucket (-1 past the end) and its
  // peers (the lanes with the same bucket).
  auto walk = [&](function_ref<void(OpBuilder &, Location, Value, Value, Value,
                                    Value)> body) {
    scf::ForOp::create(
        b, segBegin, segEnd, c(32), ValueRange{},
        [&](OpBuilder &fb, Location l, Value t0, ValueRange) {
          Value t = arith::AddIOp::create(fb, l, t0, lane);
          Value valid = arith::CmpIOp::create(fb, l, arith::CmpIPredicate::ult, t, segEnd);
          auto load = scf::IfOp::create(
              fb, l, valid,
              [&](OpBuilder &tb, Location tl) {
                scf::YieldOp::create(tb, tl, ValueRange{memref::LoadOp::create(
                                                 tb, tl, bucket, ValueRange{bi, h, t})});
              },
              [&](OpBuilder &eb, Location el) {
                scf::YieldOp::create(
                    eb, el, ValueRange{arith::ConstantIntOp::create(eb, el, i32, -1)});
              });
          Value bk = load.getResult(0);
          Value peers = NVVM::MatchSyncOp::create(
              fb, l, i32, all, bk,
              NVVM::MatchSyncKindAttr::get(fb.getContext(), NVVM::MatchSyncKind::any));
          body(fb, l, t, valid, bk, peers);
          scf::YieldOp::create(fb, l);
        });
  };
  auto leaderOf = [&](OpBuilder &fb, Location l, Value valid, Value peers) {
    Value lower = arith::AndIOp::create(fb, l, peers, below);
    return arith::AndIOp::create(
        fb, l, valid,
        arith::CmpIOp::create(fb, l, arith::CmpIPredicate::eq, lower,
                              arith::ConstantIntOp::create(fb, l, i32, 0)));
  };
  auto slotOf = [&](OpBuilder &fb, Location l, Value bk) -> Value {
    return arith::AddIOp::create(
        fb, l, rowBase, arith::IndexCastOp::create(fb, l, fb.getIndexType(), bk));
  };
  // The lowest lane of each group of peers adds the group's size to the
  // warp's count of their bucket.
  auto bumpByLeader = [&](OpBuilder &fb, Location l, Value valid, Value bk,
                          Value peers) {
    scf::IfOp::create(fb, l, leaderOf(fb, l, valid, peers),
                      [&](OpBuilder &tb, Location tl) {
                        Value at = slotOf(tb, tl, bk);
                        Value n = memref::LoadOp::create(tb, tl, counts, ValueRange{at});
                        Value add = arith::IndexCastOp::create(tb, tl, i32, popc(tb, tl, peers));
                        memref::StoreOp::create(tb, tl, arith::AddIOp::create(tb, tl, n, add),
                                                counts, ValueRange{at});
                        scf::YieldOp::create(tb, tl);
                      });
  };
  walk([&](OpBuilder &fb, Location l, Value, Value valid, Value bk, Value peers) {
    bumpByLeader(fb, l, valid, bk, peers);
    NVVM::SyncWarpOp::create(fb, l, arith::ConstantIntOp::create(fb, l, i32, -1));
  });
  gpu::BarrierOp::create(b);
  // Per bucket: the warps' counts become offsets within the bucket, the
  // total goes to counts[W C + c]; then one thread turns the totals into
  // the buckets' first slots (C is small next to N).
  strided(C, [&](OpBuilder &fb, Location l, Value k) {
    auto run = scf::ForOp::create(
        fb, l, c(0), c(W), c(1), ValueRange{arith::ConstantIntOp::create(fb, l, i32, 0)},
        [&](OpBuilder &wb, Location wl, Value w, ValueRange acc) {
          Value at = arith::AddIOp::create(wb, wl, arith::MulIOp::create(wb, wl, w, c(C)), k);
          Value n = memref::LoadOp::create(wb, wl, counts, ValueRange{at});
          memref::StoreOp::create(wb, wl, acc[0], counts, ValueRange{at});
          scf::YieldOp::create(wb, wl, ValueRange{arith::AddIOp::create(wb, wl, acc[0], n)});
        });
    memref::StoreOp::create(fb, l, run.getResult(0), counts,
                            ValueRange{arith::AddIOp::create(fb, l, k, c(W * C))});
  });
  gpu::BarrierOp::create(b);
  Value first = arith::CmpIOp::create(b, arith::CmpIPredicate::eq, tid, c(0));
  scf::IfOp::create(b, first, [&](OpBuilder &tb, Location tl) {
    scf::ForOp::create(
        tb, tl, c(W * C), c((W + 1) * C), c(1),
        ValueRange{arith::ConstantIntOp::create(tb, tl, i32, 0)},
        [&](OpBuilder &sb, Location sl, Value at, ValueRange acc) {
          Value n = memref::LoadOp::create(sb, sl, counts, ValueRange{at});
          memref::StoreOp::create(sb, sl, acc[0], counts, ValueRange{at});
          scf::YieldOp::create(sb, sl, ValueRange{arith::AddIOp::create(sb, sl, acc[0], n)});
        });
    scf::YieldOp::create(tb, tl);
  });
  gpu::BarrierOp::create(b);
  strided(W * C, [&](OpBuilder &fb, Location l, Value at) {
    Value k = arith::RemUIOp::create(fb, l, at, c(C));
    Value base = memref::LoadOp::create(
        fb, l, counts, ValueRange{arith::AddIOp::create(fb, l, k, c(W * C))});
    Value n = memref::LoadOp::create(fb, l, counts, ValueRange{at});
    memref::StoreOp::create(fb, l, arith::AddIOp::create(fb, l, n, base), counts,
                            ValueRange{at});
  });
  gpu::BarrierOp::create(b);
  // Second walk: slot = the warp's next slot of the bucket + the rank among
  // lower peers; the leader then moves the bucket's next slot on.
  walk([&](OpBuilder &fb, Location l, Value t, Value valid, Value bk, Value peers) {
    scf::IfOp::create(fb, l, valid, [&](OpBuilder &tb, Location tl) {
      Value next = memref::LoadOp::create(tb, tl, counts, ValueRange{slotOf(tb, tl, bk)});
      Value rank = popc(tb, tl, arith::AndIOp::create(tb, tl, peers, below));
      Value slot = arith::AddIOp::create(
          tb, tl, arith::IndexCastOp::create(tb, tl, tb.getIndexType(), next), rank);
      memref::StoreOp::create(tb, tl, arith::IndexCastOp::create(tb, tl, i32, t), perm,
                              ValueRange{bi, h, slot});
      scf::YieldOp::create(tb, tl);
    });
    NVVM::SyncWarpOp::create(fb, l, arith::ConstantIntOp::create(fb, l, i32, -1));
    bumpByLeader(fb, l, valid, bk, peers);
    NVVM::SyncWarpOp::create(fb, l, arith::ConstantIntOp::create(fb, l, i32, -1));
  });
}

} // namespace

int64_t mlir::attn::cuda::routeBucketLimit() { return 4096; }

LogicalResult mlir::attn::cuda::buildRouteKernels(OpBuilder &gb,
                                                  func::FuncOp fn, RouteOp op,
                                                  StringRef name) {
  Location loc = op.getLoc();
  int64_t C = op.getCentroids()
                  ? cast<RankedTensorType>(op.getCentroids().getType()).getDimSize(1)
                  : int64_t(1) << *op.getBits();
  if (ShapedType::isDynamic(C) || C > routeBucketLimit())
    return op.emitError() << "attn.route on CUDA needs a static number of "
                             "buckets of at most "
                          << routeBucketLimit() << " (centroids [H, C, D] with "
                             "C static, or lsh bits <= 12), got "
                          << (ShapedType::isDynamic(C) ? std::string("a dynamic C")
                                                       : std::to_string(C));
  SmallVector<Value> values(op->getOperands());
  llvm::append_range(values, op->getResults());
  unsigned permArg = op->getNumOperands(), bucketArg = permArg + 1;
  std::string signs = (name + "_signs").str(), counts = (name + "_counts").str();
  if (op.getBitsAttr())
    declareRouteSigns(gb, loc, op, signs);
  int64_t W = orderWarps(C);
  auto countsType = MemRefType::get(
      {(W + 1) * C}, gb.getI32Type(), MemRefLayoutAttrInterface(),
      gpu::AddressSpaceAttr::get(gb.getContext(), gpu::AddressSpace::Workgroup));
  memref::GlobalOp::create(gb, loc, counts, gb.getStringAttr("private"),
                           countsType, Attribute(), /*constant=*/false,
                           gb.getI64IntegerAttr(16));

  // Buckets: a thread per token.
  auto bucketFn = createStepKernel(gb, fn, values, (name + "_c0").str(),
                                   bucketArg, 3, 128, 1);
  {
    OpBuilder ob(gb.getContext());
    ob.setInsertionPointToStart(&bucketFn.getBody().front());
    ImplicitLocOpBuilder b(loc, ob);
    RouteSite site;
    site.rowAlign = 16; // the runtime's buffers and torch's rows
    site.x = bucketFn.getArgument(0);
    if (op.getCentroids())
      site.centroids = bucketFn.getArgument(1);
    else {
      site.bits = *op.getBits();
      site.signs = memref::GetGlobalOp::create(b, routeSignsType(op), signs);
    }
    Value lane;
    SmallVector<Value> at =
        cuda::enterStepItem(b, bucketFn.getArgument(bucketArg), 3, 128, 1, lane);
    Value k = buildRouteBucketAt(b, loc, site, at[0], at[1], at[2]);
    memref::StoreOp::create(b, arith::IndexCastOp::create(b, b.getI32Type(), k),
                            bucketFn.getArgument(bucketArg), at);
    endKernel(b, bucketFn);
  }
  // Order: a block of W warps per (b, h) row.
  auto orderFn = createStepKernel(gb, fn, values, name, permArg, 2, 32 * W, 32 * W);
  OpBuilder ob(gb.getContext());
  ob.setInsertionPointToStart(&orderFn.getBody().front());
  ImplicitLocOpBuilder b(loc, ob);
  Value cnt = memref::GetGlobalOp::create(b, countsType, counts);
  Value tid;
  SmallVector<Value> at =
      cuda::enterStepItem(b, orderFn.getArgument(permArg), 2, 32 * W, 32 * W, tid);
  buildOrderRow(b, orderFn.getArgument(bucketArg), orderFn.getArgument(permArg),
                cnt, C, W, at[0], at[1], tid);
  endKernel(b, orderFn);
  return success();
}

LogicalResult mlir::attn::cuda::buildPermuteKernel(OpBuilder &gb,
                                                   func::FuncOp fn,
                                                   PermuteOp op,
                                                   StringRef name) {
  SmallVector<Value> values = {op.getX(), op.getPerm(), op.getOut()};
  unsigned rank = op.getType().getRank();
  // A thread per 16 bytes of a token's features where rows are whole
  // 16-byte pieces (consecutive threads copy consecutive pieces), else a
  // thread per element.
  int64_t d = rank == 4 ? op.getType().getDimSize(3) : ShapedType::kDynamic;
  int64_t bytes = op.getType().getElementTypeBitWidth() / 8;
  int64_t width = 16 / bytes;
  bool vec = !ShapedType::isDynamic(d) && (d * bytes) % 16 == 0;
  int64_t lanes = vec ? d / width : 1;
  unsigned gridDims = vec ? 3 : rank;
  auto kfn = createStepKernel(gb, fn, values, name, 2, gridDims, 128, lanes);
  OpBuilder ob(gb.getContext());
  ob.setInsertionPointToStart(&kfn.getBody().front());
  ImplicitLocOpBuilder b(op.getLoc(), ob);
  Value lane;
  SmallVector<Value> at =
      cuda::enterStepItem(b, kfn.getArgument(2), gridDims, 128, lanes, lane);
  if (vec)
    at.push_back(arith::MulIOp::create(b, lane, cIdx(b, b.getLoc(), width)));
  buildPermuteAt(b, b.getLoc(), op.getInverse(), kfn.getArgument(0),
                 kfn.getArgument(1), kfn.getArgument(2), at, vec ? width : 1);
  endKernel(b, kfn);
  return success();
}

LogicalResult mlir::attn::cuda::buildLandmarkKernel(OpBuilder &gb,
                                                    func::FuncOp fn,
                                                    LandmarkOp op,
                                                    StringRef name) {
  SmallVector<Value> values = {op.getQ(),   op.getK(),   op.getV(),
                               op.getLandmarks(), op.getOut(), op.getLse()};
  // A thread per query row (b, h, i): the row builder the CPU uses, with
  // its logits recomputed per top-k pass and each block's softmax taken
  // online, so no scratch beyond two [Dv] rows in local memory. Correct
  // first; the tiled form (tensor-core landmark logits, a warp select,
  // tile attention over the units) is the fast one still to come.
  auto kfn = createStepKernel(gb, fn, values, name, 5, 3, 128, 1);
  OpBuilder ob(gb.getContext());
  ob.setInsertionPointToStart(&kfn.getBody().front());
  ImplicitLocOpBuilder b(op.getLoc(), ob);
  Value lane;
  SmallVector<Value> at = cuda::enterStepItem(b, kfn.getArgument(5), 3, 128, 1, lane);
  LandmarkRow row;
  row.q = kfn.getArgument(0);
  row.k = kfn.getArgument(1);
  row.v = kfn.getArgument(2);
  row.landmarks = kfn.getArgument(3);
  row.out = kfn.getArgument(4);
  row.lse = kfn.getArgument(5);
  row.block = op.getBlock();
  row.topk = op.getTopk() ? static_cast<int64_t>(*op.getTopk()) : -1;
  row.scale = op.getScaleValue();
  auto vec = MemRefType::get({op.getOut().getType().getDimSize(3)}, b.getF32Type());
  row.acc = memref::AllocaOp::create(b, vec);
  row.unit = memref::AllocaOp::create(b, vec);
  buildLandmarkRow(b, b.getLoc(), row, at[0], at[1], at[2]);
  endKernel(b, kfn);
  return success();
}
