// RUN: attn-opt %s -attn-lower-route | FileCheck %s
// RUN: attn-opt %s -attn-lower-route="lanes=16" | FileCheck %s --check-prefix=VEC

// attn.route: a task per token computes its bucket from float64 dots (the
// reference's sums), then a task per (b, h) row counts, prefixes and
// scatters positions (a stable counting sort); LSH sign words are a
// constant global made at compile time. Each term is one f64 fma: the
// product of two f32 values is exact in f64, so it rounds as s + x m did.
// CHECK: memref.global "private" constant @__attn_route_signs_{{[0-9]+}} : memref<64xi32> = dense<
// CHECK-LABEL: func.func @kmeans
// CHECK: %[[BUCKET:.*]] = memref.alloc({{.*}}) : memref<?x?x?xi32>
// CHECK: %[[PERM:.*]] = memref.alloc({{.*}}) : memref<?x?x?xi32>
// CHECK: scf.parallel
// CHECK: arith.extf %{{.*}} : f32 to f64
// CHECK: math.fma %{{.*}} : f64
// CHECK: arith.cmpf ogt
// CHECK: memref.store %{{.*}}, %[[BUCKET]]
// CHECK: scf.parallel
// CHECK: memref.alloc(%{{.*}}) : memref<?xindex>
// CHECK: memref.store %{{.*}}, %[[PERM]]
// CHECK: memref.dealloc
// CHECK: bufferization.to_tensor %[[PERM]]
// CHECK-NOT: attn.route
func.func @kmeans(%x: tensor<?x?x?x64xf32>, %mu: tensor<?x8x64xf32>)
    -> (tensor<?x?x?xi32>, tensor<?x?x?xi32>) {
  %perm, %bucket = attn.route %x centroids(%mu)
      : (tensor<?x?x?x64xf32>, tensor<?x8x64xf32>) -> (tensor<?x?x?xi32>, tensor<?x?x?xi32>)
  return %perm, %bucket : tensor<?x?x?xi32>, tensor<?x?x?xi32>
}

// CHECK-LABEL: func.func @lsh
// CHECK: memref.get_global @__attn_route_signs_{{[0-9]+}} : memref<64xi32>
// CHECK: arith.extf %{{.*}} : bf16 to f64
// CHECK: arith.negf
// CHECK: arith.cmpf oge
// CHECK: memref.dealloc %{{.*}} : memref<?x?x?xi32>
func.func @lsh(%x: tensor<?x?x?x64xbf16>) -> tensor<?x?x?xi32> {
  %perm, %bucket = attn.route %x lsh(3, 7)
      : (tensor<?x?x?x64xbf16>) -> (tensor<?x?x?xi32>, tensor<?x?x?xi32>)
  return %perm : tensor<?x?x?xi32>
}

// attn.permute: a task per token; a gather reads x's head h Hx / H.
// CHECK-LABEL: func.func @permute
// CHECK: scf.parallel
// CHECK: arith.index_cast %{{.*}} : i32 to index
// CHECK: arith.muli
// CHECK: arith.divui
// CHECK: scf.for
// CHECK: memref.load
// CHECK: memref.store
// CHECK-NOT: attn.permute
func.func @permute(%k: tensor<?x?x?x64xf32>, %p: tensor<?x?x?xi32>)
    -> tensor<?x?x?x64xf32> {
  %ks = attn.permute %k by %p
      : (tensor<?x?x?x64xf32>, tensor<?x?x?xi32>) -> tensor<?x?x?x64xf32>
  return %ks : tensor<?x?x?x64xf32>
}

// attn.landmark: a task per query row; its scratch (landmark logits, the
// block's scores) on the stack when short, else on the heap; the top-k
// passes mark a taken logit NaN; out and lse are written per row.
// CHECK-LABEL: func.func @landmark
// CHECK: scf.parallel
// CHECK: memref.alloca
// CHECK: memref.alloc
// CHECK: math.exp
// CHECK: arith.cmpf ogt
// CHECK: arith.constant 0x7FC00000 : f32
// CHECK: math.log
// CHECK-NOT: attn.landmark
// With lanes (the CPU pipeline's): q_i scaled once into vectors, a block's
// scores by vector dots, its max and exp on whole chunks of the scratch
// (lanes at or past the block's end masked), P V in vector registers.
// VEC-LABEL: func.func @landmark
// VEC: scf.parallel
// VEC: memref.alloca() : memref<64xf32>
// VEC: vector.load {{.*}} vector<16xf32>
// VEC: arith.mulf {{.*}} : vector<16xf32>
// VEC: math.fma {{.*}} : vector<16xf32>
// VEC: vector.reduction <add>
// VEC: arith.cmpi ult, {{.*}} : vector<16xi32>
// VEC: vector.reduction <maximumf>
// VEC: math.exp {{.*}} : vector<16xf32>
// VEC: scf.for {{.*}} -> (vector<16xf32>, vector<16xf32>, vector<16xf32>, vector<16xf32>)
// VEC-NOT: attn.landmark
func.func @landmark(%q: tensor<?x?x?x64xf32>, %k: tensor<?x?x?x64xf32>,
                    %v: tensor<?x?x?x64xf32>, %lk: tensor<?x?x?x64xf32>)
    -> (tensor<?x?x?x64xf32>, tensor<?x?x?xf32>) {
  %o, %lse = attn.landmark %q, %k, %v, %lk block(64) topk(4)
      : (tensor<?x?x?x64xf32>, tensor<?x?x?x64xf32>, tensor<?x?x?x64xf32>,
         tensor<?x?x?x64xf32>) -> (tensor<?x?x?x64xf32>, tensor<?x?x?xf32>)
  return %o, %lse : tensor<?x?x?x64xf32>, tensor<?x?x?xf32>
}

// A block longer than 256 keys: its scores scratch is one piece of 256 and
// the block is folded piece by piece (an online softmax over pieces), so
// block(65536) neither unrolls 4096 chunks nor puts 256 KB on the stack.
// VEC-LABEL: func.func @landmark_long_blocks
// VEC: memref.alloca() : memref<256xf32>
// VEC: %[[PIECE:.*]] = arith.constant 256 : index
// VEC: scf.for {{.*}} step %[[PIECE]] iter_args({{.*}}) -> (f32, f32, vector<16xf32>, vector<16xf32>, vector<16xf32>, vector<16xf32>)
// VEC-NOT: memref<65536xf32>
func.func @landmark_long_blocks(%q: tensor<?x?x?x64xf32>, %k: tensor<?x?x?x64xf32>,
                    %v: tensor<?x?x?x64xf32>, %lk: tensor<?x?x?x64xf32>)
    -> (tensor<?x?x?x64xf32>, tensor<?x?x?xf32>) {
  %o, %lse = attn.landmark %q, %k, %v, %lk block(65536) topk(4)
      : (tensor<?x?x?x64xf32>, tensor<?x?x?x64xf32>, tensor<?x?x?x64xf32>,
         tensor<?x?x?x64xf32>) -> (tensor<?x?x?x64xf32>, tensor<?x?x?xf32>)
  return %o, %lse : tensor<?x?x?x64xf32>, tensor<?x?x?xf32>
}

// chunks(C): a second counting sort per row, by the chunk of each token's
// slot (slot = its place in the first order; scratch on the heap).
// CHECK-LABEL: func.func @chunks
// CHECK: scf.parallel
// CHECK: memref.alloc(%{{.*}}) : memref<?xindex>
// CHECK: arith.ceildivui
// CHECK: arith.divui
// CHECK: memref.dealloc
func.func @chunks(%x: tensor<?x?x?x64xf32>) -> tensor<?x?x?xi32> {
  %perm, %bucket = attn.route %x lsh(3, 7) chunks(4)
      : (tensor<?x?x?x64xf32>) -> (tensor<?x?x?xi32>, tensor<?x?x?xi32>)
  return %perm : tensor<?x?x?xi32>
}

// attn.sample: a task per drawn row (Philox on 32-bit multiplies);
// attn.gather: a task per row, one branch per row (copy or zeros).
// CHECK-LABEL: func.func @sampled
// CHECK: %[[ROWS:.*]] = memref.alloc({{.*}}) : memref<?x?x16xi32>
// CHECK: scf.parallel
// CHECK-COUNT-20: arith.mului_extended
// CHECK: arith.shrui
// CHECK: memref.store %{{.*}}, %[[ROWS]]
// CHECK: scf.parallel
// CHECK: arith.cmpi ult
// CHECK: scf.if
// CHECK: scf.for
// CHECK: memref.load
// CHECK: } else {
// CHECK: scf.for
// CHECK-NOT: attn.sample
// CHECK-NOT: attn.gather
func.func @sampled(%k: tensor<?x?x?x64xf32>) -> tensor<?x?x16x64xf32> {
  %r = attn.sample %k count(16) seed(3)
      : (tensor<?x?x?x64xf32>) -> tensor<?x?x16xi32>
  %g = attn.gather %k at %r
      : (tensor<?x?x?x64xf32>, tensor<?x?x16xi32>) -> tensor<?x?x16x64xf32>
  return %g : tensor<?x?x16x64xf32>
}

// attn.split_heads: a buffer per part, part p copying heads floor(p H / P)
// + t; attn.join_heads: part p's heads at p Hp + t of one buffer.
// CHECK-LABEL: func.func @heads
// CHECK: %[[H:.*]] = memref.dim %{{.*}}, %c1
// CHECK: %[[HP:.*]] = arith.ceildivui %[[H]], %c2
// CHECK: %[[P0:.*]] = memref.alloc(%{{.*}}, %[[HP]], %{{.*}}) : memref<?x?x?x64xf32>
// CHECK: scf.parallel
// CHECK: scf.for
// CHECK: memref.load
// CHECK: memref.store %{{.*}}, %[[P0]]
// CHECK: %[[P1:.*]] = memref.alloc(%{{.*}}, %[[HP]], %{{.*}}) : memref<?x?x?x64xf32>
// CHECK: arith.divui
// CHECK: memref.store %{{.*}}, %[[P1]]
// CHECK: %[[OUT:.*]] = memref.alloc({{.*}}) : memref<?x?x?x64xf32>
// CHECK: memref.store %{{.*}}, %[[OUT]]
// CHECK: memref.store %{{.*}}, %[[OUT]]
// CHECK-NOT: attn.split_heads
// CHECK-NOT: attn.join_heads
func.func @heads(%q: tensor<?x?x?x64xf32>) -> tensor<?x?x?x64xf32> {
  %a, %b = attn.split_heads %q
      : tensor<?x?x?x64xf32> -> tensor<?x?x?x64xf32>, tensor<?x?x?x64xf32>
  %o = attn.join_heads %b, %a
      : tensor<?x?x?x64xf32>, tensor<?x?x?x64xf32> -> tensor<?x?x?x64xf32>
  return %o : tensor<?x?x?x64xf32>
}
