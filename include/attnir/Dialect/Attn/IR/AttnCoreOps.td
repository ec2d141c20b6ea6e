//===- AttnCoreOps.td - attention op --------------------------*- tablegen -*-===//

#ifndef ATTNIR_DIALECT_ATTN_IR_ATTNCOREOPS_TD
#define ATTNIR_DIALECT_ATTN_IR_ATTNCOREOPS_TD

include "attnir/Dialect/Attn/IR/AttnDialect.td"
include "attnir/Dialect/Attn/IR/AttnInterfaces.td"
include "mlir/Interfaces/SideEffectInterfaces.td"

def Attn_FloatTensor : RankedTensorOf<[F32, BF16, F16]>;
def Attn_IndexTensor : RankedTensorOf<[I32, I64]>;

def Attn_YieldOp : Attn_Op<"yield", [Pure, Terminator,
    ParentOneOf<["AttentionOp", "KVBlockUpdateOp", "RuleBlocksOp",
                 "ScanOp"]>]> {
  let summary = "the value(s) of a region";
  let description = [{
    Ends a `mask_rule` (an i1: keep the pair) or `score_rule` (an f32: the
    new logit) region of `attn.attention` (one value), or a region of
    `attn.scan` (its state: one value per component).
  }];
  let arguments = (ins Variadic<AnyType>:$values);
  let assemblyFormat = "$values attr-dict `:` type($values)";
  let extraClassDeclaration = [{
    /// The value of a rule region (which yields exactly one).
    ::mlir::Value getValue() { return getValues().front(); }
  }];
}

def Attn_AttentionOp : Attn_Op<"attention", [Pure, AttrSizedOperandSegments,
    IsolatedFromAbove,
    DeclareOpInterfaceMethods<Attn_EntryRolesOpInterface>,
    DeclareOpInterfaceMethods<Attn_ReferenceOpInterface>]> {
  let summary = "softmax(scale * q k^T, masked) v with online-softmax semantics";
  let description = [{
    Scaled dot-product attention over rank-4 tensors:

    - `q`: [B, Hq, N, D], `k`: [B, Hkv, M, D], `v`: [B, Hkv, M, Dv]
    - result `out`: [B, Hq, N, Dv], optional result `lse`: [B, Hq, N] (f32)

    Query head `h` reads KV head `h / (Hq / Hkv)` (GQA; MQA when Hkv = 1).
    `scale` defaults to 1/sqrt(D). Inputs may be f32, bf16 or f16 (all three
    the same); arithmetic is in f32 and `out` has the input element type.
    B, H, N and M may be dynamic; D and Dv must be static for lowering.

    A row whose keys are all masked gives zeros and lse = -inf.

    A runtime block list (`blocks(kv_indices, kv_counts)`, FlexAttention's
    BlockMask layout, shared/patterns.md A1) restricts each query block of
    `block_q` rows to the key blocks of `block_k` keys it lists:
    `kv_indices` [B, Hl, ceil(N / block_q), K] and `kv_counts`
    [B, Hl, ceil(N / block_q)], i32 or i64, where Hl is 1 (one list for all
    heads), Hq (per query head) or Hkv (per KV head). Query i keeps key j
    when the mask keeps it and floor(j / block_k) is among the first
    `kv_counts` ids of its query block's list; a duplicate id counts once.
    An id outside [0, ceil(M / block_k)) is a runtime error. Any block_k
    works, down to token-level lists (block_k = 1: DSA, SEA); the CPU
    gathers the listed keys of a query tile when block_k is not a multiple
    of 16, the CUDA kernels need a multiple of 16.

    `full_marked` (set by attn-rule-block-maps on a list that
    attn.rule_blocks made, never in a spec): an entry e < 0 names block
    ~e and promises that the mask and the rule keep every pair of it (the
    kernels skip its element rule); the ids of a row are ascending.
    Document ids (`segments(q_doc, k_doc)`, i32 or i64, [B, N] and [B, M])
    are read by masks that need them (`#attn.segments`).

    Rules written in the spec (docs/design/rules.md): a `mask_rule` region
    `(b, h, i, j: index, operands...) -> i1` keeps a pair when it yields
    true (and the `mask` attribute, if any, keeps it too); a `score_rule`
    region `(s: f32, b, h, i, j: index, operands...) -> f32` replaces the
    natural logit s = scale q.k of every kept pair (before any base-2
    folding). `h` is the query head; `i`, `j` are global positions. The
    regions read the op's `rules(...)` operands (any ranked tensors, passed
    to the regions as arguments after the scalars) with `tensor.extract`
    and `tensor.dim`, and may use arith and math ops; nothing else, and
    nothing from outside the op. Reads out of bounds are clamped.

    ```mlir
    %o = attn.attention %q, %k, %v mask(#attn.causal) score_rule {
    ^bb0(%s: f32, %b: index, %h: index, %i: index, %j: index):
      %c = arith.constant 50.0 : f32
      %x = arith.divf %s, %c : f32
      %t = math.tanh %x : f32
      %y = arith.mulf %t, %c : f32
      attn.yield %y : f32
    } : (tensor<?x?x?x64xf32>, tensor<?x?x?x64xf32>, tensor<?x?x?x64xf32>)
        -> tensor<?x?x?x64xf32>
    ```

    ```mlir
    %o = attn.attention %q, %k, %v mask(#attn.causal)
        : (tensor<?x?x?x64xf32>, tensor<?x?x?x64xf32>, tensor<?x?x?x64xf32>)
        -> tensor<?x?x?x64xf32>
    ```
  }];
  let arguments = (ins Attn_FloatTensor:$q, Attn_FloatTensor:$k,
                       Attn_FloatTensor:$v,
                       Optional<Attn_IndexTensor>:$kv_indices,
                       Optional<Attn_IndexTensor>:$kv_counts,
                       Optional<Attn_IndexTensor>:$q_doc,
                       Optional<Attn_IndexTensor>:$k_doc,
                       Variadic<RankedTensorOf<[F32, BF16, F16, I32, I64]>>:$rule_operands,
                       OptionalAttr<Attn_MaskAttrInterface>:$mask,
                       OptionalAttr<F64Attr>:$scale,
                       OptionalAttr<I64Attr>:$block_q,
                       OptionalAttr<I64Attr>:$block_k,
                       UnitAttr:$full_marked);
  let results = (outs Attn_FloatTensor:$out,
                      Optional<RankedTensorOf<[F32]>>:$lse);
  let regions = (region AnyRegion:$mask_rule, AnyRegion:$score_rule);
  let assemblyFormat = [{
    $q `,` $k `,` $v
    (`blocks` `(` $kv_indices^ `,` $kv_counts `)`
     `block_size` `(` $block_q `,` $block_k `)`)?
    (`segments` `(` $q_doc^ `,` $k_doc `)`)?
    (`rules` `(` $rule_operands^ `)`)?
    (`mask` `(` $mask^ `)`)? (`scale` `(` $scale^ `)`)?
    (`mask_rule` $mask_rule^)? (`score_rule` $score_rule^)?
    attr-dict `:` functional-type(operands, results)
  }];
  let hasVerifier = 1;
  let extraClassDeclaration = [{
    /// The scale applied to q.k: the attribute, or 1/sqrt(D).
    double getScaleValue();
    /// Pairs of (operand/result, dim) that must be equal, for shape
    /// inference in drivers: q, k, v are 0..2, result out is 3, lse is 4.
    static ::llvm::ArrayRef<DimEquality> getDimEqualities();
    /// True when the op carries a runtime block list.
    bool hasBlockList() { return static_cast<bool>(getKvIndices()); }
    ::mlir::LogicalResult verifyBlockList();
    ::mlir::LogicalResult verifySegments();
    ::mlir::LogicalResult verifyRules();
    /// The mask the lowerings schedule by: the mask attribute, and
    /// #attn.rule (all_of) when the op has a mask_rule region; null when
    /// neither.
    MaskAttrInterface getScheduleMask();
    /// Dimensions of rule operands the regions index directly by b, h, i
    /// or j: they are B, Hq, N or M (random inputs, shape checks).
    void ruleShapeRelations(
        ::llvm::SmallVectorImpl<ShapeRelation> &out);
    bool hasMaskRule() { return !getMaskRule().empty(); }
    bool hasScoreRule() { return !getScoreRule().empty(); }
    /// The block list's block sizes (0 without a list).
    int64_t listBlockQ() {
      return getBlockQAttr() ? getBlockQAttr().getInt() : 0;
    }
    int64_t listBlockK() {
      return getBlockKAttr() ? getBlockKAttr().getInt() : 0;
    }
  }];
}

def Attn_RuleBlocksOp : Attn_Op<"rule_blocks", [Pure, IsolatedFromAbove,
    DeclareOpInterfaceMethods<Attn_ShapeRelationsOpInterface>,
    DeclareOpInterfaceMethods<Attn_PersistentScratchOpInterface>,
    DeclareOpInterfaceMethods<Attn_ReferenceOpInterface>]> {
  let summary = "the block map of a mask_rule: the key blocks each query "
                "block may keep";
  let description = [{
    Made by `attn-rule-block-maps` (the CUDA pipeline) in front of an
    `attn.attention` with a `mask_rule` region, never written in a spec:
    for every query block of `block_q` rows and every key block of
    `block_k` keys, whether the `mask` attribute and the region (a copy of
    the attention's, same arguments) can keep some pair of the block, and
    whether they keep every pair. `kv_indices` [B, Hl, ceil(N / block_q),
    ceil(M / block_k)] lists the blocks that may keep a pair in ascending
    order, a block whose every pair is kept (and lies below M) as ~id;
    `kv_counts` [B, Hl, ceil(N / block_q)] counts them. Hl is 1 when the
    region does not read the head, else Hq. `q` and `k` give the shapes
    only. Kernels decide blocks on intervals (sound: a block may be listed
    that keeps nothing, or left partial when full); the reference decides
    them exactly. The attention then reads the map as a `full_marked`
    block list.
    The other results are the map's memory between calls (buffers the
    runtime keeps per entry and stream, zeroed when it allocates them or
    when the entry's input shapes change): `snapshots`, a copy of each rule
    operand as the last call saw it; `changes` [1], a counter that a call
    raises when an operand differs from its copy; `stamps` (the shape of
    `kv_counts`), per map row the counter + 1 at its last build. A row whose
    stamp is the counter + 1 is not rebuilt: the map is never recomputed
    while the operands it reads are unchanged. The reference computes the
    map only.
  }];
  let arguments = (ins Attn_FloatTensor:$q, Attn_FloatTensor:$k,
                       Variadic<RankedTensorOf<[F32, BF16, F16, I32, I64]>>:$rule_operands,
                       OptionalAttr<Attn_MaskAttrInterface>:$mask,
                       I64Attr:$block_q, I64Attr:$block_k);
  let results = (outs RankedTensorOf<[I32]>:$kv_indices,
                      RankedTensorOf<[I32]>:$kv_counts,
                      RankedTensorOf<[I32]>:$stamps,
                      RankedTensorOf<[I32]>:$changes,
                      Variadic<RankedTensorOf<[F32, BF16, F16, I32, I64]>>:$snapshots);
  let regions = (region SizedRegion<1>:$mask_rule);
  let assemblyFormat = [{
    $q `,` $k (`rules` `(` $rule_operands^ `)`)? (`mask` `(` $mask^ `)`)?
    `block_size` `(` $block_q `,` $block_k `)` `mask_rule` $mask_rule
    attr-dict `:` functional-type(operands, results)
  }];
  let hasVerifier = 1;
  let extraClassDeclaration = [{
    /// Whether one map serves every head (Hl = 1).
    bool isShared() { return getKvIndices().getType().getDimSize(1) == 1; }
  }];
}

#endif // ATTNIR_DIALECT_ATTN_IR_ATTNCOREOPS_TD
