// RUN: attn-opt %s -attn-lower-scan=chunk=128 | FileCheck %s

// attn.scan becomes three parallel loops: chunk totals (a fold from each
// chunk's first leaf), the totals scanned per row, then each chunk folded
// again from its carry with every prefix written. The regions are inlined
// on vectors of 16 features; a per-token input is broadcast.
// CHECK-LABEL: func.func @aaren
// CHECK: %[[TOT:.*]] = memref.alloc({{.*}}) : memref<?x?x?x192xf32>
// CHECK: scf.parallel
// CHECK: scf.for
// CHECK: vector.broadcast %{{.*}} : f32 to vector<16xf32>
// CHECK: math.exp %{{.*}} : vector<16xf32>
// CHECK: vector.store %{{.*}}, %[[TOT]]
// CHECK: scf.parallel
// CHECK: scf.for
// CHECK: vector.store %{{.*}}, %[[TOT]]
// CHECK: scf.parallel
// CHECK: scf.if
// CHECK: arith.divf %{{.*}} : vector<16xf32>
// CHECK: vector.store
// CHECK: scf.for
// CHECK: memref.dealloc %[[TOT]]
// CHECK-NOT: attn.scan
func.func @aaren(%s: tensor<?x?x?x1xf32>, %v: tensor<?x?x?x64xf32>)
    -> tensor<?x?x?x64xf32> {
  %o = attn.scan %s, %v
    leaf {
    ^bb0(%st: f32, %vt: f32):
      %one = arith.constant 1.0 : f32
      attn.yield %st, %one, %vt : f32, f32, f32
    } combine {
    ^bb0(%ma: f32, %ua: f32, %wa: f32, %mb: f32, %ub: f32, %wb: f32):
      %m = arith.maximumf %ma, %mb : f32
      %da = arith.subf %ma, %m : f32
      %ea = math.exp %da : f32
      %db = arith.subf %mb, %m : f32
      %eb = math.exp %db : f32
      %u0 = arith.mulf %ua, %ea : f32
      %u = math.fma %ub, %eb, %u0 : f32
      %w0 = arith.mulf %wa, %ea : f32
      %w = math.fma %wb, %eb, %w0 : f32
      attn.yield %m, %u, %w : f32, f32, f32
    } result {
    ^bb0(%m: f32, %u: f32, %w: f32):
      %o = arith.divf %w, %u : f32
      attn.yield %o : f32
    } : (tensor<?x?x?x1xf32>, tensor<?x?x?x64xf32>) -> tensor<?x?x?x64xf32>
  return %o : tensor<?x?x?x64xf32>
}

// F = 1: scalars. A cumulative sum.
// CHECK-LABEL: func.func @cumsum
// CHECK: memref.alloc({{.*}}) : memref<?x?x?x1xf32>
// CHECK: scf.parallel
// CHECK: arith.addf %{{.*}} : f32
// CHECK-NOT: attn.scan
func.func @cumsum(%x: tensor<?x?x?xf32>) -> tensor<?x?x?xf32> {
  %y = attn.scan %x combine {
    ^bb0(%a: f32, %b: f32):
      %s = arith.addf %a, %b : f32
      attn.yield %s : f32
    } : (tensor<?x?x?xf32>) -> tensor<?x?x?xf32>
  return %y : tensor<?x?x?xf32>
}

// segment(16): chunks of whole segments (128 = 8 of them), no totals and
// no carries; each token restarts the state where its position is 0.
// CHECK-LABEL: func.func @segmented
// CHECK: scf.parallel
// CHECK-NOT: scf.if
// CHECK: arith.remui %{{.*}}, %c16
// CHECK: arith.select
// CHECK-NOT: scf.if
// CHECK-NOT: attn.scan
func.func @segmented(%x: tensor<?x?x?x8xf32>) -> tensor<?x?x?x8xf32> {
  %y = attn.scan %x segment(16) leaf {
    ^bb0(%a: f32, %pos: index):
      attn.yield %a : f32
    } combine {
    ^bb0(%a: f32, %b: f32):
      %s = arith.addf %a, %b : f32
      attn.yield %s : f32
    } : (tensor<?x?x?x8xf32>) -> tensor<?x?x?x8xf32>
  return %y : tensor<?x?x?x8xf32>
}
