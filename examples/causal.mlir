// Causal attention, bottom-right aligned when M != N (query i sees keys
// j <= i + M - N). Key blocks above the diagonal are never visited.
//   attnc run examples/causal.mlir --shape q=1x8x4096x64 --check --bench
func.func @causal(%q: tensor<?x?x?x64xf32>, %k: tensor<?x?x?x64xf32>,
                  %v: tensor<?x?x?x64xf32>) -> tensor<?x?x?x64xf32> {
  %o = attn.attention %q, %k, %v mask(#attn.causal)
       : (tensor<?x?x?x64xf32>, tensor<?x?x?x64xf32>, tensor<?x?x?x64xf32>)
       -> tensor<?x?x?x64xf32>
  return %o : tensor<?x?x?x64xf32>
}
