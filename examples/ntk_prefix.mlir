// NTK-Attention (an infinite prefix in closed form): causal softmax
// attention over the sequence merged in unnormalised space with a prefix
// term phi(q_i)^T Z over phi(q_i)^T k_z (phi = elu + 1):
//   out_i = (sum_j e^{s_ij} v_j + phi(q_i)^T Z) / (sum_j e^{s_ij} + phi(q_i)^T k_z).
// Z [H, D, Dv] and k_z [H, D, 1] are learned per head; k_z is a sum of
// positive features in the paper, so here it is given as s with k_z = s * s
// (any s keeps the normaliser positive). attn.project computes both
// products per head, attn.merge joins them with the attention's (out, lse).
//   attnc run examples/ntk_prefix.mlir --shape q=1x8x4096x64 --check
func.func @ntk_prefix(%q: tensor<?x?x?x64xf32>, %k: tensor<?x?x?x64xf32>,
                      %v: tensor<?x?x?x64xf32>, %Z: tensor<?x64x64xf32>,
                      %s: tensor<?x64x1xf32>) -> tensor<?x?x?x64xf32> {
  %o, %lse = attn.attention %q, %k, %v mask(#attn.causal)
       : (tensor<?x?x?x64xf32>, tensor<?x?x?x64xf32>, tensor<?x?x?x64xf32>)
       -> (tensor<?x?x?x64xf32>, tensor<?x?x?xf32>)
  %kz = arith.mulf %s, %s : tensor<?x64x1xf32>
  %num = attn.project %q weight(%Z) feature_map(elu1)
       : (tensor<?x?x?x64xf32>, tensor<?x64x64xf32>) -> tensor<?x?x?x64xf32>
  %den = attn.project %q weight(%kz) feature_map(elu1)
       : (tensor<?x?x?x64xf32>, tensor<?x64x1xf32>) -> tensor<?x?x?x1xf32>
  %out, %l = attn.merge %o, %lse unnormalized(%num, %den)
       : (tensor<?x?x?x64xf32>, tensor<?x?x?xf32>, tensor<?x?x?x64xf32>,
          tensor<?x?x?x1xf32>) -> (tensor<?x?x?x64xf32>, tensor<?x?x?xf32>)
  return %out : tensor<?x?x?x64xf32>
}
