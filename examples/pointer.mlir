// Pointer Networks (Vinyals et al., 2015): a decoder step attends over the
// input positions and its output is where it points, not a mix of values.
// attn.probs gives each query's attention probabilities over the keys
// (softmax(q . k / sqrt(D)), [B, H, N, M]); attn.select topk(1) over them
// gives the pointer: the most probable input position (ties to the lower
// one). Cross attention, no mask: every decoder step sees every input.
// (Under a mask, a row that keeps no key has all-zero probabilities and
// points at position 0.)
//   attnc run examples/pointer.mlir --shape q=1x8x64x64 --shape k=1x8x512x64 --check
func.func @pointer(%q: tensor<?x?x?x64xf32>, %k: tensor<?x?x?x64xf32>)
    -> (tensor<?x?x?x?xf32>, tensor<?x?x?x1xi32>, tensor<?x?x?xi32>) {
  %p = attn.probs %q, %k
       : (tensor<?x?x?x64xf32>, tensor<?x?x?x64xf32>) -> tensor<?x?x?x?xf32>
  %ptr, %cnt = attn.select %p topk(1)
       : tensor<?x?x?x?xf32> -> (tensor<?x?x?x1xi32>, tensor<?x?x?xi32>)
  return %p, %ptr, %cnt : tensor<?x?x?x?xf32>, tensor<?x?x?x1xi32>, tensor<?x?x?xi32>
}
