// DeepSeek Sparse Attention (DSA, DeepSeek-V3.2-Exp, 2025): a lightning
// indexer scores every earlier key for each query token,
//   I[t, s] = sum_j w[t, j] * relu(qi[j, t] . ki[s])
// over HI indexer heads (qi [B, HI, N, DI], one indexer key per position
// ki [B, M, DI], per-token head weights w [B, N, HI], which carry the
// indexer's scale); each query keeps its top-2048 keys (token level,
// causal, ties to the lower position) and attends over them alone; one
// list serves every query head (DSA runs MQA, one KV head, as its MLA
// decodes; any Hkv works). HI = 4 indexer heads of DI = 64 here (DSA: 64
// of 128) keep the float64 check quick. The
// scores of a query are computed and selected in one row task, so the
// N x M index-score matrix is never written; the attention gathers each
// query's 2048 keys (block_size(1, 1)).
//   attnc run examples/dsa_indexer.mlir --shape q=1x8x4096x64 --check
func.func @dsa_indexer(%q: tensor<?x?x?x64xf32>, %k: tensor<?x?x?x64xf32>,
                       %v: tensor<?x?x?x64xf32>, %qi: tensor<?x4x?x64xf32>,
                       %ki: tensor<?x?x64xf32>, %w: tensor<?x?x4xf32>)
    -> tensor<?x?x?x64xf32> {
  %s = attn.index_scores %qi, %ki, %w causal
       : (tensor<?x4x?x64xf32>, tensor<?x?x64xf32>, tensor<?x?x4xf32>)
         -> tensor<?x1x?x?xf32>
  %idx, %cnt = attn.select %s topk(2048)
       : tensor<?x1x?x?xf32> -> (tensor<?x1x?x2048xi32>, tensor<?x1x?xi32>)
  %o = attn.attention %q, %k, %v blocks(%idx, %cnt) block_size(1, 1)
         mask(#attn.causal)
       : (tensor<?x?x?x64xf32>, tensor<?x?x?x64xf32>, tensor<?x?x?x64xf32>,
          tensor<?x1x?x2048xi32>, tensor<?x1x?xi32>) -> tensor<?x?x?x64xf32>
  return %o : tensor<?x?x?x64xf32>
}
