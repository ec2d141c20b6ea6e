// Logit soft-capping (Gemma 2, Grok): causal attention whose logits pass
// through 50 tanh(s / 50) before the softmax, written as a score_rule
// region on the natural logit s = q.k / sqrt(D).
//   attnc run examples/softcap.mlir --shape q=1x8x4096x64 --check --bench
func.func @softcap(%q: tensor<?x?x?x64xf32>, %k: tensor<?x?x?x64xf32>,
                   %v: tensor<?x?x?x64xf32>) -> tensor<?x?x?x64xf32> {
  %o = attn.attention %q, %k, %v mask(#attn.causal) score_rule {
  ^bb0(%s: f32, %b: index, %h: index, %i: index, %j: index):
    %cap = arith.constant 50.0 : f32
    %x = arith.divf %s, %cap : f32
    %t = math.tanh %x : f32
    %y = arith.mulf %t, %cap : f32
    attn.yield %y : f32
  } : (tensor<?x?x?x64xf32>, tensor<?x?x?x64xf32>, tensor<?x?x?x64xf32>)
      -> tensor<?x?x?x64xf32>
  return %o : tensor<?x?x?x64xf32>
}
