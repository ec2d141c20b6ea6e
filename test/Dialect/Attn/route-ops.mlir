// RUN: attn-opt %s | attn-opt | FileCheck %s
// RUN: attn-opt %s -mlir-print-op-generic | attn-opt | FileCheck %s

// Round trip of attn.route (issue 21, first step): buckets by nearest
// centroid or by LSH sign bits, and the stable (bucket, position) order.

// CHECK-LABEL: func.func @kmeans
// CHECK: attn.route %{{.*}} centroids(%{{.*}}) : (tensor<?x?x?x64xf32>, tensor<?x8x64xf32>) -> (tensor<?x?x?xi32>, tensor<?x?x?xi32>)
func.func @kmeans(%x: tensor<?x?x?x64xf32>, %mu: tensor<?x8x64xf32>)
    -> (tensor<?x?x?xi32>, tensor<?x?x?xi32>) {
  %perm, %bucket = attn.route %x centroids(%mu)
      : (tensor<?x?x?x64xf32>, tensor<?x8x64xf32>) -> (tensor<?x?x?xi32>, tensor<?x?x?xi32>)
  return %perm, %bucket : tensor<?x?x?xi32>, tensor<?x?x?xi32>
}

// CHECK-LABEL: func.func @lsh
// CHECK: attn.route %{{.*}} lsh(8, 42) : (tensor<2x4x100x64xbf16>) -> (tensor<2x4x100xi32>, tensor<2x4x100xi32>)
func.func @lsh(%x: tensor<2x4x100x64xbf16>) -> tensor<2x4x100xi32> {
  %perm, %bucket = attn.route %x lsh(8, 42)
      : (tensor<2x4x100x64xbf16>) -> (tensor<2x4x100xi32>, tensor<2x4x100xi32>)
  return %perm : tensor<2x4x100xi32>
}

// attn.permute: gather into the routed order (k of a GQA group per query
// head), scatter back (an lse too), and #attn.balanced over that order.
// CHECK-LABEL: func.func @permute
// CHECK: attn.permute %{{.*}} by %{{.*}} : (tensor<1x2x100x64xbf16>, tensor<1x8x100xi32>) -> tensor<1x8x100x64xbf16>
// CHECK: attn.attention {{.*}}mask(#attn.balanced<4>)
// CHECK: attn.permute %{{.*}} by %{{.*}} inverse : (tensor<1x8x100x64xbf16>, tensor<1x8x100xi32>) -> tensor<1x8x100x64xbf16>
// CHECK: attn.permute %{{.*}} by %{{.*}} inverse : (tensor<1x8x100xf32>, tensor<1x8x100xi64>) -> tensor<1x8x100xf32>
func.func @permute(%q: tensor<1x8x100x64xbf16>, %k: tensor<1x2x100x64xbf16>,
                   %p: tensor<1x8x100xi32>, %p64: tensor<1x8x100xi64>)
    -> (tensor<1x8x100x64xbf16>, tensor<1x8x100xf32>) {
  %qs = attn.permute %q by %p
      : (tensor<1x8x100x64xbf16>, tensor<1x8x100xi32>) -> tensor<1x8x100x64xbf16>
  %ks = attn.permute %k by %p
      : (tensor<1x2x100x64xbf16>, tensor<1x8x100xi32>) -> tensor<1x8x100x64xbf16>
  %os, %lse = attn.attention %qs, %ks, %ks mask(#attn.balanced<4>)
      : (tensor<1x8x100x64xbf16>, tensor<1x8x100x64xbf16>, tensor<1x8x100x64xbf16>)
      -> (tensor<1x8x100x64xbf16>, tensor<1x8x100xf32>)
  %o = attn.permute %os by %p inverse
      : (tensor<1x8x100x64xbf16>, tensor<1x8x100xi32>) -> tensor<1x8x100x64xbf16>
  %l = attn.permute %lse by %p64 inverse
      : (tensor<1x8x100xf32>, tensor<1x8x100xi64>) -> tensor<1x8x100xf32>
  return %o, %l : tensor<1x8x100x64xbf16>, tensor<1x8x100xf32>
}

// attn.landmark: blocks of 64 with one landmark key each, top-4 retrieval.
// CHECK-LABEL: func.func @landmark
// CHECK: attn.landmark %{{.*}}, %{{.*}}, %{{.*}}, %{{.*}} block(64) topk(4) : (tensor<?x8x?x64xbf16>, tensor<?x2x?x64xbf16>, tensor<?x2x?x64xbf16>, tensor<?x2x?x64xbf16>) -> (tensor<?x8x?x64xbf16>, tensor<?x8x?xf32>)
// CHECK: attn.landmark %{{.*}} block(16) scale(1.250000e-01) :
func.func @landmark(%q: tensor<?x8x?x64xbf16>, %k: tensor<?x2x?x64xbf16>,
                    %v: tensor<?x2x?x64xbf16>, %lk: tensor<?x2x?x64xbf16>)
    -> (tensor<?x8x?x64xbf16>, tensor<?x8x?xf32>) {
  %o, %lse = attn.landmark %q, %k, %v, %lk block(64) topk(4)
      : (tensor<?x8x?x64xbf16>, tensor<?x2x?x64xbf16>, tensor<?x2x?x64xbf16>,
         tensor<?x2x?x64xbf16>) -> (tensor<?x8x?x64xbf16>, tensor<?x8x?xf32>)
  %o2, %lse2 = attn.landmark %q, %k, %v, %lk block(16) scale(0.125)
      : (tensor<?x8x?x64xbf16>, tensor<?x2x?x64xbf16>, tensor<?x2x?x64xbf16>,
         tensor<?x2x?x64xbf16>) -> (tensor<?x8x?x64xbf16>, tensor<?x8x?xf32>)
  return %o, %lse : tensor<?x8x?x64xbf16>, tensor<?x8x?xf32>
}

// chunks(C): the balanced chunks of the routed order, each in position order.
// CHECK-LABEL: func.func @chunks
// CHECK: attn.route %{{.*}} lsh(3, 9) chunks(4) :
func.func @chunks(%x: tensor<?x?x?x64xf32>) -> tensor<?x?x?xi32> {
  %perm, %bucket = attn.route %x lsh(3, 9) chunks(4)
      : (tensor<?x?x?x64xf32>) -> (tensor<?x?x?xi32>, tensor<?x?x?xi32>)
  return %perm : tensor<?x?x?xi32>
}
