// Document masking written as a mask_rule region: the rule of
// examples/document_mask.mlir (causal within each packed document, query i
// sees key j when j <= i + M - N and q_doc[b, i] = k_doc[b, j]) with the
// document test in the spec instead of #attn.segments. The causal part
// stays a mask attribute, so its block rule still skips the blocks above
// the diagonal; the region runs on every other block. q_doc [B, N] and
// k_doc [B, M] are i32 document ids.
//   attnc run examples/document_region.mlir --shape q=1x8x4096x64 --check --bench
func.func @document_region(%q: tensor<?x?x?x64xf32>, %k: tensor<?x?x?x64xf32>,
                           %v: tensor<?x?x?x64xf32>, %q_doc: tensor<?x?xi32>,
                           %k_doc: tensor<?x?xi32>) -> tensor<?x?x?x64xf32> {
  %o = attn.attention %q, %k, %v rules(%q_doc, %k_doc) mask(#attn.causal)
       mask_rule {
  ^bb0(%b: index, %h: index, %i: index, %j: index,
       %qd: tensor<?x?xi32>, %kd: tensor<?x?xi32>):
    %a = tensor.extract %qd[%b, %i] : tensor<?x?xi32>
    %c = tensor.extract %kd[%b, %j] : tensor<?x?xi32>
    %same = arith.cmpi eq, %a, %c : i32
    attn.yield %same : i1
  } : (tensor<?x?x?x64xf32>, tensor<?x?x?x64xf32>, tensor<?x?x?x64xf32>,
       tensor<?x?xi32>, tensor<?x?xi32>) -> tensor<?x?x?x64xf32>
  return %o : tensor<?x?x?x64xf32>
}
