//===- Passes.td - attn dialect passes -----------------------*- tablegen -*-===//

#ifndef ATTNIR_DIALECT_ATTN_TRANSFORMS_PASSES_TD
#define ATTNIR_DIALECT_ATTN_TRANSFORMS_PASSES_TD

include "mlir/Pass/PassBase.td"

def AttnTile : Pass<"attn-tile", "func::FuncOp"> {
  let summary = "Flash-style tiling of attn.attention";
  let description = [{
    Rewrites each `attn.attention` on tensors into a tiled loop nest on
    buffers: an `scf.parallel` over (batch, head, query tile), and inside it
    an `scf.for` over key blocks whose bounds come from the mask's block rule
    (`MaskAttrInterface::buildKeyRange`): blocks with no kept pair are never
    visited, blocks where every pair is kept skip the element rule. The online
    softmax state (running max and sum per query row) is carried in the key
    loop's iter_args; each step is one `attn.kv_block_update` on a query
    tile and a key block. K is packed once, transposed to [B, Hkv, D, M] in
    f32 and zero-padded to a whole number of key blocks (V likewise as
    [B, Hkv, M, Dv]), so the block update never reads out of bounds and
    always computes in f32 whatever the input type.
  }];
  let dependentDialects = [
    "::mlir::arith::ArithDialect", "::mlir::bufferization::BufferizationDialect",
    "::mlir::math::MathDialect", "::mlir::memref::MemRefDialect",
    "::mlir::scf::SCFDialect", "::mlir::vector::VectorDialect"
  ];
  let options = [
    Option<"queryTile", "query-tile", "int64_t", /*default=*/"64",
           "query rows per tile (one parallel task)">,
    Option<"keyBlock", "key-block", "int64_t", /*default=*/"64",
           "keys per block of the key loop (a multiple of 16)">,
    Option<"keyPanelBytes", "key-panel-bytes", "int64_t", /*default=*/"0",
           "halve the key block (down to 64) while one block's packed K "
           "panel (key-block x D x element bytes) exceeds this many bytes, "
           "so it stays in L1 during Q K^T (0: keep key-block)">,
    Option<"decodeRows", "decode-rows", "int64_t", /*default=*/"16",
           "at most this many query rows per head (and one tile): K and V "
           "are read in place instead of packed (0: always pack)">,
    Option<"tileGroup", "tile-group", "int64_t", /*default=*/"1",
           "query tiles per task that visit each key block together, so a "
           "block's K and V are read from L2 once per group (1..16)">,
    Option<"tileGroupBytes", "tile-group-bytes", "int64_t",
           /*default=*/"4194304",
           "a task takes tile-group tiles only when a head's packed K and V "
           "exceed this many bytes (0: always)">,
    Option<"headTaskBytes", "head-task-bytes", "int64_t", /*default=*/"0",
           "a task per KV head (it packs the head's K and V, then runs its "
           "query heads' tiles) while a head's packed K and V take at most "
           "this many bytes and the heads divide evenly among the threads "
           "(0: never)">,
    Option<"bf16Dot", "bf16-dot", "int64_t", /*default=*/"0",
           "1: bf16 inputs keep bf16, packed in pairs along the reduction "
           "(Q and K along D, V along the keys) for AVX512-BF16's "
           "vdpbf16ps; 2: the same pairs multiplied by AMX tiles (D a "
           "multiple of 32, query tiles of 16 rows; else widened); 0: every "
           "input is converted to f32">,
    Option<"f32Amx", "f32-amx", "bool", /*default=*/"false",
           "with bf16-dot=2: f32 inputs on AMX tiles too, each value as "
           "three bf16 pieces and each product as the six largest of their "
           "nine (f32's accuracy; D and Dv up to 256, else the f32 path)">,
    Option<"lanes", "lanes", "int64_t", /*default=*/"16",
           "f32 per vector of the packing code (8 or 16; the key block a "
           "multiple of it)">,
  ];
}

def AttnLowerSelect : Pass<"attn-lower-select", "func::FuncOp"> {
  let summary = "Lower attn.pool, attn.block_scores and attn.select to loops";
  let description = [{
    Rewrites each selection op on tensors into an `scf.parallel` over its
    rows (one task per batch, head and block row) on buffers; the per-row
    bodies are shared with other targets (Utils/SelectionBuilders.h). A
    `block_scores` whose only user is a `select` is fused into it: each
    row task scores its query block into an [Nk] scratch row and selects
    from it, so the score matrix is never written. Selection writes the
    kept ids of a row in ascending order without sorting: repeated arg-max
    passes find the cut (k passes for topk(k)), one more pass writes every
    forced block and every block ranked at or before the cut. Runs before
    attn-tile, which consumes the block lists like runtime lists.
  }];
  let options = [
    Option<"lanes", "lanes", "int64_t", /*default=*/"0",
           "f32 lanes of vector score rows (8 or 16) where the producer has "
           "them (attn.index_scores with static heads and DI); 0: scalar "
           "rows">,
  ];
  let dependentDialects = [
    "::mlir::arith::ArithDialect", "::mlir::bufferization::BufferizationDialect",
    "::mlir::math::MathDialect", "::mlir::memref::MemRefDialect",
    "::mlir::scf::SCFDialect", "::mlir::vector::VectorDialect"
  ];
}

def AttnLowerRoute : Pass<"attn-lower-route", "ModuleOp"> {
  let summary = "Lower attn.route, attn.permute and attn.landmark to loops";
  let description = [{
    attn.route becomes a parallel loop over tokens computing each bucket
    (float64 dots in index order: the reference's bits, and LSH sign
    words a constant global made at compile time from the seed), then a
    parallel loop over (b, h) rows that counts buckets, takes the prefix
    and scatters positions into their slots (a stable counting sort).
    attn.permute becomes a parallel loop over tokens, attn.landmark one over
    query rows (local tokens, landmark logits, top-k passes, each retrieved
    block's own softmax folded in as one unit). A module pass: the LSH sign
    words are module globals.
  }];
  let options = [
    Option<"lanes", "lanes", "int64_t", /*default=*/"0",
           "f32 lanes of attn.landmark's vector rows (8 or 16) where the "
           "head dims are static multiples of it; 0: scalar loops">,
  ];
  let dependentDialects = [
    "::mlir::arith::ArithDialect", "::mlir::bufferization::BufferizationDialect",
    "::mlir::math::MathDialect", "::mlir::memref::MemRefDialect",
    "::mlir::scf::SCFDialect", "::mlir::vector::VectorDialect"
  ];
}

def AttnLowerMerge : Pass<"attn-lower-merge", "func::FuncOp"> {
  let summary = "Lower attn.merge to loops";
  let description = [{
    Rewrites each `attn.merge` on tensors into an `scf.parallel` over its
    rows on buffers: a row's lse from the parts' (max, then the log of the
    sum of exponentials; all -inf gives -inf and zero weights), then each
    feature the weighted sum of the parts' outputs (Utils/MergeBuilders.h,
    the GPU kernel's arithmetic too). Runs before attn-tile, beside
    attn-lower-select.
  }];
  let dependentDialects = [
    "::mlir::arith::ArithDialect", "::mlir::bufferization::BufferizationDialect",
    "::mlir::math::MathDialect", "::mlir::memref::MemRefDialect",
    "::mlir::scf::SCFDialect"
  ];
}

def AttnLowerLinear : Pass<"attn-lower-linear", "func::FuncOp"> {
  let summary = "Lower attn.linear to chunked loops";
  let description = [{
    Rewrites each `attn.linear` into an `scf.parallel` over (batch, head)
    whose task walks the sequence in chunks of `chunk` tokens with an f32
    state: within a chunk the causal, decayed products of phi(q) and phi(k)
    (the decay between two tokens accumulated backwards, exact for any
    decay in [0, 1]), across chunks the state passed on. Equal to the token
    recurrence up to rounding for every chunk size.
  }];
  let options = [
    Option<"chunk", "chunk", "int64_t", /*default=*/"64",
           "tokens per chunk (1..1024)">,
    Option<"lanes", "lanes", "int64_t", /*default=*/"0",
           "f32 lanes of the chunk products' vectors (8 or 16) where the "
           "head dims are static and Dv a multiple of it; 0: scalar loops">,
  ];
  let dependentDialects = [
    "::mlir::arith::ArithDialect", "::mlir::bufferization::BufferizationDialect",
    "::mlir::math::MathDialect", "::mlir::memref::MemRefDialect",
    "::mlir::scf::SCFDialect", "::mlir::vector::VectorDialect"
  ];
}

def AttnLowerScan : Pass<"attn-lower-scan", "func::FuncOp"> {
  let summary = "Lower attn.scan to a chunked scan";
  let description = [{
    Rewrites each `attn.scan` into three `scf.parallel` loops on buffers:
    every chunk of `chunk` tokens of a (b, h) row folded into its total,
    the totals scanned per row, then every chunk folded again from its
    carry with each prefix written (2N combines; never one sequential walk
    of the whole row). The regions are inlined on vectors of up to 16
    features, a value per token broadcast along them. Equal to the left
    fold when the combiner is associative (the caller's promise).
  }];
  let options = [
    Option<"chunk", "chunk", "int64_t", /*default=*/"256",
           "tokens per chunk">,
  ];
  let dependentDialects = [
    "::mlir::arith::ArithDialect", "::mlir::bufferization::BufferizationDialect",
    "::mlir::math::MathDialect", "::mlir::memref::MemRefDialect",
    "::mlir::scf::SCFDialect", "::mlir::vector::VectorDialect"
  ];
}

def AttnLowerElementwise : Pass<"attn-lower-elementwise", "func::FuncOp"> {
  let summary = "Lower a program's upstream elementwise ops to loops";
  let description = [{
    Rewrites arith's float binary ops and linalg.broadcast on tensors at the
    top of an entry (the ops a program combines branches with) into an
    `scf.parallel` over the result's elements on a buffer that is freed
    before the return unless returned (upstream bufferization would
    allocate and never free). The element body is shared with the GPU step.
  }];
  let dependentDialects = [
    "::mlir::arith::ArithDialect", "::mlir::bufferization::BufferizationDialect",
    "::mlir::memref::MemRefDialect", "::mlir::scf::SCFDialect"
  ];
}

def AttnVerifySpec : Pass<"attn-verify-spec", "ModuleOp"> {
  let summary = "Check that a spec holds only what AttnIR compiles";
  let description = [{
    Runs before any other pass (the CPU and CUDA pipelines start with it,
    and every tool runs it when it loads a spec), so that upstream passes
    never see IR they were not written for. A spec is a module of
    `func.func` definitions on ranked tensors whose bodies are `attn` ops
    and one `func.return`; each returned value is an argument or an attn
    result, and no value is returned twice. Calls (and so recursion),
    other dialects' ops, declarations and other top-level ops are errors at
    their source location.
  }];
}

def AttnRuleBlockMaps : Pass<"attn-rule-block-maps", "func::FuncOp"> {
  let summary = "Give attentions with a mask_rule a block map made before them";
  let description = [{
    The CUDA pipeline's first step for `mask_rule` regions: each
    `attn.attention` with a mask_rule (and no block list or document ids)
    gets an `attn.rule_blocks` in front of it that decides, per query block
    and key block, whether the mask and the rule may keep a pair and
    whether they keep all of them (the region on intervals,
    docs/design/rules.md), and the attention reads that map as a
    `full_marked` block list: the kernels visit only the blocks that may
    keep a pair, full ones without the element rule, and never evaluate
    the rule on intervals in the key loop. The map is one per head (Hl =
    Hq) when the region reads h, else one for all heads (Hl = 1). The
    CPU keeps the region's block rule inside its key loop (attn-tile) and
    does not run this pass.
  }];
  let options = [
    Option<"blockQ", "block-q", "int64_t", /*default=*/"128",
           "query rows per block of the map">,
    Option<"blockK", "block-k", "int64_t", /*default=*/"128",
           "keys per block of the map">,
  ];
}

def AttnFreeIntermediates : Pass<"attn-free-intermediates", "func::FuncOp"> {
  let summary = "Free an entry's unreturned top-level buffers before it returns";
  let description = [{
    Runs after bufferization and buffer-results-to-out-params: every
    `memref.alloc` at the top of an entry that is neither freed nor
    returned (an intermediate such as an attention output another op
    reads) gets a `memref.dealloc` just before the return.
  }];
  let dependentDialects = ["::mlir::memref::MemRefDialect"];
}

def AttnPrepareABI : Pass<"attn-prepare-abi", "ModuleOp"> {
  let summary = "Mark spec entries for the C calling convention of the runtime";
  let description = [{
    Sets `llvm.emit_c_interface` on every public `func.func`, so that the
    LLVM lowering emits `_mlir_ciface_<name>` taking one pointer to a memref
    descriptor per argument (outputs last, after
    buffer-results-to-out-params). The runtime and the generated C header
    call entries through that wrapper. `attn.cpu_threads` becomes a call of
    `omp_get_max_threads()` (declared where used), the thread count the
    runtime set for the call.
  }];
  let dependentDialects = ["arith::ArithDialect", "func::FuncDialect"];
}

#endif // ATTNIR_DIALECT_ATTN_TRANSFORMS_PASSES_TD
