// Retention (RetNet, Sun et al., 2023), its recurrent form without the
// group norm and the xPos rotation (applied by the caller to q and k):
//   S_t = gamma_h S_{t-1} + k_t v_t^T,   out_t = q_t^T S_t / sqrt(D)
// with a fixed decay per head, gamma_h = 1 - 2^(-5 - h) in the paper
// (passed as `decay` [H]; attnc draws values in [0.5, 1)). The same op as
// Lightning Attention's (lightning_decay.mlir): decayed linear attention,
// chunked on the CPU, a step kernel on CUDA.
// q, k, v: one sequence, one head count.
//   attnc run examples/retention_per_head_decay.mlir --shape q=1x8x2048x64 --check
func.func @retention(%q: tensor<?x?x?x64xf32>, %k: tensor<?x?x?x64xf32>,
                     %v: tensor<?x?x?x64xf32>, %gamma: tensor<?xf32>)
    -> tensor<?x?x?x64xf32> {
  %o = attn.linear %q, %k, %v decay(%gamma) scale(0.125)
       : (tensor<?x?x?x64xf32>, tensor<?x?x?x64xf32>, tensor<?x?x?x64xf32>,
          tensor<?xf32>) -> tensor<?x?x?x64xf32>
  return %o : tensor<?x?x?x64xf32>
}
