// Rule regions on the warp-per-row kernel (a per-query-token block list,
// block_size(1, 8)): per listed key, the score rule on the natural logit
// (its tanh in the fast hardware form) and the mask rule with the mask
// attribute, before the online-softmax update.
// RUN: attn-opt %s --attn-to-nvgpu | FileCheck %s

// CHECK-LABEL: gpu.module @attn_kernels
// CHECK: gpu.func @row_rules__s0(
// CHECK-SAME: attn.grid_lanes = 32 : i64
// CHECK: scf.for
// CHECK: arith.remui
// CHECK: scf.if
// CHECK: gpu.shuffle xor
// CHECK: tanh.approx.f32
// CHECK: math.exp
func.func @row_rules(%q: tensor<?x?x?x64xbf16>, %k: tensor<?x?x?x64xbf16>,
                     %v: tensor<?x?x?x64xbf16>, %idx: tensor<?x?x?x?xi32>,
                     %cnt: tensor<?x?x?xi32>) -> tensor<?x?x?x64xbf16> {
  %o = attn.attention %q, %k, %v blocks(%idx, %cnt) block_size(1, 8)
       mask(#attn.causal) mask_rule {
  ^bb0(%b: index, %h: index, %i: index, %j: index):
    %c3 = arith.constant 3 : index
    %c0 = arith.constant 0 : index
    %jm = arith.remui %j, %c3 : index
    %keep = arith.cmpi ne, %jm, %c0 : index
    attn.yield %keep : i1
  } score_rule {
  ^bb0(%s: f32, %b: index, %h: index, %i: index, %j: index):
    %c = arith.constant 5.0 : f32
    %x = arith.divf %s, %c : f32
    %y = math.tanh %x : f32
    %z = arith.mulf %y, %c : f32
    attn.yield %z : f32
  } : (tensor<?x?x?x64xbf16>, tensor<?x?x?x64xbf16>, tensor<?x?x?x64xbf16>,
       tensor<?x?x?x?xi32>, tensor<?x?x?xi32>) -> tensor<?x?x?x64xbf16>
  return %o : tensor<?x?x?x64xbf16>
}
