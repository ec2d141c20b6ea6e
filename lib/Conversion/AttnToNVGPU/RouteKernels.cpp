//===- RouteKernels.cpp - attn.route and attn.permute on the GPU ----------===//
//
// attn.route is two kernels of one program step (docs/design/routing.md):
//   "<step>_c0"  buckets: with few static centroids a block per tile of a
//                row, scored in float32 (tensor cores for f16/bf16 rows,
//                RouteBucketScreen.cpp) and kept where provably the
//                float64 argmax, else the float64 dots of
//                Utils/RouteBuilders.h (the reference's sums, so buckets
//                agree bit for bit); LSH and many centroids: a thread per
//                token, float64;
//   "<step>"     order: a block per (b, h) row, a stable counting sort. Each
//                warp owns a contiguous segment of the row and counts its
//                buckets in shared memory (ballots on the key's bits give
//                a lane its peers: the lowest adds their number), the
//                counts become slots (bucket-major, then warp: the order
//                of positions), and a second walk writes each token to its
//                slot + its rank among its peers of lower lanes.
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

namespace {
constexpr const char *kDynamicShared = "attn_dsmem";
} // namespace

gpu::GPUFuncOp mlir::attn::cuda::buildSharedStepKernel(
    OpBuilder &gb, func::FuncOp fn, Operation *op, StringRef name, const SharedStepLaunch &launch,
    function_ref<void(ImplicitLocOpBuilder &, gpu::GPUFuncOp, function_ref<Value(Value)>, Value)>
        body) {
  SmallVector<Value> values(op->getOperands());
  llvm::append_range(values, op->getResults());
  declareDynamicShared(gb, cast<gpu::GPUModuleOp>(gb.getBlock()->getParentOp()), op->getLoc());
  gpu::GPUFuncOp kfn = createStepKernel(gb, fn, values, name, launch.gridArg, launch.gridDims,
                                        launch.threads, launch.lanes);
  kfn->setAttr("attn.dynamic_shared", gb.getI64IntegerAttr(launch.sharedBytes));
  OpBuilder ob(gb.getContext());
  ob.setInsertionPointToStart(&kfn.getBody().front());
  ImplicitLocOpBuilder b(op->getLoc(), ob);
  auto arg = [&](Value x) -> Value {
    return kfn.getArgument(llvm::find(values, x) - values.begin());
  };
  body(b, kfn, arg, dynamicSharedBytes(b, launch.sharedBytes));
  b.setInsertionPointToEnd(&kfn.getBody().front());
  gpu::ReturnOp::create(b);
  return kfn;
}

void mlir::attn::cuda::declareDynamicShared(OpBuilder &gb, gpu::GPUModuleOp m,
                                            Location loc) {
  if (m.lookupSymbol(kDynamicShared))
    return;
  // One public zero-size extern: `.extern .shared .align 1024 .b8
  // attn_dsmem[]` (gpu.dynamic_shared_memory would make it a private
  // 1-byte array: shared/notes/tc-probe pitfall 3).
  auto wg = gpu::AddressSpaceAttr::get(gb.getContext(), gpu::AddressSpace::Workgroup);
  memref::GlobalOp::create(
      gb, loc, kDynamicShared, gb.getStringAttr("public"),
      MemRefType::get({0}, gb.getI8Type(), MemRefLayoutAttrInterface(), wg),
      Attribute(), /*constant=*/false, gb.getI64IntegerAttr(1024));
}

Value mlir::attn::cuda::dynamicSharedBytes(ImplicitLocOpBuilder &b, int64_t bytes) {
  auto wg = gpu::AddressSpaceAttr::get(b.getContext(), gpu::AddressSpace::Workgroup);
  auto i8 = b.getI8Type();
  Value g = memref::GetGlobalOp::create(
      b, MemRefType::get({0}, i8, MemRefLayoutAttrInterface(), wg), kDynamicShared);
  auto rawTy = MemRefType::get({bytes}, i8, MemRefLayoutAttrInterface(), wg);
  return memref::ReinterpretCastOp::create(b, rawTy, g, 0, ArrayRef<int64_t>{bytes},
                                           ArrayRef<int64_t>{1});
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
  SmallVector<Value> extents;
  for (unsigned d = 1; d < rank; ++d)
    extents.push_back(memref::DimOp::create(b, grid, d));
  return unflattenIndex(b, b.getLoc(), id, extents);
}

void mlir::attn::cuda::endKernel(ImplicitLocOpBuilder &b, gpu::GPUFuncOp kfn) {
  b.setInsertionPointToEnd(&kfn.getBody().front());
  gpu::ReturnOp::create(b);
}

namespace {
using cuda::endKernel;

/// Shared-memory counters of the order kernel: for `keys` keys, a table
/// of W per-warp counters per key then the keys' totals.
int64_t tableSize(int64_t W, int64_t keys) { return (W + 1) * keys; }

/// Warps per row of the order kernel: as many as fit its tables in 48 KiB
/// of shared memory (`perKey` ints per key and warp).
int64_t orderWarps(int64_t perKey) {
  return std::clamp<int64_t>(12288 / perKey - 1, 1, 32);
}

/// The order kernel's row (bi, h): a stable counting sort of the row's
/// tokens by bucket; with chunks, a second one by the chunk of each
/// token's slot (its counts from the slot ranges, no walk). Each warp owns
/// a contiguous segment of the row and walks
/// it 32 tokens at a time; ballots give a lane the lanes with its key,
/// the lowest of them adds their number to the warp's counter of the key.
struct OrderRow {
  ImplicitLocOpBuilder &b;
  Value bucket, perm, counts, bi, h, tid;
  int64_t W, buckets, chunks; // chunks 0: none
  Value warp, lane, below, segBegin, segEnd;
  // Table offsets in `counts`: bucket counters (then first slots), a copy
  // of the per-warp bucket counts (with chunks), chunk counters.
  int64_t bTab = 0, bSnap = 0, kTab = 0;

  Value c(int64_t v) { return cIdx(b, b.getLoc(), v); }
  Value i32(OpBuilder &x, Location l, int64_t v) {
    return arith::ConstantIntOp::create(x, l, x.getI32Type(), v);
  }
  Value popc(OpBuilder &x, Location l, Value v) {
    return arith::IndexCastOp::create(
        x, l, x.getIndexType(), LLVM::CtPopOp::create(x, l, x.getI32Type(), v));
  }
  int64_t threads() const { return 32 * W; }

  void strided(int64_t n, function_ref<void(OpBuilder &, Location, Value)> body) {
    scf::ForOp::create(b, tid, c(n), c(threads()), ValueRange{},
                       [&](OpBuilder &fb, Location l, Value i, ValueRange) {
                         body(fb, l, i);
                         scf::YieldOp::create(fb, l);
                       });
  }
  /// The counter of key `key` (i32) of this warp in the table at `tab`.
  /// A lane past the segment end has key -1: it reads key 0's counter
  /// (its own warp's; the value goes unused), never a neighbour warp's,
  /// which that warp may be writing (compute-sanitizer racecheck).
  Value counter(OpBuilder &x, Location l, int64_t tab, int64_t keys, Value key) {
    Value k = arith::MaxSIOp::create(x, l, key, i32(x, l, 0));
    return arith::AddIOp::create(
        x, l, cIdx(x, l, tab),
        arith::AddIOp::create(x, l, arith::MulIOp::create(x, l, warp, cIdx(x, l, keys)),
                              arith::IndexCastOp::create(x, l, x.getIndexType(), k)));
  }
  /// The lanes whose key equals this lane's, among the lanes with a key
  /// (>= 0): a ballot per bit of the `keys` possible keys. match.any did
  /// this in one instruction whose latency was most of the kernel's time
  /// (ncu: short-scoreboard stalls on its result); ballots are cheap.
  Value peersOf(OpBuilder &x, Location l, Value key, int64_t keys) {
    auto ballot = [&](Value pred) -> Value {
      return NVVM::VoteSyncOp::create(
          x, l, x.getI32Type(), i32(x, l, -1), pred,
          NVVM::VoteSyncKindAttr::get(x.getContext(), NVVM::VoteSyncKind::ballot));
    };
    Value peers =
        ballot(arith::CmpIOp::create(x, l, arith::CmpIPredicate::sge, key, i32(x, l, 0)));
    for (int64_t bit = 0; (int64_t(1) << bit) < keys; ++bit) {
      Value set = arith::CmpIOp::create(
          x, l, arith::CmpIPredicate::ne,
          arith::AndIOp::create(x, l, key, i32(x, l, int64_t(1) << bit)), i32(x, l, 0));
      Value votes = ballot(set);
      Value same = arith::SelectOp::create(
          x, l, set, votes, arith::XOrIOp::create(x, l, votes, i32(x, l, -1)));
      peers = arith::AndIOp::create(x, l, peers, same);
    }
    return peers;
  }
  /// The lowest valid lane of each group of peers.
  Value leader(OpBuilder &x, Location l, Value valid, Value peers) {
    return arith::AndIOp::create(
        x, l, valid,
        arith::CmpIOp::create(x, l, arith::CmpIPredicate::eq,
                              arith::AndIOp::create(x, l, peers, below), i32(x, l, 0)));
  }
  Value rank(OpBuilder &x, Location l, Value peers) {
    return popc(x, l, arith::AndIOp::create(x, l, peers, below));
  }
  /// The leader of each group adds the group's size to its counter; the
  /// warp syncs around it (every lane read the counter before).
  void bump(OpBuilder &x, Location l, int64_t tab, int64_t keys, Value valid,
            Value key, Value peers) {
    NVVM::SyncWarpOp::create(x, l, i32(x, l, -1));
    scf::IfOp::create(x, l, leader(x, l, valid, peers), [&](OpBuilder &tb, Location tl) {
      Value at = counter(tb, tl, tab, keys, key);
      Value n = memref::LoadOp::create(tb, tl, counts, ValueRange{at});
      Value add = arith::IndexCastOp::create(tb, tl, tb.getI32Type(), popc(tb, tl, peers));
      memref::StoreOp::create(tb, tl, arith::AddIOp::create(tb, tl, n, add), counts,
                              ValueRange{at});
      scf::YieldOp::create(tb, tl);
    });
    NVVM::SyncWarpOp::create(x, l, i32(x, l, -1));
  }
  /// Walks the warp's segment 32 tokens at a time: `body` gets the token,
  /// whether it is in the segment, and its bucket (-1 past the end). The
  /// buckets of kWalkBatch such steps are loaded together first: the
  /// steps' counters in shared memory order them, so one load per step
  /// waits out an L2 latency each (0.037 against 0.031 ms at N = 16384).
  static constexpr int64_t kWalkBatch = 8;
  void walk(function_ref<void(OpBuilder &, Location, Value, Value, Value)> body) {
    scf::ForOp::create(
        b, segBegin, segEnd, c(32 * kWalkBatch), ValueRange{},
        [&](OpBuilder &fb, Location l, Value t0, ValueRange) {
          Value last = arith::SubIOp::create(fb, l, segEnd, cIdx(fb, l, 1));
          SmallVector<Value> ts, valids, keys;
          for (int64_t s = 0; s < kWalkBatch; ++s) {
            Value t = arith::AddIOp::create(
                fb, l, arith::AddIOp::create(fb, l, t0, cIdx(fb, l, 32 * s)), lane);
            Value valid = arith::CmpIOp::create(fb, l, arith::CmpIPredicate::ult, t, segEnd);
            Value at = arith::MinUIOp::create(fb, l, t, last);
            Value k = memref::LoadOp::create(fb, l, bucket, ValueRange{bi, h, at});
            ts.push_back(t);
            valids.push_back(valid);
            keys.push_back(arith::SelectOp::create(fb, l, valid, k, i32(fb, l, -1)));
          }
          for (int64_t s = 0; s < kWalkBatch; ++s) {
            // Steps wholly past the segment's end do nothing (the warp
            // agrees: the condition is uniform).
            Value any = arith::CmpIOp::create(
                fb, l, arith::CmpIPredicate::ult,
                arith::AddIOp::create(fb, l, t0, cIdx(fb, l, 32 * s)), segEnd);
            auto step = scf::IfOp::create(fb, l, any, false);
            OpBuilder sb = OpBuilder::atBlockBegin(&step.getThenRegion().front());
            body(sb, l, ts[s], valids[s], keys[s]);
          }
          scf::YieldOp::create(fb, l);
        });
  }
  /// The slot of each token in the (bucket, position) order, from the
  /// bucket table (which it advances): a replay of the placing walk.
  Value slotOf(OpBuilder &x, Location l, Value valid, Value bk) {
    Value peers = peersOf(x, l, bk, buckets);
    Value next = memref::LoadOp::create(x, l, counts,
                                        ValueRange{counter(x, l, bTab, buckets, bk)});
    Value slot = arith::AddIOp::create(
        x, l, arith::IndexCastOp::create(x, l, x.getIndexType(), next), rank(x, l, peers));
    bump(x, l, bTab, buckets, valid, bk, peers);
    return slot;
  }
  /// Per key: the warps' counts become their first slots (keys in order,
  /// then warps: the order of positions); the table's totals first.
  void prefix(int64_t tab, int64_t keys) {
    strided(keys, [&](OpBuilder &fb, Location l, Value k) {
      auto run = scf::ForOp::create(
          fb, l, c(0), c(W), c(1), ValueRange{i32(fb, l, 0)},
          [&](OpBuilder &wb, Location wl, Value w, ValueRange acc) {
            Value at = arith::AddIOp::create(
                wb, wl, cIdx(wb, wl, tab),
                arith::AddIOp::create(wb, wl, arith::MulIOp::create(wb, wl, w, cIdx(wb, wl, keys)), k));
            Value n = memref::LoadOp::create(wb, wl, counts, ValueRange{at});
            memref::StoreOp::create(wb, wl, acc[0], counts, ValueRange{at});
            scf::YieldOp::create(wb, wl, ValueRange{arith::AddIOp::create(wb, wl, acc[0], n)});
          });
      memref::StoreOp::create(fb, l, run.getResult(0), counts,
                              ValueRange{arith::AddIOp::create(fb, l, k, cIdx(fb, l, tab + W * keys))});
    });
    gpu::BarrierOp::create(b);
    // One thread turns the totals into the keys' first slots (keys are
    // few next to the row's tokens).
    Value first = arith::CmpIOp::create(b, arith::CmpIPredicate::eq, tid, c(0));
    scf::IfOp::create(b, first, [&](OpBuilder &tb, Location tl) {
      scf::ForOp::create(
          tb, tl, cIdx(tb, tl, tab + W * keys), cIdx(tb, tl, tab + (W + 1) * keys),
          cIdx(tb, tl, 1), ValueRange{i32(tb, tl, 0)},
          [&](OpBuilder &sb, Location sl, Value at, ValueRange acc) {
            Value n = memref::LoadOp::create(sb, sl, counts, ValueRange{at});
            memref::StoreOp::create(sb, sl, acc[0], counts, ValueRange{at});
            scf::YieldOp::create(sb, sl, ValueRange{arith::AddIOp::create(sb, sl, acc[0], n)});
          });
      scf::YieldOp::create(tb, tl);
    });
    gpu::BarrierOp::create(b);
    strided(W * keys, [&](OpBuilder &fb, Location l, Value i) {
      Value at = arith::AddIOp::create(fb, l, i, cIdx(fb, l, tab));
      Value k = arith::RemUIOp::create(fb, l, i, cIdx(fb, l, keys));
      Value base = memref::LoadOp::create(
          fb, l, counts, ValueRange{arith::AddIOp::create(fb, l, k, cIdx(fb, l, tab + W * keys))});
      Value n = memref::LoadOp::create(fb, l, counts, ValueRange{at});
      memref::StoreOp::create(fb, l, arith::AddIOp::create(fb, l, n, base), counts,
                              ValueRange{at});
    });
    gpu::BarrierOp::create(b);
  }

  /// Per warp and chunk, the warp's tokens whose slots fall in the chunk:
  /// a thread per (warp, bucket) adds its slot range's overlap with each
  /// chunk it meets (shared atomics: ranges of one warp share chunks).
  void countChunks(Value width) {
    strided(W * buckets, [&](OpBuilder &fb, Location l, Value i) {
      ImplicitLocOpBuilder x(l, fb);
      Value start = memref::LoadOp::create(x, counts, ValueRange{i});
      Value n = memref::LoadOp::create(
          x, counts, ValueRange{arith::AddIOp::create(x, i, cIdx(x, l, bSnap))});
      Value end = arith::AddIOp::create(x, start, n);
      Value w = arith::DivUIOp::create(x, i, cIdx(x, l, buckets));
      Value first = arith::DivUIOp::create(x, start, width);
      // One past the last chunk met (none when n = 0).
      Value stop = arith::SelectOp::create(
          x, arith::CmpIOp::create(x, arith::CmpIPredicate::eq, n, i32(x, l, 0)), first,
          arith::AddIOp::create(
              x, arith::DivUIOp::create(x, arith::SubIOp::create(x, end, i32(x, l, 1)), width),
              i32(x, l, 1)));
      auto toIdx = [&](Value v) { return arith::IndexCastUIOp::create(x, x.getIndexType(), v); };
      scf::ForOp::create(
          x, toIdx(first), toIdx(stop), cIdx(x, l, 1), ValueRange{},
          [&](OpBuilder &cb, Location cl, Value j, ValueRange) {
            ImplicitLocOpBuilder y(cl, cb);
            Value j32 = arith::IndexCastUIOp::create(y, y.getI32Type(), j);
            Value lo = arith::MaxUIOp::create(y, start, arith::MulIOp::create(y, j32, width));
            Value hi = arith::MinUIOp::create(
                y, end,
                arith::MulIOp::create(y, arith::AddIOp::create(y, j32, i32(y, cl, 1)), width));
            Value at = arith::AddIOp::create(
                y, cIdx(y, cl, kTab),
                arith::AddIOp::create(y, arith::MulIOp::create(y, w, cIdx(y, cl, chunks)), j));
            memref::AtomicRMWOp::create(y, arith::AtomicRMWKind::addi,
                                        arith::SubIOp::create(y, hi, lo), counts, ValueRange{at});
            scf::YieldOp::create(y);
          });
    });
    gpu::BarrierOp::create(b);
  }

  void build() {
    Type ti32 = b.getI32Type();
    warp = arith::DivUIOp::create(b, tid, c(32));
    lane = arith::RemUIOp::create(b, tid, c(32));
    below = arith::SubIOp::create(
        b, arith::ShLIOp::create(b, i32(b, b.getLoc(), 1), arith::IndexCastOp::create(b, ti32, lane)),
        i32(b, b.getLoc(), 1));
    Value N = memref::DimOp::create(b, bucket, 2);
    Value seg = arith::CeilDivUIOp::create(b, N, c(W));
    segBegin = arith::MulIOp::create(b, warp, seg);
    segEnd = arith::MinUIOp::create(b, arith::AddIOp::create(b, segBegin, seg), N);
    bSnap = tableSize(W, buckets);
    kTab = bSnap + W * buckets;
    int64_t total = chunks ? kTab + tableSize(W, chunks) : bSnap;
    strided(total, [&](OpBuilder &fb, Location l, Value i) {
      memref::StoreOp::create(fb, l, i32(fb, l, 0), counts, ValueRange{i});
    });
    gpu::BarrierOp::create(b);
    // Count the buckets, then their slots.
    walk([&](OpBuilder &x, Location l, Value, Value valid, Value bk) {
      bump(x, l, bTab, buckets, valid, bk, peersOf(x, l, bk, buckets));
    });
    gpu::BarrierOp::create(b);
    if (chunks) { // the counts outlive the prefix, which makes them slots
      strided(W * buckets, [&](OpBuilder &fb, Location l, Value i) {
        Value v = memref::LoadOp::create(fb, l, counts, ValueRange{i});
        memref::StoreOp::create(fb, l, v, counts,
                                ValueRange{arith::AddIOp::create(fb, l, i, cIdx(fb, l, bSnap))});
      });
      gpu::BarrierOp::create(b);
    }
    prefix(bTab, buckets);
    if (!chunks) {
      walk([&](OpBuilder &x, Location l, Value t, Value valid, Value bk) {
        Value slot = slotOf(x, l, valid, bk);
        scf::IfOp::create(x, l, valid, [&](OpBuilder &tb, Location tl) {
          memref::StoreOp::create(tb, tl, arith::IndexCastOp::create(tb, tl, tb.getI32Type(), t),
                                  perm, ValueRange{bi, h, slot});
          scf::YieldOp::create(tb, tl);
        });
      });
      return;
    }
    // chunks(C): no walk counts the chunks. Warp w's tokens of bucket k
    // hold the consecutive slots [start, start + count) (a bucket's slots
    // go warp by warp), so warp w's count of chunk j is the sum over k of
    // that range's overlap with j's slots; one walk then places each token
    // by (chunk of its slot, position).
    Value width = arith::MaxUIOp::create(b, arith::CeilDivUIOp::create(b, N, c(chunks)), c(1));
    // In 32 bits (slots < N < 2^31): a 64-bit division is a long
    // subroutine on the GPU, and this kernel is bound by instruction issue.
    Value width32 = arith::IndexCastUIOp::create(b, ti32, width);
    auto chunkOf = [&](OpBuilder &x, Location l, Value valid, Value slot) -> Value {
      Value k = arith::DivUIOp::create(
          x, l, arith::IndexCastUIOp::create(x, l, x.getI32Type(), slot), width32);
      return arith::SelectOp::create(x, l, valid, k, i32(x, l, -1));
    };
    countChunks(width32);
    prefix(kTab, chunks);
    walk([&](OpBuilder &x, Location l, Value t, Value valid, Value bk) {
      Value key = chunkOf(x, l, valid, slotOf(x, l, valid, bk));
      Value peers = peersOf(x, l, key, chunks);
      Value next = memref::LoadOp::create(x, l, counts,
                                          ValueRange{counter(x, l, kTab, chunks, key)});
      Value at = arith::AddIOp::create(
          x, l, arith::IndexCastOp::create(x, l, x.getIndexType(), next), rank(x, l, peers));
      scf::IfOp::create(x, l, valid, [&](OpBuilder &tb, Location tl) {
        memref::StoreOp::create(tb, tl, arith::IndexCastOp::create(tb, tl, tb.getI32Type(), t),
                                perm, ValueRange{bi, h, at});
        scf::YieldOp::create(tb, tl);
      });
      bump(x, l, kTab, chunks, valid, key, peers);
    });
  }
};

} // namespace

int64_t mlir::attn::cuda::routeBucketLimit() { return 4096; }

namespace {
/// Few static centroids whose f64 copy fits in this much static shared
/// memory are staged once per block: the per-token conversions of every
/// centroid element to f64 were most of the bucket kernel's time.
constexpr int64_t kStagedCentroidBytes = 32 * 1024;

bool stagesCentroids(RouteOp op) {
  auto mu = op.getCentroids() ? dyn_cast<RankedTensorType>(op.getCentroids().getType())
                              : RankedTensorType();
  if (!mu || mu.getRank() != 3)
    return false;
  int64_t C = mu.getDimSize(1), D = mu.getDimSize(2);
  return !ShapedType::isDynamic(C) && !ShapedType::isDynamic(D) && C <= kFewCentroids &&
         C * D * 8 <= kStagedCentroidBytes;
}

/// A private shared-memory global `name` of `type` beside kernel `kfn`.
MemRefType declareShared(OpBuilder &gb, gpu::GPUFuncOp kfn, const Twine &name,
                         ArrayRef<int64_t> shape, Type elt) {
  auto type = MemRefType::get(
      shape, elt, MemRefLayoutAttrInterface(),
      gpu::AddressSpaceAttr::get(gb.getContext(), gpu::AddressSpace::Workgroup));
  OpBuilder::InsertionGuard g(gb);
  gb.setInsertionPoint(kfn);
  memref::GlobalOp::create(gb, kfn.getLoc(), name.str(), gb.getStringAttr("private"), type,
                           Attribute(), /*constant=*/false, gb.getI64IntegerAttr(16));
  return type;
}

/// The bucket kernels' blocks: block id -> tile of `tokens` tokens of row
/// (bi, h) of bucket [B, H, N], starting at token t0.
struct RowTile {
  Value bi, h, t0, n;
};
RowTile rowTileOfBlock(ImplicitLocOpBuilder &b, Value grid, int64_t tokens) {
  auto c = [&](int64_t v) { return cIdx(b, b.getLoc(), v); };
  RowTile r;
  r.n = memref::DimOp::create(b, grid, 2);
  Value heads = memref::DimOp::create(b, grid, 1);
  Value tiles = arith::CeilDivUIOp::create(b, r.n, c(tokens));
  Value blk = gpu::BlockIdOp::create(b, gpu::Dimension::x);
  Value rest = arith::DivUIOp::create(b, blk, tiles);
  r.t0 = arith::MulIOp::create(b, arith::RemUIOp::create(b, blk, tiles), c(tokens));
  r.h = arith::RemUIOp::create(b, rest, heads);
  r.bi = arith::DivUIOp::create(b, rest, heads);
  return r;
}

/// The bucket kernel on tensor cores (cuda::buildMmaBuckets): a block of
/// kMmaBucketThreads per kMmaBucketRows tokens of one (b, h) row.
LogicalResult buildMmaBucketKernel(OpBuilder &gb, gpu::GPUFuncOp bucketFn, unsigned bucketArg,
                                   StringRef name, Type elt, int64_t C, int64_t D) {
  auto xsType = declareShared(gb, bucketFn, name + "_x", {cuda::kMmaBucketRows, D + 8}, elt);
  auto msType = declareShared(gb, bucketFn, name + "_mu", {C, D + 8}, elt);
  auto todoType = declareShared(gb, bucketFn, name + "_todo", {2 * cuda::kMmaBucketRows + 1},
                                gb.getI32Type());
  bucketFn->setAttr("attn.grid_tile", gb.getDenseI64ArrayAttr({1, cuda::kMmaBucketRows}));
  // Blocks are short (a copy, a few MMAs): several per SM hide each one's
  // copy latency. The float64 fallback may spill under this bound; it is
  // rare.
  bucketFn->setAttr(NVVM::NVVMDialect::getMinctasmAttrName(), gb.getI32IntegerAttr(8));
  OpBuilder ob(gb.getContext());
  ob.setInsertionPointToStart(&bucketFn.getBody().front());
  ImplicitLocOpBuilder b(bucketFn.getLoc(), ob);
  Value grid = bucketFn.getArgument(bucketArg);
  RowTile rt = rowTileOfBlock(b, grid, cuda::kMmaBucketRows);
  cuda::MmaBucketTile tile;
  tile.x = bucketFn.getArgument(0);
  tile.mu = bucketFn.getArgument(1);
  tile.bucket = grid;
  tile.xs = memref::GetGlobalOp::create(b, xsType, (name + "_x").str());
  tile.ms = memref::GetGlobalOp::create(b, msType, (name + "_mu").str());
  tile.todo = memref::GetGlobalOp::create(b, todoType, (name + "_todo").str());
  tile.bi = rt.bi;
  tile.h = rt.h;
  tile.t0 = rt.t0;
  tile.n = rt.n;
  tile.tid = gpu::ThreadIdOp::create(b, gpu::Dimension::x);
  tile.C = C;
  tile.D = D;
  cuda::buildMmaBuckets(b, tile);
  endKernel(b, bucketFn);
  return success();
}

/// Head h's centroids [1, C, D] into the shared `mu` (converted to its
/// element type), `threads` threads a pass, then a barrier.
void stageHeadCentroids(ImplicitLocOpBuilder &b, Value centroids, Value mu, Value h, Value tid,
                        int64_t threads) {
  auto stageType = cast<MemRefType>(mu.getType());
  int64_t C = stageType.getDimSize(1), D = stageType.getDimSize(2);
  auto c = [&](int64_t v) { return cIdx(b, b.getLoc(), v); };
  for (int64_t e = 0; e < C * D; e += threads) {
    Value i = arith::AddIOp::create(b, tid, c(e));
    OpBuilder::InsertionGuard g(b);
    if (C * D - e < threads) {
      auto in = scf::IfOp::create(
          b, arith::CmpIOp::create(b, arith::CmpIPredicate::ult, i, c(C * D)), false);
      b.setInsertionPointToStart(&in.getThenRegion().front());
    }
    Value ci = arith::DivUIOp::create(b, i, c(D)), di = arith::RemUIOp::create(b, i, c(D));
    Value x = memref::LoadOp::create(b, centroids, ValueRange{h, ci, di});
    Type to = stageType.getElementType();
    memref::StoreOp::create(b, x.getType() == to ? x : arith::ExtFOp::create(b, to, x).getResult(),
                            mu, ValueRange{c(0), ci, di});
  }
  gpu::BarrierOp::create(b);
}

/// Each token's bucket ks[u] as i32 at (bi, h, ts[u]) of `grid`; the first
/// token is in the row already, the others are checked against n.
void storeTokenBuckets(ImplicitLocOpBuilder &b, Value grid, ArrayRef<Value> ks,
                       ArrayRef<Value> ts, Value n, Value bi, Value h) {
  for (size_t u = 0; u < ks.size(); ++u) {
    OpBuilder::InsertionGuard g(b);
    if (u) {
      auto inRow = scf::IfOp::create(
          b, arith::CmpIOp::create(b, arith::CmpIPredicate::ult, ts[u], n), false);
      b.setInsertionPointToStart(&inRow.getThenRegion().front());
    }
    memref::StoreOp::create(b, arith::IndexCastOp::create(b, b.getI32Type(), ks[u]), grid,
                            ValueRange{bi, h, ts[u]});
  }
}

/// The bucket kernel `name`: a thread per token. With staged centroids a
/// block takes 256 tokens of one (b, h) row (the grid in tiles of 1 x 256
/// of bucket's [H, N]), first converts that head's centroids to f64 in
/// shared memory, and each thread scores two tokens (t, t + 128), so each
/// centroid piece it loads from shared memory serves both: those loads,
/// not the float64 fmas, bounded the kernel. The sums are the same float64
/// sums in feature order.
LogicalResult buildBucketKernel(OpBuilder &gb, func::FuncOp fn, RouteOp op,
                                ArrayRef<Value> values, unsigned bucketArg, StringRef name,
                                StringRef signs) {
  Location loc = op.getLoc();
  constexpr int64_t kThreads = 128;
  bool staged = stagesCentroids(op);
  // Staged centroids in rows of whole 16-byte pieces are screened in
  // float32 (RouteBucketScreen.cpp): on tensor cores for f16/bf16 rows
  // where their shapes allow, else by fmas, 4 tokens a thread (float32
  // sums take half the registers of float64 ones).
  RankedTensorType muType =
      staged ? cast<RankedTensorType>(op.getCentroids().getType()) : RankedTensorType();
  Type muElt = staged ? muType.getElementType() : Type();
  bool screen = staged && cuda::screensBuckets(muElt) &&
                muType.getDimSize(2) * muElt.getIntOrFloatBitWidth() % 128 == 0;
  const int64_t kTokensPerThread = screen ? 4 : 2;
  auto bucketFn = cuda::createStepKernel(gb, fn, values, name, bucketArg, 3, kThreads,
                                   staged ? kThreads : 1);
  if (screen && cuda::screensBucketsByMma(muElt, muType.getDimSize(1), muType.getDimSize(2)))
    return buildMmaBucketKernel(gb, bucketFn, bucketArg, name, muElt, muType.getDimSize(1),
                                muType.getDimSize(2));
  std::string stageName = (name + "_mu").str();
  MemRefType stageType;
  if (staged) {
    stageType = declareShared(gb, bucketFn, stageName,
                              {1, muType.getDimSize(1), muType.getDimSize(2)},
                              screen ? gb.getF32Type() : gb.getF64Type());
    if (screen)
      declareShared(gb, bucketFn, name + "_norms", {muType.getDimSize(1)}, gb.getF32Type());
    bucketFn->setAttr("attn.grid_tile",
                      gb.getDenseI64ArrayAttr({1, kThreads * kTokensPerThread}));
  }
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
  Value grid = bucketFn.getArgument(bucketArg);
  auto store = [&](Value bi, Value h, Value t) {
    Value k = buildRouteBucketAt(b, loc, site, bi, h, t);
    memref::StoreOp::create(b, arith::IndexCastOp::create(b, b.getI32Type(), k), grid,
                            ValueRange{bi, h, t});
  };
  if (!staged) {
    Value lane;
    SmallVector<Value> at = cuda::enterStepItem(b, grid, 3, kThreads, 1, lane);
    store(at[0], at[1], at[2]);
    endKernel(b, bucketFn);
    return success();
  }
  auto c = [&](int64_t v) { return cIdx(b, loc, v); };
  RowTile rt = rowTileOfBlock(b, grid, kThreads * kTokensPerThread);
  Value n = rt.n, h = rt.h, bi = rt.bi;
  Value tid = gpu::ThreadIdOp::create(b, gpu::Dimension::x);
  Value t = arith::AddIOp::create(b, rt.t0, tid);
  // Tokens past the row's end score its last token (a valid row) and
  // store nothing.
  SmallVector<Value> ts, loadAt, firstX;
  for (int64_t u = 0; u < kTokensPerThread; ++u) {
    ts.push_back(arith::AddIOp::create(b, t, c(u * kThreads)));
    loadAt.push_back(arith::MinUIOp::create(b, ts.back(), arith::SubIOp::create(b, n, c(1))));
  }
  // The screen's first pieces of x load while the centroids are staged.
  if (screen)
    firstX = cuda::loadTokenPieces(b, site.x, bi, h, loadAt, c(0));
  Value mu = memref::GetGlobalOp::create(b, stageType, stageName);
  int64_t C = stageType.getDimSize(1), D = stageType.getDimSize(2);
  stageHeadCentroids(b, site.centroids, mu, h, tid, kThreads);
  Value maxNorm2;
  if (screen) {
    auto normsType = MemRefType::get({C}, b.getF32Type(), MemRefLayoutAttrInterface(),
                                     stageType.getMemorySpace());
    Value norms = memref::GetGlobalOp::create(b, normsType, (name + "_norms").str());
    maxNorm2 = cuda::maxCentroidNorm2(b, mu, norms, tid, C, D);
  }
  site.centroids = mu;
  site.centroidHead = c(0);
  auto in = scf::IfOp::create(b, arith::CmpIOp::create(b, arith::CmpIPredicate::ult, t, n),
                              false);
  b.setInsertionPointToStart(&in.getThenRegion().front());
  SmallVector<Value> ks = screen ? cuda::screenedNearest(b, site, maxNorm2, C, D, bi, h, loadAt,
                                                         firstX)
                                 : buildRouteBucketsAt(b, loc, site, bi, h, loadAt);
  storeTokenBuckets(b, grid, ks, ts, n, bi, h);
  endKernel(b, bucketFn);
  return success();
}
} // namespace

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
  int64_t K = op.getChunks() ? static_cast<int64_t>(*op.getChunks()) : 0;
  if (K > routeBucketLimit())
    return op.emitError() << "attn.route on CUDA takes chunks(C) up to "
                          << routeBucketLimit() << ", got " << K;
  // Per key and warp: bucket counters and a copy of them, chunk counters.
  int64_t W = orderWarps(K ? 2 * C + K : C);
  int64_t words = K ? tableSize(W, C) + W * C + tableSize(W, K) : tableSize(W, C);
  auto countsType = MemRefType::get(
      {words}, gb.getI32Type(), MemRefLayoutAttrInterface(),
      gpu::AddressSpaceAttr::get(gb.getContext(), gpu::AddressSpace::Workgroup));
  memref::GlobalOp::create(gb, loc, counts, gb.getStringAttr("private"),
                           countsType, Attribute(), /*constant=*/false,
                           gb.getI64IntegerAttr(16));

  // Buckets: a thread per token.
  if (failed(buildBucketKernel(gb, fn, op, values, bucketArg, (name + "_c0").str(), signs)))
    return failure();
  // Order: a block of W warps per (b, h) row.
  auto orderFn = createStepKernel(gb, fn, values, name, permArg, 2, 32 * W, 32 * W);
  OpBuilder ob(gb.getContext());
  ob.setInsertionPointToStart(&orderFn.getBody().front());
  ImplicitLocOpBuilder b(loc, ob);
  Value cnt = memref::GetGlobalOp::create(b, countsType, counts);
  Value tid;
  SmallVector<Value> at =
      cuda::enterStepItem(b, orderFn.getArgument(permArg), 2, 32 * W, 32 * W, tid);
  OrderRow row{b, orderFn.getArgument(bucketArg), orderFn.getArgument(permArg),
               cnt, at[0], at[1], tid, W, C, K, {}, {}, {}, {}, {}};
  row.build();
  endKernel(b, orderFn);
  return success();
}

LogicalResult mlir::attn::cuda::buildRowCopyKernel(
    OpBuilder &gb, func::FuncOp fn, Operation *op, Value x, Value index, StringRef name,
    function_ref<void(ImplicitLocOpBuilder &, Value, Value, Value, ArrayRef<Value>, int64_t)>
        body) {
  Value result = op->getResult(0);
  SmallVector<Value> values = {x, index, result};
  auto type = cast<RankedTensorType>(result.getType());
  unsigned rank = type.getRank();
  // A thread per 16 bytes of a token's features where rows are whole
  // 16-byte pieces (consecutive threads copy consecutive pieces), else a
  // thread per element.
  int64_t d = rank == 4 ? type.getDimSize(3) : ShapedType::kDynamic;
  int64_t bytes = type.getElementTypeBitWidth() / 8;
  int64_t width = 16 / bytes;
  bool vec = !ShapedType::isDynamic(d) && (d * bytes) % 16 == 0;
  int64_t lanes = vec ? d / width : 1;
  unsigned gridDims = vec ? 3 : rank;
  auto kfn = createStepKernel(gb, fn, values, name, 2, gridDims, 128, lanes);
  OpBuilder ob(gb.getContext());
  ob.setInsertionPointToStart(&kfn.getBody().front());
  ImplicitLocOpBuilder b(op->getLoc(), ob);
  Value lane;
  SmallVector<Value> at =
      cuda::enterStepItem(b, kfn.getArgument(2), gridDims, 128, lanes, lane);
  if (vec)
    at.push_back(arith::MulIOp::create(b, lane, cIdx(b, b.getLoc(), width)));
  body(b, kfn.getArgument(0), kfn.getArgument(1), kfn.getArgument(2), at, vec ? width : 1);
  endKernel(b, kfn);
  return success();
}

LogicalResult mlir::attn::cuda::buildPermuteKernel(OpBuilder &gb,
                                                   func::FuncOp fn,
                                                   PermuteOp op,
                                                   StringRef name) {
  return buildRowCopyKernel(
      gb, fn, op, op.getX(), op.getPerm(), name,
      [&](ImplicitLocOpBuilder &b, Value x, Value perm, Value out, ArrayRef<Value> at,
          int64_t width) {
        buildPermuteAt(b, b.getLoc(), op.getInverse(), x, perm, out, at, width);
      });
}

LogicalResult mlir::attn::cuda::buildLandmarkKernel(OpBuilder &gb,
                                                    func::FuncOp fn,
                                                    LandmarkOp op,
                                                    StringRef name) {
  if (canTileLandmark(op))
    return buildLandmarkTiles(gb, fn, op, name);
  SmallVector<Value> values = {op.getQ(),   op.getK(),   op.getV(),
                               op.getLandmarks(), op.getOut(), op.getLse()};
  // A thread per query row (b, h, i): the row builder the CPU uses, with
  // its logits recomputed per top-k pass and each block's softmax taken
  // online, so no scratch beyond two [Dv] rows in local memory: the form
  // for what LandmarkTiles.cpp does not take (f32, other block sizes).
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
