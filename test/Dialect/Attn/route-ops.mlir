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
