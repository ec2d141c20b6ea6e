//===- AttentionToNVGPU.cpp - attn.attention as a tensor-core GPU kernel -===//
//
// Rewrites every entry whose body is one attn.attention into a gpu.func
// kernel inside `gpu.module @attn_kernels`: the mma.sync kernel
// (FlashKernelSync.cpp, sm_80+) or, with mma=wgmma, the Hopper kernel
// (FlashKernelHopper.cpp, sm_90a). This file picks and checks the tile
// shape, declares the kernel's arguments and shared memory, and records the
// launch contract the runtime reads back: attn.block_q, attn.threads,
// attn.dynamic_shared, and for the Hopper kernel attn.tma_rows (the key
// rows of one K/V tensor-map box) with attn.tensor_maps (its last three
// arguments are the tensor maps of q, k and v, passed by value).
//
//===----------------------------------------------------------------------===//

#include "FlashKernel.h"
#include "SelectionKernels.h"
#include "attnir/Dialect/Attn/Utils/EntryBindings.h"
#include "attnir/Conversion/Passes.h"
#include "attnir/Dialect/Attn/Transforms/Passes.h"
#include "llvm/ADT/TypeSwitch.h"

namespace mlir::attn {
#define GEN_PASS_DEF_CONVERTATTNTONVGPU
#define GEN_PASS_DEF_ATTNTENSORMAPPARAMS
#include "attnir/Conversion/Passes.h.inc"
} // namespace mlir::attn

using namespace mlir;
using namespace mlir::attn;
using namespace mlir::attn::cuda;

namespace {

/// Whether the GPU path accepts an entry: ops that each become kernels
/// (selection ops and upstream elementwise ops, SelectionKernels.cpp;
/// attention, FlashKernel*.cpp) reading the entry's arguments or earlier
/// results. Every value is bound to an input, an output or a workspace
/// buffer the runtime owns. `lone`: the entry is one attention and nothing
/// else (its kernel reads the inputs, then the outputs; no steps).
bool isGpuProgram(func::FuncOp fn, AttentionOp &lone) {
  lone = nullptr;
  int64_t ops = 0;
  AttentionOp first;
  for (Operation &op : fn.getBody().front().without_terminator()) {
    ++ops;
    if (auto a = dyn_cast<AttentionOp>(op))
      first = first ? first : a;
    else if (!cuda::isSelectionOp(&op) &&
             !isa<RouteOp, PermuteOp, SampleOp, GatherOp, SplitHeadsOp, JoinHeadsOp, LandmarkOp,
                 ScanOp>(op))
      return false;
  }
  // Rule operands may repeat an input (rules(%q, %k)): the kernel then
  // binds its buffers by name, as a program step does.
  if (ops == 1 && first && !cuda::needsRowKernel(first) &&
      first.getRuleOperands().empty())
    lone = first;
  return ops > 0;
}

struct ConvertAttnToNVGPU
    : public attn::impl::ConvertAttnToNVGPUBase<ConvertAttnToNVGPU> {
  using Base::Base;

  void runOnOperation() override {
    ModuleOp module = getOperation();
    MLIRContext *ctx = &getContext();
    if (failed(checkOptions(module)))
      return signalPassFailure();
    SmallVector<func::FuncOp> entries;
    for (auto fn : module.getOps<func::FuncOp>())
      if (!fn.isExternal())
        entries.push_back(fn);

    OpBuilder mb(ctx);
    mb.setInsertionPointToEnd(module.getBody());
    auto gpuModule = gpu::GPUModuleOp::create(mb, module.getLoc(),
                                              "attn_kernels");
    module->setAttr(gpu::GPUDialect::getContainerModuleAttrName(),
                    UnitAttr::get(ctx));

    for (func::FuncOp fn : entries) {
      AttentionOp lone;
      if (!isGpuProgram(fn, lone)) {
        fn.emitError() << "the CUDA target compiles entries of attn.pool, "
                          "attn.project, attn.block_scores, attn.index_scores, attn.probs, "
                          "attn.select, attn.merge, attn.linear, attn.scan, attn.route, "
                          "attn.permute, attn.sample, attn.gather, attn.landmark, "
                          "attn.attention and the upstream "
                          "elementwise ops of a program";
        return signalPassFailure();
      }
      // One attention on the inputs, then the outputs; else a program.
      if (lone ? failed(buildAttentionKernel(gpuModule, fn, lone, fn.getName().str(), false))
               : failed(buildProgram(gpuModule, fn)))
        return signalPassFailure();
      fn.erase();
    }
  }

  /// The pass options' ranges, checked before anything is built.
  LogicalResult checkOptions(ModuleOp module) {
    struct Range {
      const char *name;
      int64_t value, lo, hi;
      const char *says;
    };
    const Range ranges[] = {
        {"warps", warps, 0, 12, "out of range 0 (auto)..12"},
        {"stages", stages, 0, 4, "must be 0 (auto) or 1..4"},
        {"m-tiles", mTiles, 0, 2, "must be 0 (auto), 1 or 2"},
        {"persistent", persistent, 0, 1, "must be 0 or 1"},
        {"gather-tma", gatherTma, 0, 1, "must be 0 or 1"},
        {"trace-tiles", traceTiles, 0, 1, "must be 0 or 1"},
        {"ctas-per-sm", ctasPerSm, 0, 4, "must be 0 (auto) or 1 to 4"},
    };
    for (const Range &r : ranges)
      if (r.value < r.lo || r.value > r.hi)
        return module.emitError() << "attn-to-nvgpu: " << r.name << "=" << r.value << " "
                                  << r.says;
    if (mma != "sync" && mma != "wgmma" && mma != "auto")
      return module.emitError() << "attn-to-nvgpu: mma=" << mma.getValue()
                                << " must be sync, wgmma or auto";
    if (keyBlock != 0 && (keyBlock < 16 || keyBlock > 128 || keyBlock % 16))
      return module.emitError() << "attn-to-nvgpu: key-block=" << keyBlock.getValue()
                                << " must be 0 (auto) or a multiple of 16 in 16..128";
    return success();
  }

  /// What the row kernel (RowAttention.cpp) needs: static head dims of at
  /// most 256 (each lane holds D / 32 and Dv / 32 values).
  LogicalResult checkRowKernel(AttentionOp op) {
    for (auto [name, dim] :
         {std::pair<const char *, int64_t>{"D", op.getQ().getType().getDimSize(3)},
          {"Dv", op.getV().getType().getDimSize(3)}})
      if (ShapedType::isDynamic(dim) || dim > 256)
        return op.emitError()
               << "a block list of block_size(" << op.listBlockQ() << ", "
               << op.listBlockK()
               << ") runs a warp per query row on the CUDA target, which "
                  "needs a static head dim "
               << name << " of at most 256";
    return success();
  }

  /// The attn.merge that `op`'s kernel can do in its epilogue: two (out,
  /// lse) parts and no unnormalised terms, one part op's results and their
  /// only uses, the other of op's element type and defined before op (its
  /// step has run). The flash kernels only (not the row kernel).
  static MergeOp fusableMerge(AttentionOp op) {
    if (cuda::needsRowKernel(op) || !op.getLse() || !op.getOut().hasOneUse() ||
        !op.getLse().hasOneUse())
      return {};
    auto merge = dyn_cast<MergeOp>(*op.getOut().getUsers().begin());
    if (!merge || merge.getNumPairs() != 2 || merge.getNumTerms() != 0)
      return {};
    unsigned mine = merge.getPartOut(0) == op.getOut() ? 0 : 1;
    if (merge.getPartOut(mine) != op.getOut() || merge.getPartLse(mine) != op.getLse())
      return {};
    Type elt = op.getOut().getType().getElementType();
    Value other = merge.getPartOut(1 - mine);
    if (cast<RankedTensorType>(other.getType()).getElementType() != elt ||
        merge.getOut().getType().getElementType() != elt)
      return {};
    for (Value x : {other, merge.getPartLse(1 - mine)})
      if (Operation *def = x.getDefiningOp(); def && !def->isBeforeInBlock(op))
        return {};
    return merge;
  }

  /// The kernel's extra operands with a fused merge: the other part's out
  /// and lse; its results: the merge's (else op's).
  static SmallVector<Value> priorOperands(AttentionOp op, MergeOp merge) {
    if (!merge)
      return {};
    unsigned other = merge.getPartOut(0) == op.getOut() ? 1 : 0;
    return {merge.getPartOut(other), merge.getPartLse(other)};
  }

  /// Whether `op` gets the Hopper kernel. auto (the pipeline passes it for
  /// sm_90a only): wherever its 128-byte TMA rows fit the head dims and the
  /// other options allow it; else mma.sync. A block list's query block must
  /// hold whole tiles (a tile reads one list row) and its key block whole
  /// kernel key blocks: the Hopper kernel's warpgroup tiles of 64 rows need
  /// block_q % 64 == 0 and block_k % 64 == 0; mma.sync takes anything down
  /// to 16 x 16.
  bool usesHopper(AttentionOp op) {
    auto multipleOf64 = [](int64_t dim) {
      return !ShapedType::isDynamic(dim) && dim > 0 && dim % 64 == 0;
    };
    int64_t listQ = op.listBlockQ(), listK = op.listBlockK();
    bool listFitsHopper = !listQ || (listQ % 64 == 0 && listK % 64 == 0);
    return mma == "wgmma" ||
           (mma == "auto" && multipleOf64(op.getQ().getType().getDimSize(3)) &&
            multipleOf64(op.getV().getType().getDimSize(3)) && warps % 4 == 0 &&
            mTiles <= 1 && stages <= 4 && listFitsHopper);
  }

  /// Whether `op`'s key schedule gives short tiles: at a probe shape
  /// (16384 queries and keys, the 128-row tile in the middle) its mask
  /// keeps keys in at most 2048 positions (16 blocks of 128), as a route's
  /// balanced chunks do (causal keeps 8192). A mask_rule region is not
  /// probed (no C++ block rule).
  static bool shortKeySpans(AttentionOp op) {
    MaskAttrInterface mask = op.getScheduleMask();
    if (!mask || op.hasMaskRule())
      return false;
    const int64_t n = 16384, i0 = n / 2;
    int64_t span = 0;
    for (KeyRange r : mask.keyRanges(i0, i0 + 128, n, n))
      span += std::max<int64_t>(0, r.visibleEnd - r.visibleBegin);
    return span <= 2048;
  }

  /// The permutes around `op` that its Hopper kernel does itself (routing,
  /// FlashShape::gatherRows): q, k and v each `attn.permute ... by %perm`
  /// (gather), %perm attn.route's order of the tensor q is gathered from
  /// (so q has perm's heads), and op's out used only by one `attn.permute
  /// ... by %perm inverse`; no lse and no fused merge (both would be in the
  /// routed order), not persistent and no trace (their producer is one
  /// lane). The kernel then reads the permutes' sources and writes
  /// the inverse's result; a gather whose result has other users still
  /// runs as its own step.
  struct FusedGather {
    Value perm;
    Value sources[3];
    PermuteOp scatter;
    SmallVector<PermuteOp> gathers; // the steps the kernel replaces
  };
  FusedGather fusableGather(AttentionOp op, MergeOp merge) {
    FusedGather g;
    if (!fuseGather || persistent == 1 || traceTiles == 1 || merge ||
        op.getLse() || cuda::needsRowKernel(op) ||
        !usesHopper(op) || !op.getOut().hasOneUse())
      return {};
    auto scatter = dyn_cast<PermuteOp>(*op.getOut().getUsers().begin());
    if (!scatter || !scatter.getInverse())
      return {};
    Value perm = scatter.getPerm();
    auto route = perm.getDefiningOp<RouteOp>();
    if (!route || route.getPerm() != perm)
      return {};
    Value qkv[3] = {op.getQ(), op.getK(), op.getV()};
    for (int i = 0; i < 3; ++i) {
      auto gather = qkv[i].getDefiningOp<PermuteOp>();
      if (!gather || gather.getInverse() || gather.getPerm() != perm)
        return {};
      g.sources[i] = gather.getX();
      if (llvm::all_of(gather->getUsers(),
                       [&](Operation *u) { return u == op.getOperation(); }) &&
          !llvm::is_contained(g.gathers, gather))
        g.gathers.push_back(gather);
    }
    if (g.sources[0] != route.getX())
      return {};
    g.perm = perm;
    g.scatter = scatter;
    return g;
  }

  /// The attention kernel `name` of `op` (FlashKernel*.cpp); `inProgram`:
  /// it records the buffers it binds (attn.step_args), else it reads the
  /// entry's inputs, then its outputs. `merge`: a merge it does in its
  /// epilogue (fusableMerge).
  LogicalResult buildAttentionKernel(gpu::GPUModuleOp gpuModule,
                                     func::FuncOp fn, AttentionOp op,
                                     std::string name, bool inProgram,
                                     MergeOp merge = {},
                                     const FusedGather &gather = {}) {
    SmallVector<Value> kernelOperands(op->getOperands());
    llvm::append_range(kernelOperands, priorOperands(op, merge));
    SmallVector<Value> kernelResults(merge ? merge->getResults() : op->getResults());
    if (gather.perm) {
      std::copy(std::begin(gather.sources), std::end(gather.sources),
                kernelOperands.begin());
      kernelOperands.push_back(gather.perm);
      kernelResults = {PermuteOp(gather.scatter).getOut()};
    }
    MLIRContext *ctx = &getContext();
      auto qT = cast<RankedTensorType>(op.getQ().getType());
      auto kT = cast<RankedTensorType>(op.getK().getType());
      auto vT = cast<RankedTensorType>(op.getV().getType());
      FlashShape s;
      s.elt = qT.getElementType();
      s.d = qT.getDimSize(3);
      s.dv = vT.getDimSize(3);
      s.segments = static_cast<bool>(op.getQDoc());
      s.numRules = op.getRuleOperands().size();
      s.listQ = op.listBlockQ();
      s.listK = op.listBlockK();
      s.listMarked = op.getFullMarked();
      if (s.listK % 16) {
        op.emitError() << "block_k = " << s.listK
                       << ": token-level block lists (block_k not a multiple "
                          "of 16) run on the CPU only; the CUDA gather kernel "
                          "is the selection issue's next step";
        return failure();
      }
      s.hopper = usesHopper(op);
      s.gatherRows = static_cast<bool>(gather.perm);
      s.gatherTma = s.gatherRows && gatherTma == 1;
      // Routed attention on gathered rows of D, Dv <= 64 with short key
      // spans (a route's chunks: 4.5 blocks of 128 per tile at C = 16):
      // three blocks per SM, each one consumer warpgroup on 64-key blocks,
      // so that one tile's serial start and epilogue run under the
      // others' MMAs. On the H200 (docs/benchmarks/routing.md, "Three
      // blocks per SM"): the attention 0.427 -> 0.339 ms at C = 16.
      const bool shortGather = s.gatherRows && !warps && !keyBlock &&
                               !ctasPerSm && !stages && s.d <= 64 &&
                               s.dv <= 64 && shortKeySpans(op);
      // Measured on the H100 (docs/benchmarks/gpu.md, tuning): 4 warps for
      // mma.sync (8 was 4-23% slower), two consumer warpgroups for wgmma
      // (one was 26-30% slower).
      s.warps = warps ? warps.getValue() : (s.hopper && !shortGather ? 8 : 4);
      // Under a block list, default tiles shrink to fit one list row.
      if (s.listQ && !warps)
        while (s.warps > (s.hopper ? 4 : 1) &&
               s.listQ % (16 * s.warps) != 0)
          s.warps -= s.hopper ? 4 : 1;
      if (!s.hopper && s.warps > 8) {
        op.emitError() << "warps=" << s.warps
                       << ": mma.sync takes 1..8 warps; the Hopper kernel "
                          "(mma=wgmma, head dims of 64 or 128) takes 4, 8 "
                          "or 12";
        return failure();
      }
      if (!s.hopper && stages > 2) {
        op.emitError() << "stages=" << stages.getValue()
                       << " needs the Hopper kernel (mma=wgmma, head dims of "
                          "64 or 128); mma.sync takes 1 or 2";
        return failure();
      }
      // Two 16-row m-tiles per warp halve the shared-memory reads per
      // mma.sync (each K/V fragment feeds both). Past D = 64 their
      // accumulators leave no registers for Q, which is then re-read from
      // shared memory (FlashAttention-2's layout for D = 128).
      s.mtiles = s.hopper ? 1 : (mTiles ? mTiles.getValue() : 2);
      if (s.listQ && !mTiles && !s.hopper && s.listQ % (16 * s.mtiles * s.warps))
        s.mtiles = 1;
      s.qInRegs = !s.hopper && (s.mtiles == 1 || std::max(s.d, s.dv) <= 64);
      if (s.hopper && (s.warps % 4 || (mTiles && mTiles != 1))) {
        op.emitError() << "mma=wgmma needs warps = 4, 8 or 12 (whole "
                          "warpgroups of consumers) and m-tiles=1";
        return failure();
      }
      s.bq = 16 * s.mtiles * s.warps;
      if (s.listQ && s.listQ % s.bq) {
        op.emitError() << "block_q = " << s.listQ
                       << " does not hold whole kernel tiles of " << s.bq
                       << " query rows; choose warps (and m-tiles) so that 16 "
                          "x warps x m-tiles divides block_q";
        return failure();
      }
      if (s.listK && s.hopper && s.listK % 64) {
        op.emitError() << "block_k = " << s.listK
                       << " is not a multiple of 64, which the Hopper kernel "
                          "needs; use mma=sync";
        return failure();
      }
      s.pingPong = s.hopper && s.warps >= 8 && pingPong != 0;
      s.ctas = ctasPerSm ? ctasPerSm.getValue() : (shortGather ? 3 : 1);
      // The producer lane sets up each tile of a persistent kernel itself,
      // so no part of the schedule may need a whole warp: a mask_rule's
      // block rule on intervals reads ranges over the lanes (a rule block
      // map has applied it already). Its grid is one block per SM.
      bool persistentFits = s.hopper && s.ctas == 1 &&
                            (!op.hasMaskRule() || s.listMarked);
      s.persistent = persistent == 1;
      s.traceTiles = traceTiles == 1;
      // The trace records go over each tile's first output row.
      if (s.traceTiles && (!s.hopper || s.dv * 2 < 8 * FlashShape::kTraceEvents)) {
        op.emitError() << "trace-tiles=1 needs the Hopper kernel (mma=wgmma) "
                          "and Dv >= "
                       << 4 * FlashShape::kTraceEvents
                       << " (a tile's record fills its first output row)";
        return failure();
      }
      if (s.persistent && !persistentFits) {
        op.emitError() << "persistent=1 needs the Hopper kernel (mma=wgmma), "
                          "ctas-per-sm=1 and no mask_rule region (one on a "
                          "block list already mapped is fine)";
        return failure();
      }
      if (s.ctas > 1 && (!s.hopper || s.threads() * s.ctas > 2048)) {
        op.emitError() << "ctas-per-sm=" << s.ctas
                       << " needs the Hopper kernel (mma=wgmma) with at most "
                       << 2048 / s.ctas - 128 << " consumer threads";
        return failure();
      }
      // Measured on the H100 (docs/benchmarks/gpu.md, tuning): at D <= 64
      // the second copy in flight costs more registers than it hides. The
      // Hopper kernel's copies cost no registers: two stages.
      s.stages = stages ? stages.getValue()
                        : (s.hopper ? 2 : (s.qInRegs ? 1 : 2));
      s.mergePrior = static_cast<bool>(merge);
      s.hasLse = kernelResults.size() > 1;
      if (!s.elt.isBF16() && !s.elt.isF16()) {
        op.emitError() << "the CUDA target needs f16 or bf16 inputs (tensor "
                          "cores); got "
                       << s.elt;
        return failure();
      }
      if (kT.getElementType() != s.elt || vT.getElementType() != s.elt) {
        op.emitError() << "the CUDA target needs q, k and v of one dtype";
        return failure();
      }
      for (auto [name, dim] : {std::pair<const char *, int64_t>{"D", s.d},
                               {"Dv", s.dv}})
        if (ShapedType::isDynamic(dim) || dim % 16 || dim < 16 || dim > 128) {
          op.emitError() << "the CUDA target needs a static head dim " << name
                         << " that is a multiple of 16 in 16..128; got "
                         << (ShapedType::isDynamic(dim) ? std::string("?")
                                                        : std::to_string(dim));
          return failure();
        }
      // Key blocks: 64, or 48 when Q is re-read from shared memory (the S
      // accumulators of 64 keys spill beside O at 255 registers; 48 does
      // not, and re-reads Q 1.5x less often than 32: +6% causal on the
      // H100); both shrink to fit the shared memory of an sm_80 block.
      // The Hopper kernel: 128-key blocks (FlashAttention-3's for D <= 128).
      if (s.hopper)
        for (auto [name, dim] : {std::pair<const char *, int64_t>{"D", s.d},
                                 {"Dv", s.dv}})
          if (dim % 64) {
            op.emitError() << "mma=wgmma needs head dims D and Dv of 64 or "
                              "128 (128-byte TMA rows); got "
                           << name << " = " << dim << " (use mma=sync)";
            return failure();
          }
      // An SM has 228 KB of shared memory, 1 KB of which each resident
      // block reserves.
      const int64_t maxShared =
          s.hopper ? (228 / s.ctas - 1) * 1024 : 160 * 1024;
      s.bk = keyBlock ? keyBlock.getValue()
                      : (shortGather ? 64
                                     : (s.hopper ? 128 : (s.qInRegs ? 64 : 48)));
      while (!keyBlock && !s.hopper && s.bk > 16 &&
             s.sharedBytes() > maxShared)
        s.bk /= 2;
      // The kernel's key block: the largest multiple of 16 up to the
      // default that divides the list's.
      while (s.listK && !keyBlock && s.bk > 16 && s.listK % s.bk)
        s.bk -= 16;
      if (s.listK && s.listK % s.bk) {
        op.emitError() << "key-block=" << s.bk << " does not divide block_k = "
                       << s.listK;
        return failure();
      }
      if (s.sharedBytes() > maxShared) {
        op.emitError() << "attn-to-nvgpu: tiles need " << s.sharedBytes()
                       << " bytes of shared memory (> " << maxShared / 1024
                       << " KB); lower key-block, stages, warps or "
                          "ctas-per-sm";
        return failure();
      }

      // Kernel arguments: q, k, v, ...[, prior out, prior lse], out[, lse]
      // as memrefs.
      SmallVector<Type> argTypes;
      for (Value x : kernelOperands) {
        auto t = cast<RankedTensorType>(x.getType());
        argTypes.push_back(MemRefType::get(t.getShape(), t.getElementType()));
      }
      for (Value x : kernelResults) {
        auto t = cast<RankedTensorType>(x.getType());
        argTypes.push_back(MemRefType::get(t.getShape(), t.getElementType()));
      }
      // The Hopper kernel's tensor maps of q, k, v: generic pointers here,
      // 128-byte by-value grid constants after attn-tensor-map-params.
      if (s.hopper)
        argTypes.append(3, LLVM::LLVMPointerType::get(ctx));
      Location loc = op.getLoc();
      OpBuilder gb(ctx);
      gb.setInsertionPointToEnd(gpuModule.getBody());
      auto wg = gpu::AddressSpaceAttr::get(ctx, gpu::AddressSpace::Workgroup);
      auto smemType = [&](int64_t rows, int64_t cols) {
        return MemRefType::get({rows, cols}, s.elt, MemRefLayoutAttrInterface(),
                               wg);
      };
      MemRefType tyQ = smemType(s.bq, s.padD()), tyK = smemType(s.bk, s.padD()),
                 tyV = smemType(s.bk, s.padV());
      if (!s.dynamicShared()) {
        SmallVector<std::pair<const char *, MemRefType>> buffers = {
            {"_sQ", tyQ}, {"_sV", tyV}};
        if (!s.kInQ())
          buffers.push_back({"_sK", tyK});
        for (auto [suffix, ty] : buffers)
          memref::GlobalOp::create(gb, loc, name + suffix,
                                   gb.getStringAttr("private"), ty,
                                   Attribute(), /*constant=*/false,
                                   gb.getI64IntegerAttr(128));
      } else {
        cuda::declareDynamicShared(gb, gpuModule, loc);
      }
      auto kfn = gpu::GPUFuncOp::create(gb, loc, name,
                                        FunctionType::get(ctx, argTypes, {}));
      kfn->setAttr(gpu::GPUDialect::getKernelFuncAttrName(),
                   UnitAttr::get(ctx));
      kfn.setKnownBlockSizeAttr(DenseI32ArrayAttr::get(
          ctx, {static_cast<int32_t>(s.threads()), 1, 1}));
      // The launch contract, read back by the driver for the bundle: in a
      // program, the buffers of q, k, v[, lists, ids], out[, lse] (a lone
      // attention reads the inputs, then the outputs); then the tiles.
      if (inProgram) {
        SmallVector<Attribute> bindings;
        for (Value x : kernelOperands)
          bindings.push_back(gb.getStringAttr(bindingOf(fn, x)));
        for (Value x : kernelResults)
          bindings.push_back(gb.getStringAttr(bindingOf(fn, x)));
        kfn->setAttr("attn.step_args", gb.getArrayAttr(bindings));
      }
      // ptxas then budgets 64K / (threads x ctas) registers per thread.
      if (s.ctas > 1)
        kfn->setAttr(NVVM::NVVMDialect::getMinctasmAttrName(),
                     gb.getI32IntegerAttr(static_cast<int32_t>(s.ctas)));
      if (s.persistent)
        kfn->setAttr("attn.persistent", gb.getUnitAttr());
      kfn->setAttr("attn.block_q", gb.getI64IntegerAttr(s.bq));
      kfn->setAttr("attn.threads", gb.getI64IntegerAttr(s.threads()));
      kfn->setAttr("attn.dynamic_shared",
                   gb.getI64IntegerAttr(s.dynamicShared() ? s.sharedBytes()
                                                          : 0));
      if (s.hopper) {
        kfn->setAttr("attn.tma_rows",
                     gb.getI64IntegerAttr(s.gatherTma ? 1 : s.bk));
        if (s.gatherTma)
          kfn->setAttr("attn.tma_q_rows", gb.getI64IntegerAttr(1));
        kfn->setAttr("attn.tensor_maps", gb.getI64IntegerAttr(3));
        for (unsigned i = argTypes.size() - 3; i < argTypes.size(); ++i)
          kfn.setArgAttr(i, LLVM::LLVMDialect::getAlignAttrName(),
                         gb.getI64IntegerAttr(64));
      }
      ImplicitLocOpBuilder ib(loc, ctx);
      ib.setInsertionPointToStart(&kfn.getBody().front());
      Value sQ, sK, sV;
      if (!s.dynamicShared()) {
        sQ = memref::GetGlobalOp::create(ib, tyQ, name + "_sQ");
        sK = s.kInQ() ? sQ
                      : memref::GetGlobalOp::create(ib, tyK, name + "_sK")
                            .getResult();
        sV = memref::GetGlobalOp::create(ib, tyV, name + "_sV");
      } else {
        // Views at byte offsets into the dynamic window: Q, [K,] V.
        Value raw = cuda::dynamicSharedBytes(ib, s.sharedBytes());
        if (s.hopper) {
          FlashKernelBuilder(ib, s, op)
              .buildHopper(kfn, raw);
          return success();
        }
        int64_t off = 0;
        auto view = [&](MemRefType ty) {
          Value v = memref::ViewOp::create(
              ib, ty, raw, arith::ConstantIndexOp::create(ib, off),
              ValueRange{});
          off += ty.getNumElements() * 2;
          return v;
        };
        sQ = view(tyQ);
        sK = s.kInQ() ? sQ : view(tyK);
        sV = view(tyV);
      }
      FlashKernelBuilder(ib, s, op)
          .build(kfn, sQ, sK, sV);
      return success();
  }
  /// A program: one kernel per op in program order (each runs after the
  /// ops it reads), "<entry>__s<k>", on buffers the runtime binds. A merge
  /// an attention kernel's epilogue does (fuse-merge) and the permutes an
  /// attention kernel does itself (routing) have none.
  LogicalResult buildProgram(gpu::GPUModuleOp gpuModule, func::FuncOp fn) {
    OpBuilder gb(&getContext());
    int64_t step = 0;
    llvm::DenseMap<Operation *, MergeOp> fusedMerge;
    llvm::SmallPtrSet<Operation *, 4> doneByKernel;
    if (fuseMerge)
      for (auto attention : fn.getOps<AttentionOp>())
        if (MergeOp merge = fusableMerge(attention)) {
          fusedMerge[attention] = merge;
          doneByKernel.insert(merge);
        }
    llvm::DenseMap<Operation *, FusedGather> fusedGather;
    for (auto attention : fn.getOps<AttentionOp>()) {
      FusedGather g = fusableGather(attention, fusedMerge.lookup(attention));
      if (!g.perm)
        continue;
      for (PermuteOp p : g.gathers)
        doneByKernel.insert(p);
      doneByKernel.insert(g.scatter);
      fusedGather[attention] = std::move(g);
    }
    for (Operation &o : fn.getBody().front().without_terminator()) {
      if (doneByKernel.contains(&o))
        continue;
      std::string kname = fn.getName().str() + "__s" + std::to_string(step);
      gb.setInsertionPointToEnd(gpuModule.getBody());
      LogicalResult built =
          isa<AttentionOp>(o)
              ? buildAttentionStep(gb, gpuModule, fn, cast<AttentionOp>(o), kname,
                                   fusedMerge.lookup(&o), fusedGather.lookup(&o))
              : buildStep(gb, fn, o, kname);
      if (failed(built))
        return failure();
      gpuModule.lookupSymbol(kname)->setAttr("attn.step", gb.getI64IntegerAttr(step++));
    }
    return success();
  }

  /// An attention step: the flash kernels (with a fused merge or gather),
  /// the grouped-list kernel or the row kernel.
  LogicalResult buildAttentionStep(OpBuilder &gb, gpu::GPUModuleOp gpuModule, func::FuncOp fn,
                                   AttentionOp attention, const std::string &kname,
                                   MergeOp merge, const FusedGather &gather) {
    if (!cuda::needsRowKernel(attention))
      return buildAttentionKernel(gpuModule, fn, attention, kname, true, merge, gather);
    if (failed(checkRowKernel(attention)))
      return failure();
    if (cuda::canGroupListAttention(attention))
      return cuda::buildGroupedListAttention(gb, fn, attention, kname);
    return cuda::buildSelectionKernel(gb, fn, attention, kname, selectRadix != 0);
  }

  /// Every other step's kernels, by its op.
  LogicalResult buildStep(OpBuilder &gb, func::FuncOp fn, Operation &o, const std::string &kname) {
    // A block map first compares its operands with their snapshots.
    if (auto map = dyn_cast<RuleBlocksOp>(o))
      for (unsigned r = 0; r < map.getRuleOperands().size(); ++r)
        if (failed(cuda::buildSnapshotKernel(gb, fn, map, r, kname + "_c" + std::to_string(r))))
          return failure();
    if (auto lin = dyn_cast<LinearOp>(o);
        lin && lin.getWy() && !cuda::canChunkLinear(lin, linearChunk, linearColumns))
      return lin.emitError() << "wy(" << *lin.getWy()
                             << ") feeds the chunked kernel only (f16/bf16 q, k, v, D 64 or "
                                "128, linear-chunk=64)";
    return llvm::TypeSwitch<Operation *, LogicalResult>(&o)
        .Case([&](RouteOp op) { return cuda::buildRouteKernels(gb, fn, op, kname); })
        .Case([&](PermuteOp op) { return cuda::buildPermuteKernel(gb, fn, op, kname); })
        .Case([&](SampleOp op) { return cuda::buildSampleKernel(gb, fn, op, kname); })
        .Case([&](GatherOp op) { return cuda::buildGatherKernel(gb, fn, op, kname); })
        .Case([&](SplitHeadsOp op) { return cuda::buildSplitHeadsKernels(gb, fn, op, kname); })
        .Case([&](JoinHeadsOp op) { return cuda::buildJoinHeadsKernels(gb, fn, op, kname); })
        .Case([&](LandmarkOp op) { return cuda::buildLandmarkKernel(gb, fn, op, kname); })
        .Case([&](ScanOp op) { return cuda::buildScanKernel(gb, fn, op, kname); })
        .Case([&](IndexScoresOp op) {
          return cuda::canTileIndexScores(op)
                     ? cuda::buildTiledIndexScores(gb, fn, op, kname)
                     : cuda::buildSelectionKernel(gb, fn, op, kname, selectRadix != 0);
        })
        .Case([&](LinearOp op) {
          return cuda::canChunkLinear(op, linearChunk, linearColumns)
                     ? cuda::buildLinearChunkKernel(gb, fn, op, kname, linearColumns,
                                                    mma != "sync")
                     : cuda::buildSelectionKernel(gb, fn, op, kname, selectRadix != 0);
        })
        .Default([&](Operation *op) {
          return cuda::buildSelectionKernel(gb, fn, op, kname, selectRadix != 0);
        });
  }
};

} // namespace

namespace {

/// Marks the last `attn.tensor_maps` arguments of each converted kernel as
/// 128-byte by-value grid constants (`.param .align 64 .b8 p[128]`), the
/// form TMA reads a CUtensorMap from: no device allocation or copy per
/// launch. gpu.func cannot carry these attributes (the conversion drops
/// llvm.byval, and nvvm.grid_constant is refused before nvvm.kernel is set),
/// so this runs after convert-gpu-to-nvvm.
struct AttnTensorMapParams
    : public attn::impl::AttnTensorMapParamsBase<AttnTensorMapParams> {
  void runOnOperation() override {
    MLIRContext *ctx = &getContext();
    getOperation().walk([&](LLVM::LLVMFuncOp fn) {
      auto n = fn->getAttrOfType<IntegerAttr>("attn.tensor_maps");
      if (!n)
        return;
      unsigned count = fn.getNumArguments();
      for (unsigned i = count - n.getInt(); i < count; ++i) {
        if (!isa<LLVM::LLVMPointerType>(fn.getArgument(i).getType())) {
          fn.emitError() << "attn.tensor_maps: argument " << i
                         << " is not a pointer";
          return signalPassFailure();
        }
        fn.setArgAttr(i, LLVM::LLVMDialect::getByValAttrName(),
                      TypeAttr::get(LLVM::LLVMArrayType::get(
                          IntegerType::get(ctx, 8), 128)));
        fn.setArgAttr(i, LLVM::LLVMDialect::getAlignAttrName(),
                      IntegerAttr::get(IntegerType::get(ctx, 64), 64));
        fn.setArgAttr(i, NVVM::NVVMDialect::getGridConstantAttrName(),
                      UnitAttr::get(ctx));
      }
    });
  }
};

} // namespace
