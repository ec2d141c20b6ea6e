// Landmark retrieval on the GPU: attn-landmark-split gives an
// attn.landmark with topk that the tile kernels take (blocks of 64,
// f16/bf16) its by-blocks scratch (picks and ranks [B, H, N, 2K] i32,
// logits and the local log2 Z [B, H, N, K + 1] f32, units
// [B, H, N, K, Dv], the per-block table [B, H, ceil(N / 64), 32] i32 (a 128-byte row per block), which persists between calls, the
// grouped entries and their blocks [B, H, N, 2K] i32; 2 (K + 1) with
// one-block-groups, each block's run padded to whole groups of 64), unreturned, so workspace; attn-to-nvgpu
// then emits the five kernels of the step. Without topk, in f32 or with
// another block size the op stays as it is (the fused or the row kernel).
// RUN: attn-opt %s --pass-pipeline='builtin.module(func.func(attn-landmark-split))' | FileCheck %s --check-prefix=SPLIT
// RUN: attn-opt %s --pass-pipeline='builtin.module(func.func(attn-landmark-split),attn-to-nvgpu)' | FileCheck %s --check-prefixes=CHECK,LOOP
// RUN: attn-opt %s --pass-pipeline='builtin.module(func.func(attn-landmark-split{one-block-groups=1}),attn-to-nvgpu)' | FileCheck %s --check-prefixes=CHECK,ONE
// RUN: attn-opt %s --pass-pipeline='builtin.module(func.func(attn-landmark-split{one-block-groups=1}))' | FileCheck %s --check-prefix=SPLIT1
// The by-blocks form is the CUDA kernels': the CPU lowering refuses it.
// RUN: attn-opt %s --pass-pipeline='builtin.module(func.func(attn-landmark-split))' | not attn-opt -attn-lower-route 2>&1 | FileCheck %s --check-prefix=CPU

// SPLIT-LABEL: func.func @top4
// SPLIT: %out, %lse, %scratch:5 = attn.landmark %arg0, %arg1, %arg2, %arg3 block(64) topk(4)
// SPLIT-SAME: -> (tensor<?x?x?x64xbf16>, tensor<?x?x?xf32>, tensor<?x?x?x8xi32>, tensor<?x?x?x5xf32>, tensor<?x?x?x4x64xbf16>, tensor<?x?x?x32xi32>, tensor<?x?x?x8xi32>)
// SPLIT-LABEL: func.func @static
// SPLIT: tensor<1x2x100x4xi32>, tensor<1x2x100x3xf32>, tensor<1x2x100x2x32xf16>, tensor<1x2x2x32xi32>, tensor<1x2x100x4xi32>
// SPLIT1-LABEL: func.func @top4
// SPLIT1: tensor<?x?x?x32xi32>, tensor<?x?x?x10xi32>)
// SPLIT1-LABEL: func.func @static
// SPLIT1: tensor<1x2x2x32xi32>, tensor<1x2x100x6xi32>
// SPLIT-LABEL: func.func @all
// SPLIT-NOT: scratch
// SPLIT-LABEL: func.func @f32
// SPLIT-NOT: scratch

// CHECK-LABEL: gpu.module @attn_kernels
// CHECK-NOT: gpu.func @top4__s0_c0(
// CHECK: gpu.func @top4__s0_c1(
// CHECK-SAME: attn.grid_tile = array<i64: 64, 64>
// CHECK: gpu.func @top4__s0_c2(
// CHECK: gpu.func @top4__s0_c3(
// CHECK: gpu.func @top4__s0_c4(
// CHECK-SAME: attn.grid_tile = array<i64: 64, 2>
// A group of 64 entries visits its blocks in a loop; with one-block groups
// it holds one block and has no loop.
// LOOP: scf.while
// ONE-NOT: scf.while
// CHECK: gpu.func @top4__s0(
// CHECK-SAME: attn.step_args = ["i0", "i1", "i2", "i3", "o0", "o1", "w0", "w1", "w2", "w3", "w4"]
// CHECK: gpu.func @all__s0(
// CHECK-NOT: gpu.func @all__s0_c

// CPU: error: the by-blocks form (attn-landmark-split) is the CUDA kernels'

func.func @top4(%q: tensor<?x?x?x64xbf16>, %k: tensor<?x?x?x64xbf16>,
                %v: tensor<?x?x?x64xbf16>, %lk: tensor<?x?x?x64xbf16>)
    -> (tensor<?x?x?x64xbf16>, tensor<?x?x?xf32>) {
  %o, %lse = attn.landmark %q, %k, %v, %lk block(64) topk(4)
      : (tensor<?x?x?x64xbf16>, tensor<?x?x?x64xbf16>, tensor<?x?x?x64xbf16>,
         tensor<?x?x?x64xbf16>) -> (tensor<?x?x?x64xbf16>, tensor<?x?x?xf32>)
  return %o, %lse : tensor<?x?x?x64xbf16>, tensor<?x?x?xf32>
}

func.func @static(%q: tensor<1x2x100x32xf16>, %lk: tensor<1x2x2x32xf16>)
    -> (tensor<1x2x100x32xf16>, tensor<1x2x100xf32>) {
  %o, %lse = attn.landmark %q, %q, %q, %lk block(64) topk(2)
      : (tensor<1x2x100x32xf16>, tensor<1x2x100x32xf16>, tensor<1x2x100x32xf16>,
         tensor<1x2x2x32xf16>) -> (tensor<1x2x100x32xf16>, tensor<1x2x100xf32>)
  return %o, %lse : tensor<1x2x100x32xf16>, tensor<1x2x100xf32>
}

func.func @all(%q: tensor<?x?x?x64xbf16>, %lk: tensor<?x?x?x64xbf16>)
    -> (tensor<?x?x?x64xbf16>, tensor<?x?x?xf32>) {
  %o, %lse = attn.landmark %q, %q, %q, %lk block(64)
      : (tensor<?x?x?x64xbf16>, tensor<?x?x?x64xbf16>, tensor<?x?x?x64xbf16>,
         tensor<?x?x?x64xbf16>) -> (tensor<?x?x?x64xbf16>, tensor<?x?x?xf32>)
  return %o, %lse : tensor<?x?x?x64xbf16>, tensor<?x?x?xf32>
}

func.func @f32(%q: tensor<?x?x?x64xf32>, %lk: tensor<?x?x?x64xf32>)
    -> (tensor<?x?x?x64xf32>, tensor<?x?x?xf32>) {
  %o, %lse = attn.landmark %q, %q, %q, %lk block(64) topk(4)
      : (tensor<?x?x?x64xf32>, tensor<?x?x?x64xf32>, tensor<?x?x?x64xf32>,
         tensor<?x?x?x64xf32>) -> (tensor<?x?x?x64xf32>, tensor<?x?x?xf32>)
  return %o, %lse : tensor<?x?x?x64xf32>, tensor<?x?x?xf32>
}
