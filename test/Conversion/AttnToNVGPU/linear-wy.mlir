// The gated delta rule on the GPU: attn-linear-wy gives the chunked kernel
// its WY form (wy(64): W and U per chunk, unreturned, so workspace), and
// attn-to-nvgpu emits the prep kernel (a block per (b, h, chunk): A on
// tensor cores, T = (I + A)^{-1} by 16 x 16 blocks in f32, W and U as
// mma.sync products) before the sequential kernels, which read W and U.
// RUN: attn-opt %s --pass-pipeline='builtin.module(func.func(attn-linear-wy))' | FileCheck %s --check-prefix=SPLIT
// RUN: attn-opt %s --pass-pipeline='builtin.module(func.func(attn-linear-wy),attn-to-nvgpu)' | FileCheck %s
// RUN: attn-opt %s --pass-pipeline='builtin.module(func.func(attn-linear-wy{linear-chunk=0}))' | FileCheck %s --check-prefix=NOSPLIT

// SPLIT-LABEL: func.func @gdr
// SPLIT: %out, %extras:3 = attn.linear %arg0, %arg1, %arg2 log_gate(%arg3) delta(%arg4) state(%arg5) l2norm scale(1.250000e-01) wy(64)
// SPLIT-SAME: -> (tensor<?x?x?x64xbf16>, tensor<?x?x64x64xf32>, tensor<?x?x?x64xbf16>, tensor<?x?x?x64xbf16>)
// SPLIT-LABEL: func.func @plain
// SPLIT-NOT: wy(
// NOSPLIT-LABEL: func.func @gdr
// NOSPLIT-NOT: wy(

// CHECK-LABEL: gpu.module @attn_kernels
// CHECK: gpu.func @gdr__s0_wy(
// CHECK-SAME: attn.grid_arg = 8 : i64, attn.grid_dims = 4 : i64, attn.grid_lanes = 128 : i64, attn.grid_tile = array<i64: 64, 64>
// CHECK-SAME: attn.step_args = ["i0", "i1", "i2", "i3", "i4", "i5", "o0", "o1", "w0", "w1"]
// CHECK: nvgpu.device_async_copy
// CHECK: math.rsqrt
// CHECK: nvgpu.ldmatrix
// CHECK: nvvm.mma.sync
// The diagonal blocks (a 16-row chain per column), then two merges of two
// products each, a barrier after every step.
// CHECK: gpu.barrier
// CHECK: scf.if
// CHECK: math.fma
// CHECK: gpu.barrier
// CHECK-COUNT-4: math.fma
// CHECK: gpu.barrier
// CHECK: math.fma
// CHECK: gpu.barrier
// CHECK: math.fma
// CHECK: gpu.barrier
// CHECK: math.fma
// CHECK: gpu.barrier
// CHECK: nvvm.mma.sync
// CHECK: gpu.func @gdr__s0(
// CHECK-SAME: attn.sm_blocks = array<i64: 2, 0>
// CHECK-SAME: attn.step_args = ["i0", "i1", "i2", "i3", "i4", "i5", "o0", "o1", "w0", "w1"]
// CHECK: gpu.func @gdr__s0_c32(
// CHECK-SAME: attn.sm_blocks = array<i64: 0, 4>
func.func @gdr(%q: tensor<?x?x?x64xbf16>, %k: tensor<?x?x?x64xbf16>, %v: tensor<?x?x?x64xbf16>,
               %g: tensor<?x?x?xf32>, %beta: tensor<?x?x?xf32>, %s0: tensor<?x?x64x64xf32>)
    -> (tensor<?x?x?x64xbf16>, tensor<?x?x64x64xf32>) {
  %o, %s = attn.linear %q, %k, %v log_gate(%g) delta(%beta) state(%s0) l2norm scale(0.125)
      : (tensor<?x?x?x64xbf16>, tensor<?x?x?x64xbf16>, tensor<?x?x?x64xbf16>, tensor<?x?x?xf32>,
         tensor<?x?x?xf32>, tensor<?x?x64x64xf32>) -> (tensor<?x?x?x64xbf16>, tensor<?x?x64x64xf32>)
  return %o, %s : tensor<?x?x?x64xbf16>, tensor<?x?x64x64xf32>
}

// No delta rule, or f32 inputs (the token recurrence): no split.
func.func @plain(%q: tensor<?x?x?x64xbf16>, %k: tensor<?x?x?x64xbf16>, %v: tensor<?x?x?x64xbf16>,
                 %x: tensor<?x?x?x64xf32>, %beta: tensor<?x?x?xf32>)
    -> (tensor<?x?x?x64xbf16>, tensor<?x?x?x64xf32>) {
  %o = attn.linear %q, %k, %v
      : (tensor<?x?x?x64xbf16>, tensor<?x?x?x64xbf16>, tensor<?x?x?x64xbf16>) -> tensor<?x?x?x64xbf16>
  %o2 = attn.linear %x, %x, %x delta(%beta)
      : (tensor<?x?x?x64xf32>, tensor<?x?x?x64xf32>, tensor<?x?x?x64xf32>, tensor<?x?x?xf32>) -> tensor<?x?x?x64xf32>
  return %o, %o2 : tensor<?x?x?x64xbf16>, tensor<?x?x?x64xf32>
}
