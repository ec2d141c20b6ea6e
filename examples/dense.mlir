// Dense (non-causal) attention with dynamic batch, heads and sequence
// lengths: one compiled kernel serves any B, H, N, M (GQA when k/v have fewer
// heads than q, cross attention when M != N).
//   attnc run examples/dense.mlir --shape q=1x8x4096x64 --check --bench
func.func @dense(%q: tensor<?x?x?x64xf32>, %k: tensor<?x?x?x64xf32>,
                 %v: tensor<?x?x?x64xf32>) -> tensor<?x?x?x64xf32> {
  %o = attn.attention %q, %k, %v
       : (tensor<?x?x?x64xf32>, tensor<?x?x?x64xf32>, tensor<?x?x?x64xf32>)
       -> tensor<?x?x?x64xf32>
  return %o : tensor<?x?x?x64xf32>
}
