// Reformer (Kitaev, Kaiser, Levskaya, ICLR 2020): shared-QK LSH attention.
// One tensor `qk` [B, H, N, 64] serves as queries and keys. Each token gets
// a bucket from 4 sign bits of qk_t . R (16 buckets; R in {-1, +1}^{64 x 4}
// from Philox4x32-10 keyed by seed 42, AttnRouteOps.td: angular LSH by
// random hyperplanes, where the paper uses random rotations), tokens are
// sorted by (bucket, position), the sorted sequence is cut into chunks of
// 64, and each token attends causally (on original positions) within its
// chunk; results go back to the original order. The paper's one-chunk
// look-back, multiple hash rounds and self-exclusion are left out.
// self-attention only
//   attnc run examples/reformer_lsh.mlir --check
func.func @reformer_lsh(%qk: tensor<?x?x?x64xf32>, %v: tensor<?x?x?x64xf32>)
    -> tensor<?x?x?x64xf32> {
  %perm, %bucket = attn.route %qk lsh(4, 42)
      : (tensor<?x?x?x64xf32>) -> (tensor<?x?x?xi32>, tensor<?x?x?xi32>)
  %s = attn.permute %qk by %perm
      : (tensor<?x?x?x64xf32>, tensor<?x?x?xi32>) -> tensor<?x?x?x64xf32>
  %vs = attn.permute %v by %perm
      : (tensor<?x?x?x64xf32>, tensor<?x?x?xi32>) -> tensor<?x?x?x64xf32>
  %os = attn.attention %s, %s, %vs rules(%perm) mask(#attn.chunked<64>)
       mask_rule {
  ^bb0(%b: index, %h: index, %i: index, %j: index, %p: tensor<?x?x?xi32>):
    %pi = tensor.extract %p[%b, %h, %i] : tensor<?x?x?xi32>
    %pj = tensor.extract %p[%b, %h, %j] : tensor<?x?x?xi32>
    %causal = arith.cmpi sle, %pj, %pi : i32
    attn.yield %causal : i1
  } : (tensor<?x?x?x64xf32>, tensor<?x?x?x64xf32>, tensor<?x?x?x64xf32>,
       tensor<?x?x?xi32>) -> tensor<?x?x?x64xf32>
  %o = attn.permute %os by %perm inverse
      : (tensor<?x?x?x64xf32>, tensor<?x?x?xi32>) -> tensor<?x?x?x64xf32>
  return %o : tensor<?x?x?x64xf32>
}
