// Gated Linear Attention (Yang et al., 2024), in flash-linear-attention's
// convention (chunk_gla, scale = 1/sqrt(D)): a log gate per key feature,
//   S_t = diag(e^{g_t}) S_{t-1} + k_t v_t^T,   out_t = scale q_t^T S_t
// with g [B, H, N, D] <= 0 (fla's g, e.g. logsigmoid(x W) / 16). attnc
// draws g = log(U[0.5, 1)). q, k, v: one sequence, one head count.
//   attnc run examples/gla.mlir --shape q=1x4x1000x64 --check
func.func @gla(%q: tensor<?x?x?x64xf32>, %k: tensor<?x?x?x64xf32>,
               %v: tensor<?x?x?x64xf32>, %g: tensor<?x?x?x64xf32>)
    -> tensor<?x?x?x64xf32> {
  %o = attn.linear %q, %k, %v log_gate(%g) scale(0.125)
       : (tensor<?x?x?x64xf32>, tensor<?x?x?x64xf32>, tensor<?x?x?x64xf32>,
          tensor<?x?x?x64xf32>) -> tensor<?x?x?x64xf32>
  return %o : tensor<?x?x?x64xf32>
}
