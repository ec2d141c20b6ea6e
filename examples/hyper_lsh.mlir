// HyperAttention (Han et al., ICLR 2024), in the form of shared/patterns.md:
// q and k are each routed by 8 LSH sign bits (one seeded generator, so the
// same hyperplanes hash both), sorted by (bucket, position), and attend
// block-diagonally in chunks of 256 of their sorted orders (non-causal);
// plus m = 256 sampled key columns, each with weight M / m (a logit offset
// of log(M / m)), merged with the block part by their lse. The sample is
// the first 256 entries of `cols` [B, Hkv, M], a permutation of the keys
// per row given as input (attnc draws a uniform one; the runtime checks it
// is a permutation): the caller seeds it. The paper's estimator also drops
// the sampled entries that fall inside a block; here both parts count.
//   attnc run examples/hyper_lsh.mlir --check
func.func @hyper_lsh(%q: tensor<?x?x?x64xf32>, %k: tensor<?x?x?x64xf32>,
                     %v: tensor<?x?x?x64xf32>, %cols: tensor<?x?x?xi32>)
    -> tensor<?x?x?x64xf32> {
  %pq, %bq = attn.route %q lsh(8, 1)
      : (tensor<?x?x?x64xf32>) -> (tensor<?x?x?xi32>, tensor<?x?x?xi32>)
  %pk, %bk = attn.route %k lsh(8, 1)
      : (tensor<?x?x?x64xf32>) -> (tensor<?x?x?xi32>, tensor<?x?x?xi32>)
  %qs = attn.permute %q by %pq
      : (tensor<?x?x?x64xf32>, tensor<?x?x?xi32>) -> tensor<?x?x?x64xf32>
  %ks = attn.permute %k by %pk
      : (tensor<?x?x?x64xf32>, tensor<?x?x?xi32>) -> tensor<?x?x?x64xf32>
  %vs = attn.permute %v by %pk
      : (tensor<?x?x?x64xf32>, tensor<?x?x?xi32>) -> tensor<?x?x?x64xf32>
  %os, %ls = attn.attention %qs, %ks, %vs mask(#attn.chunked<256>)
      : (tensor<?x?x?x64xf32>, tensor<?x?x?x64xf32>, tensor<?x?x?x64xf32>)
      -> (tensor<?x?x?x64xf32>, tensor<?x?x?xf32>)
  %o1 = attn.permute %os by %pq inverse
      : (tensor<?x?x?x64xf32>, tensor<?x?x?xi32>) -> tensor<?x?x?x64xf32>
  %l1 = attn.permute %ls by %pq inverse
      : (tensor<?x?x?xf32>, tensor<?x?x?xi32>) -> tensor<?x?x?xf32>
  %kc = attn.permute %k by %cols
      : (tensor<?x?x?x64xf32>, tensor<?x?x?xi32>) -> tensor<?x?x?x64xf32>
  %vc = attn.permute %v by %cols
      : (tensor<?x?x?x64xf32>, tensor<?x?x?xi32>) -> tensor<?x?x?x64xf32>
  %o2, %l2 = attn.attention %q, %kc, %vc rules(%kc) mask(#attn.sink<256>)
       score_rule {
  ^bb0(%s: f32, %b: index, %h: index, %i: index, %j: index,
       %t: tensor<?x?x?x64xf32>):
    // The sampled columns stand for all M: weight M / min(M, 256).
    %c2 = arith.constant 2 : index
    %m = tensor.dim %t, %c2 : tensor<?x?x?x64xf32>
    %mi = arith.index_cast %m : index to i64
    %c256 = arith.constant 256 : i64
    %taken = arith.minsi %mi, %c256 : i64
    %mf = arith.sitofp %mi : i64 to f32
    %tf = arith.sitofp %taken : i64 to f32
    %r = arith.divf %mf, %tf : f32
    %w = math.log %r : f32
    %s2 = arith.addf %s, %w : f32
    attn.yield %s2 : f32
  } : (tensor<?x?x?x64xf32>, tensor<?x?x?x64xf32>, tensor<?x?x?x64xf32>,
       tensor<?x?x?x64xf32>) -> (tensor<?x?x?x64xf32>, tensor<?x?x?xf32>)
  %o, %lse = attn.merge %o1, %l1, %o2, %l2
       : (tensor<?x?x?x64xf32>, tensor<?x?x?xf32>, tensor<?x?x?x64xf32>,
          tensor<?x?x?xf32>) -> (tensor<?x?x?x64xf32>, tensor<?x?x?xf32>)
  return %o : tensor<?x?x?x64xf32>
}
