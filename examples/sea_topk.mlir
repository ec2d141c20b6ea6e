// SEA (Sparse linear attention with an Estimated Attention mask, Lee et
// al., 2023): a linear-attention kernel estimates the attention scores,
// phi(q) . phi(k) with phi = elu + 1, and each query keeps its 64
// best-estimated earlier keys (token level, causal, ties to the lower
// position) and attends over exactly those with the true scores. The
// estimate row of a query is computed and selected in one row task (never
// written); the attention gathers each query's keys (block_size(1, 1)).
//   attnc run examples/sea_topk.mlir --shape q=1x8x4096x64 --check
func.func @sea_topk(%q: tensor<?x?x?x64xf32>, %k: tensor<?x?x?x64xf32>,
                    %v: tensor<?x?x?x64xf32>) -> tensor<?x?x?x64xf32> {
  %s = attn.block_scores %q, %k causal(%q, %k) block_size(1, 1)
         feature_map(elu1)
       : (tensor<?x?x?x64xf32>, tensor<?x?x?x64xf32>, tensor<?x?x?x64xf32>,
          tensor<?x?x?x64xf32>) -> tensor<?x?x?x?xf32>
  %idx, %cnt = attn.select %s topk(64)
       : tensor<?x?x?x?xf32> -> (tensor<?x?x?x64xi32>, tensor<?x?x?xi32>)
  %o = attn.attention %q, %k, %v blocks(%idx, %cnt) block_size(1, 1)
         mask(#attn.causal)
       : (tensor<?x?x?x64xf32>, tensor<?x?x?x64xf32>, tensor<?x?x?x64xf32>,
          tensor<?x?x?x64xi32>, tensor<?x?x?xi32>) -> tensor<?x?x?x64xf32>
  return %o : tensor<?x?x?x64xf32>
}
