//===- AttnRecurrentOps.td - merge (and later linear, scan) --*- tablegen -*-===//
//
// The recurrent family (shared/patterns.md A8-A10). attn.merge combines
// partial attentions exactly from their (out, lse) pairs: split-KV,
// hybrids of softmax branches, later context parallelism. The float64
// reference evaluates it (lib/Reference/MergeReference.cpp); attn-lower-merge
// lowers it for the CPU, lib/Conversion/AttnToNVGPU/MergeKernel.cpp for CUDA.
//
//===----------------------------------------------------------------------===//

#ifndef ATTNIR_DIALECT_ATTN_IR_ATTNRECURRENTOPS_TD
#define ATTNIR_DIALECT_ATTN_IR_ATTNRECURRENTOPS_TD

include "attnir/Dialect/Attn/IR/AttnDialect.td"
include "attnir/Dialect/Attn/IR/AttnInterfaces.td"
include "mlir/Interfaces/SideEffectInterfaces.td"

def Attn_MergeOp : Attn_Op<"merge", [Pure,
    DeclareOpInterfaceMethods<Attn_ShapeRelationsOpInterface>,
    DeclareOpInterfaceMethods<Attn_ReferenceOpInterface>]> {
  let summary = "exact merge of partial attentions by their lse";
  let description = [{
    The operands are pairs (out_r [B, H, N, Dv], lse_r [B, H, N] f32), the
    results of attentions over disjoint sets of keys for the same queries;
    the result is the attention over their union (shared/patterns.md A10):
    `lse = log sum_r e^{lse_r}`, `out = sum_r e^{lse_r - lse} out_r`. A row
    whose parts all have lse -inf (no key kept anywhere) gives zeros and
    -inf, never NaN. Arithmetic in f32; `out` has the element type it
    declares. Split-KV: attention over the first and the second half of
    the keys (`#attn.key_part<0, 2>`, `#attn.key_part<1, 2>`), merged.

    ```mlir
    %o, %lse = attn.merge %o1, %lse1, %o2, %lse2
        : (tensor<?x?x?x64xf32>, tensor<?x?x?xf32>, tensor<?x?x?x64xf32>,
           tensor<?x?x?xf32>) -> (tensor<?x?x?x64xf32>, tensor<?x?x?xf32>)
    ```
  }];
  let arguments = (ins Variadic<Attn_FloatTensor>:$parts);
  let results = (outs Attn_FloatTensor:$out, RankedTensorOf<[F32]>:$lse);
  let assemblyFormat = [{
    $parts attr-dict `:` functional-type(operands, results)
  }];
  let hasVerifier = 1;
  let extraClassDeclaration = [{
    /// The number of (out, lse) pairs.
    unsigned getNumPairs() { return getParts().size() / 2; }
    ::mlir::Value getPartOut(unsigned r) { return getParts()[2 * r]; }
    ::mlir::Value getPartLse(unsigned r) { return getParts()[2 * r + 1]; }
  }];
}

#endif // ATTNIR_DIALECT_ATTN_IR_ATTNRECURRENTOPS_TD
