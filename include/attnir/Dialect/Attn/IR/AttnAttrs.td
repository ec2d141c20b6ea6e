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

#endif // ATTNIR_DIALECT_ATTN_IR_ATTNATTRS_TD
