// DARE (Decoupled Attention and Representation Embeddings for long user
// sequences, 2025): retrieval and attention use separate embeddings. Stage
// 1 scores every item of the history with the attention embeddings
// (q_a . k_a per head, token level, no mask: the target sees the whole
// history, one retrieval head) and keeps the top 64 items (ties to the
// lower position); stage 2 attends over exactly those items with the
// representation embeddings q, k, v (any heads; the retrieved items serve
// them all). One target query per row (N targets); the retrieval's score
// row is fused into the select (never written), and the attention gathers
// each target's 64 items (block_size(1, 1)).
//   attnc run examples/dare_topk_retrieval.mlir --shape q=1x8x256x64 --shape k=1x8x4096x64 --check
func.func @dare_topk_retrieval(%q: tensor<?x?x?x64xf32>, %k: tensor<?x?x?x64xf32>,
                               %v: tensor<?x?x?x64xf32>, %q_a: tensor<?x1x?x64xf32>,
                               %k_a: tensor<?x1x?x64xf32>) -> tensor<?x?x?x64xf32> {
  %s = attn.block_scores %q_a, %k_a
       : (tensor<?x1x?x64xf32>, tensor<?x1x?x64xf32>) -> tensor<?x1x?x?xf32>
  %idx, %cnt = attn.select %s topk(64)
       : tensor<?x1x?x?xf32> -> (tensor<?x1x?x64xi32>, tensor<?x1x?xi32>)
  %o = attn.attention %q, %k, %v blocks(%idx, %cnt) block_size(1, 1)
       : (tensor<?x?x?x64xf32>, tensor<?x?x?x64xf32>, tensor<?x?x?x64xf32>,
          tensor<?x1x?x64xi32>, tensor<?x1x?xi32>) -> tensor<?x?x?x64xf32>
  return %o : tensor<?x?x?x64xf32>
}
