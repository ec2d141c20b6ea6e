// A per-head bias as a score_rule: causal attention whose logit gets a
// learned offset per query head, s + bias[h] (bias f32 [H], H the number of
// query heads: the entry's shape check ties its length to q's heads). A
// constant per row cancels in the softmax, so on its own it changes only
// lse; written here as the smallest operand-reading rule, and the starting
// point for per-head temperatures (s * t[h]) or per-head distance terms.
//   attnc run examples/head_bias.mlir --check
func.func @head_bias(%q: tensor<?x?x?x64xf32>, %k: tensor<?x?x?x64xf32>,
                     %v: tensor<?x?x?x64xf32>, %bias: tensor<?xf32>)
    -> (tensor<?x?x?x64xf32>, tensor<?x?x?xf32>) {
  %o, %lse = attn.attention %q, %k, %v rules(%bias) mask(#attn.causal)
       score_rule {
  ^bb0(%s: f32, %b: index, %h: index, %i: index, %j: index,
       %bt: tensor<?xf32>):
    %x = tensor.extract %bt[%h] : tensor<?xf32>
    %y = arith.addf %s, %x : f32
    attn.yield %y : f32
  } : (tensor<?x?x?x64xf32>, tensor<?x?x?x64xf32>, tensor<?x?x?x64xf32>,
       tensor<?xf32>) -> (tensor<?x?x?x64xf32>, tensor<?x?x?xf32>)
  return %o, %lse : tensor<?x?x?x64xf32>, tensor<?x?x?xf32>
}
