// SeerAttention (Gao et al., 2024): a learned gate predicts which key blocks
// matter. Blocks of 64; the gate's query is q~ = pool(q, mean) W_q and its
// key k~ = [pool(k, max), pool(k, min), pool(k, mean)] W_k (W_q [Hq, 64, 32]
// and W_k [Hkv, 192, 32], per head, given as inputs; gate dimension 32).
// Gate scores q~ . k~ / sqrt(32) over causally legal key blocks, softmax
// over the row, and each query block keeps the smallest set of blocks
// holding 90 % of the gate's mass (threshold(0.9), ties to the lower id)
// plus its diagonal block; block-sparse causal attention over them. Pooling,
// the gate projections, scoring and selection are all in the entry (fused
// scoring and selection on the CPU; one kernel each on the GPU).
//   attnc run examples/seer_block_sparse.mlir --shape q=1x8x4096x64 --check
func.func @seer_block_sparse(%q: tensor<?x?x?x64xf32>, %k: tensor<?x?x?x64xf32>,
                             %v: tensor<?x?x?x64xf32>, %wq: tensor<?x64x32xf32>,
                             %wk: tensor<?x192x32xf32>) -> tensor<?x?x?x64xf32> {
  %qmean = attn.pool %q block(64) kind(mean)
           : tensor<?x?x?x64xf32> -> tensor<?x?x?x64xf32>
  %kmax = attn.pool %k block(64) kind(max)
          : tensor<?x?x?x64xf32> -> tensor<?x?x?x64xf32>
  %kmin = attn.pool %k block(64) kind(min)
          : tensor<?x?x?x64xf32> -> tensor<?x?x?x64xf32>
  %kmean = attn.pool %k block(64) kind(mean)
           : tensor<?x?x?x64xf32> -> tensor<?x?x?x64xf32>
  %qg = attn.project %qmean weight(%wq)
        : (tensor<?x?x?x64xf32>, tensor<?x64x32xf32>) -> tensor<?x?x?x32xf32>
  %kg = attn.project %kmax, %kmin, %kmean weight(%wk)
        : (tensor<?x?x?x64xf32>, tensor<?x?x?x64xf32>, tensor<?x?x?x64xf32>,
           tensor<?x192x32xf32>) -> tensor<?x?x?x32xf32>
  %s = attn.block_scores %qg, %kg causal(%q, %k) block_size(64, 64)
       : (tensor<?x?x?x32xf32>, tensor<?x?x?x32xf32>, tensor<?x?x?x64xf32>,
          tensor<?x?x?x64xf32>) -> tensor<?x?x?x?xf32>
  %idx, %cnt = attn.select %s threshold(0.9) local(1)
       : tensor<?x?x?x?xf32> -> (tensor<?x?x?x?xi32>, tensor<?x?x?xi32>)
  %o = attn.attention %q, %k, %v blocks(%idx, %cnt) block_size(64, 64)
         mask(#attn.causal)
       : (tensor<?x?x?x64xf32>, tensor<?x?x?x64xf32>, tensor<?x?x?x64xf32>,
          tensor<?x?x?x?xi32>, tensor<?x?x?xi32>) -> tensor<?x?x?x64xf32>
  return %o : tensor<?x?x?x64xf32>
}
