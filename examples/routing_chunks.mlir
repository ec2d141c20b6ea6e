// Routing Transformer (Roy, Saffar, Vaswani, Grangier, TACL 2021) with
// balanced clusters, the form its implementations run: every token of
// query head h goes to one of C = 8 centroids of `centroids` [H, 8, D]
// under a balanced assignment (`chunks(8)`: each cluster takes exactly
// ceil(N / 8) tokens, nearest first), tokens are sorted by (cluster,
// position), and each token attends causally to the tokens of its own
// cluster: `balanced<8>` (the chunk of the sorted order) and causal (in
// the sorted order, which within a cluster is the original order). q, k and
// v follow q's order; the result goes back to the original order. On the
// Hopper kernel the attention gathers its rows itself and, its tiles being
// short, runs three blocks per SM (docs/design/routing.md).
// self-attention only
//   attnc run examples/routing_chunks.mlir --check
func.func @routing_chunks(%q: tensor<?x?x?x64xf32>, %k: tensor<?x?x?x64xf32>,
                          %v: tensor<?x?x?x64xf32>,
                          %centroids: tensor<?x8x64xf32>)
    -> tensor<?x?x?x64xf32> {
  %perm, %bucket = attn.route %q centroids(%centroids) chunks(8)
      : (tensor<?x?x?x64xf32>, tensor<?x8x64xf32>)
      -> (tensor<?x?x?xi32>, tensor<?x?x?xi32>)
  %qs = attn.permute %q by %perm
      : (tensor<?x?x?x64xf32>, tensor<?x?x?xi32>) -> tensor<?x?x?x64xf32>
  %ks = attn.permute %k by %perm
      : (tensor<?x?x?x64xf32>, tensor<?x?x?xi32>) -> tensor<?x?x?x64xf32>
  %vs = attn.permute %v by %perm
      : (tensor<?x?x?x64xf32>, tensor<?x?x?xi32>) -> tensor<?x?x?x64xf32>
  %os = attn.attention %qs, %ks, %vs
      mask(#attn.all_of<[#attn.balanced<8>, #attn.causal]>)
      : (tensor<?x?x?x64xf32>, tensor<?x?x?x64xf32>, tensor<?x?x?x64xf32>)
      -> tensor<?x?x?x64xf32>
  %o = attn.permute %os by %perm inverse
      : (tensor<?x?x?x64xf32>, tensor<?x?x?xi32>) -> tensor<?x?x?x64xf32>
  return %o : tensor<?x?x?x64xf32>
}
