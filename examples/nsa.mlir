// Native Sparse Attention (DeepSeek, Yuan et al. 2025): three branches
// over the same queries, mixed by per-token, per-head gates.
//  (1) compressed: attention over mean-pooled K/V blocks of l = 32 keys at
//      stride d = 16, a block visible once it is wholly in the query's past
//      (#attn.compressed<32, 16>);
//  (2) selected: the compressed branch's probabilities summed onto blocks of
//      l' = 64 keys and over the heads of a GQA group (the group shares one
//      selection), blocks after the query excluded; the first block, the 2
//      local ones and the 13 best others (top-n = 16), chosen per query
//      token; causal attention over them;
//  (3) sliding window of w = 512 keys;
//  out = g_c o_c + g_s o_s + g_w o_w, gates [B, Hq, N] given as inputs
//  (NSA computes them with a sigmoid MLP; here they are the caller's).
// Pooling is the mean (NSA's learned compression MLP is the caller's to
// apply). NSA is self-attention: the pooled keys and the selection blocks
// are positions of the queries' own sequence (self-attention only).
//   attnc run examples/nsa.mlir --shape q=1x8x2048x64 --shape k=1x2x2048x64 --check
func.func @nsa(%q: tensor<?x?x?x64xf32>, %k: tensor<?x?x?x64xf32>,
               %v: tensor<?x?x?x64xf32>, %gc: tensor<?x?x?xf32>,
               %gs: tensor<?x?x?xf32>, %gw: tensor<?x?x?xf32>)
    -> tensor<?x?x?x64xf32> {
  // (1) compressed keys and values, and attention over them.
  %kc = attn.pool %k block(32) stride(16) kind(mean)
        : tensor<?x?x?x64xf32> -> tensor<?x?x?x64xf32>
  %vc = attn.pool %v block(32) stride(16) kind(mean)
        : tensor<?x?x?x64xf32> -> tensor<?x?x?x64xf32>
  %oc = attn.attention %q, %kc, %vc mask(#attn.compressed<32, 16>)
        : (tensor<?x?x?x64xf32>, tensor<?x?x?x64xf32>, tensor<?x?x?x64xf32>)
        -> tensor<?x?x?x64xf32>
  // (2) block importance from the compressed probabilities, top-n blocks.
  %imp = attn.probs %q, %kc mask(#attn.compressed<32, 16>) onto(64)
         pooled(32, 16) causal share(sum)
       : (tensor<?x?x?x64xf32>, tensor<?x?x?x64xf32>) -> tensor<?x?x?x?xf32>
  %idx, %cnt = attn.select %imp topk(13) first(1) local(2)
       : tensor<?x?x?x?xf32> -> (tensor<?x?x?x16xi32>, tensor<?x?x?xi32>)
  %os = attn.attention %q, %k, %v blocks(%idx, %cnt) block_size(1, 64)
          mask(#attn.causal)
       : (tensor<?x?x?x64xf32>, tensor<?x?x?x64xf32>, tensor<?x?x?x64xf32>,
          tensor<?x?x?x16xi32>, tensor<?x?x?xi32>) -> tensor<?x?x?x64xf32>
  // (3) sliding window: the query's own key and the 511 before it.
  %ow = attn.attention %q, %k, %v mask(#attn.window<511, 0>)
        : (tensor<?x?x?x64xf32>, tensor<?x?x?x64xf32>, tensor<?x?x?x64xf32>)
        -> tensor<?x?x?x64xf32>
  // Gated sum of the three branches (upstream ops on tensors).
  %gcb = linalg.broadcast ins(%gc : tensor<?x?x?xf32>)
         outs(%oc : tensor<?x?x?x64xf32>) dimensions = [3]
  %gsb = linalg.broadcast ins(%gs : tensor<?x?x?xf32>)
         outs(%os : tensor<?x?x?x64xf32>) dimensions = [3]
  %gwb = linalg.broadcast ins(%gw : tensor<?x?x?xf32>)
         outs(%ow : tensor<?x?x?x64xf32>) dimensions = [3]
  %c = arith.mulf %gcb, %oc : tensor<?x?x?x64xf32>
  %s = arith.mulf %gsb, %os : tensor<?x?x?x64xf32>
  %w = arith.mulf %gwb, %ow : tensor<?x?x?x64xf32>
  %cs = arith.addf %c, %s : tensor<?x?x?x64xf32>
  %o = arith.addf %cs, %w : tensor<?x?x?x64xf32>
  return %o : tensor<?x?x?x64xf32>
}
