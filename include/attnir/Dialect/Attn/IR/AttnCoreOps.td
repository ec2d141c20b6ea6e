//===- AttnCoreOps.td - attention op --------------------------*- tablegen -*-===//

#ifndef ATTNIR_DIALECT_ATTN_IR_ATTNCOREOPS_TD
#define ATTNIR_DIALECT_ATTN_IR_ATTNCOREOPS_TD

include "attnir/Dialect/Attn/IR/AttnDialect.td"
include "attnir/Dialect/Attn/IR/AttnInterfaces.td"
include "mlir/Interfaces/SideEffectInterfaces.td"

def Attn_FloatTensor : RankedTensorOf<[F32, BF16, F16]>;

def Attn_AttentionOp : Attn_Op<"attention", [Pure]> {
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

    ```mlir
    %o = attn.attention %q, %k, %v mask(#attn.causal)
        : (tensor<?x?x?x64xf32>, tensor<?x?x?x64xf32>, tensor<?x?x?x64xf32>)
        -> tensor<?x?x?x64xf32>
    ```
  }];
  let arguments = (ins Attn_FloatTensor:$q, Attn_FloatTensor:$k,
                       Attn_FloatTensor:$v,
                       OptionalAttr<Attn_MaskAttrInterface>:$mask,
                       OptionalAttr<F64Attr>:$scale);
  let results = (outs Attn_FloatTensor:$out,
                      Optional<RankedTensorOf<[F32]>>:$lse);
  let assemblyFormat = [{
    $q `,` $k `,` $v (`mask` `(` $mask^ `)`)? (`scale` `(` $scale^ `)`)?
    attr-dict `:` functional-type(operands, results)
  }];
  let hasVerifier = 1;
  let extraClassDeclaration = [{
    /// The scale applied to q.k: the attribute, or 1/sqrt(D).
    double getScaleValue();
    /// Pairs of (operand/result, dim) that must be equal, for shape
    /// inference in drivers: operand i is 0..2, result out is 3, lse is 4.
    static ::llvm::ArrayRef<DimEquality> getDimEqualities();
  }];
}

#endif // ATTNIR_DIALECT_ATTN_IR_ATTNCOREOPS_TD
