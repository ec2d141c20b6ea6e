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
    token in that order. Not compiled yet (attn-verify-spec refuses it in
    specs); the reference and the verifier define it.
  }];
  let arguments = (ins Attn_FloatTensor:$x,
                       Optional<Attn_FloatTensor>:$centroids,
                       OptionalAttr<I64Attr>:$bits,
                       OptionalAttr<I64Attr>:$seed);
  let results = (outs RankedTensorOf<[I32]>:$perm,
                      RankedTensorOf<[I32]>:$bucket);
  let assemblyFormat = [{
    $x (`centroids` `(` $centroids^ `)`)?
    (`lsh` `(` $bits^ `,` $seed `)`)?
    attr-dict `:` functional-type(operands, results)
  }];
  let hasVerifier = 1;
}

#endif // ATTNIR_DIALECT_ATTN_IR_ATTNROUTEOPS_TD
