// Attention as an RNN (Aaren; Feng et al., 2024): a learned query q_h per
// head attends causally over the sequence, computed as a prefix scan:
//   s_t = q_h . k_t,  leaf (m, u, w)_t = (s_t, 1, v_t),
//   (m, u, w)_a (+) (m, u, w)_b = (m, u_a e^{m_a - m} + u_b e^{m_b - m},
//                                     w_a e^{m_a - m} + w_b e^{m_b - m}),
//   m = max(m_a, m_b),  out_t = w_t / u_t  (shared/patterns.md A9).
// The scan of (m, u, w) equals causal softmax attention of the repeated
// query (identity 5; python/tests/test_scan.py). The learned query is
// `query` [H, 64, 1] (a per-head map of k's features to one score, scale
// folded in). Dv = 64; a chunked scan on both targets.
//   attnc run examples/aaren_scan.mlir --shape k=1x8x4096x64 --check
func.func @aaren_scan(%query: tensor<?x64x1xf32>, %k: tensor<?x?x?x64xf32>,
                      %v: tensor<?x?x?x64xf32>) -> tensor<?x?x?x64xf32> {
  %s = attn.project %k weight(%query)
       : (tensor<?x?x?x64xf32>, tensor<?x64x1xf32>) -> tensor<?x?x?x1xf32>
  %o = attn.scan %s, %v
    leaf {
    ^bb0(%st: f32, %vt: f32):
      %one = arith.constant 1.0 : f32
      attn.yield %st, %one, %vt : f32, f32, f32
    } combine {
    ^bb0(%ma: f32, %ua: f32, %wa: f32, %mb: f32, %ub: f32, %wb: f32):
      %m = arith.maximumf %ma, %mb : f32
      %da = arith.subf %ma, %m : f32
      %ea = math.exp %da : f32
      %db = arith.subf %mb, %m : f32
      %eb = math.exp %db : f32
      %u0 = arith.mulf %ua, %ea : f32
      %u = math.fma %ub, %eb, %u0 : f32
      %w0 = arith.mulf %wa, %ea : f32
      %w = math.fma %wb, %eb, %w0 : f32
      attn.yield %m, %u, %w : f32, f32, f32
    } result {
    ^bb0(%m: f32, %u: f32, %w: f32):
      %o = arith.divf %w, %u : f32
      attn.yield %o : f32
    } : (tensor<?x?x?x1xf32>, tensor<?x?x?x64xf32>) -> tensor<?x?x?x64xf32>
  return %o : tensor<?x?x?x64xf32>
}
