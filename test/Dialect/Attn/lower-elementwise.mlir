// RUN: attn-opt %s -attn-lower-elementwise | FileCheck %s

// A program's upstream elementwise ops become parallel loops over their
// results' elements on buffers of their own: an intermediate is freed
// before the return, the returned one is the caller's; arithmetic in f32.
// CHECK-LABEL: func.func @gated
// CHECK: %[[B:.*]] = memref.alloc({{.*}}) : memref<?x?x?x64xbf16>
// CHECK: scf.parallel
// CHECK: memref.load %{{.*}}[%{{.*}}, %{{.*}}, %{{.*}}] : memref<?x?x?xbf16>
// CHECK: %[[M:.*]] = memref.alloc({{.*}}) : memref<?x?x?x64xbf16>
// CHECK: scf.parallel
// CHECK: arith.extf
// CHECK: arith.mulf %{{.*}}, %{{.*}} : f32
// CHECK: arith.truncf
// CHECK-NOT: arith.mulf %{{.*}} : tensor
// CHECK: memref.dealloc %[[B]]
// CHECK-NOT: memref.dealloc %[[M]]
// CHECK: return
func.func @gated(%o: tensor<?x?x?x64xbf16>, %g: tensor<?x?x?xbf16>) -> tensor<?x?x?x64xbf16> {
  %gb = linalg.broadcast ins(%g : tensor<?x?x?xbf16>) outs(%o : tensor<?x?x?x64xbf16>) dimensions = [3]
  %r = arith.mulf %gb, %o : tensor<?x?x?x64xbf16>
  return %r : tensor<?x?x?x64xbf16>
}
