// Chunked causal attention (TCNCA, MEGA-chunk, Llama 4's local layers):
// query i sees the keys of its own 128-chunk up to itself,
// floor(i / 128) = floor(j / 128) and j <= i + M - N.
//   attnc run examples/chunked.mlir --shape q=1x8x4096x64 --check --bench
func.func @chunked(%q: tensor<?x?x?x64xf32>, %k: tensor<?x?x?x64xf32>,
                      %v: tensor<?x?x?x64xf32>) -> tensor<?x?x?x64xf32> {
  %o = attn.attention %q, %k, %v mask(#attn.all_of<[#attn.chunked<128>, #attn.causal]>)
       : (tensor<?x?x?x64xf32>, tensor<?x?x?x64xf32>, tensor<?x?x?x64xf32>)
       -> tensor<?x?x?x64xf32>
  return %o : tensor<?x?x?x64xf32>
}
