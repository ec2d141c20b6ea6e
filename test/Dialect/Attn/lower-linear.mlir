// RUN: attn-opt %s -attn-lower-linear="chunk=16" | FileCheck %s
// RUN: not attn-opt %s -attn-lower-linear="chunk=0" 2>&1 | FileCheck %s --check-prefix=BAD
// RUN: attn-opt %s -attn-lower-linear="chunk=16 lanes=16" | FileCheck %s --check-prefix=VEC
// RUN: not attn-opt %s -attn-lower-linear="lanes=4" 2>&1 | FileCheck %s --check-prefix=BAD-LANES

// With lanes (the CPU pipeline passes its vector width), a chunk's
// products run on register tiles of f32 vectors: phi(q) [C, D], phi(k)^T
// [D, C] and v [C, Dv] packed per chunk, the score rows, the outputs and
// the state update as broadcast-FMAs of 4 rows x 4 vectors.
// VEC-LABEL: func.func @decayed
// VEC: memref.alloc() : memref<16x64xf32>
// VEC: memref.alloc() : memref<64x16xf32>
// VEC: memref.alloc() : memref<16x16xf32>
// VEC: scf.for %{{.*}} = %{{.*}} to %{{.*}} step %c16
// VEC: vector.fma %{{.*}}, %{{.*}}, %{{.*}} : vector<16xf32>
// VEC: vector.store %{{.*}}, %{{.*}}[%{{.*}}, %{{.*}}, %{{.*}}, %{{.*}}] : memref<?x?x?x64xf32>, vector<16xf32>
// The delta rule keeps its token walk (no chunk step), on vectors along
// Dv: u from S^T k, then one pass over S's rows.
// VEC-LABEL: func.func @delta_state
// VEC-NOT: step %c16
// VEC: vector.fma %{{.*}}, %{{.*}}, %{{.*}} : vector<16xf32>
// VEC: vector.store %{{.*}}, %{{.*}}[%{{.*}}, %{{.*}}] : memref<?x?xf32>, vector<16xf32>
// VEC: return
// BAD-LANES: attn-lower-linear: lanes=4 must be 0 (scalar), 8 or 16

// attn.linear becomes a parallel task per (b, h) with an f32 state [D, Dv]
// (and z [D]) walking chunks of 16 tokens: per token the inter-chunk
// product with the state and the intra-chunk products back to the chunk's
// start, then the state update.
// CHECK-LABEL: func.func @decayed
// CHECK: scf.parallel
// CHECK: %[[S:.*]] = memref.alloc({{.*}}) : memref<?x?xf32>
// CHECK: scf.for %{{.*}} = %{{.*}} to %{{.*}} step %c16
// CHECK: scf.for
// CHECK: memref.load %{{.*}}[%{{.*}}] : memref<?xf32>
// CHECK: memref.store %{{.*}}, %[[S]]
// CHECK: memref.dealloc %[[S]]
// CHECK-NOT: attn.linear
// BAD: attn-lower-linear: chunk=0 must be in 1..1024
func.func @decayed(%q: tensor<?x?x?x64xf32>, %k: tensor<?x?x?x64xf32>,
                   %v: tensor<?x?x?x64xf32>, %d: tensor<?xf32>) -> tensor<?x?x?x64xf32> {
  %o = attn.linear %q, %k, %v decay(%d)
       : (tensor<?x?x?x64xf32>, tensor<?x?x?x64xf32>, tensor<?x?x?x64xf32>, tensor<?xf32>) -> tensor<?x?x?x64xf32>
  return %o : tensor<?x?x?x64xf32>
}

// The delta rule with a state in and out: S starts as the state's [b, h],
// the L2 norms of q and k are computed once per token, the walk is token
// by token (no chunk step), and S ends in the final state's buffer.
// CHECK-LABEL: func.func @delta_state
// CHECK: scf.parallel
// CHECK: %[[S2:.*]] = memref.alloc({{.*}}) : memref<?x?xf32>
// CHECK: math.sqrt
// CHECK: memref.load %{{.*}}[%{{.*}}, %{{.*}}, %{{.*}}, %{{.*}}] : memref<?x?x64x64xf32
// CHECK: memref.store %{{.*}}, %[[S2]]
// CHECK: math.exp
// CHECK-NOT: step %c16
// CHECK: memref.store %{{.*}}, %{{.*}}[%{{.*}}, %{{.*}}, %{{.*}}, %{{.*}}] : memref<?x?x64x64xf32>
// CHECK: memref.dealloc %[[S2]]
// CHECK-NOT: attn.linear
func.func @delta_state(%q: tensor<?x?x?x64xf32>, %g: tensor<?x?x?xf32>,
                       %b: tensor<?x?x?xf32>, %s0: tensor<?x?x64x64xf32>)
    -> (tensor<?x?x?x64xf32>, tensor<?x?x64x64xf32>) {
  %o, %s = attn.linear %q, %q, %q log_gate(%g) delta(%b) state(%s0) l2norm
       : (tensor<?x?x?x64xf32>, tensor<?x?x?x64xf32>, tensor<?x?x?x64xf32>,
          tensor<?x?x?xf32>, tensor<?x?x?xf32>, tensor<?x?x64x64xf32>)
       -> (tensor<?x?x?x64xf32>, tensor<?x?x64x64xf32>)
  return %o, %s : tensor<?x?x?x64xf32>, tensor<?x?x64x64xf32>
}
