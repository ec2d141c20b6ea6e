// MoBA (Mixture of Block Attention, Moonshot AI 2025): keys in blocks of
// c = 128, each summarised by its mean; every query token gates the blocks
// by q_i · k̄_β (scale 1/sqrt(D)), blocks that start after the query are
// illegal (causal), its own block is always kept (with the causal rule
// inside it) and the 2 best-scoring other blocks are added: top-k = 3
// blocks per query, chosen per token (a block list with query blocks of 1).
// The CPU runs a one-row query tile per token here; a per-tile union of the
// rows' choices with a per-row check is the faster form, still to come.
//   attnc run examples/moba.mlir --shape q=1x8x4096x64 --check --bench
func.func @moba(%q: tensor<?x?x?x64xf32>, %k: tensor<?x?x?x64xf32>,
                %v: tensor<?x?x?x64xf32>) -> tensor<?x?x?x64xf32> {
  %kp = attn.pool %k block(128) kind(mean)
        : tensor<?x?x?x64xf32> -> tensor<?x?x?x64xf32>
  %s = attn.block_scores %q, %kp causal(%q, %k) block_size(1, 128)
       : (tensor<?x?x?x64xf32>, tensor<?x?x?x64xf32>, tensor<?x?x?x64xf32>,
          tensor<?x?x?x64xf32>) -> tensor<?x?x?x?xf32>
  %idx, %cnt = attn.select %s topk(2) local(1)
       : tensor<?x?x?x?xf32> -> (tensor<?x?x?x3xi32>, tensor<?x?x?xi32>)
  %o = attn.attention %q, %k, %v blocks(%idx, %cnt) block_size(1, 128)
         mask(#attn.causal)
       : (tensor<?x?x?x64xf32>, tensor<?x?x?x64xf32>, tensor<?x?x?x64xf32>,
          tensor<?x?x?x3xi32>, tensor<?x?x?xi32>) -> tensor<?x?x?x64xf32>
  return %o : tensor<?x?x?x64xf32>
}
