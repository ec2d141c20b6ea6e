//===- AttnSelectOps.td - pool, block scores, select ---------*- tablegen -*-===//
//
// The selection family (shared/patterns.md A4-A6): a program pools query and
// key blocks, scores pooled blocks against each other and selects key blocks
// per query block; the block list it produces feeds attn.attention's
// `blocks(...)` like a runtime list. The float64 reference evaluates these
// ops (lib/Reference/SelectReference.cpp); attn-lower-select lowers them for
// the CPU, lib/Conversion/AttnToNVGPU/SelectionKernels.cpp for CUDA.
//
//===----------------------------------------------------------------------===//

#ifndef ATTNIR_DIALECT_ATTN_IR_ATTNSELECTOPS_TD
#define ATTNIR_DIALECT_ATTN_IR_ATTNSELECTOPS_TD

include "attnir/Dialect/Attn/IR/AttnDialect.td"
include "attnir/Dialect/Attn/IR/AttnInterfaces.td"
include "mlir/IR/EnumAttr.td"
include "mlir/Interfaces/SideEffectInterfaces.td"

def Attn_PoolKind : I32EnumAttr<"PoolKind", "how a block is summarised", [
    I32EnumAttrCase<"Mean", 0, "mean">, I32EnumAttrCase<"Max", 1, "max">,
    I32EnumAttrCase<"Min", 2, "min">, I32EnumAttrCase<"Sum", 3, "sum">,
    I32EnumAttrCase<"MeanSqrt", 4, "mean_sqrt">,
    I32EnumAttrCase<"First", 5, "first">, I32EnumAttrCase<"Last", 6, "last">]> {
  let cppNamespace = "::mlir::attn";
}

def Attn_ShareKind : I32EnumAttr<"ShareKind",
    "how the query heads of a GQA group share one selection", [
    I32EnumAttrCase<"Sum", 0, "sum">, I32EnumAttrCase<"Max", 1, "max">]> {
  let cppNamespace = "::mlir::attn";
}

def Attn_FeatureMap : I32EnumAttr<"FeatureMap",
    "a feature map phi applied to each feature before a dot product", [
    I32EnumAttrCase<"Identity", 0, "identity">,
    I32EnumAttrCase<"EluPlusOne", 1, "elu1">,
    I32EnumAttrCase<"Relu", 2, "relu">, I32EnumAttrCase<"Exp", 3, "exp">]> {
  let cppNamespace = "::mlir::attn";
}

def Attn_PoolOp : Attn_Op<"pool", [Pure,
    DeclareOpInterfaceMethods<Attn_ShapeRelationsOpInterface>,
    DeclareOpInterfaceMethods<Attn_ReferenceOpInterface>]> {
  let summary = "per-block summaries of a sequence";
  let description = [{
    `x` [B, H, L, D] in blocks of `block` positions along L gives
    [B, H, ceil(L / block), D]: per feature the mean, max, min or sum of
    the block, `mean_sqrt` (the mean times sqrt of the block's size: DHSA's
    length-normalised aggregation), or its first or last position. A short
    last block uses its true size. Arithmetic in f32; the result has the
    element type it declares.

    `stride(s)`: blocks start every `s` positions, block `j` covering
    `[j s, min(j s + block, L))`, so they overlap when `s < block` (Native
    Sparse Attention's compressed keys: block 32, stride 16); the result
    has `ceil(L / s)` blocks, the last ones short. Without it, `s = block`.

    ```mlir
    %qp = attn.pool %q block(64) kind(mean)
        : tensor<?x?x?x64xf32> -> tensor<?x?x?x64xf32>
    ```
  }];
  let arguments = (ins Attn_FloatTensor:$x, I64Attr:$block,
                       OptionalAttr<I64Attr>:$stride, Attn_PoolKind:$kind);
  let results = (outs Attn_FloatTensor:$out);
  let assemblyFormat = [{
    $x `block` `(` $block `)` (`stride` `(` $stride^ `)`)? `kind` `(` $kind `)`
    attr-dict `:` type($x) `->` type($out)
  }];
  let hasVerifier = 1;
  let extraClassDeclaration = [{
    /// Positions between block starts: the stride, or the block size.
    int64_t getStrideValue() {
      return getStride() ? static_cast<int64_t>(*getStride())
                         : static_cast<int64_t>(getBlock());
    }
  }];
}

def Attn_ProjectOp : Attn_Op<"project", [Pure,
    DeclareOpInterfaceMethods<Attn_ShapeRelationsOpInterface>,
    DeclareOpInterfaceMethods<Attn_ReferenceOpInterface>]> {
  let summary = "a learned linear map of per-position features (SeerAttention's gate)";
  let description = [{
    `out[b, h, l, :] = concat(x_0[b, h, l, :], x_1[b, h, l, :], ...) . W`:
    the inputs [B, H, L, D_i] (static D_i) concatenated along features,
    times `weight` [Din, Dout] (one map for every head) or [H, Din, Dout]
    (one per head), Din = sum of the D_i. Arithmetic in f32; the result
    has the element type it declares (weights and inputs may differ).
    SeerAttention's gate: q~ = pool(q, mean) W_q, k~ = [pool(k, max),
    pool(k, min), pool(k, mean)] W_k, scored by attn.block_scores.

    ```mlir
    %kg = attn.project %kmax, %kmin, %kmean weight(%wk)
          : (T, T, T, tensor<?x192x32xf32>) -> tensor<?x?x?x32xf32>
    ```

    `feature_map(phi)`: phi applied to each input feature before the map
    (elu1, relu, exp, identity): NTK-Attention's prefix term phi(q)^T Z and
    its normaliser phi(q)^T k_z (examples/ntk_prefix.mlir).
  }];
  let arguments = (ins Variadic<Attn_FloatTensor>:$inputs,
                       Attn_FloatTensor:$weight,
                       OptionalAttr<Attn_FeatureMap>:$feature_map);
  let results = (outs Attn_FloatTensor:$out);
  let assemblyFormat = [{
    $inputs `weight` `(` $weight `)` (`feature_map` `(` $feature_map^ `)`)?
    attr-dict `:` functional-type(operands, results)
  }];
  let hasVerifier = 1;
}

def Attn_BlockScoresOp : Attn_Op<"block_scores", [Pure,
    DeclareOpInterfaceMethods<Attn_ShapeRelationsOpInterface>,
    DeclareOpInterfaceMethods<Attn_ScoreRowsOpInterface>,
    AttrSizedOperandSegments,
    DeclareOpInterfaceMethods<Attn_ReferenceOpInterface>]> {
  let summary = "scores between pooled query blocks and pooled key blocks";
  let description = [{
    `scores[b, h, i, j] = scale * qp[b, h, i] . kp[b, h / (Hq / Hkv), j]`
    for pooled queries `qp` [B, Hq, Nq, D] and keys `kp` [B, Hkv, Nk, D];
    `scale` defaults to 1/sqrt(D). Result [B, Hq, Nq, Nk] f32.

    `causal(%q, %k) block_size(bq, bk)`: the unpooled q and k give N and M
    (only their lengths are read); a key block j is legal for query block i
    when it does not start after the key position of the block's last row,
    j <= floor((min((i + 1) bq, N) - 1 + M - N) / bk) (bottom-right, as
    #attn.causal); illegal pairs score -inf.

    `share(sum)` or `share(max)`: the query heads of a GQA group share one
    selection; their scores are combined (-inf stays -inf) into one row per
    KV head: result [B, Hkv, Nq, Nk].

    `feature_map(phi)`: phi(qp) . phi(kp) instead of qp . kp, phi applied
    to each feature: `elu1` (elu(x) + 1: x + 1 for x > 0, else e^x; SEA's
    linear-attention estimate of the attention scores), `relu`, `exp`,
    `identity`.
  }];
  let arguments = (ins Attn_FloatTensor:$qp, Attn_FloatTensor:$kp,
                       Optional<Attn_FloatTensor>:$q,
                       Optional<Attn_FloatTensor>:$k,
                       OptionalAttr<F64Attr>:$scale,
                       OptionalAttr<I64Attr>:$block_q,
                       OptionalAttr<I64Attr>:$block_k,
                       OptionalAttr<Attn_ShareKind>:$share,
                       OptionalAttr<Attn_FeatureMap>:$feature_map);
  let results = (outs RankedTensorOf<[F32]>:$scores);
  let assemblyFormat = [{
    $qp `,` $kp
    (`causal` `(` $q^ `,` $k `)` `block_size` `(` $block_q `,` $block_k `)`)?
    (`scale` `(` $scale^ `)`)? (`share` `(` $share^ `)`)?
    (`feature_map` `(` $feature_map^ `)`)?
    attr-dict `:` functional-type(operands, results)
  }];
  let hasVerifier = 1;
  let extraClassDeclaration = [{
    /// The scale applied to qp.kp: the attribute, or 1/sqrt(D).
    double getScaleValue();
  }];
}

def Attn_IndexScoresOp : Attn_Op<"index_scores", [Pure,
    DeclareOpInterfaceMethods<Attn_ShapeRelationsOpInterface>,
    DeclareOpInterfaceMethods<Attn_ScoreRowsOpInterface, ["legalRowEnd"]>,
    DeclareOpInterfaceMethods<Attn_ReferenceOpInterface>]> {
  let summary = "token-level index scores (DeepSeek-V3.2's lightning indexer)";
  let description = [{
    `scores[b, 0, t, s] = sum_j w[b, t, j] * relu(qi[b, j, t] . ki[b, s])`
    for indexer queries `qi` [B, HI, N, DI], one indexer key per position
    `ki` [B, M, DI] (shared by the heads) and per-token head weights `w`
    [B, N, HI]; result [B, 1, N, M] f32, one row per query token, which
    attn.select turns into a token-level list (`block_size(1, 1)` on
    attn.attention, shared by every head). Arithmetic in f32. There is no
    scale: relu is positively homogeneous, so a scale folds into `w` (as
    DeepSeek's weights carry softmax_scale / sqrt(HI)).

    `causal`: key s is legal for query t when s <= t + M - N (bottom-right,
    as #attn.causal); illegal pairs score -inf.

    ```mlir
    %s = attn.index_scores %qi, %ki, %w causal
         : (tensor<?x?x?x64xf32>, tensor<?x?x64xf32>, tensor<?x?x?xf32>)
           -> tensor<?x1x?x?xf32>
    ```
  }];
  let arguments = (ins Attn_FloatTensor:$qi, Attn_FloatTensor:$ki,
                       Attn_FloatTensor:$w, UnitAttr:$causal);
  let results = (outs RankedTensorOf<[F32]>:$scores);
  let assemblyFormat = [{
    $qi `,` $ki `,` $w (`causal` $causal^)? attr-dict `:`
    functional-type(operands, results)
  }];
  let hasVerifier = 1;
}

def Attn_ProbsOp : Attn_Op<"probs", [Pure,
    DeclareOpInterfaceMethods<Attn_ShapeRelationsOpInterface>,
    DeclareOpInterfaceMethods<Attn_ScoreRowsOpInterface>,
    DeclareOpInterfaceMethods<Attn_EntryRolesOpInterface>,
    DeclareOpInterfaceMethods<Attn_ReferenceOpInterface>]> {
  let summary = "attention probabilities as an output (Pointer Networks)";
  let description = [{
    `probs[b, h, i, j] = softmax_j(scale * q[b, h, i] . k[b, h / (Hq /
    Hkv), j])` over the keys the mask keeps, 0 for the others; a row with
    no kept key is all 0. q [B, Hq, N, D], k [B, Hkv, M, D]; result
    [B, Hq, N, M] f32; `scale` defaults to 1/sqrt(D). Masks that read
    operands (document ids) are not taken. With `attn.select ... topk(1)`
    it gives each query's pointer: the most probable position, ties to the
    lower one.

    `onto(l) pooled(c, s)`: the keys are pooled blocks of a sequence aligned
    with the queries (key `j` covers positions `[j s, j s + c)`, as
    `attn.pool ... block(c) stride(s)` makes them), and each row's
    probabilities are summed onto blocks of `l` positions instead: result
    `[b, h, i, t] = sum of P[b, h, i, j]` over the keys `j` whose positions
    overlap `[t l, (t + 1) l)`, for `t` in `[0, ceil(N / l))`. This is
    Native Sparse Attention's block importance: the compressed branch's
    probabilities scored onto its selection blocks. With `onto`:
    - `causal`: blocks that start after the query (`t l > i`) score -inf,
      so that attn.select never picks them;
    - `share(sum)`: the query heads of a GQA group share one row, the sum
      of theirs: result `[B, Hkv, N, ceil(N / l)]`.

    ```mlir
    %p = attn.probs %q, %k : (tensor<?x?x?x64xf32>, tensor<?x?x?x64xf32>)
                             -> tensor<?x?x?x?xf32>
    %imp = attn.probs %q, %kc mask(#attn.compressed<32, 16>) onto(64)
           pooled(32, 16) causal share(sum)
         : (tensor<?x?x?x64xf32>, tensor<?x?x?x64xf32>) -> tensor<?x?x?x?xf32>
    ```
  }];
  let arguments = (ins Attn_FloatTensor:$q, Attn_FloatTensor:$k,
                       OptionalAttr<Attn_MaskAttrInterface>:$mask,
                       OptionalAttr<F64Attr>:$scale,
                       OptionalAttr<I64Attr>:$onto,
                       OptionalAttr<I64Attr>:$pooled_block,
                       OptionalAttr<I64Attr>:$pooled_stride,
                       UnitAttr:$causal,
                       OptionalAttr<Attn_ShareKind>:$share);
  let results = (outs RankedTensorOf<[F32]>:$probs);
  let assemblyFormat = [{
    $q `,` $k (`mask` `(` $mask^ `)`)? (`scale` `(` $scale^ `)`)?
    (`onto` `(` $onto^ `)` `pooled` `(` $pooled_block `,` $pooled_stride `)`)?
    (`causal` $causal^)? (`share` `(` $share^ `)`)? attr-dict
    `:` functional-type(operands, results)
  }];
  let hasVerifier = 1;
  let extraClassDeclaration = [{
    /// The scale applied to q.k: the attribute, or 1/sqrt(D).
    double getScaleValue();
    /// Checks onto / pooled / causal / share.
    ::mlir::LogicalResult verifyOnto();
  }];
}

def Attn_SelectOp : Attn_Op<"select", [Pure,
    DeclareOpInterfaceMethods<Attn_ShapeRelationsOpInterface>,
    DeclareOpInterfaceMethods<Attn_ReferenceOpInterface>]> {
  let summary = "a block list from block scores";
  let description = [{
    Per row of `scores` [B, H, Q, Nk] (a query block's scores; -inf marks an
    illegal key block), the key blocks to visit, as a block list in
    FlexAttention's layout: `kv_indices` [B, H, Q, K] and `kv_counts`
    [B, H, Q] (i32 or i64), ids sorted ascending, slots past the count -1.
    Only legal (finite) blocks are ever selected; fewer legal blocks give a
    smaller count.

    - forced blocks, counted outside `topk`: `first(f)` the blocks 0..f-1,
      `local(l)` the row's last l legal blocks (with causal scores: the
      diagonal block and the l-1 before it), `last(t)` the blocks
      Nk-t..Nk-1;
    - then `topk(k)`: the k highest-scoring other legal blocks, ties to the
      lower id; or `threshold(tau)`: other legal blocks by descending score
      (ties to the lower id) until the softmax mass over the row's legal
      blocks of everything selected, forced blocks included, reaches tau;
      `threshold(1.0)` keeps every legal block, exactly (a running sum in
      floating point reaches 1 while blocks of tiny mass remain).

    K is k + f + l + t with `topk` and Nk with `threshold`.
  }];
  let arguments = (ins RankedTensorOf<[F32]>:$scores,
                       OptionalAttr<I64Attr>:$topk,
                       OptionalAttr<F64Attr>:$threshold,
                       DefaultValuedAttr<I64Attr, "0">:$first,
                       DefaultValuedAttr<I64Attr, "0">:$local,
                       DefaultValuedAttr<I64Attr, "0">:$last);
  let results = (outs Attn_IndexTensor:$kv_indices, Attn_IndexTensor:$kv_counts);
  let assemblyFormat = [{
    $scores (`topk` `(` $topk^ `)`)? (`threshold` `(` $threshold^ `)`)?
    (`first` `(` $first^ `)`)? (`local` `(` $local^ `)`)?
    (`last` `(` $last^ `)`)?
    attr-dict `:` type($scores) `->` `(` type($kv_indices) `,` type($kv_counts) `)`
  }];
  let hasVerifier = 1;
}

#endif // ATTNIR_DIALECT_ATTN_IR_ATTNSELECTOPS_TD
