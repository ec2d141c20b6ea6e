// attn-lower-select: each selection op becomes an scf.parallel over its rows
// on buffers; a block_scores used only by a select is fused into it (a
// scratch row per task, on the stack up to 4096 scores, else the heap; no
// score matrix); a block_scores whose matrix is
// also returned is materialised once and the select reads its rows.
// RUN: attn-opt %s --attn-lower-select | FileCheck %s
// RUN: attn-opt %s --attn-lower-select=lanes=16 | FileCheck %s --check-prefix=VEC

// CHECK-LABEL: func.func @pool_max
// CHECK:         %[[OUT:.*]] = memref.alloc({{.*}}) : memref<?x?x?x64xbf16>
// CHECK:         scf.parallel
// CHECK:           memref.alloca({{.*}}) : memref<?xf32>
// CHECK:           arith.maximumf
// CHECK:           arith.truncf {{.*}} : f32 to bf16
// CHECK:         bufferization.to_tensor %[[OUT]] restrict writable
// CHECK-NOT:     attn.pool
func.func @pool_max(%x: tensor<?x?x?x64xbf16>) -> tensor<?x?x?x64xbf16> {
  %p = attn.pool %x block(32) kind(max)
        : tensor<?x?x?x64xbf16> -> tensor<?x?x?x64xbf16>
  return %p : tensor<?x?x?x64xbf16>
}

// Sums accumulate in an f64 scratch row and are rounded once.
// CHECK-LABEL: func.func @pool_mean
// CHECK:         scf.parallel
// CHECK:           memref.alloca({{.*}}) : memref<?xf64>
// CHECK:           arith.extf {{.*}} : f32 to f64
// CHECK:           arith.addf {{.*}} : f64
// CHECK:           arith.truncf {{.*}} : f64 to f32
// CHECK-NOT:     attn.pool
func.func @pool_mean(%x: tensor<?x?x?x64xf32>) -> tensor<?x?x?x64xf32> {
  %p = attn.pool %x block(4096) kind(mean)
        : tensor<?x?x?x64xf32> -> tensor<?x?x?x64xf32>
  return %p : tensor<?x?x?x64xf32>
}

// CHECK-LABEL: func.func @fused_topk
// CHECK-NOT:     memref.alloc({{.*}}) : memref<?x?x?x?xf32>
// CHECK:         %[[IDX:.*]] = memref.alloc({{.*}}) : memref<?x?x?x5xi32>
// CHECK:         %[[CNT:.*]] = memref.alloc({{.*}}) : memref<?x?x?xi32>
// CHECK:         scf.parallel
// CHECK:           %[[ROW:.*]] = scf.if
// CHECK:             memref.alloca({{.*}}) : memref<?xf32>
// CHECK:           arith.floordivsi
// CHECK:           arith.mulf {{.*}} fastmath<reassoc,contract>
// CHECK:           memref.store {{.*}}, %[[ROW]]
// CHECK:           scf.while
// CHECK:           memref.store {{.*}}, %[[IDX]]
// CHECK:           memref.store {{.*}}, %[[CNT]]
// CHECK-NOT:     attn.block_scores
// CHECK-NOT:     attn.select
func.func @fused_topk(%q: tensor<?x?x?x64xf32>, %k: tensor<?x?x?x64xf32>,
                      %qp: tensor<?x?x?x64xf32>, %kp: tensor<?x?x?x64xf32>)
    -> (tensor<?x?x?x5xi32>, tensor<?x?x?xi32>) {
  %s = attn.block_scores %qp, %kp causal(%q, %k) block_size(64, 64)
       : (tensor<?x?x?x64xf32>, tensor<?x?x?x64xf32>, tensor<?x?x?x64xf32>,
          tensor<?x?x?x64xf32>) -> tensor<?x?x?x?xf32>
  %i, %n = attn.select %s topk(3) first(1) local(1)
       : tensor<?x?x?x?xf32> -> (tensor<?x?x?x5xi32>, tensor<?x?x?xi32>)
  return %i, %n : tensor<?x?x?x5xi32>, tensor<?x?x?xi32>
}

// CHECK-LABEL: func.func @scores_returned
// CHECK:         %[[S:.*]] = memref.alloc({{.*}}) : memref<?x?x?x?xf32>
// CHECK:         scf.parallel
// CHECK:           memref.store {{.*}}, %[[S]]
// CHECK:         %[[ST:.*]] = bufferization.to_tensor %[[S]]
// CHECK:         %[[SB:.*]] = bufferization.to_buffer %[[ST]]
// CHECK:         %[[IDX:.*]] = memref.alloc({{.*}}) : memref<?x?x?x?xi64>
// CHECK:         scf.parallel
// CHECK:           math.exp
// CHECK:           memref.load %[[SB]]
// CHECK:         return %[[ST]]
func.func @scores_returned(%qp: tensor<?x?x?x64xf32>, %kp: tensor<?x?x?x64xf32>)
    -> (tensor<?x?x?x?xf32>, tensor<?x?x?x?xi64>, tensor<?x?x?xi64>) {
  %s = attn.block_scores %qp, %kp share(max)
       : (tensor<?x?x?x64xf32>, tensor<?x?x?x64xf32>) -> tensor<?x?x?x?xf32>
  %i, %n = attn.select %s threshold(0.5)
       : tensor<?x?x?x?xf32> -> (tensor<?x?x?x?xi64>, tensor<?x?x?xi64>)
  return %s, %i, %n : tensor<?x?x?x?xf32>, tensor<?x?x?x?xi64>, tensor<?x?x?xi64>
}

// A token-level selection: index_scores fused into the select (its rows are
// M long, so the scratch row moves to the heap past 4096 scores), and
// topk above 16 finds its cut by radix select (8-bit digit histograms)
// instead of arg-max passes.
// CHECK-LABEL: func.func @index_topk_radix
// CHECK-NOT:     memref.alloc({{.*}}) : memref<?x1x?x?xf32>
// CHECK:         %[[IDX:.*]] = memref.alloc({{.*}}) : memref<?x1x?x40xi32>
// CHECK:         scf.parallel
// CHECK:           %[[ROW:.*]] = scf.if
// CHECK:             memref.alloca({{.*}}) : memref<?xf32>
// CHECK:             memref.alloc({{.*}}) : memref<?xf32>
// CHECK:           arith.maximumf
// CHECK:           memref.store {{.*}}, %[[ROW]]
// The causal row's scores past t + M - N are -inf: every pass of the
// select stops at that bound (index_scores' legalEnd).
// CHECK:           %[[BOUND:.*]] = arith.minsi
// CHECK:           %[[END:.*]] = arith.minui %[[BOUND]], %{{.*}} : index
// CHECK:           scf.for %{{.*}} = %{{.*}} to %[[END]]
// CHECK:           memref.alloca() : memref<256xi32>
// CHECK:           scf.for %{{.*}} = %{{.*}} to %[[END]]
// CHECK:           arith.bitcast {{.*}} : f32 to i32
// CHECK-NOT:       scf.while
// CHECK:           memref.store {{.*}}, %[[IDX]]
// CHECK:           memref.dealloc %[[ROW]]
// CHECK-NOT:     attn.index_scores
// With vectors (lanes=16, the CPU pipeline's): ki is transposed once into
// blocks of 16 keys before the rows (16 x 16 squares in registers); a row
// reduces 4 heads x 4 key vectors over DI by broadcast FMAs, weights each
// head's relu into the totals, stores whole vectors up to the causal
// bound (the last one masked) and -inf past it; rows run in folded order
// (0, N - 1, 1, ...) so that both threads get long causal rows; the packed
// keys are freed after the rows.
// VEC-LABEL: func.func @index_topk_radix
// VEC:         %[[KT:.*]] = memref.alloc({{.*}}) : memref<?x1x?x64x16xf32>
// VEC:         scf.parallel
// VEC:           vector.shuffle
// VEC:           vector.store {{.*}}, %[[KT]]
// VEC:         scf.parallel
// VEC:           arith.shrui
// VEC:           arith.select
// VEC:           scf.for
// VEC:             scf.for {{.*}} -> (vector<16xf32>, vector<16xf32>, vector<16xf32>, vector<16xf32>)
// VEC:               vector.load %[[KT]]
// VEC:               vector.fma
// VEC:             arith.maximumf {{.*}} : vector<16xf32>
// VEC:           vector.store
// VEC:           vector.maskedstore
// VEC:           vector.maskedstore
// VEC:           memref.alloca() : memref<256xi32>
// VEC:         memref.dealloc %[[KT]]
func.func @index_topk_radix(%qi: tensor<?x4x?x64xf32>, %ki: tensor<?x?x64xf32>,
                            %w: tensor<?x?x4xf32>)
    -> (tensor<?x1x?x40xi32>, tensor<?x1x?xi32>) {
  %s = attn.index_scores %qi, %ki, %w causal
       : (tensor<?x4x?x64xf32>, tensor<?x?x64xf32>, tensor<?x?x4xf32>)
         -> tensor<?x1x?x?xf32>
  %i, %n = attn.select %s topk(40)
       : tensor<?x1x?x?xf32> -> (tensor<?x1x?x40xi32>, tensor<?x1x?xi32>)
  return %i, %n : tensor<?x1x?x40xi32>, tensor<?x1x?xi32>
}

// attn.project: a task per position accumulates concat(x) W into a [Dout]
// scratch row, input feature by input feature (the inner loop runs along a
// weight row), then stores it in the result's type.
// CHECK-LABEL: func.func @project_per_head
// CHECK:         %[[OUT:.*]] = memref.alloc({{.*}}) : memref<?x?x?x16xbf16>
// CHECK:         scf.parallel
// CHECK:           %[[ROW:.*]] = memref.alloca() : memref<16xf32>
// CHECK:           memref.load %{{.*}}[%{{.*}}, %{{.*}}, %{{.*}}] : memref<?x96x16xf32>
// CHECK:           memref.store {{.*}}, %[[ROW]]
// CHECK:           arith.truncf {{.*}} : f32 to bf16
// CHECK:           memref.store {{.*}}, %[[OUT]]
// CHECK-NOT:     attn.project
func.func @project_per_head(%a: tensor<?x?x?x64xf32>, %b: tensor<?x?x?x32xbf16>,
                            %w: tensor<?x96x16xf32>) -> tensor<?x?x?x16xbf16> {
  %p = attn.project %a, %b weight(%w)
       : (tensor<?x?x?x64xf32>, tensor<?x?x?x32xbf16>, tensor<?x96x16xf32>)
         -> tensor<?x?x?x16xbf16>
  return %p : tensor<?x?x?x16xbf16>
}
