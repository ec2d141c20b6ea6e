//===- AttnAttrs.td - mask attributes ------------------------*- tablegen -*-===//

#ifndef ATTNIR_DIALECT_ATTN_IR_ATTNATTRS_TD
#define ATTNIR_DIALECT_ATTN_IR_ATTNATTRS_TD

include "attnir/Dialect/Attn/IR/AttnDialect.td"
include "attnir/Dialect/Attn/IR/AttnInterfaces.td"
include "mlir/IR/AttrTypeBase.td"

class Attn_Attr<string name, string attrMnemonic, list<Trait> traits = []>
    : AttrDef<Attn_Dialect, name, traits> {
  let mnemonic = attrMnemonic;
}

def Attn_CausalAttr : Attn_Attr<"Causal", "causal",
    [DeclareAttrInterfaceMethods<Attn_MaskAttrInterface>]> {
  let summary = "causal mask, aligned bottom-right";
  let description = [{
    Query `i` sees key `j` when `j <= i + (m - n)`. With `m == n` this is the
    usual lower-triangular mask. With `m != n` the last query is aligned
    with the last key (bottom-right), the convention of FlashAttention 2.1+
    and of decoding with a KV cache: the queries are the last `n` positions
    of a sequence of length `m`. With `m < n` the first `n - m` queries see
    no key; their output is zero and their lse is -inf.
  }];
}

def Attn_WindowAttr : Attn_Attr<"Window", "window",
    [DeclareAttrInterfaceMethods<Attn_MaskAttrInterface>]> {
  let summary = "sliding-window (band) mask, aligned bottom-right";
  let description = [{
    Query `i` sees key `j` when `i + d - left <= j <= i + d + right`, with
    `d = m - n` (the causal alignment). `#attn.window<256, 0>` is a causal
    sliding window of 257 keys (the query's own and 256 before it);
    `#attn.window<N, 0>` with N >= the sequence length equals `#attn.causal`.
    Key blocks outside the band are never visited, on either side.
  }];
  let parameters = (ins "int64_t":$left, "int64_t":$right);
  let assemblyFormat = "`<` $left `,` $right `>`";
  let genVerifyDecl = 1;
}

// Closed-form masks (shared/patterns.md A2). Parameters are bounded by
// 2^40 so that no rule overflows int64 on any sequence length.

class Attn_MaskAttr<string name, string attrMnemonic>
    : Attn_Attr<name, attrMnemonic,
                [DeclareAttrInterfaceMethods<Attn_MaskAttrInterface>]>;

def Attn_SinkAttr : Attn_MaskAttr<"Sink", "sink"> {
  let summary = "attention sinks: the first n keys";
  let description = [{
    Key `j` is visible when `j < n` (StreamingLLM's sinks). With a causal
    sliding window: `#attn.all_of<[#attn.causal, #attn.any_of<[
    #attn.window<w, 0>, #attn.sink<4>]>]>`.
  }];
  let parameters = (ins "int64_t":$n);
  let assemblyFormat = "`<` $n `>`";
  let genVerifyDecl = 1;
}

def Attn_GlobalAttr : Attn_MaskAttr<"Global", "global"> {
  let summary = "global tokens: the first n queries and keys see everything";
  let description = [{
    Key `j` is visible to query `i` when `j < n` or `i < n` (Longformer's
    global tokens, at the start of the sequence).
  }];
  let parameters = (ins "int64_t":$n);
  let assemblyFormat = "`<` $n `>`";
  let genVerifyDecl = 1;
}

def Attn_PrefixAttr : Attn_MaskAttr<"Prefix", "prefix"> {
  let summary = "prefix-LM: a bidirectional prefix of n keys, causal after";
  let description = [{
    Key `j` is visible to query `i` when `j < n` or `j <= i + (m - n_q)`
    (the causal part aligned bottom-right like `#attn.causal`).
  }];
  let parameters = (ins "int64_t":$n);
  let assemblyFormat = "`<` $n `>`";
  let genVerifyDecl = 1;
}

def Attn_ChunkedAttr : Attn_MaskAttr<"Chunked", "chunked"> {
  let summary = "block-diagonal: queries see the keys of their chunk";
  let description = [{
    Key `j` is visible to query `i` when `floor(i / c) = floor(j / c)`
    (chunked attention; with `#attn.causal` under `all_of`, chunked causal).
  }];
  let parameters = (ins "int64_t":$c);
  let assemblyFormat = "`<` $c `>`";
  let genVerifyDecl = 1;
}

def Attn_BalancedAttr : Attn_MaskAttr<"Balanced", "balanced"> {
  let summary = "block-diagonal over C equal chunks of the keys";
  let description = [{
    Key `j` is visible to query `i` when `floor(i / w) = floor(j / w)` with
    `w = ceil(M / C)`: the keys cut into C chunks of equal size (the last
    one shorter), whatever M is at run time. Balanced routing (Routing
    Transformer, Reformer, HyperAttention) attends this way over the order
    attn.route sorts the tokens into.
  }];
  let parameters = (ins "int64_t":$c);
  let assemblyFormat = "`<` $c `>`";
  let genVerifyDecl = 1;
}

def Attn_DilatedAttr : Attn_MaskAttr<"Dilated", "dilated"> {
  let summary = "dilated band: every s-th key within w steps";
  let description = [{
    With `d = i + (m - n) - j`, key `j` is visible to query `i` when
    `d mod s = 0` and `|d| <= w * s` (LongNet-style dilation, both sides;
    combine with `#attn.causal` for one side).
  }];
  let parameters = (ins "int64_t":$s, "int64_t":$w);
  let assemblyFormat = "`<` $s `,` $w `>`";
  let genVerifyDecl = 1;
}

def Attn_CompressedAttr : Attn_MaskAttr<"Compressed", "compressed"> {
  let summary = "causal over pooled keys: blocks of c positions at stride s";
  let description = [{
    The keys are blocks of a sequence aligned with the queries: key `j`
    pools positions `[j s, j s + c)` (`attn.pool ... block(c) stride(s)`),
    and query `i` sees it once the whole block is in its past:
    `j s + c - 1 <= i`. This is the compressed branch of Native Sparse
    Attention (`#attn.compressed<32, 16>`). Queries before the end of the
    first block see no key (output 0, lse -inf). The queries are positions
    `0..n-1` of the pooled sequence (self-attention); a decode step that
    queries only the last positions is not expressed by this mask.
  }];
  let parameters = (ins "int64_t":$c, "int64_t":$s);
  let assemblyFormat = "`<` $c `,` $s `>`";
  let genVerifyDecl = 1;
}

def Attn_KeyPartAttr : Attn_MaskAttr<"KeyPart", "key_part"> {
  let summary = "part p of P equal parts of the keys (split-KV)";
  let description = [{
    Key `j` is visible when `ceil(p m / P) <= j < ceil((p + 1) m / P)`:
    the keys cut into `P` nearly equal consecutive parts (the first ones
    longer by at most one), whatever `m`. The parts of one `P` cover every
    key once, so attentions over them merged by `attn.merge` equal the
    attention over all keys: split-KV (`#attn.key_part<0, 2>`,
    `#attn.key_part<1, 2>`). With `#attn.causal` under `all_of`, a causal
    split. 0 <= p < P <= 1024.
  }];
  let parameters = (ins "int64_t":$p, "int64_t":$parts);
  let assemblyFormat = "`<` $p `,` $parts `>`";
  let genVerifyDecl = 1;
}

def Attn_SegmentsAttr : Attn_Attr<"Segments", "segments",
    [DeclareAttrInterfaceMethods<Attn_MaskAttrInterface,
                                 ["readsOperands", "keepAt", "keyRangesAt",
                                  "buildKeepAt", "buildKeyRangesAt"]>]> {
  let summary = "document packing: a query sees the keys of its document";
  let description = [{
    Key `j` is visible to query `i` of batch `b` when `q_doc[b, i] =
    k_doc[b, j]`, the document ids the op takes as
    `segments(%q_doc, %k_doc)` (i32 or i64, [B, N] and [B, M]; self or
    cross attention). With `#attn.causal` under `all_of`: causal within each
    document. The ids must be non-decreasing along the sequence (packed
    documents): the block rule finds a query tile's documents among the keys
    by binary search, so key blocks of other documents are never visited.
    The CPU runtime checks the order; the GPU assumes it.
  }];
}

def Attn_RuleAttr : Attn_Attr<"Rule", "rule",
    [DeclareAttrInterfaceMethods<Attn_MaskAttrInterface,
                                 ["keepAt", "buildKeepAt",
                                  "buildKeyRangesAt"]>]> {
  let summary = "the op's mask_rule region as a mask (made by the compiler)";
  let description = [{
    Stands for the `mask_rule` region of an `attn.attention` in the
    lowerings: its element rule evaluates the region at the site (batch,
    head, operands), its block rule leaves every key visible. A site that
    classifies blocks itself (the region evaluated on intervals) gets every
    key as full and the key schedule asks it per block; otherwise none is
    full and every visited block runs the element rule. The lowerings make
    it (all_of with the op's mask attribute); specs write the region
    instead.
  }];
}

// Combinators. Their block rules combine the children's: all_of intersects
// ranges, any_of keeps each child's ranges (the key schedule visits a block
// once), not complements one range into two.

def Attn_AllOfAttr : Attn_Attr<"AllOf", "all_of",
    [DeclareAttrInterfaceMethods<Attn_MaskAttrInterface,
                                 ["keyRanges", "buildKeyRanges",
                                  "readsOperands", "keepAt", "keyRangesAt",
                                  "buildKeepAt", "buildKeyRangesAt"]>]> {
  let summary = "conjunction of masks";
  let description = [{
    A key is visible when every mask of the list keeps it:
    `#attn.all_of<[#attn.causal, #attn.chunked<128>]>`.
  }];
  let parameters = (ins ArrayRefParameter<"::mlir::attn::MaskAttrInterface">:$masks);
  let hasCustomAssemblyFormat = 1;
  let genVerifyDecl = 1;
}

def Attn_AnyOfAttr : Attn_Attr<"AnyOf", "any_of",
    [DeclareAttrInterfaceMethods<Attn_MaskAttrInterface,
                                 ["keyRanges", "buildKeyRanges",
                                  "readsOperands", "keepAt", "keyRangesAt",
                                  "buildKeepAt", "buildKeyRangesAt"]>]> {
  let summary = "disjunction of masks";
  let description = [{
    A key is visible when some mask of the list keeps it:
    `#attn.any_of<[#attn.window<256, 0>, #attn.sink<4>]>`. Its block rule is
    each child's ranges, so the blocks between a sink and a band are never
    visited.
  }];
  let parameters = (ins ArrayRefParameter<"::mlir::attn::MaskAttrInterface">:$masks);
  let hasCustomAssemblyFormat = 1;
  let genVerifyDecl = 1;
}

def Attn_NotAttr : Attn_Attr<"Not", "not",
    [DeclareAttrInterfaceMethods<Attn_MaskAttrInterface,
                                 ["keyRanges", "buildKeyRanges",
                                  "readsOperands", "keepAt", "keyRangesAt",
                                  "buildKeepAt", "buildKeyRangesAt"]>]> {
  let summary = "negation of a mask";
  let description = [{
    A key is visible when the mask does not keep it:
    `#attn.not<#attn.window<3, 3>>`. A child with one range gives two (the
    keys before and after its full range).
  }];
  let parameters = (ins "::mlir::attn::MaskAttrInterface":$mask);
  let hasCustomAssemblyFormat = 1;
  let extraClassDeclaration = [{
    /// Ranges A and B of the complement of one range r (IR).
    static ::llvm::SmallVector<::mlir::attn::KeyRangeValues>
    complementValues(::mlir::OpBuilder &b, ::mlir::Location loc,
                     ::mlir::attn::KeyRangeValues r, ::mlir::Value m);
  }];
}

#endif // ATTNIR_DIALECT_ATTN_IR_ATTNATTRS_TD
