// HyperAttention (Han et al., ICLR 2024), in the form of shared/patterns.md
// and of the paper's code: q and k are each routed by 8 LSH sign bits (one
// seeded generator, so the same hyperplanes hash both), sorted by (bucket,
// position), and attend block-diagonally in chunks of 256 of their sorted
// orders (non-causal); plus m = 256 key columns sampled uniformly with
// replacement from the sorted keys (attn.sample: Philox, seed 7, drawn per
// query head), each with weight M / m (a logit offset of log(M / m)); a
// sampled column in the query's own chunk is left out (the block part has
// it already). Both parts in the sorted order are merged by their lse, and
// the result goes back to the original order.
//   attnc run examples/hyper_lsh.mlir --check
func.func @hyper_lsh(%q: tensor<?x?x?x64xf32>, %k: tensor<?x?x?x64xf32>,
                     %v: tensor<?x?x?x64xf32>) -> tensor<?x?x?x64xf32> {
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
  // The sample: 256 positions of the sorted keys per (batch, query head).
  %cols = attn.sample %ks per %qs count(256) seed(7)
      : (tensor<?x?x?x64xf32>, tensor<?x?x?x64xf32>) -> tensor<?x?x256xi32>
  %kc = attn.gather %ks at %cols
      : (tensor<?x?x?x64xf32>, tensor<?x?x256xi32>) -> tensor<?x?x256x64xf32>
  %vc = attn.gather %vs at %cols
      : (tensor<?x?x?x64xf32>, tensor<?x?x256xi32>) -> tensor<?x?x256x64xf32>
  %o2, %l2 = attn.attention %qs, %kc, %vc rules(%cols, %pk) mask_rule {
  ^bb0(%b: index, %h: index, %i: index, %j: index,
       %c: tensor<?x?x256xi32>, %p: tensor<?x?x?xi32>):
    // Left out: a column in the query's chunk of 256 (sorted positions).
    %col = tensor.extract %c[%b, %h, %j] : tensor<?x?x256xi32>
    %c256 = arith.constant 256 : index
    %ci = arith.divui %i, %c256 : index
    %cidx = arith.index_cast %col : i32 to index
    %cj = arith.divui %cidx, %c256 : index
    %other = arith.cmpi ne, %ci, %cj : index
    attn.yield %other : i1
  } score_rule {
  ^bb0(%s: f32, %b: index, %h: index, %i: index, %j: index,
       %c: tensor<?x?x256xi32>, %p: tensor<?x?x?xi32>):
    // Each sampled column stands for M / 256 keys.
    %c2 = arith.constant 2 : index
    %m = tensor.dim %p, %c2 : tensor<?x?x?xi32>
    %mi = arith.index_cast %m : index to i64
    %mf = arith.sitofp %mi : i64 to f32
    %c256 = arith.constant 256.0 : f32
    %r = arith.divf %mf, %c256 : f32
    %w = math.log %r : f32
    %s2 = arith.addf %s, %w : f32
    attn.yield %s2 : f32
  } : (tensor<?x?x?x64xf32>, tensor<?x?x256x64xf32>, tensor<?x?x256x64xf32>,
       tensor<?x?x256xi32>, tensor<?x?x?xi32>)
      -> (tensor<?x?x?x64xf32>, tensor<?x?x?xf32>)
  %om, %lm = attn.merge %os, %ls, %o2, %l2
       : (tensor<?x?x?x64xf32>, tensor<?x?x?xf32>, tensor<?x?x?x64xf32>,
          tensor<?x?x?xf32>) -> (tensor<?x?x?x64xf32>, tensor<?x?x?xf32>)
  %o = attn.permute %om by %pq inverse
      : (tensor<?x?x?x64xf32>, tensor<?x?x?xi32>) -> tensor<?x?x?x64xf32>
  return %o : tensor<?x?x?x64xf32>
}
