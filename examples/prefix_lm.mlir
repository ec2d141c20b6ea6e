// Prefix-LM (T5, UniLM): the first 100 keys are visible to every query
// (a bidirectional prefix); after them, causal (bottom-right aligned).
//   attnc run examples/prefix_lm.mlir --shape q=1x8x4096x64 --check --bench
func.func @prefix_lm(%q: tensor<?x?x?x64xf32>, %k: tensor<?x?x?x64xf32>,
                        %v: tensor<?x?x?x64xf32>) -> tensor<?x?x?x64xf32> {
  %o = attn.attention %q, %k, %v mask(#attn.prefix<100>)
       : (tensor<?x?x?x64xf32>, tensor<?x?x?x64xf32>, tensor<?x?x?x64xf32>)
       -> tensor<?x?x?x64xf32>
  return %o : tensor<?x?x?x64xf32>
}
