// A mask_rule on the GPU: attn-rule-block-maps puts attn.rule_blocks in
// front of the attention, attn-to-nvgpu makes it a step of its own (a warp
// per map row, attn.grid_arg = its counts, a lane per key block: the
// region on intervals, a ballot, the kept ids stored in order), and the
// attention kernel reads the map from the workspace (w0, w1) as a marked
// list: an entry below zero is a full block (~id) that runs without the
// element rule.
// RUN: attn-opt %s --pass-pipeline='builtin.module(func.func(attn-rule-block-maps),attn-to-nvgpu)' | FileCheck %s

// Reuse: before the map, a thread per element of each rule operand
// compares it with its snapshot (w4, w5: persistent buffers), copies it
// when it differs and raises the change counter (w3); a map row whose
// stamp (w2) is the counter + 1 is current and left alone.
// CHECK-LABEL: gpu.module @attn_kernels
// CHECK: gpu.func @document_region__s0_c0(
// CHECK-SAME: attn.grid_arg = 0 : i64, attn.grid_dims = 2 : i64, attn.grid_lanes = 1 : i64, attn.step_args = ["i3", "w4", "w3"]
// CHECK: arith.cmpi ne
// CHECK: scf.if
// CHECK: memref.store
// CHECK: arith.addi
// CHECK: gpu.func @document_region__s0_c1(
// CHECK-SAME: attn.step_args = ["i4", "w5", "w3"]
// CHECK: gpu.func @document_region__s0(
// CHECK-SAME: attn.grid_arg = 5 : i64, attn.grid_dims = 3 : i64, attn.grid_lanes = 32 : i64, attn.step = 0 : i64, attn.step_args = ["i0", "i1", "i3", "i4", "w0", "w1", "w2", "w3", "w4", "w5"]
// CHECK: arith.cmpi ne
// CHECK: scf.if
// CHECK: scf.for
// CHECK: scf.if
// CHECK: scf.for
// CHECK: memref.load
// CHECK: arith.minsi
// CHECK: nvvm.vote.sync ballot
// CHECK: llvm.intr.ctpop
// CHECK: memref.store
// CHECK: gpu.func @document_region__s1(
// CHECK-SAME: attn.step_args = ["i0", "i1", "i2", "w0", "w1", "i3", "i4", "o0"]
// CHECK: arith.cmpi slt
// CHECK: gpu.return
func.func @document_region(%q: tensor<?x?x?x128xbf16>, %k: tensor<?x?x?x128xbf16>,
                           %v: tensor<?x?x?x128xbf16>, %q_doc: tensor<?x?xi32>,
                           %k_doc: tensor<?x?xi32>) -> tensor<?x?x?x128xbf16> {
  %o = attn.attention %q, %k, %v rules(%q_doc, %k_doc) mask(#attn.causal)
       mask_rule {
  ^bb0(%b: index, %h: index, %i: index, %j: index,
       %qd: tensor<?x?xi32>, %kd: tensor<?x?xi32>):
    %a = tensor.extract %qd[%b, %i] : tensor<?x?xi32>
    %c = tensor.extract %kd[%b, %j] : tensor<?x?xi32>
    %same = arith.cmpi eq, %a, %c : i32
    attn.yield %same : i1
  } : (tensor<?x?x?x128xbf16>, tensor<?x?x?x128xbf16>, tensor<?x?x?x128xbf16>,
       tensor<?x?xi32>, tensor<?x?xi32>) -> tensor<?x?x?x128xbf16>
  return %o : tensor<?x?x?x128xbf16>
}
