// Split-KV (FlashDecoding's split of the keys; shared/patterns.md A10):
// attention over the first ceil(M / 2) keys and over the rest, each with its
// lse, merged exactly by attn.merge (lse = log(e^lse1 + e^lse2), out =
// e^(lse1 - lse) out1 + e^(lse2 - lse) out2): equal to dense attention
// over all keys. The same merge joins hybrid branches and, later, the
// shards of context parallelism.
//   attnc run examples/split_kv_merge.mlir --shape q=1x8x1000x64 --check
func.func @split_kv_merge(%q: tensor<?x?x?x64xf32>, %k: tensor<?x?x?x64xf32>,
                          %v: tensor<?x?x?x64xf32>) -> tensor<?x?x?x64xf32> {
  %o1, %lse1 = attn.attention %q, %k, %v mask(#attn.key_part<0, 2>)
       : (tensor<?x?x?x64xf32>, tensor<?x?x?x64xf32>, tensor<?x?x?x64xf32>)
       -> (tensor<?x?x?x64xf32>, tensor<?x?x?xf32>)
  %o2, %lse2 = attn.attention %q, %k, %v mask(#attn.key_part<1, 2>)
       : (tensor<?x?x?x64xf32>, tensor<?x?x?x64xf32>, tensor<?x?x?x64xf32>)
       -> (tensor<?x?x?x64xf32>, tensor<?x?x?xf32>)
  %o, %lse = attn.merge %o1, %lse1, %o2, %lse2
       : (tensor<?x?x?x64xf32>, tensor<?x?x?xf32>, tensor<?x?x?x64xf32>,
          tensor<?x?x?xf32>) -> (tensor<?x?x?x64xf32>, tensor<?x?x?xf32>)
  return %o : tensor<?x?x?x64xf32>
}
