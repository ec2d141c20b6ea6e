// Segment pooling for cross attention (CoLLAP, TimeAudio): audio frames
// (keys and values, M frames) are pooled per segment of c = 16 frames by
// their mean (a short last segment by its true length), and the text
// queries cross-attend the ceil(M / 16) segment summaries (no mask).
//   attnc run examples/segment_pool_cross.mlir --shape q=1x8x512x64 --shape k=1x8x16000x64 --shape v=1x8x16000x64 --check --bench
func.func @segment_pool_cross(%q: tensor<?x?x?x64xf32>,
                              %k: tensor<?x?x?x64xf32>,
                              %v: tensor<?x?x?x64xf32>) -> tensor<?x?x?x64xf32> {
  %kp = attn.pool %k block(16) kind(mean)
        : tensor<?x?x?x64xf32> -> tensor<?x?x?x64xf32>
  %vp = attn.pool %v block(16) kind(mean)
        : tensor<?x?x?x64xf32> -> tensor<?x?x?x64xf32>
  %o = attn.attention %q, %kp, %vp
       : (tensor<?x?x?x64xf32>, tensor<?x?x?x64xf32>, tensor<?x?x?x64xf32>)
       -> tensor<?x?x?x64xf32>
  return %o : tensor<?x?x?x64xf32>
}
