// LongHeads (Lu et al. 2024): each head attends within its trained length
// by picking chunks. Keys in chunks of c = 256 tokens, summarised by their
// mean; each query block of 64 rows scores the chunks with its mean query
// (scale 1/sqrt(D)) and keeps k = 16 chunks: the first (attention sink),
// its own (diagonal) chunk and the 14 best-scoring other legal chunks
// (causal, bottom-right; ties to the lower id): at most 4096 keys per query
// whatever the context length. Inside a kept chunk the causal rule holds.
// The paper remaps positions so RoPE stays in distribution; AttnIR takes
// RoPE-applied q and k, so that remapping is the caller's.
//   attnc run examples/longheads.mlir --shape q=1x8x16384x64 --check --bench
func.func @longheads(%q: tensor<?x?x?x64xf32>, %k: tensor<?x?x?x64xf32>,
                     %v: tensor<?x?x?x64xf32>) -> tensor<?x?x?x64xf32> {
  %qp = attn.pool %q block(64) kind(mean)
        : tensor<?x?x?x64xf32> -> tensor<?x?x?x64xf32>
  %kp = attn.pool %k block(256) kind(mean)
        : tensor<?x?x?x64xf32> -> tensor<?x?x?x64xf32>
  %s = attn.block_scores %qp, %kp causal(%q, %k) block_size(64, 256)
       : (tensor<?x?x?x64xf32>, tensor<?x?x?x64xf32>, tensor<?x?x?x64xf32>,
          tensor<?x?x?x64xf32>) -> tensor<?x?x?x?xf32>
  %idx, %cnt = attn.select %s topk(14) first(1) local(1)
       : tensor<?x?x?x?xf32> -> (tensor<?x?x?x16xi32>, tensor<?x?x?xi32>)
  %o = attn.attention %q, %k, %v blocks(%idx, %cnt) block_size(64, 256)
         mask(#attn.causal)
       : (tensor<?x?x?x64xf32>, tensor<?x?x?x64xf32>, tensor<?x?x?x64xf32>,
          tensor<?x?x?x16xi32>, tensor<?x?x?xi32>) -> tensor<?x?x?x64xf32>
  return %o : tensor<?x?x?x64xf32>
}
