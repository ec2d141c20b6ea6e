// Attention sinks with a causal sliding window (StreamingLLM): query i sees
// the first 4 keys and the last 256 keys up to itself (window<255, 0>). The
// block rule has two ranges, so the blocks between the sinks and the band
// are never visited: the work grows with N * (256 + 4), not N^2.
//   attnc run examples/sink_window.mlir --shape q=1x8x4096x64 --check --bench
func.func @sink_window(%q: tensor<?x?x?x64xf32>, %k: tensor<?x?x?x64xf32>,
                          %v: tensor<?x?x?x64xf32>) -> tensor<?x?x?x64xf32> {
  %o = attn.attention %q, %k, %v mask(#attn.all_of<[#attn.causal, #attn.any_of<[#attn.window<255, 0>, #attn.sink<4>]>]>)
       : (tensor<?x?x?x64xf32>, tensor<?x?x?x64xf32>, tensor<?x?x?x64xf32>)
       -> tensor<?x?x?x64xf32>
  return %o : tensor<?x?x?x64xf32>
}
