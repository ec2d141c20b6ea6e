//===- AttnRouteOps.td - content routing ---------------------*- tablegen -*-===//
//
// Content routing (issue 21, shared/patterns.md A7): tokens assigned to
// buckets by nearest centroid or by LSH, in a stable (bucket, position)
// order. docs/design/routing.md has the plan this op is the first step of.
//
//===----------------------------------------------------------------------===//

#ifndef ATTNIR_DIALECT_ATTN_IR_ATTNROUTEOPS_TD
#define ATTNIR_DIALECT_ATTN_IR_ATTNROUTEOPS_TD

include "attnir/Dialect/Attn/IR/AttnDialect.td"
include "attnir/Dialect/Attn/IR/AttnInterfaces.td"
include "mlir/Interfaces/SideEffectInterfaces.td"

def Attn_RouteOp : Attn_Op<"route", [Pure,
    DeclareOpInterfaceMethods<Attn_ShapeRelationsOpInterface>,
    DeclareOpInterfaceMethods<Attn_EntryRolesOpInterface>,
    DeclareOpInterfaceMethods<Attn_ReferenceOpInterface>]> {
  let summary = "buckets by nearest centroid or LSH, and the stable order by "
                "(bucket, position)";
  let description = [{
    For each token x = `x`[b, h, t] (x [B, H, N, D], f32, bf16 or f16):
    - `centroids(%mu)` (mu [H, C, D], same element type):
      bucket = argmax_c x . mu[h, c] (ties to the lower c; the norm of x
      does not change the argmax and is not taken);
    - `lsh(bits, seed)`: bucket = sum_k [x . R[:, k] >= 0] 2^k for k <
      bits (0 <= bits <= 16), R in {-1, +1}^{D x bits}: R[d, k] = +1 when
      the low bit of word 0 of Philox4x32-10(key = (seed mod 2^32, seed
      div 2^32), counter = (d, k, 0, 0)) is 1, else -1.
    Every dot product is a float64 sum in index order of exact products
    (an f32 product of inputs is exact in f64; +-x_d is exact), so buckets
    are the same bits on every target and in the reference.
    `bucket` [B, H, N] i32 holds them; `perm` [B, H, N] i32 is the stable
    order by (bucket, position): perm[b, h, s] is the position of the s-th
    token in that order. With `chunks(C)`, perm is instead cut into the C
    balanced chunks of that order (w = ceil(N / C) slots each) and every
    chunk lists its tokens in position order: the order by (floor(s / w),
    position), s a token's slot in the (bucket, position) order. Chunk
    membership is the same, so attention over `#attn.balanced<C>` is the
    same; inside a chunk the causal rule on original positions is then the
    plain `#attn.causal` of that order, with no rule reading perm. The CPU lowering (attn-lower-route) computes the
    buckets a task per token and the order a task per (b, h) row: a
    histogram of the buckets, its exclusive prefix, a stable scatter.
  }];
  let arguments = (ins Attn_FloatTensor:$x,
                       Optional<Attn_FloatTensor>:$centroids,
                       OptionalAttr<I64Attr>:$bits,
                       OptionalAttr<I64Attr>:$seed,
                       OptionalAttr<I64Attr>:$chunks);
  let results = (outs RankedTensorOf<[I32]>:$perm,
                      RankedTensorOf<[I32]>:$bucket);
  let assemblyFormat = [{
    $x (`centroids` `(` $centroids^ `)`)?
    (`lsh` `(` $bits^ `,` $seed `)`)? (`chunks` `(` $chunks^ `)`)?
    attr-dict `:` functional-type(operands, results)
  }];
  let hasVerifier = 1;
}

def Attn_PermuteOp : Attn_Op<"permute", [Pure,
    DeclareOpInterfaceMethods<Attn_ShapeRelationsOpInterface>,
    DeclareOpInterfaceMethods<Attn_EntryRolesOpInterface>,
    DeclareOpInterfaceMethods<Attn_ReferenceOpInterface>]> {
  let summary = "tokens gathered into a routed order, or scattered back";
  let description = [{
    `x` [B, Hx, N, D] (or [B, Hx, N]: an lse) and `perm` [B, H, N] (i32 or
    i64), each row of perm a permutation of 0 .. N-1 (attn.route's `perm`):
    - gather (default): out[b, h, s] = x[b, h / (H / Hx), perm[b, h, s]],
      out [B, H, N(, D)]; Hx divides H, so the k and v of a GQA group are
      put in the order of each query head;
    - `inverse`: out[b, h, perm[b, h, s]] = x[b, h, s] (Hx = H): results
      computed in the routed order go back to the original one.
    Together with attn.route and an attention over the routed order
    (`#attn.balanced<C>` and a mask_rule on `perm` for the causal rule on
    original positions) this is balanced routing (docs/design/routing.md).
    A perm given as an entry input is checked to be a permutation per row
    before a call.
  }];
  let arguments = (ins Attn_FloatTensor:$x, Attn_IndexTensor:$perm,
                       UnitAttr:$inverse);
  let results = (outs Attn_FloatTensor:$out);
  let assemblyFormat = [{
    $x `by` $perm (`inverse` $inverse^)? attr-dict `:`
    functional-type(operands, results)
  }];
  let hasVerifier = 1;
}

def Attn_SampleOp : Attn_Op<"sample", [Pure, AttrSizedOperandSegments,
    DeclareOpInterfaceMethods<Attn_ShapeRelationsOpInterface>,
    DeclareOpInterfaceMethods<Attn_EntryRolesOpInterface>,
    DeclareOpInterfaceMethods<Attn_ReferenceOpInterface>]> {
  let summary = "uniformly sampled rows, seeded (HyperAttention's columns)";
  let description = [{
    `count` row positions of `x` [B, Hx, M, ...] per (batch, head),
    uniform over [0, M) with replacement, as HyperAttention samples key
    columns (torch.randint in its code). The heads are x's, or those of
    `per` [B, H, ...] (the query heads: the sample of a GQA group's keys
    drawn per query head). `rows` [B, H, count] i32:
      rows[b, h, s] = floor(w M / 2^32),
    w = word 0 of Philox4x32-10(key = (seed mod 2^32, seed div 2^32),
    counter = (s, h, b, 2 o + 1 mod 2^32)) (attn.route's generator; its
    LSH counters end in 0). o is 0, or the value of `offset(%o)`, a
    tensor<1xi32> or tensor<1xi64> read at run time: a training loop passes
    its step and draws fresh rows each call without recompiling (offsets
    equal mod 2^31 draw the same rows). Integer arithmetic only, so every
    target and the reference draw the same rows. With M = 0 every entry
    is 0 (and an attn.gather of it reads zeros).
  }];
  let arguments = (ins AnyRankedTensor:$x, Optional<AnyRankedTensor>:$per,
                       Optional<Attn_IndexTensor>:$offset,
                       I64Attr:$count, I64Attr:$seed);
  let results = (outs RankedTensorOf<[I32]>:$rows);
  let assemblyFormat = [{
    $x (`per` $per^)? `count` `(` $count `)` `seed` `(` $seed `)`
    (`offset` `(` $offset^ `)`)? attr-dict `:`
    functional-type(operands, results)
  }];
  let hasVerifier = 1;
}

def Attn_GatherOp : Attn_Op<"gather", [Pure,
    DeclareOpInterfaceMethods<Attn_ShapeRelationsOpInterface>,
    DeclareOpInterfaceMethods<Attn_EntryRolesOpInterface>,
    DeclareOpInterfaceMethods<Attn_ReferenceOpInterface>]> {
  let summary = "rows of x at given positions (repeats allowed)";
  let description = [{
    `x` [B, Hx, M, D] (or [B, Hx, M]) and `rows` [B, H, S] (i32 or i64),
    Hx dividing H: out[b, h, s] = x[b, h / (H / Hx), rows[b, h, s]], out
    [B, H, S(, D)]. Unlike attn.permute, S is any length and a position
    may repeat (attn.sample's rows). A position outside [0, M) reads a row
    of zeros; `rows` given as an entry input is checked to lie in [0, M)
    before a call.
  }];
  let arguments = (ins Attn_FloatTensor:$x, Attn_IndexTensor:$rows);
  let results = (outs Attn_FloatTensor:$out);
  let assemblyFormat = [{
    $x `at` $rows attr-dict `:` functional-type(operands, results)
  }];
  let hasVerifier = 1;
}

def Attn_SplitHeadsOp : Attn_Op<"split_heads", [Pure,
    DeclareOpInterfaceMethods<Attn_ShapeRelationsOpInterface>,
    DeclareOpInterfaceMethods<Attn_EntryRolesOpInterface>,
    DeclareOpInterfaceMethods<Attn_ReferenceOpInterface>]> {
  let summary = "the heads of a tensor in P equal groups (one result each)";
  let description = [{
    `x` with H heads along dimension `dim` (default 1: [B, H, N, D]; 0 for
    per-head tables such as centroids [H, C, D]) into P = the number of
    results, each with ceil(H / P) heads: part p holds heads
    floor(p H / P) + t, t < ceil(H / P). H must be a multiple of P (the
    query heads: consecutive slices) or divide P (the KV heads of a GQA
    group with fewer KV heads than parts: part p gets the KV head that
    serves the query heads of part p, so `split_heads` of q and of k with
    the same P keeps every query head with its KV head); checked before
    each call. Programs whose heads follow different patterns (Routing
    Transformer's routed and local heads) run each group on its own and
    attn.join_heads the outputs.
  }];
  let arguments = (ins AnyRankedTensor:$x, DefaultValuedAttr<I64Attr, "1">:$dim);
  let results = (outs Variadic<AnyRankedTensor>:$parts);
  let assemblyFormat = [{
    $x (`dim` `(` $dim^ `)`)? attr-dict `:` type($x) `->` type($parts)
  }];
  let hasVerifier = 1;
}

def Attn_JoinHeadsOp : Attn_Op<"join_heads", [Pure,
    DeclareOpInterfaceMethods<Attn_ShapeRelationsOpInterface>,
    DeclareOpInterfaceMethods<Attn_EntryRolesOpInterface>,
    DeclareOpInterfaceMethods<Attn_ReferenceOpInterface>]> {
  let summary = "P groups of heads side by side (attn.split_heads undone)";
  let description = [{
    P tensors of one type with Hp heads along dimension `dim` (default 1)
    into one with P Hp heads: out[.., p Hp + t, ..] = parts[p][.., t, ..].
    The result's head count must follow from the entry's inputs: the parts'
    heads are those of a tensor that attn.split_heads cut into the same P
    parts (directly, or through ops that keep heads, such as an attention
    on the split queries), and that tensor's heads are then checked to be
    a multiple of P.
  }];
  let arguments = (ins Variadic<AnyRankedTensor>:$parts,
                       DefaultValuedAttr<I64Attr, "1">:$dim);
  let results = (outs AnyRankedTensor:$out);
  let assemblyFormat = [{
    $parts (`dim` `(` $dim^ `)`)? attr-dict `:` type($parts) `->` type($out)
  }];
  let hasVerifier = 1;
}

def Attn_LandmarkOp : Attn_Op<"landmark", [Pure,
    DeclareOpInterfaceMethods<Attn_ShapeRelationsOpInterface>,
    DeclareOpInterfaceMethods<Attn_PersistentScratchOpInterface>,
    DeclareOpInterfaceMethods<Attn_EntryRolesOpInterface>,
    DeclareOpInterfaceMethods<Attn_ReferenceOpInterface>]> {
  let summary = "Landmark Attention: grouped softmax over retrieved blocks";
  let description = [{
    Landmark Attention (Mohtashami and Jaggi, 2023; shared/patterns.md Part
    B). Self-attention over blocks of l = `block` tokens, each with one
    landmark key: q [B, Hq, N, D], k [B, Hkv, N, D], v [B, Hkv, N, Dv],
    `landmarks` [B, Hkv, ceil(N / l), D] (GQA by head groups). For query i
    in block c = floor(i / l), with s_ij = scale q_i . k_j and landmark
    logits a_ib = scale q_i . landmarks_b (scale: the attribute or
    1/sqrt(D)):
    - local tokens j in [c l, i] enter the softmax one by one;
    - of the earlier blocks b < c, the `topk(K)` with the largest a_ib are
      retrieved (ties to the lower b; all of them without topk, or when
      c <= K), and each enters as one unit with logit a_ib whose value is
      the block's own softmax of s_i. over its l tokens:
    Z_i = sum_local e^s_ij + sum_retrieved e^a_ib,
    out_i = (sum_local e^s_ij v_j
             + sum_retrieved e^a_ib sum_{j in b} softmax_b(s_i)_j v_j) / Z_i,
    lse_i = log Z_i (natural log). Without topk this is the grouped
    softmax of the paper; with it, its retrieval of the top-k landmarks
    plus the local block. The CPU lowering is a task per query row, on
    vectors where the head dims are multiples of the vector width.

    With topk, the CUDA pipeline's attn-landmark-split gives the op five
    more results, which the entry does not return (the runtime's
    workspace; docs/design/routing.md "Landmark by blocks"): the picks and
    their ranks in their blocks [B, Hq, N, 2 K] i32 (block ids, -1 for
    none, then ranks), their logits and the local block's log2 Z
    [B, Hq, N, K + 1] f32, the units [B, Hq, N, K, Dv] (each pick's
    in-block softmax times v), a table [B, Hq, ceil(N / l), 32] i32 (per
    block a row of 128 bytes, so that the counting atomics of different
    blocks never share a cache line: the count of its entries, which the
    program leaves at 0 for the next call (the table persists between
    calls), then their start, end and padded end) and the entries
    [B, Hq, N, 2 S] i32 (pairs of i K + slot and its block, grouped by
    block: entry p at row p / S, columns 2 (p % S) and 2 (p % S) + 1;
    S = K, or K + 1 with attn-landmark-split's one-block-groups, where each
    block's run starts at a multiple of 64 so that a group of 64 holds one
    block: the padding fits, as a row picks only blocks before its own).
    The CPU does not take that form.
  }];
  let arguments = (ins Attn_FloatTensor:$q, Attn_FloatTensor:$k,
                       Attn_FloatTensor:$v, Attn_FloatTensor:$landmarks,
                       I64Attr:$block, OptionalAttr<I64Attr>:$topk,
                       OptionalAttr<F64Attr>:$scale);
  let results = (outs Attn_FloatTensor:$out, RankedTensorOf<[F32]>:$lse,
                      Variadic<AnyRankedTensor>:$scratch);
  let assemblyFormat = [{
    $q `,` $k `,` $v `,` $landmarks `block` `(` $block `)`
    (`topk` `(` $topk^ `)`)? (`scale` `(` $scale^ `)`)? attr-dict `:`
    functional-type(operands, results)
  }];
  let hasVerifier = 1;
  let extraClassDeclaration = [{
    /// The scale of q.k: the attribute, or 1/sqrt(D).
    double getScaleValue();
    /// attn-landmark-split's form: the retrieval by blocks (five scratch
    /// results).
    bool isByBlocks() { return !getScratch().empty(); }
    static constexpr unsigned kScratchResults = 5;
    /// The by-blocks table's row: count, start, end, padded end, padding to
    /// 128 bytes.
    static constexpr int64_t kTableRow = 32;
    LogicalResult verifyScratch();
  }];
}

#endif // ATTNIR_DIALECT_ATTN_IR_ATTNROUTEOPS_TD
