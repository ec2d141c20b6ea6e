// Chunked linear attention on the GPU: attn-linear-split gives the chunk
// kernel its two-pass form (split(64): the state at each chunk's start
// [B, H, ceil(N / 64), D, Dv], and with wy the corrected values, unreturned,
// so workspace), and attn-to-nvgpu emits beside the fused kernels a state
// pass (no queries; writes them) and an output pass (a block per 64-token x
// 64-column tile of the output, launched after the state pass).
// RUN: attn-opt %s --pass-pipeline='builtin.module(func.func(attn-linear-wy,attn-linear-split))' | FileCheck %s --check-prefix=SPLIT
// RUN: attn-opt %s --pass-pipeline='builtin.module(func.func(attn-linear-wy,attn-linear-split),attn-to-nvgpu)' | FileCheck %s
// RUN: attn-opt %s --pass-pipeline='builtin.module(func.func(attn-linear-split{linear-columns=64}))' | FileCheck %s --check-prefix=NOSPLIT
// RUN: attn-opt %s --pass-pipeline='builtin.module(func.func(attn-linear-split{linear-chunk=0}))' | FileCheck %s --check-prefix=NOSPLIT
// split-only (the pipeline's linear-split=2): the two passes alone.
// RUN: attn-opt %s --pass-pipeline='builtin.module(func.func(attn-linear-split{split-only=1}),attn-to-nvgpu)' | FileCheck %s --check-prefix=ONLY

// SPLIT-LABEL: func.func @gdr
// SPLIT: %out, %extras:5 = attn.linear %arg0, %arg1, %arg2 log_gate(%arg3) delta(%arg4) state(%arg5) l2norm scale(1.250000e-01) wy(64) split(64)
// SPLIT-SAME: -> (tensor<?x?x?x64xbf16>, tensor<?x?x64x64xf32>, tensor<?x?x?x64xbf16>, tensor<?x?x?x64xbf16>, tensor<?x?x?x64x64xbf16>, tensor<?x?x?x64xbf16>)
// SPLIT-LABEL: func.func @plain
// SPLIT: attn.linear %arg0, %arg1, %arg2 decay(%arg3) split(64)
// SPLIT-SAME: -> (tensor<?x?x?x32xf16>, tensor<2x4x3x64x32xf16>)
// SPLIT-LABEL: func.func @f32
// SPLIT-NOT: split(
// NOSPLIT-LABEL: func.func @gdr
// NOSPLIT-NOT: split(

// CHECK-LABEL: gpu.module @attn_kernels
// CHECK: gpu.func @gdr__s0_wy(
// CHECK: gpu.func @gdr__s0(
// CHECK-SAME: attn.sm_blocks = array<i64: 2, 0, 1>
// CHECK: gpu.func @gdr__s0_c32(
// CHECK-SAME: attn.sm_blocks = array<i64: 1, 4>
// The state pass: K, V (U) and W per chunk, then U - W S, the chunk's
// starting state and corrected values out (16-byte stores), the update.
// CHECK: gpu.func @gdr__s0_sp(
// CHECK-SAME: attn.sm_blocks = array<i64: 0, 2, 2>
// CHECK-SAME: attn.step_args = ["i0", "i1", "i2", "i3", "i4", "i5", "o0", "o1", "w0", "w1", "w2", "w3"]
// CHECK: nvgpu.device_async_copy
// CHECK: nvvm.mma.sync
// CHECK: vector.store {{.*}} {alignment = 16 : i64} : memref<?x?x?x64x64xbf16>, vector<8xbf16>
// CHECK: vector.store {{.*}} {alignment = 16 : i64} : memref<?x?x?x64xbf16>, vector<8xbf16>
// CHECK: nvvm.mma.sync
// CHECK: gpu.func @gdr__s0_op(
// CHECK-SAME: attn.after_previous
// CHECK-SAME: attn.grid_arg = 6 : i64, attn.grid_dims = 4 : i64, attn.grid_lanes = 128 : i64, attn.grid_tile = array<i64: 64, 64>
// CHECK: nvgpu.device_async_copy
// CHECK: memref<?x?x?x64x64xbf16>
// CHECK: nvvm.mma.sync
// CHECK: vector.store {{.*}} {alignment = 4 : i64} : memref<?x?x?x64xbf16>, vector<2xbf16>
// CHECK: gpu.func @plain__s0(
// CHECK-SAME: attn.sm_blocks = array<i64: 1, 0, 2>
// CHECK: gpu.func @plain__s0_sp(
// CHECK-SAME: attn.sm_blocks = array<i64: 0, 1, 2>
// CHECK: gpu.func @plain__s0_op(
// CHECK-SAME: attn.grid_tile = array<i64: 64, 32>

// The state pass without wy keeps S in registers: the chunk's state is
// staged in shared memory and leaves by 16-byte stores one chunk later.
// ONLY-LABEL: gpu.module @attn_kernels
// ONLY-NOT: gpu.func @plain__s0_c32
// ONLY: gpu.func @plain__s0(
// ONLY-NOT: attn.sm_blocks
// ONLY-SAME: attn.step_args
// ONLY: nvgpu.device_async_copy {{.*}} {bypassL1}
// ONLY: nvvm.mma.sync
// ONLY: vector.store {{.*}} {alignment = 16 : i64} : memref<2x4x3x64x32xf16>, vector<8xf16>
// ONLY: gpu.func @plain__s0_op(
// ONLY-SAME: attn.after_previous
// ONLY-NOT: gpu.func @plain

func.func @gdr(%q: tensor<?x?x?x64xbf16>, %k: tensor<?x?x?x64xbf16>, %v: tensor<?x?x?x64xbf16>,
               %g: tensor<?x?x?xf32>, %beta: tensor<?x?x?xf32>, %s0: tensor<?x?x64x64xf32>)
    -> (tensor<?x?x?x64xbf16>, tensor<?x?x64x64xf32>) {
  %o, %s = attn.linear %q, %k, %v log_gate(%g) delta(%beta) state(%s0) l2norm scale(0.125)
      : (tensor<?x?x?x64xbf16>, tensor<?x?x?x64xbf16>, tensor<?x?x?x64xbf16>, tensor<?x?x?xf32>,
         tensor<?x?x?xf32>, tensor<?x?x64x64xf32>) -> (tensor<?x?x?x64xbf16>, tensor<?x?x64x64xf32>)
  return %o, %s : tensor<?x?x?x64xbf16>, tensor<?x?x64x64xf32>
}

// Static N = 130: three chunks.
func.func @plain(%q: tensor<2x4x130x64xf16>, %k: tensor<2x4x130x64xf16>, %v: tensor<2x4x130x32xf16>,
                 %d: tensor<4xf32>) -> tensor<?x?x?x32xf16> {
  %o = attn.linear %q, %k, %v decay(%d)
      : (tensor<2x4x130x64xf16>, tensor<2x4x130x64xf16>, tensor<2x4x130x32xf16>, tensor<4xf32>)
        -> tensor<?x?x?x32xf16>
  return %o : tensor<?x?x?x32xf16>
}

// f32 inputs run the token recurrence: no split.
func.func @f32(%q: tensor<?x?x?x64xf32>) -> tensor<?x?x?x64xf32> {
  %o = attn.linear %q, %q, %q : (tensor<?x?x?x64xf32>, tensor<?x?x?x64xf32>, tensor<?x?x?x64xf32>)
      -> tensor<?x?x?x64xf32>
  return %o : tensor<?x?x?x64xf32>
}
