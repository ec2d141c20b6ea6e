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

// attn.sample (rows drawn per head of `per`) and attn.gather (any rows,
// repeats allowed, x's heads dividing the rows').
// CHECK-LABEL: func.func @sample_gather
// CHECK: attn.sample %{{.*}} per %{{.*}} count(256) seed(7) : (tensor<?x2x?x64xf32>, tensor<?x8x?x64xf32>) -> tensor<?x8x256xi32>
// CHECK: attn.gather %{{.*}} at %{{.*}} : (tensor<?x2x?x64xf32>, tensor<?x8x256xi32>) -> tensor<?x8x256x64xf32>
// CHECK: attn.sample %{{.*}} count(3) seed(0) : (tensor<4x2x10xf32>) -> tensor<4x2x3xi32>
// CHECK: attn.gather %{{.*}} at %{{.*}} : (tensor<4x2x10xf32>, tensor<4x2x3xi64>) -> tensor<4x2x3xf32>
// CHECK: attn.sample %{{.*}} per %{{.*}} count(5) seed(1) offset(%{{.*}}) : (tensor<?x2x?x64xf32>, tensor<?x8x?x64xf32>, tensor<1xi64>) -> tensor<?x8x5xi32>
func.func @sample_gather(%k: tensor<?x2x?x64xf32>, %q: tensor<?x8x?x64xf32>,
                         %l: tensor<4x2x10xf32>, %r: tensor<4x2x3xi64>, %o: tensor<1xi64>)
    -> (tensor<?x8x256x64xf32>, tensor<4x2x3xi32>, tensor<4x2x3xf32>, tensor<?x8x5xi32>) {
  %c = attn.sample %k per %q count(256) seed(7)
      : (tensor<?x2x?x64xf32>, tensor<?x8x?x64xf32>) -> tensor<?x8x256xi32>
  %g = attn.gather %k at %c
      : (tensor<?x2x?x64xf32>, tensor<?x8x256xi32>) -> tensor<?x8x256x64xf32>
  %s = attn.sample %l count(3) seed(0) : (tensor<4x2x10xf32>) -> tensor<4x2x3xi32>
  %h = attn.gather %l at %r : (tensor<4x2x10xf32>, tensor<4x2x3xi64>) -> tensor<4x2x3xf32>
  %t = attn.sample %k per %q count(5) seed(1) offset(%o)
      : (tensor<?x2x?x64xf32>, tensor<?x8x?x64xf32>, tensor<1xi64>) -> tensor<?x8x5xi32>
  return %g, %s, %h, %t : tensor<?x8x256x64xf32>, tensor<4x2x3xi32>, tensor<4x2x3xf32>, tensor<?x8x5xi32>
}

// attn.split_heads (P results; dim(0) for per-head tables) and
// attn.join_heads.
// CHECK-LABEL: func.func @heads
// CHECK: %{{.*}}:2 = attn.split_heads %{{.*}} : tensor<?x?x?x64xf32> -> tensor<?x?x?x64xf32>, tensor<?x?x?x64xf32>
// CHECK: %{{.*}}:3 = attn.split_heads %{{.*}} dim(0) : tensor<6x8x64xf32> -> tensor<2x8x64xf32>, tensor<2x8x64xf32>, tensor<2x8x64xf32>
// CHECK: attn.join_heads %{{.*}}#0, %{{.*}}#1 : tensor<?x?x?x64xf32>, tensor<?x?x?x64xf32> -> tensor<?x?x?x64xf32>
func.func @heads(%q: tensor<?x?x?x64xf32>, %mu: tensor<6x8x64xf32>)
    -> (tensor<?x?x?x64xf32>, tensor<2x8x64xf32>) {
  %a, %b = attn.split_heads %q
      : tensor<?x?x?x64xf32> -> tensor<?x?x?x64xf32>, tensor<?x?x?x64xf32>
  %m:3 = attn.split_heads %mu dim(0)
      : tensor<6x8x64xf32> -> tensor<2x8x64xf32>, tensor<2x8x64xf32>, tensor<2x8x64xf32>
  %o = attn.join_heads %a, %b
      : tensor<?x?x?x64xf32>, tensor<?x?x?x64xf32> -> tensor<?x?x?x64xf32>
  return %o, %m#1 : tensor<?x?x?x64xf32>, tensor<2x8x64xf32>
}
