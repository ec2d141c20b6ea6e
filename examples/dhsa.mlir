// DHSA (dynamic hierarchical sparse attention), fixed-chunk form: queries
// and keys in chunks of c = 64, each summarised by mean_sqrt (the chunk's
// mean times sqrt of its length: DHSA's length-normalised aggregation, so
// a short last chunk is not over-weighted); chunk scores q̄·k̄ / sqrt(D),
// causal legality; every query of a chunk keeps the top k = 8 key chunks
// of its chunk's row (a token budget of k·c = 512 keys, no forced chunks)
// and attends causally within them. DHSA's learned boundaries are the
// segments form (a segments operand), the next step of the selection issue.
//   attnc run examples/dhsa.mlir --shape q=1x8x8192x64 --check --bench
func.func @dhsa(%q: tensor<?x?x?x64xf32>, %k: tensor<?x?x?x64xf32>,
                %v: tensor<?x?x?x64xf32>) -> tensor<?x?x?x64xf32> {
  %qp = attn.pool %q block(64) kind(mean_sqrt)
        : tensor<?x?x?x64xf32> -> tensor<?x?x?x64xf32>
  %kp = attn.pool %k block(64) kind(mean_sqrt)
        : tensor<?x?x?x64xf32> -> tensor<?x?x?x64xf32>
  %s = attn.block_scores %qp, %kp causal(%q, %k) block_size(64, 64)
       : (tensor<?x?x?x64xf32>, tensor<?x?x?x64xf32>, tensor<?x?x?x64xf32>,
          tensor<?x?x?x64xf32>) -> tensor<?x?x?x?xf32>
  %idx, %cnt = attn.select %s topk(8)
       : tensor<?x?x?x?xf32> -> (tensor<?x?x?x8xi32>, tensor<?x?x?xi32>)
  %o = attn.attention %q, %k, %v blocks(%idx, %cnt) block_size(64, 64)
         mask(#attn.causal)
       : (tensor<?x?x?x64xf32>, tensor<?x?x?x64xf32>, tensor<?x?x?x64xf32>,
          tensor<?x?x?x8xi32>, tensor<?x?x?xi32>) -> tensor<?x?x?x64xf32>
  return %o : tensor<?x?x?x64xf32>
}
