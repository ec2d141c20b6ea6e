// RUN: attn-opt %s | attn-opt | FileCheck %s
// RUN: attn-opt %s -mlir-print-op-generic | attn-opt | FileCheck %s

// Round trip of the selection family (pool, block_scores, select) and a
// whole program that feeds a selected list to attn.attention.

// CHECK-LABEL: func.func @topk_blocks
// CHECK: %[[QP:.*]] = attn.pool %{{.*}} block(64) kind(mean) : tensor<?x?x?x64xf32> -> tensor<?x?x?x64xf32>
// CHECK: %[[KP:.*]] = attn.pool %{{.*}} block(64) kind(mean)
// CHECK: %[[S:.*]] = attn.block_scores %[[QP]], %[[KP]] causal(%{{.*}}, %{{.*}}) block_size(64, 64) : (tensor<?x?x?x64xf32>, tensor<?x?x?x64xf32>, tensor<?x?x?x64xf32>, tensor<?x?x?x64xf32>) -> tensor<?x?x?x?xf32>
// CHECK: %{{.*}}, %{{.*}} = attn.select %[[S]] topk(8) first(1) local(1) : tensor<?x?x?x?xf32> -> (tensor<?x?x?x10xi32>, tensor<?x?x?xi32>)
// CHECK: attn.attention {{.*}} blocks({{.*}}) block_size(64, 64) mask(#attn.causal)
func.func @topk_blocks(%q: tensor<?x?x?x64xf32>, %k: tensor<?x?x?x64xf32>,
                       %v: tensor<?x?x?x64xf32>) -> tensor<?x?x?x64xf32> {
  %qp = attn.pool %q block(64) kind(mean) : tensor<?x?x?x64xf32> -> tensor<?x?x?x64xf32>
  %kp = attn.pool %k block(64) kind(mean) : tensor<?x?x?x64xf32> -> tensor<?x?x?x64xf32>
  %s = attn.block_scores %qp, %kp causal(%q, %k) block_size(64, 64)
       : (tensor<?x?x?x64xf32>, tensor<?x?x?x64xf32>, tensor<?x?x?x64xf32>,
          tensor<?x?x?x64xf32>) -> tensor<?x?x?x?xf32>
  %idx, %cnt = attn.select %s topk(8) first(1) local(1)
       : tensor<?x?x?x?xf32> -> (tensor<?x?x?x10xi32>, tensor<?x?x?xi32>)
  %o = attn.attention %q, %k, %v blocks(%idx, %cnt) block_size(64, 64)
       mask(#attn.causal)
       : (tensor<?x?x?x64xf32>, tensor<?x?x?x64xf32>, tensor<?x?x?x64xf32>,
          tensor<?x?x?x10xi32>, tensor<?x?x?xi32>) -> tensor<?x?x?x64xf32>
  return %o : tensor<?x?x?x64xf32>
}

// CHECK-LABEL: func.func @every_kind
// CHECK: kind(max)
// CHECK: kind(min)
// CHECK: kind(sum)
// CHECK: kind(mean_sqrt)
// CHECK: kind(first)
// CHECK: kind(last)
// CHECK: attn.block_scores %{{.*}}, %{{.*}} scale(5.000000e-01) share(max) : (tensor<2x8x3x32xf32>, tensor<2x2x5x32xf32>) -> tensor<2x2x3x5xf32>
// CHECK: attn.select %{{.*}} threshold(9.000000e-01) last(2) : tensor<2x2x3x5xf32> -> (tensor<2x2x3x5xi64>, tensor<2x2x3xi64>)
func.func @every_kind(%x: tensor<2x8x100x32xf32>, %y: tensor<2x2x300x32xbf16>)
    -> (tensor<2x8x4x32xf32>, tensor<2x8x4x32xf32>, tensor<2x8x4x32xf32>,
        tensor<2x8x4x32xf32>, tensor<2x8x4x32xf32>, tensor<2x2x5x32xbf16>,
        tensor<2x2x3x5xi64>, tensor<2x2x3xi64>) {
  %a = attn.pool %x block(25) kind(max) : tensor<2x8x100x32xf32> -> tensor<2x8x4x32xf32>
  %b = attn.pool %x block(25) kind(min) : tensor<2x8x100x32xf32> -> tensor<2x8x4x32xf32>
  %c = attn.pool %x block(30) kind(sum) : tensor<2x8x100x32xf32> -> tensor<2x8x4x32xf32>
  %d = attn.pool %x block(33) kind(mean_sqrt) : tensor<2x8x100x32xf32> -> tensor<2x8x4x32xf32>
  %e = attn.pool %x block(26) kind(first) : tensor<2x8x100x32xf32> -> tensor<2x8x4x32xf32>
  %f = attn.pool %y block(64) kind(last) : tensor<2x2x300x32xbf16> -> tensor<2x2x5x32xbf16>
  %qs = attn.pool %x block(40) kind(mean) : tensor<2x8x100x32xf32> -> tensor<2x8x3x32xf32>
  %ks = attn.pool %y block(60) kind(mean) : tensor<2x2x300x32xbf16> -> tensor<2x2x5x32xf32>
  %s = attn.block_scores %qs, %ks scale(0.5) share(max)
       : (tensor<2x8x3x32xf32>, tensor<2x2x5x32xf32>) -> tensor<2x2x3x5xf32>
  %i, %n = attn.select %s threshold(0.9) last(2)
       : tensor<2x2x3x5xf32> -> (tensor<2x2x3x5xi64>, tensor<2x2x3xi64>)
  return %a, %b, %c, %d, %e, %f, %i, %n
      : tensor<2x8x4x32xf32>, tensor<2x8x4x32xf32>, tensor<2x8x4x32xf32>,
        tensor<2x8x4x32xf32>, tensor<2x8x4x32xf32>, tensor<2x2x5x32xbf16>,
        tensor<2x2x3x5xi64>, tensor<2x2x3xi64>
}

// CHECK-LABEL: func.func @dsa_indexer
// CHECK: %[[S:.*]] = attn.index_scores %{{.*}}, %{{.*}}, %{{.*}} causal : (tensor<?x4x?x64xf32>, tensor<?x?x64xf32>, tensor<?x?x4xf32>) -> tensor<?x1x?x?xf32>
// CHECK: attn.select %[[S]] topk(2048) : tensor<?x1x?x?xf32> -> (tensor<?x1x?x2048xi32>, tensor<?x1x?xi32>)
// CHECK: attn.attention {{.*}} blocks({{.*}}) block_size(1, 1) mask(#attn.causal)
func.func @dsa_indexer(%q: tensor<?x?x?x64xf32>, %k: tensor<?x?x?x64xf32>,
                       %v: tensor<?x?x?x64xf32>, %qi: tensor<?x4x?x64xf32>,
                       %ki: tensor<?x?x64xf32>, %w: tensor<?x?x4xf32>)
    -> tensor<?x?x?x64xf32> {
  %s = attn.index_scores %qi, %ki, %w causal
       : (tensor<?x4x?x64xf32>, tensor<?x?x64xf32>, tensor<?x?x4xf32>)
         -> tensor<?x1x?x?xf32>
  %idx, %cnt = attn.select %s topk(2048)
       : tensor<?x1x?x?xf32> -> (tensor<?x1x?x2048xi32>, tensor<?x1x?xi32>)
  %o = attn.attention %q, %k, %v blocks(%idx, %cnt) block_size(1, 1)
         mask(#attn.causal)
       : (tensor<?x?x?x64xf32>, tensor<?x?x?x64xf32>, tensor<?x?x?x64xf32>,
          tensor<?x1x?x2048xi32>, tensor<?x1x?xi32>) -> tensor<?x?x?x64xf32>
  return %o : tensor<?x?x?x64xf32>
}

// CHECK-LABEL: func.func @index_scores_not_causal
// CHECK: attn.index_scores %{{.*}}, %{{.*}}, %{{.*}} : (tensor<2x3x5x32xbf16>, tensor<2x7x32xbf16>, tensor<2x5x3xf32>) -> tensor<2x1x5x7xf32>
func.func @index_scores_not_causal(%qi: tensor<2x3x5x32xbf16>, %ki: tensor<2x7x32xbf16>,
                                   %w: tensor<2x5x3xf32>) -> tensor<2x1x5x7xf32> {
  %s = attn.index_scores %qi, %ki, %w
       : (tensor<2x3x5x32xbf16>, tensor<2x7x32xbf16>, tensor<2x5x3xf32>) -> tensor<2x1x5x7xf32>
  return %s : tensor<2x1x5x7xf32>
}

// CHECK-LABEL: func.func @pointer
// CHECK: %[[P:.*]] = attn.probs %{{.*}}, %{{.*}} mask(#attn.causal) scale(5.000000e-01) : (tensor<?x?x?x64xf32>, tensor<?x?x?x64xf32>) -> tensor<?x?x?x?xf32>
// CHECK: attn.select %[[P]] topk(1)
func.func @pointer(%q: tensor<?x?x?x64xf32>, %k: tensor<?x?x?x64xf32>)
    -> (tensor<?x?x?x?xf32>, tensor<?x?x?x1xi32>, tensor<?x?x?xi32>) {
  %p = attn.probs %q, %k mask(#attn.causal) scale(0.5)
       : (tensor<?x?x?x64xf32>, tensor<?x?x?x64xf32>) -> tensor<?x?x?x?xf32>
  %ptr, %cnt = attn.select %p topk(1)
       : tensor<?x?x?x?xf32> -> (tensor<?x?x?x1xi32>, tensor<?x?x?xi32>)
  return %p, %ptr, %cnt : tensor<?x?x?x?xf32>, tensor<?x?x?x1xi32>, tensor<?x?x?xi32>
}

// CHECK-LABEL: func.func @sea_scores
// CHECK: attn.block_scores %{{.*}}, %{{.*}} causal(%{{.*}}, %{{.*}}) block_size(1, 1) feature_map(elu1) : (
func.func @sea_scores(%q: tensor<?x?x?x64xf32>, %k: tensor<?x?x?x64xf32>) -> tensor<?x?x?x?xf32> {
  %s = attn.block_scores %q, %k causal(%q, %k) block_size(1, 1) feature_map(elu1)
       : (tensor<?x?x?x64xf32>, tensor<?x?x?x64xf32>, tensor<?x?x?x64xf32>,
          tensor<?x?x?x64xf32>) -> tensor<?x?x?x?xf32>
  return %s : tensor<?x?x?x?xf32>
}

// CHECK-LABEL: func.func @seer_gate
// CHECK: attn.project %{{.*}}, %{{.*}}, %{{.*}} weight(%{{.*}}) : (tensor<?x?x?x64xf32>, tensor<?x?x?x64xf32>, tensor<?x?x?x64xf32>, tensor<?x192x32xf32>) -> tensor<?x?x?x32xf32>
// CHECK: attn.project %{{.*}} weight(%{{.*}}) : (tensor<?x?x?x64xbf16>, tensor<64x16xf32>) -> tensor<?x?x?x16xbf16>
func.func @seer_gate(%a: tensor<?x?x?x64xf32>, %b: tensor<?x?x?x64xf32>,
                     %c: tensor<?x?x?x64xf32>, %w: tensor<?x192x32xf32>,
                     %x: tensor<?x?x?x64xbf16>, %w2: tensor<64x16xf32>)
    -> (tensor<?x?x?x32xf32>, tensor<?x?x?x16xbf16>) {
  %g = attn.project %a, %b, %c weight(%w)
       : (tensor<?x?x?x64xf32>, tensor<?x?x?x64xf32>, tensor<?x?x?x64xf32>,
          tensor<?x192x32xf32>) -> tensor<?x?x?x32xf32>
  %h = attn.project %x weight(%w2)
       : (tensor<?x?x?x64xbf16>, tensor<64x16xf32>) -> tensor<?x?x?x16xbf16>
  return %g, %h : tensor<?x?x?x32xf32>, tensor<?x?x?x16xbf16>
}

// -----

// Native Sparse Attention's pieces: overlapping pooled blocks and the
// compressed probabilities summed onto selection blocks, shared by a group.
// CHECK-LABEL: func.func @nsa_importance
// CHECK: attn.pool %{{.*}} block(32) stride(16) kind(mean) : tensor<?x?x?x64xf32> -> tensor<?x?x?x64xf32>
// CHECK: attn.probs %{{.*}}, %{{.*}} mask(#attn.compressed<32, 16>) onto(64) pooled(32, 16) causal share(sum) : (
func.func @nsa_importance(%q: tensor<?x?x?x64xf32>, %k: tensor<?x?x?x64xf32>) -> tensor<?x?x?x?xf32> {
  %kc = attn.pool %k block(32) stride(16) kind(mean) : tensor<?x?x?x64xf32> -> tensor<?x?x?x64xf32>
  %imp = attn.probs %q, %kc mask(#attn.compressed<32, 16>) onto(64) pooled(32, 16) causal share(sum)
       : (tensor<?x?x?x64xf32>, tensor<?x?x?x64xf32>) -> tensor<?x?x?x?xf32>
  return %imp : tensor<?x?x?x?xf32>
}

// -----

// Static shapes: 100 positions at stride 16 give 7 blocks; 100 queries
// onto blocks of 64 give 2 columns, one row per KV head.
// CHECK-LABEL: func.func @nsa_static
// CHECK: -> tensor<1x2x7x64xf32>
// CHECK: -> tensor<1x2x100x2xf32>
func.func @nsa_static(%q: tensor<1x4x100x64xf32>, %k: tensor<1x2x100x64xf32>) -> tensor<1x2x100x2xf32> {
  %kc = attn.pool %k block(32) stride(16) kind(mean) : tensor<1x2x100x64xf32> -> tensor<1x2x7x64xf32>
  %imp = attn.probs %q, %kc onto(64) pooled(32, 16) share(sum)
       : (tensor<1x4x100x64xf32>, tensor<1x2x7x64xf32>) -> tensor<1x2x100x2xf32>
  return %imp : tensor<1x2x100x2xf32>
}
