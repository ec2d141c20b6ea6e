// RUN: attn-opt %s --split-input-file --attn-to-nvgpu="stages=2" | FileCheck %s
// RUN: attn-opt %s --split-input-file --attn-to-nvgpu="m-tiles=1 stages=1" | FileCheck %s --check-prefix=ONE
// RUN: attn-opt %s --split-input-file --attn-to-nvgpu="mma=wgmma" | FileCheck %s --check-prefix=HOP
// RUN: attn-opt %s --split-input-file --attn-to-nvgpu | FileCheck %s --check-prefix=LIST

// The Hopper kernel (mma=wgmma): dynamic shared memory, the tensor maps as
// three extra pointer arguments, 8 consumer warps + a producer warpgroup.
// HOP: memref.global "public" @attn_dsmem : memref<0xi8, #gpu.address_space<workgroup>> {alignment = 1024 : i64}
// HOP-LABEL: gpu.func @causal_lse(
// HOP-SAME: %{{.*}}: !llvm.ptr {llvm.align = 64 : i64}, %{{.*}}: !llvm.ptr {llvm.align = 64 : i64}, %{{.*}}: !llvm.ptr {llvm.align = 64 : i64}) kernel
// HOP-SAME: attn.block_q = 128 : i64, attn.dynamic_shared = {{[0-9]+}} : i64, attn.tensor_maps = 3 : i64, attn.threads = 384 : i64, attn.tma_rows = 128 : i64
// One thread initialises 1 + 4 x 2 mbarriers; the empty ones count 8 warps.
// HOP: nvvm.mbarrier.init
// HOP: nvvm.mbarrier.init %{{.*}}, %c8_i32
// HOP: gpu.barrier
// Producer: registers handed over, Q then per block K and V by TMA, each
// into a buffer its consumers released.
// HOP: nvvm.setmaxregister  decrease 24
// HOP: nvvm.mbarrier.arrive.expect_tx %{{.*}}, %c16384_i32
// HOP: nvvm.cp.async.bulk.tensor.shared.cluster.global
// HOP: scf.for
// HOP:   nvvm.mbarrier.try_wait.parity
// HOP:   nvvm.cp.async.bulk.tensor.shared.cluster.global
// HOP:   nvvm.mbarrier.try_wait.parity
// HOP:   nvvm.cp.async.bulk.tensor.shared.cluster.global
// Consumers: group 1 hands the first turn to group 0 (ping-pong); block 0's
// S = Q K^T by wgmma (128 keys) and softmax before the loop.
// HOP: nvvm.setmaxregister  increase 240
// HOP: nvvm.barrier.arrive id = %{{.*}} number_of_threads = %c256_i32
// HOP: scf.if
// HOP:   nvvm.barrier id = %{{.*}} number_of_threads = %c256_i32
// HOP:   nvvm.wgmma.mma_async {{.*}} <m = 64, n = 128, k = 16>, D[<f32>, <zero>], A[<bf16>, <one>, <row>], B[<bf16>, <one>, <col>]
// HOP:   nvvm.wgmma.wait.group.sync.aligned 0
// Per block t: S(t) and P(t-1) V(t-1) in flight together; the softmax of t
// runs while P V holds the tensor cores (wait_group 1, then 0).
// HOP: scf.for
// HOP:   nvvm.barrier id
// HOP:   nvvm.mbarrier.try_wait.parity
// HOP:   nvvm.wgmma.mma_async {{.*}} <m = 64, n = 128, k = 16>
// HOP:   nvvm.wgmma.commit.group.sync.aligned
// HOP:   nvvm.mbarrier.try_wait.parity
// HOP:   llvm.inline_asm has_side_effects "{{.*}}wgmma.mma_async.sync.aligned.m64n64k16.f32.bf16.bf16
// HOP:   nvvm.wgmma.commit.group.sync.aligned
// HOP:   nvvm.barrier.arrive
// HOP:   nvvm.wgmma.wait.group.sync.aligned 1
// HOP:   nvvm.mbarrier.arrive
// HOP:   scf.if %{{.*}} -> (f32
// HOP:   nvvm.wgmma.wait.group.sync.aligned 0
// HOP:   nvvm.mbarrier.arrive
// The last block's P V, then the epilogue.
// HOP: scf.if
// HOP:   llvm.inline_asm has_side_effects "{{.*}}wgmma.mma_async
// HOP: gpu.return
// HOP-LABEL: gpu.func @dense_f16(
// HOP: llvm.inline_asm has_side_effects "{{.*}}wgmma.mma_async.sync.aligned.m64n128k16.f32.f16.f16

// Every entry becomes a kernel of the same name in gpu.module @attn_kernels,
// arguments q, k, v, out[, lse] as memrefs, with its launch contract.

// CHECK: module attributes {gpu.container_module}
// CHECK: gpu.module @attn_kernels
// Q and V tiles in shared memory (K reuses Q's buffer): 128 rows at D = 64.
// CHECK-DAG: memref.global "private" @causal_lse_sQ : memref<128x72xbf16, #gpu.address_space<workgroup>> {alignment = 128 : i64}
// CHECK-DAG: memref.global "private" @causal_lse_sV : memref<64x72xbf16, #gpu.address_space<workgroup>>
// CHECK-LABEL: gpu.func @causal_lse(
// CHECK-SAME: memref<?x?x?x64xbf16>, %{{.*}}: memref<?x?x?x64xbf16>, %{{.*}}: memref<?x?x?x64xbf16>, %{{.*}}: memref<?x?x?x64xbf16>, %{{.*}}: memref<?x?x?xf32>) kernel
// CHECK-SAME: attn.block_q = 128 : i64, attn.dynamic_shared = 0 : i64, attn.threads = 128 : i64
// CHECK-SAME: known_block_size = array<i32: 128, 1, 1>
// The Q tile: cp.async, then its A fragments by ldmatrix x4.
// CHECK: nvgpu.device_async_copy
// CHECK: nvvm.cp.async.commit.group
// CHECK: nvgpu.ldmatrix %{{.*}} {numTiles = 4 : i32, transpose = false} : memref<128x72xbf16, #gpu.address_space<workgroup>> -> vector<4x2xbf16>
// The first K block is in flight before the loop (two stages).
// CHECK: scf.if
// CHECK: nvgpu.device_async_copy
// CHECK: scf.for
// CHECK:   nvvm.cp.async.wait.group 0
// CHECK:   gpu.barrier
// S = Q K^T on tensor cores (bf16 in, f32 accumulators).
// CHECK:   nvvm.mma.sync A[{{.*}}] B[{{.*}}] C[{{.*}}] {layoutA = #nvvm.mma_layout<row>, layoutB = #nvvm.mma_layout<col>, multiplicandAPtxType = #nvvm.mma_type<bf16>, multiplicandBPtxType = #nvvm.mma_type<bf16>, shape = #nvvm.shape<m = 16, n = 8, k = 16>}
// Only partial blocks apply the causal element rule.
// CHECK:   scf.if %{{.*}} -> (f32
// CHECK:     arith.cmpi sle
// The online softmax: row max across the quad of lanes, exp2.
// CHECK:   gpu.shuffle  xor
// CHECK:   math.exp2
// O += P V with V by ldmatrix.trans.
// CHECK:   nvgpu.ldmatrix %{{.*}} {numTiles = 4 : i32, transpose = true}
// CHECK:   nvvm.mma.sync
// CHECK:   scf.yield
// Epilogue: normalised rows, their words transposed within each quad of
// lanes (xor 2, then xor 1) so that each lane stores 8 consecutive columns;
// rows < N only, and lse from the first lane of each quad.
// CHECK: math.log2
// CHECK: gpu.shuffle  xor %{{.*}}, %c2_i32
// CHECK: gpu.shuffle  xor %{{.*}}, %c1_i32
// CHECK: vector.store {{.*}} {alignment = 16 : i64} : memref<?x?x?x64xbf16>, vector<8xbf16>
// CHECK: memref.store
// CHECK: gpu.return
// ONE-LABEL: gpu.func @causal_lse(
// ONE-SAME: attn.block_q = 64 : i64
// One stage: K and V are both copied at the top of each iteration.
// ONE: scf.for
// ONE: nvgpu.device_async_copy
// ONE: nvvm.cp.async.wait.group 0
func.func @causal_lse(%q: tensor<?x?x?x64xbf16>, %k: tensor<?x?x?x64xbf16>,
                      %v: tensor<?x?x?x64xbf16>)
    -> (tensor<?x?x?x64xbf16>, tensor<?x?x?xf32>) {
  %o, %lse = attn.attention %q, %k, %v mask(#attn.causal)
      : (tensor<?x?x?x64xbf16>, tensor<?x?x?x64xbf16>, tensor<?x?x?x64xbf16>)
      -> (tensor<?x?x?x64xbf16>, tensor<?x?x?xf32>)
  return %o, %lse : tensor<?x?x?x64xbf16>, tensor<?x?x?xf32>
}

// -----

// f16 at D = 128: two m-tiles per warp with Q re-read from shared memory,
// 48-key blocks, tiles in dynamic shared memory (60 KB), mma on f16; no
// mask: the element rule is only the key tail.
// CHECK: memref.global "public" @attn_dsmem : memref<0xi8, #gpu.address_space<workgroup>> {alignment = 1024 : i64}
// CHECK-LABEL: gpu.func @dense_f16(
// CHECK-SAME: attn.block_q = 128 : i64, attn.dynamic_shared = 60928 : i64
// CHECK: memref.view
// CHECK: nvvm.mma.sync {{.*}} : (vector<2xf16>, vector<2xf16>, f32)
// CHECK-NOT: arith.cmpi sle
// CHECK: gpu.return
func.func @dense_f16(%q: tensor<?x?x?x128xf16>, %k: tensor<?x?x?x128xf16>,
                     %v: tensor<?x?x?x128xf16>) -> tensor<?x?x?x128xf16> {
  %o = attn.attention %q, %k, %v
      : (tensor<?x?x?x128xf16>, tensor<?x?x?x128xf16>, tensor<?x?x?x128xf16>)
      -> tensor<?x?x?x128xf16>
  return %o : tensor<?x?x?x128xf16>
}

// -----

// A window mask: the key loop starts past block 0 (the block rule's visible
// begin) and the element rule checks both band edges.
// CHECK-LABEL: gpu.func @window(
// CHECK: arith.divui
// CHECK: scf.for
// CHECK: arith.cmpi sge
// CHECK: arith.cmpi sle
func.func @window(%q: tensor<?x?x?x64xbf16>, %k: tensor<?x?x?x64xbf16>,
                  %v: tensor<?x?x?x64xbf16>) -> tensor<?x?x?x64xbf16> {
  %o = attn.attention %q, %k, %v mask(#attn.window<128, 0>)
      : (tensor<?x?x?x64xbf16>, tensor<?x?x?x64xbf16>, tensor<?x?x?x64xbf16>)
      -> tensor<?x?x?x64xbf16>
  return %o : tensor<?x?x?x64xbf16>
}

// -----

// A block list: kv_indices and kv_counts follow q, k, v as i32 memrefs; the
// tile shrinks to one list row (4 warps x 1 m-tile of 16 rows = 64). The
// tile loads its count, each step its block id.
// LIST-LABEL: gpu.func @listed(
// LIST-SAME: %{{.*}}: memref<?x?x?x64xbf16>, %{{.*}}: memref<?x?x?x64xbf16>, %{{.*}}: memref<?x?x?x64xbf16>, %[[IDX:[a-z0-9_]+]]: memref<?x?x?x?xi32>, %[[CNT:[a-z0-9_]+]]: memref<?x?x?xi32>, %{{.*}}: memref<?x?x?x64xbf16>) kernel
// LIST-SAME: attn.block_q = 64 : i64
// LIST: memref.load %[[CNT]]
// LIST: scf.for
// LIST: memref.load %[[IDX]]
func.func @listed(%q: tensor<?x?x?x64xbf16>, %k: tensor<?x?x?x64xbf16>,
                  %v: tensor<?x?x?x64xbf16>, %i: tensor<?x?x?x?xi32>,
                  %c: tensor<?x?x?xi32>) -> tensor<?x?x?x64xbf16> {
  %o = attn.attention %q, %k, %v blocks(%i, %c) block_size(64, 64)
       : (tensor<?x?x?x64xbf16>, tensor<?x?x?x64xbf16>, tensor<?x?x?x64xbf16>,
          tensor<?x?x?x?xi32>, tensor<?x?x?xi32>) -> tensor<?x?x?x64xbf16>
  return %o : tensor<?x?x?x64xbf16>
}
