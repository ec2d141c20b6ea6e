// Routing Transformer (Roy, Saffar, Vaswani, Grangier, TACL 2021): content
// routing by nearest centroid. Every token of query head h is assigned to
// the centroid c of `centroids` [H, C = 8, D] with the largest q_t . mu_c
// (the argmax of the cosine: q's norm does not change it; ties to the lower
// c), tokens are sorted by (cluster, position), the sorted sequence is cut
// into C balanced chunks of ceil(N / C), and each token attends causally
// (on its original position) to the tokens of its chunk. q, k and v all
// follow q's order (shared routing: k and v of a GQA group are gathered
// per query head); the result goes back to the original order.
// Heads h < H / 2 are routed; heads h >= H / 2 are local: causal window of
// 256 on original positions (the paper's mix of routing and local heads).
// Every head goes through the same sorted order: the mask is written on
// original positions (perm), so the result is the same as for local heads
// in their own order. self-attention only
//   attnc run examples/routing_kmeans.mlir --check
func.func @routing_kmeans(%q: tensor<?x?x?x64xf32>, %k: tensor<?x?x?x64xf32>,
                          %v: tensor<?x?x?x64xf32>,
                          %centroids: tensor<?x8x64xf32>)
    -> tensor<?x?x?x64xf32> {
  %perm, %bucket = attn.route %q centroids(%centroids)
      : (tensor<?x?x?x64xf32>, tensor<?x8x64xf32>)
      -> (tensor<?x?x?xi32>, tensor<?x?x?xi32>)
  %qs = attn.permute %q by %perm
      : (tensor<?x?x?x64xf32>, tensor<?x?x?xi32>) -> tensor<?x?x?x64xf32>
  %ks = attn.permute %k by %perm
      : (tensor<?x?x?x64xf32>, tensor<?x?x?xi32>) -> tensor<?x?x?x64xf32>
  %vs = attn.permute %v by %perm
      : (tensor<?x?x?x64xf32>, tensor<?x?x?xi32>) -> tensor<?x?x?x64xf32>
  %os = attn.attention %qs, %ks, %vs rules(%perm) mask_rule {
  ^bb0(%b: index, %h: index, %i: index, %j: index, %p: tensor<?x?x?xi32>):
    %c1 = arith.constant 1 : index
    %c2 = arith.constant 2 : index
    %c7 = arith.constant 7 : index
    %c8 = arith.constant 8 : index
    %w256 = arith.constant 256 : i32
    %pi = tensor.extract %p[%b, %h, %i] : tensor<?x?x?xi32>
    %pj = tensor.extract %p[%b, %h, %j] : tensor<?x?x?xi32>
    %causal = arith.cmpi sle, %pj, %pi : i32
    // Routed heads: the same balanced chunk of the sorted order.
    %H = tensor.dim %p, %c1 : tensor<?x?x?xi32>
    %N = tensor.dim %p, %c2 : tensor<?x?x?xi32>
    %half = arith.divui %H, %c2 : index
    %routed = arith.cmpi ult, %h, %half : index
    %n7 = arith.addi %N, %c7 : index
    %w = arith.divui %n7, %c8 : index
    %ci = arith.divui %i, %w : index
    %cj = arith.divui %j, %w : index
    %chunk = arith.cmpi eq, %ci, %cj : index
    // Local heads: the 256 latest original positions.
    %d = arith.subi %pi, %pj : i32
    %near = arith.cmpi slt, %d, %w256 : i32
    %inside = arith.select %routed, %chunk, %near : i1
    %keep = arith.andi %causal, %inside : i1
    attn.yield %keep : i1
  } : (tensor<?x?x?x64xf32>, tensor<?x?x?x64xf32>, tensor<?x?x?x64xf32>,
       tensor<?x?x?xi32>) -> tensor<?x?x?x64xf32>
  %o = attn.permute %os by %perm inverse
      : (tensor<?x?x?x64xf32>, tensor<?x?x?xi32>) -> tensor<?x?x?x64xf32>
  return %o : tensor<?x?x?x64xf32>
}
