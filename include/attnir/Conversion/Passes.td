//===- Passes.td - attn conversion passes --------------------*- tablegen -*-===//

#ifndef ATTNIR_CONVERSION_PASSES_TD
#define ATTNIR_CONVERSION_PASSES_TD

include "mlir/Pass/PassBase.td"

def ConvertAttnToCPUVector : Pass<"attn-vectorize-cpu", "func::FuncOp"> {
  let summary = "Lower attn.kv_block_update to register-blocked vector code";
  let description = [{
    Expands each `attn.kv_block_update` into loops of `vector.fma` on
    `vector<LANESxf32>` (one register): S = Q K^T in register tiles of
    `rows` x (key-block / 16) vectors, the element rule of the mask on
    partial blocks, the online softmax update (its per-row state for
    `lanes` rows at a time), and O += P V in register tiles of
    `rows` x up to 4 vectors (acc's rows rescaled as they are loaded).
    exp is lib/Conversion/AttnToCPU/OnlineSoftmax.cpp's fastExp. The bf16 pair form (attn-tile's `bf16-dot`)
    reduces pairs with `x86vector.avx512.dot` (vdpbf16ps) instead: it
    needs 16 lanes and a CPU with AVX512-BF16.
  }];
  let dependentDialects = [
    "::mlir::arith::ArithDialect", "::mlir::math::MathDialect",
    "::mlir::memref::MemRefDialect", "::mlir::scf::SCFDialect",
    "::mlir::vector::VectorDialect", "::mlir::x86vector::X86VectorDialect",
    "::mlir::LLVM::LLVMDialect", "::mlir::amx::AMXDialect"
  ];
  let options = [
    Option<"lanes", "lanes", "int64_t", /*default=*/"16",
           "f32 lanes per vector register: 16 (AVX-512) or 8 (AVX2)">,
    Option<"rows", "rows", "int64_t", /*default=*/"4",
           "query rows per register tile">,
    Option<"cols", "cols", "int64_t", /*default=*/"4",
           "vectors per row of a register tile">,
    Option<"avx512", "avx512", "bool", /*default=*/"false",
           "the target has AVX-512 (F and DQ): exp in base 2 by vreduceps "
           "and vscalefps (16 lanes)">,
    Option<"prefetch", "prefetch", "bool", /*default=*/"false",
           "Q K^T prefetches the block's V panel and P V the next block's "
           "K^T panel, a cache line every few steps">,
  ];
}

def ConvertAttnToNVGPU : Pass<"attn-to-nvgpu", "ModuleOp"> {
  let summary = "Lower attn.attention entries to tensor-core GPU kernels";
  let description = [{
    Replaces every entry function whose body is one `attn.attention` on its
    arguments with a `gpu.func` kernel of the same name in
    `gpu.module @attn_kernels`, grid (ceil(N / BQ), Hq, B), the key-block
    loop driven by the mask's block rule (empty blocks never visited, the
    element rule only on partial blocks) and the online softmax on the
    accumulator fragments. Two kernels:
    * `mma=sync` (FlashAttention-2 structure, sm_80+): Q, K and V tiles
      staged in shared memory by cp.async and read by ldmatrix; S = Q K^T
      and O += P V by `nvvm.mma.sync` m16n8k16.
    * `mma=wgmma` (FlashAttention-3 structure, sm_90a): a producer
      warpgroup issues TMA copies into a ring of K/V buffers with
      mbarriers; two consumer warpgroups compute S = Q K^T and O += P V by
      warpgroup MMA (P from registers).
    Kernel arguments are q, k, v, out[, lse] as memrefs (then, for wgmma,
    the three tensor maps); the kernel carries its launch contract
    (`attn.block_q`, `attn.threads`, `attn.dynamic_shared`,
    `attn.tma_rows`).
  }];
  let dependentDialects = [
    "::mlir::arith::ArithDialect", "::mlir::gpu::GPUDialect",
    "::mlir::LLVM::LLVMDialect", "::mlir::math::MathDialect",
    "::mlir::memref::MemRefDialect", "::mlir::NVVM::NVVMDialect",
    "::mlir::nvgpu::NVGPUDialect", "::mlir::scf::SCFDialect",
    "::mlir::vector::VectorDialect"
  ];
  let options = [
    Option<"warps", "warps", "int64_t", /*default=*/"0",
           "(consumer) warps per block, 16 query rows each; 0: 4 for "
           "mma.sync, 8 for wgmma">,
    Option<"mma", "mma", "std::string", /*default=*/"\"sync\"",
           "sync: mma.sync (sm_80+); auto: wgmma where D and Dv are 64 or "
           "128, else sync; wgmma: the Hopper kernel (sm_90a): TMA "
           "copies by a producer warp into a ring of `stages` K/V buffers "
           "with mbarriers, S = Q K^T and P V by warpgroup MMA; warps counts "
           "the consumer warps">,
    Option<"mTiles", "m-tiles", "int64_t", /*default=*/"0",
           "16-row query tiles per warp: 1, 2, or 0 (2 when D, Dv <= 64)">,
    Option<"keyBlock", "key-block", "int64_t", /*default=*/"0",
           "keys per block (multiple of 16); 0 picks the largest <= 64 "
           "whose tiles fit 48 KB of shared memory">,
    Option<"pingPong", "ping-pong", "int64_t", /*default=*/"1",
           "wgmma with two consumer warpgroups: 1 makes them take turns "
           "issuing their MMAs (named barriers), so that one's softmax "
           "overlaps the other's MMAs; 0 lets them run freely">,
    Option<"stages", "stages", "int64_t", /*default=*/"0",
           "1: copy K and V, then compute; 2: the V copy overlaps "
           "S = Q K^T and the next K copy overlaps P V; 0: 1 when Q stays "
           "in registers, else 2">,
    Option<"ctasPerSm", "ctas-per-sm", "int64_t", /*default=*/"0",
           "wgmma: blocks resident per SM (nvvm.minctasm, 1 to 4): n "
           "gives each block 1 / n of the registers and of the shared "
           "memory, so that one block's start and epilogue overlap "
           "another's MMAs; 0: 1">,
    Option<"persistent", "persistent", "int64_t", /*default=*/"0",
           "wgmma: 1 launches one block per SM, each looping over query "
           "tiles with the K/V ring carried across them and Q "
           "double-buffered, so the next tile's copies overlap this tile's "
           "last MMAs and epilogue; 0: a block per tile (measured faster "
           "on the H200: docs/benchmarks/sparse.md)">,
    Option<"traceTiles", "trace-tiles", "int64_t", /*default=*/"0",
           "wgmma: 1 stamps each tile's phases (clock64, globaltimer) in "
           "shared memory and prints them with printf at the end of the "
           "first blocks: a measuring build (bench/gpu/tile_trace.py)">,
    Option<"linearChunk", "linear-chunk", "int64_t", /*default=*/"64",
           "attn.linear with f16/bf16 inputs, decays or scalar gates: "
           "tokens per chunk of the tensor-core kernel (64); 0 keeps the "
           "token recurrence (a thread per state column)">,
    Option<"linearColumns", "linear-columns", "int64_t", /*default=*/"0",
           "attn.linear's chunked kernel: value columns per block, 32 or 64 "
           "(32: twice the blocks, each recomputing Q K^T; faster when "
           "B x H is small next to the SM count: "
           "docs/benchmarks/linear-gpu.md); 0: both kernels, the runtime "
           "launching the 64-column one when it has at least two blocks "
           "per SM">,
    Option<"selectRadix", "select-radix", "int64_t", /*default=*/"1",
           "attn.select topk(k > 16): 1 finds each row's cut by the warp's "
           "radix select (4 passes of 8-bit digit counts in shared memory, "
           "O(Nk) whatever k: token-level lists such as DSA's top-2048); 0: "
           "k arg-max passes (O(k Nk)); both keep the same ids (checked "
           "on the H200: bench/gpu/selection.py, WarpRadixCut.cpp)">,
    Option<"fuseMerge", "fuse-merge", "int64_t", /*default=*/"1",
           "attn.merge of two (out, lse) parts, one of them an attention "
           "kernel's whose results feed only the merge: 1 merges in that "
           "kernel's epilogue (it reads the other part and writes the "
           "merge's results: no merge step, one pass over the outputs "
           "less); 0 keeps the merge a step of its own">,
    Option<"fuseGather", "fuse-gather", "int64_t", /*default=*/"1",
           "routing: an attention of the Hopper kernel over q, k, v each "
           "attn.permute'd by attn.route's perm, its out scattered back by "
           "the inverse permute: 1 gathers the rows in the kernel's copies "
           "and scatters its output rows (no permute steps); 0 keeps the "
           "permutes as steps of their own">,
    Option<"gatherTma", "gather-tma", "int64_t", /*default=*/"0",
           "gathered rows (fuse-gather): 1 copies each row by a TMA box of "
           "one row, issued by the lanes of one producer warp; 0 by "
           "cp.async from the producer warpgroup's 128 threads">,
  ];
}

def AttnLinearWY : Pass<"attn-linear-wy", "func::FuncOp"> {
  let summary = "Give the delta rule's chunk kernel its WY form in workspace";
  let description = [{
    Runs before `attn-to-nvgpu` (and on the clone the bundle's ABI comes
    from). Each `attn.linear` with `delta(%beta)` that the chunked CUDA
    kernel runs (the same options as attn-to-nvgpu) becomes the same op
    with `wy(64)`: two more results, W and U per 64-token chunk, which the
    entry does not return and so live in the runtime's workspace. The
    lowering then emits a kernel parallel over all chunks that writes them
    (A, T = (I + A)^{-1}, W and U on tensor cores) ahead of the
    sequential kernel, whose per-chunk chain shrinks to U - W S and the
    products of plain decayed linear attention (docs/design/recurrent.md).
  }];
  let options = [
    Option<"linearChunk", "linear-chunk", "int64_t", /*default=*/"64",
           "as attn-to-nvgpu's linear-chunk (0: the token recurrence, no split)">,
    Option<"linearColumns", "linear-columns", "int64_t", /*default=*/"0",
           "as attn-to-nvgpu's linear-columns">,
  ];
}

def AttnLinearSplit : Pass<"attn-linear-split", "func::FuncOp"> {
  let summary = "Split the chunked linear kernel into a state pass and an output pass";
  let description = [{
    Runs after `attn-linear-wy` (and on the clone the bundle's ABI comes
    from). Each `attn.linear` that the chunked CUDA kernel runs with both
    column forms (`linear-columns=0`; decays, gates, GLA's per-feature
    gates, or the delta rule in its WY form) becomes the same op with
    `split(64)`: more results, the state at each chunk's start [B, H,
    ceil(N / 64), D, Dv] and with wy the corrected values U - W S, which
    the entry does not return and so live in the runtime's workspace. The
    lowering then emits, beside the fused kernel (launched when its grid
    has two blocks per SM), a state pass that walks the chunks writing
    them and an output pass, a block per (b, h, chunk, value slice), that
    reads them: the dependent chain per chunk shrinks to the state's own
    products, and the outputs of all chunks run in parallel
    (docs/design/recurrent.md).
  }];
  let options = [
    Option<"linearChunk", "linear-chunk", "int64_t", /*default=*/"64",
           "as attn-to-nvgpu's linear-chunk (0: the token recurrence, no split)">,
    Option<"linearColumns", "linear-columns", "int64_t", /*default=*/"0",
           "as attn-to-nvgpu's linear-columns (a forced width keeps the fused kernel alone)">,
    Option<"splitOnly", "split-only", "bool", /*default=*/"false",
           "mark the op attn.split_only: the state and output passes alone, "
           "whatever the grid (the pipeline's linear-split=2)">,
  ];
}

def AttnLandmarkSplit : Pass<"attn-landmark-split", "func::FuncOp"> {
  let summary = "Retrieve landmark blocks by blocks: picks, grouping, units, merge";
  let description = [{
    Runs on the clone the bundle's ABI comes from, like attn-linear-split.
    Each `attn.landmark` with topk that the tile kernel takes
    (LandmarkTiles.cpp) gets five scratch results (AttnRouteOps.td), which
    the entry does not return and so live in the runtime's workspace. The
    lowering then runs it by blocks: per query tile the local block and
    each row's top-K picks; the picks grouped by block (count, scan,
    scatter); per 64 grouped picks of one block, that block's softmax and
    P V on tensor cores (one staging per block, whoever picked it); per row
    the local part and its units merged (docs/design/routing.md).
    With `one-block-groups`, each block's run of entries is padded to whole
    groups of 64 (entries [B, H, N, 2 (K + 1)]), so a units block stages
    exactly one block and needs no loop over blocks.
  }];
  let options = [
    Option<"oneBlockGroups", "one-block-groups", "bool", /*default=*/"false",
           "pad each block's entries to whole groups of 64 (the pipeline's "
           "landmark-split=2)">,
  ];
}

def AttnAllocHooks : Pass<"attn-alloc-hooks", "ModuleOp"> {
  let summary = "Route a CPU kernel's heap allocations through runtime hooks";
  let description = [{
    Runs after `finalize-memref-to-llvm{use-generic-functions}`. Defines the
    generic allocation functions it calls (`_mlir_memref_to_llvm_alloc`,
    `_aligned_alloc`, `_free`) inside the module, with internal linkage:
    each calls its slot of the exported table `_attnir_alloc_hooks`
    (alloc, aligned_alloc, free), or malloc / aligned_alloc / free while
    the slot is null. The runtime fills the table when it loads a kernel,
    so kernel scratch comes from its workspace.
  }];
  let dependentDialects = ["::mlir::LLVM::LLVMDialect"];
}

def AttnTensorMapParams
    : Pass<"attn-tensor-map-params", "::mlir::gpu::GPUModuleOp"> {
  let summary = "Pass the Hopper kernels' TMA tensor maps by value";
  let description = [{
    Runs after `convert-gpu-to-nvvm`. On every `llvm.func` carrying
    `attn.tensor_maps = n` (set by `attn-to-nvgpu` for `mma=wgmma`), marks
    the last n pointer arguments `llvm.byval = !llvm.array<128 x i8>`,
    `llvm.align = 64` and `nvvm.grid_constant`: each becomes a 128-byte
    kernel parameter holding a CUtensorMap, read in place by TMA.
  }];
  let dependentDialects = ["::mlir::LLVM::LLVMDialect",
                           "::mlir::NVVM::NVVMDialect"];
}

#endif // ATTNIR_CONVERSION_PASSES_TD
