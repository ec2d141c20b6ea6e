// Sliding-window attention: query i sees the 256 keys before it and itself
// (aligned bottom-right like causal: keys i + M - N - 256 .. i + M - N).
// Key blocks outside the band are never visited, on either side, so the
// work grows with N * 257, not N^2.
//   attnc run examples/sliding_window.mlir --shape q=1x16x4096x64 --check --bench
func.func @sliding_window(%q: tensor<?x?x?x64xf32>, %k: tensor<?x?x?x64xf32>,
                          %v: tensor<?x?x?x64xf32>) -> tensor<?x?x?x64xf32> {
  %o = attn.attention %q, %k, %v mask(#attn.window<256, 0>)
       : (tensor<?x?x?x64xf32>, tensor<?x?x?x64xf32>, tensor<?x?x?x64xf32>)
       -> tensor<?x?x?x64xf32>
  return %o : tensor<?x?x?x64xf32>
}
