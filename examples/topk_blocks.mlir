// Top-k block selection inside the program (SeerAttention / MoBA style, the
// selection issue's reference pattern): queries and keys in blocks of 64;
// mean-pooled blocks q̄, k̄; score(i, j) = q̄_i · k̄_j / sqrt(D); key block j
// is legal for query block i if it does not start after the key position
// of the block's last row (causal, bottom-right). Each query block keeps
// the first block and its diagonal block, plus the 8 highest-scoring other
// legal blocks (ties to the lower id; fewer if fewer are legal), and
// attends with the causal mask restricted to the kept blocks. Pooling,
// scoring and selection are fused on the CPU (no score matrix is written);
// the attention visits only the kept blocks.
//   attnc run examples/topk_blocks.mlir --shape q=1x8x4096x64 --check --bench
func.func @topk_blocks(%q: tensor<?x?x?x64xf32>, %k: tensor<?x?x?x64xf32>,
                       %v: tensor<?x?x?x64xf32>) -> tensor<?x?x?x64xf32> {
  %qp = attn.pool %q block(64) kind(mean)
        : tensor<?x?x?x64xf32> -> tensor<?x?x?x64xf32>
  %kp = attn.pool %k block(64) kind(mean)
        : tensor<?x?x?x64xf32> -> tensor<?x?x?x64xf32>
  %s = attn.block_scores %qp, %kp causal(%q, %k) block_size(64, 64)
       : (tensor<?x?x?x64xf32>, tensor<?x?x?x64xf32>, tensor<?x?x?x64xf32>,
          tensor<?x?x?x64xf32>) -> tensor<?x?x?x?xf32>
  %idx, %cnt = attn.select %s topk(8) first(1) local(1)
       : tensor<?x?x?x?xf32> -> (tensor<?x?x?x10xi32>, tensor<?x?x?xi32>)
  %o = attn.attention %q, %k, %v blocks(%idx, %cnt) block_size(64, 64)
         mask(#attn.causal)
       : (tensor<?x?x?x64xf32>, tensor<?x?x?x64xf32>, tensor<?x?x?x64xf32>,
          tensor<?x?x?x10xi32>, tensor<?x?x?xi32>) -> tensor<?x?x?x64xf32>
  return %o : tensor<?x?x?x64xf32>
}
