// Titans' neural long-term memory, its linear form (Behrouz et al., 2025;
// the MAC-free memory without the attention branch): the memory S is
// trained online on the loss |S^T k_t - v_t|^2 by gradient descent with
// momentum and forgetting,
//   U_t = eta_t U_{t-1} - theta_t k_t (k_t^T S_{t-1} - v_t^T)   (surprise),
//   S_t = (1 - alpha_t) S_{t-1} + U_t,   out_t = q_t^T S_t,
// with keys and queries L2-normalised. alpha (forgetting), theta (step) and
// eta (momentum) are per-token gates [B, H, N] (the model's projections of
// x_t); attnc's random inputs draw alpha in [0, 0.5), theta in [0.1, 0.9),
// eta in [0.5, 1). q, k, v: one sequence, one head count.
//   attnc run examples/titans_memory.mlir --shape q=1x8x4096x64 --check
func.func @titans_memory(%q: tensor<?x?x?x64xf32>, %k: tensor<?x?x?x64xf32>,
                         %v: tensor<?x?x?x64xf32>, %alpha: tensor<?x?x?xf32>,
                         %theta: tensor<?x?x?xf32>, %eta: tensor<?x?x?xf32>)
    -> tensor<?x?x?x64xf32> {
  %o = attn.linear %q, %k, %v momentum(%alpha, %theta, %eta) l2norm
       : (tensor<?x?x?x64xf32>, tensor<?x?x?x64xf32>, tensor<?x?x?x64xf32>,
          tensor<?x?x?xf32>, tensor<?x?x?xf32>, tensor<?x?x?xf32>)
       -> tensor<?x?x?x64xf32>
  return %o : tensor<?x?x?x64xf32>
}
