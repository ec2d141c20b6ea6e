// A decayed linear attention that starts from a state and returns its
// final state (shared/patterns.md A8): chunked prefill and streaming feed
// one call's final state to the next; context parallelism passes it from
// rank to rank (attnir.distributed.linear_attention). State [B, H, D, Dv]
// f32 (fla's initial_state / final_state layout [B, H, K, V]). Running the
// first half of a sequence, then the second half from the first's final
// state, equals one call over the whole sequence
// (python/tests/test_linear.py). q, k, v: one sequence, one head count.
//   attnc run examples/linear_state.mlir --shape q=1x4x777x64 --check
func.func @linear_state(%q: tensor<?x?x?x64xf32>, %k: tensor<?x?x?x64xf32>,
                        %v: tensor<?x?x?x64xf32>, %g: tensor<?x?x?xf32>,
                        %s0: tensor<?x?x64x64xf32>)
    -> (tensor<?x?x?x64xf32>, tensor<?x?x64x64xf32>) {
  %o, %s = attn.linear %q, %k, %v log_gate(%g) state(%s0) scale(0.125)
       : (tensor<?x?x?x64xf32>, tensor<?x?x?x64xf32>, tensor<?x?x?x64xf32>,
          tensor<?x?x?xf32>, tensor<?x?x64x64xf32>)
       -> (tensor<?x?x?x64xf32>, tensor<?x?x64x64xf32>)
  return %o, %s : tensor<?x?x?x64xf32>, tensor<?x?x64x64xf32>
}
