// RUN: attn-opt %s | attn-opt | FileCheck %s

// attn.scan round-trips with and without its optional regions.

// CHECK-LABEL: func.func @aaren
// CHECK: attn.scan %{{.*}}, %{{.*}} leaf {
// CHECK: attn.yield %{{.*}}, %{{.*}}, %{{.*}} : f32, f32, f32
// CHECK: } combine {
// CHECK: } result {
// CHECK: : (tensor<?x?x?x1xf32>, tensor<?x?x?x64xbf16>) -> tensor<?x?x?x64xbf16>
func.func @aaren(%s: tensor<?x?x?x1xf32>, %v: tensor<?x?x?x64xbf16>)
    -> tensor<?x?x?x64xbf16> {
  %o = attn.scan %s, %v
    leaf {
    ^bb0(%st: f32, %vt: f32):
      %one = arith.constant 1.0 : f32
      attn.yield %st, %one, %vt : f32, f32, f32
    } combine {
    ^bb0(%ma: f32, %ua: f32, %wa: f32, %mb: f32, %ub: f32, %wb: f32):
      %m = arith.maximumf %ma, %mb : f32
      %ea = math.exp %ma : f32
      %u = arith.addf %ua, %ub : f32
      %w = arith.addf %wa, %wb : f32
      attn.yield %m, %u, %w : f32, f32, f32
    } result {
    ^bb0(%m: f32, %u: f32, %w: f32):
      %o = arith.divf %w, %u : f32
      attn.yield %o : f32
    } : (tensor<?x?x?x1xf32>, tensor<?x?x?x64xbf16>) -> tensor<?x?x?x64xbf16>
  return %o : tensor<?x?x?x64xbf16>
}

// A plain cumulative sum: the inputs are the state, the state the results.
// CHECK-LABEL: func.func @cumsum
// CHECK: attn.scan %{{.*}} combine {
// CHECK-NOT: result {
func.func @cumsum(%x: tensor<?x?x?xf32>) -> tensor<?x?x?xf32> {
  %y = attn.scan %x combine {
    ^bb0(%a: f32, %b: f32):
      %s = arith.addf %a, %b : f32
      attn.yield %s : f32
    } : (tensor<?x?x?xf32>) -> tensor<?x?x?xf32>
  return %y : tensor<?x?x?xf32>
}

// A segmented scan: the leaf also takes the position in the segment.
// CHECK-LABEL: func.func @segmented
// CHECK: attn.scan %{{.*}} segment(16) leaf {
// CHECK: ^bb0(%{{.*}}: f32, %{{.*}}: index):
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
