// RUN: attn-opt %s -split-input-file -verify-diagnostics | FileCheck %s

// attn.merge, #attn.key_part and attn.linear round-trip; bad ones are
// located errors.
// CHECK-LABEL: func.func @split
// CHECK: mask(#attn.key_part<0, 2>)
// CHECK: attn.merge %{{.*}}, %{{.*}}, %{{.*}}, %{{.*}} : (
func.func @split(%q: tensor<?x?x?x64xf32>) -> tensor<?x?x?x64xf32> {
  %o1, %l1 = attn.attention %q, %q, %q mask(#attn.key_part<0, 2>)
       : (tensor<?x?x?x64xf32>, tensor<?x?x?x64xf32>, tensor<?x?x?x64xf32>) -> (tensor<?x?x?x64xf32>, tensor<?x?x?xf32>)
  %o2, %l2 = attn.attention %q, %q, %q mask(#attn.key_part<1, 2>)
       : (tensor<?x?x?x64xf32>, tensor<?x?x?x64xf32>, tensor<?x?x?x64xf32>) -> (tensor<?x?x?x64xf32>, tensor<?x?x?xf32>)
  %o, %lse = attn.merge %o1, %l1, %o2, %l2
       : (tensor<?x?x?x64xf32>, tensor<?x?x?xf32>, tensor<?x?x?x64xf32>, tensor<?x?x?xf32>) -> (tensor<?x?x?x64xf32>, tensor<?x?x?xf32>)
  return %o : tensor<?x?x?x64xf32>
}

// -----

func.func @odd(%o: tensor<?x?x?x64xf32>, %l: tensor<?x?x?xf32>) -> tensor<?x?x?x64xf32> {
  // expected-error @+1 {{takes (out, lse) pairs: an even number of operands, at least 2; got 3}}
  %m, %lse = attn.merge %o, %l, %o : (tensor<?x?x?x64xf32>, tensor<?x?x?xf32>, tensor<?x?x?x64xf32>) -> (tensor<?x?x?x64xf32>, tensor<?x?x?xf32>)
  return %m : tensor<?x?x?x64xf32>
}

// -----

func.func @shapes(%o: tensor<1x2x8x64xf32>, %l: tensor<1x2x9xf32>) -> tensor<1x2x8x64xf32> {
  // expected-error @+1 {{pair #0 ('tensor<1x2x8x64xf32>', 'tensor<1x2x9xf32>') does not match the result 'tensor<1x2x8x64xf32>'}}
  %m, %lse = attn.merge %o, %l : (tensor<1x2x8x64xf32>, tensor<1x2x9xf32>) -> (tensor<1x2x8x64xf32>, tensor<1x2x8xf32>)
  return %m : tensor<1x2x8x64xf32>
}

// -----

func.func @lse_type(%o: tensor<?x?x?x64xf32>, %l: tensor<?x?x?xbf16>) -> tensor<?x?x?x64xf32> {
  // expected-error @+1 {{pair #0 must be out [B, H, N, Dv] and lse [B, H, N] f32}}
  %m, %lse = attn.merge %o, %l : (tensor<?x?x?x64xf32>, tensor<?x?x?xbf16>) -> (tensor<?x?x?x64xf32>, tensor<?x?x?xf32>)
  return %m : tensor<?x?x?x64xf32>
}

// -----

func.func @part_out_of_range(%q: tensor<?x?x?x64xf32>) -> tensor<?x?x?x64xf32> {
  // expected-error @+1 {{#attn.key_part<p, P> needs 0 <= p < P <= 1024, got <2, 2>}}
  %o = attn.attention %q, %q, %q mask(#attn.key_part<2, 2>)
       : (tensor<?x?x?x64xf32>, tensor<?x?x?x64xf32>, tensor<?x?x?x64xf32>) -> tensor<?x?x?x64xf32>
  return %o : tensor<?x?x?x64xf32>
}

// -----

// CHECK-LABEL: func.func @linear
// CHECK: attn.linear %{{.*}}, %{{.*}}, %{{.*}} decay(%{{.*}}) gate(%{{.*}}) feature_map(elu1) normalize scale(1.250000e-01) : (
func.func @linear(%q: tensor<?x?x?x64xf32>, %d: tensor<?xf32>, %g: tensor<?x?x?xf32>) -> tensor<?x?x?x64xf32> {
  %o = attn.linear %q, %q, %q decay(%d) gate(%g) feature_map(elu1) normalize scale(0.125)
       : (tensor<?x?x?x64xf32>, tensor<?x?x?x64xf32>, tensor<?x?x?x64xf32>, tensor<?xf32>, tensor<?x?x?xf32>) -> tensor<?x?x?x64xf32>
  return %o : tensor<?x?x?x64xf32>
}

// -----

func.func @linear_decay_rank(%q: tensor<?x?x?x64xf32>, %d: tensor<?x?xf32>) -> tensor<?x?x?x64xf32> {
  // expected-error @+1 {{decay 'tensor<?x?xf32>' must be [H], one per head}}
  %o = attn.linear %q, %q, %q decay(%d)
       : (tensor<?x?x?x64xf32>, tensor<?x?x?x64xf32>, tensor<?x?x?x64xf32>, tensor<?x?xf32>) -> tensor<?x?x?x64xf32>
  return %o : tensor<?x?x?x64xf32>
}

// -----

func.func @linear_heads(%q: tensor<1x4x8x64xf32>, %k: tensor<1x2x8x64xf32>) -> tensor<1x4x8x64xf32> {
  // expected-error @+1 {{must share B, H and N (and q, k D)}}
  %o = attn.linear %q, %k, %k : (tensor<1x4x8x64xf32>, tensor<1x2x8x64xf32>, tensor<1x2x8x64xf32>) -> tensor<1x4x8x64xf32>
  return %o : tensor<1x4x8x64xf32>
}

// -----

func.func @linear_gate_shape(%q: tensor<1x4x8x64xf32>, %g: tensor<1x4x9xf32>) -> tensor<1x4x8x64xf32> {
  // expected-error @+1 {{gate 'tensor<1x4x9xf32>' must be [B, H, N]}}
  %o = attn.linear %q, %q, %q gate(%g) : (tensor<1x4x8x64xf32>, tensor<1x4x8x64xf32>, tensor<1x4x8x64xf32>, tensor<1x4x9xf32>) -> tensor<1x4x8x64xf32>
  return %o : tensor<1x4x8x64xf32>
}

// -----

// CHECK-LABEL: func.func @gated_delta_state
// CHECK: attn.linear %{{.*}}, %{{.*}}, %{{.*}} log_gate(%{{.*}}) delta(%{{.*}}) state(%{{.*}}) l2norm scale(1.250000e-01) : (
// CHECK-SAME: -> (tensor<?x?x?x64xf32>, tensor<?x?x64x64xf32>)
func.func @gated_delta_state(%q: tensor<?x?x?x64xf32>, %g: tensor<?x?x?xf32>,
                             %s0: tensor<?x?x64x64xf32>)
    -> (tensor<?x?x?x64xf32>, tensor<?x?x64x64xf32>) {
  %o, %s = attn.linear %q, %q, %q log_gate(%g) delta(%g) state(%s0) l2norm scale(0.125)
       : (tensor<?x?x?x64xf32>, tensor<?x?x?x64xf32>, tensor<?x?x?x64xf32>,
          tensor<?x?x?xf32>, tensor<?x?x?xf32>, tensor<?x?x64x64xf32>)
       -> (tensor<?x?x?x64xf32>, tensor<?x?x64x64xf32>)
  return %o, %s : tensor<?x?x?x64xf32>, tensor<?x?x64x64xf32>
}

// -----

func.func @linear_state_shape(%q: tensor<1x4x8x64xf32>, %s0: tensor<1x4x64x32xf32>) -> tensor<1x4x8x64xf32> {
  // expected-error @+1 {{state 'tensor<1x4x64x32xf32>' must be [B, H, D, Dv] f32}}
  %o = attn.linear %q, %q, %q state(%s0) : (tensor<1x4x8x64xf32>, tensor<1x4x8x64xf32>, tensor<1x4x8x64xf32>, tensor<1x4x64x32xf32>) -> tensor<1x4x8x64xf32>
  return %o : tensor<1x4x8x64xf32>
}

// -----

func.func @linear_state_normalize(%q: tensor<1x4x8x64xf32>) -> (tensor<1x4x8x64xf32>, tensor<1x4x64x64xf32>) {
  // expected-error @+1 {{with normalize the second result is the lse [B, H, N] f32, got 'tensor<1x4x64x64xf32>'}}
  %o, %s = attn.linear %q, %q, %q feature_map(elu1) normalize : (tensor<1x4x8x64xf32>, tensor<1x4x8x64xf32>, tensor<1x4x8x64xf32>) -> (tensor<1x4x8x64xf32>, tensor<1x4x64x64xf32>)
  return %o, %s : tensor<1x4x8x64xf32>, tensor<1x4x64x64xf32>
}

// -----

func.func @linear_beta_shape(%q: tensor<1x4x8x64xf32>, %b: tensor<1x4xf32>) -> tensor<1x4x8x64xf32> {
  // expected-error @+1 {{delta beta 'tensor<1x4xf32>' must be [B, H, N]}}
  %o = attn.linear %q, %q, %q delta(%b) : (tensor<1x4x8x64xf32>, tensor<1x4x8x64xf32>, tensor<1x4x8x64xf32>, tensor<1x4xf32>) -> tensor<1x4x8x64xf32>
  return %o : tensor<1x4x8x64xf32>
}

// -----

// CHECK-LABEL: func.func @gla
// CHECK: attn.linear %{{.*}}, %{{.*}}, %{{.*}} log_gate(%{{.*}}) scale(1.250000e-01) : ({{.*}}, tensor<?x?x?x64xf32>) -> tensor<?x?x?x64xf32>
func.func @gla(%q: tensor<?x?x?x64xf32>, %g: tensor<?x?x?x64xf32>) -> tensor<?x?x?x64xf32> {
  %o = attn.linear %q, %q, %q log_gate(%g) scale(0.125)
       : (tensor<?x?x?x64xf32>, tensor<?x?x?x64xf32>, tensor<?x?x?x64xf32>,
          tensor<?x?x?x64xf32>) -> tensor<?x?x?x64xf32>
  return %o : tensor<?x?x?x64xf32>
}

// -----

func.func @gla_shape(%q: tensor<1x4x8x64xf32>, %g: tensor<1x4x8x32xf32>) -> tensor<1x4x8x64xf32> {
  // expected-error @+1 {{log_gate 'tensor<1x4x8x32xf32>' must be [B, H, N] or [B, H, N, D]}}
  %o = attn.linear %q, %q, %q log_gate(%g) : (tensor<1x4x8x64xf32>, tensor<1x4x8x64xf32>, tensor<1x4x8x64xf32>, tensor<1x4x8x32xf32>) -> tensor<1x4x8x64xf32>
  return %o : tensor<1x4x8x64xf32>
}

// -----

func.func @gla_delta(%q: tensor<1x4x8x64xf32>, %g: tensor<1x4x8x64xf32>, %b: tensor<1x4x8xf32>) -> tensor<1x4x8x64xf32> {
  // expected-error @+1 {{the delta rule (delta) takes per-token gates, not per-feature log_gate [B, H, N, D]}}
  %o = attn.linear %q, %q, %q log_gate(%g) delta(%b) : (tensor<1x4x8x64xf32>, tensor<1x4x8x64xf32>, tensor<1x4x8x64xf32>, tensor<1x4x8x64xf32>, tensor<1x4x8xf32>) -> tensor<1x4x8x64xf32>
  return %o : tensor<1x4x8x64xf32>
}

// -----

// Unnormalised terms join a merge (NTK-Attention's prefix).
// CHECK-LABEL: func.func @merge_terms
// CHECK: attn.merge %{{.*}}, %{{.*}} unnormalized(%{{.*}}, %{{.*}})
func.func @merge_terms(%o: tensor<?x?x?x64xf32>, %l: tensor<?x?x?xf32>,
                       %n: tensor<?x?x?x64xf32>, %d: tensor<?x?x?x1xf32>)
    -> tensor<?x?x?x64xf32> {
  %out, %lse = attn.merge %o, %l unnormalized(%n, %d)
      : (tensor<?x?x?x64xf32>, tensor<?x?x?xf32>, tensor<?x?x?x64xf32>,
         tensor<?x?x?x1xf32>) -> (tensor<?x?x?x64xf32>, tensor<?x?x?xf32>)
  return %out : tensor<?x?x?x64xf32>
}

// -----

func.func @merge_term_shape(%o: tensor<1x2x8x64xf32>, %l: tensor<1x2x8xf32>,
                            %n: tensor<1x2x8x64xf32>, %d: tensor<1x2x8x2xf32>)
    -> tensor<1x2x8x64xf32> {
  // expected-error @+1 {{unnormalized term #0 ('tensor<1x2x8x64xf32>', 'tensor<1x2x8x2xf32>') must be num [B, H, N, Dv] and den [B, H, N] or [B, H, N, 1] of the result 'tensor<1x2x8x64xf32>'}}
  %out, %lse = attn.merge %o, %l unnormalized(%n, %d)
      : (tensor<1x2x8x64xf32>, tensor<1x2x8xf32>, tensor<1x2x8x64xf32>,
         tensor<1x2x8x2xf32>) -> (tensor<1x2x8x64xf32>, tensor<1x2x8xf32>)
  return %out : tensor<1x2x8x64xf32>
}

// -----

// With normalize the second result is the branch's lse.
// CHECK-LABEL: func.func @linear_lse
// CHECK: attn.linear %{{.*}} normalize : {{.*}} -> (tensor<?x?x?x64xf32>, tensor<?x?x?xf32>)
func.func @linear_lse(%q: tensor<?x?x?x64xf32>) -> tensor<?x?x?xf32> {
  %o, %l = attn.linear %q, %q, %q feature_map(elu1) normalize
      : (tensor<?x?x?x64xf32>, tensor<?x?x?x64xf32>, tensor<?x?x?x64xf32>)
      -> (tensor<?x?x?x64xf32>, tensor<?x?x?xf32>)
  return %l : tensor<?x?x?xf32>
}

// -----

func.func @linear_lse_shape(%q: tensor<1x2x8x64xf32>) -> tensor<1x2x8x64x64xf32> {
  // expected-error @+1 {{with normalize the second result is the lse [B, H, N] f32, got 'tensor<1x2x8x64x64xf32>'}}
  %o, %l = attn.linear %q, %q, %q normalize
      : (tensor<1x2x8x64xf32>, tensor<1x2x8x64xf32>, tensor<1x2x8x64xf32>)
      -> (tensor<1x2x8x64xf32>, tensor<1x2x8x64x64xf32>)
  return %l : tensor<1x2x8x64x64xf32>
}

// -----

// Titans' momentum rule.
// CHECK-LABEL: func.func @titans
// CHECK: attn.linear %{{.*}} momentum(%{{.*}}, %{{.*}}, %{{.*}}) l2norm
func.func @titans(%q: tensor<?x?x?x64xf32>, %a: tensor<?x?x?xf32>) -> tensor<?x?x?x64xf32> {
  %o = attn.linear %q, %q, %q momentum(%a, %a, %a) l2norm
      : (tensor<?x?x?x64xf32>, tensor<?x?x?x64xf32>, tensor<?x?x?x64xf32>,
         tensor<?x?x?xf32>, tensor<?x?x?xf32>, tensor<?x?x?xf32>) -> tensor<?x?x?x64xf32>
  return %o : tensor<?x?x?x64xf32>
}

// -----

func.func @titans_with_delta(%q: tensor<?x?x?x64xf32>, %a: tensor<?x?x?xf32>) -> tensor<?x?x?x64xf32> {
  // expected-error @+1 {{momentum(alpha, theta, eta) stands alone: no decay, gate, log_gate, delta, normalize or state (its momentum U is not carried)}}
  %o = attn.linear %q, %q, %q delta(%a) momentum(%a, %a, %a)
      : (tensor<?x?x?x64xf32>, tensor<?x?x?x64xf32>, tensor<?x?x?x64xf32>,
         tensor<?x?x?xf32>, tensor<?x?x?xf32>, tensor<?x?x?xf32>, tensor<?x?x?xf32>) -> tensor<?x?x?x64xf32>
  return %o : tensor<?x?x?x64xf32>
}

// -----

// wy(C): the delta rule's W [B, H, N, D] and U [B, H, N, Dv] per chunk.
// CHECK-LABEL: func.func @wy
// CHECK: attn.linear {{.*}} delta(%{{.*}}) l2norm wy(64)
func.func @wy(%q: tensor<?x?x?x64xbf16>, %v: tensor<?x?x?x32xbf16>, %b: tensor<?x?x?xf32>)
    -> (tensor<?x?x?x32xbf16>, tensor<?x?x?x64xbf16>, tensor<?x?x?x32xbf16>) {
  %o, %w, %u = attn.linear %q, %q, %v delta(%b) l2norm wy(64)
      : (tensor<?x?x?x64xbf16>, tensor<?x?x?x64xbf16>, tensor<?x?x?x32xbf16>, tensor<?x?x?xf32>)
        -> (tensor<?x?x?x32xbf16>, tensor<?x?x?x64xbf16>, tensor<?x?x?x32xbf16>)
  return %o, %w, %u : tensor<?x?x?x32xbf16>, tensor<?x?x?x64xbf16>, tensor<?x?x?x32xbf16>
}

// -----

func.func @wy_without_delta(%q: tensor<?x?x?x64xbf16>) {
  // expected-error @+1 {{wy(C) is the delta rule's WY form: it needs delta(%beta), without momentum or normalize}}
  %o, %w, %u = attn.linear %q, %q, %q wy(64)
      : (tensor<?x?x?x64xbf16>, tensor<?x?x?x64xbf16>, tensor<?x?x?x64xbf16>)
        -> (tensor<?x?x?x64xbf16>, tensor<?x?x?x64xbf16>, tensor<?x?x?x64xbf16>)
  return
}

// -----

func.func @wy_one_result(%q: tensor<?x?x?x64xbf16>, %b: tensor<?x?x?xf32>) {
  // expected-error @+1 {{returns out, optionally the final state (or the lse with normalize), then wy's W and U; got 2 results}}
  %o, %w = attn.linear %q, %q, %q delta(%b) wy(64)
      : (tensor<?x?x?x64xbf16>, tensor<?x?x?x64xbf16>, tensor<?x?x?x64xbf16>, tensor<?x?x?xf32>)
        -> (tensor<?x?x?x64xbf16>, tensor<?x?x?x64xbf16>)
  return
}

// -----

func.func @wy_wrong_type(%q: tensor<?x?x?x64xbf16>, %b: tensor<?x?x?xf32>) {
  // expected-error @+1 {{wy's results are W [B, H, N, D] of k's type and U [B, H, N, Dv] of v's, got 'tensor<?x?x?x64xf32>' and 'tensor<?x?x?x64xbf16>'}}
  %o, %w, %u = attn.linear %q, %q, %q delta(%b) wy(64)
      : (tensor<?x?x?x64xbf16>, tensor<?x?x?x64xbf16>, tensor<?x?x?x64xbf16>, tensor<?x?x?xf32>)
        -> (tensor<?x?x?x64xbf16>, tensor<?x?x?x64xf32>, tensor<?x?x?x64xbf16>)
  return
}

// -----

func.func @state_not_f32(%q: tensor<?x?x?x64xbf16>, %s: tensor<?x?x64x64xbf16>) {
  // expected-error @+1 {{the second result must be f32, got 'tensor<?x?x64x64xbf16>'}}
  %o, %s1 = attn.linear %q, %q, %q
      : (tensor<?x?x?x64xbf16>, tensor<?x?x?x64xbf16>, tensor<?x?x?x64xbf16>)
        -> (tensor<?x?x?x64xbf16>, tensor<?x?x64x64xbf16>)
  return
}

// -----

// split(C): the chunk states [B, H, ceil(N / C), D, Dv] of q's type, and
// with wy the corrected values [B, H, N, Dv] of v's.
// CHECK-LABEL: func.func @split
// CHECK: attn.linear {{.*}} delta(%{{.*}}) l2norm wy(64) split(64)
func.func @split(%q: tensor<?x?x?x64xbf16>, %v: tensor<?x?x?x32xbf16>, %b: tensor<?x?x?xf32>)
    -> (tensor<?x?x?x32xbf16>, tensor<?x?x?x64x32xbf16>, tensor<?x?x?x32xbf16>) {
  %o, %w, %u, %h, %vc = attn.linear %q, %q, %v delta(%b) l2norm wy(64) split(64)
      : (tensor<?x?x?x64xbf16>, tensor<?x?x?x64xbf16>, tensor<?x?x?x32xbf16>, tensor<?x?x?xf32>)
        -> (tensor<?x?x?x32xbf16>, tensor<?x?x?x64xbf16>, tensor<?x?x?x32xbf16>,
            tensor<?x?x?x64x32xbf16>, tensor<?x?x?x32xbf16>)
  return %o, %h, %vc : tensor<?x?x?x32xbf16>, tensor<?x?x?x64x32xbf16>, tensor<?x?x?x32xbf16>
}

// -----

// split(C) with normalize: the normaliser z at each chunk's start
// [B, H, ceil(N / C), D] f32 follows the chunk states.
// CHECK-LABEL: func.func @split_normalized
// CHECK: attn.linear {{.*}} feature_map(elu1) normalize split(64)
func.func @split_normalized(%q: tensor<?x?x?x64xbf16>, %v: tensor<?x?x?x32xbf16>)
    -> (tensor<?x?x?x32xbf16>, tensor<?x?x?xf32>, tensor<?x?x?x64xf32>) {
  %o, %lse, %h, %z = attn.linear %q, %q, %v feature_map(elu1) normalize split(64)
      : (tensor<?x?x?x64xbf16>, tensor<?x?x?x64xbf16>, tensor<?x?x?x32xbf16>)
        -> (tensor<?x?x?x32xbf16>, tensor<?x?x?xf32>, tensor<?x?x?x64x32xbf16>,
            tensor<?x?x?x64xf32>)
  return %o, %lse, %z : tensor<?x?x?x32xbf16>, tensor<?x?x?xf32>, tensor<?x?x?x64xf32>
}

// -----

func.func @split_normalizers_wrong(%q: tensor<?x?x?x64xbf16>) {
  // expected-error @+1 {{split's normalisers are [B, H, ceil(N / C), D] f32, got 'tensor<?x?x?x64xbf16>'}}
  %o, %h, %z = attn.linear %q, %q, %q normalize split(64)
      : (tensor<?x?x?x64xbf16>, tensor<?x?x?x64xbf16>, tensor<?x?x?x64xbf16>)
        -> (tensor<?x?x?x64xbf16>, tensor<?x?x?x64x64xbf16>, tensor<?x?x?x64xbf16>)
  return
}

// -----

func.func @split_delta_without_wy(%q: tensor<?x?x?x64xbf16>, %b: tensor<?x?x?xf32>) {
  // expected-error @+1 {{split(C) takes decays and gates, normalize, or the delta rule in its WY form; not momentum}}
  %o, %h = attn.linear %q, %q, %q delta(%b) split(64)
      : (tensor<?x?x?x64xbf16>, tensor<?x?x?x64xbf16>, tensor<?x?x?x64xbf16>, tensor<?x?x?xf32>)
        -> (tensor<?x?x?x64xbf16>, tensor<?x?x?x64x64xbf16>)
  return
}

// -----

func.func @split_wrong_chunks(%q: tensor<1x2x130x64xbf16>) {
  // expected-error @+1 {{split's chunk states are [B, H, ceil(N / C), D, Dv] of q's type, got 'tensor<1x2x2x64x64xbf16>'}}
  %o, %h = attn.linear %q, %q, %q split(64)
      : (tensor<1x2x130x64xbf16>, tensor<1x2x130x64xbf16>, tensor<1x2x130x64xbf16>)
        -> (tensor<1x2x130x64xbf16>, tensor<1x2x2x64x64xbf16>)
  return
}

// -----

func.func @split_chunk_mismatch(%q: tensor<?x?x?x64xbf16>, %b: tensor<?x?x?xf32>) {
  // expected-error @+1 {{split(32) and wy(64) must share the chunk}}
  %o, %w, %u, %h, %vc = attn.linear %q, %q, %q delta(%b) wy(64) split(32)
      : (tensor<?x?x?x64xbf16>, tensor<?x?x?x64xbf16>, tensor<?x?x?x64xbf16>, tensor<?x?x?xf32>)
        -> (tensor<?x?x?x64xbf16>, tensor<?x?x?x64xbf16>, tensor<?x?x?x64xbf16>,
            tensor<?x?x?x64x64xbf16>, tensor<?x?x?x64xbf16>)
  return
}
