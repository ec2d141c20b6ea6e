// Routing on the GPU (RouteKernels.cpp): attn.route is two kernels of its
// step, a thread per token for the buckets ("_c0": float64 dots, the LSH
// sign words a constant global made at compile time) and a block of W
// warps per (b, h) row for the stable order (per-warp counts in shared
// memory; a lane's peers from ballots on its key's bits; barriers between
// the phases); attn.permute is
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
// RUN: attn-opt %s --pass-pipeline='builtin.module(attn-to-nvgpu)' | FileCheck %s --check-prefix=SAMPLE
// RUN: attn-opt %s --pass-pipeline='builtin.module(attn-to-nvgpu)' | FileCheck %s --check-prefix=HEADS

// chunks(C): the order kernel's counters hold the bucket table, a copy of
// its counts and the chunk table; each warp's chunk counts come from its
// slot ranges per bucket (shared atomics, no walk); one replay of the
// slots (ballots on the bucket's bits, then on the chunk key's) places
// each token; the chunk of a slot is a 32-bit division.
// CHUNKS: memref.global "private" @chunked__s0_counts : memref<{{[0-9]+}}xi32, #gpu.address_space<workgroup>>
// CHUNKS: gpu.func @chunked__s0(
// CHUNKS-COUNT-4: nvvm.vote.sync  ballot
// CHUNKS: gpu.barrier
// CHUNKS: memref.atomic_rmw addi
// CHUNKS: gpu.barrier
// CHUNKS: nvvm.vote.sync  ballot
// CHUNKS: arith.divui %{{.*}}, %{{.*}} : i32
// CHUNKS: memref.store %{{.*}}, %arg1

// Few static centroids, bf16 rows: the tensor-core screen. A block takes
// 128 tokens of one row (cp.async into a padded tile), stages the head's
// centroids, scores by mma.sync in f32 and keeps a token's argmax where the
// runner-up is provably below it in float64 too; the others go to a list
// (a shared atomic) whose candidates get the float64 sums after a barrier.
// KMEANS: gpu.func @kmeans__s0_c0(
// KMEANS-SAME: attn.grid_tile = array<i64: 1, 128>
// KMEANS-SAME: attn.threads = 128
// KMEANS-SAME: nvvm.minctasm = 8
// KMEANS: nvgpu.device_async_copy %arg0{{.*}} to memref<128x72xbf16, #gpu.address_space<workgroup>>
// KMEANS: nvvm.cp.async.wait.group 0
// KMEANS: nvgpu.ldmatrix
// KMEANS: nvvm.mma.sync
// KMEANS: math.sqrt
// KMEANS: arith.cmpf uge
// KMEANS: memref.atomic_rmw addi
// KMEANS: gpu.barrier
// KMEANS: scf.for
// KMEANS: math.fma %{{.*}} : f64
// KMEANS: gpu.func @kmeans__s0(
// f32 rows: the same screen by f32 fmas, four tokens a thread, x loaded a
// piece ahead; the float64 sums where it fails.
// KMEANS: gpu.func @kmeans32__s0_c0(
// KMEANS-SAME: attn.grid_tile = array<i64: 1, 512>
// KMEANS-COUNT-4: vector.load %{{.*}} : memref<?x?x?x64xf32>, vector<4xf32>
// KMEANS: memref.get_global @kmeans32__s0_c0_mu : memref<1x16x64xf32, #gpu.address_space<workgroup>>
// KMEANS: scf.for
// KMEANS: math.fma %{{.*}} : f32
// KMEANS: scf.if
// KMEANS: math.fma %{{.*}} : f64

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
// CHECK-COUNT-4: nvvm.vote.sync  ballot
// CHECK-NOT: nvvm.match.sync
// CHECK: nvvm.bar.warp.sync
// CHECK: gpu.barrier
// CHECK: nvvm.vote.sync  ballot
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

func.func @kmeans32(%x: tensor<?x?x?x64xf32>, %mu: tensor<?x16x64xf32>) -> tensor<?x?x?xi32> {
  %perm, %bucket = attn.route %x centroids(%mu)
      : (tensor<?x?x?x64xf32>, tensor<?x16x64xf32>) -> (tensor<?x?x?xi32>, tensor<?x?x?xi32>)
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

// attn.sample: a thread per drawn row (ten Philox rounds of 32-bit
// multiplies, then floor(w M / 2^32) in 64 bits); attn.gather: a thread
// per 16 bytes of a row, zeros for a row outside [0, M) (no load there).
// SAMPLE-LABEL: gpu.module @attn_kernels
// SAMPLE: gpu.func @sampled__s0(
// SAMPLE-SAME: attn.grid_arg = 2 : i64, attn.grid_dims = 3 : i64, attn.grid_lanes = 1 : i64, attn.step = 0 : i64, attn.step_args = ["i0", "i1", "w0"]
// SAMPLE-COUNT-20: arith.mului_extended
// SAMPLE: arith.shrui
// SAMPLE: memref.store %{{.*}}, %arg2
// SAMPLE: gpu.func @sampled__s1(
// SAMPLE-SAME: attn.grid_arg = 2 : i64, attn.grid_dims = 3 : i64, attn.grid_lanes = 8 : i64, attn.step = 1 : i64, attn.step_args = ["i0", "w0", "o0"]
// SAMPLE: arith.cmpi ult
// SAMPLE: scf.if {{.*}} -> (vector<8xbf16>)
// SAMPLE: vector.load %{{.*}} : memref<?x?x?x64xbf16>, vector<8xbf16>
// SAMPLE: } else {
// SAMPLE: arith.constant dense<0.000000e+00> : vector<8xbf16>
// SAMPLE: vector.store
func.func @sampled(%k: tensor<?x?x?x64xbf16>, %q: tensor<?x?x?x64xbf16>)
    -> tensor<?x?x32x64xbf16> {
  %r = attn.sample %k per %q count(32) seed(9)
      : (tensor<?x?x?x64xbf16>, tensor<?x?x?x64xbf16>) -> tensor<?x?x32xi32>
  %g = attn.gather %k at %r
      : (tensor<?x?x?x64xbf16>, tensor<?x?x32xi32>) -> tensor<?x?x32x64xbf16>
  return %g : tensor<?x?x32x64xbf16>
}

// offset(%o): the stream word 2 o + 1 from the kernel's offset argument.
// SAMPLE: gpu.func @stepped__s0(
// SAMPLE-SAME: attn.step_args = ["i0", "i1", "o0"]
// SAMPLE: memref.load %arg1[%{{.*}}] : memref<1xi64>
// SAMPLE: arith.trunci %{{.*}} : i64 to i32
// SAMPLE: arith.shli
// SAMPLE: arith.ori
// SAMPLE-COUNT-20: arith.mului_extended
func.func @stepped(%k: tensor<?x?x?x64xbf16>, %o: tensor<1xi64>) -> tensor<?x?x8xi32> {
  %r = attn.sample %k count(8) seed(9) offset(%o)
      : (tensor<?x?x?x64xbf16>, tensor<1xi64>) -> tensor<?x?x8xi32>
  return %r : tensor<?x?x8xi32>
}

// attn.split_heads: a copy kernel per part (the last part's is the step's
// own kernel), a thread per 16 bytes of a row, gridded over the part; part
// p reads heads floor(p H / P) + t. attn.join_heads: gridded over each
// part, writing heads p Hp + t of the output. Each copy kernel carries its
// view [join?, dim, part, parts]: the runtime skips it where the part is a
// contiguous run of its parent (B = 1; lib/Runtime/HeadViews.cpp).
// HEADS-LABEL: gpu.module @attn_kernels
// HEADS: gpu.func @heads__s0_c0(
// HEADS-SAME: attn.grid_arg = 1 : i64, attn.grid_dims = 3 : i64, attn.grid_lanes = 8 : i64, attn.head_view = array<i64: 0, 1, 0, 2>, attn.step_args = ["i0", "w0"]
// HEADS: arith.divui %{{.*}}, %c2
// HEADS: vector.load %arg0{{.*}} : memref<?x?x?x64xbf16>, vector<8xbf16>
// HEADS: vector.store %{{.*}}, %arg1
// HEADS: gpu.func @heads__s0(
// HEADS-SAME: attn.head_view = array<i64: 0, 1, 1, 2>, attn.step = 0 : i64, attn.step_args = ["i0", "w1"]
// HEADS: gpu.func @heads__s1_c0(
// HEADS-SAME: attn.grid_arg = 1 : i64, attn.grid_dims = 2 : i64, attn.grid_lanes = 8 : i64, attn.head_view = array<i64: 0, 0, 0, 2>, attn.step_args = ["i1", "w2"]
// HEADS: gpu.func @heads__s1(
// HEADS-SAME: attn.step_args = ["i1", "o1"]
// HEADS: gpu.func @heads__s2_c0(
// HEADS-SAME: attn.grid_arg = 0 : i64, attn.grid_dims = 3 : i64, attn.grid_lanes = 8 : i64, attn.head_view = array<i64: 1, 1, 0, 2>, attn.step_args = ["w1", "o0"]
// HEADS: gpu.func @heads__s2(
// HEADS-SAME: attn.head_view = array<i64: 1, 1, 1, 2>, attn.step = 2 : i64, attn.step_args = ["w0", "o0"]
// HEADS: arith.muli %{{.*}}, %c1
// HEADS: vector.store
func.func @heads(%q: tensor<?x?x?x64xbf16>, %mu: tensor<?x8x64xbf16>)
    -> (tensor<?x?x?x64xbf16>, tensor<?x8x64xbf16>) {
  %a, %b = attn.split_heads %q
      : tensor<?x?x?x64xbf16> -> tensor<?x?x?x64xbf16>, tensor<?x?x?x64xbf16>
  %m, %n = attn.split_heads %mu dim(0)
      : tensor<?x8x64xbf16> -> tensor<?x8x64xbf16>, tensor<?x8x64xbf16>
  %o = attn.join_heads %b, %a
      : tensor<?x?x?x64xbf16>, tensor<?x?x?x64xbf16> -> tensor<?x?x?x64xbf16>
  return %o, %n : tensor<?x?x?x64xbf16>, tensor<?x8x64xbf16>
}
