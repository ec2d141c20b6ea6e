// Recycled Attention (Xu et al., 2024): queries in blocks of S = 32; the
// first query of each block scores the keys it sees (its full attention
// logits q . k / sqrt(D); the top keys by logit are the top keys by
// attention weight), and its top K = 1024 keys, recycled, plus a local
// window of the S most recent keys are the keys of the whole block
// (causal within them). The window is local(32): the block's last 32
// legal keys, which are the block's own positions (a short last block's
// window reaches back before its first query), so the top 1024 are ranked
// among keys before the first query, all of which it saw.
// (The paper's full-attention step gives the first query all keys; here
// it attends over the recycled set like its block.) The first query's
// score row is fused into the select (never written); the attention
// gathers each block's keys (block_size(32, 1)).
//   attnc run examples/recycled_topk.mlir --shape q=1x8x4096x64 --check
func.func @recycled_topk(%q: tensor<?x?x?x64xf32>, %k: tensor<?x?x?x64xf32>,
                         %v: tensor<?x?x?x64xf32>) -> tensor<?x?x?x64xf32> {
  %qf = attn.pool %q block(32) kind(first)
        : tensor<?x?x?x64xf32> -> tensor<?x?x?x64xf32>
  %s = attn.block_scores %qf, %k causal(%q, %k) block_size(32, 1)
       : (tensor<?x?x?x64xf32>, tensor<?x?x?x64xf32>, tensor<?x?x?x64xf32>,
          tensor<?x?x?x64xf32>) -> tensor<?x?x?x?xf32>
  %idx, %cnt = attn.select %s topk(1024) local(32)
       : tensor<?x?x?x?xf32> -> (tensor<?x?x?x1056xi32>, tensor<?x?x?xi32>)
  %o = attn.attention %q, %k, %v blocks(%idx, %cnt) block_size(32, 1)
         mask(#attn.causal)
       : (tensor<?x?x?x64xf32>, tensor<?x?x?x64xf32>, tensor<?x?x?x64xf32>,
          tensor<?x?x?x1056xi32>, tensor<?x?x?xi32>) -> tensor<?x?x?x64xf32>
  return %o : tensor<?x?x?x64xf32>
}
