// A hybrid of sliding-window softmax attention and linear attention (the
// window-plus-linear hybrids of RAT's and Based's papers): query t takes
// the window's softmax terms and a linear term over the whole past, joined
// in unnormalised space,
//   out_t = (sum_{t-255 <= j <= t} e^{s_tj} v_j + phi(q_t)^T S_t)
//         / (sum_{t-255 <= j <= t} e^{s_tj} + phi(q_t)^T z_t),
// S_t = sum_{j <= t} phi(k_j) v_j^T, z_t = sum_{j <= t} phi(k_j), phi = elu + 1.
// The linear branch with `normalize` returns its lse (log phi(q)^T z), so
// attn.merge joins it like any softmax branch.
// q, k, v: one sequence, one head count.
//   attnc run examples/hybrid_window_linear.mlir --shape q=1x8x4096x64 --check
func.func @hybrid_window_linear(%q: tensor<?x?x?x64xf32>, %k: tensor<?x?x?x64xf32>,
                                %v: tensor<?x?x?x64xf32>) -> tensor<?x?x?x64xf32> {
  %ow, %lw = attn.attention %q, %k, %v mask(#attn.window<255, 0>)
       : (tensor<?x?x?x64xf32>, tensor<?x?x?x64xf32>, tensor<?x?x?x64xf32>)
       -> (tensor<?x?x?x64xf32>, tensor<?x?x?xf32>)
  %ol, %ll = attn.linear %q, %k, %v feature_map(elu1) normalize
       : (tensor<?x?x?x64xf32>, tensor<?x?x?x64xf32>, tensor<?x?x?x64xf32>)
       -> (tensor<?x?x?x64xf32>, tensor<?x?x?xf32>)
  %o, %l = attn.merge %ow, %lw, %ol, %ll
       : (tensor<?x?x?x64xf32>, tensor<?x?x?xf32>, tensor<?x?x?x64xf32>,
          tensor<?x?x?xf32>) -> (tensor<?x?x?x64xf32>, tensor<?x?x?xf32>)
  return %o : tensor<?x?x?x64xf32>
}
