//===- AttnLowerRoute.cpp - attn.route and attn.permute to loops ----------===//
//
// attn.route in three passes per (b, h) row (docs/design/routing.md):
// buckets a task per token (the float64 dots of Utils/RouteBuilders.h),
// then a task per row counts them, takes the prefix and scatters positions
// into their slots in order: a counting sort, stable without comparisons.
// attn.permute and attn.gather are a task per token copying its features,
// attn.sample a task per drawn position; attn.split_heads and
// attn.join_heads a task per row of a head copy; attn.landmark a
// task per query row (Utils/LandmarkBuilders.h). Results are tensors again
// (to_tensor of the filled buffer), as attn-lower-select's.
//
//===----------------------------------------------------------------------===//

#include "attnir/Dialect/Attn/IR/AttnOps.h"
#include "attnir/Dialect/Attn/Transforms/Passes.h"
#include "attnir/Dialect/Attn/Utils/BuildHelpers.h"
#include "attnir/Dialect/Attn/Utils/LoopLowering.h"
#include "attnir/Dialect/Attn/Utils/HeadBuilders.h"
#include "attnir/Dialect/Attn/Utils/LandmarkBuilders.h"
#include "attnir/Dialect/Attn/Utils/RouteBuilders.h"
#include "attnir/Dialect/Attn/Utils/SampleBuilders.h"
#include "mlir/IR/PatternMatch.h"

namespace mlir::attn {
#define GEN_PASS_DEF_ATTNLOWERROUTE
#include "attnir/Dialect/Attn/Transforms/Passes.h.inc"
} // namespace mlir::attn

using namespace mlir;
using namespace mlir::attn;

namespace {

void lowerRoute(RewriterBase &rw, ModuleOp module, RouteOp op, int64_t id) {
  Location loc = op.getLoc();
  RouteSite site;
  if (op.getBitsAttr()) {
    site.bits = *op.getBits();
    std::string name = "__attn_route_signs_" + std::to_string(id);
    OpBuilder::InsertionGuard g(rw);
    rw.setInsertionPointToStart(module.getBody());
    declareRouteSigns(rw, loc, op, name);
    rw.setInsertionPoint(op);
    site.signs =
        memref::GetGlobalOp::create(rw, loc, routeSignsType(op), name);
  }
  rw.setInsertionPoint(op);
  site.x = readBuffer(rw, loc, op.getX());
  if (Value mu = op.getCentroids())
    site.centroids = readBuffer(rw, loc, mu);
  SmallVector<Value> dims;
  for (int64_t d = 0; d < 3; ++d)
    dims.push_back(dimOf(rw, loc, site.x, d));
  Value bucket = allocFor(rw, loc, op.getBucket().getType(), dims);
  Value perm = allocFor(rw, loc, op.getPerm().getType(), dims);
  Type bucketElt = cast<MemRefType>(bucket.getType()).getElementType();
  parallelRows(rw, loc, dims, [&](OpBuilder &b, Location l, ValueRange iv) {
    Value c = buildRouteBucketAt(b, l, site, iv[0], iv[1], iv[2]);
    memref::StoreOp::create(b, l, arith::IndexCastOp::create(b, l, bucketElt, c),
                            bucket, iv);
  });
  Value buckets = routeBuckets(rw, loc, site);
  parallelRows(rw, loc, {dims[0], dims[1]},
               [&](OpBuilder &b, Location l, ValueRange iv) {
                 // C + 1 counters: on the heap (2^16 buckets would not fit
                 // a worker thread's stack).
                 Value start = memref::AllocOp::create(
                     b, l,
                     MemRefType::get({ShapedType::kDynamic}, b.getIndexType()),
                     ValueRange{arith::AddIOp::create(b, l, buckets,
                                                      cIdx(b, l, 1))});
                 buildRouteOrderRow(b, l, bucket, perm, start, buckets, iv[0],
                                    iv[1]);
                 memref::DeallocOp::create(b, l, start);
                 if (auto chunks = op.getChunks()) {
                   auto idxRow = MemRefType::get({ShapedType::kDynamic},
                                                 b.getIndexType());
                   Value slot = memref::AllocOp::create(b, l, idxRow,
                                                        ValueRange{dims[2]});
                   Value at = memref::AllocOp::create(
                       b, l, idxRow, ValueRange{cIdx(b, l, *chunks + 1)});
                   buildChunkOrderRow(b, l, perm, slot, at, *chunks, iv[0],
                                      iv[1]);
                   memref::DeallocOp::create(b, l, slot);
                   memref::DeallocOp::create(b, l, at);
                 }
               });
  Value permT = asTensor(rw, loc, op.getPerm().getType(), perm);
  Value bucketT = asTensor(rw, loc, op.getBucket().getType(), bucket);
  rw.replaceOp(op, {permT, bucketT});
  freeUnlessReturned(rw, permT, perm);
  freeUnlessReturned(rw, bucketT, bucket);
}

/// attn.permute and attn.gather: out [B, H, S(, D)] follows `indexT`'s
/// dims (and x's features), a task per row running `row`.
void lowerRowCopies(
    RewriterBase &rw, Operation *op, Value xT, Value indexT,
    function_ref<void(OpBuilder &, Location, Value, Value, Value, ValueRange)> row) {
  Location loc = op->getLoc();
  rw.setInsertionPoint(op);
  auto type = cast<RankedTensorType>(op->getResult(0).getType());
  Value x = readBuffer(rw, loc, xT);
  Value index = readBuffer(rw, loc, indexT);
  SmallVector<Value> dims;
  for (int64_t d = 0; d < 3; ++d)
    dims.push_back(dimOf(rw, loc, index, d));
  if (type.getRank() == 4)
    dims.push_back(dimOf(rw, loc, x, 3));
  Value out = allocFor(rw, loc, type, dims);
  parallelRows(rw, loc, ArrayRef(dims).take_front(3),
               [&](OpBuilder &b, Location l, ValueRange iv) { row(b, l, x, index, out, iv); });
  Value result = asTensor(rw, loc, type, out);
  rw.replaceOp(op, result);
  freeUnlessReturned(rw, result, out);
}

void lowerPermute(RewriterBase &rw, PermuteOp op) {
  lowerRowCopies(rw, op, op.getX(), op.getPerm(),
                 [&](OpBuilder &b, Location l, Value x, Value perm, Value out, ValueRange iv) {
                   buildPermuteRow(b, l, op.getInverse(), x, perm, out, iv[0], iv[1], iv[2]);
                 });
}

void lowerGather(RewriterBase &rw, GatherOp op) {
  lowerRowCopies(rw, op, op.getX(), op.getRows(),
                 [&](OpBuilder &b, Location l, Value x, Value rows, Value out, ValueRange iv) {
                   buildGatherRow(b, l, x, rows, out, iv[0], iv[1], iv[2]);
                 });
}

void lowerSample(RewriterBase &rw, SampleOp op) {
  Location loc = op.getLoc();
  rw.setInsertionPoint(op);
  Value x = readBuffer(rw, loc, op.getX());
  Value heads = op.getPer() ? dimOf(rw, loc, readBuffer(rw, loc, op.getPer()), 1)
                            : dimOf(rw, loc, x, 1);
  SmallVector<Value> dims{dimOf(rw, loc, x, 0), heads, cIdx(rw, loc, op.getCount())};
  Value m = dimOf(rw, loc, x, 2);
  Value rows = allocFor(rw, loc, op.getType(), dims);
  uint64_t seed = op.getSeed();
  Value stream =
      buildSampleStream(rw, loc, op.getOffset() ? readBuffer(rw, loc, op.getOffset()) : Value());
  parallelRows(rw, loc, dims, [&](OpBuilder &b, Location l, ValueRange iv) {
    Value r = buildSampleAt(b, l, seed, stream, m, iv[0], iv[1], iv[2]);
    memref::StoreOp::create(b, l, r, rows, iv);
  });
  Value result = asTensor(rw, loc, op.getType(), rows);
  rw.replaceOp(op, result);
  freeUnlessReturned(rw, result, rows);
}

/// Tasks over every index of `dims` but the last, each looping over the
/// last (a rank-1 tensor: a task per element).
void copyLoops(OpBuilder &b, Location loc, ArrayRef<Value> dims,
               function_ref<void(OpBuilder &, Location, ValueRange)> element) {
  if (dims.size() == 1)
    return parallelRows(b, loc, dims, element);
  parallelRows(b, loc, dims.drop_back(), [&](OpBuilder &rb, Location l, ValueRange iv) {
    forEach(rb, l, cIdx(rb, l, 0), dims.back(), [&](OpBuilder &eb, Location el, Value d) {
      SmallVector<Value> at(iv);
      at.push_back(d);
      element(eb, el, at);
    });
  });
}

SmallVector<Value> dimsOf(OpBuilder &b, Location loc, Value buf) {
  SmallVector<Value> dims;
  for (int64_t d = 0; d < cast<MemRefType>(buf.getType()).getRank(); ++d)
    dims.push_back(dimOf(b, loc, buf, d));
  return dims;
}

void lowerSplitHeads(RewriterBase &rw, SplitHeadsOp op) {
  Location loc = op.getLoc();
  rw.setInsertionPoint(op);
  Value x = readBuffer(rw, loc, op.getX());
  int64_t dim = op.getDim(), P = static_cast<int64_t>(op.getParts().size());
  SmallVector<Value> dims = dimsOf(rw, loc, x);
  Value heads = dims[dim];
  dims[dim] = splitHeadCount(rw, loc, heads, P);
  SmallVector<Value> tensors, buffers;
  for (auto [p, part] : llvm::enumerate(op.getParts())) {
    Value buf = allocFor(rw, loc, part.getType(), dims);
    Value first = splitHeadStart(rw, loc, heads, static_cast<int64_t>(p), P);
    copyLoops(rw, loc, dims, [&](OpBuilder &b, Location l, ValueRange at) {
      Value from = arith::AddIOp::create(b, l, first, at[dim]);
      buildHeadCopyAt(b, l, x, buf, SmallVector<Value>(at), dim, from, at[dim]);
    });
    buffers.push_back(buf);
    tensors.push_back(asTensor(rw, loc, part.getType(), buf));
  }
  rw.replaceOp(op, tensors);
  for (auto [t, buf] : llvm::zip(tensors, buffers))
    freeUnlessReturned(rw, t, buf);
}

void lowerJoinHeads(RewriterBase &rw, JoinHeadsOp op) {
  Location loc = op.getLoc();
  rw.setInsertionPoint(op);
  int64_t dim = op.getDim(), P = static_cast<int64_t>(op.getParts().size());
  SmallVector<Value> parts;
  for (Value part : op.getParts())
    parts.push_back(readBuffer(rw, loc, part));
  SmallVector<Value> dims = dimsOf(rw, loc, parts[0]), outDims = dims;
  Value each = dims[dim];
  outDims[dim] = arith::MulIOp::create(rw, loc, each, cIdx(rw, loc, P));
  Value out = allocFor(rw, loc, op.getType(), outDims);
  for (int64_t p = 0; p < P; ++p) {
    Value first = joinHeadStart(rw, loc, each, p);
    copyLoops(rw, loc, dims, [&](OpBuilder &b, Location l, ValueRange at) {
      Value to = arith::AddIOp::create(b, l, first, at[dim]);
      buildHeadCopyAt(b, l, parts[p], out, SmallVector<Value>(at), dim, at[dim], to);
    });
  }
  Value result = asTensor(rw, loc, op.getType(), out);
  rw.replaceOp(op, result);
  freeUnlessReturned(rw, result, out);
}

void lowerLandmark(RewriterBase &rw, LandmarkOp op, int64_t lanes) {
  Location loc = op.getLoc();
  rw.setInsertionPoint(op);
  LandmarkRow row;
  row.q = readBuffer(rw, loc, op.getQ());
  row.k = readBuffer(rw, loc, op.getK());
  row.v = readBuffer(rw, loc, op.getV());
  row.landmarks = readBuffer(rw, loc, op.getLandmarks());
  row.block = op.getBlock();
  row.topk = op.getTopk() ? static_cast<int64_t>(*op.getTopk()) : -1;
  row.scale = op.getScaleValue();
  SmallVector<Value> dims;
  for (int64_t d = 0; d < 3; ++d)
    dims.push_back(dimOf(rw, loc, row.q, d));
  Value dv = dimOf(rw, loc, row.v, 3);
  row.out = allocFor(rw, loc, op.getOut().getType(),
                     {dims[0], dims[1], dims[2], dv});
  row.lse = allocFor(rw, loc, op.getLse().getType(), dims);
  Value blocks = dimOf(rw, loc, row.landmarks, 2);
  int64_t dvStatic = op.getOut().getType().getDimSize(3);
  parallelRows(rw, loc, dims, [&](OpBuilder &b, Location l, ValueRange iv) {
    LandmarkRow r = row;
    // The vector form reads the logits in whole chunks of lanes.
    ScratchRow logits = allocScratchRow(
        b, l, lanes > 0 ? arith::AddIOp::create(b, l, blocks, cIdx(b, l, lanes)).getResult()
                        : blocks);
    r.logits = logits.buffer;
    auto vec = MemRefType::get({dvStatic}, b.getF32Type());
    r.acc = memref::AllocaOp::create(b, l, vec);
    r.unit = memref::AllocaOp::create(b, l, vec);
    if (lanes > 0) {
      r.lanes = lanes;
      r.scores = memref::AllocaOp::create(
          b, l, MemRefType::get({landmarkScoresSize(row.block, lanes)},
                                b.getF32Type()));
    }
    buildLandmarkRow(b, l, r, iv[0], iv[1], iv[2]);
    freeScratchRow(b, l, logits);
  });
  Value outT = asTensor(rw, loc, op.getOut().getType(), row.out);
  Value lseT = asTensor(rw, loc, op.getLse().getType(), row.lse);
  rw.replaceOp(op, {outT, lseT});
  freeUnlessReturned(rw, outT, row.out);
  freeUnlessReturned(rw, lseT, row.lse);
}

struct AttnLowerRoutePass
    : public attn::impl::AttnLowerRouteBase<AttnLowerRoutePass> {
  using Base::Base;
  void runOnOperation() override {
    ModuleOp module = getOperation();
    SmallVector<RouteOp> routes;
    SmallVector<PermuteOp> permutes;
    SmallVector<LandmarkOp> landmarks;
    SmallVector<Operation *> samples; // attn.sample and attn.gather
    SmallVector<Operation *> heads; // attn.split_heads and attn.join_heads
    module.walk([&](Operation *op) {
      if (isa<SampleOp, GatherOp>(op))
        samples.push_back(op);
      if (isa<SplitHeadsOp, JoinHeadsOp>(op))
        heads.push_back(op);
      if (auto r = dyn_cast<RouteOp>(op))
        routes.push_back(r);
      else if (auto p = dyn_cast<PermuteOp>(op))
        permutes.push_back(p);
      else if (auto m = dyn_cast<LandmarkOp>(op))
        landmarks.push_back(m);
    });
    IRRewriter rw(&getContext());
    int64_t id = 0;
    for (RouteOp op : routes)
      lowerRoute(rw, module, op, id++);
    for (Operation *op : heads) {
      if (auto s = dyn_cast<SplitHeadsOp>(op))
        lowerSplitHeads(rw, s);
      else
        lowerJoinHeads(rw, cast<JoinHeadsOp>(op));
    }
    for (PermuteOp op : permutes)
      lowerPermute(rw, op);
    for (Operation *op : samples) {
      if (auto s = dyn_cast<SampleOp>(op))
        lowerSample(rw, s);
      else
        lowerGather(rw, cast<GatherOp>(op));
    }
    for (LandmarkOp op : landmarks) {
      if (op.isByBlocks()) {
        op.emitError() << "the by-blocks form (attn-landmark-split) is the CUDA kernels'; "
                          "the CPU lowers attn.landmark without scratch results";
        return signalPassFailure();
      }
      lowerLandmark(rw, op, lanes);
    }
  }
};

} // namespace
