// A selection program on the GPU: one kernel per selection op, in program
// order, then the attention kernel. Each records the buffers it binds
// (i<k> inputs, o<k> outputs, w<k> intermediates the runtime owns) and its
// grid (attn.grid_lanes threads per element of the first attn.grid_dims
// dims of argument attn.grid_arg: a warp per select row); the attention
// reads the selected list from the workspace.
// RUN: attn-opt %s --attn-to-nvgpu | FileCheck %s
// RUN: attn-opt %s --attn-to-nvgpu="fuse-merge=0" | FileCheck %s --check-prefix=UNFUSED

// The mean pool adds its 16-byte rows in f64 and rounds once (as the CPU).
// CHECK-LABEL: gpu.module @attn_kernels
// CHECK: gpu.func @topk__s0(%{{.*}}: memref<?x?x?x64xbf16>, %{{.*}}: memref<?x?x?x64xbf16>) kernel
// CHECK-SAME: attn.grid_arg = 1 : i64, attn.grid_dims = 3 : i64, attn.grid_lanes = 8 : i64, attn.step = 0 : i64, attn.step_args = ["i0", "w0"], attn.threads = 128 : i64
// CHECK: gpu.block_id x
// CHECK: scf.for
// CHECK: vector.load {{.*}} : memref<?x?x?x64xbf16>, vector<8xbf16>
// CHECK: arith.addf {{.*}} : vector<8xf64>
// CHECK: arith.divf {{.*}} : vector<8xf64>
// CHECK: arith.truncf {{.*}} : vector<8xf64> to vector<8xf32>
// CHECK: vector.store
// CHECK: gpu.func @topk__s1(
// CHECK-SAME: attn.step_args = ["i1", "w1"]
// Block scores by 16 x 16 tiles: a block of 256 threads per tile (lanes =
// threads, attn.grid_tile), key rows then each head's query rows staged in
// two padded shared tiles, dot products read from there.
// CHECK: memref.global "private" @topk__s2_sQ : memref<16x72xbf16, #gpu.address_space<workgroup>> {alignment = 128 : i64}
// CHECK: memref.global "private" @topk__s2_sK : memref<16x72xbf16, #gpu.address_space<workgroup>>
// CHECK: gpu.func @topk__s2(
// CHECK-SAME: attn.grid_arg = 4 : i64, attn.grid_dims = 4 : i64, attn.grid_lanes = 256 : i64, attn.grid_tile = array<i64: 16, 16>, attn.step = 2 : i64, attn.step_args = ["w0", "w1", "i0", "i1", "w2"], attn.threads = 256 : i64
// CHECK: %[[SQ:.*]] = memref.get_global @topk__s2_sQ
// CHECK: %[[SK:.*]] = memref.get_global @topk__s2_sK
// CHECK: vector.store {{.*}}, %[[SK]]
// CHECK: arith.floordivsi
// CHECK: gpu.barrier
// CHECK: vector.store {{.*}}, %[[SQ]]
// CHECK: gpu.barrier
// CHECK: vector.load %[[SQ]]{{.*}} : memref<16x72xbf16, #gpu.address_space<workgroup>>, vector<8xbf16>
// CHECK: vector.load %[[SK]]
// CHECK: vector.reduction <add>
// CHECK: gpu.func @topk__s3(%{{.*}}: memref<?x?x?x?xf32>, %{{.*}}: memref<?x?x?x4xi32>, %{{.*}}: memref<?x?x?xi32>)
// CHECK-SAME: attn.grid_arg = 2 : i64, attn.grid_dims = 3 : i64, attn.grid_lanes = 32 : i64, attn.step = 3 : i64, attn.step_args = ["w2", "o1", "o2"], attn.threads = 128 : i64
// local(1)'s start: chunks of 32 positions from the row's end, a ballot
// of the legal ones, until `local` are counted (one loop whatever local).
// CHECK: scf.while {{.*}} : (index, i32, i32) -> (index, i32, i32)
// CHECK: nvvm.vote.sync ballot
// CHECK: llvm.intr.ctpop
// CHECK: arith.maxsi
// CHECK: scf.while
// CHECK: gpu.shuffle xor
// CHECK: nvvm.vote.sync ballot
// CHECK: llvm.intr.ctpop
// CHECK: gpu.func @topk__s4(
// CHECK-SAME: attn.step_args = ["i0", "i1", "i2", "o1", "o2", "o0"]
func.func @topk(%q: tensor<?x?x?x64xbf16>, %k: tensor<?x?x?x64xbf16>,
                %v: tensor<?x?x?x64xbf16>)
    -> (tensor<?x?x?x64xbf16>, tensor<?x?x?x4xi32>, tensor<?x?x?xi32>) {
  %qp = attn.pool %q block(64) kind(mean)
        : tensor<?x?x?x64xbf16> -> tensor<?x?x?x64xbf16>
  %kp = attn.pool %k block(64) kind(mean)
        : tensor<?x?x?x64xbf16> -> tensor<?x?x?x64xbf16>
  %s = attn.block_scores %qp, %kp causal(%q, %k) block_size(64, 64)
       : (tensor<?x?x?x64xbf16>, tensor<?x?x?x64xbf16>, tensor<?x?x?x64xbf16>,
          tensor<?x?x?x64xbf16>) -> tensor<?x?x?x?xf32>
  %idx, %cnt = attn.select %s topk(2) first(1) local(1)
       : tensor<?x?x?x?xf32> -> (tensor<?x?x?x4xi32>, tensor<?x?x?xi32>)
  %o = attn.attention %q, %k, %v blocks(%idx, %cnt) block_size(64, 64)
         mask(#attn.causal)
       : (tensor<?x?x?x64xbf16>, tensor<?x?x?x64xbf16>, tensor<?x?x?x64xbf16>,
          tensor<?x?x?x4xi32>, tensor<?x?x?xi32>) -> tensor<?x?x?x64xbf16>
  return %o, %idx, %cnt : tensor<?x?x?x64xbf16>, tensor<?x?x?x4xi32>, tensor<?x?x?xi32>
}

// attn.probs: one thread per row (b, h, i) over the probabilities buffer
// (the returned output o0), the select reading it.
// CHECK-LABEL: gpu.func @pointer__s0(%{{.*}}: memref<?x?x?x64xbf16>, %{{.*}}: memref<?x?x?x64xbf16>, %{{.*}}: memref<?x?x?x?xf32>) kernel
// CHECK-SAME: attn.grid_arg = 2 : i64, attn.grid_dims = 3 : i64, attn.grid_lanes = 1 : i64, attn.step = 0 : i64, attn.step_args = ["i0", "i1", "o0"]
// CHECK: arith.cmpi sle
// CHECK: math.exp2
// CHECK: arith.divf
// CHECK: gpu.func @pointer__s1(
// CHECK-SAME: attn.step_args = ["o0", "o1", "o2"]
func.func @pointer(%q: tensor<?x?x?x64xbf16>, %k: tensor<?x?x?x64xbf16>)
    -> (tensor<?x?x?x?xf32>, tensor<?x?x?x1xi32>, tensor<?x?x?xi32>) {
  %p = attn.probs %q, %k mask(#attn.causal)
       : (tensor<?x?x?x64xbf16>, tensor<?x?x?x64xbf16>) -> tensor<?x?x?x?xf32>
  %ptr, %cnt = attn.select %p topk(1)
       : tensor<?x?x?x?xf32> -> (tensor<?x?x?x1xi32>, tensor<?x?x?xi32>)
  return %p, %ptr, %cnt : tensor<?x?x?x?xf32>, tensor<?x?x?x1xi32>, tensor<?x?x?xi32>
}

// NSA's block importance: attn.probs onto blocks, one thread per (b, KV
// head, query) row summing its group's probabilities (online max and sum,
// then the sums onto overlapping blocks), over the pooled keys of a
// strided pool; the select reads the rows from the workspace.
// CHECK-LABEL: gpu.func @importance__s0(
// CHECK-SAME: attn.grid_arg = 1 : i64
// CHECK: arith.muli %{{.*}}, %c16
// CHECK: gpu.func @importance__s1(
// CHECK-SAME: attn.grid_arg = 2 : i64, attn.grid_dims = 3 : i64, attn.grid_lanes = 1 : i64, attn.step = 1 : i64, attn.step_args = ["i0", "w0", "w1"]
// CHECK: math.exp2
// CHECK: arith.divui %{{.*}}, %c64
// CHECK: arith.addf
// CHECK: memref.store
// CHECK: gpu.func @importance__s2(
// CHECK-SAME: attn.step_args = ["w1", "o0", "o1"]
func.func @importance(%q: tensor<?x?x?x64xbf16>, %k: tensor<?x?x?x64xbf16>)
    -> (tensor<?x?x?x4xi32>, tensor<?x?x?xi32>) {
  %kc = attn.pool %k block(32) stride(16) kind(mean)
        : tensor<?x?x?x64xbf16> -> tensor<?x?x?x64xbf16>
  %imp = attn.probs %q, %kc mask(#attn.compressed<32, 16>) onto(64)
         pooled(32, 16) causal share(sum)
       : (tensor<?x?x?x64xbf16>, tensor<?x?x?x64xbf16>) -> tensor<?x?x?x?xf32>
  %idx, %cnt = attn.select %imp topk(1) first(1) local(2)
       : tensor<?x?x?x?xf32> -> (tensor<?x?x?x4xi32>, tensor<?x?x?xi32>)
  return %idx, %cnt : tensor<?x?x?x4xi32>, tensor<?x?x?xi32>
}

// attn.project: one thread per output feature (b, h, l, o) of the result,
// the inputs and the per-head weight read through the entry's buffers.
// CHECK-LABEL: gpu.func @gate__s0(%{{.*}}: memref<?x?x?x64xbf16>, %{{.*}}: memref<?x?x?x64xbf16>, %{{.*}}: memref<?x128x32xf32>, %{{.*}}: memref<?x?x?x32xbf16>) kernel
// CHECK-SAME: attn.grid_arg = 3 : i64, attn.grid_dims = 4 : i64, attn.grid_lanes = 1 : i64, attn.step = 0 : i64, attn.step_args = ["i0", "i1", "i2", "o0"]
// CHECK: memref.load %{{.*}}[%{{.*}}, %{{.*}}, %{{.*}}] : memref<?x128x32xf32>
// CHECK: arith.truncf {{.*}} : f32 to bf16
func.func @gate(%a: tensor<?x?x?x64xbf16>, %b: tensor<?x?x?x64xbf16>,
                %w: tensor<?x128x32xf32>) -> tensor<?x?x?x32xbf16> {
  %g = attn.project %a, %b weight(%w)
       : (tensor<?x?x?x64xbf16>, tensor<?x?x?x64xbf16>, tensor<?x128x32xf32>)
         -> tensor<?x?x?x32xbf16>
  return %g : tensor<?x?x?x32xbf16>
}

// Per-token lists (block_q = 1, MoBA): the attention is a row kernel, a
// warp per query row (grid: q's (b, h, i), 32 lanes), the dot product
// reduced across the lanes; it walks the list row and skips repeated ids.
// CHECK-LABEL: gpu.func @moba__s3(
// CHECK-SAME: attn.grid_arg = 0 : i64, attn.grid_dims = 3 : i64, attn.grid_lanes = 32 : i64, attn.step = 3 : i64, attn.step_args = ["i0", "i1", "i2", "w2", "w3", "o0"]
// CHECK: scf.for
// CHECK: gpu.shuffle xor
// CHECK: math.exp
func.func @moba(%q: tensor<?x?x?x64xbf16>, %k: tensor<?x?x?x64xbf16>, %v: tensor<?x?x?x64xbf16>)
    -> tensor<?x?x?x64xbf16> {
  %kp = attn.pool %k block(128) kind(mean) : tensor<?x?x?x64xbf16> -> tensor<?x?x?x64xbf16>
  %s = attn.block_scores %q, %kp causal(%q, %k) block_size(1, 128)
       : (tensor<?x?x?x64xbf16>, tensor<?x?x?x64xbf16>, tensor<?x?x?x64xbf16>,
          tensor<?x?x?x64xbf16>) -> tensor<?x?x?x?xf32>
  %idx, %cnt = attn.select %s topk(2) local(1)
       : tensor<?x?x?x?xf32> -> (tensor<?x?x?x3xi32>, tensor<?x?x?xi32>)
  %o = attn.attention %q, %k, %v blocks(%idx, %cnt) block_size(1, 128) mask(#attn.causal)
       : (tensor<?x?x?x64xbf16>, tensor<?x?x?x64xbf16>, tensor<?x?x?x64xbf16>,
          tensor<?x?x?x3xi32>, tensor<?x?x?xi32>) -> tensor<?x?x?x64xbf16>
  return %o : tensor<?x?x?x64xbf16>
}

// Two attentions and the upstream ops that combine them: each attention is
// a step of its own (flash kernels here, reading and writing workspace
// buffers), each elementwise op one thread per result element, in f32.
// CHECK-LABEL: gpu.func @gated__s0(
// CHECK-SAME: attn.step = 0 : i64, attn.step_args = ["i0", "i1", "i2", "w0"]
// CHECK: gpu.func @gated__s1(
// CHECK-SAME: attn.step = 1 : i64, attn.step_args = ["i0", "i1", "i2", "w1"]
// CHECK: gpu.func @gated__s2(%{{.*}}: memref<?x?x?xbf16>, %{{.*}}: memref<?x?x?x64xbf16>, %{{.*}}: memref<?x?x?x64xbf16>) kernel
// CHECK-SAME: attn.grid_arg = 2 : i64, attn.grid_dims = 4 : i64, attn.grid_lanes = 1 : i64, attn.step = 2 : i64, attn.step_args = ["i3", "w0", "w2"]
// CHECK: memref.load %{{.*}}[%{{.*}}, %{{.*}}, %{{.*}}] : memref<?x?x?xbf16>
// CHECK: gpu.func @gated__s3(
// CHECK-SAME: attn.step_args = ["w2", "w0", "w3"]
// CHECK: arith.extf
// CHECK: arith.mulf %{{.*}}, %{{.*}} : f32
// CHECK: arith.truncf
// CHECK: gpu.func @gated__s4(
// CHECK-SAME: attn.step_args = ["w3", "w1", "o0"]
func.func @gated(%q: tensor<?x?x?x64xbf16>, %k: tensor<?x?x?x64xbf16>, %v: tensor<?x?x?x64xbf16>,
                 %g: tensor<?x?x?xbf16>) -> tensor<?x?x?x64xbf16> {
  %a = attn.attention %q, %k, %v mask(#attn.causal)
       : (tensor<?x?x?x64xbf16>, tensor<?x?x?x64xbf16>, tensor<?x?x?x64xbf16>) -> tensor<?x?x?x64xbf16>
  %w = attn.attention %q, %k, %v mask(#attn.window<63, 0>)
       : (tensor<?x?x?x64xbf16>, tensor<?x?x?x64xbf16>, tensor<?x?x?x64xbf16>) -> tensor<?x?x?x64xbf16>
  %gb = linalg.broadcast ins(%g : tensor<?x?x?xbf16>) outs(%a : tensor<?x?x?x64xbf16>) dimensions = [3]
  %ga = arith.mulf %gb, %a : tensor<?x?x?x64xbf16>
  %o = arith.addf %ga, %w : tensor<?x?x?x64xbf16>
  return %o : tensor<?x?x?x64xbf16>
}

// attn.merge: a thread per 16 bytes of a row's features (grid: the rows of
// the output, 8 lanes for 64 bf16 features), vector loads and stores.
// CHECK-LABEL: gpu.func @split_merge__s0(
// CHECK-SAME: attn.grid_arg = 4 : i64, attn.grid_dims = 3 : i64, attn.grid_lanes = 8 : i64
// CHECK: vector.load {{.*}} : memref<?x?x?x64xbf16>, vector<8xbf16>
// CHECK: math.log
// CHECK: math.fma {{.*}} : vector<8xf32>
// CHECK: vector.store {{.*}} : memref<?x?x?x64xbf16>, vector<8xbf16>
func.func @split_merge(%o1: tensor<?x?x?x64xbf16>, %l1: tensor<?x?x?xf32>,
                       %o2: tensor<?x?x?x64xbf16>, %l2: tensor<?x?x?xf32>)
    -> (tensor<?x?x?x64xbf16>, tensor<?x?x?xf32>) {
  %o, %lse = attn.merge %o1, %l1, %o2, %l2
       : (tensor<?x?x?x64xbf16>, tensor<?x?x?xf32>, tensor<?x?x?x64xbf16>,
          tensor<?x?x?xf32>) -> (tensor<?x?x?x64xbf16>, tensor<?x?x?xf32>)
  return %o, %lse : tensor<?x?x?x64xbf16>, tensor<?x?x?xf32>
}

// attn.linear on f32 inputs (f16/bf16 run the chunk kernel: PTX checks in
// test/gpu/cuda-linear.test): a thread per (b, h, value column) (grid: the
// output's (b, h), 64 lanes), the state column a vector in registers
// carried by the token loop, the delta rule's S . k and the update, the
// final state's column stored at the end.
// CHECK-LABEL: gpu.func @gated_delta__s0(
// CHECK-SAME: attn.grid_arg = 6 : i64, attn.grid_dims = 2 : i64, attn.grid_lanes = 64 : i64
// CHECK: memref.load {{.*}} : memref<?x?x64x64xf32>
// CHECK: scf.for {{.*}} iter_args({{.*}}) -> (vector<64xf32>, vector<64xf32>)
// CHECK: vector.load {{.*}} : memref<?x?x?x64xf32>, vector<64xf32>
// CHECK: math.sqrt
// CHECK: math.exp
// CHECK: vector.reduction <add>
// CHECK: vector.fma
// CHECK: memref.store {{.*}} : memref<?x?x?x64xf32>
// CHECK: memref.store {{.*}} : memref<?x?x64x64xf32>
func.func @gated_delta(%q: tensor<?x?x?x64xf32>, %k: tensor<?x?x?x64xf32>,
                       %v: tensor<?x?x?x64xf32>, %g: tensor<?x?x?xf32>,
                       %b: tensor<?x?x?xf32>, %s0: tensor<?x?x64x64xf32>)
    -> (tensor<?x?x?x64xf32>, tensor<?x?x64x64xf32>) {
  %o, %s = attn.linear %q, %k, %v log_gate(%g) delta(%b) state(%s0) l2norm scale(0.125)
       : (tensor<?x?x?x64xf32>, tensor<?x?x?x64xf32>, tensor<?x?x?x64xf32>,
          tensor<?x?x?xf32>, tensor<?x?x?xf32>, tensor<?x?x64x64xf32>)
       -> (tensor<?x?x?x64xf32>, tensor<?x?x64x64xf32>)
  return %o, %s : tensor<?x?x?x64xf32>, tensor<?x?x64x64xf32>
}

// Split-KV: the second attention's epilogue does the merge (fuse-merge=1):
// it reads the first part (w0, w1) beside q, k, v and writes the merge's
// results (o0, w4): the other part's rows loaded first (all before any
// store), then the part's lse, the merged lse and weights (exp2, no NaN
// for rows both parts leave empty), the other part's pairs in an FMA.
// No merge step. With fuse-merge=0 the merge is a step of its own.
// CHECK-LABEL: gpu.func @split_kv__s0(
// CHECK-SAME: attn.step = 0 : i64, attn.step_args = ["i0", "i1", "i2", "w0", "w1"]
// CHECK: gpu.func @split_kv__s1(
// CHECK-SAME: attn.step = 1 : i64, attn.step_args = ["i0", "i1", "i2", "w0", "w1", "o0", "w4"]
// CHECK: memref.load {{.*}} : memref<?x?x?xf32>
// CHECK: vector.load {{.*}} : memref<?x?x?x64xbf16>, vector<2xbf16>
// CHECK: math.log2
// CHECK: arith.maximumf
// CHECK: math.exp2
// CHECK: vector.fma
// CHECK: vector.store {{.*}} : memref<?x?x?x64xbf16>, vector<8xbf16>
// CHECK: memref.store {{.*}} : memref<?x?x?xf32>
// CHECK-NOT: gpu.func @split_kv__s2
// Not fused: the first part's out is also returned (its results feed more
// than the merge), so that attention keeps its outputs; the second is.
// CHECK-LABEL: gpu.func @split_kv_shared__s1(
// CHECK-SAME: attn.step_args = ["i0", "i1", "i2", "o1", "w0", "o0", "w3"]
// CHECK-NOT: gpu.func @split_kv_shared__s2
// UNFUSED-LABEL: gpu.func @split_kv__s1(
// UNFUSED-SAME: attn.step_args = ["i0", "i1", "i2", "w2", "w3"]
// UNFUSED: gpu.func @split_kv__s2(
// UNFUSED-SAME: attn.step_args = ["w0", "w1", "w2", "w3", "o0", "w4"]
func.func @split_kv(%q: tensor<?x?x?x64xbf16>, %k: tensor<?x?x?x64xbf16>,
                    %v: tensor<?x?x?x64xbf16>) -> tensor<?x?x?x64xbf16> {
  %o1, %lse1 = attn.attention %q, %k, %v mask(#attn.key_part<0, 2>)
       : (tensor<?x?x?x64xbf16>, tensor<?x?x?x64xbf16>, tensor<?x?x?x64xbf16>)
       -> (tensor<?x?x?x64xbf16>, tensor<?x?x?xf32>)
  %o2, %lse2 = attn.attention %q, %k, %v mask(#attn.key_part<1, 2>)
       : (tensor<?x?x?x64xbf16>, tensor<?x?x?x64xbf16>, tensor<?x?x?x64xbf16>)
       -> (tensor<?x?x?x64xbf16>, tensor<?x?x?xf32>)
  %o, %lse = attn.merge %o1, %lse1, %o2, %lse2
       : (tensor<?x?x?x64xbf16>, tensor<?x?x?xf32>, tensor<?x?x?x64xbf16>,
          tensor<?x?x?xf32>) -> (tensor<?x?x?x64xbf16>, tensor<?x?x?xf32>)
  return %o : tensor<?x?x?x64xbf16>
}

func.func @split_kv_shared(%q: tensor<?x?x?x64xbf16>, %k: tensor<?x?x?x64xbf16>,
                           %v: tensor<?x?x?x64xbf16>)
    -> (tensor<?x?x?x64xbf16>, tensor<?x?x?x64xbf16>) {
  %o1, %lse1 = attn.attention %q, %k, %v mask(#attn.key_part<1, 2>)
       : (tensor<?x?x?x64xbf16>, tensor<?x?x?x64xbf16>, tensor<?x?x?x64xbf16>)
       -> (tensor<?x?x?x64xbf16>, tensor<?x?x?xf32>)
  %o2, %lse2 = attn.attention %q, %k, %v mask(#attn.key_part<0, 2>)
       : (tensor<?x?x?x64xbf16>, tensor<?x?x?x64xbf16>, tensor<?x?x?x64xbf16>)
       -> (tensor<?x?x?x64xbf16>, tensor<?x?x?xf32>)
  %o, %lse = attn.merge %o2, %lse2, %o1, %lse1
       : (tensor<?x?x?x64xbf16>, tensor<?x?x?xf32>, tensor<?x?x?x64xbf16>,
          tensor<?x?x?xf32>) -> (tensor<?x?x?x64xbf16>, tensor<?x?x?xf32>)
  return %o, %o1 : tensor<?x?x?x64xbf16>, tensor<?x?x?x64xbf16>
}

// DSA's token select (topk(2048): the warp radix select) over a causal
// indexer's rows: every pass stops at the row's causal end (clamp(t + M -
// N + 1, 0, M), from the scores' shape; DSA's rows are half -inf on
// average), loads 8 chunks of 32 scores before counting any, and the row
// is not rewritten in place first (no first/last/local rule to encode).
// The indexer (64 x 64 tiles on tensor cores) read only by the select:
// tiles past the diagonal are left unwritten (the select never reads
// there), and a tile goes out through shared memory.
// CHECK-LABEL: gpu.func @dsa__s0(
// CHECK: scf.if %{{.*}} {
// CHECK: scf.if %{{.*}} {
// CHECK-NEXT: } else {
// CHECK: %[[OUT:.*]] = memref.view {{.*}} to memref<64x72xf32, #gpu.address_space<workgroup>>
// CHECK-COUNT-32: memref.store %{{.*}}, %[[OUT]]
// CHECK: gpu.barrier
// CHECK: memref.load %[[OUT]]
// CHECK: memref.store {{.*}} : memref<?x1x?x?xf32>
// CHECK-LABEL: gpu.func @dsa__s1(
// CHECK: %[[N:.*]] = memref.dim %arg0, %c2{{.*}} : memref<?x1x?x?xf32>
// CHECK: %[[M:.*]] = memref.dim %arg0, %c3{{.*}} : memref<?x1x?x?xf32>
// CHECK: %[[LO:.*]] = arith.maxsi %c0{{.*}}, %{{.*}} : index
// CHECK: %[[END:.*]] = arith.minsi %[[M]], %[[LO]] : index
// CHECK: %[[SCAN:.*]] = arith.minui %[[END]], %{{.*}} : index
// CHECK: %[[CHUNKS:.*]] = arith.ceildivui %[[SCAN]], %c32{{.*}} : index
// CHECK-NOT: memref.store {{.*}}, %arg0
// CHECK: %[[BATCHES:.*]] = arith.ceildivui %[[CHUNKS]], %c8{{.*}} : index
// CHECK: scf.for %{{.*}} = %c0{{.*}} to %[[BATCHES]]
// CHECK-COUNT-8: memref.load %arg0
// CHECK: memref.atomic_rmw addi
func.func @dsa(%q: tensor<?x?x?x64xbf16>, %k: tensor<?x?x?x64xbf16>,
               %v: tensor<?x?x?x64xbf16>, %qi: tensor<?x4x?x64xbf16>,
               %ki: tensor<?x?x64xf32>, %w: tensor<?x?x4xf32>)
    -> tensor<?x?x?x64xbf16> {
  %s = attn.index_scores %qi, %ki, %w causal
       : (tensor<?x4x?x64xbf16>, tensor<?x?x64xf32>, tensor<?x?x4xf32>)
         -> tensor<?x1x?x?xf32>
  %idx, %cnt = attn.select %s topk(2048)
       : tensor<?x1x?x?xf32> -> (tensor<?x1x?x2048xi32>, tensor<?x1x?xi32>)
  %o = attn.attention %q, %k, %v blocks(%idx, %cnt) block_size(1, 1)
         mask(#attn.causal)
       : (tensor<?x?x?x64xbf16>, tensor<?x?x?x64xbf16>, tensor<?x?x?x64xbf16>,
          tensor<?x1x?x2048xi32>, tensor<?x1x?xi32>) -> tensor<?x?x?x64xbf16>
  return %o : tensor<?x?x?x64xbf16>
}
