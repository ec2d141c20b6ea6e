// Lightning Attention / TransNormerLLM (Qin et al., 2024): causal linear
// attention with a per-head decay, no feature map and no normalisation:
//   S_t = lambda_h S_{t-1} + k_t v_t^T,   out_t = q_t^T S_t
// with lambda_h in (0, 1] given as `decay` [H] (TransNormerLLM's
// 1 - 2^(-5 - 8 h / H) style schedule is the caller's). Chunked on the
// CPU (chunks of 64 tokens by default: --cpu-options "linear-chunk=16").
// q, k, v: one sequence, one head count.
//   attnc run examples/lightning_decay.mlir --shape q=1x8x4096x64 --check
func.func @lightning_decay(%q: tensor<?x?x?x64xf32>, %k: tensor<?x?x?x64xf32>,
                           %v: tensor<?x?x?x64xf32>, %decay: tensor<?xf32>)
    -> tensor<?x?x?x64xf32> {
  %o = attn.linear %q, %k, %v decay(%decay)
       : (tensor<?x?x?x64xf32>, tensor<?x?x?x64xf32>, tensor<?x?x?x64xf32>,
          tensor<?xf32>) -> tensor<?x?x?x64xf32>
  return %o : tensor<?x?x?x64xf32>
}
