// RUN: attn-opt %s -attn-lower-merge | FileCheck %s

// attn.merge becomes a parallel task per row (b, h, i): the lse from the
// parts' (max, sum of exponentials, log), then each feature the weighted
// sum of the parts' outputs; the results are tensors again.
// CHECK-LABEL: func.func @split
// CHECK: %[[OUT:.*]] = memref.alloc({{.*}}) : memref<?x?x?x64xf32>
// CHECK: %[[LSE:.*]] = memref.alloc({{.*}}) : memref<?x?x?xf32>
// CHECK: scf.parallel
// CHECK: arith.maximumf
// CHECK: math.log
// CHECK: memref.store %{{.*}}, %[[LSE]]
// CHECK: scf.for
// CHECK: math.fma
// CHECK: memref.store %{{.*}}, %[[OUT]]
// CHECK: bufferization.to_tensor %[[OUT]]
// CHECK-NOT: attn.merge
func.func @split(%o1: tensor<?x?x?x64xf32>, %l1: tensor<?x?x?xf32>,
                 %o2: tensor<?x?x?x64xf32>, %l2: tensor<?x?x?xf32>)
    -> (tensor<?x?x?x64xf32>, tensor<?x?x?xf32>) {
  %o, %lse = attn.merge %o1, %l1, %o2, %l2
       : (tensor<?x?x?x64xf32>, tensor<?x?x?xf32>, tensor<?x?x?x64xf32>,
          tensor<?x?x?xf32>) -> (tensor<?x?x?x64xf32>, tensor<?x?x?xf32>)
  return %o, %lse : tensor<?x?x?x64xf32>, tensor<?x?x?xf32>
}

// A bf16 output: f32 arithmetic, rounded on the store; an unreturned lse
// buffer is freed.
// CHECK-LABEL: func.func @bf16
// CHECK: arith.extf
// CHECK: arith.truncf
// CHECK: memref.dealloc
func.func @bf16(%o1: tensor<?x?x?x64xbf16>, %l1: tensor<?x?x?xf32>,
                %o2: tensor<?x?x?x64xbf16>, %l2: tensor<?x?x?xf32>,
                %o3: tensor<?x?x?x64xbf16>, %l3: tensor<?x?x?xf32>) -> tensor<?x?x?x64xbf16> {
  %o, %lse = attn.merge %o1, %l1, %o2, %l2, %o3, %l3
       : (tensor<?x?x?x64xbf16>, tensor<?x?x?xf32>, tensor<?x?x?x64xbf16>,
          tensor<?x?x?xf32>, tensor<?x?x?x64xbf16>, tensor<?x?x?xf32>)
         -> (tensor<?x?x?x64xbf16>, tensor<?x?x?xf32>)
  return %o : tensor<?x?x?x64xbf16>
}
