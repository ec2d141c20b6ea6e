// Gated DeltaNet (Yang, Kautz and Hatamizadeh, 2025), in
// flash-linear-attention's convention (chunk_gated_delta_rule with
// use_qk_l2norm_in_kernel=True, scale = 1/sqrt(D)): per (b, h), S [D, Dv]
// (fla's [K, V]),
//   S_t = e^{g_t} (I - beta_t k_t k_t^T) S_{t-1} + beta_t k_t v_t^T
//   out_t = scale S_t^T q_t
// with q_t, k_t L2-normalised, g [B, H, N] log decays <= 0 and beta
// [B, H, N] in (0, 1). attnc draws g = log(U[0.5, 1)) and beta in
// [0.1, 0.9). q, k, v: one sequence, one head count.
//   attnc run examples/gated_delta_rule.mlir --shape q=1x4x1000x64 --check
func.func @gated_delta_rule(%q: tensor<?x?x?x64xf32>, %k: tensor<?x?x?x64xf32>,
                            %v: tensor<?x?x?x64xf32>, %g: tensor<?x?x?xf32>,
                            %beta: tensor<?x?x?xf32>) -> tensor<?x?x?x64xf32> {
  %o = attn.linear %q, %k, %v log_gate(%g) delta(%beta) l2norm scale(0.125)
       : (tensor<?x?x?x64xf32>, tensor<?x?x?x64xf32>, tensor<?x?x?x64xf32>,
          tensor<?x?x?xf32>, tensor<?x?x?xf32>) -> tensor<?x?x?x64xf32>
  return %o : tensor<?x?x?x64xf32>
}
