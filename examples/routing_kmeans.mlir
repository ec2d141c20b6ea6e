// Routing Transformer (Roy, Saffar, Vaswani, Grangier, TACL 2021): content
// routing by nearest centroid. Every token of routed query head h is
// assigned to the centroid c of `centroids` [H, C = 8, D] with the largest
// q_t . mu_c (the argmax of the cosine: q's norm does not change it; ties
// to the lower c), tokens are sorted by (cluster, position), the sorted
// sequence is cut into C balanced chunks of ceil(N / C), and each token
// attends causally (on its original position) to the tokens of its chunk.
// The route lists each chunk in position order (chunks(8)), so inside a
// chunk the causal rule on original positions is #attn.causal (no rule
// reads perm: whole blocks skip or run without an element rule).
// q, k and v all follow q's order (shared routing: k and v of a GQA group
// are gathered per query head); the result goes back to the original
// order. Heads h < H / 2 are routed (with centroids[h]); heads h >= H / 2
// are local: a causal window of the 256 latest positions (the query's own
// and 255 before it), the paper's mix of routing and local heads. The two
// groups run as separate attentions (attn.split_heads, attn.join_heads),
// so the local heads keep their window's block skipping in their own
// order. H must be even, and the KV heads even or 1 (each group keeps its
// own KV heads; checked before each call): heads in pairs.
// self-attention only
//   attnc run examples/routing_kmeans.mlir --check
func.func @routing_kmeans(%q: tensor<?x?x?x64xf32>, %k: tensor<?x?x?x64xf32>,
                          %v: tensor<?x?x?x64xf32>,
                          %centroids: tensor<?x8x64xf32>)
    -> tensor<?x?x?x64xf32> {
  %qr, %ql = attn.split_heads %q
      : tensor<?x?x?x64xf32> -> tensor<?x?x?x64xf32>, tensor<?x?x?x64xf32>
  %kr, %kl = attn.split_heads %k
      : tensor<?x?x?x64xf32> -> tensor<?x?x?x64xf32>, tensor<?x?x?x64xf32>
  %vr, %vl = attn.split_heads %v
      : tensor<?x?x?x64xf32> -> tensor<?x?x?x64xf32>, tensor<?x?x?x64xf32>
  %mu, %unused = attn.split_heads %centroids dim(0)
      : tensor<?x8x64xf32> -> tensor<?x8x64xf32>, tensor<?x8x64xf32>
  // Routed heads.
  %perm, %bucket = attn.route %qr centroids(%mu) chunks(8)
      : (tensor<?x?x?x64xf32>, tensor<?x8x64xf32>)
      -> (tensor<?x?x?xi32>, tensor<?x?x?xi32>)
  %qs = attn.permute %qr by %perm
      : (tensor<?x?x?x64xf32>, tensor<?x?x?xi32>) -> tensor<?x?x?x64xf32>
  %ks = attn.permute %kr by %perm
      : (tensor<?x?x?x64xf32>, tensor<?x?x?xi32>) -> tensor<?x?x?x64xf32>
  %vs = attn.permute %vr by %perm
      : (tensor<?x?x?x64xf32>, tensor<?x?x?xi32>) -> tensor<?x?x?x64xf32>
  // The same balanced chunk, causal (each chunk in position order).
  %os = attn.attention %qs, %ks, %vs mask(#attn.all_of<[#attn.balanced<8>, #attn.causal]>)
      : (tensor<?x?x?x64xf32>, tensor<?x?x?x64xf32>, tensor<?x?x?x64xf32>)
      -> tensor<?x?x?x64xf32>
  %or = attn.permute %os by %perm inverse
      : (tensor<?x?x?x64xf32>, tensor<?x?x?xi32>) -> tensor<?x?x?x64xf32>
  // Local heads, in their own order.
  %ol = attn.attention %ql, %kl, %vl mask(#attn.window<255, 0>)
      : (tensor<?x?x?x64xf32>, tensor<?x?x?x64xf32>, tensor<?x?x?x64xf32>)
      -> tensor<?x?x?x64xf32>
  %o = attn.join_heads %or, %ol
      : tensor<?x?x?x64xf32>, tensor<?x?x?x64xf32> -> tensor<?x?x?x64xf32>
  return %o : tensor<?x?x?x64xf32>
}
