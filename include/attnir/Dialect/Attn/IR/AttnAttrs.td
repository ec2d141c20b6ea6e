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

#endif // ATTNIR_DIALECT_ATTN_IR_ATTNATTRS_TD
