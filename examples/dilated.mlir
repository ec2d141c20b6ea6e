// Dilated attention (LongNet-style): query i sees every 2nd key within
// 128 steps on either side, d = i + M - N - j with d mod 2 = 0 and
// |d| <= 256. Blocks outside the band are never visited.
//   attnc run examples/dilated.mlir --shape q=1x8x4096x64 --check --bench
func.func @dilated(%q: tensor<?x?x?x64xf32>, %k: tensor<?x?x?x64xf32>,
                      %v: tensor<?x?x?x64xf32>) -> tensor<?x?x?x64xf32> {
  %o = attn.attention %q, %k, %v mask(#attn.dilated<2, 128>)
       : (tensor<?x?x?x64xf32>, tensor<?x?x?x64xf32>, tensor<?x?x?x64xf32>)
       -> tensor<?x?x?x64xf32>
  return %o : tensor<?x?x?x64xf32>
}
