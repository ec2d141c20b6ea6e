// Routing on the GPU (RouteKernels.cpp): attn.route is two kernels of its
// step, a thread per token for the buckets ("_c0": float64 dots, the LSH
// sign words a constant global made at compile time) and a block of W
// warps per (b, h) row for the stable order (per-warp counts in shared
// memory through match.any, barriers between the phases); attn.permute is
// a thread per 16 bytes of a token's features, reading perm from the
// workspace.
// RUN: attn-opt %s --pass-pipeline='builtin.module(attn-to-nvgpu)' | FileCheck %s
// RUN: attn-opt %s --pass-pipeline='builtin.module(attn-to-nvgpu)' | FileCheck %s --check-prefix=CHUNKS
// RUN: attn-opt %s --pass-pipeline='builtin.module(attn-to-nvgpu)' | FileCheck %s --check-prefix=KMEANS
// RUN: attn-opt %s --pass-pipeline='builtin.module(attn-to-nvgpu{mma=wgmma})' | FileCheck %s --check-prefix=GATHER
// RUN: attn-opt %s --pass-pipeline='builtin.module(attn-to-nvgpu{mma=wgmma fuse-gather=0})' | FileCheck %s --check-prefix=NOGATHER
// RUN: attn-opt %s --pass-pipeline='builtin.module(attn-to-nvgpu{mma=wgmma})' | FileCheck %s --check-prefix=SHORT
// RUN: attn-opt %s --pass-pipeline='builtin.module(attn-to-nvgpu{mma=wgmma warps=8})' | FileCheck %s --check-prefix=SHORT8
// RUN: attn-opt %s --pass-pipeline='builtin.module(attn-to-nvgpu{mma=wgmma gather-tma=1})' | FileCheck %s --check-prefix=GTMA

// chunks(C): the order kernel's counters hold the bucket table, its
// snapshot and the chunk table; the slots are replayed (a match.any on
// the bucket, then one on the chunk key) to count and to place.
// CHUNKS: memref.global "private" @chunked__s0_counts : memref<{{[0-9]+}}xi32, #gpu.address_space<workgroup>>
// CHUNKS: gpu.func @chunked__s0(
// CHUNKS-COUNT-3: nvvm.match.sync  any
// CHUNKS: gpu.barrier

// Few static centroids: a block stages one head's centroids as f64 in
// shared memory and each of its 128 threads scores two tokens (t and
// t + 128; past the row's end the last token, stored nowhere), so one
// load of a centroid piece serves both tokens' float64 sums.
// KMEANS: gpu.func @kmeans__s0_c0(
// KMEANS-SAME: attn.grid_tile = array<i64: 1, 256>
// KMEANS-SAME: attn.threads = 128
// KMEANS-COUNT-2: arith.minui
// KMEANS: vector.load %{{.*}} : memref<?x?x?x64xbf16>, vector<8xbf16>
// KMEANS: vector.load %{{.*}} : memref<?x?x?x64xbf16>, vector<8xbf16>
// KMEANS: vector.load %{{.*}} : memref<1x16x64xf64, #gpu.address_space<workgroup>>, vector<8xf64>
// KMEANS-COUNT-16: math.fma
// KMEANS: memref.store
// KMEANS: scf.if
// KMEANS: memref.store
// KMEANS: gpu.func @kmeans__s0(

// The Hopper kernel does the permutes itself (fuse-gather): it reads the
// permutes' sources and perm and writes the inverse permute's result (no
// permute steps); its producer warpgroup copies rows perm[b, h, r] by
// cp.async (source size 0 past the end), each thread's arrive counting on
// the full barrier (noinc, 128 per phase); the consumers fence the
// generic-proxy writes before wgmma reads them; the epilogue stores
// routed row r at row perm[b, h, r].
// GATHER: gpu.func @reformer__s0(
// GATHER: gpu.func @reformer__s1(
// GATHER-SAME: attn.step_args = ["i0", "i0", "i1", "w0", "o0"]
// GATHER: nvvm.mbarrier.init %{{.*}}, %c128_i32 :
// GATHER: nvvm.setmaxregister decrease 56
// GATHER: nvvm.cp.async.shared.global %{{.*}}, %{{.*}}, 16, cache = cg, %{{.*}}
// GATHER: nvvm.cp.async.mbarrier.arrive %{{.*}} {noinc = true}
// GATHER: nvvm.fence.proxy {kind = #nvvm.proxy_kind<async.shared>, space = #nvvm.shared_space<cta>}
// GATHER: nvvm.wgmma.mma_async
// GATHER: memref.load %arg3
// GATHER: vector.store
// GATHER-NOT: gpu.func @reformer__s2(
// GATHER: gpu.func @chunked__s0(
// NOGATHER: gpu.func @reformer__s1(
// NOGATHER-SAME: attn.step_args = ["i0", "w0", "w2"]
// NOGATHER: gpu.func @reformer__s4(
// NOGATHER-SAME: attn.step_args = ["w4", "w0", "o0"]

// CHECK-LABEL: gpu.module @attn_kernels
// CHECK: memref.global "private" constant @reformer__s0_signs : memref<64xi32> = dense<
// CHECK: memref.global "private" @reformer__s0_counts : memref<264xi32, #gpu.address_space<workgroup>>
// CHECK: gpu.func @reformer__s0_c0(
// CHECK-SAME: attn.grid_arg = 2 : i64, attn.grid_dims = 3 : i64, attn.grid_lanes = 1 : i64, attn.step_args = ["i0", "w0", "w1"]
// CHECK: memref.get_global @reformer__s0_signs
// CHECK: arith.extf %{{.*}} : bf16 to f64
// CHECK: arith.cmpf oge
// CHECK: gpu.func @reformer__s0(
// CHECK-SAME: attn.grid_arg = 1 : i64, attn.grid_dims = 2 : i64, attn.grid_lanes = 1024 : i64, attn.step = 0 : i64
// CHECK: gpu.barrier
// CHECK: nvvm.match.sync  any
// CHECK: nvvm.bar.warp.sync
// CHECK: gpu.barrier
// CHECK: nvvm.match.sync  any
// CHECK: memref.store %{{.*}}, %arg1
// CHECK: gpu.func @reformer__s1(
// CHECK-SAME: attn.grid_arg = 2 : i64, attn.grid_dims = 3 : i64, attn.grid_lanes = 8 : i64, {{.*}}attn.step_args = ["i0", "w0", "w2"]
// CHECK: vector.load %{{.*}} : memref<?x?x?x64xbf16>, vector<8xbf16>
// CHECK: vector.store %{{.*}} : memref<?x?x?x64xbf16>, vector<8xbf16>
// CHECK: gpu.func @reformer__s4(
// CHECK-SAME: attn.step_args = ["w4", "w0", "o0"]
func.func @reformer(%qk: tensor<?x?x?x64xbf16>, %v: tensor<?x?x?x64xbf16>)
    -> tensor<?x?x?x64xbf16> {
  %perm, %bucket = attn.route %qk lsh(3, 42)
      : (tensor<?x?x?x64xbf16>) -> (tensor<?x?x?xi32>, tensor<?x?x?xi32>)
  %s = attn.permute %qk by %perm
      : (tensor<?x?x?x64xbf16>, tensor<?x?x?xi32>) -> tensor<?x?x?x64xbf16>
  %vs = attn.permute %v by %perm
      : (tensor<?x?x?x64xbf16>, tensor<?x?x?xi32>) -> tensor<?x?x?x64xbf16>
  %os = attn.attention %s, %s, %vs mask(#attn.balanced<4>)
      : (tensor<?x?x?x64xbf16>, tensor<?x?x?x64xbf16>, tensor<?x?x?x64xbf16>)
      -> tensor<?x?x?x64xbf16>
  %o = attn.permute %os by %perm inverse
      : (tensor<?x?x?x64xbf16>, tensor<?x?x?xi32>) -> tensor<?x?x?x64xbf16>
  return %o : tensor<?x?x?x64xbf16>
}

func.func @chunked(%x: tensor<?x?x?x64xbf16>) -> tensor<?x?x?xi32> {
  %perm, %bucket = attn.route %x lsh(3, 42) chunks(4)
      : (tensor<?x?x?x64xbf16>) -> (tensor<?x?x?xi32>, tensor<?x?x?xi32>)
  return %perm : tensor<?x?x?xi32>
}

func.func @kmeans(%x: tensor<?x?x?x64xbf16>, %mu: tensor<?x16x64xbf16>) -> tensor<?x?x?xi32> {
  %perm, %bucket = attn.route %x centroids(%mu)
      : (tensor<?x?x?x64xbf16>, tensor<?x16x64xbf16>) -> (tensor<?x?x?xi32>, tensor<?x?x?xi32>)
  return %perm : tensor<?x?x?xi32>
}

// Short key spans (a route's 16 balanced chunks: at 16384 tokens 1024 keys
// per row) on gathered rows of D = 64: three blocks per SM, each one
// consumer warpgroup (128 threads + the producer's) on 64-key blocks; the
// producer keeps 40 registers and reads perm in 32-bit arithmetic (i32
// rows, one widening multiply per address). An explicit warps= keeps the
// default shape.
// SHORT: gpu.func @routed16__s1(
// SHORT-SAME: known_block_size = array<i32: 256, 1, 1>
// SHORT-SAME: nvvm.minctasm = 3 : i32
// SHORT: nvvm.setmaxregister decrease 40
// SHORT: llvm.getelementptr %{{.*}}[%{{.*}}] : (!llvm.ptr<1>, i32) -> !llvm.ptr<1>, i32
// SHORT: llvm.load %{{.*}} : !llvm.ptr<1> -> i32
// SHORT: arith.extui %{{.*}} : i32 to i64
// SHORT: nvvm.cp.async.shared.global %{{.*}}, %{{.*}}, 16, cache = cg, %{{.*}}
// SHORT: nvvm.setmaxregister increase 120
// SHORT8: gpu.func @routed16__s1(
// SHORT8-SAME: known_block_size = array<i32: 384, 1, 1>
// SHORT8-NOT: nvvm.minctasm
// SHORT8: nvvm.setmaxregister decrease 56
// gather-tma=1: one producer warp copies each gathered row as a one-row
// TMA box (q's map too: the launch contract's tma rows 1x1), rows past the
// end from row `limit` (zero-filled); full barriers of one arrive with the
// bytes, no proxy fence.
// GTMA: gpu.func @routed16__s1(
// GTMA-SAME: attn.tma_q_rows = 1 : i64, attn.tma_rows = 1 : i64
// GTMA: nvvm.mbarrier.init %{{.*}}, %c1_i32 :
// GTMA: nvvm.setmaxregister decrease 40
// GTMA: nvvm.mbarrier.arrive.expect_tx
// GTMA: llvm.load %{{.*}} : !llvm.ptr<1> -> i32
// GTMA: nvvm.cp.async.bulk.tensor.shared.cluster.global
// GTMA-NOT: nvvm.fence.proxy
// GTMA: nvvm.wgmma.mma_async
func.func @routed16(%q: tensor<?x?x?x64xbf16>, %k: tensor<?x?x?x64xbf16>,
                    %v: tensor<?x?x?x64xbf16>, %mu: tensor<?x16x64xbf16>)
    -> tensor<?x?x?x64xbf16> {
  %perm, %bucket = attn.route %q centroids(%mu) chunks(16)
      : (tensor<?x?x?x64xbf16>, tensor<?x16x64xbf16>) -> (tensor<?x?x?xi32>, tensor<?x?x?xi32>)
  %qs = attn.permute %q by %perm
      : (tensor<?x?x?x64xbf16>, tensor<?x?x?xi32>) -> tensor<?x?x?x64xbf16>
  %ks = attn.permute %k by %perm
      : (tensor<?x?x?x64xbf16>, tensor<?x?x?xi32>) -> tensor<?x?x?x64xbf16>
  %vs = attn.permute %v by %perm
      : (tensor<?x?x?x64xbf16>, tensor<?x?x?xi32>) -> tensor<?x?x?x64xbf16>
  %os = attn.attention %qs, %ks, %vs mask(#attn.all_of<[#attn.balanced<16>, #attn.causal]>)
      : (tensor<?x?x?x64xbf16>, tensor<?x?x?x64xbf16>, tensor<?x?x?x64xbf16>)
      -> tensor<?x?x?x64xbf16>
  %o = attn.permute %os by %perm inverse
      : (tensor<?x?x?x64xbf16>, tensor<?x?x?xi32>) -> tensor<?x?x?x64xbf16>
  return %o : tensor<?x?x?x64xbf16>
}
